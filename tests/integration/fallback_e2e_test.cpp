// Channel fallback through the real plugins: push (the contact has no device
// token) -> WhatsApp (the Cloud API emulator says the number is not on
// WhatsApp) -> SMS (the SMS.ru emulator delivers). The history names each
// hand-over and the channel that delivered.
#include <gtest/gtest.h>

#include <thread>

#include "integration/provider_emulators.h"
#include "integration/test_support.h"

namespace sb::test {
namespace {

using nlohmann::json;

// SMS.ru's answer to a message it took.
constexpr char kSmsRuSent[] = R"({"status":"OK","status_code":100,"sms":{"79990001122":{"status":"OK","status_code":100,
                           "sms_id":"202411-1"}},"balance":10})";

// `others` with a WhatsApp instance "wa" on the Cloud API emulator and an
// SMS instance "sms" on the SMS.ru one.
json channels(HttpSink& cloud_api, HttpSink& sms_ru, json others) {
  cloud_api.check(whatsapp_cloud_api("t", "1065"));
  sms_ru.check(sms_ru_checks("k"));
  others["wa"] = {{"plugin", "whatsapp"},
                  {"config", {{"phone_number_id", "1065"}, {"access_token", "t"}, {"base_url", cloud_api.url()}}}};
  others["sms"] = {
      {"plugin", "sms"},
      {"config", {{"gateway", "smsru"}, {"api_id", "k"}, {"base_url", sms_ru.url()}, {"default_country", "RU"}}}};
  return others;
}

TEST(FallbackEndToEnd, PushThenWhatsAppThenSms) {
  ::setenv("SB_TEST_FALLBACK_ADMIN", "fallback-admin", 1);
  HttpSink cloud_api(400, R"({"error":{"message":"Message Undeliverable.","type":"OAuthException","code":131026,
                                       "fbtrace_id":"A1"}})");
  HttpSink sms_ru(200, kSmsRuSent);
  const json config{{"plugin_dirs", {SB_PLUGIN_DIR}},
                    {"secrets", {{"admin", {{"env", "SB_TEST_FALLBACK_ADMIN"}}}}},
                    {"api", {{"admin_tokens", {{{"$secret", "admin"}}}}}},
                    {"instances", channels(cloud_api, sms_ru,
                                           {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
                                            {"push", {{"plugin", "push"}, {"config", {{"dry_run", true}}}}}})},
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
  EXPECT_EQ(history[1]["outcome"], "permanent");
  EXPECT_EQ(history[1]["provider_code"], "131026");
  EXPECT_EQ(history[1]["fallback_to"], "sms");
  EXPECT_EQ(history[2]["step"], "sms");
  EXPECT_EQ(history[2]["outcome"], "done");
  EXPECT_EQ(history[2]["external_id"], "202411-1");
}

// WhatsApp takes a message for a number it cannot reach and says so later
// (a "failed" status): with "delivered_within" the chain waits for the
// report. A failure, or no report in time, moves on to SMS; a delivery ends
// the chain.
TEST(FallbackEndToEnd, AChannelThatMustConfirmDeliveryFallsBackOnALateFailureOrSilence) {
  ::setenv("SB_TEST_CONFIRM_ADMIN", "confirm-admin", 1);
  ::setenv("SB_TEST_CONFIRM_EVENTS", "confirm-events", 1);
  const auto sent = [](const std::string& wamid) {
    return R"({"messaging_product":"whatsapp","contacts":[{"input":"+79990001122","wa_id":"79990001122"}],)"
           R"("messages":[{"id":")" +
           wamid + R"("}]})";
  };
  HttpSink cloud_api(200, sent("wamid.A"));
  HttpSink sms_ru(200, kSmsRuSent);
  const auto rule = [](const std::string& name, const std::string& source, const std::string& within) {
    return json{{"name", name},
                {"trigger", {{"event", "webhook.received"}, {"source", source}}},
                {"steps",
                 {{{"fallback",
                    {{{"name", "whatsapp"},
                      {"action", "wa.send_text"},
                      {"params", {{"to", "{{body.phone}}"}, {"text", "Скидка"}}},
                      {"delivered_within", within}},
                     {{"name", "sms"},
                      {"action", "sms.send"},
                      {"params", {{"to", "{{body.phone}}"}, {"text", "Скидка"}}}}}}}}}};
  };
  const json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"admin", {{"env", "SB_TEST_CONFIRM_ADMIN"}}}, {"events", {{"env", "SB_TEST_CONFIRM_EVENTS"}}}}},
      {"api", {{"admin_tokens", {{{"$secret", "admin"}}}}, {"event_tokens", {{{"$secret", "events"}}}}}},
      {"instances",
       channels(cloud_api, sms_ru,
                {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
                 {"hurry", {{"plugin", "webhook"}, {"config", {{"path", "hurry"}}}}},
                 {"now", {{"plugin", "webhook"}, {"config", {{"path", "now"}, {"respond", "completed"}}}}}})},
      {"rules", {rule("reach", "inbox", "1h"), rule("hurry", "hurry", "2s"), rule("now", "now", "1h")}}};
  HostProcess host(config);
  const auto admin = [&](const std::string& path) {
    return http_request(host.port(), "GET", path, "", {{"Authorization", "Bearer confirm-admin"}}).json();
  };
  const auto state_of = [&](const std::string& event_id, const std::string& state) {
    json list;
    for (int i = 0; i < 500; ++i) {
      list = admin("/api/v1/executions?event_id=" + event_id);
      if (!list["executions"].empty() && list["executions"][0]["state"] == state) return list["executions"][0];
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << event_id << " never " << state << ": " << list.dump() << host.log();
    return json();
  };
  const auto report = [&](const std::string& wamid, const std::string& status) {
    const json event{{"id", wamid + ":" + status}, {"type", "message." + status}, {"data", {{"message_id", wamid}}}};
    ASSERT_EQ(
        http_request(host.port(), "POST", "/api/v1/events", event.dump(), {{"Authorization", "Bearer confirm-events"}})
            .status,
        202);
  };
  const auto offer = [&](const std::string& path, const std::string& id) {
    ASSERT_EQ(http_request(host.port(), "POST", path, R"({"phone": "+79990001122"})", {{"webhook-id", id}}).status,
              202);
  };

  // Sent, then reported failed: the SMS goes.
  offer("/webhooks/inbox", "o-1");
  state_of("o-1", "waiting");
  ASSERT_EQ(cloud_api.count(), 1u);
  EXPECT_EQ(sms_ru.count(), 0u);
  report("wamid.A", "failed");
  ASSERT_EQ(sms_ru.wait_for(1).size(), 1u) << host.log();
  const json history = admin("/api/v1/executions/" + state_of("o-1", "done")["id"].dump())["history"];
  ASSERT_EQ(history.size(), 4u) << history.dump();
  EXPECT_EQ(history[0]["step"], "whatsapp");
  EXPECT_EQ(history[0]["external_id"], "wamid.A");
  EXPECT_EQ(history[1]["step"], "delivery of whatsapp");
  EXPECT_EQ(history[1]["match"]["data.message_id"], "wamid.A");
  EXPECT_EQ(history[1]["event"], "message.delivered");  // a string, as before a wait took several
  EXPECT_EQ(history[1]["events"], json::array({"message.delivered", "message.read"}));
  EXPECT_EQ(history[2]["branch"], "else");
  EXPECT_EQ(history[2]["event"]["type"], "message.failed");
  EXPECT_EQ(history[3]["step"], "sms");
  EXPECT_EQ(history[3]["outcome"], "done");

  // Sent, then delivered: the chain ends there.
  const std::string messages_path = cloud_api.wait_for(1).at(0).uri;
  cloud_api.answer(messages_path, 200, sent("wamid.B"));
  offer("/webhooks/inbox", "o-2");
  state_of("o-2", "waiting");
  report("wamid.B", "delivered");
  state_of("o-2", "done");
  EXPECT_EQ(sms_ru.count(), 1u);

  // Sent, then reported read with no delivered report before it: read is
  // delivered too.
  cloud_api.answer(messages_path, 200, sent("wamid.R"));
  offer("/webhooks/inbox", "o-r");
  state_of("o-r", "waiting");
  report("wamid.R", "read");
  state_of("o-r", "done");
  EXPECT_EQ(sms_ru.count(), 1u);

  // Sent, and no word within its 2 s: the SMS goes.
  cloud_api.answer(messages_path, 200, sent("wamid.C"));
  offer("/webhooks/hurry", "o-3");
  ASSERT_EQ(sms_ru.wait_for(2, std::chrono::seconds(15)).size(), 2u) << host.log();
  state_of("o-3", "done");

  // A caller that holds the line for the result cannot wait for a report:
  // the channel's word is taken, and the SMS does not go too.
  const HttpResult now = http_request(host.port(), "POST", "/webhooks/now", R"({"phone": "+79990001122"})");
  ASSERT_EQ(now.status, 200) << now.body;
  EXPECT_NE(now.body.find("a route that answers with the rule's result does not wait for delivery reports"),
            std::string::npos)
      << now.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sms_ru.count(), 2u);
  EXPECT_EQ(cloud_api.count(), 5u);
}

}  // namespace
}  // namespace sb::test
