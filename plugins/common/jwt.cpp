#include "jwt.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "base64.h"

namespace switchboard_plugins {

std::optional<std::string> rs256_jwt(nlohmann::json header, const nlohmann::json& claims,
                                     const std::string& private_key_pem) {
  header["alg"] = "RS256";
  header["typ"] = "JWT";
  const std::string signing_input = base64url(header.dump()) + "." + base64url(claims.dump());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())), &BIO_free);
  if (!bio) return std::nullopt;
  // No password callback: an encrypted key must not wait for a terminal prompt.
  auto no_password = [](char*, int, int, void*) { return 0; };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr), &EVP_PKEY_free);
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return std::nullopt;  // RS256 needs RSA
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1)
    return std::nullopt;
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1)
    return std::nullopt;
  signature.resize(length);
  return signing_input + "." + base64url(signature);
}

}  // namespace switchboard_plugins
