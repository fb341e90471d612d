// The http plugin as the host sees it: the built library, loaded with dlopen
// and driven through the C ABI by a scripted host.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <switchboard/testing/fake_host.h>

#include <ctime>
#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;

class HttpPluginTest : public ::testing::Test {
 protected:
  fake::Library library{PLUGIN_PATH};
  fake::Host host{"crm"};

  std::unique_ptr<fake::Instance> create(const std::string& config) {
    auto instance = std::make_unique<fake::Instance>(library, host, config);
    EXPECT_EQ(instance->status(), SB_OK) << instance->error();
    return instance;
  }

  // Invokes "post", answers the request it sent and returns the result.
  fake::Result roundtrip(fake::Instance& instance, int status, const fake::Headers& headers = {},
                         const std::string& body = "", const std::string& transport_error = "") {
    const size_t before = host.sent.size();
    EXPECT_EQ(instance.invoke("post", R"({"url": "https://api.example.com/x", "body": {}})"), SB_OK);
    EXPECT_EQ(host.sent.size(), before + 1);
    host.finish_http(before, status, headers, body, transport_error);
    return host.results.back();
  }
};

TEST_F(HttpPluginTest, DescribesItself) {
  const sb_plugin_descriptor& d = library.descriptor();
  EXPECT_EQ(fake::text(d.name), "http");
  ASSERT_EQ(d.action_count, 1u);
  EXPECT_EQ(fake::text(d.actions[0]->name), "post");
  EXPECT_EQ(json::parse(fake::text(d.config_schema_json))["additionalProperties"], false);
  EXPECT_EQ(json::parse(fake::text(d.actions[0]->schema_json))["properties"]["method"]["default"], "POST");
}

TEST_F(HttpPluginTest, SendsJsonWithIdempotencyKey) {
  auto instance = create(R"({"headers": {"Authorization": "Bearer tok"}})");
  ASSERT_EQ(instance->invoke("post", R"({"url": "https://api.example.com/hooks", "body": {"a": [1, "x"]}})", "key-1"),
            SB_OK);
  ASSERT_EQ(host.sent.size(), 1u);
  const fake::Sent& s = host.sent[0];
  EXPECT_EQ(s.method, "POST");
  EXPECT_EQ(s.url, "https://api.example.com/hooks");
  EXPECT_EQ(json::parse(s.body), json::parse(R"({"a": [1, "x"]})"));
  EXPECT_EQ(s.header("Content-Type"), "application/json");
  EXPECT_EQ(s.header("Idempotency-Key"), "key-1");
  EXPECT_EQ(s.header("Authorization"), "Bearer tok");
  EXPECT_EQ(s.timeout_ms, 10000u);
  EXPECT_TRUE(host.results.empty());  // completes only when the answer comes
}

TEST_F(HttpPluginTest, ParamsChooseMethodHeadersAndTimeout) {
  auto instance = create(R"({"headers": {"X-Api-Key": "k1", "Accept": "text/plain"}, "timeout_ms": 5000})");
  ASSERT_EQ(instance->invoke("post", R"({"url": "http://h.test/a", "method": "DELETE", "timeout_ms": 250,
                                         "headers": {"x-api-key": "k2", "Idempotency-Key": "mine"}})",
                             "key-2"),
            SB_OK);
  const fake::Sent& s = host.sent.at(0);
  EXPECT_EQ(s.method, "DELETE");
  EXPECT_EQ(s.timeout_ms, 250u);
  EXPECT_EQ(s.body, "");
  EXPECT_EQ(s.header("Content-Type"), std::nullopt);  // no body, no content type
  EXPECT_EQ(s.header("X-Api-Key"), std::nullopt);
  EXPECT_EQ(s.header("x-api-key"), "k2");
  EXPECT_EQ(s.header("Accept"), "text/plain");
  EXPECT_EQ(s.header("Idempotency-Key"), "key-2");
  EXPECT_EQ(s.header("idempotency-key"), std::nullopt);
}

TEST_F(HttpPluginTest, TimeoutNeverPassesTheDeadline) {
  auto instance = create("{}");
  ASSERT_EQ(instance->invoke("post", R"({"url": "http://h.test/"})", "k", host.now_ms + 1500), SB_OK);
  EXPECT_EQ(host.sent.at(0).timeout_ms, 1500u);
}

TEST_F(HttpPluginTest, ResolvesUrlsAgainstBaseUrl) {
  auto instance = create(R"({"base_url": "https://api.example.com/v2/"})");
  instance->invoke("post", R"({"url": "/orders/1"})");
  instance->invoke("post", R"({"url": "orders/2?x=1"})");
  instance->invoke("post", R"({})");
  instance->invoke("post", R"({"url": "https://API.example.com/v3/other"})");
  ASSERT_EQ(host.sent.size(), 4u);
  EXPECT_EQ(host.sent[0].url, "https://api.example.com/v2/orders/1");
  EXPECT_EQ(host.sent[1].url, "https://api.example.com/v2/orders/2?x=1");
  EXPECT_EQ(host.sent[2].url, "https://api.example.com/v2/");
  EXPECT_EQ(host.sent[3].url, "https://API.example.com/v3/other");
}

TEST_F(HttpPluginTest, InvalidParams) {
  auto with_base = create(R"({"base_url": "https://api.example.com", "headers": {"Authorization": "Bearer tok"}})");
  with_base->invoke("post", R"({"url": "https://evil.example/steal"})");
  with_base->invoke("post", R"({"url": "https://api.example.com@evil.example/"})");
  with_base->invoke("post", "not json");
  with_base->invoke("post", R"({"headers": {"X-Bad": "a\r\nInjected: 1"}})");
  with_base->invoke("post", R"({"method": "TRACE"})");
  with_base->invoke("send", R"({})");
  // The request's framing and target are the host's: a Host would send the instance's credentials to another
  // virtual host behind the same address.
  with_base->invoke("post", R"({"headers": {"host": "evil.example"}})");
  with_base->invoke("post", R"({"headers": {"Transfer-Encoding": "chunked"}})");
  with_base->invoke("post", R"({"method": "GET", "body": {"q": 1}})");
  fake::Host plain_host{"plain"};
  auto plain = std::make_unique<fake::Instance>(library, plain_host, "{}");
  plain->invoke("post", R"({"url": "/relative"})");
  plain->invoke("post", R"({"body": {}})");
  plain->invoke("post", R"({"url": "https://a b.test/"})");

  EXPECT_TRUE(host.sent.empty());
  EXPECT_TRUE(plain_host.sent.empty());
  ASSERT_EQ(host.results.size(), 9u);
  EXPECT_NE(host.results[8].reason.find("not GET"), std::string::npos) << host.results[8].reason;
  EXPECT_NE(host.results[6].reason.find("may not set 'host'"), std::string::npos) << host.results[6].reason;
  ASSERT_EQ(plain_host.results.size(), 3u);
  for (const auto& r : host.results) EXPECT_EQ(r.outcome, SB_OUTCOME_INVALID_PARAMS) << r.reason;
  for (const auto& r : plain_host.results) EXPECT_EQ(r.outcome, SB_OUTCOME_INVALID_PARAMS) << r.reason;
  EXPECT_NE(host.results[0].reason.find("origin"), std::string::npos) << host.results[0].reason;
  // The instance's credentials in its base_url are not in the error; where
  // the host ends is not sure (a '/' in the password), only the scheme is shown.
  for (const auto& [base_url, shown] : std::vector<std::pair<std::string, std::string>>{
           {"https://bot:s3cret@API.example.com/", "(https://api.example.com)"},
           {"https://bot:s3/cret@api.example.com/", "(https://...)"}}) {
    fake::Host creds_host{"creds"};
    auto creds = std::make_unique<fake::Instance>(library, creds_host, json{{"base_url", base_url}}.dump());
    creds->invoke("post", R"({"url": "https://other.example/x"})");
    ASSERT_EQ(creds_host.results.size(), 1u) << base_url;
    const std::string& reason = creds_host.results[0].reason;
    EXPECT_NE(reason.find(shown), std::string::npos) << reason;
    EXPECT_EQ(reason.find("s3"), std::string::npos) << reason;
    EXPECT_EQ(reason.find("bot"), std::string::npos) << reason;
  }
  EXPECT_NE(plain_host.results[1].reason.find("'url' is required"), std::string::npos) << plain_host.results[1].reason;
}

// Headers (credentials, often) without a base_url go wherever a step's URL
// points: the instance says so when it starts.
TEST_F(HttpPluginTest, HeadersWithoutABaseUrlAreWarnedOf) {
  fake::Host open_host{"open"};
  auto open = std::make_unique<fake::Instance>(library, open_host, R"({"headers": {"Authorization": "Bearer t"}})");
  ASSERT_EQ(open->status(), SB_OK);
  ASSERT_EQ(open_host.warnings.size(), 1u);
  EXPECT_NE(open_host.warnings[0].find("no 'base_url'"), std::string::npos);
  fake::Host confined_host{"confined"};
  auto confined = std::make_unique<fake::Instance>(
      library, confined_host, R"({"base_url": "https://api.example.com", "headers": {"Authorization": "Bearer t"}})");
  EXPECT_TRUE(confined_host.warnings.empty());
}

TEST_F(HttpPluginTest, RejectsBadConfig) {
  EXPECT_EQ(fake::Instance(library, host, R"({"base_url": "ftp://x"})").status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(fake::Instance(library, host, R"({"base_url": "https://x/?q=1"})").status(), SB_ERR_INVALID_ARGUMENT);
  fake::Instance bad_header(library, host, R"({"headers": {"Authorization": "Bearer a\nb"}})");
  EXPECT_EQ(bad_header.status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bad_header.error().find("Bearer"), std::string::npos) << bad_header.error();
}

TEST_F(HttpPluginTest, SuccessIsDoneWithRequestIdAndOutput) {
  auto instance = create("{}");
  fake::Result r = roundtrip(*instance, 201, {{"x-request-id", "req-77"}}, R"({"id": 5})");
  EXPECT_EQ(r.outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(r.external_id, "req-77");
  EXPECT_EQ(json::parse(r.output_json), json::parse(R"({"status": 201, "body": {"id": 5}})"));

  r = roundtrip(*instance, 200, {}, "plain text");
  EXPECT_EQ(r.outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(r.external_id, "");
  EXPECT_EQ(json::parse(r.output_json), json::parse(R"({"status": 200, "body": "plain text"})"));

  // Too deep to be kept as JSON, or not text at all: kept as a string, and
  // the output is still valid JSON.
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  r = roundtrip(*instance, 200, {}, deep);
  EXPECT_EQ(json::parse(r.output_json)["body"], deep);
  // 63 levels are JSON, one level inside the output the host takes 64 deep.
  const std::string deepest = std::string(63, '[') + std::string(63, ']');
  r = roundtrip(*instance, 200, {}, deepest);
  EXPECT_TRUE(json::parse(r.output_json)["body"].is_array());
  EXPECT_TRUE(json::parse(r.output_json)["body"][0].is_array());
  const std::string too_deep = std::string(64, '[') + std::string(64, ']');
  r = roundtrip(*instance, 200, {}, too_deep);
  EXPECT_EQ(json::parse(r.output_json)["body"], too_deep);  // 65 levels in the output: kept as text
  r = roundtrip(*instance, 200, {}, "caf\xe9");
  EXPECT_EQ(json::parse(r.output_json)["body"], "caf\xef\xbf\xbd");
}

TEST_F(HttpPluginTest, TransientStatusesRetryHonouringRetryAfter) {
  auto instance = create("{}");
  fake::Result r = roundtrip(*instance, 429, {{"Retry-After", "30"}}, "slow down");
  EXPECT_EQ(r.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(r.retry_after_s, 30u);
  EXPECT_EQ(r.reason, "HTTP 429: slow down");
  EXPECT_EQ(r.provider_code, "429");

  // An HTTP-date: counted from now; one already past leaves it to the host.
  r = roundtrip(*instance, 503, {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}});
  EXPECT_EQ(r.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(r.retry_after_s, 0u);
  EXPECT_EQ(r.reason, "HTTP 503");
  const std::time_t later = std::time(nullptr) + 120;
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&later));
  r = roundtrip(*instance, 503, {{"Retry-After", date}});
  EXPECT_GE(r.retry_after_s, 115u);
  EXPECT_LE(r.retry_after_s, 120u);

  for (int status : {408, 425, 500, 502, 504}) EXPECT_EQ(roundtrip(*instance, status).outcome, SB_OUTCOME_RETRY);
}

TEST_F(HttpPluginTest, NoResponseRetriesWithTheTransportError) {
  auto instance = create("{}");
  const fake::Result r = roundtrip(*instance, 0, {}, "", "Connection refused");
  EXPECT_EQ(r.outcome, SB_OUTCOME_RETRY);
  EXPECT_EQ(r.reason, "Connection refused");
}

TEST_F(HttpPluginTest, OtherClientErrorsArePermanent) {
  auto instance = create("{}");
  const std::string body = std::string(199, 'a') + "\xC3\xA9" + std::string(50, 'b');  // 'é' straddles byte 200
  fake::Result r = roundtrip(*instance, 404, {}, body);
  EXPECT_EQ(r.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(r.provider_code, "404");
  EXPECT_EQ(r.reason, "HTTP 404: " + std::string(199, 'a'));
  EXPECT_EQ(roundtrip(*instance, 400, {}, R"({"error":"bad"})").reason, R"(HTTP 400: {"error":"bad"})");
  EXPECT_EQ(roundtrip(*instance, 410).outcome, SB_OUTCOME_PERMANENT);
}

// base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), as the standard's
// libraries compute a v1 signature.
std::string standard_signature(const std::string& key, const std::string& signed_content) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signed_content.data()), signed_content.size(), mac, &length);
  std::string out(4 * ((length + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(length));
  return "v1," + out;
}

// The public vector's secret ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), decoded.
std::string vector_key() {
  const std::string b64 = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  std::string out(b64.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  out.resize(static_cast<size_t>(n));
  return out;  // 24 bytes: no padding to strip
}

// With a signing secret the instance is a Standard Webhooks sender: every
// request is signed over the bytes it sends, its id is the step's (the same
// on every retry), and an endpoint that says it is gone hears no more.
TEST_F(HttpPluginTest, SignsAsAStandardWebhooksSenderAndStopsCallingAGoneEndpoint) {
  auto instance = create(R"({"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})");
  host.now_ms = 1'614'265'330'000;
  const std::string params = R"({"url": "https://hooks.example.com/in", "body": {"test": 2432232314}})";
  ASSERT_EQ(instance->invoke("post", params, "msg_p5jXN8AQM9LWM0D4loKWxJek"), SB_OK);
  const fake::Sent& s = host.sent.at(0);
  EXPECT_EQ(s.header("webhook-id"), "msg_p5jXN8AQM9LWM0D4loKWxJek");
  EXPECT_EQ(s.header("webhook-timestamp"), "1614265330");
  EXPECT_EQ(s.header("webhook-signature"),
            standard_signature(vector_key(), "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + s.body));
  host.finish_http(0, 503);  // retried later: the same id, a new timestamp and signature
  host.now_ms += 60'000;
  ASSERT_EQ(instance->invoke("post", params, "msg_p5jXN8AQM9LWM0D4loKWxJek"), SB_OK);
  EXPECT_EQ(host.sent.at(1).header("webhook-id"), "msg_p5jXN8AQM9LWM0D4loKWxJek");
  EXPECT_EQ(host.sent.at(1).header("webhook-timestamp"), "1614265390");
  EXPECT_EQ(host.sent.at(1).header("webhook-signature"),
            standard_signature(vector_key(), "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265390." + host.sent.at(1).body));

  host.finish_http(1, 410, {}, "endpoint removed");
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(host.results.back().provider_code, "410");
  ASSERT_EQ(instance->invoke("post", params, "msg_2"), SB_OK);
  EXPECT_EQ(host.sent.size(), 2u);  // not called again
  EXPECT_EQ(host.results.back().outcome, SB_OUTCOME_PERMANENT);
  EXPECT_NE(host.results.back().reason.find("410 Gone"), std::string::npos) << host.results.back().reason;
  // Another endpoint of the instance is still called.
  ASSERT_EQ(instance->invoke("post", R"({"url": "https://hooks.example.com/other"})", "msg_3"), SB_OK);
  EXPECT_EQ(host.sent.size(), 3u);
  EXPECT_EQ(host.sent.at(2).header("webhook-signature"),
            standard_signature(vector_key(), "msg_3.1614265390."));  // no body: an empty one signed
  // An instance without a secret signs nothing, and a 410 is one failure.
  auto plain = create("{}");
  EXPECT_EQ(roundtrip(*plain, 410).outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(roundtrip(*plain, 410).outcome, SB_OUTCOME_PERMANENT);
  EXPECT_FALSE(host.sent.back().header("webhook-signature"));
  fake::Instance bad_secret(library, host, R"({"signing_secret": "whsec_not*base64"})");
  EXPECT_EQ(bad_secret.status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bad_secret.error().find("not*base64"), std::string::npos) << bad_secret.error();
}

TEST_F(HttpPluginTest, CompletesEvenAfterTheInstanceIsGone) {
  auto instance = create("{}");
  instance->invoke("post", R"({"url": "http://h.test/"})");
  instance.reset();
  host.finish_http(0, 204);
  ASSERT_EQ(host.results.size(), 1u);
  EXPECT_EQ(host.results[0].outcome, SB_OUTCOME_DONE);
}

TEST_F(HttpPluginTest, HttpClientRefusalRetries) {
  auto instance = create("{}");
  host.http_status = SB_ERR_UNAVAILABLE;
  instance->invoke("post", R"({"url": "http://h.test/"})");
  ASSERT_EQ(host.results.size(), 1u);
  EXPECT_EQ(host.results[0].outcome, SB_OUTCOME_RETRY);
}

TEST_F(HttpPluginTest, DryRunWritesARedactedRecordInsteadOfSending) {
  auto instance = create(R"({"dry_run": true, "base_url": "https://api.example.com",
                             "headers": {"Authorization": "Bearer top-secret", "X-Tenant": "t1"}})");
  ASSERT_EQ(instance->invoke("post", R"({"url": "/orders", "method": "PUT", "body": {"n": 1},
                                         "headers": {"X-Tenant": "t2", "X-Trace": "abc"}})",
                             "key-9"),
            SB_OK);
  EXPECT_TRUE(host.sent.empty());
  ASSERT_EQ(host.outbox.size(), 1u);
  EXPECT_EQ(host.outbox[0].find("top-secret"), std::string::npos);
  EXPECT_EQ(json::parse(host.outbox[0]), json::parse(R"({
    "channel": "http", "action": "post", "method": "PUT", "url": "https://api.example.com/orders",
    "headers": {"Authorization": "[redacted]", "X-Tenant": "t2", "X-Trace": "abc",
                "Content-Type": "application/json", "Idempotency-Key": "key-9"},
    "body": {"n": 1}, "idempotency_key": "key-9"})"));
  ASSERT_EQ(host.results.size(), 1u);
  EXPECT_EQ(host.results[0].outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(host.results[0].external_id, "dry-run");
}

TEST_F(HttpPluginTest, DryRunRetriesWhenTheOutboxRefuses) {
  auto instance = create(R"({"dry_run": true})");
  host.outbox_status = SB_ERR_UNSUPPORTED;
  instance->invoke("post", R"({"url": "http://h.test/"})");
  ASSERT_EQ(host.results.size(), 1u);
  EXPECT_EQ(host.results[0].outcome, SB_OUTCOME_RETRY);
}

}  // namespace
