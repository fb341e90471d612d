// The push plugin through the C ABI, against FCM HTTP v1's wire format: the
// service account's JWT (verified here with the public key), the token
// exchange, the cached token, messages:send and FCM's error shapes.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <switchboard/testing/fake_host.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "../rsa_test_key.h"

namespace {

using fake::base64url_decode;
using fake::rs256_valid;
using fake::test_key;
using nlohmann::json;

std::string form_value(const std::string& body, const std::string& name) {
  const size_t at = body.find(name + "=");
  if (at == std::string::npos) return "";
  const size_t end = body.find('&', at);
  return body.substr(at + name.size() + 1, end == std::string::npos ? std::string::npos : end - at - name.size() - 1);
}

class PushPluginTest : public ::testing::Test {
 protected:
  fake::Library library{PLUGIN_PATH};
  fake::Host host{"push"};

  std::unique_ptr<fake::Instance> create() {
    const json config{{"project_id", "shop-app"},
                      {"client_email", "fcm@shop-app.iam.gserviceaccount.com"},
                      {"private_key", test_key().private_pem},
                      {"token_url", "http://127.0.0.1:9/token"},
                      {"base_url", "http://127.0.0.1:9"}};
    auto instance = std::make_unique<fake::Instance>(library, host, config.dump());
    EXPECT_EQ(instance->status(), SB_OK) << instance->error();
    return instance;
  }
  void give_token(size_t index, const std::string& token = "ya29.token-1") {
    host.finish_http(index, 200, {},
                     json{{"access_token", token}, {"expires_in", 3599}, {"token_type", "Bearer"}}.dump());
  }
};

constexpr char kSend[] =
    R"({"token": "device-token-1", "title": "Скидка", "body": "Только сегодня", "data": {"deal": "D1"}})";

TEST_F(PushPluginTest, ExchangesASignedJwtThenSendsWithTheAccessToken) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  ASSERT_EQ(host.sent.size(), 1u);
  const fake::Sent& exchange = host.sent[0];
  EXPECT_EQ(exchange.url, "http://127.0.0.1:9/token");
  EXPECT_EQ(exchange.header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(form_value(exchange.body, "grant_type"), "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
  const std::string jwt = form_value(exchange.body, "assertion");
  EXPECT_TRUE(rs256_valid(jwt));
  EXPECT_EQ(json::parse(base64url_decode(jwt.substr(0, jwt.find('.')))), (json{{"alg", "RS256"}, {"typ", "JWT"}}));
  const json claims = json::parse(base64url_decode(jwt.substr(jwt.find('.') + 1, jwt.rfind('.') - jwt.find('.') - 1)));
  EXPECT_EQ(claims["iss"], "fcm@shop-app.iam.gserviceaccount.com");
  EXPECT_EQ(claims["scope"], "https://www.googleapis.com/auth/firebase.messaging");
  EXPECT_EQ(claims["aud"], "http://127.0.0.1:9/token");
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 3600);

  give_token(0);
  ASSERT_EQ(host.sent.size(), 2u);
  const fake::Sent& send = host.sent[1];
  EXPECT_EQ(send.method, "POST");
  EXPECT_EQ(send.url, "http://127.0.0.1:9/v1/projects/shop-app/messages:send");
  EXPECT_EQ(send.header("Authorization"), "Bearer ya29.token-1");
  EXPECT_EQ(json::parse(send.body), json::parse(R"({"message": {"token": "device-token-1",
      "notification": {"title": "Скидка", "body": "Только сегодня"}, "data": {"deal": "D1"}}})"));
  host.finish_http(1, 200, {}, R"({"name": "projects/shop-app/messages/0:1500415314455276%31bd1c9631bd1c96"})");
  EXPECT_EQ(host.results.at(0).outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(host.results.at(0).external_id, "projects/shop-app/messages/0:1500415314455276%31bd1c9631bd1c96");
}

// The key file as Google's console downloads it, whole (here as a secret's
// text): its project, account, key and token_uri; the JWT names the key
// (kid), as google-auth's does.
TEST_F(PushPluginTest, TakesTheServiceAccountsKeyFileAsItIs) {
  const json key_file{{"type", "service_account"},
                      {"project_id", "shop-app"},
                      {"private_key_id", "8f3a1c"},
                      {"private_key", test_key().private_pem},
                      {"client_email", "fcm@shop-app.iam.gserviceaccount.com"},
                      {"client_id", "1234567890"},
                      {"auth_uri", "https://accounts.google.com/o/oauth2/auth"},
                      {"token_uri", "http://127.0.0.1:9/token"},
                      {"universe_domain", "googleapis.com"}};
  fake::Instance instance(library, host,
                          json{{"service_account", key_file.dump()}, {"base_url", "http://127.0.0.1:9"}}.dump());
  ASSERT_EQ(instance.status(), SB_OK) << instance.error();
  ASSERT_EQ(instance.invoke("send", kSend), SB_OK);
  ASSERT_EQ(host.sent.size(), 1u);
  EXPECT_EQ(host.sent[0].url, "http://127.0.0.1:9/token");
  const std::string jwt = form_value(host.sent[0].body, "assertion");
  EXPECT_TRUE(rs256_valid(jwt));
  EXPECT_EQ(json::parse(base64url_decode(jwt.substr(0, jwt.find('.')))),
            (json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "8f3a1c"}}));
  const json claims = json::parse(base64url_decode(jwt.substr(jwt.find('.') + 1, jwt.rfind('.') - jwt.find('.') - 1)));
  EXPECT_EQ(claims["iss"], "fcm@shop-app.iam.gserviceaccount.com");
  EXPECT_EQ(claims["aud"], "http://127.0.0.1:9/token");
  give_token(0);
  EXPECT_EQ(host.sent.at(1).url, "http://127.0.0.1:9/v1/projects/shop-app/messages:send");

  // A key given beside the file signs: the file's key id does not name it.
  const fake::Key other_key;
  fake::Instance overridden(
      library, host,
      json{{"service_account", key_file}, {"private_key", other_key.private_pem}, {"base_url", "http://127.0.0.1:9"}}
          .dump());
  ASSERT_EQ(overridden.status(), SB_OK) << overridden.error();
  ASSERT_EQ(overridden.invoke("send", kSend), SB_OK);
  const std::string other_jwt = form_value(host.sent.back().body, "assertion");
  EXPECT_EQ(json::parse(base64url_decode(other_jwt.substr(0, other_jwt.find('.')))),
            (json{{"alg", "RS256"}, {"typ", "JWT"}}));

  // Another kind of key, or not JSON: named in the error.
  fake::Instance user_key(library, host, json{{"service_account", {{"type", "authorized_user"}}}}.dump());
  EXPECT_NE(user_key.status(), SB_OK);
  EXPECT_NE(user_key.error().find("service_account"), std::string::npos);
  fake::Instance garbled(library, host, json{{"service_account", "{not json"}}.dump());
  EXPECT_NE(garbled.status(), SB_OK);
}

// A picture, and each platform's own settings, go as FCM's Message names them.
TEST_F(PushPluginTest, AnImageAndThePlatformsSettingsGoAsFcmNamesThem) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", R"({"token": "d1", "title": "Скидка", "image": "https://cdn.example.com/sale.png",
      "android": {"priority": "high", "notification": {"channel_id": "sales", "click_action": "OPEN_DEAL"}},
      "apns": {"headers": {"apns-priority": "10"}, "payload": {"aps": {"sound": "default", "badge": 1}}},
      "webpush": {"fcm_options": {"link": "https://shop.example.com/deal/D1"}},
      "fcm_options": {"analytics_label": "sale"}})"),
            SB_OK);
  give_token(0);
  EXPECT_EQ(json::parse(host.sent.at(1).body), json::parse(R"({"message": {"token": "d1",
      "notification": {"title": "Скидка", "image": "https://cdn.example.com/sale.png"},
      "android": {"priority": "high", "notification": {"channel_id": "sales", "click_action": "OPEN_DEAL"}},
      "apns": {"headers": {"apns-priority": "10"}, "payload": {"aps": {"sound": "default", "badge": 1}}},
      "webpush": {"fcm_options": {"link": "https://shop.example.com/deal/D1"}},
      "fcm_options": {"analytics_label": "sale"}}})"));
}

// A contact with several devices (a list in the token field): each device
// gets the message. The step is done when any took it (a retry would send
// again to those); a dead token among them is only counted.
TEST_F(PushPluginTest, EachOfTheContactsDevicesGetsTheMessage) {
  auto instance = create();
  const std::string contact = R"({"contact": {"id": "c1", "fields": {"fcm_token": ["phone", "tablet", "phone", ""]}}})";
  ASSERT_EQ(instance->invoke("send", R"({"title": "x"})", "k1", 0, contact), SB_OK);
  give_token(0);
  ASSERT_EQ(host.sent.size(), 3u);  // the empty one dropped; the phone, registered again, at its last place
  EXPECT_EQ(json::parse(host.sent[1].body)["message"]["token"], "tablet");
  EXPECT_EQ(json::parse(host.sent[2].body)["message"]["token"], "phone");
  const std::string unregistered = R"({"error": {"code": 404, "message": "Requested entity was not found.",
      "status": "NOT_FOUND", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
      "errorCode": "UNREGISTERED"}]}})";
  host.finish_http(2, 404, {}, unregistered);
  EXPECT_TRUE(host.results.empty());  // the step ends when every device answered
  host.finish_http(1, 200, {}, R"({"name": "projects/shop-app/messages/1"})");
  ASSERT_EQ(host.results.size(), 1u);
  EXPECT_EQ(host.results[0].outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(host.results[0].external_id, "projects/shop-app/messages/1");
  const json output = json::parse(host.results[0].output_json);
  EXPECT_EQ(output["devices"], 2);
  EXPECT_EQ(output["sent"], 1);
  EXPECT_EQ(output["failed"][0]["device"], 1);
  EXPECT_EQ(output["failed"][0]["code"], "UNREGISTERED");

  // Every token dead: unreachable here, so a fallback moves on.
  ASSERT_EQ(instance->invoke("send", R"({"token": ["a", "b"], "title": "x"})"), SB_OK);
  host.finish_http(3, 404, {}, unregistered);
  host.finish_http(4, 404, {}, unregistered);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_NE(host.results.back().reason.find("2 devices"), std::string::npos);
  // None took it, and one may later: the step is tried again.
  ASSERT_EQ(instance->invoke("send", R"({"token": ["a", "b"], "title": "x"})"), SB_OK);
  host.finish_http(5, 404, {}, unregistered);
  host.finish_http(6, 503, {{"Retry-After", "20"}}, R"({"error": {"code": 503, "status": "UNAVAILABLE"}})");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(host.results.back().retry_after_s, 20u);
  json long_list = json::array();
  for (int i = 0; i < 101; ++i) long_list.push_back("d" + std::to_string(i));
  ASSERT_EQ(instance->invoke("send", json{{"token", long_list}, {"title", "x"}}.dump()), SB_OK);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_INVALID_PARAMS);
  ASSERT_EQ(instance->invoke("send", R"({"token": ["a", 5], "title": "x"})"), SB_OK);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_INVALID_PARAMS);  // the step's own: the rule's to fix
  EXPECT_EQ(host.sent.size(), 7u);

  // The contact's list is the contact's data: what is not a token is no
  // device, and of a long list the latest 100 are taken.
  json many = json::array({5, json::object(), "t0"});
  for (int i = 1; i < 150; ++i) many.push_back("t" + std::to_string(i));
  const json subject{{"contact", {{"id", "c2"}, {"fields", {{"fcm_token", many}}}}}};
  ASSERT_EQ(instance->invoke("send", R"({"title": "x"})", "k2", 0, subject.dump()), SB_OK);
  ASSERT_EQ(host.sent.size(), 107u);
  EXPECT_EQ(json::parse(host.sent[7].body)["message"]["token"], "t50");
  EXPECT_EQ(json::parse(host.sent[106].body)["message"]["token"], "t149");
  const json odd{{"contact", {{"id", "c3"}, {"fields", {{"fcm_token", json::array({7, nullptr})}}}}}};
  ASSERT_EQ(instance->invoke("send", R"({"title": "x"})", "k3", 0, odd.dump()), SB_OK);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_UNREACHABLE);
}

TEST_F(PushPluginTest, TheTokenIsCachedAndSharedBySendsThatWaitForIt) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  ASSERT_EQ(host.sent.size(), 1u);  // one exchange for both
  give_token(0);
  ASSERT_EQ(host.sent.size(), 3u);
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  ASSERT_EQ(host.sent.size(), 4u);  // cached: straight to messages:send
  EXPECT_EQ(host.sent[3].header("Authorization"), "Bearer ya29.token-1");
  // Shortly before it expires, a new one is fetched.
  host.now_ms += 3'560'000;
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  EXPECT_EQ(host.sent.back().url, "http://127.0.0.1:9/token");
}

TEST_F(PushPluginTest, DryRunWritesTheMessageToTheOutboxWithAnIdOfItsOwn) {
  fake::Instance instance(library, host, R"({"dry_run": true})");
  ASSERT_EQ(instance.status(), SB_OK) << instance.error();
  ASSERT_EQ(instance.invoke("send", kSend, "e1:r:0"), SB_OK);
  EXPECT_TRUE(host.sent.empty());
  ASSERT_EQ(host.outbox.size(), 1u);
  EXPECT_EQ(json::parse(host.outbox[0])["body"]["message"]["token"], "device-token-1");
  EXPECT_EQ(host.results.at(0).outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(host.results.at(0).external_id, "dry-run:e1:r:0");
}

// The token exchange may take part of the step's time: the send waits only
// for what is left of it.
TEST_F(PushPluginTest, TheSendAfterATokenExchangeKeepsToTheStepsDeadline) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", kSend, "step-key-1", host.now_ms + 4'000), SB_OK);
  host.now_ms += 3'000;  // the exchange took 3 of the step's 4 s
  give_token(0);
  ASSERT_EQ(host.sent.size(), 2u);
  EXPECT_EQ(host.sent[1].timeout_ms, 1'000u);
}

TEST_F(PushPluginTest, FcmErrorsMapToOutcomes) {
  auto instance = create();
  auto answer = [&](int status, const std::string& body) {
    EXPECT_EQ(instance->invoke("send", kSend), SB_OK);
    if (host.sent.back().url.find("/token") != std::string::npos) give_token(host.sent.size() - 1);
    host.finish_http(host.sent.size() - 1, status, {{"Retry-After", "5"}}, body);
    return host.results.back();
  };
  auto unregistered = answer(404, R"({"error": {"code": 404, "message": "Requested entity was not found.",
      "status": "NOT_FOUND", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
      "errorCode": "UNREGISTERED"}]}})");
  EXPECT_EQ(unregistered.outcome, SB_OUTCOME_UNREACHABLE);  // a fallback moves on
  EXPECT_EQ(unregistered.provider_code, "UNREGISTERED");
  EXPECT_EQ(host.sent.back().header("X-GOOG-API-FORMAT-VERSION"), "2");  // detailed errors, as the Admin SDKs ask
  // NOT_FOUND without an errorCode: a wrong project or URL, not this contact's token.
  EXPECT_EQ(answer(404, R"({"error": {"code": 404, "message": "Requested entity was not found.",
      "status": "NOT_FOUND"}})")
                .outcome,
            SB_OUTCOME_PERMANENT);
  // A token FCM cannot read, named as the field at fault.
  EXPECT_EQ(answer(400, R"({"error": {"code": 400, "message": "The registration token is not a valid FCM registration",
      "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
      "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}]},
      {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"}]}})")
                .outcome,
            SB_OUTCOME_UNREACHABLE);
  // The service account is not the token's sender: a configuration error, for good.
  auto mismatch = answer(403, R"({"error": {"code": 403, "message": "SenderId mismatch", "status": "PERMISSION_DENIED",
      "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "SENDER_ID_MISMATCH"}]}})");
  EXPECT_EQ(mismatch.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(mismatch.provider_code, "SENDER_ID_MISMATCH");
  // Another field at fault: the rule's message, for good.
  EXPECT_EQ(answer(400, R"({"error": {"code": 400, "message": "Invalid value at 'message.data[0].value'",
      "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
      "fieldViolations": [{"field": "message.data[0].value", "description": "Invalid value"}]},
      {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"}]}})")
                .outcome,
            SB_OUTCOME_PERMANENT);
  auto quota = answer(429, R"({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
      "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "QUOTA_EXCEEDED"}]}})");
  EXPECT_EQ(quota.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(quota.retry_after_s, 5u);
  EXPECT_EQ(
      answer(503,
             R"({"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}})")
          .outcome,
      SB_OUTCOME_RETRY);
  auto auth = answer(
      401,
      R"({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}})");
  EXPECT_EQ(auth.outcome, SB_OUTCOME_RETRY);
  const size_t before = host.sent.size();
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  EXPECT_EQ(host.sent.at(before).url, "http://127.0.0.1:9/token");  // the rejected token was dropped
}

// 401 with THIRD_PARTY_AUTH_ERROR: the project's APNs certificate or web push
// key is at fault, not the access token. No retry can fix it.
TEST_F(PushPluginTest, AnApnsCredentialFcmCannotUseFailsForGoodAndKeepsTheToken) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  give_token(0);
  host.finish_http(1, 401, {},
                   R"({"error": {"code": 401, "message": "Auth error from APNS or Web Push Service",
                       "status": "UNAUTHENTICATED", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                       "errorCode": "THIRD_PARTY_AUTH_ERROR"}]}})");
  const auto& failed = host.results.back();
  EXPECT_EQ(failed.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(failed.provider_code, "THIRD_PARTY_AUTH_ERROR");
  const size_t before = host.sent.size();
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  EXPECT_NE(host.sent.at(before).url.find("/messages:send"), std::string::npos);  // the access token was kept
}

// APNS_AUTH_ERROR is the same fault, by its older name (the Admin SDKs map both).
TEST_F(PushPluginTest, AnApnsAuthErrorFailsForGoodToo) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  give_token(0);
  host.finish_http(1, 401, {},
                   R"({"error": {"code": 401, "message": "Auth error from APNS", "status": "UNAUTHENTICATED",
                       "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                       "errorCode": "APNS_AUTH_ERROR"}]}})");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_PERMANENT);
  const size_t before = host.sent.size();
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  EXPECT_NE(host.sent.at(before).url.find("/messages:send"), std::string::npos);  // the access token was kept
}

// FCM's data is a map of strings: a number given anyway goes as its text.
TEST_F(PushPluginTest, DataValuesGoAsStrings) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", R"({"token": "device-token-1", "title": "x", "data": {"n": 1, "ok": true}})"),
            SB_OK);
  give_token(0);
  EXPECT_EQ(json::parse(host.sent.at(1).body)["message"]["data"], json::parse(R"({"n": "1", "ok": "true"})"));
}

// FCM refuses a payload over 4096 bytes: said before anything is sent. At
// the limit it goes.
TEST_F(PushPluginTest, APayloadOverFcmsLimitFailsUnsent) {
  auto instance = create();
  // "title" + "body" + "k" + the values: 4096 bytes exactly.
  const std::string title(2000, 't'), body(2000, 'b'), value(4096 - 5 - 4 - 1 - 4000, 'v');
  ASSERT_EQ(
      instance->invoke(
          "send", json{{"token", "device-token-1"}, {"title", title}, {"body", body}, {"data", {{"k", value}}}}.dump()),
      SB_OK);
  EXPECT_EQ(host.sent.size(), 1u);  // the token exchange: it goes
  ASSERT_EQ(
      instance->invoke(
          "send",
          json{{"token", "device-token-1"}, {"title", title}, {"body", body}, {"data", {{"k", value + "v"}}}}.dump()),
      SB_OK);
  EXPECT_EQ(host.sent.size(), 1u);
  ASSERT_FALSE(host.results.empty());
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(host.results.back().reason, "the push's notification and data are 4097 bytes, over FCM's limit of 4096");
}

// Without "token" the contact's own device token is taken (its
// fields.fcm_token, or the field the instance names), as the other channels
// take the contact's address; a contact without one is unreachable.
TEST_F(PushPluginTest, WithoutATokenTheContactsIsTaken) {
  auto instance = create();
  const std::string contact = R"({"contact": {"id": "c1", "fields": {"fcm_token": "device-token-9"}}})";
  ASSERT_EQ(instance->invoke("send", R"({"title": "x"})", "k1", 0, contact), SB_OK);
  give_token(0);
  EXPECT_EQ(json::parse(host.sent.at(1).body)["message"]["token"], "device-token-9");
  ASSERT_EQ(instance->invoke("send", R"({"title": "x"})", "k2", 0, R"({"contact": {"id": "c2"}})"), SB_OK);
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(host.results.back().reason, "the contact has no device token");
}

TEST_F(PushPluginTest, AContactWithoutADeviceTokenIsUnreachable) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", R"({"token": "", "title": "x"})"), SB_OK);
  EXPECT_TRUE(host.sent.empty());
  EXPECT_EQ(host.results.at(0).outcome, SB_OUTCOME_UNREACHABLE);
  EXPECT_EQ(host.results.at(0).reason, "the contact has no device token");
}

// A service account Google refuses (a deleted key, a bad signature) fails
// every send waiting for it for good, as google-auth gives up on it; an
// exchange that failed for a while (5xx, no answer) is retried.
TEST_F(PushPluginTest, ARefusedServiceAccountFailsTheSendsAndAnUnavailableExchangeRetries) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  host.finish_http(0, 400, {}, R"({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})");
  ASSERT_EQ(host.results.size(), 2u);
  for (const auto& r : host.results) {
    EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT);
    EXPECT_EQ(r.provider_code, "invalid_grant");
    EXPECT_EQ(r.reason, "cannot get an FCM access token: HTTP 400 invalid_grant");
  }
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  host.finish_http(1, 503, {}, R"({"error": "internal_failure"})");
  ASSERT_EQ(host.results.size(), 3u);
  EXPECT_EQ(host.results[2].outcome, SB_OUTCOME_RETRY);
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  host.finish_http(2, 0, {}, "", "connection refused");
  ASSERT_EQ(host.results.size(), 4u);
  EXPECT_EQ(host.results[3].outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(host.results[3].reason, "cannot get an FCM access token: no answer: connection refused");
}

TEST_F(PushPluginTest, AnOddTokenAnswerFailsTheWaitingSendsAndTheNextOneTriesAgain) {
  auto instance = create();
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  host.finish_http(0, 400, {}, R"({"error": {"code": 400, "status": "INVALID_ARGUMENT"}, "expires_in": "soon"})");
  ASSERT_EQ(host.results.size(), 1u);
  EXPECT_EQ(host.results[0].outcome, SB_OUTCOME_RETRY);
  ASSERT_EQ(instance->invoke("send", kSend), SB_OK);
  EXPECT_EQ(host.sent.size(), 2u);  // a new exchange: the first did not leave the plugin stuck
  EXPECT_EQ(host.sent[1].url, "http://127.0.0.1:9/token");
}

TEST_F(PushPluginTest, AnEcKeyIsRefused) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> ec(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), ec.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  const json config{
      {"project_id", "p"}, {"client_email", "a@b.c"}, {"private_key", std::string(data, static_cast<size_t>(n))}};
  fake::Instance instance(library, host, config.dump());
  EXPECT_NE(instance.status(), SB_OK);
}

TEST_F(PushPluginTest, AKeyThatCannotSignIsAConfigError) {
  fake::Instance instance(library, host, R"({"project_id": "p", "client_email": "a@b.c", "private_key": "not a key"})");
  EXPECT_NE(instance.status(), SB_OK);
  EXPECT_EQ(instance.error(), "'private_key' is not an unencrypted PEM RSA private key (RS256 needs one)");
}

}  // namespace
