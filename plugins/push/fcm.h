// Firebase Cloud Messaging HTTP v1: the service account's OAuth 2.0 JWT
// (RS256, signed with OpenSSL), the message it sends, and what FCM's answers
// mean for a step.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <switchboard/plugin.hpp>
#include <vector>

namespace push {

// The service account an instance sends as: from its key file's JSON
// (`service_account`, as Google's console downloads it), with any of
// `project_id`, `client_email`, `private_key`, `token_url` (or `token_uri`)
// given beside it taking precedence. Throws switchboard::ConfigError.
struct ServiceAccount {
  std::string project_id, client_email, private_key, private_key_id;
  std::string token_uri = "https://oauth2.googleapis.com/token";
  static ServiceAccount from_config(const nlohmann::json& config);
};

// The signed assertion exchanged for an access token (RFC 7523), valid for
// an hour from `now_s`, its header naming the key (`kid`, as google-auth
// does) when the account has a private_key_id; nothing when the key cannot
// sign.
std::optional<std::string> service_account_jwt(const ServiceAccount& account, int64_t now_s);

// {"message": {"token", "notification": {"title", "body", "image"}, "data",
// "android", "apns", "webpush", "fcm_options"}} to one device from the
// step's parameters (the platform objects go as the step gives them).
nlohmann::json fcm_message(const nlohmann::json& params, const std::string& device_token);

// The device tokens a step's `token` names (one, or a list for a contact
// with several devices); empty ones and repeats dropped. Nothing when the
// value is neither a text nor a list of texts.
std::optional<std::vector<std::string>> device_tokens(const nlohmann::json& value);

// The same of the contact's token field, where anything but a text is no
// device (not the rule's fault): left out; a repeated token keeps its last
// place (the list grows as devices register).
std::vector<std::string> contact_device_tokens(const nlohmann::json& value);

// One step's outcome from its devices' (in token order): done when any
// device took it (the first one's message name is the external id; the
// output counts the rest and names each failure by its device's place);
// otherwise retry when any may be retried, unreachable when every token is
// dead, else the first failure.
switchboard::ActionResult combine_device_results(const std::vector<switchboard::ActionResult>& results);

// FCM takes at most 4096 bytes of a message's payload: why this message is
// over it (the bytes of its notification's and data's keys and values), or
// nothing. A message over it is refused by FCM whatever the device.
std::optional<std::string> payload_problem(const nlohmann::json& message);

// FCM's answer: done with the message name; UNREGISTERED or an invalid
// token is unreachable; quota, 5xx and transport errors
// retry; the rest is permanent. 401 retries too (the caller drops its token).
switchboard::ActionResult map_fcm_response(const switchboard::HttpResponse& response);

}  // namespace push
