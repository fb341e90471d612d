// The push and sms plugins over real sockets, through the host, each against
// a local emulator of its provider: FCM (the OAuth token endpoint, then
// messages:send with the token), Twilio (Messages.json with Basic auth) and
// SMSC.ru (send.php). The emulators refuse what their providers refuse
// (integration/provider_emulators.h) and record what arrived; the test checks
// it against the providers' documented wire formats.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <map>
#include <memory>
#include <thread>

#include "base64.h"
#include "integration/provider_emulators.h"
#include "integration/test_support.h"
#include "plugins/rsa_test_key.h"

namespace sb::test {
namespace {

using nlohmann::json;

const RecordedRequest* find(const std::vector<RecordedRequest>& all, const std::string& path) {
  for (const auto& r : all)
    if (r.uri == path) return &r;
  return nullptr;
}

// The sms instance on the Twilio emulator's account, with `auth_token`.
json twilio_instance(const HttpSink& twilio, const std::string& auth_token = "tok") {
  return {{"plugin", "sms"},
          {"config",
           {{"gateway", "twilio"},
            {"account_sid", "AC0123456789abcdef0123456789abcdef"},
            {"auth_token", auth_token},
            {"sender", "+15017122661"},
            {"base_url", twilio.url()}}}};
}

TEST(ChannelsEndToEnd, PushTwilioAndSmscSpeakTheirProvidersWireFormats) {
  HttpSink fcm(200, R"({"name":"projects/shop-app/messages/0:1"})");
  fcm.answer("/token", 200, R"({"access_token":"ya29.e2e","expires_in":3599,"token_type":"Bearer"})");
  fcm.check(sb::test::fcm("shop-app", "fcm@shop-app.iam.gserviceaccount.com", fcm.url() + "/token", "ya29.e2e"));
  HttpSink twilio(201, R"({"sid":"SM00000000000000000000000000000001","status":"queued","num_segments":"1"})");
  HttpSink smsc(200, R"({"id":7,"cnt":1})");
  twilio.check(twilio_messages("AC0123456789abcdef0123456789abcdef", "tok"));
  const json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"instances",
       {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
        {"push",
         {{"plugin", "push"},
          {"config",
           {{"project_id", "shop-app"},
            {"client_email", "fcm@shop-app.iam.gserviceaccount.com"},
            {"private_key", fake::test_key().private_pem},
            {"token_url", fcm.url() + "/token"},
            {"base_url", fcm.url()}}}}},
        {"twilio", twilio_instance(twilio)},
        {"smsc",
         {{"plugin", "sms"},
          {"config", {{"gateway", "smsc"}, {"login", "shop"}, {"password", "pw"}, {"base_url", smsc.url()}}}}}}},
      {"rules", json::parse(R"([{"name": "notify", "trigger": {"event": "webhook.received", "source": "inbox"},
        "steps": [{"parallel": [
          [{"action": "push.send", "params": {"token": "{{body.token}}", "title": "Заказ готов"}}],
          [{"action": "twilio.send", "params": {"to": "{{body.phone}}", "text": "Order ready"}}],
          [{"action": "smsc.send", "params": {"to": "{{body.phone}}", "text": "Заказ готов"}}]]}]}])")}};
  HostProcess host(config);
  ASSERT_EQ(
      http_request(host.port(), "POST", "/webhooks/inbox", R"({"token":"device-1","phone":"+14155552671"})").status,
      202);

  const auto fcm_requests = fcm.wait_for(2);
  ASSERT_EQ(fcm_requests.size(), 2u) << host.log();
  const RecordedRequest* exchange = find(fcm_requests, "/token");
  ASSERT_TRUE(exchange);
  EXPECT_EQ(exchange->headers.at("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(exchange->body.rfind("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=ey", 0),
            0u);
  const RecordedRequest* send = find(fcm_requests, "/v1/projects/shop-app/messages:send");
  ASSERT_TRUE(send);
  EXPECT_EQ(send->headers.at("authorization"), "Bearer ya29.e2e");
  EXPECT_EQ(json::parse(send->body),
            json::parse(R"({"message":{"token":"device-1","notification":{"title":"Заказ готов"}}})"));

  const auto texts = twilio.wait_for(1);
  ASSERT_EQ(texts.size(), 1u) << host.log();
  EXPECT_EQ(texts[0].uri, "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json");
  EXPECT_EQ(texts[0].headers.at("authorization"), "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2s=");
  EXPECT_EQ(texts[0].body, "To=%2B14155552671&Body=Order%20ready&From=%2B15017122661");

  const auto smsc_requests = smsc.wait_for(1);
  ASSERT_EQ(smsc_requests.size(), 1u) << host.log();
  EXPECT_EQ(smsc_requests[0].uri, "/sys/send.php");
  EXPECT_EQ(smsc_requests[0].body,
            "login=shop&psw=pw&phones=14155552671&mes=%D0%97%D0%B0%D0%BA%D0%B0%D0%B7%20%D0%B3%D0%BE%D1%82%D0%BE%D0%B2&"
            "fmt=3&charset=utf-8");
  EXPECT_EQ(host.log().find("\"pw\""), std::string::npos);
}

// A site's form posts its own shape; the webhook instance says where the
// person and the lead are in it. The lead entering its status sets off the
// rule, and the SMS goes to the person's number without the step naming it,
// greeting them by the name the host now knows.
TEST(ChannelsEndToEnd, AWebhooksMappedContactAndLeadDriveAStatusRuleAndItsSms) {
  HttpSink twilio(201, R"({"sid":"SM00000000000000000000000000000002","status":"queued","num_segments":"1"})");
  twilio.check(twilio_messages("AC0123456789abcdef0123456789abcdef", "tok"));
  const json config{{"plugin_dirs", {SB_PLUGIN_DIR}},
                    {"instances",
                     {{"site", {{"plugin", "webhook"}, {"config", json::parse(R"({"event_type": "lead.created",
             "contact": {"id": "/form/client_id", "name": "/form/name", "phone": "/form/phone"},
             "entity": {"type": "lead", "id": "/form/lead_id", "status": "/form/stage"}})")}}},
                      {"twilio", twilio_instance(twilio)}}},
                    {"rules", json::parse(R"([{"name": "welcome", "trigger": {"entity": "lead", "status": "new"},
        "steps": [{"action": "twilio.send", "params": {"text": "Hello {{contact.name}}"}}]}])")}};
  HostProcess host(config);
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/site",
                         R"({"form": {"client_id": 501, "name": "Ivan", "phone": "+14155552671", "lead_id": "L-9",
                            "stage": "new"}})")
                .status,
            202);
  const auto texts = twilio.wait_for(1);
  ASSERT_EQ(texts.size(), 1u) << host.log();
  EXPECT_EQ(texts[0].body, "To=%2B14155552671&Body=Hello%20Ivan&From=%2B15017122661");
  // The same lead again in the same status is no entry: nothing more is sent.
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/site",
                         R"({"form": {"client_id": 501, "lead_id": "L-9", "stage": "new"}})")
                .status,
            202);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(twilio.count(), 1u);
}

// Bitrix24's outgoing webhook posts a form: the deal's event kind maps to
// the rule's trigger, the portal's token is checked, and the contact the
// form names gets the SMS.
TEST(ChannelsEndToEnd, ABitrix24FormWebhookDrivesItsRule) {
  HttpSink twilio(201, R"({"sid":"SM00000000000000000000000000000003","status":"queued","num_segments":"1"})");
  twilio.check(twilio_messages("AC0123456789abcdef0123456789abcdef", "tok"));
  const json config{{"plugin_dirs", {SB_PLUGIN_DIR}},
                    {"instances",
                     {{"b24", {{"plugin", "webhook"}, {"config", json::parse(R"({"event_type": "bitrix.event",
             "event_type_from": "/event", "event_types": {"ONCRMDEALUPDATE": "deal.updated"},
             "body_token": {"at": "/auth/application_token", "token": "portal-token"},
             "contact": {"id": "/data/FIELDS/CONTACT_ID", "phone": "/data/FIELDS/PHONE"},
             "entity": {"type": "deal", "id": "/data/FIELDS/ID"}})")}}},
                      {"twilio", twilio_instance(twilio)}}},
                    {"rules", json::parse(R"([{"name": "deal changed", "trigger": {"event": "deal.updated"},
        "steps": [{"action": "twilio.send", "params": {"text": "Deal {{entity.id}} updated"}}]}])")}};
  HostProcess host(config);
  const std::map<std::string, std::string> form{{"Content-Type", "application/x-www-form-urlencoded"}};
  const std::string fields =
      "event=ONCRMDEALUPDATE&data[FIELDS][ID]=77&data[FIELDS][CONTACT_ID]=5"
      "&data[FIELDS][PHONE]=%2B14155552671&auth[domain]=shop.bitrix24.ru";
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/b24", fields + "&auth[application_token]=other", form).status,
            401);
  ASSERT_EQ(
      http_request(host.port(), "POST", "/webhooks/b24", fields + "&auth[application_token]=portal-token", form).status,
      202);
  const auto texts = twilio.wait_for(1);
  ASSERT_EQ(texts.size(), 1u) << host.log();
  EXPECT_EQ(texts[0].body, "To=%2B14155552671&Body=Deal%2077%20updated&From=%2B15017122661");
}

// Zadarma joins the client to a manager's extension, signed as its official
// client signs it (the emulator checks by its own steps); its PBX notifies
// of the call's end, signed, and "not answered -> SMS" sends the text.
TEST(ChannelsEndToEnd, ZadarmaConnectsTheClientAndItsNoAnswerSendsAnSms) {
  HttpSink zadarma(200, "{}");
  zadarma.check(zadarma_callback("zd-key", "zd-secret"));
  HttpSink twilio(201, R"({"sid":"SM00000000000000000000000000000004","status":"queued","num_segments":"1"})");
  twilio.check(twilio_messages("AC0123456789abcdef0123456789abcdef", "tok"));
  const json config{{"plugin_dirs", {SB_PLUGIN_DIR}},
                    {"instances",
                     {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
                      {"phone",
                       {{"plugin", "telephony"},
                        {"config",
                         {{"provider", "zadarma"},
                          {"api_key", "zd-key"},
                          {"api_secret", "zd-secret"},
                          {"from", "+14155550100"},
                          {"callback_path", "zadarma"},
                          {"sip", "ext 100~1"},  // signed sorted and encoded as PHP does: a space, a tilde
                          {"base_url", zadarma.url()}}}}},
                      {"twilio", twilio_instance(twilio)}}},
                    {"rules", json::parse(R"([
        {"name": "call", "trigger": {"event": "webhook.received", "source": "inbox"},
         "steps": [{"action": "phone.connect", "params": {"to": "{{body.phone}}", "connect": "101"}}]},
        {"name": "missed", "trigger": {"event": "call.no_answer"},
         "steps": [{"action": "twilio.send", "params": {"to": "{{data.to}}", "text": "We called you"}}]}])")}};
  HostProcess host(config);
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", R"({"phone":"+14155552671"})").status, 202);
  const auto calls = zadarma.wait_for(1);
  ASSERT_EQ(calls.size(), 1u) << host.log();
  EXPECT_EQ(calls[0].uri, "/v1/request/callback/?format=json&from=101&predicted=1&sip=ext+100%7E1&to=14155552671");
  // The end of that call, signed over the extension, the number and the start.
  const std::string start = "2026-12-06 18:00:00", signed_fields = "101" + std::string("14155552671") + start;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha1(), "zd-secret", 9, reinterpret_cast<const unsigned char*>(signed_fields.data()), signed_fields.size(),
       mac, &n);
  std::string hex;
  for (unsigned i = 0; i < n; ++i) hex += {"0123456789abcdef"[mac[i] >> 4], "0123456789abcdef"[mac[i] & 15]};
  const std::string end =
      "event=NOTIFY_OUT_END&call_start=2026-12-06+18%3A00%3A00&pbx_call_id=out_1&caller_id=14155550100"
      "&destination=14155552671&internal=101&duration=0&disposition=no+answer&status_code=19";
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/zadarma", end,
                         {{"Content-Type", "application/x-www-form-urlencoded"}, {"Signature", "forged"}})
                .status,
            401);
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/zadarma", end,
                         {{"Content-Type", "application/x-www-form-urlencoded"},
                          {"Signature", switchboard_plugins::base64(hex)}})
                .status,
            200);
  const auto texts = twilio.wait_for(1);
  ASSERT_EQ(texts.size(), 1u) << host.log();
  EXPECT_EQ(texts[0].body, "To=%2B14155552671&Body=We%20called%20you&From=%2B15017122661");
}

// The emulators refuse what their providers refuse: credentials that are
// not the account's get the provider's own error, and the step fails for
// good with its words (no retry would cure them).
TEST(ChannelsEndToEnd, WrongCredentialsAreRefusedInEachProvidersWords) {
  ::setenv("SB_TEST_CHANNELS_ADMIN", "channels-admin", 1);
  HttpSink cloud_api(200, R"({"messages":[{"id":"wamid.X"}]})");
  cloud_api.check(whatsapp_cloud_api("EAAG-right", "1065"));
  HttpSink smsru(200, R"({"status":"OK","status_code":100,"sms":{}})");
  smsru.check(sms_ru_checks("right-api-id"));
  HttpSink twilio(201, R"({"sid":"SM1","status":"queued"})");
  twilio.check(twilio_messages("AC0123456789abcdef0123456789abcdef", "right-token"));
  HttpSink google(200, R"({"name":"projects/shop-app/messages/0:1"})");
  google.answer("/token", 200, R"({"access_token":"ya29.right","expires_in":3599,"token_type":"Bearer"})");
  google.check(fcm("shop-app", "fcm@shop-app.iam.gserviceaccount.com", google.url() + "/token", "ya29.right"));
  const fake::Key not_the_accounts;  // a key of its own, not the service account's
  const auto rule = [](const std::string& instance) {
    const json params = instance == "push" ? json{{"token", "device-1"}, {"title", "Заказ готов"}}
                                           : json{{"to", "{{body.phone}}"}, {"text", "Заказ готов"}};
    return json{{"name", instance},
                {"trigger", {{"event", "webhook.received"}, {"source", "inbox"}}},
                {"steps", {{{"action", instance + (instance == "wa" ? ".send_text" : ".send")}, {"params", params}}}}};
  };
  const json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"admin", {{"env", "SB_TEST_CHANNELS_ADMIN"}}}}},
      {"api", {{"admin_tokens", {{{"$secret", "admin"}}}}}},
      {"instances",
       {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
        {"wa",
         {{"plugin", "whatsapp"},
          {"config", {{"phone_number_id", "1065"}, {"access_token", "EAAG-wrong"}, {"base_url", cloud_api.url()}}}}},
        {"smsru",
         {{"plugin", "sms"}, {"config", {{"gateway", "smsru"}, {"api_id", "wrong"}, {"base_url", smsru.url()}}}}},
        {"twilio", twilio_instance(twilio, "wrong-token")},
        {"push",
         {{"plugin", "push"},
          {"config",
           {{"project_id", "shop-app"},
            {"client_email", "fcm@shop-app.iam.gserviceaccount.com"},
            {"private_key", not_the_accounts.private_pem},
            {"token_url", google.url() + "/token"},
            {"base_url", google.url()}}}}}}},
      {"rules", {rule("wa"), rule("smsru"), rule("twilio"), rule("push")}}};
  HostProcess host(config);
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", R"({"phone":"+79990001122"})").status, 202);
  json failed;
  for (int i = 0; i < 500; ++i) {
    failed = http_request(host.port(), "GET", "/api/v1/executions?state=failed", "",
                          {{"Authorization", "Bearer channels-admin"}})
                 .json();
    if (failed["executions"].size() == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(failed["executions"].size(), 4u) << failed.dump() << host.log();
  std::map<std::string, std::string> errors;
  for (const json& e : failed["executions"]) errors[e["rule"]] = e["error"];
  EXPECT_NE(errors["wa"].find("Invalid OAuth access token"), std::string::npos) << errors["wa"];
  EXPECT_NE(errors["smsru"].find("Неправильный api_id"), std::string::npos) << errors["smsru"];
  EXPECT_NE(errors["twilio"].find("Authenticate"), std::string::npos) << errors["twilio"];
  EXPECT_NE(errors["push"].find("invalid_grant"), std::string::npos) << errors["push"];
  // Each provider was asked once: refused credentials are not retried.
  EXPECT_EQ(cloud_api.count(), 1u);
  EXPECT_EQ(smsru.count(), 1u);
  EXPECT_EQ(twilio.count(), 1u);
  EXPECT_EQ(google.count(), 1u);  // the token exchange; no send without a token
}

std::string sha256_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < length; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

// SMS.ru: the text goes out, SMS.ru's delivery report comes to the
// instance's callback (signed with the api_id), and the rule that waited
// for it goes on: "delivered? then tell the manager".
TEST(ChannelsEndToEnd, AnSmsRuDeliveryReportEndsTheWaitForIt) {
  HttpSink smsru(200, R"({"status":"OK","status_code":100,"sms":{"79990001122":{"status":"OK","status_code":100,
      "sms_id":"000000-10000042"}},"balance":10})");
  smsru.check(sms_ru_checks("API-e2e"));
  HttpSink manager;
  const json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"instances",
       {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
        {"notify", {{"plugin", "http"}, {"config", {{"base_url", manager.url()}}}}},
        {"sms",
         {{"plugin", "sms"},
          {"config",
           {{"gateway", "smsru"},
            {"api_id", "API-e2e"},
            {"base_url", smsru.url()},
            {"callback_path", "smsru-status"}}}}}}},
      {"rules", json::parse(R"([{"name": "confirm", "trigger": {"event": "webhook.received", "source": "inbox"},
        "steps": [{"name": "text", "action": "sms.send", "params": {"to": "{{body.phone}}", "text": "Запись подтверждена"}},
                  {"wait_for": "message.delivered", "match": {"data.message_id": "{{steps.text.external_id}}"},
                   "timeout": "1h",
                   "then": [{"action": "notify.post", "params": {"url": "/delivered", "body": {"id": "{{steps.text.external_id}}"}}}],
                   "else": [{"action": "notify.post", "params": {"url": "/not-delivered", "body": {}}}]}]}])")}};
  HostProcess host(config);
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", R"({"phone":"+79990001122"})").status, 202);
  const auto sent = smsru.wait_for(1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  EXPECT_EQ(sent[0].uri, "/sms/send");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the step's result stored, the wait begun
  EXPECT_EQ(manager.count(), 0u);

  const std::string queued = "sms_status\n000000-10000042\n102\n1782469893";
  const std::string delivered = "sms_status\n000000-10000042\n103\n1782469899";
  const auto encoded = [](std::string text) {  // a form value: the newlines as %0A
    for (size_t at; (at = text.find('\n')) != std::string::npos;) text.replace(at, 1, "%0A");
    return text;
  };
  const auto form = [&](const std::string& hash) {
    return "data%5B0%5D=" + encoded(queued) + "&data%5B1%5D=" + encoded(delivered) + "&hash=" + hash;
  };
  const std::string hash = sha256_hex("API-e2e" + queued + delivered);
  const HttpResult forged = http_request(host.port(), "POST", "/webhooks/smsru-status", form(std::string(64, 'a')),
                                         {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(forged.status, 401);
  const HttpResult report = http_request(host.port(), "POST", "/webhooks/smsru-status", form(hash),
                                         {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(report.status, 200);
  EXPECT_EQ(report.body, "100");
  const auto told = manager.wait_for(1);
  ASSERT_EQ(told.size(), 1u) << host.log();
  EXPECT_EQ(told[0].uri, "/delivered");
  EXPECT_EQ(json::parse(told[0].body)["id"], "000000-10000042");
  EXPECT_EQ(host.log().find("API-e2e"), std::string::npos);
}

}  // namespace
}  // namespace sb::test
