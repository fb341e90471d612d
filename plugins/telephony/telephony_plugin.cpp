// The "telephony" plugin: actions "say" (a text spoken by the provider's
// text-to-speech, at a speed and volume) and "play" (a recording), through
// the provider the instance is configured for. The call's outcome comes
// back on callback_path as call.answered, call.no_answer, call.busy or
// call.failed, with the call id the step returned.
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>

#include "deadline.h"
#include "emit_all.h"
#include "error_body.h"
#include "json_fields.h"
#include "phone.h"
#include "providers.h"
#include "speech.h"
#include "telephony_schemas.h"
#include "twiml.h"

namespace telephony {

namespace {
using nlohmann::json;
using switchboard::ActionResult;
using switchboard_plugins::dump;
using switchboard_plugins::error_body;
using switchboard_plugins::error_code_of;

// A number parameter that may be named as SSML names its levels ("slow",
// "loud"; "medium" is `normal`); nothing when it is neither.
std::optional<int> level(const json& params, const char* name, int normal,
                         std::initializer_list<std::pair<const char*, int>> levels) {
  const auto it = params.find(name);
  if (it == params.end()) return normal;
  if (it->is_number_integer()) return it->get<int>();
  if (!it->is_string()) return std::nullopt;
  if (*it == "medium") return normal;
  for (const auto& [word, value] : levels)
    if (*it == word) return value;
  return std::nullopt;
}

// A file name from an idempotency key: its characters that are not safe in one become '_'.
std::string file_name_of(const std::string& key) {
  std::string name = key;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
  return name;
}
}  // namespace

class Telephony : public switchboard::Plugin {
 public:
  Telephony(switchboard::Host& host, std::string_view config_json)
      : Telephony(host, switchboard_plugins::config_object(config_json)) {
    if (callback_path_.empty()) return;
    if (!host_.declare_event_type("call.*")) throw switchboard::ConfigError("cannot declare call.*");
    const std::string route = "/webhooks/" + callback_path_;
    // Last in the constructor: nothing may throw once the route points at us.
    if (!host_.add_route(route, [this](const switchboard::InboundRequest& request, switchboard::Responder responder) {
          status_report(request, std::move(responder));
        }))
      throw switchboard::ConfigError("cannot register route " + route + ": the path is taken or invalid");
  }

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    const std::string action(call.action);
    if (action != "say" && action != "play" && action != "connect")
      return done(ActionResult::invalid_params("unknown action '" + action + "'"));
    const json params = json::parse(call.params_json, nullptr, false);
    const std::string what = action == "say" ? "text" : action == "play" ? "url" : "connect";
    if (!params.is_object() || !params.contains(what) || !params[what].is_string() ||
        params[what].get<std::string>().empty())
      return done(ActionResult::invalid_params("'" + what + "' must be a non-empty string"));
    auto to = switchboard_plugins::recipient_number(params.value("to", json()), call.subject_json, default_country_);
    if (auto* ends = std::get_if<ActionResult>(&to)) return done(std::move(*ends));
    const std::string& e164 = std::get<std::string>(to);
    Call c;
    c.to = e164;
    c.from = from_;
    if (params.contains("from") && params["from"].is_string()) {
      const auto from = switchboard_plugins::to_e164(params["from"].get<std::string>(), default_country_);
      if (!from) return done(ActionResult::invalid_params("'from' is not a valid phone number"));
      c.from = *from;
    }
    (action == "say" ? c.text : action == "play" ? c.url : c.connect) = params[what].get<std::string>();
    c.client_first = params.value("first", "client") != "manager";
    if (c.connects()) c.connect_e164 = switchboard_plugins::to_e164(c.connect, default_country_).value_or("");
    c.voice = params.value("voice", voice_);
    c.language = params.value("language", language_);
    const auto speed = level(params, "speed", 100, {{"x-slow", 50}, {"slow", 75}, {"fast", 125}, {"x-fast", 150}});
    const auto volume = level(params, "volume", 0, {{"x-soft", -6}, {"soft", -3}, {"loud", 3}, {"x-loud", 6}});
    if (!speed || !volume)
      return done(ActionResult::invalid_params(
          "'speed' is a percent or x-slow, slow, medium, fast, x-fast; 'volume' is decibels or x-soft, soft, medium, "
          "loud, x-loud"));
    c.speed = *speed;
    c.volume_db = *volume;
    c.repeat = params.value("repeat", 1);
    c.reference = std::string(call.idempotency_key);
    if (auto why = provider_->refusal(c)) return done(ActionResult::permanent(*why));
    if (dry_run_) return dry_run(c, action, std::move(done));

    std::optional<KeptData> kept;
    std::string error;
    auto request = provider_->request(c, host_.now_unix_ms() / 1000, error, kept);
    if (!request) return done(ActionResult::permanent(error));
    request->timeout_ms =
        switchboard_plugins::timeout_within_deadline(timeout_ms_, call.deadline_unix_ms, host_.now_unix_ms());
    const std::string kept_key = kept ? kKeptPrefix + kept->key : "";
    const bool kept_alone = kept && !kept->shared;  // a start that failed may take it away
    if (kept) keep_until(kept_key, kept->until_s);
    // The call is in flight until `done`: the instance outlives the store's answer.
    auto place = [this, provider = provider_, c, request = std::move(*request), done, kept_key, kept_alone]() mutable {
      host_.count("telephony_calls_total");
      auto on_response = [this, done, provider, c, kept_key,
                          kept_alone](const switchboard::HttpResponse& response) mutable {
        ActionResult result = provider->result(response, c);
        // A scenario that did not start never fetches what was kept for it.
        if (kept_alone && result.outcome != SB_OUTCOME_DONE) forget(kept_key);
        done(std::move(result));
      };
      if (host_.http(request, std::move(on_response)) != SB_OK) {
        if (kept_alone) forget(kept_key);
        done(ActionResult::retry("the host's HTTP client did not take the request"));
      }
    };
    if (!kept) return place();
    // Kept before the call is placed: its scenario fetches it at once.
    auto kept_then_place = [place, done](sb_status status, std::string_view) mutable {
      if (status == SB_OK) return place();
      done(ActionResult::retry("the host did not keep the call's data for its scenario"));
    };
    if (host_.kv_put_async(kept_key, kept->value, kept_then_place) != SB_OK)
      done(ActionResult::retry("the host keeps no data for the call's scenario to fetch"));
  }

 private:
  void dry_run(const Call& c, const std::string& action, switchboard::Completion done) {
    json record{{"channel", "voice"},
                {"provider", provider_->name()},
                {"action", action},
                {"to", c.to},
                {"from", c.from},
                {"repeat", c.repeat},
                {"idempotency_key", c.reference},
                {"request", provider_->preview(c)}};
    if (c.connects()) {
      record.update({{"connect", c.connect}, {"first", c.client_first ? "client" : "manager"}});
    } else if (c.says()) {
      record.update({{"text", c.text},
                     {"voice", c.voice},
                     {"language", c.language},
                     {"speed", c.speed},
                     {"volume", c.volume_db}});
    } else {
      record["url"] = c.url;
    }
    const bool render = c.says() && renderer_;
    const std::filesystem::path audio = audio_dir_ / (file_name_of(c.reference) + ".wav");
    if (render) record["audio"] = audio.string();
    if (!host_.outbox(dump(record))) return done(ActionResult::retry("the host's outbox did not take the record"));
    // A call id of its own, so that a rehearsed outcome (an event posted
    // with this data.call_id) resumes this execution's wait only.
    const std::string call_id = "dry-run:" + c.reference;
    json output{{"call_id", call_id}, {"to", c.to}, {"provider", provider_->name()}};
    if (!render) return done(ActionResult::done(call_id, dump(output)));
    renderer_->render(c, audio, [audio, output, call_id, done](bool ok, const std::string& error) mutable {
      if (ok)
        output["audio"] = audio.string();
      else
        output["audio_error"] = error;
      done(ActionResult::done(call_id, dump(output)));
    });
  }

  // A scenario's fetch of its call: once, while it is kept (any node may
  // take it: the data is in the host's store).
  void answer_fetch(const std::string& key, switchboard::Responder responder) {
    // The request is open until answered: the instance outlives the store's answer.
    auto answer = [this, key, responder](sb_status status, std::string_view value) mutable {
      const json kept = status == SB_OK ? json::parse(value, nullptr, false) : json();
      const bool live =
          kept.is_object() && kept.value("until", int64_t{0}) >= host_.now_unix_ms() / 1000 && kept.contains("call");
      if (live) responder.respond(200, "application/json", dump(kept["call"]));
      if (status == SB_OK) forget(kKeptPrefix + key);  // answered once, or gone stale
      if (!live)
        responder.respond(404, "application/json",
                          error_body("not_found", "no call waits for its data under this key"));
    };
    if (host_.kv_get_async(kKeptPrefix + key, answer) != SB_OK)
      responder.respond(503, "application/json", error_body("unavailable", "the host's store cannot be read"));
  }

  void forget(const std::string& kept_key) {
    host_.kv_remove_async(kept_key, [](sb_status, std::string_view) {});
  }

  // A call whose scenario never fetched what was kept for it (Voximplant
  // took the start, then the scenario failed) leaves it in the store: it
  // goes once its time is over, at this instance's next call. (What a node
  // kept before a restart stays.)
  void keep_until(const std::string& kept_key, int64_t until_s) {
    std::vector<std::string> over;
    {
      std::lock_guard lock(kept_mutex_);
      const int64_t now_s = host_.now_unix_ms() / 1000;
      while (!kept_keys_.empty() && kept_keys_.front().first < now_s) {
        auto& [until, key] = kept_keys_.front();
        // Unless the same step kept it again since (a retried start).
        if (const auto latest = kept_until_.find(key); latest != kept_until_.end() && latest->second == until) {
          kept_until_.erase(latest);
          over.push_back(std::move(key));
        }
        kept_keys_.pop_front();
      }
      kept_keys_.emplace_back(until_s, kept_key);
      kept_until_[kept_key] = until_s;
    }
    for (const std::string& key : over) forget_if_over(key);
  }

  // Only once its time is over as the store has it: another call (another
  // node's) may have kept the same key since.
  void forget_if_over(const std::string& kept_key) {
    auto check = [this, kept_key](sb_status status, std::string_view value) {
      const json kept = status == SB_OK ? json::parse(value, nullptr, false) : json();
      if (kept.is_object() && kept.value("until", int64_t{0}) < host_.now_unix_ms() / 1000) forget(kept_key);
    };
    host_.kv_get_async(kept_key, check);
  }

  // A status report: verified by the provider, then an event per outcome.
  void status_report(const switchboard::InboundRequest& request, switchboard::Responder responder) {
    const Report report = provider_->report(request);
    if (!report.refused.empty()) {
      host_.count("telephony_callbacks_rejected_total");
      host_.log(SB_LOG_WARN, "call status report refused",
                dump(json{{"reason", report.refused}, {"remote_address", request.remote_address}}));
      return responder.respond(report.http_status, "application/json",
                               error_body(error_code_of(report.http_status), report.refused),
                               report.http_status == 405 ? switchboard::Responder::Headers{{"Allow", "POST"}}
                                                         : switchboard::Responder::Headers{});
    }
    if (!report.fetch_key.empty()) return answer_fetch(report.fetch_key, std::move(responder));
    if (!report.echo.empty()) return responder.respond(200, "text/plain", report.echo);
    if (!report.outcome) return responder.respond(200, "text/plain", "");
    std::vector<switchboard_plugins::PluginEvent> events;
    for (auto& e : call_events(*report.outcome, provider_->name()))
      events.push_back({std::move(e.type), std::move(e.id), std::move(e.payload)});
    if (report.placed_key.empty()) return emit_outcome(std::move(events), std::move(responder));
    // Only a call this instance placed (any node: the key is in the host's store).
    const std::string key = kKeptPrefix + report.placed_key;
    auto placed = [this, key, events = std::move(events), responder](sb_status status, std::string_view value) mutable {
      const json kept = status == SB_OK ? json::parse(value, nullptr, false) : json();
      if (!kept.is_object() || kept.value("until", int64_t{0}) < host_.now_unix_ms() / 1000)
        return responder.respond(200, "text/plain", "");  // another's call, or one long over
      emit_outcome(std::move(events), std::move(responder));
    };
    if (host_.kv_get_async(key, placed) != SB_OK)
      responder.respond(503, "application/json", error_body("unavailable", "the host's store cannot be read"));
  }

  // 200 once every event is committed: otherwise the provider tries again,
  // and the ids make a repeat a duplicate.
  void emit_outcome(std::vector<switchboard_plugins::PluginEvent> events, switchboard::Responder responder) {
    switchboard_plugins::emit_all(host_, events, [responder](bool committed) mutable {
      if (committed) return responder.respond(200, "text/plain", "");
      responder.respond(503, "application/json", error_body("unavailable", "not stored, send again"));
    });
  }

  Telephony(switchboard::Host& host, const json& config)
      : host_(host),
        provider_(make_provider(config)),
        from_(caller_id(config.value("from", ""), config.value("default_country", ""))),
        default_country_(config.value("default_country", "")),
        voice_(config.value("voice", "")),
        language_(config.value("language", "ru-RU")),
        audio_dir_(config.value("audio_dir", "")),
        timeout_ms_(config.value("timeout_ms", 10000u)),
        dry_run_(config.value("dry_run", false)),
        callback_path_(config.value("callback_path", "")) {
    if (dry_run_ && !audio_dir_.empty() && can_render_speech()) renderer_ = std::make_unique<SpeechRenderer>();
    // (Zadarma's notifications go where its cabinet says: no URL goes with a call.)
    if (!callback_path_.empty() && config.value("status_callback", "").empty() && provider_->name() != "zadarma")
      throw switchboard::ConfigError(
          "'callback_path' takes the provider's status reports: it needs 'status_callback', the public URL the "
          "provider calls (and Twilio signs)");
    if (provider_->name() == "twilio")
      if (auto problem = voice_problem(voice_, language_)) throw switchboard::ConfigError(*problem);
  }

  // The instance's number as the provider takes it (E.164: "8 (495) 000-11-22"
  // is +74950001122); as written when it is not a number libphonenumber knows.
  static std::string caller_id(const std::string& from, const std::string& default_country) {
    if (from.empty()) return from;
    return switchboard_plugins::to_e164(from, default_country).value_or(from);
  }

  static constexpr const char* kKeptPrefix = "call-data:";

  switchboard::Host& host_;
  const std::shared_ptr<const Provider> provider_;
  const std::string from_, default_country_, voice_, language_;
  const std::filesystem::path audio_dir_;
  const uint32_t timeout_ms_;
  const bool dry_run_;
  const std::string callback_path_;
  std::unique_ptr<SpeechRenderer> renderer_;  // dry run with audio_dir and espeak-ng: renders the texts
  std::mutex kept_mutex_;
  std::deque<std::pair<int64_t, std::string>> kept_keys_;  // (until, key) of what calls kept, in that order
  std::map<std::string, int64_t> kept_until_;              // key -> the latest until it was kept for
};

switchboard::PluginInfo telephony_info() {
  switchboard::PluginInfo info;
  info.name = "telephony";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description =
      "Voice calls through Twilio, Voximplant or Zadarma that say a text, play a recording or connect the client to "
      "a manager, with the outcomes as events.";
  info.config_schema_json = std::string(telephony_schemas::schema_json);
  info.actions.push_back({"say", "Calls a number and speaks a text; the call id is the external id.",
                          std::string(telephony_schemas::actions_say_json)});
  info.actions.push_back({"play", "Calls a number and plays a recording; the call id is the external id.",
                          std::string(telephony_schemas::actions_play_json)});
  info.actions.push_back({"connect",
                          "Calls the client and joins them to a manager (Twilio, Zadarma) or to a PBX scenario "
                          "(Zadarma).",
                          std::string(telephony_schemas::actions_connect_json)});
  return info;
}

}  // namespace telephony

SWITCHBOARD_PLUGIN(telephony::Telephony, telephony::telephony_info)
