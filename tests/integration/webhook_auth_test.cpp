// Authenticated webhooks through the real host: bearer tokens and Standard
// Webhooks signatures, with secrets from the environment that never show up
// in answers or logs.
#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <ctime>
#include <sstream>
#include <thread>

#include "integration/test_support.h"

namespace sb::test {
namespace {

using nlohmann::json;

constexpr char kToken[] = "tok-e2e-7f3a9c";
// The Standard Webhooks test key; its bytes are the base64 after "whsec_".
constexpr char kSigningSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// v1 signature of "{id}.{timestamp}.{body}", computed independently of the plugin.
std::string sign(const std::string& id, const std::string& timestamp, const std::string& body) {
  std::string key;
  {
    std::istringstream in(std::string(kSigningSecret).substr(6));
    Poco::Base64Decoder decoder(in);
    key.assign(std::istreambuf_iterator<char>(decoder), std::istreambuf_iterator<char>());
  }
  const std::string content = id + "." + timestamp + "." + body;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), digest, &length);
  std::ostringstream out;
  Poco::Base64Encoder encoder(out);
  encoder.write(reinterpret_cast<const char*>(digest), length);
  encoder.close();
  return "v1," + out.str();
}

class WebhookAuthTest : public ::testing::Test {
 protected:
  static json config() {
    ::setenv("SB_E2E_TOKEN", kToken, 1);
    ::setenv("SB_E2E_SIGNING", kSigningSecret, 1);
    return json{{"log_level", "debug"},
                {"plugin_dirs", {SB_PLUGIN_DIR}},
                {"secrets", {{"token", {{"env", "SB_E2E_TOKEN"}}}, {"signing", {{"env", "SB_E2E_SIGNING"}}}}},
                {"instances",
                 {{"private", {{"plugin", "webhook"}, {"config", {{"bearer_token", {{"$secret", "token"}}}}}}},
                  {"signed", {{"plugin", "webhook"}, {"config", {{"signing_secret", {{"$secret", "signing"}}}}}}}}}};
  }
  HostProcess host_{config()};
};

TEST_F(WebhookAuthTest, BearerTokenIsRequiredAndChallenged) {
  HttpResult missing = http_request(host_.port(), "POST", "/webhooks/private", "{}");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.json()["error"]["code"], "unauthorized");
  EXPECT_EQ(missing.headers["www-authenticate"], "Bearer");

  HttpResult wrong = http_request(host_.port(), "POST", "/webhooks/private", "{}", {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body.find(kToken), std::string::npos);

  HttpResult ok = http_request(host_.port(), "POST", "/webhooks/private", "{}",
                               {{"Authorization", std::string("Bearer ") + kToken}});
  EXPECT_EQ(ok.status, 202) << ok.body;
}

TEST_F(WebhookAuthTest, ValidSignatureIsAcceptedAndItsIdBecomesTheEventId) {
  const std::string body = R"({"type":"lead.created","name":"Иван"})";
  const std::string timestamp = std::to_string(std::time(nullptr));
  HttpResult r = http_request(host_.port(), "POST", "/webhooks/signed", body,
                              {{"webhook-id", "msg_e2e_1"},
                               {"webhook-timestamp", timestamp},
                               {"webhook-signature", "v2,bm90LWEtdjE= " + sign("msg_e2e_1", timestamp, body)}});
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json()["event_id"], "msg_e2e_1");
}

TEST_F(WebhookAuthTest, TamperedOrReplayedRequestsAreRefused) {
  const std::string body = R"({"amount":100})";
  const std::string now = std::to_string(std::time(nullptr));
  const std::string signature = sign("msg_2", now, body);

  HttpResult tampered =
      http_request(host_.port(), "POST", "/webhooks/signed", R"({"amount":999})",
                   {{"webhook-id", "msg_2"}, {"webhook-timestamp", now}, {"webhook-signature", signature}});
  EXPECT_EQ(tampered.status, 401);
  EXPECT_EQ(tampered.json()["error"]["code"], "invalid_signature");

  const std::string old = std::to_string(std::time(nullptr) - 3600);
  HttpResult replayed = http_request(
      host_.port(), "POST", "/webhooks/signed", body,
      {{"webhook-id", "msg_2"}, {"webhook-timestamp", old}, {"webhook-signature", sign("msg_2", old, body)}});
  EXPECT_EQ(replayed.status, 401);

  HttpResult unsigned_request = http_request(host_.port(), "POST", "/webhooks/signed", body);
  EXPECT_EQ(unsigned_request.status, 401);
}

TEST_F(WebhookAuthTest, OnlyPostIsAllowed) {
  HttpResult r = http_request(host_.port(), "GET", "/webhooks/private");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "POST");
}

TEST_F(WebhookAuthTest, SecretsNeverReachTheLog) {
  http_request(host_.port(), "POST", "/webhooks/private", "{}", {{"Authorization", "Bearer nope"}});
  http_request(host_.port(), "POST", "/webhooks/signed", "{}");
  host_.stop();
  const std::string log = host_.log();
  EXPECT_NE(log.find("webhook request rejected"), std::string::npos) << log;  // debug lines were written
  EXPECT_EQ(log.find(kToken), std::string::npos) << log;
  EXPECT_EQ(log.find("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), std::string::npos) << log;
}

// The http plugin as a Standard Webhooks sender and the webhook plugin as
// its receiver, over real sockets through the host: a signed request is
// taken (its webhook-id the sending step's key) and sets off the receiving
// rule; one signed with another secret is refused, and its step fails.
TEST(StandardWebhooksEndToEnd, TheHttpPluginsSignatureIsWhatTheWebhookPluginVerifies) {
  ::setenv("SB_E2E_SIGNING", kSigningSecret, 1);
  ::setenv("SB_E2E_EVENTS", kToken, 1);
  HttpSink sink;
  const json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"signing", {{"env", "SB_E2E_SIGNING"}}}, {"events", {{"env", "SB_E2E_EVENTS"}}}}},
      {"api", {{"event_tokens", {{{"$secret", "events"}}}}}},
      {"instances",
       {{"inbound",
         {{"plugin", "webhook"},
          {"config", {{"signing_secret", {{"$secret", "signing"}}}, {"event_type", "relay.received"}}}}},
        {"other",
         {{"plugin", "webhook"},
          {"config",
           {{"signing_secret", "whsec_c2Vjb25kLXNlY3JldC1rZXktYnl0ZXM="}, {"event_type", "other.received"}}}}},
        {"relay", {{"plugin", "http"}, {"config", {{"signing_secret", {{"$secret", "signing"}}}}}}},
        {"sink", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}}}},
      {"rules", json::parse(R"([
        {"name": "send", "trigger": {"event": "relay.start"},
         "steps": [{"action": "relay.post", "params": {"url": "{{data.url}}", "body": {"n": "{{data.n}}"}}}]},
        {"name": "received", "trigger": {"event": "relay.received", "source": "inbound"},
         "steps": [{"action": "sink.post", "params": {"url": "/got", "body": {"n": "{{body.n}}", "id": "{{event.id}}"}}}]},
        {"name": "other", "trigger": {"event": "other.received"},
         "steps": [{"action": "sink.post", "params": {"url": "/other"}}]}])")}};
  HostProcess host(config);
  const auto start = [&](const std::string& id, const std::string& path, const std::string& n) {
    const json event{{"id", id},
                     {"type", "relay.start"},
                     {"data", {{"url", "http://127.0.0.1:" + std::to_string(host.port()) + path}, {"n", n}}}};
    return http_request(host.port(), "POST", "/api/v1/events", event.dump(),
                        {{"Authorization", std::string("Bearer ") + kToken}})
        .status;
  };
  ASSERT_EQ(start("relay-1", "/webhooks/inbound", "7"), 202);
  const auto got = sink.wait_for(1);
  ASSERT_EQ(got.size(), 1u) << host.log();
  EXPECT_EQ(got[0].uri, "/got");
  const json body = json::parse(got[0].body);
  EXPECT_EQ(body["n"], "7");
  EXPECT_EQ(body["id"].get<std::string>().rfind("relay-1:send:", 0), 0u) << body;  // the sending step's key

  ASSERT_EQ(start("relay-2", "/webhooks/other", "8"), 202);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(sink.count(), 1u);  // refused: the other rule never ran
  EXPECT_NE(host.log().find("invalid_signature"), std::string::npos) << host.log();
}

}  // namespace
}  // namespace sb::test
