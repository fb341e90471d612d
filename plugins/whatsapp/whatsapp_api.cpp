#include "whatsapp_api.h"

#include <algorithm>
#include <set>

#include "interactive.h"
#include "json_fields.h"
#include "phone.h"
#include "provider_answers.h"
#include "template_message.h"

namespace whatsapp {

namespace {

using nlohmann::json;
using switchboard::ActionResult;

std::string text_of(const json& config, const char* key, const std::string& fallback = "") {
  auto it = config.find(key);
  if (it == config.end()) return fallback;
  if (!it->is_string()) throw switchboard::ConfigError(std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

// Meta's codes (developers.facebook.com .../whatsapp/support/error-codes).
// 131048 (spam rate limit) is one of Meta's throttling errors: it passes
// once the number's sending limit is back.
// Everything else is permanent: 131026 (undeliverable) and 131030
// (recipient not allowed) too, as Meta's page classes them; a fallback chain
// moves on from a permanent failure as from an unreachable one.
constexpr int kRetryCodes[] = {1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004};

bool in(const int* begin, const int* end, int code) { return std::find(begin, end, code) != end; }

}  // namespace

Config Config::parse(std::string_view config_json) {
  const json config = config_json.empty() ? json::object() : json::parse(config_json, nullptr, false);
  if (!config.is_object()) throw switchboard::ConfigError("the config must be a JSON object");
  Config out;
  out.phone_number_id = text_of(config, "phone_number_id");
  out.access_token = text_of(config, "access_token");
  out.base_url = text_of(config, "base_url", out.base_url);
  out.api_version = text_of(config, "api_version", out.api_version);
  out.default_country = text_of(config, "default_country");
  out.timeout_ms = config.value("timeout_ms", out.timeout_ms);
  out.dry_run = config.value("dry_run", false);
  if (!out.dry_run && (out.phone_number_id.empty() || out.access_token.empty()))
    throw switchboard::ConfigError("'phone_number_id' and 'access_token' are required unless 'dry_run' is true");
  if (auto hook = config.find("webhook"); hook != config.end() && hook->is_object()) {
    out.webhook_path = text_of(*hook, "path");
    out.verify_token = text_of(*hook, "verify_token");
    out.app_secret = text_of(*hook, "app_secret");
    if (out.webhook_path.empty() || out.verify_token.empty() || out.app_secret.empty())
      throw switchboard::ConfigError("'webhook' needs 'path', 'verify_token' and 'app_secret'");
  }
  return out;
}

namespace {

// The body of one kind of message, before its recipient and reply context.
Message message_of(std::string_view action, const json& params, json body);

}  // namespace

Message build_message(std::string_view action, const json& params, const std::string& default_country) {
  if (!params.is_object() || !params.contains("to") || !params["to"].is_string())
    return {{}, "'to' must be the recipient's phone number", false};
  const std::string to = params["to"].get<std::string>();
  const auto e164 = switchboard_plugins::to_e164(to, default_country);
  if (!e164)
    return {{},
            "'" + to + "' is not a valid phone number" +
                (default_country.empty() ? " (no default_country for numbers without +)" : ""),
            true};
  json body{{"messaging_product", "whatsapp"}, {"recipient_type", "individual"}, {"to", e164->substr(1)}};
  // A reply quotes the person's message in the chat (Meta's "context").
  if (const auto reply_to = params.find("reply_to"); reply_to != params.end()) {
    if (!reply_to->is_string() || reply_to->get<std::string>().empty())
      return {{}, "'reply_to' must be the wamid of the message replied to", false};
    body["context"] = {{"message_id", *reply_to}};
  }
  return message_of(action, params, std::move(body));
}

namespace {

Message message_of(std::string_view action, const json& params, json body) {
  if (action == "send_text") {
    if (!params.contains("text") || !params["text"].is_string() || params["text"].get<std::string>().empty())
      return {{}, "'text' must be a non-empty string", false};
    body["type"] = "text";
    body["text"] = {{"preview_url", params.value("preview_url", false)}, {"body", params["text"]}};
    return {body, "", false};
  }
  if (action == "send_template") {
    json tmpl;
    if (auto problem = template_object(params, tmpl); !problem.empty()) return {{}, problem, false};
    body["type"] = "template";
    body["template"] = std::move(tmpl);
    return {body, "", false};
  }
  if (action == "send_media") {
    // {"type": "document", "document": {"link" or "id", "caption"?, "filename"?}}
    static const std::set<std::string> kinds{"image", "document", "audio", "video", "sticker"};
    const std::string kind = params.value("media", "");
    if (!kinds.count(kind)) return {{}, "'media' must be image, document, audio, video or sticker", false};
    json media = json::object();
    const bool by_link = params.contains("url"), by_id = params.contains("media_id");
    if (by_link == by_id) return {{}, "give the media's 'url' or its uploaded 'media_id', one of them", false};
    media[by_link ? "link" : "id"] = params[by_link ? "url" : "media_id"];
    if (params.contains("caption")) {
      if (kind == "audio" || kind == "sticker") return {{}, "'caption' goes with an image, video or document", false};
      media["caption"] = params["caption"];
    }
    if (params.contains("filename")) {
      if (kind != "document") return {{}, "'filename' goes with a document", false};
      media["filename"] = params["filename"];
    }
    body["type"] = kind;
    body[kind] = std::move(media);
    return {body, "", false};
  }
  if (action == "send_buttons" || action == "send_list") {
    json interactive;
    const std::string problem =
        action == "send_buttons" ? reply_buttons(params, interactive) : list_of_rows(params, interactive);
    if (!problem.empty()) return {{}, problem, false};
    body["type"] = "interactive";
    body["interactive"] = std::move(interactive);
    return {body, "", false};
  }
  return {{}, "unknown action '" + std::string(action) + "'", false};
}

}  // namespace

Message build_read_receipt(const json& params) {
  const auto id = params.find("message_id");
  if (id == params.end() || !id->is_string() || id->get<std::string>().empty())
    return {{}, "'message_id' must be the wamid of the message received", false};
  return {{{"messaging_product", "whatsapp"}, {"status", "read"}, {"message_id", *id}}, "", false};
}

ActionResult map_send_response(const switchboard::HttpResponse& response) {
  using switchboard_plugins::element_at;
  using switchboard_plugins::field_at;
  using switchboard_plugins::integer_at;
  using switchboard_plugins::string_at;
  if (response.status == 0)
    return ActionResult::retry("WhatsApp did not answer: " + std::string(response.transport_error));
  const json body = json::parse(response.body, nullptr, false);
  if (response.status >= 200 && response.status < 300) {
    // A read receipt's answer is {"success": true}: no message was sent.
    if (!body.contains("messages") && body.contains("success"))
      return body["success"] == true ? ActionResult::done("", R"({"read":true})")
                                     : ActionResult::permanent("WhatsApp did not mark the message read");
    // Accepted: never retried, even when the answer is odd (that would send twice).
    const std::string id = string_at(element_at(field_at(body, "messages"), 0), "id");
    json output{{"message_id", id}};
    const std::string wa_id = string_at(element_at(field_at(body, "contacts"), 0), "wa_id");
    if (!wa_id.empty()) output["wa_id"] = wa_id;
    return ActionResult::done(id, output.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  const json& error = field_at(body, "error");
  const int code = static_cast<int>(integer_at(error, "code"));
  std::string message = string_at(error, "message", "HTTP " + std::to_string(response.status));
  if (const std::string details = string_at(field_at(error, "error_data"), "details"); !details.empty())
    message += ": " + details;
  const std::string code_text = code ? std::to_string(code) : std::to_string(response.status);
  const uint32_t after = switchboard_plugins::retry_after(response);
  if (in(std::begin(kRetryCodes), std::end(kRetryCodes), code) || response.status == 429 || response.status >= 500)
    return ActionResult::retry(message, after, code_text);
  return ActionResult::permanent(message, code_text);
}

}  // namespace whatsapp
