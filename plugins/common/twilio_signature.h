// X-Twilio-Signature: how Twilio signs the webhooks it sends (status
// callbacks, incoming messages), for the plugins that take them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard_plugins {

// base64(HMAC-SHA1(auth token, the URL Twilio called + each POST field's
// name and value, sorted by name, then value)).
std::string twilio_signature(const std::string& auth_token, const std::string& url,
                             std::vector<std::pair<std::string, std::string>> fields);

// The header against the signature, in constant time; a missing one fails.
// The URL is tried without its port and with the scheme's default one.
bool twilio_signature_matches(const std::string& auth_token, const std::string& url,
                              const std::vector<std::pair<std::string, std::string>>& fields, std::string_view given);

}  // namespace switchboard_plugins
