// Channel fallback through the real plugins: push (the contact has no device
// token) -> WhatsApp (the Cloud API emulator says the number is not on
// WhatsApp) -> SMS (the SMS.ru emulator delivers). The history names each
// hand-over and the channel that delivered.
#include <gtest/gtest.h>

#include <thread>

#include "integration/test_support.h"

namespace sb::test {
namespace {

using nlohmann::json;

TEST(FallbackEndToEnd, PushThenWhatsAppThenSms) {
  ::setenv("SB_TEST_FALLBACK_ADMIN", "fallback-admin", 1);
  HttpSink cloud_api(400, R"({"error":{"message":"Message Undeliverable.","type":"OAuthException","code":131026,
                                       "fbtrace_id":"A1"}})");
  HttpSink sms_ru(200, R"({"status":"OK","status_code":100,"sms":{"79990001122":{"status":"OK","status_code":100,
                           "sms_id":"202411-1"}},"balance":10})");
  const json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"admin", {{"env", "SB_TEST_FALLBACK_ADMIN"}}}}},
      {"api", {{"admin_tokens", {{{"$secret", "admin"}}}}}},
      {"instances",
       {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
        {"push", {{"plugin", "push"}, {"config", {{"dry_run", true}}}}},
        {"wa",
         {{"plugin", "whatsapp"},
          {"config", {{"phone_number_id", "1065"}, {"access_token", "t"}, {"base_url", cloud_api.url()}}}}},
        {"sms",
         {{"plugin", "sms"},
          {"config",
           {{"gateway", "smsru"}, {"api_id", "k"}, {"base_url", sms_ru.url()}, {"default_country", "RU"}}}}}}},
      {"rules", json::parse(R"([{
        "name": "reach", "trigger": {"event": "webhook.received", "source": "inbox"},
        "steps": [{"fallback": [
          {"name": "push", "action": "push.send", "params": {"token": "{{body.fcm_token|}}", "title": "Скидка"}},
          {"name": "whatsapp", "action": "wa.send_text", "params": {"to": "{{body.phone}}", "text": "Скидка"}},
          {"name": "sms", "action": "sms.send", "params": {"to": "{{body.phone}}", "text": "Скидка"}}]}]}])")}};
  HostProcess host(config);

  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", R"({"phone": "+79990001122"})").status, 202);
  ASSERT_EQ(sms_ru.wait_for(1).size(), 1u) << host.log();
  EXPECT_EQ(cloud_api.count(), 1u);
  json history;
  for (int i = 0; i < 500; ++i) {  // up to 10 s: the execution records its end after the SMS is sent
    const json list = http_request(host.port(), "GET", "/api/v1/executions?rule=reach", "",
                                   {{"Authorization", "Bearer fallback-admin"}})
                          .json();
    if (list.is_object() && !list["executions"].empty() && list["executions"][0]["state"] == "done") {
      history = http_request(host.port(), "GET", "/api/v1/executions/" + list["executions"][0]["id"].dump(), "",
                             {{"Authorization", "Bearer fallback-admin"}})
                    .json()["history"];
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(history.size(), 3u) << history.dump();
  EXPECT_EQ(history[0]["step"], "push");
  EXPECT_EQ(history[0]["outcome"], "unreachable");
  EXPECT_EQ(history[0]["fallback_to"], "whatsapp");
  EXPECT_EQ(history[1]["outcome"], "unreachable");
  EXPECT_EQ(history[1]["provider_code"], "131026");
  EXPECT_EQ(history[1]["fallback_to"], "sms");
  EXPECT_EQ(history[2]["step"], "sms");
  EXPECT_EQ(history[2]["outcome"], "done");
  EXPECT_EQ(history[2]["external_id"], "202411-1");
}

}  // namespace
}  // namespace sb::test
