#include "fcm.h"

#include <charconv>

#include "json_fields.h"
#include "jwt.h"

namespace push {

using nlohmann::json;
using switchboard::ActionResult;

std::optional<std::string> service_account_jwt(const std::string& client_email, const std::string& private_key_pem,
                                               const std::string& audience, int64_t now_s) {
  return switchboard_plugins::rs256_jwt(json::object(),
                                        {{"iss", client_email},
                                         {"scope", "https://www.googleapis.com/auth/firebase.messaging"},
                                         {"aud", audience},
                                         {"iat", now_s},
                                         {"exp", now_s + 3600}},
                                        private_key_pem);
}

json fcm_message(const json& params) {
  json message{{"token", params.value("token", "")}};
  json notification = json::object();
  if (params.contains("title")) notification["title"] = params["title"];
  if (params.contains("body")) notification["body"] = params["body"];
  if (!notification.empty()) message["notification"] = notification;
  // FCM's data is a map of strings: other values go as their JSON text.
  if (params.contains("data") && params["data"].is_object() && !params["data"].empty()) {
    json data = json::object();
    for (const auto& [key, value] : params["data"].items()) data[key] = value.is_string() ? value : json(value.dump());
    message["data"] = std::move(data);
  }
  return json{{"message", message}};
}

std::optional<std::string> payload_problem(const json& message) {
  constexpr size_t kPayloadLimit = 4096;
  size_t bytes = 0;
  const json& m = message.at("message");
  for (const char* part : {"notification", "data"})
    if (const auto it = m.find(part); it != m.end())
      for (auto field = it->begin(); field != it->end(); ++field)
        bytes += field.key().size() + (field->is_string() ? field->get_ref<const std::string&>().size() : 0);
  if (bytes <= kPayloadLimit) return std::nullopt;
  return "the push's notification and data are " + std::to_string(bytes) + " bytes, over FCM's limit of " +
         std::to_string(kPayloadLimit);
}

bool third_party_auth_error(const std::string& error_code) {
  return error_code == "THIRD_PARTY_AUTH_ERROR" || error_code == "APNS_AUTH_ERROR";
}

ActionResult map_fcm_response(const switchboard::HttpResponse& response) {
  if (response.status == 0) return ActionResult::retry("FCM did not answer: " + std::string(response.transport_error));
  using switchboard_plugins::field_at;
  using switchboard_plugins::string_at;
  const json body = json::parse(response.body, nullptr, false);
  if (response.status == 200) {
    // Accepted: never retried, even when the answer is odd (that would send twice).
    const std::string name = string_at(body, "name");
    return ActionResult::done(name, json{{"name", name}}.dump());
  }
  const json& e = field_at(body, "error");
  const std::string status = string_at(e, "status");
  const std::string message = string_at(e, "message", "HTTP " + std::to_string(response.status));
  // The FcmError detail's code, as the Admin SDKs read it (the first of
  // that type); a BadRequest detail names the field at fault.
  std::string error_code;
  bool token_at_fault = false;
  const json& details = field_at(e, "details");
  if (details.is_array())
    for (const json& d : details) {
      const std::string type = string_at(d, "@type");
      if (error_code.empty() && type == "type.googleapis.com/google.firebase.fcm.v1.FcmError")
        error_code = string_at(d, "errorCode");
      if (type == "type.googleapis.com/google.rpc.BadRequest" && field_at(d, "fieldViolations").is_array())
        for (const json& v : field_at(d, "fieldViolations"))
          token_at_fault = token_at_fault || string_at(v, "field") == "message.token";
    }
  const std::string code = !error_code.empty() ? error_code
                           : !status.empty()   ? status
                                               : std::to_string(response.status);
  uint32_t after = 0;
  if (auto h = response.header("retry-after")) std::from_chars(h->data(), h->data() + h->size(), after);
  // The project's APNs certificate or web push key is missing or refused,
  // or the service account is not the token's sender (SENDER_ID_MISMATCH, a
  // configuration error): the same on every attempt until an admin fixes it.
  if (third_party_auth_error(error_code) || error_code == "SENDER_ID_MISMATCH")
    return ActionResult::permanent(message, code);
  // No such token (an app removed), or a token FCM cannot read: this contact
  // is not reachable by push. (A NOT_FOUND without an errorCode is a wrong
  // project or URL, which no other contact fixes.)
  if (error_code == "UNREGISTERED" ||
      ((error_code == "INVALID_ARGUMENT" || (error_code.empty() && status == "INVALID_ARGUMENT")) &&
       (token_at_fault || message.find("token") != std::string::npos)))
    return ActionResult::unreachable(message, code);
  if (response.status == 401 || response.status == 429 || response.status >= 500 || error_code == "QUOTA_EXCEEDED" ||
      error_code == "UNAVAILABLE" || error_code == "INTERNAL")
    return ActionResult::retry(message, after, code);
  return ActionResult::permanent(message, code);
}

}  // namespace push
