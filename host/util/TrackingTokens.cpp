#include "util/TrackingTokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
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

namespace {

constexpr size_t kNonceBytes = 12, kTagBytes = 16;

std::string sha256(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

TrackingTokens::TrackingTokens(std::string key, std::string base_url)
    : key_(key.empty() ? throw std::invalid_argument("a tracking key may not be empty") : sha256("tracking/1:" + key)),
      base_url_(std::move(base_url)) {}

std::string_view TrackingTokens::letter_of(std::string_view kind) {
  return kind == "open" ? "o" : kind == "click" ? "c" : kind == "unsubscribe" ? "u" : "";
}

std::string_view TrackingTokens::kind_of(std::string_view letter) {
  return letter == "o" ? "open" : letter == "c" ? "click" : letter == "u" ? "unsubscribe" : "";
}

std::string TrackingTokens::seal(std::string_view kind, std::string_view plain) const {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) != 1)
    throw std::runtime_error("no random bytes for a tracking link");
  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string sealed(plain.size(), '\0');
  int n = 0, tail = 0;
  std::string tag(kTagBytes, '\0');
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key_.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(kind.data()),
                        static_cast<int>(kind.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(sealed.data()), &n,
                        reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(sealed.data()) + n, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag.data()) != 1)
    throw std::runtime_error("cannot seal a tracking link");
  return base64url(nonce + sealed + tag);
}

std::optional<std::string> TrackingTokens::open(std::string_view kind, std::string_view token) const {
  const auto bytes = from_base64url(token);
  // Only the one spelling we wrote: unused low bits in the last character may not vary.
  if (!bytes || bytes->size() < kNonceBytes + kTagBytes || base64url(*bytes) != token) return std::nullopt;
  const std::string nonce = bytes->substr(0, kNonceBytes);
  std::string tag = bytes->substr(bytes->size() - kTagBytes);
  const std::string sealed = bytes->substr(kNonceBytes, bytes->size() - kNonceBytes - kTagBytes);
  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string plain(sealed.size(), '\0');
  int n = 0, tail = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key_.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(kind.data()),
                        static_cast<int>(kind.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &n,
                        reinterpret_cast<const unsigned char*>(sealed.data()), static_cast<int>(sealed.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + n, &tail) != 1)
    return std::nullopt;  // not sealed with our key for this kind, or altered
  return plain;
}

std::string TrackingTokens::url_for(const TrackedLink& link) const {
  json payload{{"ch", link.channel}, {"m", link.message_id}};
  if (!link.contact_key.empty()) payload["c"] = link.contact_key;
  if (!link.event_id.empty()) payload["e"] = link.event_id;
  if (!link.rule.empty()) payload["r"] = link.rule;
  if (!link.step.empty()) payload["s"] = link.step;
  if (link.execution_id) payload["x"] = link.execution_id;
  if (!link.url.empty()) payload["u"] = link.url;
  std::string base = base_url_;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + "/t/" + std::string(letter_of(link.kind)) + "/" + seal(link.kind, dump_text(payload));
  // An unsubscribe link goes in a header (List-Unsubscribe), whose line may
  // not pass 998 characters: one that would (long rule, step and event
  // names) names its execution alone, which names the rest.
  constexpr size_t kLongestHeaderLink = 900;
  if (link.kind == "unsubscribe" && url.size() > kLongestHeaderLink && link.execution_id) {
    for (const char* named : {"e", "r", "s"}) payload.erase(named);
    url = base + "/t/" + std::string(letter_of(link.kind)) + "/" + seal(link.kind, dump_text(payload));
  }
  return url;
}

std::optional<TrackedLink> TrackingTokens::verify(std::string_view kind, std::string_view token) const {
  if (token.size() > 8192) return std::nullopt;
  const auto text = open(kind, token);
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

std::string TrackingTokens::id_of(std::string_view token) { return hex(sha256(token).substr(0, 12)); }

std::string random_tracking_key() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for the tracking key");
  return hex(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

}  // namespace sb
