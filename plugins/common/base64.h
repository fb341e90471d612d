// Base64 (RFC 4648) over OpenSSL's encoder: HTTP Basic credentials and HMAC
// signatures in base64, JWT segments in base64url without padding.
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

namespace switchboard_plugins {

inline std::string base64(std::string_view bytes) {
  // EVP_EncodeBlock writes a terminating NUL after the 4*ceil(len/3) characters.
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

inline std::string base64url(std::string_view bytes) {
  std::string out = base64(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

}  // namespace switchboard_plugins
