// The telephony plugin through the C ABI, against emulators of each
// provider's wire format: Twilio's Calls resource (Basic auth, the form
// fields and TwiML it checks, its error shapes) and Voximplant's
// StartScenarios (a service account's RS256 JWT, rule_id, the scenario's
// custom data); status reports with their signatures; the dry run's WAV.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <switchboard/testing/fake_host.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "../rsa_test_key.h"
#include "base64.h"
#include "form.h"
#include "twilio_signature.h"

namespace {

using nlohmann::json;

constexpr char kSid[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kCallback[] = "https://crm.example.com/webhooks/calls";

std::multimap<std::string, std::string> form_of(const std::string& body) {
  std::multimap<std::string, std::string> form;
  for (const auto& [k, v] : switchboard_plugins::form_decode(body)) form.emplace(k, v);
  return form;
}

std::string only(const std::multimap<std::string, std::string>& form, const std::string& key) {
  return form.count(key) == 1 ? form.find(key)->second : "";
}

// Twilio's Calls resource, as far as a call with inline TwiML goes.
fake::Response twilio(const fake::Sent& r) {
  auto error = [](int status, int code, const std::string& message) {
    return fake::Response{status, "application/json",
                          json{{"code", code},
                               {"message", message},
                               {"more_info", "https://www.twilio.com/docs/errors/" + std::to_string(code)},
                               {"status", status}}
                              .dump()};
  };
  if (r.method != "POST" || r.url != std::string("https://api.twilio.test/2010-04-01/Accounts/") + kSid + "/Calls.json")
    return error(404, 20404, "The requested resource was not found");
  // base64("AC0123456789abcdef0123456789abcdef:tok")
  if (r.header("Authorization") != "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2s=")
    return error(401, 20003, "Authenticate");
  if (r.header("Content-Type") != "application/x-www-form-urlencoded") return error(400, 20001, "Bad request");
  const auto form = form_of(r.body);
  if (only(form, "To").empty()) return error(400, 21201, "No 'To' number is specified");
  if (only(form, "From").empty()) return error(400, 21213, "No 'From' number is specified");
  if (only(form, "Twiml").empty() && only(form, "Url").empty()) return error(400, 21205, "Url parameter is required");
  const std::string twiml = only(form, "Twiml");
  if (std::count_if(twiml.begin(), twiml.end(), [](char c) { return (c & 0xC0) != 0x80; }) > 4000)
    return error(400, 32018, "Twiml size exceeded maximum allowed value of 4000 characters");
  if (only(form, "To") == "+79990000000") return error(400, 21217, "Phone number does not appear to be valid");
  if (only(form, "To").rfind("+86", 0) == 0)
    return error(400, 21215,
                 "Account not authorized to call +8613800000000. Perhaps you need to enable some "
                 "international permissions: https://www.twilio.com/console/voice/calls/geo-permissions");
  if (form.count("MachineDetection") && only(form, "MachineDetection") != "Enable" &&
      only(form, "MachineDetection") != "DetectMessageEnd")
    return error(400, 21626, "Invalid MachineDetection value");
  return {201, "application/json",
          json{{"sid", "CA0123456789abcdef0123456789abcdef"}, {"status", "queued"}, {"to", only(form, "To")}}.dump()};
}

class TelephonyPluginTest : public ::testing::Test {
 protected:
  fake::Library library{PLUGIN_PATH};
  fake::Host host{"phone"};

  std::unique_ptr<fake::Instance> create(const json& config) {
    auto instance = std::make_unique<fake::Instance>(library, host, config.dump());
    EXPECT_EQ(instance->status(), SB_OK) << instance->error();
    return instance;
  }
  // Invokes `action` and answers its request with `emulate`.
  fake::Result call(fake::Instance& instance, const std::string& action, const json& params,
                    fake::Response (*emulate)(const fake::Sent&), const std::string& key = "e1:reminder:Call") {
    const size_t results = host.results.size(), sent = host.sent.size();
    EXPECT_EQ(instance.invoke(action, params.dump(), key), SB_OK);
    if (host.sent.size() > sent) {
      const fake::Response answer = emulate(host.sent.back());
      host.finish_http(host.sent.size() - 1, answer.status, {{"Content-Type", answer.content_type}}, answer.body);
    }
    EXPECT_EQ(host.results.size(), results + 1);
    return host.results.back();
  }
};

json twilio_config() {
  return {{"provider", "twilio"},     {"account_sid", kSid},          {"auth_token", "tok"},
          {"from", "+15017122661"},   {"voice", "Polly.Tatyana"},     {"base_url", "https://api.twilio.test"},
          {"callback_path", "calls"}, {"status_callback", kCallback}, {"default_country", "RU"}};
}

TEST_F(TelephonyPluginTest, TwilioSaysTheTextWithTheVoiceSpeedAndVolume) {
  auto instance = create(twilio_config());
  auto result = call(*instance, "say",
                     {{"to", "8 (999) 000-11-22"},
                      {"text", "Анна, ваш заказ №42 доставят 5 декабря <утром> & днём"},
                      {"speed", 90},
                      {"volume", 6},
                      {"repeat", 2}},
                     twilio);
  ASSERT_EQ(result.outcome, SB_OUTCOME_DONE) << result.reason;
  EXPECT_EQ(result.external_id, "CA0123456789abcdef0123456789abcdef");
  EXPECT_EQ(json::parse(result.output_json)["call_id"], "CA0123456789abcdef0123456789abcdef");
  const auto form = form_of(host.sent.at(0).body);
  EXPECT_EQ(only(form, "To"), "+79990001122");
  EXPECT_EQ(only(form, "From"), "+15017122661");
  EXPECT_EQ(only(form, "Twiml"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say loop=\"2\" voice=\"Polly.Tatyana\" "
            "language=\"ru-RU\"><prosody rate=\"90%\" volume=\"+6dB\">Анна, ваш заказ №42 доставят 5 декабря "
            "&lt;утром&gt; &amp; днём</prosody></Say></Response>");
  // With connection overrides: Twilio sends a report again after a 5xx.
  EXPECT_EQ(only(form, "StatusCallback"), std::string(kCallback) + "#rc=3&rp=ct,5xx");
  EXPECT_EQ(only(form, "StatusCallbackMethod"), "POST");
  // Each event its own field, as Twilio reads them.
  auto events = form.equal_range("StatusCallbackEvent");
  std::vector<std::string> listed;
  for (auto it = events.first; it != events.second; ++it) listed.push_back(it->second);
  EXPECT_EQ(listed, (std::vector<std::string>{"answered", "completed"}));
  EXPECT_EQ(only(form, "Timeout"), "30");
}

// Bitrix24's call rule picks the volume and the speed from a list: the
// levels SSML names are taken too.
TEST_F(TelephonyPluginTest, SpeedAndVolumeMayBeNamedLevels) {
  auto instance = create(twilio_config());
  ASSERT_EQ(
      call(*instance, "say", {{"to", "+79990001122"}, {"text", "Да"}, {"speed", "slow"}, {"volume", "x-loud"}}, twilio)
          .outcome,
      SB_OUTCOME_DONE);
  EXPECT_NE(only(form_of(host.sent.back().body), "Twiml").find("<prosody rate=\"75%\" volume=\"+6dB\">"),
            std::string::npos);
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Да"}, {"speed", "medium"}, {"volume", "medium"}},
                 twilio)
                .outcome,
            SB_OUTCOME_DONE);
  EXPECT_EQ(only(form_of(host.sent.back().body), "Twiml").find("prosody"), std::string::npos);
  const size_t sent = host.sent.size();
  EXPECT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Да"}, {"speed", "warp"}}, twilio).outcome,
            SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(host.sent.size(), sent);
}

TEST_F(TelephonyPluginTest, TwilioBasicVoicesGetNoSsmlAndPlayLoops) {
  auto config = twilio_config();
  config["voice"] = "woman";
  config["language"] = "en-US";
  auto instance = create(config);
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Hi"}, {"speed", 150}}, twilio).outcome,
            SB_OUTCOME_DONE);
  EXPECT_EQ(only(form_of(host.sent.at(0).body), "Twiml"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\"woman\" "
            "language=\"en-US\">Hi</Say></Response>");
  ASSERT_EQ(call(*instance, "play",
                 {{"to", "+79990001122"}, {"url", "https://cdn.example.com/a.mp3?x=1&y=2"}, {"repeat", 3}}, twilio)
                .outcome,
            SB_OUTCOME_DONE);
  EXPECT_EQ(only(form_of(host.sent.at(1).body), "Twiml"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Play loop=\"3\">"
            "https://cdn.example.com/a.mp3?x=1&amp;y=2</Play></Response>");
}

// Twilio's default voice speaks no Russian: a Russian call without a voice
// gets one that does; an English one keeps Twilio's default.
TEST_F(TelephonyPluginTest, TwilioGivesARussianTextAVoiceThatSpeaksIt) {
  auto config = twilio_config();
  config.erase("voice");
  auto instance = create(config);
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Да"}, {"speed", 90}}, twilio).outcome,
            SB_OUTCOME_DONE);
  EXPECT_EQ(only(form_of(host.sent.at(0).body), "Twiml"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\"Polly.Tatyana\" "
            "language=\"ru-RU\"><prosody rate=\"90%\">Да</prosody></Say></Response>");
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Hi"}, {"language", "en-US"}}, twilio).outcome,
            SB_OUTCOME_DONE);
  EXPECT_EQ(only(form_of(host.sent.at(1).body), "Twiml"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"en-US\">Hi</Say></Response>");
}

// Twilio's basic voices speak English, Spanish, French and German (alice
// more): asked for in Russian, man and woman are Polly's Russian voices of
// their kind; in a language no voice of theirs speaks, the call is refused
// before Twilio would connect it and say nothing.
TEST_F(TelephonyPluginTest, TwilioSpeaksOnlyWithAVoiceThatKnowsTheLanguage) {
  auto config = twilio_config();
  config.erase("voice");
  auto instance = create(config);
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Да"}, {"voice", "man"}}, twilio).outcome,
            SB_OUTCOME_DONE);
  EXPECT_EQ(only(form_of(host.sent.at(0).body), "Twiml"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\"Polly.Maxim\" "
            "language=\"ru-RU\">Да</Say></Response>");
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Да"}, {"voice", "woman"}}, twilio).outcome,
            SB_OUTCOME_DONE);
  EXPECT_NE(only(form_of(host.sent.at(1).body), "Twiml").find("voice=\"Polly.Tatyana\""), std::string::npos);
  for (const json& unspoken : {json{{"voice", "woman"}, {"language", "uk-UA"}}, json{{"language", "uk-UA"}},
                               json{{"voice", "alice"}, {"language", "uk-UA"}}}) {
    json params = unspoken;
    params["to"] = "+79990001122";
    params["text"] = "Так";
    const auto refused = call(*instance, "say", params, twilio);
    EXPECT_EQ(refused.outcome, SB_OUTCOME_PERMANENT) << unspoken.dump();
    EXPECT_NE(refused.reason.find("'uk-UA'"), std::string::npos) << refused.reason;
  }
  EXPECT_EQ(host.sent.size(), 2u);
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Так"}, {"voice", "alice"}, {"language", "pl-PL"}},
                 twilio)
                .outcome,
            SB_OUTCOME_DONE);
  // An instance whose own voice cannot speak its language does not start.
  config["voice"] = "woman";
  config["language"] = "uk-UA";
  fake::Instance wrong(library, host, config.dump());
  EXPECT_NE(wrong.status(), SB_OK);
  EXPECT_NE(wrong.error().find("'uk-UA'"), std::string::npos) << wrong.error();
}

// The instance's own number is sent as E.164, as a step's is.
TEST_F(TelephonyPluginTest, TheInstancesNumberIsSentInE164) {
  auto config = twilio_config();
  config["from"] = "8 (495) 000-11-22";
  auto instance = create(config);
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "x"}}, twilio).outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(only(form_of(host.sent.at(0).body), "From"), "+74950001122");
}

// At most 4000 characters of TwiML (Twilio's error 32018): counted in
// characters, so a Cyrillic text of 3000 fits, and one that does not is
// refused before any request.
TEST_F(TelephonyPluginTest, TwilioTakesTwimlUpToFourThousandCharacters) {
  auto instance = create(twilio_config());
  std::string cyrillic;
  for (int i = 0; i < 3000; ++i) cyrillic += "я";
  EXPECT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", cyrillic}}, twilio).outcome, SB_OUTCOME_DONE);
  auto too_long = call(*instance, "say", {{"to", "+79990001122"}, {"text", std::string(1000, '&')}}, twilio);
  EXPECT_EQ(too_long.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_NE(too_long.reason.find("over the 4000 Twilio takes"), std::string::npos) << too_long.reason;
  EXPECT_EQ(host.sent.size(), 1u);
  // A rehearsal fails as the call would.
  auto config = twilio_config();
  config["dry_run"] = true;
  auto rehearsal = create(config);
  auto refused = call(*rehearsal, "say", {{"to", "+79990001122"}, {"text", std::string(1000, '&')}}, twilio);
  EXPECT_EQ(refused.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_TRUE(host.outbox.empty());
}

TEST_F(TelephonyPluginTest, AStepMayCallFromAnotherOfTheAccountsNumbers) {
  auto instance = create(twilio_config());
  ASSERT_EQ(
      call(*instance, "say", {{"to", "+79990001122"}, {"from", "8 (495) 000-11-22"}, {"text", "x"}}, twilio).outcome,
      SB_OUTCOME_DONE);
  EXPECT_EQ(only(form_of(host.sent.at(0).body), "From"), "+74950001122");
  EXPECT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"from", "12"}, {"text", "x"}}, twilio).outcome,
            SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(host.sent.size(), 1u);
}

TEST_F(TelephonyPluginTest, TwilioErrorsMapToUnreachableRetryOrPermanent) {
  auto instance = create(twilio_config());
  auto invalid = call(*instance, "say", {{"to", "+79990000000"}, {"text", "x"}}, twilio);
  EXPECT_EQ(invalid.outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(invalid.provider_code, "21217");
  // The account may not call that country: the admin's to mend (Geo
  // Permissions), a dead letter, not a contact quietly skipped.
  auto not_permitted = call(*instance, "say", {{"to", "+8613800000000"}, {"text", "x"}}, twilio);
  EXPECT_EQ(not_permitted.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(not_permitted.provider_code, "21215");
  auto config = twilio_config();
  config["auth_token"] = "wrong";
  auto bad_auth = create(config);
  auto refused = call(*bad_auth, "say", {{"to", "+79990001122"}, {"text", "x"}}, twilio);
  EXPECT_EQ(refused.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(refused.provider_code, "20003");
  EXPECT_EQ(refused.reason, "Authenticate");
  auto busy = call(*instance, "say", {{"to", "+79990001122"}, {"text", "x"}}, [](const fake::Sent&) {
    return fake::Response{429, "application/json", R"({"code":20429,"message":"Too Many Requests","status":429})"};
  });
  EXPECT_EQ(busy.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "x"}},
                 [](const fake::Sent&) {
                   return fake::Response{503, "text/plain", ""};
                 })
                .outcome,
            SB_OUTCOME_RETRY);
}

TEST_F(TelephonyPluginTest, AnInvalidNumberIsUnreachableWithoutARequest) {
  auto instance = create(twilio_config());
  auto result = call(*instance, "say", {{"to", "12345"}, {"text", "x"}}, twilio);
  EXPECT_TRUE(host.sent.empty());
  EXPECT_EQ(result.outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(result.provider_code, "invalid_number");
}

fake::Headers signed_headers(const std::vector<std::pair<std::string, std::string>>& fields,
                             const std::string& token = "tok") {
  return {{"Content-Type", "application/x-www-form-urlencoded"},
          {"X-Twilio-Signature", switchboard_plugins::twilio_signature(token, kCallback, fields)}};
}

const std::vector<std::pair<std::string, std::string>> kNoAnswer = {{"AccountSid", kSid},
                                                                    {"CallSid", "CA0123456789abcdef0123456789abcdef"},
                                                                    {"CallStatus", "no-answer"},
                                                                    {"To", "+79990001122"},
                                                                    {"From", "+15017122661"},
                                                                    {"Direction", "outbound-api"},
                                                                    {"CallbackSource", "call-progress-events"},
                                                                    {"SequenceNumber", "2"},
                                                                    {"Duration", "0"},
                                                                    {"CallDuration", "0"}};

TEST_F(TelephonyPluginTest, ASignedTwilioReportBecomesACallEvent) {
  auto instance = create(twilio_config());
  EXPECT_EQ(host.declared, (std::vector<std::string>{"call.*"}));
  const uint64_t id = host.request("POST", signed_headers(kNoAnswer), switchboard_plugins::form_urlencode(kNoAnswer));
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].type, "call.no_answer");
  EXPECT_EQ(host.emitted[0].id, "CA0123456789abcdef0123456789abcdef:no_answer");
  const json payload = json::parse(host.emitted[0].payload);
  EXPECT_EQ(payload["data"]["call_id"], "CA0123456789abcdef0123456789abcdef");
  EXPECT_EQ(payload["data"]["provider_status"], "no-answer");
  EXPECT_EQ(payload["data"]["duration"], 0);
  EXPECT_EQ(payload["contact"]["phones"][0]["number"], "+79990001122");
  EXPECT_FALSE(host.responses.count(id));  // answered once the event is committed
  host.finish_emit(0, SB_OK, "CA0123456789abcdef0123456789abcdef:no_answer");
  EXPECT_EQ(host.responses.at(id).status, 200);
}

TEST_F(TelephonyPluginTest, ACompletedCallWasAnsweredAndReportsItsDuration) {
  auto instance = create(twilio_config());
  auto fields = kNoAnswer;
  for (auto& [k, v] : fields) {
    if (k == "CallStatus") v = "completed";
    if (k == "CallDuration") v = "17";
  }
  host.request("POST", signed_headers(fields), switchboard_plugins::form_urlencode(fields));
  ASSERT_EQ(host.emitted.size(), 2u);
  EXPECT_EQ(host.emitted[0].type, "call.answered");
  EXPECT_EQ(host.emitted[0].id, "CA0123456789abcdef0123456789abcdef:answered");
  EXPECT_EQ(host.emitted[1].type, "call.completed");
  EXPECT_EQ(json::parse(host.emitted[1].payload)["data"]["duration"], 17);
}

// Twilio's machine detection: the call asks for it, and the end's report
// says who picked up (AnsweredBy). A voicemail or a fax is nobody answering,
// so "not answered -> SMS" holds; a person is an answer as before.
TEST_F(TelephonyPluginTest, AVoicemailThatPicksUpIsNoAnswer) {
  auto config = twilio_config();
  config["machine_detection"] = "DetectMessageEnd";
  auto instance = create(config);
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Здравствуйте"}}, twilio).outcome,
            SB_OUTCOME_DONE);
  const auto form = form_of(host.sent.back().body);
  EXPECT_EQ(only(form, "MachineDetection"), "DetectMessageEnd");
  // Only the end is reported: an "answered" report may not know who answered.
  EXPECT_EQ(only(form, "StatusCallbackEvent"), "completed");

  auto fields = kNoAnswer;
  for (auto& [k, v] : fields) {
    if (k == "CallStatus") v = "in-progress";
    if (k == "CallDuration") v = "";
  }
  host.request("POST", signed_headers(fields), switchboard_plugins::form_urlencode(fields));
  EXPECT_TRUE(host.emitted.empty());  // answered, by whom not known yet
  for (auto& [k, v] : fields) {
    if (k == "CallStatus") v = "completed";
    if (k == "CallDuration") v = "21";
  }
  auto machine = fields;
  machine.emplace_back("AnsweredBy", "machine_end_beep");
  host.request("POST", signed_headers(machine), switchboard_plugins::form_urlencode(machine));
  ASSERT_EQ(host.emitted.size(), 2u);
  EXPECT_EQ(host.emitted[0].type, "call.no_answer");
  EXPECT_EQ(json::parse(host.emitted[0].payload)["data"]["answered_by"], "machine_end_beep");
  EXPECT_EQ(host.emitted[1].type, "call.completed");
  EXPECT_EQ(json::parse(host.emitted[1].payload)["data"]["duration"], 21);

  auto fax = fields;
  fax.emplace_back("AnsweredBy", "fax");
  for (auto& [k, v] : fax)
    if (k == "CallSid") v = "CA1111111111abcdef0123456789abcdef";
  host.request("POST", signed_headers(fax), switchboard_plugins::form_urlencode(fax));
  ASSERT_EQ(host.emitted.size(), 4u);
  EXPECT_EQ(host.emitted[2].type, "call.no_answer");

  auto human = fields;
  human.emplace_back("AnsweredBy", "human");
  for (auto& [k, v] : human)
    if (k == "CallSid") v = "CA2222222222abcdef0123456789abcdef";
  host.request("POST", signed_headers(human), switchboard_plugins::form_urlencode(human));
  ASSERT_EQ(host.emitted.size(), 6u);
  EXPECT_EQ(host.emitted[4].type, "call.answered");
  EXPECT_EQ(json::parse(host.emitted[4].payload)["data"]["answered_by"], "human");

  // Enable: as soon as it is known. A report that says who answered while
  // the call goes on is taken at once; "unknown" (detection could not tell)
  // is taken as a person.
  auto enable_config = twilio_config();
  enable_config["machine_detection"] = "Enable";
  auto enabled = create(enable_config);
  call(*enabled, "say", {{"to", "+79990001122"}, {"text", "Здравствуйте"}}, twilio);
  EXPECT_EQ(only(form_of(host.sent.back().body), "MachineDetection"), "Enable");
  auto in_progress = kNoAnswer;
  for (auto& [k, v] : in_progress) {
    if (k == "CallStatus") v = "in-progress";
    if (k == "CallSid") v = "CA3333333333abcdef0123456789abcdef";
  }
  in_progress.emplace_back("AnsweredBy", "unknown");
  host.request("POST", signed_headers(in_progress), switchboard_plugins::form_urlencode(in_progress));
  ASSERT_EQ(host.emitted.size(), 7u);
  EXPECT_EQ(host.emitted[6].type, "call.answered");
  EXPECT_EQ(json::parse(host.emitted[6].payload)["data"]["answered_by"], "unknown");

  // Without machine detection the "answered" report is asked for, as before.
  auto plain = create(twilio_config());
  call(*plain, "say", {{"to", "+79990001122"}, {"text", "Здравствуйте"}}, twilio);
  EXPECT_EQ(form_of(host.sent.back().body).count("StatusCallbackEvent"), 2u);
  EXPECT_EQ(form_of(host.sent.back().body).count("MachineDetection"), 0u);
  // Voximplant's scenario would have to detect it: the setting is refused there.
  fake::Instance voximplant(
      library, host,
      json{{"provider", "voximplant"}, {"from", "+74950001122"}, {"machine_detection", "Enable"}}.dump());
  EXPECT_NE(voximplant.status(), SB_OK);
  EXPECT_NE(voximplant.error().find("machine_detection"), std::string::npos);
}

// Twilio joins the client to a manager: it calls the client, then dials the
// manager's number. Voximplant's scenario only says or plays.
TEST_F(TelephonyPluginTest, TwilioConnectsTheClientToAManager) {
  auto instance = create(twilio_config());
  ASSERT_EQ(call(*instance, "connect", {{"to", "+79990001122"}, {"connect", "+74950001122"}}, twilio).outcome,
            SB_OUTCOME_DONE);
  const auto form = form_of(host.sent.back().body);
  EXPECT_EQ(only(form, "To"), "+79990001122");
  EXPECT_EQ(only(form, "Twiml"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>+74950001122</Dial></Response>");
  // Twilio calls the client first: the other way is Zadarma's.
  EXPECT_EQ(
      call(*instance, "connect", {{"to", "+79990001122"}, {"connect", "+74950001122"}, {"first", "manager"}}, twilio)
          .outcome,
      SB_OUTCOME_PERMANENT);
}

// Zadarma's callback, as its official client (zadarma/user-api-v1) signs
// it: GET /v1/request/callback/ with Authorization "<key>:<base64 of the hex
// HMAC-SHA1 of method + sorted query + md5(query)>".
fake::Response zadarma(const fake::Sent& r) {
  const std::string expected_url =
      "https://api.zadarma.test/v1/request/callback/?format=json&from=101&predicted=1&to=79990001122";
  if (r.method != "GET" || r.url != expected_url)
    return {404, "application/json", R"({"status":"error","message":"Method not found"})"};
  // The signature of exactly this query with the secret "zadarma-secret", computed apart (Python's hmac).
  if (r.header("Authorization") != "zd-key:YjE2NmI2NzgzZGE5NWIwMzEyYWFkYjIyNDE4NjU2YzQ3ZTY0MDk5Yw==")
    return {401, "application/json", R"({"status":"error","message":"Not authorized"})"};
  return {200, "application/json", R"({"status":"success","from":101,"to":79990001122,"time":1765044000})"};
}

json zadarma_config() {
  return {{"provider", "zadarma"},  {"api_key", "zd-key"},        {"api_secret", "zadarma-secret"},
          {"from", "+74950001122"}, {"callback_path", "zadarma"}, {"base_url", "https://api.zadarma.test"}};
}

TEST_F(TelephonyPluginTest, ZadarmaConnectsTheClientAsItsOfficialClientSignsTheCallback) {
  auto instance = create(zadarma_config());
  const fake::Result r = call(*instance, "connect", {{"to", "+7 999 000-11-22"}, {"connect", "101"}}, zadarma);
  ASSERT_EQ(r.outcome, SB_OUTCOME_DONE) << r.reason;
  EXPECT_EQ(json::parse(r.output_json)["connect"], "101");
  // The manager first: no "predicted"; the signature follows the query.
  call(*instance, "connect", {{"to", "+79990001122"}, {"connect", "101"}, {"first", "manager"}}, zadarma);
  EXPECT_EQ(host.sent.back().url, "https://api.zadarma.test/v1/request/callback/?format=json&from=101&to=79990001122");
  // Its API speaks no text: refused unsent.
  const size_t sent = host.sent.size();
  const fake::Result say = call(*instance, "say", {{"to", "+79990001122"}, {"text", "Здравствуйте"}}, zadarma);
  EXPECT_EQ(say.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_NE(say.reason.find("connect"), std::string::npos);
  EXPECT_EQ(host.sent.size(), sent);
  // Refused credentials: Zadarma's words, for good.
  auto wrong = zadarma_config();
  wrong["api_secret"] = "other";
  auto refused = create(wrong);
  const fake::Result denied = call(*refused, "connect", {{"to", "+79990001122"}, {"connect", "101"}}, zadarma);
  EXPECT_EQ(denied.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(denied.reason, "Not authorized");
}

// Its PBX notifications: the URL check (zd_echo), then NOTIFY_OUT_END signed
// over the extension, the number and the start, as its client verifies them.
TEST_F(TelephonyPluginTest, ZadarmasSignedNotificationsBecomeCallEvents) {
  auto instance = create(zadarma_config());
  // The call this instance placed (its PBX notifies of every outgoing call).
  ASSERT_EQ(call(*instance, "connect", {{"to", "+79990001122"}, {"connect", "101"}}, zadarma).outcome, SB_OUTCOME_DONE);
  const uint64_t echo = host.request("GET", {}, "", "zd_echo=abc123");
  EXPECT_EQ(host.responses.at(echo).status, 200);
  EXPECT_EQ(host.responses.at(echo).body, "abc123");
  const std::vector<std::pair<std::string, std::string>> end = {{"event", "NOTIFY_OUT_END"},
                                                                {"call_start", "2026-12-06 18:00:00"},
                                                                {"pbx_call_id", "out_82a1c5"},
                                                                {"caller_id", "74950001122"},
                                                                {"destination", "79990001122"},
                                                                {"internal", "101"},
                                                                {"duration", "0"},
                                                                {"disposition", "no answer"},
                                                                {"status_code", "19"},
                                                                {"is_recorded", "0"}};
  // base64 of the hex HMAC-SHA1 of "101" + "79990001122" + "2026-12-06 18:00:00", computed apart.
  const fake::Headers signed_headers{{"Content-Type", "application/x-www-form-urlencoded"},
                                     {"Signature", "M2UwNjE0YzcxOWFiOTZmYWZjMWEwNTBkZDI1NjBkYmE0YTk4OGIzOQ=="}};
  host.request("POST", signed_headers, switchboard_plugins::form_urlencode(end));
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].type, "call.no_answer");
  EXPECT_EQ(host.emitted[0].id, "out_82a1c5:no_answer");
  const json payload = json::parse(host.emitted[0].payload);
  EXPECT_EQ(payload["data"]["to"], "+79990001122");
  EXPECT_EQ(payload["data"]["provider_status"], "no answer");
  EXPECT_EQ(payload["contact"]["phones"][0]["number"], "+79990001122");

  auto answered = end;
  for (auto& [k, v] : answered) {
    if (k == "disposition") v = "answered";
    if (k == "duration") v = "42";
    if (k == "pbx_call_id") v = "out_82a1c6";
  }
  host.request("POST", signed_headers, switchboard_plugins::form_urlencode(answered));
  ASSERT_EQ(host.emitted.size(), 3u);
  EXPECT_EQ(host.emitted[1].type, "call.answered");
  EXPECT_EQ(host.emitted[2].type, "call.completed");
  EXPECT_EQ(json::parse(host.emitted[2].payload)["data"]["duration"], 42);

  // A call this instance never placed (a manager's own, to another number)
  // is none of ours; nor, an hour after ours, a call to the same number.
  auto theirs = end;
  for (auto& [k, v] : theirs) {
    if (k == "destination") v = "79990005566";
    if (k == "pbx_call_id") v = "out_82a1c7";
  }
  // Signed over "101" + "79990005566" + its start, computed apart.
  const fake::Headers theirs_signed{{"Signature", "N2UyNjg4OGEyYjQzMjY0N2M5NjRjYzhlYTZlYThjYWQ3ZjY1NGMyMg=="}};
  const uint64_t other = host.request("POST", theirs_signed, switchboard_plugins::form_urlencode(theirs));
  EXPECT_EQ(host.responses.at(other).status, 200);
  EXPECT_EQ(host.emitted.size(), 3u);
  host.now_ms += 3'601'000;
  auto later = end;
  for (auto& [k, v] : later)
    if (k == "pbx_call_id") v = "out_82a1c8";
  const uint64_t stale = host.request("POST", signed_headers, switchboard_plugins::form_urlencode(later));
  EXPECT_EQ(host.responses.at(stale).status, 200);
  EXPECT_EQ(host.emitted.size(), 3u);

  // Another secret's signature, or none: refused, nothing emitted.
  const uint64_t forged = host.request("POST", {{"Signature", "bm90IGl0"}}, switchboard_plugins::form_urlencode(end));
  EXPECT_EQ(host.responses.at(forged).status, 401);
  const uint64_t bare = host.request("POST", {}, switchboard_plugins::form_urlencode(end));
  EXPECT_EQ(host.responses.at(bare).status, 401);
  // Incoming calls' notifications are not this plugin's: taken, nothing emitted.
  const uint64_t incoming = host.request("POST", {}, "event=NOTIFY_START&caller_id=1&called_did=2&call_start=x");
  EXPECT_EQ(host.responses.at(incoming).status, 200);
  EXPECT_EQ(host.emitted.size(), 3u);
}

TEST_F(TelephonyPluginTest, TamperedOrUnsignedTwilioReportsAreRefused) {
  auto instance = create(twilio_config());
  auto tampered = kNoAnswer;
  tampered[2].second = "completed";  // signed as no-answer, sent as completed
  const uint64_t forged =
      host.request("POST", signed_headers(kNoAnswer), switchboard_plugins::form_urlencode(tampered));
  EXPECT_EQ(host.responses.at(forged).status, 401);
  const uint64_t wrong_key =
      host.request("POST", signed_headers(kNoAnswer, "other"), switchboard_plugins::form_urlencode(kNoAnswer));
  EXPECT_EQ(host.responses.at(wrong_key).status, 401);
  const uint64_t unsigned_report = host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}},
                                                switchboard_plugins::form_urlencode(kNoAnswer));
  EXPECT_EQ(host.responses.at(unsigned_report).status, 401);
  EXPECT_EQ(json::parse(host.responses.at(unsigned_report).body)["error"],
            json({{"code", "invalid_signature"}, {"message", "missing X-Twilio-Signature"}}));
  EXPECT_TRUE(host.emitted.empty());
}

TEST_F(TelephonyPluginTest, ACallbackPathNeedsThePublicUrlThatIsSigned) {
  auto config = twilio_config();
  config.erase("status_callback");
  fake::Instance instance(library, host, config.dump());
  EXPECT_NE(instance.status(), SB_OK);
  EXPECT_NE(instance.error().find("status_callback"), std::string::npos) << instance.error();
}

// Voximplant's Management API, StartScenarios, as the official client
// (voximplant/apiclient-python) calls it: a form posted to /platform_api
// naming the command in `cmd`, with a JWT that lives 24 seconds.
fake::Response voximplant(const fake::Sent& r) {
  auto error = [](int code, const std::string& msg) {
    return fake::Response{200, "application/json", json{{"error", {{"code", code}, {"msg", msg}}}}.dump()};
  };
  if (r.method != "POST" || r.url != "https://api.voximplant.test/platform_api")
    return {404, "text/plain", "Not found"};
  const std::string auth = r.header("Authorization").value_or("");
  if (auth.rfind("Bearer ", 0) != 0 || !fake::rs256_valid(auth.substr(7))) return error(100, "Authorization failed");
  const std::string jwt = auth.substr(7);
  const json header = json::parse(fake::base64url_decode(jwt.substr(0, jwt.find('.'))), nullptr, false);
  const json claims = json::parse(
      fake::base64url_decode(jwt.substr(jwt.find('.') + 1, jwt.rfind('.') - jwt.find('.') - 1)), nullptr, false);
  if (header.value("alg", "") != "RS256" || header.value("kid", "") != "key-1" || claims.value("iss", 0) != 4242 ||
      claims.value("exp", 0) - claims.value("iat", 0) != 24 + 5)
    return error(100, "Authorization failed");
  const auto form = form_of(r.body);
  if (only(form, "cmd") != "StartScenarios") return error(3, "Unknown command");
  if (only(form, "rule_id") != "77") return error(111, "Invalid rule_id");
  const json data = json::parse(only(form, "script_custom_data"), nullptr, false);
  if (!data.is_object()) return error(112, "script_custom_data is required");
  return {200, "application/json",
          R"({"result":1,"media_session_access_url":"https://mw.test/request/1","call_session_history_id":555})"};
}

json voximplant_config() {
  return {{"provider", "voximplant"},
          {"account_id", "4242"},
          {"key_id", "key-1"},
          {"private_key", fake::test_key().private_pem},
          {"rule_id", 77},
          {"callback_secret", "0123456789abcdef-secret"},
          {"from", "+74950001122"},
          {"voice", "YandexV3.ru_RU_alena"},
          {"base_url", "https://api.voximplant.test"},
          {"callback_path", "vox"},
          {"status_callback", "https://crm.example.com/webhooks/vox"}};
}

TEST_F(TelephonyPluginTest, VoximplantRefusesToConnect) {
  auto instance = create(voximplant_config());
  ASSERT_EQ(instance->invoke("connect", R"({"to": "+79990001122", "connect": "+74950001122"})"), SB_OK);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_PERMANENT);
  EXPECT_TRUE(host.sent.empty());
}

// base64url(HMAC-SHA256(secret, text)): how a Voximplant call's tokens are made.
std::string token_for(const std::string& secret, const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest, &length);
  return switchboard_plugins::base64url(std::string_view(reinterpret_cast<const char*>(digest), length));
}

// The scenario's custom data holds at most 200 bytes (VoxEngine.customData):
// it says where the scenario fetches its call, with a key and a token.
json custom_data_of(const fake::Sent& start) {
  const std::string custom = only(form_of(start.body), "script_custom_data");
  EXPECT_LE(custom.size(), 200u) << custom;
  return json::parse(custom);
}

// What the scenario does first: POST {fetch: key, token} to the callback.
fake::Response fetch_call(fake::Host& host, const json& custom) {
  const uint64_t id = host.request("POST", {{"Content-Type", "application/json"}},
                                   json{{"fetch", custom["key"]}, {"token", custom["token"]}}.dump());
  const auto& r = host.responses.at(id);
  return {r.status, "", r.body};
}

TEST_F(TelephonyPluginTest, VoximplantStartsTheScenarioThatFetchesItsCallOnce) {
  auto instance = create(voximplant_config());
  auto result =
      call(*instance, "say", {{"to", "+79990001122"}, {"text", "Ваш заказ готов"}, {"speed", 120}}, voximplant);
  ASSERT_EQ(result.outcome, SB_OUTCOME_DONE) << result.reason;
  EXPECT_EQ(result.external_id, "e1:reminder:Call");
  EXPECT_EQ(json::parse(result.output_json)["session_id"], 555);
  const json custom = custom_data_of(host.sent.at(0));
  EXPECT_EQ(custom["fetch"], "https://crm.example.com/webhooks/vox");
  EXPECT_EQ(host.sent.at(0).body.find("0123456789abcdef-secret"), std::string::npos);  // the secret stays here

  // Another key's token, or none: refused, and the call still waits.
  json forged = custom;
  forged["token"] = token_for("0123456789abcdef-secret", "fetch:other");
  EXPECT_EQ(fetch_call(host, forged).status, 401);
  const fake::Response fetched = fetch_call(host, custom);
  ASSERT_EQ(fetched.status, 200) << fetched.body;
  const json data = json::parse(fetched.body);
  EXPECT_EQ(data["call_id"], "e1:reminder:Call");
  EXPECT_EQ(data["to"], "79990001122");
  EXPECT_EQ(data["from"], "74950001122");
  EXPECT_EQ(data["say"], "Ваш заказ готов");
  EXPECT_EQ(data["voice"], "YandexV3.ru_RU_alena");
  EXPECT_EQ(data["speed"], 120);
  EXPECT_EQ(data["callback"], "https://crm.example.com/webhooks/vox");
  EXPECT_EQ(data["token"], token_for("0123456789abcdef-secret", "e1:reminder:Call"));  // for its reports
  EXPECT_EQ(fetch_call(host, custom).status, 404);                                     // once
  EXPECT_TRUE(host.emitted.empty());
  EXPECT_TRUE(host.kv.empty());  // taken
}

// The call waits in the host's store (switchboard.kv/1), which every node
// shares: whichever node the scenario's fetch reaches answers it, while it
// is kept (a quarter of an hour).
TEST_F(TelephonyPluginTest, VoximplantKeepsTheCallInTheHostsStoreForAWhile) {
  auto instance = create(voximplant_config());
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Ваш заказ готов"}}, voximplant).outcome,
            SB_OUTCOME_DONE);
  const json custom = custom_data_of(host.sent.at(0));
  ASSERT_EQ(host.kv.size(), 1u);
  const std::string key = "call-data:" + custom["key"].get<std::string>();
  json kept = json::parse(host.kv.at(key));
  EXPECT_EQ(kept["call"]["say"], "Ваш заказ готов");
  EXPECT_GE(kept["until"].get<int64_t>(), host.now_ms / 1000 + 600);
  kept["until"] = host.now_ms / 1000 - 1;  // gone stale
  host.kv[key] = kept.dump();
  EXPECT_EQ(fetch_call(host, custom).status, 404);
  EXPECT_TRUE(host.kv.empty());  // and forgotten
  // A start Voximplant refused: its scenario never fetches; nothing stays.
  auto config = voximplant_config();
  config["rule_id"] = 78;
  auto refused = create(config);
  EXPECT_EQ(call(*refused, "say", {{"to", "+79990001122"}, {"text", "Ваш заказ готов"}}, voximplant).outcome,
            SB_OUTCOME_PERMANENT);
  EXPECT_TRUE(host.kv.empty());
}

// A start Voximplant took whose scenario never fetched its call (it failed
// on Voximplant's side): what was kept goes once its time is over, at the
// instance's next call.
TEST_F(TelephonyPluginTest, VoximplantForgetsACallNeverFetchedOnceItsTimeIsOver) {
  auto instance = create(voximplant_config());
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Ваш заказ готов"}}, voximplant).outcome,
            SB_OUTCOME_DONE);
  ASSERT_EQ(host.kv.size(), 1u);
  const std::string first = host.kv.begin()->first;
  host.now_ms += 10 * 60 * 1000;  // still kept: the next call leaves it
  ASSERT_EQ(
      call(*instance, "say", {{"to", "+79990001133"}, {"text", "Ваш заказ готов"}}, voximplant, "e2:reminder:Call")
          .outcome,
      SB_OUTCOME_DONE);
  EXPECT_EQ(host.kv.size(), 2u);
  host.now_ms += 6 * 60 * 1000;  // the first's quarter of an hour is over
  ASSERT_EQ(
      call(*instance, "say", {{"to", "+79990001144"}, {"text", "Ваш заказ готов"}}, voximplant, "e3:reminder:Call")
          .outcome,
      SB_OUTCOME_DONE);
  EXPECT_EQ(host.kv.size(), 2u);
  EXPECT_EQ(host.kv.count(first), 0u);
}

// A call whose data fits in 200 bytes carries it; one that does not, with
// no callback to fetch it from, is refused with the reason.
TEST_F(TelephonyPluginTest, VoximplantWithoutACallbackSendsOnlyCallsThatFit) {
  auto config = voximplant_config();
  config.erase("callback_path");
  config.erase("status_callback");
  config.erase("voice");
  auto instance = create(config);
  EXPECT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "Да"}}, voximplant).outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(custom_data_of(host.sent.at(0))["say"], "Да");
  auto too_long = call(*instance, "say", {{"to", "+79990001122"}, {"text", std::string(300, 'a')}}, voximplant);
  EXPECT_EQ(too_long.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_NE(too_long.reason.find("over the 200 Voximplant passes to a scenario"), std::string::npos) << too_long.reason;
  EXPECT_EQ(host.sent.size(), 1u);
}

TEST_F(TelephonyPluginTest, VoximplantRefusesACallbackTooLongForTheCustomData) {
  auto config = voximplant_config();
  config["status_callback"] = "https://crm.example.com/" + std::string(120, 'x');
  fake::Instance instance(library, host, config.dump());
  EXPECT_NE(instance.status(), SB_OK);
  EXPECT_NE(instance.error().find("over the 200 Voximplant passes to a scenario"), std::string::npos)
      << instance.error();
}

TEST_F(TelephonyPluginTest, VoximplantErrorsArePermanentAndOverloadIsRetried) {
  auto config = voximplant_config();
  config["rule_id"] = 78;
  auto instance = create(config);
  auto refused =
      call(*instance, "play", {{"to", "+79990001122"}, {"url", "https://cdn.example.com/a.mp3"}}, voximplant);
  EXPECT_EQ(refused.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(refused.provider_code, "111");
  EXPECT_EQ(refused.reason, "Invalid rule_id");
  EXPECT_EQ(call(*instance, "play", {{"to", "+79990001122"}, {"url", "https://cdn.example.com/a.mp3"}},
                 [](const fake::Sent&) {
                   return fake::Response{429, "text/plain", ""};
                 })
                .outcome,
            SB_OUTCOME_RETRY);
  // Over the limit of concurrent requests, said in the body's error.
  EXPECT_EQ(
      call(*instance, "play", {{"to", "+79990001122"}, {"url", "https://cdn.example.com/a.mp3"}},
           [](const fake::Sent&) {
             return fake::Response{200, "application/json", R"({"error":{"code":429,"msg":"Too Many Requests"}})"};
           })
          .outcome,
      SB_OUTCOME_RETRY);
  // Voximplant's own servers failed (its error 2, internal; 16, the media
  // balancer): the call did not start, and goes again later.
  const auto internal = call(
      *instance, "play", {{"to", "+79990001122"}, {"url", "https://cdn.example.com/a.mp3"}}, [](const fake::Sent&) {
        return fake::Response{200, "application/json", R"({"error":{"code":2,"msg":"Internal error"}})"};
      });
  EXPECT_EQ(internal.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(internal.provider_code, "2");
  EXPECT_EQ(
      call(*instance, "play", {{"to", "+79990001122"}, {"url", "https://cdn.example.com/a.mp3"}},
           [](const fake::Sent&) {
             return fake::Response{200, "application/json", R"({"error":{"code":16,"msg":"Media balancer error"}})"};
           })
          .outcome,
      SB_OUTCOME_RETRY);
}

TEST_F(TelephonyPluginTest, VoximplantReportsCarryTheCallsTokenAndNothingElseIsTaken) {
  auto instance = create(voximplant_config());
  ASSERT_EQ(call(*instance, "say", {{"to", "+79990001122"}, {"text", "x"}}, voximplant).outcome, SB_OUTCOME_DONE);
  const std::string token = json::parse(fetch_call(host, custom_data_of(host.sent.at(0))).body)["token"];
  const json busy{
      {"call_id", "e1:reminder:Call"}, {"token", token}, {"status", "busy"}, {"code", "486"}, {"to", "+79990001122"}};
  const uint64_t good = host.request("POST", {{"Content-Type", "application/json"}}, busy.dump());
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].type, "call.busy");
  EXPECT_EQ(json::parse(host.emitted[0].payload)["data"]["call_id"], "e1:reminder:Call");
  host.finish_emit(0, SB_OK, "e1:reminder:Call:busy");
  EXPECT_EQ(host.responses.at(good).status, 200);

  json other_call = busy;
  other_call["call_id"] = "e2:reminder:Call";  // a token is good for its own call only
  EXPECT_EQ(host.responses.at(host.request("POST", {}, other_call.dump())).status, 401);
  json no_token = busy;
  no_token.erase("token");
  EXPECT_EQ(host.responses.at(host.request("POST", {}, no_token.dump())).status, 401);
  EXPECT_EQ(host.emitted.size(), 1u);
}

TEST_F(TelephonyPluginTest, DryRunWritesTheCallToTheOutboxAndRendersTheTextToAWav) {
  const auto dir = std::filesystem::temp_directory_path() / ("sb-telephony-" + std::to_string(::getpid()));
  auto config = twilio_config();
  config["dry_run"] = true;
  config["audio_dir"] = dir.string();
  auto instance = create(config);
  ASSERT_EQ(
      instance->invoke("say", json{{"to", "+79990001122"}, {"text", "Здравствуйте, Анна. Ваш заказ готов."}}.dump(),
                       "e1:reminder:Call"),
      SB_OK);
  ASSERT_TRUE(host.wait_results(1));
  EXPECT_TRUE(host.sent.empty());
  ASSERT_EQ(host.outbox.size(), 1u);
  const json record = json::parse(host.outbox[0]);
  EXPECT_EQ(record["channel"], "voice");
  EXPECT_EQ(record["to"], "+79990001122");
  EXPECT_NE(record["request"]["twiml"].get<std::string>().find("Здравствуйте, Анна"), std::string::npos);
  EXPECT_EQ(record.dump().find("tok\""), std::string::npos);  // no credential in the outbox
  const fake::Result result = host.result(0);
  EXPECT_EQ(result.outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(result.external_id, "dry-run:e1:reminder:Call");  // its own, for a rehearsed outcome to match
  const json output = json::parse(result.output_json);
  if (!record.contains("audio")) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "espeak-ng is not installed: no WAV to check";
  }
  ASSERT_TRUE(output.contains("audio")) << output.dump();
  const std::string wav = record["audio"];
  std::ifstream in(wav, std::ios::binary);
  char header[44] = {};
  ASSERT_TRUE(in.read(header, sizeof header)) << wav;
  EXPECT_EQ(std::string(header, 4), "RIFF");
  EXPECT_EQ(std::string(header + 8, 4), "WAVE");
  uint32_t sample_rate = 0, byte_rate = 0;
  std::memcpy(&sample_rate, header + 24, 4);
  std::memcpy(&byte_rate, header + 28, 4);
  const auto bytes = std::filesystem::file_size(wav);
  ASSERT_GT(byte_rate, 0u);
  // Two sentences: well over a second of speech.
  EXPECT_GT(static_cast<double>(bytes - 44) / byte_rate, 1.0) << bytes << " bytes at " << byte_rate << " B/s";
  std::filesystem::remove_all(dir);
}

TEST_F(TelephonyPluginTest, RendersStillQueuedWhenTheInstanceGoesAreCompleted) {
  const auto dir = std::filesystem::temp_directory_path() / ("sb-telephony-stop-" + std::to_string(::getpid()));
  auto config = twilio_config();
  config["dry_run"] = true;
  config["audio_dir"] = dir.string();
  auto instance = create(config);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(instance->invoke("say", json{{"to", "+79990001122"}, {"text", "Раз, два, три, четыре, пять."}}.dump(),
                               "e" + std::to_string(i) + ":r:0"),
              SB_OK);
  instance.reset();  // the host destroys the instance: every call is answered before that returns
  EXPECT_EQ(host.results.size(), 3u);
  for (const auto& r : host.results) EXPECT_EQ(r.outcome, SB_OUTCOME_DONE);
  std::filesystem::remove_all(dir);
}

}  // namespace
