// The "sms" plugin: one action, "send", through the gateway the instance is
// configured for. Numbers are normalised to E.164 (libphonenumber); the
// step's output reports the segments the text takes.
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>

#include "deadline.h"
#include "emit_all.h"
#include "error_body.h"
#include "form.h"
#include "gateways.h"
#include "json_fields.h"
#include "phone.h"
#include "segments.h"
#include "send_limits.h"
#include "sms_schemas.h"
#include "smsc_callback.h"
#include "smsru_callback.h"
#include "twilio_callback.h"
#include "twilio_signature.h"

namespace sms {

namespace {
using nlohmann::json;
using switchboard::ActionResult;

using switchboard_plugins::dump;
using switchboard_plugins::error_body;
using switchboard_plugins::error_code_of;
}  // namespace

class Sms : public switchboard::Plugin {
 public:
  Sms(switchboard::Host& host, std::string_view config_json)
      : Sms(host, switchboard_plugins::config_object(config_json)) {
    if (callback_path_.empty()) return;
    // Delivery reports: message.delivered, message.failed, ... as the gateway names them.
    // Delivery reports and replies; a "STOP" reply opts the contact out of SMS.
    for (const char* type : {"message.*", "contact.unsubscribed", "contact.resubscribed"})
      if (!host_.declare_event_type(type)) throw switchboard::ConfigError(std::string("cannot declare ") + type);
    const std::string route = "/webhooks/" + callback_path_;
    // Last in the constructor: nothing may throw once the route points at us.
    if (!host_.add_route(route, [this](const switchboard::InboundRequest& request, switchboard::Responder responder) {
          if (request.method != "POST")
            return responder.respond(405, "application/json", error_body("method_not_allowed", "POST only"),
                                     {{"Allow", "POST"}});
          if (gateway_kind_ == "smsru") return smsru_report(request, std::move(responder));
          if (gateway_kind_ == "smsc") return smsc_report(request, std::move(responder));
          delivery_report(request, std::move(responder));
        }))
      throw switchboard::ConfigError("cannot register route " + route + ": the path is taken or invalid");
  }

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    if (call.action == "status") return status(call, std::move(done));
    if (call.action != "send")
      return done(ActionResult::invalid_params("unknown action '" + std::string(call.action) + "'"));
    const json params = json::parse(call.params_json, nullptr, false);
    if (!params.is_object() || !params.contains("text") || !params["text"].is_string() ||
        params["text"].get<std::string>().empty())
      return done(ActionResult::invalid_params("'text' must be a non-empty string"));
    auto to = switchboard_plugins::recipient_number(params.value("to", json()), call.subject_json, default_country_);
    if (auto* ends = std::get_if<ActionResult>(&to)) return done(std::move(*ends));
    const std::string& e164 = std::get<std::string>(to);
    Message message{e164, params["text"].get<std::string>(), std::string(call.idempotency_key),
                    params.value("from", "")};
    const Segments segments = count_segments(message.text);
    const json report{
        {"to", message.to}, {"segments", segments.parts}, {"encoding", segments.gsm7 ? "GSM-7" : "UCS-2"}};
    if (auto wait = limits_.take(host_.now_unix_ms())) {
      // Not attempted: the host runs the step again then, without counting an attempt.
      host_.count("sms_deferred_total");
      return done(ActionResult::deferred("over the instance's sending limit", *wait));
    }
    if (dry_run_) {
      json record{{"channel", "sms"},     {"gateway", gateway_->name()}, {"to", message.to},
                  {"text", message.text}, {"segments", segments.parts},  {"idempotency_key", message.idempotency_key}};
      if (!message.from.empty()) record["from"] = message.from;
      if (!host_.outbox(dump(record))) return done(ActionResult::retry("the host's outbox did not take the record"));
      // An id of its own, so that a rehearsed report (an event posted with
      // this data.message_id) resumes this message's wait only.
      return done(ActionResult::done("dry-run:" + message.idempotency_key, dump(report)));
    }
    switchboard::HttpRequest request = gateway_->request(message);
    request.timeout_ms =
        switchboard_plugins::timeout_within_deadline(timeout_ms_, call.deadline_unix_ms, host_.now_unix_ms());
    host_.count("sms_sends_total");
    // Shared: the answer may come after this instance is gone.
    auto on_response = [done, gateway = gateway_, message, report](const switchboard::HttpResponse& response) mutable {
      ActionResult result = gateway->result(response, message);
      if (result.outcome == SB_OUTCOME_DONE) {
        json output = json::parse(result.output_json, nullptr, false);
        if (!output.is_object()) output = json::object();
        output.update(report);
        result.output_json = dump(output);
      }
      done(std::move(result));
    };
    if (host_.http(request, std::move(on_response)) != SB_OK)
      done(ActionResult::retry("the host's HTTP client did not take the request"));
  }

 private:
  // What became of a message a send step sent: asked of the gateway, which
  // answers in the words its delivery reports use. For a rule without a
  // public URL for the reports: send, wait, ask.
  void status(const switchboard::ActionCall& call, switchboard::Completion done) {
    const json params = json::parse(call.params_json, nullptr, false);
    const std::string id = params.is_object() ? params.value("message_id", "") : "";
    if (id.empty()) return done(ActionResult::invalid_params("'message_id' must be a send step's external_id"));
    // SMSC.ru numbers messages per number: it needs the one it was sent to.
    std::string to;
    if (auto number =
            switchboard_plugins::recipient_number(params.value("to", json()), call.subject_json, default_country_);
        std::holds_alternative<std::string>(number))
      to = std::get<std::string>(number);
    else if (gateway_kind_ == "smsc")
      return done(ActionResult::invalid_params("smsc.ru asks for a message's status with its number: give 'to'"));
    if (dry_run_ || id.rfind("dry-run:", 0) == 0)
      return done(ActionResult::done("", dump(json{{"message_id", id}, {"status", "sent"}, {"dry_run", true}})));
    switchboard::HttpRequest request = gateway_->status_request(id, to);
    request.timeout_ms =
        switchboard_plugins::timeout_within_deadline(timeout_ms_, call.deadline_unix_ms, host_.now_unix_ms());
    auto on_response = [done, gateway = gateway_, id](const switchboard::HttpResponse& response) mutable {
      done(gateway->status_result(response, id));
    };
    if (host_.http(request, std::move(on_response)) != SB_OK)
      done(ActionResult::retry("the host's HTTP client did not take the request"));
  }

  // A Twilio StatusCallback POST: signed with the auth token over the URL
  // Twilio called (status_callback) and the form fields.
  void delivery_report(const switchboard::InboundRequest& request, switchboard::Responder responder) {
    const FormFields fields = switchboard_plugins::twilio_request_fields(request.query, request.body);
    const std::string given(request.header("x-twilio-signature").value_or(""));
    if (!switchboard_plugins::twilio_request_signed(auth_token_, status_callback_, request.query, request.body, fields,
                                                    given)) {
      host_.count("sms_callbacks_rejected_total");
      host_.log(SB_LOG_WARN, "twilio status callback refused",
                dump(json{{"reason", given.empty() ? "missing X-Twilio-Signature" : "signature does not match"},
                          {"remote_address", request.remote_address}}));
      return responder.respond(401, "application/json", error_body("invalid_signature", "invalid signature"));
    }
    std::vector<Report> events;
    if (auto report = twilio_report(fields))
      events.push_back(std::move(*report));
    else
      events = twilio_inbound(fields);
    // Empty TwiML: an incoming message is answered with no reply (an empty
    // text/plain answer is Twilio's error 11200 in its debugger).
    constexpr std::string_view kNoReply = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";
    if (events.empty()) return responder.respond(200, "text/xml", kNoReply);
    // 200 once every event is committed: otherwise Twilio tries again, and the ids make a repeat a duplicate.
    switchboard_plugins::emit_all(host_, events, [responder, kNoReply](bool committed) mutable {
      if (committed) return responder.respond(200, "text/xml", kNoReply);
      responder.respond(503, "application/json", error_body("unavailable", "not stored, send again"));
    });
  }

  // SMS.ru's reports: signed with the api_id over the entries; answered "100"
  // once their events are committed (anything else and SMS.ru sends them
  // again; the ids make a repeat a duplicate).
  void smsru_report(const switchboard::InboundRequest& request, switchboard::Responder responder) {
    const FormFields fields = switchboard_plugins::form_decode(request.body);
    const auto entries = smsru_entries(fields);
    const std::string given = switchboard_plugins::form_field(fields, "hash").value_or("");
    const char* refused = !entries || entries->empty()                    ? "no data[N] entries"
                          : given.empty()                                 ? "missing hash"
                          : !smsru_hash_matches(api_id_, *entries, given) ? "hash does not match"
                                                                          : nullptr;
    if (refused) {
      host_.count("sms_callbacks_rejected_total");
      host_.log(SB_LOG_WARN, "sms.ru callback refused",
                dump(json{{"reason", refused}, {"remote_address", request.remote_address}}));
      const int status = entries && !entries->empty() ? 401 : 400;
      return responder.respond(status, "application/json", error_body(error_code_of(status), refused));
    }
    std::vector<Report> events;
    for (const std::string& entry : *entries)
      if (auto report = sms::smsru_report(entry)) events.push_back(std::move(*report));
    if (events.empty()) return responder.respond(200, "text/plain", "100");  // a heartbeat
    switchboard_plugins::emit_all(host_, events, [responder](bool committed) mutable {
      if (committed) return responder.respond(200, "text/plain", "100");
      responder.respond(503, "application/json", error_body("unavailable", "not stored, send again"));
    });
  }

  // SMSC.ru's status handler: signed with the handler's secret; answered
  // once the events are committed (503 otherwise: the ids make a report
  // sent again a duplicate).
  void smsc_report(const switchboard::InboundRequest& request, switchboard::Responder responder) {
    const FormFields fields = switchboard_plugins::form_decode(request.body);
    if (!smsc_signature_matches(fields, callback_secret_)) {
      const bool unsigned_post =
          !switchboard_plugins::form_field(fields, "md5") && !switchboard_plugins::form_field(fields, "sha1");
      host_.count("sms_callbacks_rejected_total");
      host_.log(SB_LOG_WARN, "smsc.ru status handler call refused",
                dump(json{{"reason", unsigned_post ? "missing md5 or sha1" : "signature does not match"},
                          {"remote_address", request.remote_address}}));
      return responder.respond(401, "application/json", error_body("invalid_signature", "invalid signature"));
    }
    const std::vector<Report> events = smsc_reports(fields, login_);
    if (events.empty()) return responder.respond(200, "text/plain", "OK");
    switchboard_plugins::emit_all(host_, events, [responder](bool committed) mutable {
      if (committed) return responder.respond(200, "text/plain", "OK");
      responder.respond(503, "application/json", error_body("unavailable", "not stored, send again"));
    });
  }

  Sms(switchboard::Host& host, const json& config)
      : host_(host),
        gateway_(make_gateway(config)),
        gateway_kind_(config.value("gateway", "")),
        limits_(config.contains("limits") ? config["limits"].value("per_minute", 0u) : 0u,
                config.contains("limits") ? config["limits"].value("per_day", 0u) : 0u),
        default_country_(config.value("default_country", "")),
        timeout_ms_(config.value("timeout_ms", 10000u)),
        dry_run_(config.value("dry_run", false)),
        callback_path_(config.value("callback_path", "")),
        status_callback_(switchboard_plugins::twilio_callback_with_retries(config.value("status_callback", ""))),
        auth_token_(config.value("auth_token", "")),
        api_id_(config.value("api_id", "")),
        login_(config.value("login", "")),
        callback_secret_(config.value("callback_secret", "")) {
    if (callback_path_.empty()) return;
    if (gateway_kind_ == "smsc" && callback_secret_.empty())
      throw switchboard::ConfigError(
          "'callback_path' takes SMSC.ru's reports with 'callback_secret' (the secret set for the status handler in "
          "the account, which signs them)");
    if (gateway_kind_ == "twilio" && status_callback_.empty())
      throw switchboard::ConfigError(
          "'callback_path' takes Twilio's reports with 'status_callback' (the public URL Twilio calls and signs)");
    // A report is checked under the account's key: without one (a dry run
    // needs none) anyone could forge them.
    if ((gateway_kind_ == "twilio" && auth_token_.empty()) || (gateway_kind_ == "smsru" && api_id_.empty()))
      throw switchboard::ConfigError(std::string("'callback_path' checks the gateway's reports with '") +
                                     (gateway_kind_ == "twilio" ? "auth_token" : "api_id") + "', which is not given");
  }

  switchboard::Host& host_;
  const std::shared_ptr<const Gateway> gateway_;
  const std::string gateway_kind_;  // "smsru", "smsc" or "twilio"
  Limits limits_;
  const std::string default_country_;
  const uint32_t timeout_ms_;
  const bool dry_run_;
  const std::string callback_path_, status_callback_, auth_token_, api_id_, login_, callback_secret_;
};

switchboard::PluginInfo sms_info() {
  switchboard::PluginInfo info;
  info.name = "sms";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description = "SMS through SMS.ru, SMSC.ru or Twilio, with E.164 numbers, segment counts and sending limits.";
  info.config_schema_json = std::string(sms_schemas::schema_json);
  info.actions.push_back({"send", "One text to one number; the gateway's message id is the external id.",
                          std::string(sms_schemas::actions_send_json)});
  info.actions.push_back({"status",
                          "Asks the gateway what became of a sent message; output.status is the word its delivery "
                          "reports use (delivered, undelivered, failed, ...).",
                          std::string(sms_schemas::actions_status_json), /*retry_safe=*/true});  // it only reads
  return info;
}

}  // namespace sms

SWITCHBOARD_PLUGIN(sms::Sms, sms::sms_info)
