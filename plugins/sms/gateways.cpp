#include "gateways.h"

#include <algorithm>

#include "base64.h"
#include "form.h"
#include "json_fields.h"
#include "phone.h"
#include "provider_answers.h"
#include "smsc_callback.h"
#include "smsru_callback.h"
#include "twilio_signature.h"

namespace sms {

namespace {

using nlohmann::json;
using switchboard::ActionResult;
using switchboard::ConfigError;
using switchboard::HttpRequest;
using switchboard::HttpResponse;

// A dry run sends nothing: a laptop's first config needs no account.
std::string required(const json& config, const char* key) {
  const auto given = config.find(key);
  if (config.value("dry_run", false) && (given == config.end() || *given == "")) return "dry-run";
  return switchboard_plugins::required_setting(config, key, "gateway");
}

using switchboard_plugins::e164_digits;

using switchboard_plugins::retry_after;
using switchboard_plugins::transport_failure;

// SMS.ru and SMSC.ru answer 200 with JSON, their errors too. A 4xx page
// without it (a wrong base_url, access refused) is not cured by sending
// again; a 200 without it (a proxy's page, a cut answer) may be.
ActionResult without_json(const HttpResponse& response, const std::string& gateway) {
  const std::string why = gateway + " answered HTTP " + std::to_string(response.status) + " without JSON";
  if (response.status >= 400) return ActionResult::permanent(why, std::to_string(response.status));
  return ActionResult::retry(why);
}

HttpRequest form_post(std::string url, std::string body) {
  HttpRequest r;
  r.url = std::move(url);
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  r.body = std::move(body);
  return r;
}

// SMS.ru: POST /sms/send, api_id in the form, JSON answers (json=1).
// With `test`, SMS.ru checks the message and answers as it would, but sends
// nothing and charges nothing (test=1).
class SmsRu final : public Gateway {
 public:
  explicit SmsRu(const json& c)
      : base_(c.value("base_url", "https://sms.ru")),
        api_id_(required(c, "api_id")),
        from_(c.value("sender", "")),
        test_(c.value("test", false)) {}
  std::string name() const override { return "sms.ru"; }
  HttpRequest request(const Message& m) const override {
    std::vector<std::pair<std::string, std::string>> fields = {
        {"api_id", api_id_}, {"to", e164_digits(m.to)}, {"msg", m.text}, {"json", "1"}};
    if (const std::string& from = m.from.empty() ? from_ : m.from; !from.empty()) fields.emplace_back("from", from);
    if (test_) fields.emplace_back("test", "1");
    return form_post(base_ + "/sms/send", switchboard_plugins::form_urlencode(fields));
  }
  ActionResult result(const HttpResponse& response, const Message& m) const override {
    using switchboard_plugins::field_at;
    using switchboard_plugins::integer_at;
    using switchboard_plugins::string_at;
    if (auto failure = transport_failure(response, name())) return *failure;
    const json body = json::parse(response.body, nullptr, false);
    if (!body.is_object()) return without_json(response, name());
    // The per-number answer: ours by key, or the only one there is.
    json status = body;
    const json& per_number = field_at(body, "sms");
    if (per_number.is_object() && per_number.contains(e164_digits(m.to)))
      status = per_number[e164_digits(m.to)];
    else if (per_number.is_object() && per_number.size() == 1)
      status = per_number.begin().value();
    const int code = static_cast<int>(integer_at(status, "status_code"));
    const std::string text = string_at(status, "status_text", "status " + std::to_string(code));
    if (string_at(status, "status") == "OK" && code == 100) {
      const std::string id = string_at(status, "sms_id");
      return ActionResult::done(id, json{{"sms_id", id}}.dump());
    }
    const std::string c = std::to_string(code);
    // 220: the service is down for a while; 500: a server error, "repeat the request".
    if (code == 220 || code == 500) return ActionResult::retry(text, 0, c);
    // The number: wrong (202), no route (207), a stop list (209, 215), abroad
    // while the account sends only to Russian numbers (214).
    if (code == 202 || code == 207 || code == 209 || code == 214 || code == 215)
      return ActionResult::unreachable(text, c);
    // The account's daily limit (206): the step waits, an hour at a time
    // without using an attempt, until the next day lifts it (as Bitrix24's
    // sender defers it).
    if (code == 206) return ActionResult::deferred(text + " (" + c + ")", 3600);
    // Others are for good: the number's own daily limits too (230; 232 the
    // same text, which the next day would repeat). 231, the same text to
    // this number twice in a minute, most often follows a send whose answer
    // was lost: sending again after the minute would deliver it twice.
    return ActionResult::permanent(text, c);
  }
  HttpRequest status_request(const std::string& id, const std::string&) const override {
    return form_post(base_ + "/sms/status",
                     switchboard_plugins::form_urlencode({{"api_id", api_id_}, {"sms_id", id}, {"json", "1"}}));
  }
  ActionResult status_result(const HttpResponse& response, const std::string& id) const override {
    using switchboard_plugins::field_at;
    using switchboard_plugins::integer_at;
    using switchboard_plugins::string_at;
    if (auto failure = transport_failure(response, name())) return *failure;
    const json body = json::parse(response.body, nullptr, false);
    if (!body.is_object()) return without_json(response, name());
    // {"status": "OK", "sms": {"<id>": {"status": "OK", "status_code": 103, "status_text"}}}
    const json& of_id = field_at(field_at(body, "sms"), id.c_str());
    // Without the id's entry, the request's own answer (an error) says why; an OK one says nothing of the message.
    if (!of_id.is_object() && string_at(body, "status") == "OK")
      return ActionResult::permanent("sms.ru gave no status for message " + id);
    const json& answer = of_id.is_object() ? of_id : body;
    const int code = static_cast<int>(integer_at(answer, "status_code"));
    const char* word = string_at(answer, "status") == "OK" ? smsru_status_name(code) : nullptr;
    if (!word) {
      const std::string c = std::to_string(code);
      const std::string text = string_at(answer, "status_text", "status " + c);
      if (code == 220 || code == 500) return ActionResult::retry(text, 0, c);
      return ActionResult::permanent(text, c);
    }
    return ActionResult::done("", json{{"message_id", id},
                                       {"status", word},
                                       {"status_code", code},
                                       {"status_text", string_at(answer, "status_text")}}
                                      .dump());
  }

 private:
  std::string base_, api_id_, from_;
  bool test_;
};

// SMSC.ru: POST /sys/send.php; fmt=3 answers JSON, charset=utf-8 (its
// default is windows-1251). The account signs in with its login and
// password, or with an API key instead (apikey); beside a key the login only
// names the account, whose reports' ids it keeps apart from another's.
class Smsc final : public Gateway {
 public:
  explicit Smsc(const json& c)
      : base_(c.value("base_url", "https://smsc.ru")),
        api_key_(c.value("api_key", "")),
        login_(api_key_.empty() ? required(c, "login") : c.value("login", "")),
        password_(api_key_.empty() ? required(c, "password") : ""),
        from_(c.value("sender", "")) {
    if (!api_key_.empty() && c.contains("password"))
      throw ConfigError("gateway 'smsc' takes 'api_key' or 'password', not both");
    // SMSC.ru numbers messages per account: its reports' ids need the login.
    if (!api_key_.empty() && login_.empty() && c.contains("callback_path"))
      throw ConfigError(
          "gateway 'smsc' with 'api_key' and 'callback_path' needs 'login', the account's, to tell its "
          "reports from another account's");
  }
  std::string name() const override { return "smsc.ru"; }
  HttpRequest request(const Message& m) const override {
    auto fields = credentials();
    fields.insert(fields.end(), {{"phones", e164_digits(m.to)}, {"mes", m.text}, {"fmt", "3"}, {"charset", "utf-8"}});
    if (const std::string& from = m.from.empty() ? from_ : m.from; !from.empty()) fields.emplace_back("sender", from);
    return form_post(base_ + "/sys/send.php", switchboard_plugins::form_urlencode(fields));
  }
  ActionResult result(const HttpResponse& response, const Message&) const override {
    if (auto failure = transport_failure(response, name())) return *failure;
    const json body = json::parse(response.body, nullptr, false);
    if (!body.is_object()) return without_json(response, name());
    if (!body.contains("error")) {
      const json& given = body.contains("id") ? body["id"] : json();
      const std::string id = given.is_string() ? given.get<std::string>() : given.is_null() ? "" : given.dump();
      return ActionResult::done(id, json{{"id", body.value("id", json())}, {"cnt", body.value("cnt", json())}}.dump());
    }
    const int code = static_cast<int>(switchboard_plugins::integer_at(body, "error_code"));
    const std::string text = switchboard_plugins::string_at(body, "error", "error " + std::to_string(code)),
                      c = std::to_string(code);
    // 4: the IP is blocked for a minute. 9 is either too many requests at
    // once (retried) or the same send twice within a minute, which most
    // often follows a send whose answer was lost: sending again after the
    // minute would deliver it twice.
    if (code == 4) return ActionResult::retry(text, 60, c);
    if (code == 9 && text.find("concurrent") != std::string::npos) return ActionResult::retry(text, 1, c);
    if (code == 7 || code == 8) return ActionResult::unreachable(text, c);
    return ActionResult::permanent(text, c);
  }
  HttpRequest status_request(const std::string& id, const std::string& to) const override {
    // Its messages are numbered per number: the status names both.
    auto fields = credentials();
    fields.insert(fields.end(), {{"phone", e164_digits(to)}, {"id", id}, {"fmt", "3"}, {"charset", "utf-8"}});
    return form_post(base_ + "/sys/status.php", switchboard_plugins::form_urlencode(fields));
  }
  ActionResult status_result(const HttpResponse& response, const std::string& id) const override {
    using switchboard_plugins::integer_at;
    using switchboard_plugins::string_at;
    if (auto failure = transport_failure(response, name())) return *failure;
    const json body = json::parse(response.body, nullptr, false);
    if (!body.is_object()) return without_json(response, name());
    if (body.contains("error")) {
      const int code = static_cast<int>(integer_at(body, "error_code"));
      const std::string text = string_at(body, "error", "error " + std::to_string(code));
      // 4: the IP is blocked for a minute; 9: more than five queries of one message in a minute.
      if (code == 4 || code == 9) return ActionResult::retry(text, 60, std::to_string(code));
      return ActionResult::permanent(text, std::to_string(code));
    }
    const int code = static_cast<int>(integer_at(body, "status", -3));
    const char* word = smsc_status_name(code);
    if (!word) return ActionResult::permanent("smsc.ru has no message " + id + " to that number", std::to_string(code));
    json output{{"message_id", id}, {"status", word}, {"status_code", code}};
    if (const int64_t err = integer_at(body, "err"); err != 0) output["error_code"] = err;
    return ActionResult::done("", output.dump());
  }

 private:
  std::vector<std::pair<std::string, std::string>> credentials() const {
    if (api_key_.empty()) return {{"login", login_}, {"psw", password_}};
    return {{"apikey", api_key_}};
  }

  std::string base_, api_key_, login_, password_, from_;
};

// Twilio Programmable Messaging: POST /2010-04-01/Accounts/{sid}/Messages.json, HTTP Basic.
class Twilio final : public Gateway {
 public:
  explicit Twilio(const json& c)
      : base_(c.value("base_url", "https://api.twilio.com")),
        sid_(required(c, "account_sid")),
        token_(required(c, "auth_token")),
        from_(c.value("sender", "")),
        service_(c.value("messaging_service_sid", "")),
        callback_(switchboard_plugins::twilio_callback_with_retries(c.value("status_callback", ""))) {
    if (from_.empty() && service_.empty())
      throw ConfigError("gateway 'twilio' needs 'sender' or 'messaging_service_sid'");
  }
  std::string name() const override { return "twilio"; }
  HttpRequest request(const Message& m) const override {
    std::vector<std::pair<std::string, std::string>> fields = {{"To", m.to}, {"Body", m.text}};
    // A step's sender goes as From, with the service if there is one (Twilio
    // then sends from that number of the service's pool).
    if (!m.from.empty()) fields.emplace_back("From", m.from);
    if (!service_.empty())
      fields.emplace_back("MessagingServiceSid", service_);
    else if (m.from.empty())
      fields.emplace_back("From", from_);
    if (!callback_.empty()) fields.emplace_back("StatusCallback", callback_);
    HttpRequest r = form_post(base_ + "/2010-04-01/Accounts/" + sid_ + "/Messages.json",
                              switchboard_plugins::form_urlencode(fields));
    r.headers.emplace_back("Authorization", "Basic " + switchboard_plugins::base64(sid_ + ":" + token_));
    return r;
  }
  ActionResult result(const HttpResponse& response, const Message&) const override {
    using switchboard_plugins::integer_at;
    using switchboard_plugins::string_at;
    const json body = json::parse(response.body, nullptr, false);
    if (response.status >= 200 && response.status < 300) {
      // Accepted: never retried, even when the answer is odd (that would send twice).
      json output{{"sid", string_at(body, "sid")}, {"status", string_at(body, "status")}};
      if (body.is_object() && body.contains("num_segments")) output["num_segments"] = body["num_segments"];
      return ActionResult::done(string_at(body, "sid"), output.dump());
    }
    const int code = static_cast<int>(integer_at(body, "code"));
    if (code == 20429)
      return ActionResult::retry(string_at(body, "message", "too many requests"), retry_after(response), "20429");
    if (auto failure = transport_failure(response, name())) return *failure;
    const std::string text = string_at(body, "message", "HTTP " + std::to_string(response.status));
    const std::string c = code ? std::to_string(code) : std::to_string(response.status);
    // Not a number Twilio can text: invalid, not a mobile (21614, a landline
    // 21635, a short code 21265), one this sender cannot reach (21612).
    // Another channel may reach them. (The person replied STOP to this
    // sender, 21610, or the account may not text that country, 21408, a Geo
    // Permission of the account's: permanent, so that the admin hears of it
    // in the dead letters; a fallback moves on from those too.)
    if (code == 21211 || code == 21614 || code == 21612 || code == 21635 || code == 21265)
      return ActionResult::unreachable(text, c);
    // The sender's queue holds more than its limit (10 hours of messages):
    // the same message goes once it has drained.
    if (code == 21611) return ActionResult::retry(text, 60, c);
    return ActionResult::permanent(text, c);
  }
  HttpRequest status_request(const std::string& id, const std::string&) const override {
    HttpRequest r;
    r.method = "GET";
    r.url = base_ + "/2010-04-01/Accounts/" + sid_ + "/Messages/" + switchboard_plugins::percent_encode(id) + ".json";
    r.headers = {{"Authorization", "Basic " + switchboard_plugins::base64(sid_ + ":" + token_)}};
    return r;
  }
  ActionResult status_result(const HttpResponse& response, const std::string& id) const override {
    using switchboard_plugins::integer_at;
    using switchboard_plugins::string_at;
    if (auto failure = transport_failure(response, name())) return *failure;
    const json body = json::parse(response.body, nullptr, false);
    if (response.status >= 200 && response.status < 300 && string_at(body, "status").empty())
      return ActionResult::retry("twilio answered HTTP " + std::to_string(response.status) + " without a status");
    if (response.status < 200 || response.status >= 300) {
      const int code = static_cast<int>(integer_at(body, "code", response.status));
      return ActionResult::permanent(string_at(body, "message", "HTTP " + std::to_string(response.status)),
                                     std::to_string(code));
    }
    // Twilio's own words (queued, sent, delivered, undelivered, failed, read).
    json output{{"message_id", id}, {"status", string_at(body, "status")}};
    if (body.contains("error_code") && !body["error_code"].is_null()) output["error_code"] = body["error_code"];
    return ActionResult::done("", output.dump());
  }

 private:
  std::string base_, sid_, token_, from_, service_, callback_;
};

}  // namespace

std::unique_ptr<Gateway> make_gateway(const json& config) {
  const std::string name = config.value("gateway", "");
  if (name == "smsru") return std::make_unique<SmsRu>(config);
  if (name == "smsc") return std::make_unique<Smsc>(config);
  if (name == "twilio") return std::make_unique<Twilio>(config);
  throw ConfigError("'gateway' must be one of smsru, smsc, twilio");
}

}  // namespace sms
