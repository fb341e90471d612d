// The "whatsapp" plugin: sends text and template messages through the
// WhatsApp Business Cloud API, and turns Meta's webhook (status reports,
// inbound messages) into message.* events that wait_for steps can await.
#include <openssl/crypto.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>

#include "deadline.h"
#include "emit_all.h"
#include "error_body.h"
#include "form.h"
#include "json_check.h"
#include "json_fields.h"
#include "phone.h"
#include "whatsapp_api.h"
#include "whatsapp_schemas.h"
#include "whatsapp_webhook.h"

namespace whatsapp {

namespace {

using nlohmann::json;
using switchboard::ActionResult;
using switchboard::InboundRequest;
using switchboard::Responder;

constexpr std::string_view kJson = "application/json";
constexpr int kMaxDepth = 64;

using switchboard_plugins::dump;
using switchboard_plugins::error_body;

// One parameter of a query string, decoded.
std::string query_parameter(std::string_view query, std::string_view name) {
  for (const auto& [key, value] : switchboard_plugins::form_decode(query))
    if (key == name) return value;
  return {};
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

class WhatsApp : public switchboard::Plugin {
 public:
  WhatsApp(switchboard::Host& host, std::string_view config_json) : host_(host), config_(Config::parse(config_json)) {
    if (config_.webhook_path.empty()) return;
    // A "STOP" (or "СТОП") from a contact opts them out of WhatsApp messages; "START" back in.
    // whatsapp.error: an error of the account or the app (Meta's "errors" webhook).
    for (const char* type : {"contact.unsubscribed", "contact.resubscribed", "whatsapp.error"})
      if (!host_.declare_event_type(type)) throw switchboard::ConfigError(std::string("cannot declare ") + type);
    const std::string route = "/webhooks/" + config_.webhook_path;
    // Last in the constructor: nothing may throw once the route points at us.
    if (!host_.add_route(route, [this](const InboundRequest& request, Responder responder) {
          handle(request, std::move(responder));
        }))
      throw switchboard::ConfigError("cannot register route " + route + ": the path is taken or invalid");
  }

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    json params = json::parse(call.params_json, nullptr, false);
    if (!params.is_object()) return done(ActionResult::invalid_params("the parameters must be a JSON object"));
    if (call.action == "mark_read") return send(call, build_read_receipt(params), std::move(done));
    // A number, or one of the contact's (the first of any type when none is named).
    auto to =
        switchboard_plugins::recipient_number(params.value("to", json()), call.subject_json, config_.default_country);
    if (auto* refused = std::get_if<ActionResult>(&to)) return done(std::move(*refused));
    params["to"] = std::get<std::string>(to);
    send(call, build_message(call.action, params, config_.default_country), std::move(done));
  }

 private:
  void send(const switchboard::ActionCall& call, const Message& message, switchboard::Completion done) {
    if (!message.problem.empty()) {
      // No number WhatsApp could reach: the next channel of a fallback may.
      if (message.invalid_number) return done(ActionResult::unreachable(message.problem, "invalid_number"));
      return done(ActionResult::invalid_params(message.problem));
    }
    if (config_.dry_run) {
      const json record{{"channel", "whatsapp"},
                        {"action", call.action},
                        {"url", config_.messages_url()},
                        {"body", message.body},
                        {"idempotency_key", call.idempotency_key}};
      if (!host_.outbox(dump(record))) return done(ActionResult::retry("the host's outbox did not take the record"));
      // An id of its own, so that a rehearsed report (an event posted with
      // this data.message_id) resumes this message's wait only; a read
      // receipt sends no message.
      if (call.action == "mark_read") return done(ActionResult::done("", R"({"read":true})"));
      return done(ActionResult::done("dry-run:" + std::string(call.idempotency_key)));
    }
    switchboard::HttpRequest request;
    request.url = config_.messages_url();
    request.headers = {{"Authorization", "Bearer " + config_.access_token}, {"Content-Type", "application/json"}};
    request.body = dump(message.body);
    request.timeout_ms =
        switchboard_plugins::timeout_within_deadline(config_.timeout_ms, call.deadline_unix_ms, host_.now_unix_ms());
    if (call.action != "mark_read") host_.count("whatsapp_sends_total");
    // Runs on a host I/O thread and touches nothing of this instance.
    auto on_response = [done](const switchboard::HttpResponse& response) mutable { done(map_send_response(response)); };
    if (host_.http(request, std::move(on_response)) != SB_OK)
      done(ActionResult::retry("the host's HTTP client did not take the request"));
  }

  void handle(const InboundRequest& request, Responder responder) {
    if (request.method == "GET") return handshake(request, responder);
    if (request.method != "POST")
      return responder.respond(405, kJson, error_body("method_not_allowed", "GET or POST"), {{"Allow", "GET, POST"}});
    if (auto problem = signature_problem(config_.app_secret, request.body, request.header("x-hub-signature-256"))) {
      host_.count("whatsapp_webhook_rejected_total");
      host_.log(SB_LOG_WARN, "whatsapp webhook refused",
                dump(json{{"reason", *problem}, {"remote_address", request.remote_address}}));
      return responder.respond(401, kJson, error_body("invalid_signature", *problem));
    }
    const switchboard_plugins::JsonCheck check = switchboard_plugins::check_json(request.body, kMaxDepth);
    if (!check.valid || check.too_deep || !check.is_object)
      return responder.respond(400, kJson, error_body("invalid_json", "expected a JSON object"));
    const json payload = json::parse(request.body, nullptr, false);
    std::vector<InboundEvent> events = events_from_payload(payload);
    // Signed, but not the shape Meta sends: said, since nothing of it is read
    // (answered 200 all the same: Meta would only deliver it again).
    const auto object = payload.find("object"), entry = payload.find("entry");
    if (object == payload.end() || *object != "whatsapp_business_account" || entry == payload.end() ||
        !entry->is_array()) {
      host_.count("whatsapp_webhook_unread_total");
      host_.log(SB_LOG_WARN, "whatsapp webhook payload not read",
                dump(json{{"reason", "expected {\"object\": \"whatsapp_business_account\", \"entry\": [...]}"},
                          {"remote_address", request.remote_address}}));
    }
    if (events.empty()) return responder.respond(200, kJson, "{}");
    emit_all(std::move(events), std::move(responder));
  }

  // GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C -> C, when T is ours.
  void handshake(const InboundRequest& request, Responder& responder) const {
    const std::string mode = query_parameter(request.query, "hub.mode");
    const std::string token = query_parameter(request.query, "hub.verify_token");
    if (mode != "subscribe" || !equal_constant_time(token, config_.verify_token)) {
      host_.log(SB_LOG_WARN, "whatsapp webhook handshake refused", dump(json{{"mode", mode}}));
      return responder.respond(403, kJson, error_body("forbidden", "hub.mode or hub.verify_token does not match"));
    }
    const std::string challenge = query_parameter(request.query, "hub.challenge");
    if (challenge.empty())
      return responder.respond(400, kJson,
                               error_body("bad_request", "hub.challenge is missing: Meta sends one to echo"));
    responder.respond(200, "text/plain", challenge);
  }

  // 200 once the host committed every event of the delivery; otherwise 503,
  // and Meta delivers it again (repeats are duplicates by id).
  void emit_all(std::vector<InboundEvent> events, Responder responder) {
    host_.count("whatsapp_events_total", static_cast<double>(events.size()));
    switchboard_plugins::emit_all(host_, events, [responder](bool committed) mutable {
      if (committed) return responder.respond(200, kJson, "{}");
      responder.respond(503, kJson, error_body("unavailable", "the host did not take every event"),
                        {{"Retry-After", "1"}});
    });
  }

  switchboard::Host& host_;
  const Config config_;
};

switchboard::PluginInfo whatsapp_info() {
  switchboard::PluginInfo info;
  info.name = "whatsapp";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description =
      "WhatsApp Business Cloud API: text, template, media and interactive (reply buttons, list) messages, and "
      "Meta's signed webhook as message.* events.";
  info.config_schema_json = std::string(whatsapp_schemas::schema_json);
  info.actions.push_back({"send_text", "A free-form text (inside the 24-hour window); the wamid is the external id.",
                          std::string(whatsapp_schemas::actions_send_text_json)});
  info.actions.push_back({"send_template", "An approved template with body parameters; the wamid is the external id.",
                          std::string(whatsapp_schemas::actions_send_template_json)});
  info.actions.push_back(
      {"send_media", "An image, document, audio, video or sticker by link or media id; the wamid is the external id.",
       std::string(whatsapp_schemas::actions_send_media_json)});
  info.actions.push_back({"send_buttons",
                          "A text with up to 3 reply buttons; a tap comes back as message.replied with its reply_id.",
                          std::string(whatsapp_schemas::actions_send_buttons_json)});
  info.actions.push_back({"send_list",
                          "A text with a button that opens a list of up to 10 rows; the chosen row comes back as "
                          "message.replied with its reply_id.",
                          std::string(whatsapp_schemas::actions_send_list_json)});
  info.actions.push_back({"mark_read",
                          "Marks a received message (its wamid, data.message_id of message.received) as read.",
                          std::string(whatsapp_schemas::actions_mark_read_json)});
  info.triggers.push_back({"message.*",
                           "Status reports (message.sent|delivered|read|failed) and inbound messages "
                           "(message.replied, message.received) from the webhook.",
                           std::string(whatsapp_schemas::triggers_message_json)});
  return info;
}

}  // namespace whatsapp

SWITCHBOARD_PLUGIN(whatsapp::WhatsApp, whatsapp::whatsapp_info)
