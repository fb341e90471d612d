// Lower-case hex of digests, and a provider's hex signature compared with the
// one computed (either case, constant time): WhatsApp's X-Hub-Signature-256,
// SMS.ru's callback hash, the email plugin's Message-ID.
#pragma once

#include <openssl/crypto.h>

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
