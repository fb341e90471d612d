#include "twilio_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base64.h"
#include "form.h"
#include "hex.h"

namespace switchboard_plugins {

namespace {

std::string signature_over(const std::string& auth_token, const std::string& url,
                           std::vector<std::pair<std::string, std::string>> fields, bool each_pair_once) {
  // Sorted by name, then value; a repeated name=value pair counts once, as
  // Twilio's client libraries take it (a set of each name's values).
  std::sort(fields.begin(), fields.end());
  if (each_pair_once) fields.erase(std::unique(fields.begin(), fields.end()), fields.end());
  std::string data = url;
  for (const auto& [name, value] : fields) data += name + value;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha1(), auth_token.data(), static_cast<int>(auth_token.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return base64(std::string_view(reinterpret_cast<const char*>(digest), length));
}

// The URL without its port, and with the scheme's default port when it has
// none (https 443, http 80); the same URL twice when it is neither.
std::pair<std::string, std::string> without_and_with_port(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return {url, url};
  const size_t host_begin = scheme_end + 3;
  const size_t host_end = std::min(url.find_first_of("/?#", host_begin), url.size());
  const std::string authority = url.substr(host_begin, host_end - host_begin);
  const size_t colon = authority.rfind(':');
  const bool has_port = colon != std::string::npos && authority.find(']', colon) == std::string::npos &&
                        authority.find('@', colon) == std::string::npos;
  if (has_port) return {url.substr(0, host_begin + colon) + url.substr(host_end), url};
  const std::string scheme = url.substr(0, scheme_end);
  const char* port = scheme == "https" ? ":443" : scheme == "http" ? ":80" : nullptr;
  if (!port) return {url, url};
  return {url, url.substr(0, host_end) + port + url.substr(host_end)};
}

bool same(std::string_view given, const std::string& expected) {
  return !given.empty() && given.size() == expected.size() &&
         CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

// A JSON body, signed by its hash in the query (`bodySHA256`); a form body is
// signed with its fields, even under a URL whose query names such a hash (as
// Twilio's libraries check it: the hash only for a raw body).
std::optional<std::string> json_body_hash(std::string_view query, std::string_view body) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || body[first] != '{') return std::nullopt;
  return form_field(form_decode(query), "bodySHA256");
}

}  // namespace

std::string twilio_signature(const std::string& auth_token, const std::string& url,
                             std::vector<std::pair<std::string, std::string>> fields) {
  return signature_over(auth_token, url, std::move(fields), /*each_pair_once=*/true);
}

bool twilio_signature_matches(const std::string& auth_token, const std::string& url,
                              const std::vector<std::pair<std::string, std::string>>& fields, std::string_view given) {
  // Twilio signs the URL with or without its port, whichever way it was
  // set up: both are accepted (as Twilio's own validators do). A fragment
  // (Twilio's connection overrides, "#rc=3&rp=ct,5xx") is not part of the
  // URL requested; the client libraries' validators sign the URL as
  // configured, fragment and all, so both are accepted.
  // A repeated name=value pair is signed once by the client libraries;
  // every pair as sent is taken too.
  const size_t hash = url.find('#');
  for (const std::string& signed_url : {url.substr(0, hash), url}) {
    const auto [without_port, with_port] = without_and_with_port(signed_url);
    for (const std::string& u : {without_port, with_port})
      if (same(given, twilio_signature(auth_token, u, fields)) ||
          same(given, signature_over(auth_token, u, fields, /*each_pair_once=*/false)))
        return true;
    if (hash == std::string::npos) break;
  }
  return false;
}

bool twilio_request_signed(const std::string& auth_token, const std::string& url, std::string_view query,
                           std::string_view body, const std::vector<std::pair<std::string, std::string>>& fields,
                           std::string_view given) {
  const auto body_hash = json_body_hash(query, body);
  if (!body_hash) return twilio_signature_matches(auth_token, url, fields, given);
  if (!hex_matches(digest_hex(EVP_sha256(), body), *body_hash)) return false;
  // The URL Twilio called: the configured one with the query it came with
  // (its own parameters and the hash), and the fragment, if any, after it.
  const size_t hash = url.find('#');
  const std::string fragment = hash == std::string::npos ? "" : url.substr(hash);
  const std::string base = url.substr(0, std::min(url.find('?'), hash));
  return twilio_signature_matches(auth_token, base + "?" + std::string(query) + fragment, {}, given);
}

std::vector<std::pair<std::string, std::string>> twilio_request_fields(std::string_view query, std::string_view body) {
  if (!json_body_hash(query, body)) return form_decode(body);
  std::vector<std::pair<std::string, std::string>> fields;
  const nlohmann::json object = nlohmann::json::parse(body, nullptr, false);
  if (!object.is_object()) return fields;
  for (const auto& [name, value] : object.items())
    if (value.is_string())
      fields.emplace_back(name, value.get<std::string>());
    else if (value.is_number() || value.is_boolean())
      fields.emplace_back(name, value.dump());
  return fields;
}

std::string twilio_callback_with_retries(const std::string& url) {
  if (url.empty() || url.find('#') != std::string::npos) return url;
  return url + "#rc=3&rp=ct,5xx";
}

}  // namespace switchboard_plugins
