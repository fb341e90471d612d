#include "twilio_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "base64.h"

namespace switchboard_plugins {

std::string twilio_signature(const std::string& auth_token, const std::string& url,
                             std::vector<std::pair<std::string, std::string>> fields) {
  std::sort(fields.begin(), fields.end());
  std::string data = url;
  for (const auto& [name, value] : fields) data += name + value;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha1(), auth_token.data(), static_cast<int>(auth_token.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return base64(std::string_view(reinterpret_cast<const char*>(digest), length));
}

bool twilio_signature_matches(const std::string& auth_token, const std::string& url,
                              const std::vector<std::pair<std::string, std::string>>& fields, std::string_view given) {
  const std::string expected = twilio_signature(auth_token, url, fields);
  return !given.empty() && given.size() == expected.size() &&
         CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

}  // namespace switchboard_plugins
