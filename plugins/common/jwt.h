// JSON Web Tokens signed with RS256 (RSASSA-PKCS1-v1_5, SHA-256), as
// service accounts authenticate: Google's (FCM) and Voximplant's.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace switchboard_plugins {

// header.claims.signature; nothing when the key is not an unencrypted RSA
// private key in PEM. "alg" and "typ" are added to `header`.
std::optional<std::string> rs256_jwt(nlohmann::json header, const nlohmann::json& claims,
                                     const std::string& private_key_pem);

}  // namespace switchboard_plugins
