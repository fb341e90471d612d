// The sms plugin through the C ABI, against each gateway's wire format (path,
// auth, form fields, answers and error codes as the gateways document them).
#include <gtest/gtest.h>
#include <switchboard/testing/fake_host.h>

#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;

class SmsPluginTest : public ::testing::Test {
 protected:
  fake::Library library{PLUGIN_PATH};
  fake::Host host{"sms"};

  std::unique_ptr<fake::Instance> create(const std::string& config) {
    auto instance = std::make_unique<fake::Instance>(library, host, config);
    EXPECT_EQ(instance->status(), SB_OK) << instance->error();
    return instance;
  }
  fake::Result send(fake::Instance& instance, const std::string& to, const std::string& text, int status,
                    const std::string& body, const fake::Headers& headers = {}) {
    EXPECT_EQ(instance.invoke("send", json{{"to", to}, {"text", text}}.dump(), "e1:r:0"), SB_OK);
    if (host.results.size() > 0 && host.sent.empty()) return host.results.back();
    host.finish_http(host.sent.size() - 1, status, headers, body);
    return host.results.back();
  }
};

constexpr char kSmsRu[] = R"({"gateway": "smsru", "api_id": "API-1", "sender": "Shop", "base_url": "http://127.0.0.1:9",
                              "default_country": "RU"})";

TEST_F(SmsPluginTest, SmsRuSendsAFormAndReadsThePerNumberAnswer) {
  auto instance = create(kSmsRu);
  auto result = send(*instance, "8 (999) 000-11-22", "Привет", 200,
                     R"({"status":"OK","status_code":100,"sms":{"79990001122":{"status":"OK","status_code":100,
                         "sms_id":"000000-10000000"}},"balance":4122.56})");
  const fake::Sent& s = host.sent.at(0);
  EXPECT_EQ(s.method, "POST");
  EXPECT_EQ(s.url, "http://127.0.0.1:9/sms/send");
  EXPECT_EQ(s.header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(s.body, "api_id=API-1&to=79990001122&msg=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82&json=1&from=Shop");
  EXPECT_EQ(result.outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(result.external_id, "000000-10000000");
  const json output = json::parse(result.output_json);
  EXPECT_EQ(output["segments"], 1);
  EXPECT_EQ(output["encoding"], "UCS-2");
  EXPECT_EQ(output["to"], "+79990001122");
}

TEST_F(SmsPluginTest, SmsRuCodesMapToOutcomes) {
  auto instance = create(kSmsRu);
  auto no_route = send(*instance, "+79990001122", "x", 200,
                       R"({"status":"OK","status_code":100,"sms":{"79990001122":{"status":"ERROR","status_code":207,
                           "status_text":"На этот номер нельзя отправлять сообщения"}}})");
  EXPECT_EQ(no_route.outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(no_route.provider_code, "207");
  EXPECT_EQ(no_route.reason, "На этот номер нельзя отправлять сообщения");
  EXPECT_EQ(
      send(*instance, "+79990001122", "x", 200, R"({"status":"ERROR","status_code":220,"status_text":"busy"})").outcome,
      SB_OUTCOME_RETRY);
  auto bad_key = send(*instance, "+79990001122", "x", 200,
                      R"({"status":"ERROR","status_code":200,"status_text":"Неправильный api_id"})");
  EXPECT_EQ(bad_key.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(bad_key.provider_code, "200");
  EXPECT_EQ(send(*instance, "+79990001122", "x", 502, "").outcome, SB_OUTCOME_RETRY);
  auto code = [&](int status_code) {
    return send(*instance, "+79990001122", "x", 200,
                R"({"status":"ERROR","status_code":)" + std::to_string(status_code) + R"(,"status_text":"t"})")
        .outcome;
  };
  EXPECT_EQ(code(500), SB_OUTCOME_RETRY);  // "a server error: repeat the request"
  EXPECT_EQ(code(214), SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(code(215), SB_OUTCOME_UNREACHABLE);
  // The account's daily limit: the step waits, an hour at a time, for the next day; the number's are for good.
  const auto limited =
      send(*instance, "+79990001122", "x", 200, R"({"status":"ERROR","status_code":206,"status_text":"t"})");
  EXPECT_EQ(limited.outcome, SB_OUTCOME_DEFERRED);
  EXPECT_EQ(limited.retry_after_s, 3600u);
  for (int daily : {230, 232}) EXPECT_EQ(code(daily), SB_OUTCOME_PERMANENT) << daily;
  // A page without JSON: a wrong base_url or access refused is for good.
  auto page = send(*instance, "+79990001122", "x", 404, "<html>Not Found</html>");
  EXPECT_EQ(page.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(page.reason, "sms.ru answered HTTP 404 without JSON");
  EXPECT_EQ(send(*instance, "+79990001122", "x", 200, "<html>").outcome, SB_OUTCOME_RETRY);
  // The same text to this number within a minute: a retry after the minute would send it twice.
  EXPECT_EQ(code(231), SB_OUTCOME_PERMANENT);
}

// Bitrix24's "number type": one of the contact's numbers by type, the first
// or the last; none of that type is unreachable (a fallback moves on).
TEST_F(SmsPluginTest, TheRecipientMayBeOneOfTheContactsNumbersByType) {
  auto instance = create(kSmsRu);
  const json subject = {{"contact",
                         {{"id", "c1"},
                          {"phones",
                           {{{"number", "+79990001111"}, {"type", "work"}},
                            {{"number", "+79990002222"}, {"type", "mobile"}},
                            {{"number", "+79990003333"}, {"type", "mobile"}}}}}}};
  const auto to = [&](const json& pick) {
    const size_t sent = host.sent.size();
    json params{{"to", pick}, {"text", "x"}};
    if (pick.is_null()) params.erase("to");
    EXPECT_EQ(instance->invoke("send", params.dump(), "e1:r:0", 0, subject.dump()), SB_OK);
    if (host.sent.size() == sent) return std::string("no request: ") + host.results.back().reason;
    host.finish_http(host.sent.size() - 1, 200, {}, R"({"status":"OK","status_code":100,"sms":{}})");
    const std::string body = host.sent.back().body;
    return body.substr(body.find("to=") + 3, 11);
  };
  EXPECT_EQ(to(json::object()), "79990001111");
  EXPECT_EQ(to(nullptr), "79990001111");  // no "to" at all: the automatic choice, the first number
  EXPECT_EQ(to({{"type", "mobile"}}), "79990002222");
  EXPECT_EQ(to({{"type", "mobile"}, {"pick", "last"}}), "79990003333");
  EXPECT_EQ(to({{"type", "any"}, {"pick", "last"}}), "79990003333");
  EXPECT_EQ(to({{"type", "home"}}), "no request: the contact has no phone number of type 'home'");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(to(5), "no request: 'to' must be a phone number or {\"type\", \"pick\"} naming one of the contact's");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_INVALID_PARAMS);
}

TEST_F(SmsPluginTest, SmsRuTheOnlyPerNumberAnswerCountsWhateverItsKey) {
  auto instance = create(kSmsRu);
  auto failed = send(*instance, "+79990001122", "x", 200,
                     R"({"status":"OK","status_code":100,"sms":{"+7 999 000-11-22":{"status":"ERROR","status_code":202,
                         "status_text":"Неправильно указан номер"}}})");
  EXPECT_EQ(failed.outcome, SB_OUTCOME_UNREACHABLE);  // not "done" from the request's own OK
  EXPECT_EQ(failed.provider_code, "202");
}

TEST_F(SmsPluginTest, SmscSendsUtf8AndMapsItsErrors) {
  auto instance = create(R"({"gateway": "smsc", "login": "shop", "password": "pw", "base_url": "http://127.0.0.1:9"})");
  auto ok = send(*instance, "+79990001122", "Hi", 200, R"({"id":42,"cnt":1})");
  EXPECT_EQ(host.sent.at(0).url, "http://127.0.0.1:9/sys/send.php");
  EXPECT_EQ(host.sent.at(0).body, "login=shop&psw=pw&phones=79990001122&mes=Hi&fmt=3&charset=utf-8");
  EXPECT_EQ(ok.outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(ok.external_id, "42");
  // An id given as a string is the same id, without JSON's quotes (reports name it bare).
  EXPECT_EQ(send(*instance, "+79990001122", "Hi", 200, R"({"id":"43","cnt":1})").external_id, "43");
  auto invalid = send(*instance, "+79990001122", "Hi", 200, R"({"error":"invalid number","error_code":7})");
  EXPECT_EQ(invalid.outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(invalid.provider_code, "7");
  EXPECT_EQ(send(*instance, "+79990001122", "Hi", 200, R"({"error":"IP blocked","error_code":4})").outcome,
            SB_OUTCOME_RETRY);
  EXPECT_EQ(send(*instance, "+79990001122", "Hi", 200, R"({"error":"no money","error_code":3})").outcome,
            SB_OUTCOME_PERMANENT);
  // 9 means two things: too many requests at once (retried), or the same
  // send within a minute (a retry after the minute would deliver it twice).
  EXPECT_EQ(
      send(*instance, "+79990001122", "Hi", 200, R"({"error":"too many concurrent requests","error_code":9})").outcome,
      SB_OUTCOME_RETRY);
  auto duplicate =
      send(*instance, "+79990001122", "Hi", 200, R"({"error":"duplicate request, wait a minute","error_code":9})");
  EXPECT_EQ(duplicate.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(duplicate.reason, "duplicate request, wait a minute");
}

constexpr char kTwilio[] = R"({"gateway": "twilio", "account_sid": "AC0123456789abcdef0123456789abcdef",
  "auth_token": "tok", "sender": "+15017122661", "base_url": "http://127.0.0.1:9",
  "status_callback": "https://hooks.example.com/sms/status"})";

TEST_F(SmsPluginTest, TwilioPostsTheMessagesResourceWithBasicAuth) {
  auto instance = create(kTwilio);
  auto ok = send(*instance, "+14155552671", "Hello €", 201,
                 R"({"sid":"SM1234567890abcdef1234567890abcdef","status":"queued","num_segments":"1"})");
  const fake::Sent& s = host.sent.at(0);
  EXPECT_EQ(s.url, "http://127.0.0.1:9/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json");
  // base64("AC0123456789abcdef0123456789abcdef:tok")
  EXPECT_EQ(s.header("Authorization"), "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2s=");
  EXPECT_EQ(s.body,
            "To=%2B14155552671&Body=Hello%20%E2%82%AC&From=%2B15017122661&StatusCallback=https%3A%2F%2Fhooks.example."
            "com%2Fsms%2Fstatus%23rc%3D3%26rp%3Dct%2C5xx");  // Twilio sends a report again after a 5xx
  EXPECT_EQ(ok.outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(ok.external_id, "SM1234567890abcdef1234567890abcdef");
  EXPECT_EQ(json::parse(ok.output_json)["encoding"], "GSM-7");
}

// A status callback with connection overrides of its own is given as it is.
TEST_F(SmsPluginTest, TwilioIsGivenAStatusCallbacksOwnOverrides) {
  json config = json::parse(kTwilio);
  config["status_callback"] = "https://hooks.example.com/sms/status#rc=5&rp=all";
  auto instance = create(config.dump());
  send(*instance, "+14155552671", "Hi", 201, R"({"sid":"SM1","status":"queued"})");
  EXPECT_NE(
      host.sent.at(0).body.find("StatusCallback=https%3A%2F%2Fhooks.example.com%2Fsms%2Fstatus%23rc%3D5%26rp%3Dall"),
      std::string::npos)
      << host.sent.at(0).body;
}

TEST_F(SmsPluginTest, TwilioErrorsByCode) {
  auto instance = create(kTwilio);
  auto invalid = send(*instance, "+14155552671", "x", 400,
                      R"({"code":21211,"message":"The 'To' number is not a valid phone number.",
                          "more_info":"https://www.twilio.com/docs/errors/21211","status":400})");
  EXPECT_EQ(invalid.outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(invalid.provider_code, "21211");
  auto busy = send(*instance, "+14155552671", "x", 429, R"({"code":20429,"message":"Too Many Requests","status":429})",
                   {{"Retry-After", "7"}});
  EXPECT_EQ(busy.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(busy.retry_after_s, 7u);
  auto unsubscribed = send(*instance, "+14155552671", "x", 400,
                           R"({"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400})");
  EXPECT_EQ(unsubscribed.outcome, SB_OUTCOME_PERMANENT);  // replied STOP (a fallback still moves on)
  EXPECT_EQ(unsubscribed.reason, "Attempt to send to unsubscribed recipient");
  // The account may not text that country (its Geo Permissions): the
  // admin's to mend, a dead letter, not a contact quietly skipped.
  auto no_permission = send(*instance, "+14155552671", "x", 400,
                            R"({"code":21408,"message":"Permission to send an SMS has not been enabled for the )"
                            R"(region indicated by the 'To' number","status":400})");
  EXPECT_EQ(no_permission.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(no_permission.provider_code, "21408");
  for (int not_mobile : {21635, 21265})
    EXPECT_EQ(send(*instance, "+14155552671", "x", 400,
                   R"({"code":)" + std::to_string(not_mobile) + R"(,"message":"m","status":400})")
                  .outcome,
              SB_OUTCOME_UNREACHABLE)
        << not_mobile;
  // The sender's queue is full (more than 10 hours of messages): later.
  EXPECT_EQ(send(*instance, "+14155552671", "x", 400,
                 R"({"code":21611,"message":"This 'From' number has exceeded the maximum number of queued messages",
                     "status":400})")
                .outcome,
            SB_OUTCOME_RETRY);
  auto refused =
      send(*instance, "+14155552671", "x", 400, R"({"code":21606,"message":"not a valid sender","status":400})");
  EXPECT_EQ(refused.outcome, SB_OUTCOME_PERMANENT);
}

// What became of a message, asked of the gateway (for a rule without a
// public URL for the reports): each gateway's status request, and its answer
// in the words its reports use.
TEST_F(SmsPluginTest, AStatusIsAskedOfEachGatewayInItsOwnWay) {
  auto smsru = create(kSmsRu);
  ASSERT_EQ(smsru->invoke("status", R"({"message_id": "000000-10000000"})"), SB_OK);
  EXPECT_EQ(host.sent.back().url, "http://127.0.0.1:9/sms/status");
  EXPECT_EQ(host.sent.back().body, "api_id=API-1&sms_id=000000-10000000&json=1");
  host.finish_http(host.sent.size() - 1, 200, {}, R"({"status":"OK","status_code":100,"sms":{"000000-10000000":
      {"status":"OK","status_code":103,"status_text":"Сообщение доставлено"}},"balance":4122.56})");
  ASSERT_EQ(host.results.back().outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(json::parse(host.results.back().output_json)["status"], "delivered");
  EXPECT_EQ(json::parse(host.results.back().output_json)["status_code"], 103);
  EXPECT_EQ(host.results.back().external_id, "");
  ASSERT_EQ(smsru->invoke("status", R"({"message_id": "000000-1"})"), SB_OK);
  host.finish_http(host.sent.size() - 1, 200, {}, R"({"status":"OK","status_code":100,"sms":{"000000-1":
      {"status":"ERROR","status_code":-1,"status_text":"Сообщение не найдено"}}})");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(host.results.back().reason, "Сообщение не найдено");

  // SMSC.ru numbers messages per number: the contact's, or the step's.
  auto smsc = create(R"({"gateway": "smsc", "login": "shop", "password": "pw", "base_url": "http://127.0.0.1:9"})");
  ASSERT_EQ(smsc->invoke("status", R"({"message_id": "7"})", "k1", 0,
                         R"({"contact": {"id": "c1", "phones": [{"number": "+79990001122"}]}})"),
            SB_OK);
  EXPECT_EQ(host.sent.back().url, "http://127.0.0.1:9/sys/status.php");
  EXPECT_EQ(host.sent.back().body, "login=shop&psw=pw&phone=79990001122&id=7&fmt=3&charset=utf-8");
  host.finish_http(host.sent.size() - 1, 200, {}, R"({"status":20,"last_date":"06.12.2026 18:00:00",
      "last_timestamp":1765044000,"err":255})");
  EXPECT_EQ(json::parse(host.results.back().output_json)["status"], "undelivered");
  EXPECT_EQ(json::parse(host.results.back().output_json)["error_code"], 255);
  ASSERT_EQ(smsc->invoke("status", R"({"message_id": "7"})"), SB_OK);  // no number to ask with
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_INVALID_PARAMS);

  // Twilio: the Message resource itself.
  auto twilio = create(kTwilio);
  ASSERT_EQ(twilio->invoke("status", R"({"message_id": "SM00000000000000000000000000000001"})"), SB_OK);
  EXPECT_EQ(host.sent.back().method, "GET");
  EXPECT_EQ(host.sent.back().url,
            "http://127.0.0.1:9/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/"
            "SM00000000000000000000000000000001.json");
  EXPECT_EQ(host.sent.back().header("Authorization"), "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2s=");
  host.finish_http(host.sent.size() - 1, 200, {},
                   R"({"sid":"SM00000000000000000000000000000001","status":"undelivered","error_code":30003})");
  EXPECT_EQ(json::parse(host.results.back().output_json)["status"], "undelivered");
  EXPECT_EQ(json::parse(host.results.back().output_json)["error_code"], 30003);
  ASSERT_EQ(twilio->invoke("status", R"({"message_id": "SM0"})"), SB_OK);
  host.finish_http(host.sent.size() - 1, 404, {},
                   R"({"code":20404,"message":"The requested resource was not found","status":404})");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(host.results.back().provider_code, "20404");
  ASSERT_EQ(twilio->invoke("status", R"({"message_id": "SM1"})"), SB_OK);
  host.finish_http(host.sent.size() - 1, 503, {}, "");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_RETRY);

  // A dry run's message asks nothing.
  const size_t sent = host.sent.size();
  ASSERT_EQ(smsru->invoke("status", R"({"message_id": "dry-run:e1:r:0"})"), SB_OK);
  EXPECT_EQ(json::parse(host.results.back().output_json)["dry_run"], true);
  EXPECT_EQ(host.sent.size(), sent);
}

TEST_F(SmsPluginTest, AnInvalidNumberFailsWithoutARequest) {
  auto instance = create(kSmsRu);
  ASSERT_EQ(instance->invoke("send", R"({"to": "12345", "text": "x"})"), SB_OK);
  EXPECT_TRUE(host.sent.empty());
  EXPECT_EQ(host.results.at(0).outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(host.results.at(0).reason, "'12345' is not a valid phone number");
}

TEST_F(SmsPluginTest, OverTheLimitTheStepIsDeferredNotFailed) {
  auto instance = create(R"({"gateway": "smsru", "api_id": "k", "dry_run": true, "limits": {"per_minute": 2}})");
  host.now_ms = 1'700'000'040'000 + 40'000;  // 40 s into a minute
  for (int i = 0; i < 2; ++i) ASSERT_EQ(instance->invoke("send", R"({"to": "+79990001122", "text": "x"})"), SB_OK);
  ASSERT_EQ(instance->invoke("send", R"({"to": "+79990001122", "text": "x"})"), SB_OK);
  ASSERT_EQ(host.results.size(), 3u);
  EXPECT_EQ(host.results[2].outcome, SB_OUTCOME_DEFERRED);
  EXPECT_EQ(host.results[2].retry_after_s, 20u);  // until the next minute
  EXPECT_EQ(host.outbox.size(), 2u);
  host.now_ms += 20'000;
  ASSERT_EQ(instance->invoke("send", R"({"to": "+79990001122", "text": "x"})"), SB_OK);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_DONE);
}

TEST_F(SmsPluginTest, DryRunWritesTheMessageWithItsSegments) {
  auto instance = create(R"({"gateway": "smsru", "api_id": "k", "dry_run": true})");
  ASSERT_EQ(instance->invoke("send", json{{"to", "+79990001122"}, {"text", std::string(71, 'x')}}.dump()), SB_OK);
  const json record = json::parse(host.outbox.at(0));
  EXPECT_EQ(record["gateway"], "sms.ru");
  EXPECT_EQ(record["segments"], 1);  // 71 GSM-7 characters: one part
  EXPECT_EQ(record["to"], "+79990001122");
  // A message id of its own: a rehearsed report resumes this message's wait only.
  EXPECT_EQ(host.results.at(0).external_id.rfind("dry-run:", 0), 0u);
  EXPECT_EQ(host.results.at(0).external_id, "dry-run:" + record["idempotency_key"].get<std::string>());
  // A dry run needs no account: no credentials, whichever the gateway.
  for (const char* gateway : {"smsru", "smsc", "twilio"}) {
    auto rehearsal = create(json{{"gateway", gateway}, {"dry_run", true}, {"sender", "Shop"}}.dump());
    ASSERT_EQ(rehearsal->status(), SB_OK) << gateway << ": " << rehearsal->error();
  }
  fake::Instance real(library, host, R"({"gateway": "smsru"})");
  EXPECT_NE(real.status(), SB_OK);  // a real one does
  // Reports are checked under the account's key: a rehearsal without one takes none.
  fake::Instance open(library, host, R"({"gateway": "smsru", "dry_run": true, "callback_path": "sms"})");
  EXPECT_NE(open.status(), SB_OK);
  EXPECT_NE(open.error().find("'callback_path' checks the gateway's reports with 'api_id'"), std::string::npos)
      << open.error();
}

// A step's `from` replaces the instance's sender for its message, in each
// gateway's own field; SMS.ru's test mode adds test=1.
TEST_F(SmsPluginTest, AStepsSenderReplacesTheInstancesAndSmsRuMaySendInTestMode) {
  auto step = [&](fake::Instance& instance, const json& params) {
    EXPECT_EQ(instance.invoke("send", params.dump(), "e1:r:0"), SB_OK);
    return host.sent.back().body;
  };
  const json from_promo{{"to", "+79990001122"}, {"text", "Hi"}, {"from", "Promo"}};
  auto smsru = create(R"({"gateway": "smsru", "api_id": "API-1", "sender": "Shop", "test": true,
                          "base_url": "http://127.0.0.1:9"})");
  EXPECT_EQ(step(*smsru, from_promo), "api_id=API-1&to=79990001122&msg=Hi&json=1&from=Promo&test=1");
  EXPECT_EQ(step(*smsru, {{"to", "+79990001122"}, {"text", "Hi"}}),
            "api_id=API-1&to=79990001122&msg=Hi&json=1&from=Shop&test=1");
  auto smsc = create(R"({"gateway": "smsc", "login": "shop", "password": "pw", "sender": "Shop"})");
  EXPECT_EQ(step(*smsc, from_promo), "login=shop&psw=pw&phones=79990001122&mes=Hi&fmt=3&charset=utf-8&sender=Promo");
  auto twilio = create(kTwilio);
  EXPECT_EQ(step(*twilio, json{{"to", "+14155552671"}, {"text", "Hi"}, {"from", "+15017122662"}}),
            "To=%2B14155552671&Body=Hi&From=%2B15017122662&StatusCallback=https%3A%2F%2Fhooks.example.com%2Fsms%"
            "2Fstatus%23rc%3D3%26rp%3Dct%2C5xx");
  auto service = create(R"({"gateway": "twilio", "account_sid": "AC0123456789abcdef0123456789abcdef",
    "auth_token": "tok", "messaging_service_sid": "MG0123456789abcdef0123456789abcdef"})");
  EXPECT_EQ(step(*service, json{{"to", "+14155552671"}, {"text", "Hi"}}),
            "To=%2B14155552671&Body=Hi&MessagingServiceSid=MG0123456789abcdef0123456789abcdef");
  EXPECT_EQ(step(*service, json{{"to", "+14155552671"}, {"text", "Hi"}, {"from", "+15017122662"}}),
            "To=%2B14155552671&Body=Hi&From=%2B15017122662&MessagingServiceSid=MG0123456789abcdef0123456789abcdef");
  auto dry = create(R"({"gateway": "smsru", "api_id": "k", "dry_run": true})");
  ASSERT_EQ(dry->invoke("send", from_promo.dump()), SB_OK);
  EXPECT_EQ(json::parse(host.outbox.at(0))["from"], "Promo");
}

// SMSC.ru signs in with an API key instead of the login and password.
TEST_F(SmsPluginTest, SmscMaySignInWithAnApiKey) {
  auto instance = create(R"({"gateway": "smsc", "api_key": "KEY-1", "base_url": "http://127.0.0.1:9"})");
  auto ok = send(*instance, "+79990001122", "Hi", 200, R"({"id":42,"cnt":1})");
  EXPECT_EQ(host.sent.at(0).body, "apikey=KEY-1&phones=79990001122&mes=Hi&fmt=3&charset=utf-8");
  EXPECT_EQ(ok.outcome, SB_OUTCOME_DONE);
  fake::Instance both(library, host, R"({"gateway": "smsc", "api_key": "KEY-1", "login": "shop", "password": "pw"})");
  EXPECT_NE(both.status(), SB_OK);
  EXPECT_EQ(both.error(), "gateway 'smsc' takes 'api_key' or 'password', not both");
  // Reports name messages by the account's own numbers: the login keeps accounts apart.
  fake::Instance unnamed(library, host, R"({"gateway": "smsc", "api_key": "KEY-1", "callback_path": "smsc-in"})");
  EXPECT_NE(unnamed.status(), SB_OK);
  EXPECT_NE(unnamed.error().find("needs 'login'"), std::string::npos) << unnamed.error();
  auto named = create(
      R"({"gateway": "smsc", "api_key": "KEY-1", "login": "shop", "callback_path": "smsc-in2", "callback_secret": "s",
                          "base_url": "http://127.0.0.1:9"})");
  send(*named, "+79990001122", "Hi", 200, R"({"id":43,"cnt":1})");
  EXPECT_EQ(host.sent.back().body, "apikey=KEY-1&phones=79990001122&mes=Hi&fmt=3&charset=utf-8");  // no login sent
}

TEST_F(SmsPluginTest, AGatewayWithoutItsCredentialsIsRefused) {
  fake::Instance instance(library, host, R"({"gateway": "smsc", "login": "shop"})");
  EXPECT_NE(instance.status(), SB_OK);
  EXPECT_EQ(instance.error(), "'password' is required for gateway 'smsc'");
}

constexpr char kTwilioWithReports[] = R"({"gateway": "twilio", "account_sid": "AC0123456789abcdef0123456789abcdef",
  "auth_token": "tok", "sender": "+15017122661", "status_callback": "https://hooks.example.com/webhooks/twilio-status",
  "callback_path": "twilio-status"})";

TEST_F(SmsPluginTest, SignedTwilioReportsBecomeMessageEvents) {
  auto instance = create(kTwilioWithReports);
  EXPECT_EQ(host.declared, (std::vector<std::string>{"message.*", "contact.unsubscribed", "contact.resubscribed"}));
  const std::string body = "MessageSid=SM1234567890abcdef1234567890abcdef&MessageStatus=delivered&To=%2B14155552671";
  // base64(HMAC-SHA1("tok", URL + "MessageSidSM1234...MessageStatusdeliveredTo+14155552671")), sorted by name.
  const std::string signature = "+QhhdXX7GfV8hxh+E1PGJ3l+Mpk=";  // computed independently with Python hmac
  const uint64_t missing = host.request("POST", {}, body);
  EXPECT_EQ(host.responses.at(missing).status, 401);
  // In the host's error shape, as every refusal of the API is.
  EXPECT_EQ(host.responses.at(missing).content_type, "application/json");
  EXPECT_EQ(json::parse(host.responses.at(missing).body)["error"]["code"], "invalid_signature");
  const uint64_t forged = host.request("POST", {{"X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}, body);
  EXPECT_EQ(host.responses.at(forged).status, 401);
  EXPECT_TRUE(host.emitted.empty());
  const uint64_t id = host.request("POST", {{"X-Twilio-Signature", signature}}, body);
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].type, "message.delivered");
  EXPECT_EQ(host.emitted[0].id, "SM1234567890abcdef1234567890abcdef:delivered");
  EXPECT_EQ(json::parse(host.emitted[0].payload)["data"]["message_id"], "SM1234567890abcdef1234567890abcdef");
  host.finish_emit(0, SB_OK, host.emitted[0].id);
  EXPECT_EQ(host.responses.at(id).status, 200);
  // Empty TwiML: what Twilio takes for "no reply" to an incoming message (an empty text/plain answer is its
  // error 11200).
  EXPECT_EQ(host.responses.at(id).content_type, "text/xml");
  EXPECT_EQ(host.responses.at(id).body, R"(<?xml version="1.0" encoding="UTF-8"?><Response></Response>)");
}

TEST_F(SmsPluginTest, TwilioReportsNeedThePublicUrlAndSmscReportsTheHandlersSecret) {
  fake::Instance twilio(library, host, R"({"gateway": "twilio", "account_sid": "AC0123456789abcdef0123456789abcdef",
    "auth_token": "tok", "sender": "+15017122661", "callback_path": "x"})");
  EXPECT_NE(twilio.status(), SB_OK);
  EXPECT_EQ(twilio.error(),
            "'callback_path' takes Twilio's reports with 'status_callback' (the public URL Twilio calls and signs)");
  fake::Instance smsc(library, host, R"({"gateway": "smsc", "login": "shop", "password": "p", "callback_path": "x"})");
  EXPECT_NE(smsc.status(), SB_OK);
  EXPECT_EQ(smsc.error(),
            "'callback_path' takes SMSC.ru's reports with 'callback_secret' (the secret set for the status handler in "
            "the account, which signs them)");
}

// SMSC.ru's status handler: a form per status change, md5 (or sha1) of
// "id:phone:status:secret"; a reply to the account's number comes to the same
// URL, signed over "phone:mes:to:secret". The digests below were computed
// independently with md5sum and sha1sum.
TEST_F(SmsPluginTest, SignedSmscReportsAndRepliesBecomeEventsAnsweredOnceStored) {
  auto instance = create(
      R"({"gateway": "smsc", "login": "shop", "password": "p", "callback_path": "smsc-status", "callback_secret": "hook-secret"})");
  EXPECT_EQ(host.declared, (std::vector<std::string>{"message.*", "contact.unsubscribed", "contact.resubscribed"}));
  const std::string delivered = "id=4071&phone=79131234567&status=1&err=0&ts=1782469893";
  const uint64_t unsigned_post = host.request("POST", {}, delivered);
  EXPECT_EQ(host.responses.at(unsigned_post).status, 401);
  const uint64_t forged = host.request("POST", {}, delivered + "&md5=" + std::string(32, '0'));
  EXPECT_EQ(host.responses.at(forged).status, 401);
  // A signature over another status does not carry over to this one.
  const uint64_t moved =
      host.request("POST", {}, "id=4071&phone=79131234567&status=2&md5=c81577335eb91c24d363645f1c3db008");
  EXPECT_EQ(host.responses.at(moved).status, 401);
  // A report's signed fields sent back as a message's (id as the sender, phone as the text): no event.
  const uint64_t reshuffled =
      host.request("POST", {}, "phone=4071&mes=79131234567&to=1&md5=c81577335eb91c24d363645f1c3db008");
  EXPECT_EQ(host.responses.at(reshuffled).status, 200);
  // Both digests given: both must match.
  const uint64_t half =
      host.request("POST", {}, delivered + "&md5=c81577335eb91c24d363645f1c3db008&sha1=" + std::string(40, '0'));
  EXPECT_EQ(host.responses.at(half).status, 401);
  EXPECT_TRUE(host.emitted.empty());

  const uint64_t id = host.request("POST", {}, delivered + "&md5=C81577335EB91C24D363645F1C3DB008");
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].type, "message.delivered");
  EXPECT_EQ(host.emitted[0].id, "smsc:shop:4071:79131234567:1");
  json payload = json::parse(host.emitted[0].payload);
  EXPECT_EQ(payload["data"], (json{{"message_id", "4071"}, {"status", "delivered"}, {"status_code", 1}}));
  EXPECT_EQ(payload["contact"]["phones"][0]["number"], "+79131234567");
  EXPECT_EQ(payload["time"], "2026-06-26T10:31:33Z");
  EXPECT_FALSE(host.responses.count(id)) << "answered before the report was stored";
  host.finish_emit(0, SB_OK, host.emitted[0].id);
  EXPECT_EQ(host.responses.at(id).status, 200);

  // Cannot be delivered (20), with the operator's error: message.undelivered. Not stored: 503.
  const uint64_t failed =
      host.request("POST", {}, "id=4072&phone=79131234568&status=20&err=1&md5=4b54de75ceea7d9369b1b2e46c34cb5e");
  ASSERT_EQ(host.emitted.size(), 2u);
  EXPECT_EQ(host.emitted[1].type, "message.undelivered");
  payload = json::parse(host.emitted[1].payload);
  EXPECT_EQ(payload["data"]["status_code"], 20);
  EXPECT_EQ(payload["data"]["error_code"], 1);
  host.finish_emit(1, SB_ERR_UNAVAILABLE, "", "store down");
  EXPECT_EQ(host.responses.at(failed).status, 503);
  // Signed with SHA-1 alone.
  const uint64_t by_sha1 = host.request("POST", {}, delivered + "&sha1=98067ca9b3e693c5781b73514217993c2f49d260");
  ASSERT_EQ(host.emitted.size(), 3u);
  EXPECT_EQ(host.emitted[2].id, "smsc:shop:4071:79131234567:1");  // the same report again: a duplicate
  host.finish_emit(2, SB_OK, host.emitted[2].id);
  EXPECT_EQ(host.responses.at(by_sha1).status, 200);
  // Refused for good (its id is another source's event's): settled, not
  // answered 503 for SMSC.ru to deliver again and again.
  const uint64_t taken = host.request("POST", {}, delivered + "&sha1=98067ca9b3e693c5781b73514217993c2f49d260");
  ASSERT_EQ(host.emitted.size(), 4u);
  host.finish_emit(3, SB_ERR_INVALID_ARGUMENT, "", "the event id is taken by an event from another source");
  EXPECT_EQ(host.responses.at(taken).status, 200);
  host.emitted.pop_back();

  // "СТОП" to the account's number: the reply, and the contact's opt-out.
  const uint64_t reply = host.request("POST", {},
                                      "phone=79131234567&mes=%D0%A1%D0%A2%D0%9E%D0%9F&to=79001112233&ts=1782469900"
                                      "&md5=ce931e1c8bb0dd48a3408df4da990da5");
  ASSERT_EQ(host.emitted.size(), 5u);
  EXPECT_EQ(host.emitted[3].type, "message.received");
  payload = json::parse(host.emitted[3].payload);
  EXPECT_EQ(payload["data"]["text"], "СТОП");
  EXPECT_EQ(payload["data"]["from"], "+79131234567");
  EXPECT_EQ(payload["data"]["to"], "79001112233");
  EXPECT_EQ(host.emitted[4].type, "contact.unsubscribed");
  host.finish_emit(3, SB_OK, host.emitted[3].id);
  host.finish_emit(4, SB_OK, host.emitted[4].id);
  EXPECT_EQ(host.responses.at(reply).status, 200);

  // SMSC.ru's default charset is windows-1251 ("СТОП" is D1 D2 CE CF there),
  // signed over those bytes: the same text, the same opt-out.
  const uint64_t cp1251 = host.request("POST", {},
                                       "phone=79131234567&mes=%D1%D2%CE%CF&to=79001112233&ts=1782469950"
                                       "&md5=304624260c41423a399b943cbd6e3882");
  ASSERT_EQ(host.emitted.size(), 7u);
  EXPECT_EQ(json::parse(host.emitted[5].payload)["data"]["text"], "СТОП");
  EXPECT_EQ(host.emitted[6].type, "contact.unsubscribed");
  host.finish_emit(5, SB_OK, host.emitted[5].id);
  host.finish_emit(6, SB_OK, host.emitted[6].id);
  EXPECT_EQ(host.responses.at(cp1251).status, 200);
}

// SMS.ru posts data[N] entries and hash = sha256(api_id + entries); the
// handler answers "100" once the reports are stored. The hash below was
// computed independently with Python's hashlib.
TEST_F(SmsPluginTest, SignedSmsRuReportsBecomeMessageEventsAnsweredWith100) {
  auto instance = create(R"({"gateway": "smsru", "api_id": "API-1", "callback_path": "smsru-status"})");
  EXPECT_EQ(host.declared, (std::vector<std::string>{"message.*", "contact.unsubscribed", "contact.resubscribed"}));
  const std::string entries =
      "data%5B1%5D=sms_status%0A000000-10000001%0A104%0A1782469900"
      "&data%5B0%5D=sms_status%0A000000-10000000%0A103%0A1782469893&data%5B2%5D=test%0A1782469901";
  const std::string hash = "b91bfb167df0b8187cf9240d78895fc9e13249db942d58cdcabb0c949922ba25";
  const uint64_t unsigned_post = host.request("POST", {}, entries);
  EXPECT_EQ(host.responses.at(unsigned_post).status, 401);
  const uint64_t forged = host.request("POST", {}, entries + "&hash=" + std::string(64, '0'));
  EXPECT_EQ(host.responses.at(forged).status, 401);
  const uint64_t not_smsru = host.request("POST", {}, "MessageSid=SM1&MessageStatus=delivered");
  EXPECT_EQ(host.responses.at(not_smsru).status, 400);
  EXPECT_EQ(json::parse(host.responses.at(not_smsru).body)["error"],
            json({{"code", "bad_request"}, {"message", "no data[N] entries"}}));
  EXPECT_EQ(json::parse(host.responses.at(forged).body)["error"]["message"], "hash does not match");
  EXPECT_TRUE(host.emitted.empty());

  const uint64_t id = host.request("POST", {}, entries + "&hash=" + hash);
  ASSERT_EQ(host.emitted.size(), 2u);  // the heartbeat is no event
  EXPECT_EQ(host.emitted[0].type, "message.delivered");
  EXPECT_EQ(host.emitted[0].id, "000000-10000000:delivered");
  EXPECT_EQ(json::parse(host.emitted[0].payload)["data"]["message_id"], "000000-10000000");
  EXPECT_EQ(host.emitted[1].type, "message.undelivered");
  EXPECT_EQ(json::parse(host.emitted[1].payload)["data"]["status_code"], 104);
  host.finish_emit(0, SB_OK, host.emitted[0].id);
  EXPECT_FALSE(host.responses.count(id)) << "answered before every report was stored";
  host.finish_emit(1, SB_OK, host.emitted[1].id);
  EXPECT_EQ(host.responses.at(id).status, 200);
  EXPECT_EQ(host.responses.at(id).body, "100");

  // Not stored: not "100", so SMS.ru sends it again.
  const uint64_t again = host.request("POST", {}, entries + "&hash=" + hash);
  host.finish_emit(2, SB_ERR_UNAVAILABLE, "", "store down");
  host.finish_emit(3, SB_OK, host.emitted[3].id);
  EXPECT_EQ(host.responses.at(again).status, 503);
  EXPECT_NE(host.responses.at(again).body, "100");

  // A heartbeat alone: "100", nothing emitted.
  const uint64_t heartbeat = host.request(
      "POST", {},
      "data%5B0%5D=test%0A1782469901&hash=f17c15a828c8e58161b829d09356bd6bb1b8d4a54b2f1dd078a31cfc14e7e58b");
  EXPECT_EQ(host.responses.at(heartbeat).status, 200);
  EXPECT_EQ(host.responses.at(heartbeat).body, "100");
  EXPECT_EQ(host.emitted.size(), 4u);
}

}  // namespace
