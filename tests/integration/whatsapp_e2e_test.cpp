// WhatsApp through the real host: an event sends a template to a local Cloud
// API emulator, the emulator's signed status reports come back through Meta's
// webhook, and a wait_for step on message.read takes the right branch.
#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <functional>
#include <thread>

#include "integration/provider_emulators.h"
#include "integration/test_support.h"

namespace sb::test {
namespace {

using nlohmann::json;

constexpr char kAppSecret[] = "e2e-app-secret";

std::string signature(const std::string& body) {
  unsigned char digest[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), kAppSecret, sizeof(kAppSecret) - 1, reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), digest, &length);
  static const char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < length; ++i) out += {kHex[digest[i] >> 4], kHex[digest[i] & 15]};
  return out;
}

// Meta's webhook envelope around one change's value.
std::string notification(const json& value) {
  return json{{"object", "whatsapp_business_account"},
              {"entry", {{{"id", "WABA"}, {"changes", {{{"field", "messages"}, {"value", value}}}}}}}}
      .dump();
}

std::string status_report(const std::string& wamid, const std::string& status) {
  return notification(
      {{"messaging_product", "whatsapp"},
       {"statuses",
        {{{"id", wamid}, {"status", status}, {"timestamp", "1668595349"}, {"recipient_id", "79990001122"}}}}});
}

json config(const HttpSink& cloud_api, const HttpSink& tasks) {
  return json{{"plugin_dirs", {SB_PLUGIN_DIR}},
              {"instances",
               {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
                {"wa",
                 {{"plugin", "whatsapp"},
                  {"config",
                   {{"phone_number_id", "106540352242922"},
                    {"access_token", "EAAG-e2e"},
                    {"base_url", cloud_api.url()},
                    {"default_country", "RU"},
                    {"webhook", {{"path", "wa"}, {"verify_token", "verify-e2e"}, {"app_secret", kAppSecret}}}}}}},
                {"tasks", {{"plugin", "http"}, {"config", {{"base_url", tasks.url()}}}}}}},
              {"rules", json::parse(R"([{
        "name": "offer", "trigger": {"event": "webhook.received", "source": "inbox"},
        "steps": [
          {"name": "Offer", "action": "wa.send_template",
           "params": {"to": "{{body.phone}}", "template": "offer", "language": "ru", "body_parameters": ["{{body.name}}"]}},
          {"name": "Read", "wait_for": "message.read", "match": {"data.message_id": "{{steps.Offer.external_id}}"},
           "timeout": "1m",
           "then": [{"action": "tasks.post", "params": {"url": "/read", "body": {"who": "{{steps.Read.event.contact.phones.0.number}}"}}}],
           "else": [{"action": "tasks.post", "params": {"url": "/remind", "body": {}}}]}]}])")}};
}

TEST(WhatsAppEndToEnd, ATemplateIsSentAndItsReadReportTakesTheThenBranch) {
  HttpSink cloud_api(200, R"({"messaging_product":"whatsapp","contacts":[{"input":"79990001122","wa_id":"79990001122"}],
                             "messages":[{"id":"wamid.E2E"}]})");
  cloud_api.check(whatsapp_cloud_api("EAAG-e2e", "106540352242922"));
  HttpSink tasks;
  HostProcess host(config(cloud_api, tasks));

  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", R"({"phone":"8 999 000-11-22","name":"Иван"})").status,
            202);
  auto sent = cloud_api.wait_for(1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].uri, "/v25.0/106540352242922/messages");
  EXPECT_EQ(sent[0].headers["authorization"], "Bearer EAAG-e2e");
  EXPECT_EQ(sent[0].headers["content-type"], "application/json");
  const json body = json::parse(sent[0].body);
  EXPECT_EQ(body["to"], "79990001122");
  EXPECT_EQ(body["template"]["components"][0]["parameters"][0]["text"], "Иван");

  // Meta's handshake, then the reports: a forged one is refused.
  HttpResult handshake =
      http_request(host.port(), "GET", "/webhooks/wa?hub.mode=subscribe&hub.verify_token=verify-e2e&hub.challenge=42");
  EXPECT_EQ(handshake.status, 200);
  EXPECT_EQ(handshake.body, "42");
  const std::string read = status_report("wamid.E2E", "read");
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/wa", read, {{"X-Hub-Signature-256", "sha256=00"}}).status,
            401);
  const std::string delivered = status_report("wamid.E2E", "delivered");
  EXPECT_EQ(
      http_request(host.port(), "POST", "/webhooks/wa", delivered, {{"X-Hub-Signature-256", signature(delivered)}})
          .status,
      200);
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/wa", read, {{"X-Hub-Signature-256", signature(read)}}).status,
            200);

  auto done = tasks.wait_for(1);
  ASSERT_EQ(done.size(), 1u) << host.log();
  EXPECT_EQ(done[0].uri, "/read");
  EXPECT_EQ(json::parse(done[0].body), (json{{"who", "+79990001122"}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(tasks.count(), 1u);  // no reminder
  EXPECT_EQ(host.log().find(kAppSecret), std::string::npos);
}

std::string inbound_text(const std::string& wamid, const std::string& text) {
  return notification({{"messaging_product", "whatsapp"},
                       {"contacts", {{{"profile", {{"name", "Иван"}}}, {"wa_id", "79990001122"}}}},
                       {"messages",
                        {{{"from", "79990001122"},
                          {"id", wamid},
                          {"timestamp", "1668595349"},
                          {"type", "text"},
                          {"text", {{"body", text}}}}}}});
}

// "STOP" in WhatsApp opts the sender out of WhatsApp: the contact who wrote
// it (known by the phone) keeps the preference, and a later send to them is
// skipped; START lets them in again.
TEST(WhatsAppEndToEnd, StopRepliedInWhatsAppSkipsTheNextSendToThatContact) {
  HttpSink cloud_api(200, R"({"messaging_product":"whatsapp","contacts":[{"input":"79990001122","wa_id":"79990001122"}],
                             "messages":[{"id":"wamid.E2E"}]})");
  cloud_api.check(whatsapp_cloud_api("EAAG-e2e", "106540352242922"));
  HttpSink tasks;
  json cfg = config(cloud_api, tasks);
  ::setenv("SB_TEST_WA_EVENTS", "wa-events-token", 1);
  ::setenv("SB_TEST_WA_ADMIN", "wa-admin-token", 1);
  cfg["secrets"] = {{"events", {{"env", "SB_TEST_WA_EVENTS"}}}, {"admin", {{"env", "SB_TEST_WA_ADMIN"}}}};
  cfg["api"] = {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}};
  cfg["rules"] = json::parse(R"([{
      "name": "promo", "trigger": {"event": "promo.started"},
      "steps": [{"name": "Promo", "action": "wa.send_media", "params": {"media": "document", "url": "https://shop.test/promo.pdf",
                                                       "filename": "Скидка 20%.pdf", "caption": "Скидка 20%"}},
                {"wait_for": "message.read", "match": {"data.message_id": "{{steps.Promo.external_id}}"}, "timeout": "1d",
                 "else": [{"action": "tasks.post", "params": {"url": "/call", "body": {"event": "{{event.id}}"}}}]}]}])");
  HostProcess host(cfg);
  const auto promo = [&](const std::string& id) {
    const json event{{"id", id}, {"type", "promo.started"}, {"contact", {{"phones", {{{"number", "+79990001122"}}}}}}};
    return http_request(host.port(), "POST", "/api/v1/events", event.dump(),
                        {{"Authorization", "Bearer wa-events-token"}})
        .status;
  };
  const auto webhook = [&](const std::string& body) {
    return http_request(host.port(), "POST", "/webhooks/wa", body, {{"X-Hub-Signature-256", signature(body)}}).status;
  };
  const auto contact = [&] {
    return http_request(host.port(), "GET", "/api/v1/contacts/phone:%2B79990001122", "",
                        {{"Authorization", "Bearer wa-admin-token"}})
        .json();
  };
  const auto preference = [&] {
    const json c = contact();
    const json* p = c.is_object() && c.contains("data") ? &c["data"] : nullptr;
    return p && p->contains("preferences") ? (*p)["preferences"] : json();
  };
  const auto wait_until = [](const std::function<bool()>& ready) {
    for (int i = 0; i < 200 && !ready(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return ready();
  };

  ASSERT_EQ(promo("p-1"), 202);
  const auto sent = cloud_api.wait_for(1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  // A document, to the contact's own number (no "to": the automatic choice).
  EXPECT_EQ(json::parse(sent[0].body)["to"], "79990001122");
  EXPECT_EQ(json::parse(sent[0].body)["document"]["filename"], "Скидка 20%.pdf");

  ASSERT_EQ(webhook(inbound_text("wamid.IN1", "STOP")), 200);
  ASSERT_TRUE(wait_until([&] { return preference() == json{{"whatsapp", {{"all", false}}}}; })) << contact().dump();
  EXPECT_EQ(contact()["data"]["name"], "Иван");  // the profile name came with it
  ASSERT_EQ(promo("p-2"), 202);
  const auto skipped = [&] {
    const json list = http_request(host.port(), "GET", "/api/v1/executions?event_id=p-2", "",
                                   {{"Authorization", "Bearer wa-admin-token"}})
                          .json();
    return list.is_object() && !list["executions"].empty() && list["executions"][0]["state"] == "done";
  };
  ASSERT_TRUE(wait_until(skipped)) << host.log();
  // Nothing was sent, so no read report can come: the wait's else (a
  // manager's call) runs at once instead of the execution failing.
  const auto calls = tasks.wait_for(1);
  ASSERT_EQ(calls.size(), 1u) << host.log();
  EXPECT_EQ(json::parse(calls[0].body)["event"], "p-2");
  // The document went through the Cloud API's checks.
  const json first = http_request(host.port(), "GET", "/api/v1/executions?event_id=p-1", "",
                                  {{"Authorization", "Bearer wa-admin-token"}})
                         .json();
  EXPECT_EQ(first["executions"][0]["state"], "waiting") << first.dump();  // sent: its read report may come
  EXPECT_EQ(cloud_api.count(), 1u) << "no WhatsApp message after STOP";

  ASSERT_EQ(webhook(inbound_text("wamid.IN2", "Старт")), 200);
  ASSERT_TRUE(wait_until([&] { return preference().value("whatsapp", json::object()).empty(); })) << contact().dump();
  ASSERT_EQ(promo("p-3"), 202);
  EXPECT_EQ(cloud_api.wait_for(2).size(), 2u) << host.log();
}

}  // namespace
}  // namespace sb::test

namespace sb::test {
namespace {

// A tapped reply button, as Meta's webhook reports it: a reply to `wamid`.
std::string button_tap(const std::string& wamid, const std::string& id, const std::string& title) {
  return notification(
      {{"messaging_product", "whatsapp"},
       {"contacts", {{{"profile", {{"name", "Иван"}}}, {"wa_id", "79990001122"}}}},
       {"messages",
        {{{"from", "79990001122"},
          {"id", "wamid.TAP"},
          {"timestamp", "1668595349"},
          {"type", "interactive"},
          {"context", {{"from", "106540352242922"}, {"id", wamid}}},
          {"interactive", {{"type", "button_reply"}, {"button_reply", {{"id", id}, {"title", title}}}}}}}}});
}

// The reference CRMs' "confirm your visit" by quick replies: reply buttons go
// out as the Cloud API takes them, the client's tap comes back through Meta's
// webhook as a reply to that message, and the rule goes the way of the
// button tapped.
TEST(WhatsAppEndToEnd, AReplyButtonTappedTakesTheRuleItsWay) {
  HttpSink cloud_api(200, R"({"messaging_product":"whatsapp","contacts":[{"input":"79990001122","wa_id":"79990001122"}],
                             "messages":[{"id":"wamid.ASK"}]})");
  cloud_api.check(whatsapp_cloud_api("EAAG-e2e", "106540352242922"));
  HttpSink crm;
  json c = config(cloud_api, crm);
  c["rules"] = json::parse(R"([{
      "name": "confirm", "trigger": {"event": "webhook.received", "source": "inbox"},
      "steps": [
        {"name": "Ask", "action": "wa.send_buttons",
         "params": {"to": "{{body.phone}}", "text": "Подтвердите запись на {{body.time}}",
                    "buttons": [{"id": "yes", "title": "Подтверждаю"}, {"id": "no", "title": "Отменить"}]}},
        {"name": "Answer", "wait_for": "message.replied", "match": {"data.in_reply_to": "{{steps.Ask.external_id}}"},
         "timeout": "1m"},
        {"switch": "steps.Answer.event.data.reply_id",
         "cases": {"yes": [{"action": "tasks.post", "params": {"url": "/confirmed", "body": {}}}],
                   "no": [{"action": "tasks.post", "params": {"url": "/cancelled", "body": {}}}]}}]}])");
  HostProcess host(c);
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", R"({"phone":"+79990001122","time":"10:00"})").status,
            202);
  const auto sent = cloud_api.wait_for(1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  const json interactive = json::parse(sent[0].body)["interactive"];
  EXPECT_EQ(interactive["type"], "button");
  EXPECT_EQ(interactive["body"]["text"], "Подтвердите запись на 10:00");
  EXPECT_EQ(interactive["action"]["buttons"][1]["reply"], (json{{"id", "no"}, {"title", "Отменить"}}));

  const std::string tap = button_tap("wamid.ASK", "no", "Отменить");
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/wa", tap, {{"X-Hub-Signature-256", signature(tap)}}).status,
            200);
  const auto done = crm.wait_for(1);
  ASSERT_EQ(done.size(), 1u) << host.log();
  EXPECT_EQ(done[0].uri, "/cancelled");
}

// A message from the client: the rule marks it read (two blue ticks) and
// answers it, quoting it, through the emulator that checks both as Meta does.
TEST(WhatsAppEndToEnd, AReceivedMessageIsMarkedReadAndAnsweredQuotingIt) {
  HttpSink cloud_api(200, R"({"messaging_product":"whatsapp","contacts":[{"input":"79990001122","wa_id":"79990001122"}],
                             "messages":[{"id":"wamid.ANSWER"}]})");
  cloud_api.check(whatsapp_cloud_api("EAAG-e2e", "106540352242922"));
  HttpSink crm;
  json c = config(cloud_api, crm);
  c["rules"] = json::parse(R"([{
      "name": "answer", "trigger": {"event": "message.received"},
      "steps": [
        {"name": "Read", "action": "wa.mark_read", "params": {"message_id": "{{data.message_id}}"}},
        {"name": "Reply", "action": "wa.send_text",
         "params": {"text": "Спасибо, {{contact.name}}! Менеджер ответит в течение часа.",
                    "reply_to": "{{data.message_id}}"}}]}])");
  HostProcess host(c);
  const std::string inbound = notification({{"messaging_product", "whatsapp"},
                                            {"contacts", {{{"profile", {{"name", "Иван"}}}, {"wa_id", "79990001122"}}}},
                                            {"messages",
                                             {{{"from", "79990001122"},
                                               {"id", "wamid.IN1"},
                                               {"timestamp", "1"},
                                               {"type", "text"},
                                               {"text", {{"body", "Есть ли запись на завтра?"}}}}}}});
  ASSERT_EQ(
      http_request(host.port(), "POST", "/webhooks/wa", inbound, {{"X-Hub-Signature-256", signature(inbound)}}).status,
      200);
  const auto sent = cloud_api.wait_for(2);
  ASSERT_EQ(sent.size(), 2u) << host.log();
  EXPECT_EQ(json::parse(sent[0].body),
            json::parse(R"({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"})"));
  const json reply = json::parse(sent[1].body);
  EXPECT_EQ(reply["to"], "79990001122");
  EXPECT_EQ(reply["context"]["message_id"], "wamid.IN1");
  EXPECT_EQ(reply["text"]["body"], "Спасибо, Иван! Менеджер ответит в течение часа.");
}

// Outside the 24-hour window only a template may start the conversation: a
// booking reminder from the gallery with the salon's photo, the client's name
// by its parameter name, and quick replies whose payloads the rule set. The
// tap comes back as a reply whose reply_id is the payload.
TEST(WhatsAppEndToEnd, ATemplatesQuickReplyPayloadTakesTheRuleItsWay) {
  HttpSink cloud_api(200, R"({"messaging_product":"whatsapp","contacts":[{"input":"79990001122","wa_id":"79990001122"}],
                             "messages":[{"id":"wamid.TPL"}]})");
  cloud_api.check(whatsapp_cloud_api("EAAG-e2e", "106540352242922"));
  HttpSink crm;
  json c = config(cloud_api, crm);
  c["rules"] = json::parse(R"([{
      "name": "remind", "trigger": {"event": "webhook.received", "source": "inbox"},
      "steps": [
        {"name": "Remind", "action": "wa.send_template",
         "params": {"to": "{{body.phone}}", "template": "booking_reminder", "language": "ru",
                    "header": {"image": {"url": "https://cdn.example.com/salon.jpg"}},
                    "body_parameters": {"first_name": "{{body.name|first_name}}", "time": "{{body.time}}"},
                    "buttons": [{"index": 0, "type": "quick_reply", "payload": "yes:{{body.booking}}"},
                                {"index": 1, "type": "quick_reply", "payload": "no:{{body.booking}}"}]}},
        {"name": "Answer", "wait_for": "message.replied", "match": {"data.in_reply_to": "{{steps.Remind.external_id}}"},
         "timeout": "1m"},
        {"switch": "steps.Answer.event.data.reply_id",
         "cases": {"yes:B-42": [{"action": "tasks.post", "params": {"url": "/confirmed", "body": {}}}],
                   "no:B-42": [{"action": "tasks.post", "params": {"url": "/cancelled", "body": {}}}]}}]}])");
  HostProcess host(c);
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox",
                         R"({"phone":"+79990001122","name":"Иван Петров","time":"10:00","booking":"B-42"})")
                .status,
            202);
  const auto sent = cloud_api.wait_for(1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  const json components = json::parse(sent[0].body)["template"]["components"];
  ASSERT_EQ(components.size(), 4u) << components;
  EXPECT_EQ(components[1]["parameters"][0],
            json::parse(R"({"type":"text","parameter_name":"first_name","text":"Иван"})"));
  EXPECT_EQ(components[2]["parameters"][0]["payload"], "yes:B-42");

  const std::string tap = notification({{"messaging_product", "whatsapp"},
                                        {"contacts", {{{"profile", {{"name", "Иван"}}}, {"wa_id", "79990001122"}}}},
                                        {"messages",
                                         {{{"from", "79990001122"},
                                           {"id", "wamid.TAP2"},
                                           {"timestamp", "1668595350"},
                                           {"type", "button"},
                                           {"context", {{"from", "106540352242922"}, {"id", "wamid.TPL"}}},
                                           {"button", {{"payload", "yes:B-42"}, {"text", "Подтверждаю"}}}}}}});
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/wa", tap, {{"X-Hub-Signature-256", signature(tap)}}).status,
            200);
  const auto done = crm.wait_for(1);
  ASSERT_EQ(done.size(), 1u) << host.log();
  EXPECT_EQ(done[0].uri, "/confirmed");
}

}  // namespace
}  // namespace sb::test
