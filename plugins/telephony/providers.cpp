#include "providers.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "base64.h"
#include "form.h"
#include "json_fields.h"
#include "jwt.h"
#include "phone.h"
#include "provider_answers.h"
#include "twilio_signature.h"
#include "twiml.h"
#include "zadarma.h"

namespace telephony {

namespace {

using nlohmann::json;
using switchboard::ActionResult;
using switchboard::ConfigError;
using switchboard::HttpRequest;
using switchboard::HttpResponse;
using switchboard::InboundRequest;
using switchboard_plugins::integer_at;
using switchboard_plugins::string_at;

std::string required(const json& config, const char* key) {
  return switchboard_plugins::required_setting(config, key, "provider");
}

using switchboard_plugins::transport_failure;

std::string field(const std::vector<std::pair<std::string, std::string>>& fields, const char* name) {
  return switchboard_plugins::form_field(fields, name).value_or("");
}

int seconds(const std::string& text) {
  int value = -1;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// Twilio Voice: the Calls resource, TwiML inline, StatusCallback signed
// with X-Twilio-Signature.
class Twilio final : public Provider {
 public:
  explicit Twilio(const json& c)
      : base_(c.value("base_url", "https://api.twilio.com")),
        account_sid_(required(c, "account_sid")),
        auth_token_(required(c, "auth_token")),
        status_callback_(switchboard_plugins::twilio_callback_with_retries(c.value("status_callback", ""))),
        machine_detection_(c.value("machine_detection", "")),
        ring_timeout_s_(c.value("ring_timeout_s", 30)) {}

  std::string name() const override { return "twilio"; }

  // Twilio takes at most 4000 characters of TwiML (error 32018), and says
  // nothing in a language its voice does not speak.
  std::optional<std::string> refusal(const Call& call) const override {
    if (call.connects() && !call.client_first)
      return "Twilio calls the client first and dials the manager: \"first\": \"manager\" is Zadarma's";
    if (call.connects() && call.connect_e164.empty())
      return "Twilio dials a phone number: '" + call.connect + "' is not one";
    if (call.says())
      if (auto problem = voice_problem(call.voice, call.language)) return problem;
    const std::string inline_twiml = twiml(call);
    const auto characters = static_cast<size_t>(
        std::count_if(inline_twiml.begin(), inline_twiml.end(), [](char c) { return (c & 0xC0) != 0x80; }));
    if (characters <= kMaxTwiml) return std::nullopt;
    return "the call's TwiML is " + std::to_string(characters) + " characters, over the " + std::to_string(kMaxTwiml) +
           " Twilio takes: shorten the text";
  }

  std::optional<HttpRequest> request(const Call& call, int64_t, std::string&, std::optional<KeptData>&) const override {
    std::vector<std::pair<std::string, std::string>> fields = {
        {"To", call.to}, {"From", call.from}, {"Twiml", twiml(call)}, {"Timeout", std::to_string(ring_timeout_s_)}};
    // Twilio listens to who picks up before the TwiML runs (synchronous
    // detection): with DetectMessageEnd a voicemail gets the message after
    // its greeting.
    if (!machine_detection_.empty()) fields.emplace_back("MachineDetection", machine_detection_);
    if (!status_callback_.empty()) {
      // Answered for call.answered at once, completed for the end (and
      // no-answer, busy, failed). With machine detection only the end: it
      // says who answered (AnsweredBy), which an "answered" report may not.
      fields.emplace_back("StatusCallback", status_callback_);
      if (machine_detection_.empty()) fields.emplace_back("StatusCallbackEvent", "answered");
      fields.insert(fields.end(), {{"StatusCallbackEvent", "completed"}, {"StatusCallbackMethod", "POST"}});
    }
    HttpRequest r;
    r.url = calls_url();
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Authorization", "Basic " + switchboard_plugins::base64(account_sid_ + ":" + auth_token_)}};
    r.body = switchboard_plugins::form_urlencode(fields);
    return r;
  }

  ActionResult result(const HttpResponse& response, const Call& call) const override {
    if (auto failure = transport_failure(response, "twilio")) return *failure;
    const json body = json::parse(response.body, nullptr, false);
    if (response.status >= 200 && response.status < 300) {
      // Accepted: never tried again, whatever else the body says.
      const std::string sid = string_at(body, "sid");
      return ActionResult::done(sid, switchboard_plugins::dump({{"call_id", sid},
                                                                {"status", string_at(body, "status", "queued")},
                                                                {"to", call.to},
                                                                {"provider", "twilio"}}));
    }
    const int64_t code = integer_at(body, "code", response.status);
    const std::string message = string_at(body, "message", "twilio answered HTTP " + std::to_string(response.status));
    switch (code) {
      case 21211:  // invalid 'To' number
      case 21214:  // 'To' cannot be reached
      case 21216:  // the number is blocked
      case 21217:  // the number does not appear to be valid
        return ActionResult::unreachable(message, std::to_string(code));
      case 20429:
        return ActionResult::retry(message, 0, std::to_string(code));
      default:
        // 21215 among them: the account may not call that country (its Geo
        // Permissions), which the admin must hear of, not a contact skipped.
        return ActionResult::permanent(message, std::to_string(code));
    }
  }

  Report report(const InboundRequest& request) const override {
    if (request.method != "POST") return {405, "not a POST", std::nullopt};
    const auto fields = switchboard_plugins::twilio_request_fields(request.query, request.body);
    const std::string given(request.header("x-twilio-signature").value_or(""));
    if (given.empty()) return {401, "missing X-Twilio-Signature", std::nullopt};
    if (!switchboard_plugins::twilio_request_signed(auth_token_, status_callback_, request.query, request.body, fields,
                                                    given))
      return {401, "X-Twilio-Signature does not match", std::nullopt};
    const std::string sid = field(fields, "CallSid"), status = field(fields, "CallStatus");
    static const std::map<std::string, std::string> kOutcomes = {
        {"in-progress", "answered"}, {"answered", "answered"}, {"completed", "completed"},
        {"no-answer", "no_answer"},  {"busy", "busy"},         {"failed", "failed"},
        {"canceled", "failed"}};
    const auto outcome = kOutcomes.find(status);
    if (sid.empty() || outcome == kOutcomes.end()) return {200, "", std::nullopt};  // queued, initiated, ringing
    const std::string answered_by = field(fields, "AnsweredBy");
    // Answered, but by whom is not known yet: the end's report will say.
    if (!machine_detection_.empty() && outcome->second == "answered" && answered_by.empty())
      return {200, "", std::nullopt};
    Outcome o{sid, outcome->second, status, -1, field(fields, "To"), field(fields, "From"), answered_by};
    const std::string duration =
        field(fields, "CallDuration").empty() ? field(fields, "Duration") : field(fields, "CallDuration");
    if (!duration.empty()) o.duration_s = seconds(duration);
    return {200, "", std::move(o)};
  }

  json preview(const Call& call) const override {
    return {{"url", calls_url()}, {"twiml", twiml(call)}, {"timeout", ring_timeout_s_}};
  }

 private:
  static constexpr size_t kMaxTwiml = 4000;

  std::string calls_url() const { return base_ + "/2010-04-01/Accounts/" + account_sid_ + "/Calls.json"; }

  const std::string base_, account_sid_, auth_token_, status_callback_, machine_detection_;
  const int ring_timeout_s_;
};

// Voximplant: the Management API's StartScenarios runs our VoxEngine
// scenario (voximplant_scenario.js) under a routing rule; the scenario
// calls, speaks or plays, and posts the outcome back with the call's token.
// VoxEngine.customData() holds at most 200 bytes: a call's data that is
// longer (nearly every one with a text) is kept by the plugin (KeptData),
// and the custom data says where the scenario fetches it (status_callback),
// with a key and a token for that key.
class Voximplant final : public Provider {
 public:
  explicit Voximplant(const json& c)
      : base_(c.value("base_url", "https://api.voximplant.com")),
        account_id_(required(c, "account_id")),
        key_id_(required(c, "key_id")),
        private_key_(required(c, "private_key")),
        callback_secret_(required(c, "callback_secret")),
        status_callback_(c.value("status_callback", "")),
        rule_id_(c.value("rule_id", 0)),
        ring_timeout_s_(c.value("ring_timeout_s", 30)) {
    if (rule_id_ <= 0) throw ConfigError("'rule_id' is required for provider 'voximplant'");
    if (const size_t size = fetch_data(std::string(kKeySize, 'k')).size(); size > kCustomDataLimit)
      throw ConfigError("'status_callback' is " + std::to_string(status_callback_.size()) +
                        " bytes: with the key and token a scenario fetches its call with, the custom data would be " +
                        std::to_string(size) + " bytes, over the " + std::to_string(kCustomDataLimit) +
                        " Voximplant passes to a scenario");
    if (account_id_.find_first_not_of("0123456789") != std::string::npos || account_id_.size() > 18)
      throw ConfigError("'account_id' must be Voximplant's numeric account id");
  }

  std::string name() const override { return "voximplant"; }

  // A call whose data does not fit in the custom data needs a callback to fetch it from.
  std::optional<std::string> refusal(const Call& call) const override {
    if (call.connects()) return "the Voximplant scenario says or plays: \"connect\" is Twilio's and Zadarma's";
    const size_t size = call_data(call).size();
    if (size <= kCustomDataLimit || !status_callback_.empty()) return std::nullopt;
    return "the call's data is " + std::to_string(size) + " bytes, over the " + std::to_string(kCustomDataLimit) +
           " Voximplant passes to a scenario: give 'status_callback' and 'callback_path', from which the scenario "
           "fetches it";
  }

  std::optional<HttpRequest> request(const Call& call, int64_t now_s, std::string& error,
                                     std::optional<KeptData>& kept) const override {
    // Issued a few seconds back, as the official clients do: a host clock a
    // little ahead of Voximplant's is not a token from the future.
    const int64_t issued = now_s - kClockSkewS;
    const auto token = switchboard_plugins::rs256_jwt(
        {{"kid", key_id_}}, {{"iss", std::stoll(account_id_)}, {"iat", issued}, {"exp", now_s + kTokenS}},
        private_key_);
    if (!token) {
      error = "'private_key' is not an unencrypted RSA private key in PEM";
      return std::nullopt;
    }
    std::string custom = call_data(call);
    if (custom.size() > kCustomDataLimit) {
      // The same key for the same step: a retried start replaces what it kept.
      const std::string key = switchboard_plugins::base64url(sha256(call.reference)).substr(0, kKeySize);
      kept = KeptData{key, switchboard_plugins::dump({{"until", now_s + kKeptS}, {"call", json::parse(custom)}}),
                      now_s + kKeptS};
      custom = fetch_data(key);
    }
    HttpRequest r;
    r.url = scenarios_url();
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", "Bearer " + *token}};
    r.body = switchboard_plugins::form_urlencode(
        {{"cmd", "StartScenarios"}, {"rule_id", std::to_string(rule_id_)}, {"script_custom_data", std::move(custom)}});
    return r;
  }

  ActionResult result(const HttpResponse& response, const Call& call) const override {
    if (auto failure = transport_failure(response, "voximplant")) return *failure;
    const json body = json::parse(response.body, nullptr, false);
    if (const json& error = switchboard_plugins::field_at(body, "error"); error.is_object()) {
      const std::string code = std::to_string(integer_at(error, "code"));
      // Past its limit of concurrent requests the API answers 429 (Too Many
      // Requests), which may come as the error's code: again, later.
      if (code == "429") return ActionResult::retry(string_at(error, "msg", "voximplant: too many requests"), 0, code);
      // Its own servers' failures (voximplant.com/docs/references/httpapi/
      // errors: fatal, internal, DB, media server or balancer, phone
      // provider, call service, conference): the call did not start, and
      // goes again later. The rest (authorization, arguments) are for good.
      static const std::set<std::string> kServerFailures{"1", "2", "4", "15", "16", "20", "21", "22", "23"};
      if (kServerFailures.count(code))
        return ActionResult::retry(string_at(error, "msg", "voximplant: server error"), 0, code);
      return ActionResult::permanent(string_at(error, "msg", "voximplant refused the call"), code);
    }
    if (response.status < 200 || response.status >= 300 || integer_at(body, "result") != 1)
      return ActionResult::permanent(
          "voximplant answered HTTP " + std::to_string(response.status) + " without a result",
          std::to_string(response.status));
    // The call id is ours: the scenario names it in its reports.
    return ActionResult::done(call.reference,
                              switchboard_plugins::dump({{"call_id", call.reference},
                                                         {"session_id", integer_at(body, "call_session_history_id")},
                                                         {"status", "started"},
                                                         {"to", call.to},
                                                         {"provider", "voximplant"}}));
  }

  Report report(const InboundRequest& request) const override {
    if (request.method != "POST") return {405, "not a POST", std::nullopt};
    const json body = json::parse(request.body, nullptr, false);
    if (!body.is_object()) return {400, "not a JSON object", std::nullopt};
    const std::string call_id = string_at(body, "call_id"), given = string_at(body, "token");
    if (given.empty()) return {401, "missing token", std::nullopt};
    if (const std::string key = string_at(body, "fetch"); !key.empty()) return fetch(key, given);
    const std::string expected = callback_token(callback_secret_, call_id);
    if (call_id.empty() || given.size() != expected.size() ||
        CRYPTO_memcmp(given.data(), expected.data(), given.size()) != 0)
      return {401, "token does not match", std::nullopt};
    const std::string status = string_at(body, "status");
    for (const char* known : {"answered", "completed", "no_answer", "busy", "failed"})
      if (status == known) {
        Outcome o{call_id,
                  status,
                  string_at(body, "code", status),
                  static_cast<int>(integer_at(body, "duration", -1)),
                  string_at(body, "to"),
                  string_at(body, "from")};
        return {200, "", std::move(o)};
      }
    return {400, "unknown status '" + status + "'", std::nullopt};
  }

  json preview(const Call& call) const override {
    return {{"url", scenarios_url()}, {"rule_id", rule_id_}, {"custom_data", custom_data(call)}};
  }

 private:
  static constexpr size_t kCustomDataLimit = 200;
  static constexpr size_t kKeySize = 22;  // 132 bits of the step's key's SHA-256
  static constexpr int64_t kKeptS = 900;  // long enough for a scenario to start
  static constexpr int64_t kTokenS = 24;  // a request's JWT ends when the official client's does: 24 s from now
  static constexpr int64_t kClockSkewS = 5;

  static std::string sha256(const std::string& text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<const char*>(digest), length);
  }

  // The custom data of a call the scenario fetches. Its token is for
  // fetching only: a report's is over the call id.
  std::string fetch_data(const std::string& key) const {
    return switchboard_plugins::dump(
        {{"fetch", status_callback_}, {"key", key}, {"token", callback_token(callback_secret_, "fetch:" + key)}});
  }

  // The scenario's request for its call's data: the plugin answers it from
  // what it kept under the key.
  Report fetch(const std::string& key, const std::string& given) const {
    const std::string expected = callback_token(callback_secret_, "fetch:" + key);
    if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), given.size()) != 0)
      return {401, "token does not match", std::nullopt};
    return {200, "", std::nullopt, key};
  }

  // The call as the scenario reads it, with the token its reports carry.
  std::string call_data(const Call& call) const {
    json data = custom_data(call);
    data["token"] = callback_token(callback_secret_, call.reference);
    return switchboard_plugins::dump(data);
  }

  // What the scenario reads with VoxEngine.customData() (or fetches).
  json custom_data(const Call& call) const {
    json data{{"call_id", call.reference},
              {"to", switchboard_plugins::e164_digits(call.to)},
              {"from", switchboard_plugins::e164_digits(call.from)},
              {"repeat", call.repeat},
              {"ring_timeout", ring_timeout_s_}};
    if (call.says()) {
      // The scenario's defaults are left out: custom data is short.
      data["say"] = call.text;
      if (!call.voice.empty()) data["voice"] = call.voice;
      if (call.speed != 100) data["speed"] = call.speed;
      if (call.volume_db != 0) data["volume"] = call.volume_db;
    } else {
      data["play"] = call.url;
    }
    if (!status_callback_.empty()) data["callback"] = status_callback_;
    return data;
  }
  // As the official client calls every command: one endpoint, the command in the form's `cmd`.
  std::string scenarios_url() const { return base_ + "/platform_api"; }

  const std::string base_, account_id_, key_id_, private_key_, callback_secret_, status_callback_;
  const int rule_id_, ring_timeout_s_;
};

}  // namespace

std::string callback_token(const std::string& secret, const std::string& call_id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(call_id.data()), call_id.size(), digest, &length);
  return switchboard_plugins::base64url(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::vector<CallEvent> call_events(const Outcome& o, const std::string& provider) {
  json data{
      {"call_id", o.call_id}, {"status", o.status}, {"provider_status", o.provider_status}, {"provider", provider}};
  if (o.duration_s >= 0) data["duration"] = o.duration_s;
  if (!o.answered_by.empty()) data["answered_by"] = o.answered_by;
  if (!o.to.empty()) data["to"] = o.to;
  if (!o.from.empty()) data["from"] = o.from;
  json payload{{"data", data}};
  if (!o.to.empty()) payload["contact"] = {{"phones", {{{"number", o.to}, {"type", "mobile"}}}}};
  auto event = [&](const std::string& what) { return CallEvent{"call." + what, o.call_id + ":" + what, payload}; };
  // A voicemail or a fax picked up (Twilio's machine detection): nobody
  // answered, whatever the call's status; the call still ends.
  const bool machine = o.answered_by.rfind("machine", 0) == 0 || o.answered_by == "fax";
  const std::string answered = machine ? "no_answer" : "answered";
  // A completed call was answered: call.answered once (its id makes the one
  // from the "answered" report and this one the same event), then its end.
  if (o.status == "completed") return {event(answered), event("completed")};
  return {event(o.status == "answered" ? answered : o.status)};
}

std::unique_ptr<Provider> make_provider(const json& config) {
  const std::string provider = config.value("provider", "");
  if (provider == "twilio") return std::make_unique<Twilio>(config);
  if (provider == "zadarma") return make_zadarma(config);
  if (provider == "voximplant") {
    if (config.contains("machine_detection"))
      throw ConfigError("'machine_detection' is Twilio's: a Voximplant scenario detects voicemail itself");
    return std::make_unique<Voximplant>(config);
  }
  throw ConfigError("unknown provider '" + provider + "': twilio, voximplant or zadarma");
}

}  // namespace telephony
