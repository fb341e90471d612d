#include "fcm.h"

#include <algorithm>

#include "json_fields.h"
#include "jwt.h"
#include "provider_answers.h"

namespace push {

using nlohmann::json;
using switchboard::ActionResult;

namespace {

std::string text_of(const json& object, const char* key, const std::string& fallback) {
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_string()) throw switchboard::ConfigError(std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

}  // namespace

ServiceAccount ServiceAccount::from_config(const json& config) {
  ServiceAccount account;
  json key_file = json::object();
  if (const auto it = config.find("service_account"); it != config.end()) {
    // The key file's text (a secret's value) or its JSON.
    key_file = it->is_string() ? json::parse(it->get<std::string>(), nullptr, false) : *it;
    if (!key_file.is_object() || key_file.value("type", "service_account") != "service_account")
      throw switchboard::ConfigError(
          "'service_account' must be a service account's key file (JSON with \"type\": \"service_account\")");
  }
  const auto setting = [&](const char* key, const char* file_key, const std::string& fallback) {
    return text_of(config, key, text_of(key_file, file_key, fallback));
  };
  account.project_id = setting("project_id", "project_id", "");
  account.client_email = setting("client_email", "client_email", "");
  account.private_key = setting("private_key", "private_key", "");
  // The key's id names the key file's own key: not one given beside it.
  if (!config.contains("private_key")) account.private_key_id = text_of(key_file, "private_key_id", "");
  account.token_uri = text_of(config, "token_url", setting("token_uri", "token_uri", account.token_uri));
  return account;
}

std::optional<std::string> service_account_jwt(const ServiceAccount& account, int64_t now_s) {
  json header = json::object();
  if (!account.private_key_id.empty()) header["kid"] = account.private_key_id;
  return switchboard_plugins::rs256_jwt(std::move(header),
                                        {{"iss", account.client_email},
                                         {"scope", "https://www.googleapis.com/auth/firebase.messaging"},
                                         {"aud", account.token_uri},
                                         {"iat", now_s},
                                         {"exp", now_s + 3600}},
                                        account.private_key);
}

json fcm_message(const json& params, const std::string& device_token) {
  json message{{"token", device_token}};
  json notification = json::object();
  for (const char* key : {"title", "body", "image"})
    if (params.contains(key)) notification[key] = params[key];
  if (!notification.empty()) message["notification"] = notification;
  // FCM's data is a map of strings: other values go as their JSON text.
  if (params.contains("data") && params["data"].is_object() && !params["data"].empty()) {
    json data = json::object();
    for (const auto& [key, value] : params["data"].items()) data[key] = value.is_string() ? value : json(value.dump());
    message["data"] = std::move(data);
  }
  // Each platform's own settings (a channel id, a sound, a badge, a link to
  // open), as FCM's Message resource names them.
  for (const char* platform : {"android", "apns", "webpush", "fcm_options"})
    if (params.contains(platform) && params[platform].is_object()) message[platform] = params[platform];
  return json{{"message", message}};
}

std::optional<std::vector<std::string>> device_tokens(const json& value) {
  std::vector<std::string> tokens;
  const auto add = [&](const json& token) {
    if (!token.is_string()) return false;
    const std::string& text = token.get_ref<const std::string&>();
    if (!text.empty() && std::find(tokens.begin(), tokens.end(), text) == tokens.end()) tokens.push_back(text);
    return true;
  };
  if (value.is_null()) return tokens;
  if (value.is_array()) {
    for (const json& token : value)
      if (!add(token)) return std::nullopt;
    return tokens;
  }
  if (!add(value)) return std::nullopt;
  return tokens;
}

std::vector<std::string> contact_device_tokens(const json& value) {
  // A device registered again is as recent as its last place in the list.
  json texts = json::array();
  const json list = value.is_array() ? value : json::array({value});
  for (auto it = list.rbegin(); it != list.rend(); ++it)
    if (it->is_string()) texts.push_back(*it);
  std::vector<std::string> tokens = device_tokens(texts).value_or(std::vector<std::string>{});
  std::reverse(tokens.begin(), tokens.end());
  return tokens;
}

ActionResult combine_device_results(const std::vector<ActionResult>& results) {
  if (results.size() == 1) return results.front();
  const ActionResult* first_done = nullptr;
  const ActionResult* first_retry = nullptr;
  const ActionResult* first_failure = nullptr;
  bool all_unreachable = true;
  uint32_t retry_after = 0;
  json failed = json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const ActionResult& r = results[i];
    if (r.outcome == SB_OUTCOME_DONE) {
      if (!first_done) first_done = &r;
      continue;
    }
    failed.push_back({{"device", i}, {"code", r.provider_code}, {"reason", r.reason}});
    if (r.outcome == SB_OUTCOME_RETRY) {
      if (!first_retry) first_retry = &r;
      retry_after = std::max(retry_after, r.retry_after_s);
    }
    if (r.outcome != SB_OUTCOME_UNREACHABLE) all_unreachable = false;
    if (!first_failure) first_failure = &r;
  }
  if (first_done) {
    // Sent: a retry would send again to the devices that took it.
    json output{
        {"name", first_done->external_id}, {"devices", results.size()}, {"sent", results.size() - failed.size()}};
    if (!failed.empty()) output["failed"] = std::move(failed);
    return ActionResult::done(first_done->external_id, output.dump());
  }
  const std::string of = " (" + std::to_string(results.size()) + " devices)";
  if (first_retry) return ActionResult::retry(first_retry->reason + of, retry_after, first_retry->provider_code);
  if (all_unreachable) return ActionResult::unreachable(first_failure->reason + of, first_failure->provider_code);
  ActionResult out = *first_failure;
  out.reason += of;
  return out;
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
  const uint32_t after = switchboard_plugins::retry_after(response);
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
