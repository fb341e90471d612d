// Lower-case hex of digests, and a provider's hex signature compared with the
// one computed (either case, constant time): WhatsApp's X-Hub-Signature-256,
// SMS.ru's and SMSC.ru's callback signatures, the email plugin's Message-ID.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <string>
#include <string_view>

namespace switchboard_plugins {

inline std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// Lower-case hex of the `kind` digest (EVP_sha256(), EVP_md5(), ...) of
// `bytes`; empty when OpenSSL cannot compute it (which matches nothing).
inline std::string digest_hex(const EVP_MD* kind, std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, kind, nullptr) != 1) return "";
  return hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

// `expected` is lower-case hex (hex() above); `given` may be in either case.
inline bool hex_matches(const std::string& expected, std::string_view given) {
  std::string lowered(given);
  for (char& c : lowered)
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  // An empty `expected` is a digest that could not be computed: nothing matches it.
  return !expected.empty() && lowered.size() == expected.size() &&
         CRYPTO_memcmp(lowered.data(), expected.data(), expected.size()) == 0;
}

}  // namespace switchboard_plugins
