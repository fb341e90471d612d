// WhatsApp through the real host: an event sends a template to a local Cloud
// API emulator, the emulator's signed status reports come back through Meta's
// webhook, and a wait_for step on message.read takes the right branch.
#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <thread>

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

std::string status_report(const std::string& wamid, const std::string& status) {
  return json{{"object", "whatsapp_business_account"},
              {"entry",
               {{{"id", "WABA"},
                 {"changes",
                  {{{"field", "messages"},
                    {"value",
                     {{"messaging_product", "whatsapp"},
                      {"statuses",
                       {{{"id", wamid},
                         {"status", status},
                         {"timestamp", "1668595349"},
                         {"recipient_id", "79990001122"}}}}}}}}}}}}}
      .dump();
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
  HttpSink tasks;
  HostProcess host(config(cloud_api, tasks));

  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", R"({"phone":"8 999 000-11-22","name":"Иван"})").status,
            202);
  auto sent = cloud_api.wait_for(1);
  ASSERT_EQ(sent.size(), 1u) << host.log();
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].uri, "/v21.0/106540352242922/messages");
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

}  // namespace
}  // namespace sb::test
