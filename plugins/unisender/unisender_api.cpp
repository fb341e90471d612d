#include "unisender_api.h"

#include <array>
#include <nlohmann/json.hpp>

#include "form.h"
#include "json_fields.h"
#include "provider_answers.h"

namespace unisender {

using nlohmann::json;
using switchboard::ActionResult;

switchboard::HttpRequest api_request(const std::string& base_url, const std::string& lang, const std::string& method,
                                     const std::string& api_key, const Fields& fields) {
  Fields body{{"format", "json"}, {"api_key", api_key}};
  body.insert(body.end(), fields.begin(), fields.end());
  switchboard::HttpRequest request;
  request.method = "POST";
  request.url = base_url + "/" + lang + "/api/" + method;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  request.body = switchboard_plugins::form_urlencode(body);
  return request;
}

ActionResult api_result(const switchboard::HttpResponse& response, bool absent_is_done) {
  if (!response.transport_error.empty())
    return ActionResult::retry("UniSender: " + std::string(response.transport_error), 0, "transport");
  if (response.status >= 500 || response.status == 429)
    return ActionResult::retry("UniSender answered HTTP " + std::to_string(response.status),
                               switchboard_plugins::retry_after(response), std::to_string(response.status));
  const json body = json::parse(response.body, nullptr, false);
  if (!body.is_object()) {
    // A 4xx page (a wrong base_url, a proxy refusing) will not change by itself.
    const std::string why = "UniSender's answer is not JSON (HTTP " + std::to_string(response.status) + ")";
    if (response.status >= 400) return ActionResult::permanent(why, std::to_string(response.status));
    return ActionResult::retry(why, 0, std::to_string(response.status));
  }
  if (body.contains("error")) {
    const std::string code = switchboard_plugins::string_at(body, "code", "unspecified");
    const std::string message = switchboard_plugins::string_at(body, "error", "no message");
    // Limits pass. A key, a right, an argument or the balance will not fix
    // itself, nor will the errors UniSender leaves "unspecified" (a list
    // without a confirmation letter, a contact owned by another subscriber):
    // the message says which.
    static constexpr std::array<std::string_view, 3> kRetry = {"retry_later", "api_call_limit_exceeded_for_api_key",
                                                               "api_call_limit_exceeded_for_ip"};
    for (std::string_view retry : kRetry)
      if (code == retry) return ActionResult::retry(message, 60, code);
    // {"error": "Contact \"x\" not found", "code": "unspecified"}: UniSender
    // names this case in its message only, in the language the call asked
    // for (lang=ru by default): "Контакт … не найден".
    const bool contact_not_found =
        (message.rfind("Contact", 0) == 0 && message.find("not found") != std::string::npos) ||
        (message.rfind("Контакт", 0) == 0 && message.find("не найден") != std::string::npos);
    if (absent_is_done && code == "unspecified" && contact_not_found)
      return ActionResult::done("", switchboard_plugins::dump(json{{"result", json::object()}, {"absent", true}}));
    return ActionResult::permanent(message, code);
  }
  const json& result = switchboard_plugins::field_at(body, "result");
  if (!result.is_object()) return ActionResult::retry("UniSender's answer has neither result nor error", 0, "shape");
  std::string person;
  if (const json& id = switchboard_plugins::field_at(result, "person_id"); id.is_number_integer())
    person = std::to_string(id.get<int64_t>());
  json output{{"result", result}};
  if (body.contains("warnings")) output["warnings"] = body["warnings"];
  return ActionResult::done(person, switchboard_plugins::dump(output));
}

}  // namespace unisender
