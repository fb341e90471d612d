#include "util/TrackingTokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "util/JsonText.h"

namespace sb {

namespace {

using nlohmann::json;

std::string base64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::optional<std::string> from_base64url(std::string_view text) {
  std::string b64(text);
  for (char& c : b64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      return std::nullopt;
  }
  const size_t padding = (4 - b64.size() % 4) % 4;
  if (padding == 3) return std::nullopt;
  b64.append(padding, '=');
  std::string out(b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

}  // namespace

TrackingTokens::TrackingTokens(std::string key, std::string base_url)
    : key_(std::move(key)), base_url_(std::move(base_url)) {
  if (key_.empty()) throw std::invalid_argument("a tracking key may not be empty");
}

std::string_view TrackingTokens::letter_of(std::string_view kind) {
  return kind == "open" ? "o" : kind == "click" ? "c" : kind == "unsubscribe" ? "u" : "";
}

std::string_view TrackingTokens::kind_of(std::string_view letter) {
  return letter == "o" ? "open" : letter == "c" ? "click" : letter == "u" ? "unsubscribe" : "";
}

std::string TrackingTokens::mac(std::string_view kind, std::string_view payload) const {
  const std::string signed_text = std::string(kind) + "." + std::string(payload);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), digest, &length);
  return base64url(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string TrackingTokens::url_for(const TrackedLink& link) const {
  json payload{{"ch", link.channel}, {"m", link.message_id}};
  if (!link.contact_key.empty()) payload["c"] = link.contact_key;
  if (!link.event_id.empty()) payload["e"] = link.event_id;
  if (!link.rule.empty()) payload["r"] = link.rule;
  if (!link.step.empty()) payload["s"] = link.step;
  if (link.execution_id) payload["x"] = link.execution_id;
  if (!link.url.empty()) payload["u"] = link.url;
  const std::string encoded = base64url(dump_text(payload));
  std::string base = base_url_;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/t/" + std::string(letter_of(link.kind)) + "/" + encoded + "." + mac(link.kind, encoded);
}

std::optional<TrackedLink> TrackingTokens::verify(std::string_view kind, std::string_view token) const {
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.size() > 8192) return std::nullopt;
  const std::string_view encoded = token.substr(0, dot);
  const std::string given(token.substr(dot + 1));
  const std::string expected = mac(kind, encoded);
  if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), given.size()) != 0)
    return std::nullopt;
  const auto text = from_base64url(encoded);
  if (!text) return std::nullopt;
  const json payload = json::parse(*text, nullptr, false);
  if (!payload.is_object()) return std::nullopt;
  auto string_at = [&](const char* key) {
    const auto it = payload.find(key);
    return it != payload.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  TrackedLink link;
  link.kind = std::string(kind);
  link.channel = string_at("ch");
  link.message_id = string_at("m");
  link.contact_key = string_at("c");
  link.event_id = string_at("e");
  link.rule = string_at("r");
  link.step = string_at("s");
  link.url = string_at("u");
  if (const auto it = payload.find("x"); it != payload.end() && it->is_number_integer())
    link.execution_id = it->get<int64_t>();
  return link;
}

std::string random_tracking_key() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for the tracking key");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace sb
