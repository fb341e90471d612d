// A voice call through the real host: a deal's status makes a call on a
// local Twilio emulator, Twilio's signed status callback says nobody
// answered, and the rule's wait_for takes its else steps: an SMS (dry run).
#include <gtest/gtest.h>

#include <thread>

#include "form.h"
#include "integration/test_support.h"
#include "twilio_signature.h"

namespace sb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kToken[] = "telephony-e2e-events";
constexpr char kAdmin[] = "telephony-e2e-admin";
constexpr char kAuthToken[] = "twilio-e2e-auth-token";
constexpr char kSid[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kCallSid[] = "CAfeedfacefeedfacefeedfacefeedface";
// The public URL Twilio calls (behind a proxy) and signs.
constexpr char kPublicCallback[] = "https://crm.example.com/webhooks/calls";

json config(const HttpSink& twilio) {
  ::setenv("SB_TEST_PHONE_EVENTS", kToken, 1);
  ::setenv("SB_TEST_PHONE_ADMIN", kAdmin, 1);
  ::setenv("SB_TEST_TWILIO_TOKEN", kAuthToken, 1);
  return json{{"plugin_dirs", {SB_PLUGIN_DIR}},
              {"secrets",
               {{"events", {{"env", "SB_TEST_PHONE_EVENTS"}}},
                {"admin", {{"env", "SB_TEST_PHONE_ADMIN"}}},
                {"twilio", {{"env", "SB_TEST_TWILIO_TOKEN"}}}}},
              {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
              {"instances",
               {{"phone",
                 {{"plugin", "telephony"},
                  {"config",
                   {{"provider", "twilio"},
                    {"account_sid", kSid},
                    {"auth_token", {{"$secret", "twilio"}}},
                    {"from", "+15017122661"},
                    {"voice", "Polly.Tatyana"},
                    {"default_country", "RU"},
                    {"base_url", twilio.url()},
                    {"callback_path", "calls"},
                    {"status_callback", kPublicCallback}}}}},
                {"sms",
                 {{"plugin", "sms"},
                  {"config", {{"gateway", "smsru"}, {"api_id", "x"}, {"default_country", "RU"}, {"dry_run", true}}}}}}},
              {"rules", json::parse(R"([{
        "name": "delivery call", "trigger": {"entity": "deal", "status": "Передан в доставку"},
        "steps": [
          {"name": "Call", "action": "phone.say",
           "params": {"to": "{{contact.phones.0.number}}", "speed": 90,
                      "text": "{{contact.name}}, ваш заказ {{entity.id}} передан в доставку"}},
          {"name": "Answered", "wait_for": "call.answered", "else_on": ["call.no_answer", "call.busy", "call.failed"],
           "match": {"data.call_id": "{{steps.Call.external_id}}"}, "timeout": "10m",
           "else": [{"action": "sms.send", "params": {"to": "{{contact.phones.0.number}}",
                     "text": "Не дозвонились: заказ {{entity.id}} передан в доставку"}}]}]}])")}};
}

HttpResult admin_get(const HostProcess& host, const std::string& path) {
  return http_request(host.port(), "GET", path, "", {{"Authorization", std::string("Bearer ") + kAdmin}});
}

TEST(TelephonyEndToEnd, NoAnswerToTheCallSendsAnSmsInstead) {
  HttpSink twilio(201, json{{"sid", kCallSid}, {"status", "queued"}}.dump());
  HostProcess host(config(twilio));
  const json deal{{"id", "d-1"},
                  {"type", "deal.updated"},
                  {"entity", {{"type", "deal"}, {"id", "D-42"}, {"status", "Передан в доставку"}}},
                  {"contact", {{"name", "Анна"}, {"phones", {{{"number", "8 999 000-11-22"}}}}}}};
  ASSERT_EQ(http_request(host.port(), "POST", "/api/v1/events", deal.dump(),
                         {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            202);

  // The call, as Twilio gets it.
  const auto calls = twilio.wait_for(1);
  ASSERT_EQ(calls.size(), 1u) << host.log();
  EXPECT_EQ(calls[0].uri, std::string("/2010-04-01/Accounts/") + kSid + "/Calls.json");
  std::map<std::string, std::string> form;
  for (const auto& [k, v] : switchboard_plugins::form_decode(calls[0].body)) form[k] = v;
  EXPECT_EQ(form["To"], "+79990001122");
  EXPECT_NE(form["Twiml"].find("<prosody rate=\"90%\">Анна, ваш заказ D-42 передан в доставку</prosody>"),
            std::string::npos)
      << form["Twiml"];
  EXPECT_EQ(form["StatusCallback"], std::string(kPublicCallback) + "#rc=3&rp=ct,5xx");

  // Twilio reports that nobody answered; a forged report is refused first.
  const std::vector<std::pair<std::string, std::string>> report = {
      {"AccountSid", kSid},   {"CallSid", kCallSid},    {"CallStatus", "no-answer"},
      {"To", "+79990001122"}, {"From", "+15017122661"}, {"Direction", "outbound-api"},
      {"CallDuration", "0"},  {"SequenceNumber", "1"},  {"CallbackSource", "call-progress-events"}};
  const std::string body = switchboard_plugins::form_urlencode(report);
  const std::map<std::string, std::string> form_type = {{"Content-Type", "application/x-www-form-urlencoded"}};
  auto with_signature = [&](const std::string& signature) {
    auto headers = form_type;
    headers["X-Twilio-Signature"] = signature;
    return headers;
  };
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/calls", body, with_signature("bm9wZQ==")).status, 401);
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/calls", body,
                         with_signature(switchboard_plugins::twilio_signature(kAuthToken, kPublicCallback, report)))
                .status,
            200);

  // The else steps: the SMS, at once rather than after the ten minutes.
  const auto sms = wait_for_outbox(host, 1);
  ASSERT_EQ(sms.size(), 1u) << host.log();
  EXPECT_EQ(sms[0]["channel"], "sms");
  EXPECT_EQ(sms[0]["to"], "+79990001122");
  EXPECT_EQ(sms[0]["text"], "Не дозвонились: заказ D-42 передан в доставку");

  // The history shows each step.
  json listed;
  for (int i = 0; i < 100; ++i) {
    listed = admin_get(host, "/api/v1/executions?state=done").json();
    if (listed["executions"].size() == 1) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(listed["executions"].size(), 1u) << listed.dump();
  const json execution = admin_get(host, "/api/v1/executions/" + listed["executions"][0]["id"].dump()).json();
  std::vector<std::string> outcomes;
  for (const auto& entry : execution["history"]) outcomes.push_back(entry.value("outcome", ""));
  EXPECT_EQ(outcomes, (std::vector<std::string>{"done", "waiting for event", "event arrived", "done"}))
      << execution["history"].dump(2);
  EXPECT_EQ(execution["history"][0]["external_id"], kCallSid);
  EXPECT_EQ(execution["history"][2]["branch"], "else");
  EXPECT_EQ(execution["history"][2]["event"]["data"]["call_id"], kCallSid);
  EXPECT_EQ(twilio.count(), 1u);
  EXPECT_EQ(host.log().find(kAuthToken), std::string::npos);
}

}  // namespace
}  // namespace sb::test
