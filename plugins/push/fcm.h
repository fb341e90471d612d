// Firebase Cloud Messaging HTTP v1: the service account's OAuth 2.0 JWT
// (RS256, signed with OpenSSL), the message it sends, and what FCM's answers
// mean for a step.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <switchboard/plugin.hpp>

namespace push {

// The signed assertion exchanged for an access token (RFC 7523), valid for
// an hour from `now_s`; nothing when the key cannot sign.
std::optional<std::string> service_account_jwt(const std::string& client_email, const std::string& private_key_pem,
                                               const std::string& audience, int64_t now_s);

// {"message": {"token", "notification": {"title", "body"}, "data"}} from the
// step's parameters.
nlohmann::json fcm_message(const nlohmann::json& params);

// FCM takes at most 4096 bytes of a message's payload: why this message is
// over it (the bytes of its notification's and data's keys and values), or
// nothing. A message over it is refused by FCM whatever the device.
std::optional<std::string> payload_problem(const nlohmann::json& message);

// FCM's answer: done with the message name; UNREGISTERED or an invalid
// token is unreachable; quota, 5xx and transport errors
// retry; the rest is permanent. 401 retries too (the caller drops its token).
switchboard::ActionResult map_fcm_response(const switchboard::HttpResponse& response);

}  // namespace push
