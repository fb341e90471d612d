// The webhook plugin as the host sees it: the built library, loaded with
// dlopen and driven through the C ABI by a scripted host.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <switchboard/testing/fake_host.h>

#include <memory>
#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;

constexpr std::string_view kBody = R"({"test": 2432232314})";

class WebhookPluginTest : public ::testing::Test {
 protected:
  fake::Library library{PLUGIN_PATH};
  fake::Host host{"orders"};

  std::unique_ptr<fake::Instance> create(const std::string& config) {
    return std::make_unique<fake::Instance>(library, host, config);
  }
  json response_body(uint64_t id) { return json::parse(host.responses.at(id).body); }
};

TEST_F(WebhookPluginTest, DescribesItself) {
  const sb_plugin_descriptor& d = library.descriptor();
  EXPECT_EQ(fake::text(d.name), "webhook");
  ASSERT_EQ(d.trigger_count, 1u);
  EXPECT_EQ(fake::text(d.triggers[0]->name), "webhook.received");
  EXPECT_EQ(d.action_count, 0u);
  const json schema = json::parse(fake::text(d.config_schema_json));
  EXPECT_EQ(schema["additionalProperties"], false);
  EXPECT_EQ(schema["properties"]["tolerance_s"]["default"], 300);
  EXPECT_TRUE(json::parse(fake::text(d.triggers[0]->schema_json)).is_object());
}

TEST_F(WebhookPluginTest, RoutesTheInstanceNameByDefault) {
  auto instance = create("{}");
  ASSERT_EQ(instance->status(), SB_OK) << instance->error();
  ASSERT_EQ(host.routes.size(), 1u);
  EXPECT_EQ(host.routes[0].path, "/webhooks/orders");
}

TEST_F(WebhookPluginTest, RoutesTheConfiguredPath) {
  auto instance = create(R"({"path": "crm-in_2"})");
  ASSERT_EQ(instance->status(), SB_OK) << instance->error();
  EXPECT_EQ(host.routes.at(0).path, "/webhooks/crm-in_2");
}

TEST_F(WebhookPluginTest, TakenPathIsAConfigError) {
  host.routes_available = false;
  auto instance = create("{}");
  EXPECT_EQ(instance->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_NE(instance->error().find("/webhooks/orders"), std::string::npos) << instance->error();
  EXPECT_NE(instance->error().find("taken"), std::string::npos) << instance->error();
}

TEST_F(WebhookPluginTest, RejectsBadConfigWithoutEchoingSecrets) {
  EXPECT_EQ(create(R"({"path": "Has/Slash"})")->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(create(R"({"respond": "later"})")->status(), SB_ERR_INVALID_ARGUMENT);
  auto bad_secret = create(R"({"signing_secret": "whsec_not*base64"})");
  EXPECT_EQ(bad_secret->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bad_secret->error().find("not*base64"), std::string::npos) << bad_secret->error();
  EXPECT_TRUE(host.routes.empty());
}

// A site's form or a CRM's hook names the person and the record in its own
// shape: the instance says where, and the event carries them as the events
// API's would, beside the body.
TEST_F(WebhookPluginTest, MapsTheBodysPersonRecordAndTimeIntoTheEvent) {
  auto instance = create(R"({"event_type": "lead.created",
    "contact": {"id": "/client/id", "name": "/client/name", "email": "/client/emails", "phone": "/client/phone",
                "fields": {"city": "/client/city", "utm": "/utm"}},
    "entity": {"type": "lead", "id": "/lead/id", "status": "/lead/stage"},
    "time": "/created"})");
  ASSERT_EQ(instance->status(), SB_OK) << instance->error();
  const json body = json::parse(R"({"client": {"id": 42, "name": "Иван", "emails": ["ivan@example.com", 7],
    "phone": 79990001122, "city": "Казань"}, "lead": {"id": "L-1", "stage": null}, "created": 1700000000})");
  host.request("POST", {{"Content-Type", "application/json"}}, body.dump());
  ASSERT_EQ(host.emitted.size(), 1u);
  const json payload = json::parse(host.emitted[0].payload);
  EXPECT_EQ(payload["body"], body);                                            // as it came
  EXPECT_EQ(payload["contact"], json::parse(R"({"id": "42", "name": "Иван", "emails": [{"address": "ivan@example.com"}],
    "phones": [{"number": "79990001122"}], "fields": {"city": "Казань"}})"));  // no utm in the body: left out
  EXPECT_EQ(payload["entity"], json::parse(R"({"type": "lead", "id": "L-1", "status": null})"));
  EXPECT_EQ(payload["time"], "2023-11-14T22:13:20Z");

  // Unix seconds as text count as seconds too.
  host.request("POST", {}, R"({"client": {"id": "c1"}, "created": "1700000000"})");
  EXPECT_EQ(json::parse(host.emitted.back().payload)["time"], "2023-11-14T22:13:20Z");
  // A body that names no one: no contact, no entity (no id), the time received.
  host.request("POST", {}, R"({"client": {"name": "Anon"}, "lead": {"stage": "new"}, "created": [1]})");
  ASSERT_EQ(host.emitted.size(), 3u);
  const json bare = json::parse(host.emitted[2].payload);
  EXPECT_FALSE(bare.contains("contact"));
  EXPECT_FALSE(bare.contains("entity"));
  EXPECT_FALSE(bare.contains("time"));
  // JSON sent with a form's Content-Type (curl -d without -H) is read as JSON.
  host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}},
               R"({"client": {"id": "c7"}, "created": 1700000000})");
  EXPECT_EQ(json::parse(host.emitted.back().payload)["contact"]["id"], "c7") << host.emitted.back().payload;
  // A number beyond any time (an unsigned 2^64 - 1) is no time, not 1969.
  host.request("POST", {}, R"({"client": {"id": "c1"}, "created": 18446744073709551615})");
  EXPECT_FALSE(json::parse(host.emitted.back().payload).contains("time")) << host.emitted.back().payload;
}

TEST_F(WebhookPluginTest, AMappingThatCannotWorkIsAConfigErrorNamingIt) {
  auto unnamed = create(R"({"contact": {"name": "/name"}})");
  EXPECT_EQ(unnamed->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(unnamed->error(), "'contact' must name 'id' or 'email' or 'phone'");
  auto bad_pointer = create(R"({"entity": {"type": "lead", "id": "/lead/~2id"}})");
  EXPECT_EQ(bad_pointer->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bad_pointer->error(), "'entity.id' is not a valid JSON Pointer: '/lead/~2id'");
  auto typeless = create(R"({"entity": {"id": "/id"}})");
  EXPECT_EQ(typeless->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_NE(typeless->error().find("'type'"), std::string::npos) << typeless->error();
  EXPECT_TRUE(host.routes.empty());
}

TEST_F(WebhookPluginTest, OnlyPostIsAccepted) {
  auto instance = create("{}");
  const uint64_t id = host.request("GET", {}, "");
  EXPECT_EQ(host.responses.at(id).status, 405);
  EXPECT_EQ(host.responses.at(id).content_type, "application/json");
  EXPECT_EQ(response_body(id)["error"]["code"], "method_not_allowed");
  EXPECT_TRUE(host.emitted.empty());
}

TEST_F(WebhookPluginTest, EmitsThePayloadAndAnswers202) {
  auto instance = create(R"({"event_type": "crm.order"})");
  EXPECT_EQ(host.declared, std::vector<std::string>{"crm.order"});  // the host lets it emit that type
  const uint64_t id = host.request("POST",
                                   {{"Content-Type", "application/json"},
                                    {"X-Custom", "a"},
                                    {"x-custom", "b"},
                                    {"Authorization", "Basic xyz"},
                                    {"Cookie", "s=1"},
                                    {"Webhook-Signature", "v1,abc"},
                                    {"X-Hub-Signature-256", "sha256=abc"},
                                    {"Idempotency-Key", "idem-7"}},
                                   R"({"order": {"id": 42}})", "a=1&b=2");
  ASSERT_EQ(host.emitted.size(), 1u);
  const fake::Emitted& e = host.emitted[0];
  EXPECT_EQ(e.type, "crm.order");
  EXPECT_EQ(e.id, "idem-7");
  EXPECT_EQ(e.wait, SB_EMIT_WAIT_ACCEPTED);
  EXPECT_EQ(json::parse(e.payload), json::parse(R"({
    "route": "orders",
    "body": {"order": {"id": 42}},
    "query": "a=1&b=2",
    "headers": {"content-type": "application/json", "x-custom": "a, b", "idempotency-key": "idem-7"}
  })"));
  EXPECT_EQ(host.responses.count(id), 0u);  // not before the host took it

  host.finish_emit(0, SB_OK, "ev-1");
  EXPECT_EQ(host.responses.at(id).status, 202);
  EXPECT_EQ(response_body(id), json::parse(R"({"event_id": "ev-1"})"));
  EXPECT_EQ(host.counters["webhook_requests_total"], 1);
}

TEST_F(WebhookPluginTest, WithoutAnIdTheHostAssignsOne) {
  auto instance = create("{}");
  host.request("POST", {}, "{}");
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].id, "");
}

TEST_F(WebhookPluginTest, AnswersEvenAfterTheInstanceIsGone) {
  auto instance = create("{}");
  const uint64_t id = host.request("POST", {}, "{}");
  instance.reset();
  host.finish_emit(0, SB_OK, "ev-late");
  EXPECT_EQ(host.responses.at(id).status, 202);
}

TEST_F(WebhookPluginTest, EventNotTakenAnswers503) {
  auto instance = create("{}");
  const uint64_t late = host.request("POST", {}, "{}");
  host.finish_emit(0, SB_ERR_UNAVAILABLE, "", "queue full");
  EXPECT_EQ(host.responses.at(late).status, 503);
  EXPECT_EQ(response_body(late), json::parse(R"({"error": {"code": "unavailable", "message": "queue full"}})"));
  EXPECT_EQ(host.responses.at(late).headers, (fake::Headers{{"Retry-After", "1"}}));

  host.emit_status = SB_ERR_UNAVAILABLE;
  const uint64_t now = host.request("POST", {}, "{}");
  EXPECT_EQ(host.responses.at(now).status, 503);
  EXPECT_EQ(response_body(now)["error"]["code"], "unavailable");
}

TEST_F(WebhookPluginTest, RejectsBodiesThatAreNotJsonObjects) {
  auto instance = create("{}");
  const uint64_t broken = host.request("POST", {}, "{\"a\":");
  EXPECT_EQ(host.responses.at(broken).status, 400);
  EXPECT_EQ(response_body(broken)["error"]["code"], "invalid_json");
  EXPECT_NE(response_body(broken)["error"]["message"].get<std::string>().find("parse error"), std::string::npos);

  const uint64_t array = host.request("POST", {}, "[1,2]");
  EXPECT_EQ(host.responses.at(array).status, 400);
  EXPECT_EQ(response_body(array)["error"]["message"], "expected a JSON object");

  const uint64_t trailing = host.request("POST", {}, "{} {}");
  EXPECT_EQ(host.responses.at(trailing).status, 400);

  // 63 levels of nesting (the object and 62 arrays) are taken, 64 are not:
  // the event holds the body one level down, and the host takes 64.
  const uint64_t deep = host.request("POST", {}, "{\"a\":" + std::string(63, '[') + std::string(63, ']') + "}");
  EXPECT_EQ(host.responses.at(deep).status, 400);
  EXPECT_EQ(response_body(deep)["error"]["message"], "nested deeper than 63 levels");
  EXPECT_TRUE(host.emitted.empty());
  const uint64_t deepest = host.request("POST", {}, "{\"a\":" + std::string(62, '[') + std::string(62, ']') + "}");
  EXPECT_EQ(host.responses.count(deepest), 0u);  // emitted, waiting for the host
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(json::parse(host.emitted[0].payload)["body"]["a"].size(), 1u);
}

// A body that is neither JSON nor a form, sent as what it is (XML, a
// multipart upload), is refused for its type, which names what is taken.
// JSON under a text type or none is read as JSON.
TEST_F(WebhookPluginTest, ABodyOfAnotherMediaTypeIs415) {
  auto instance = create("{}");
  const uint64_t xml = host.request("POST", {{"Content-Type", "application/xml; charset=utf-8"}}, "<lead id=\"7\"/>");
  EXPECT_EQ(host.responses.at(xml).status, 415);
  EXPECT_EQ(response_body(xml)["error"]["code"], "unsupported_media_type");
  EXPECT_EQ(response_body(xml)["error"]["message"],
            "Content-Type 'application/xml; charset=utf-8' is not taken: send a JSON object (application/json) or a "
            "form (application/x-www-form-urlencoded)");
  EXPECT_EQ(host.responses.at(xml).headers,
            (fake::Headers{{"Accept-Post", "application/json, application/x-www-form-urlencoded"}}));
  // Broken JSON said to be JSON (or text) is the body's fault: 400.
  for (const char* type : {"application/json", "application/vnd.api+json", "text/plain", ""}) {
    const uint64_t broken = host.request("POST", {{"Content-Type", type}}, "{\"a\":");
    EXPECT_EQ(host.responses.at(broken).status, 400) << type;
  }
  // A JSON object under another type is still taken.
  host.request("POST", {{"Content-Type", "application/octet-stream"}}, R"({"lead": 7})");
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(json::parse(host.emitted[0].payload)["body"], json::parse(R"({"lead": 7})"));
}

// Senders on Windows (1C, .NET's UTF8Encoding) start a body with a byte
// order mark: read past it, for JSON and forms alike.
TEST_F(WebhookPluginTest, AByteOrderMarkBeforeTheBodyIsSkipped) {
  auto instance = create(R"({"contact": {"phone": "/phone"}})");
  host.request("POST", {{"Content-Type", "application/json"}}, "\xEF\xBB\xBF{\"phone\": \"+79990001122\"}");
  host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}}, "\xEF\xBB\xBFphone=%2B79990001123");
  ASSERT_EQ(host.emitted.size(), 2u);
  EXPECT_EQ(json::parse(host.emitted[0].payload)["body"], json::parse(R"({"phone": "+79990001122"})"));
  EXPECT_EQ(json::parse(host.emitted[0].payload)["contact"]["phones"][0]["number"], "+79990001122");
  EXPECT_EQ(json::parse(host.emitted[1].payload)["body"], json::parse(R"({"phone": "+79990001123"})"));
}

// Bitrix24's outgoing webhooks (and amoCRM's, and most site forms) post a
// form, PHP-style: its fields become the object they stand for; the event's
// type comes from the body's own "event"; the application token the portal
// puts in the body is checked and taken out of the event.
TEST_F(WebhookPluginTest, AFormPostIsTheObjectItStandsFor) {
  auto instance = create(R"({"event_type": "bitrix.event", "event_type_from": "/event",
    "event_types": {"ONCRMDEALADD": "deal.created", "ONCRMDEALUPDATE": "deal.updated"},
    "body_token": {"at": "/auth/application_token", "token": "app-token-1"},
    "entity": {"type": "deal", "id": "/data/FIELDS/ID"}})");
  ASSERT_EQ(instance->status(), SB_OK) << instance->error();
  EXPECT_EQ(host.declared, (std::vector<std::string>{"bitrix.event", "deal.created", "deal.updated"}));
  const std::string form =
      "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=7&ts=1700000000&auth%5Bdomain%5D=shop.bitrix24.ru"
      "&auth%5Baccess_token%5D=oauth-access&auth%5Brefresh_token%5D=oauth-refresh"
      "&auth%5Bapplication_token%5D=app-token-1&tags%5B%5D=vip&tags%5B%5D=%D0%BE%D0%BF%D1%82&name=%D0%98%D0%B2%D0%B0%"
      "D0%BD+"
      "%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2";
  host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}, form);
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].type, "deal.updated");
  const json payload = json::parse(host.emitted[0].payload);
  // The token, and the portal's OAuth tokens beside it, are not in the event; which portal sent it is.
  EXPECT_EQ(payload["body"], json::parse(R"({"event": "ONCRMDEALUPDATE", "data": {"FIELDS": {"ID": "7"}},
      "ts": "1700000000", "auth": {"domain": "shop.bitrix24.ru"}, "tags": ["vip", "опт"], "name": "Иван Петров"})"));
  EXPECT_EQ(payload["entity"], json::parse(R"({"type": "deal", "id": "7"})"));
  for (const char* secret : {"app-token-1", "oauth-access", "oauth-refresh"})
    EXPECT_EQ(host.emitted[0].payload.find(secret), std::string::npos) << secret;

  // A kind not in the map is the instance's own type.
  host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}},
               "event=ONCRMLEADADD&auth%5Bapplication_token%5D=app-token-1");
  EXPECT_EQ(host.emitted.back().type, "bitrix.event");
  // JSON names its kind the same way.
  host.request("POST", {{"Content-Type", "application/json"}},
               R"({"event": "ONCRMDEALADD", "auth": {"application_token": "app-token-1"}})");
  EXPECT_EQ(host.emitted.back().type, "deal.created");
  EXPECT_EQ(json::parse(host.emitted.back().payload)["body"], json::parse(R"({"event": "ONCRMDEALADD", "auth": {}})"));
  ASSERT_EQ(host.emitted.size(), 3u);

  // Another portal's token, or none: refused, nothing emitted.
  const uint64_t forged = host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}},
                                       "event=ONCRMDEALADD&auth%5Bapplication_token%5D=other");
  EXPECT_EQ(host.responses.at(forged).status, 401);
  EXPECT_EQ(response_body(forged)["error"]["message"], "invalid token");
  const uint64_t bare = host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}}, "event=x");
  EXPECT_EQ(host.responses.at(bare).status, 401);
  EXPECT_EQ(response_body(bare)["error"]["message"], "the body carries no token at /auth/application_token");
  // Shapes where the token should be but is not a text: refused the same way.
  for (const char* odd : {"auth%5B%5D=app-token-1", "auth=app-token-1", "auth%5Bapplication_token%5D%5B%5D=app-token-1",
                          "auth%5Bapplication_token%5D%5Bx%5D=app-token-1"}) {
    const uint64_t id = host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}}, odd);
    EXPECT_EQ(host.responses.at(id).status, 401) << odd;
  }
  // The credential first: a bad id of a sender without the token is not told apart.
  const uint64_t bad_id = host.request(
      "POST", {{"Content-Type", "application/x-www-form-urlencoded"}, {"Idempotency-Key", "a\tb"}}, "event=x");
  EXPECT_EQ(host.responses.at(bad_id).status, 401);
  EXPECT_EQ(host.emitted.size(), 3u);
}

TEST_F(WebhookPluginTest, AFormPastItsBoundsIsRefused) {
  auto instance = create("{}");
  std::string many;
  for (int i = 0; i < 1001; ++i) many += "f" + std::to_string(i) + "=1&";
  const uint64_t wide = host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}}, many);
  EXPECT_EQ(host.responses.at(wide).status, 400);
  EXPECT_EQ(response_body(wide)["error"]["code"], "invalid_form");
  std::string deep = "a";
  for (int i = 0; i < 32; ++i) deep += "%5Bx%5D";
  const uint64_t nested = host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}}, deep + "=1");
  EXPECT_EQ(host.responses.at(nested).status, 400);
  EXPECT_TRUE(host.emitted.empty());
  // An unclosed bracket is a name as written; a later field at the same place
  // wins; what follows a closed bracket is ignored; indexes 0, 1, ... are a
  // list (amoCRM's leads[add][0][id]), others stay keys.
  host.request("POST", {{"Content-Type", "application/x-www-form-urlencoded"}},
               "a%5Bb=1&c=1&c%5Bd%5D=2&e%5Bf%5Dg=3&leads%5Badd%5D%5B1%5D%5Bid%5D=12&leads%5Badd%5D%5B0%5D%5Bid%5D=11"
               "&sparse%5B0%5D=x&sparse%5B2%5D=y&padded%5B00%5D=z");
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(
      json::parse(host.emitted[0].payload)["body"],
      json::parse(R"({"a[b": "1", "c": {"d": "2"}, "e": {"f": "3"}, "leads": {"add": [{"id": "11"}, {"id": "12"}]},
                            "sparse": {"0": "x", "2": "y"}, "padded": {"00": "z"}})"));
}

TEST_F(WebhookPluginTest, EventTypesFromTheBodyNeedTheirMapAndAPointer) {
  EXPECT_EQ(create(R"({"event_type_from": "/event"})")->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(create(R"({"event_types": {"A": "a.b"}})")->status(), SB_ERR_INVALID_ARGUMENT);
  auto bad_type = create(R"({"event_type_from": "/event", "event_types": {"A": "Not A Type"}})");
  EXPECT_EQ(bad_type->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bad_type->error(),
            "'event_types.A' must be an event type: words in lower case joined by dots (\"deal.created\")");
  // A type the host would not store the mapped contact or entity under.
  auto undotted = create(R"({"event_type": "lead"})");
  EXPECT_EQ(undotted->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(undotted->error(),
            "'event_type' must be words in lower case joined by dots (\"lead.created\"), got 'lead'");
  auto no_pointer = create(R"({"body_token": {"at": "auth.token", "token": "t"}})");
  EXPECT_EQ(no_pointer->status(), SB_ERR_INVALID_ARGUMENT);
  EXPECT_NE(no_pointer->error().find("body_token.at"), std::string::npos);
  EXPECT_TRUE(host.routes.empty());
}

// An id the host would refuse is the sender's to fix (400), not a 503 it retries.
TEST_F(WebhookPluginTest, RejectsIdsThatAreNotShortUtf8Text) {
  auto instance = create("{}");
  // Not UTF-8, a control character, too long, an overlong '/', a surrogate.
  for (const std::string& bad : {std::string("\xff"), std::string("a\x01b"), std::string(201, 'x'),
                                 std::string("\xc0\xaf"), std::string("\xed\xa0\x80")}) {
    const uint64_t id = host.request("POST", {{"Idempotency-Key", bad}}, "{}");
    EXPECT_EQ(host.responses.at(id).status, 400);
    EXPECT_EQ(response_body(id)["error"]["code"], "invalid_id");
  }
  const uint64_t long_cyrillic = host.request("POST", {{"webhook-id", "я" + std::string(199, 'x')}}, "{}");
  EXPECT_EQ(host.responses.count(long_cyrillic), 0u);  // 200 characters: emitted
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].id, "я" + std::string(199, 'x'));
}

TEST_F(WebhookPluginTest, PayloadKeepsTheBodyAsSentWithUnicode) {
  auto instance = create("{}");
  host.request("POST", {}, "{ \"name\" : \"Иван\", \"n\": 1.50, \"tags\": [\"a\", {\"b\": null}] }");
  ASSERT_EQ(host.emitted.size(), 1u);
  const json payload = json::parse(host.emitted[0].payload);
  EXPECT_EQ(payload["body"], json::parse(R"({"name":"Иван","n":1.5,"tags":["a",{"b":null}]})"));
}

TEST_F(WebhookPluginTest, BearerTokenIsRequiredWhenConfigured) {
  auto instance = create(R"({"bearer_token": "s3cr3t-token"})");
  const uint64_t missing = host.request("POST", {}, "{}");
  const uint64_t wrong = host.request("POST", {{"Authorization", "Bearer s3cr3t-tokeX"}}, "{}");
  const uint64_t shorter = host.request("POST", {{"Authorization", "Bearer s3cr3t"}}, "{}");
  const uint64_t basic = host.request("POST", {{"Authorization", "Basic s3cr3t-token"}}, "{}");
  for (uint64_t id : {missing, wrong, shorter, basic}) {
    EXPECT_EQ(host.responses.at(id).status, 401);
    EXPECT_EQ(response_body(id)["error"]["code"], "unauthorized");
    EXPECT_EQ(host.responses.at(id).body.find("s3cr3t"), std::string::npos) << host.responses.at(id).body;
  }
  EXPECT_TRUE(host.emitted.empty());
  EXPECT_EQ(host.counters["webhook_rejected_total"], 4);

  host.request("POST", {{"authorization", "bearer s3cr3t-token"}}, "{}");
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(json::parse(host.emitted[0].payload)["headers"].count("authorization"), 0u);
}

TEST_F(WebhookPluginTest, StandardWebhooksSignatureIsRequiredWhenConfigured) {
  auto instance = create(R"({"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})");
  host.now_ms = 1614265330000 + 299000;
  const fake::Headers headers = {{"webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
                                 {"webhook-timestamp", "1614265330"},
                                 {"webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}};
  host.request("POST", headers, std::string(kBody));
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
  const json payload = json::parse(host.emitted[0].payload);
  EXPECT_EQ(payload["headers"].count("webhook-signature"), 0u);
  EXPECT_EQ(payload["headers"]["webhook-id"], "msg_p5jXN8AQM9LWM0D4loKWxJek");

  const uint64_t tampered = host.request("POST", headers, R"({"test": 1})");
  EXPECT_EQ(host.responses.at(tampered).status, 401);
  EXPECT_EQ(response_body(tampered)["error"]["code"], "invalid_signature");
  EXPECT_EQ(host.responses.at(tampered).body.find("MfKQ9r8"), std::string::npos);

  host.now_ms = 1614265330000 + 301000;
  const uint64_t old = host.request("POST", headers, std::string(kBody));
  EXPECT_EQ(response_body(old)["error"]["message"], "message timestamp too old");

  const uint64_t unsigned_request = host.request("POST", {}, std::string(kBody));
  EXPECT_EQ(response_body(unsigned_request)["error"]["message"], "missing webhook-id header");
  EXPECT_EQ(host.emitted.size(), 1u);
}

// Svix, where the standard comes from, sends the same three headers as
// svix-id, svix-timestamp and svix-signature.
TEST_F(WebhookPluginTest, SvixHeaderNamesAreTheStandardOnes) {
  auto instance = create(R"({"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})");
  host.now_ms = 1614265330000;
  host.request("POST",
               {{"svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
                {"svix-timestamp", "1614265330"},
                {"svix-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}},
               std::string(kBody));
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
  EXPECT_EQ(json::parse(host.emitted[0].payload)["headers"].count("svix-signature"), 0u);
  const uint64_t wrong = host.request("POST",
                                      {{"svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
                                       {"svix-timestamp", "1614265330"},
                                       {"svix-signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}},
                                      std::string(kBody));
  EXPECT_EQ(host.responses.at(wrong).status, 401);
  EXPECT_EQ(host.emitted.size(), 1u);
  // The three svix-* headers are one set: a stray webhook-id beside them
  // does not mix with it.
  host.request("POST",
               {{"webhook-id", "other"},
                {"svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
                {"svix-timestamp", "1614265330"},
                {"svix-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}},
               std::string(kBody));
  ASSERT_EQ(host.emitted.size(), 2u);
  EXPECT_EQ(host.emitted[1].id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
}

// Standard Webhooks' asymmetric scheme: the sender signs with its Ed25519
// key (v1a), the instance holds only the public half.
TEST_F(WebhookPluginTest, AnAsymmetricSignatureIsCheckedWithThePublicKey) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"),
                                                          &EVP_PKEY_free);
  unsigned char raw[32];
  size_t raw_length = sizeof raw;
  EVP_PKEY_get_raw_public_key(key.get(), raw, &raw_length);
  const auto base64 = [](const unsigned char* bytes, size_t n) {
    std::string out(4 * ((n + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, static_cast<int>(n));
    return out;
  };
  auto instance = create(json{{"signing_public_key", "whpk_" + base64(raw, raw_length)}}.dump());
  ASSERT_EQ(instance->status(), SB_OK) << instance->error();
  const std::string content = "msg_1.1614265330." + std::string(kBody);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char signature[64];
  size_t signature_length = sizeof signature;
  EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get());
  EVP_DigestSign(ctx.get(), signature, &signature_length, reinterpret_cast<const unsigned char*>(content.data()),
                 content.size());
  host.now_ms = 1614265330000;
  const fake::Headers headers = {{"webhook-id", "msg_1"},
                                 {"webhook-timestamp", "1614265330"},
                                 {"webhook-signature", "v1a," + base64(signature, signature_length)}};
  host.request("POST", headers, std::string(kBody));
  ASSERT_EQ(host.emitted.size(), 1u);
  const uint64_t tampered = host.request("POST", headers, R"({"test": 1})");
  EXPECT_EQ(host.responses.at(tampered).status, 401);
  EXPECT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(create(R"({"signing_public_key": "whpk_YWJjZA=="})")->status(), SB_ERR_INVALID_ARGUMENT);
}

TEST_F(WebhookPluginTest, CompletedAnswers200WhenEveryExecutionIsDone) {
  auto instance = create(R"({"respond": "completed"})");
  const uint64_t id = host.request("POST", {}, "{}");
  ASSERT_EQ(host.emitted.size(), 1u);
  EXPECT_EQ(host.emitted[0].wait, SB_EMIT_WAIT_COMPLETED);
  host.finish_emit(0, SB_OK, "ev-9", "",
                   R"({"executions":[{"rule":"a","status":"done"},{"rule":"b","status":"done","steps":[]}]})", 2, 2);
  EXPECT_EQ(host.responses.at(id).status, 200);
  EXPECT_EQ(response_body(id), json::parse(R"({"event_id": "ev-9", "executions":
      [{"rule":"a","status":"done"},{"rule":"b","status":"done","steps":[]}]})"));
}

TEST_F(WebhookPluginTest, CompletedAnswers502WhenAnExecutionFailed) {
  auto instance = create(R"({"respond": "completed"})");
  const uint64_t id = host.request("POST", {}, "{}");
  host.finish_emit(0, SB_OK, "ev-9", "",
                   R"({"executions":[{"rule":"a","status":"done"},{"rule":"b","status":"failed"}]})", 2, 1);
  EXPECT_EQ(host.responses.at(id).status, 502);
  EXPECT_EQ(response_body(id)["executions"][1]["status"], "failed");
  EXPECT_EQ(response_body(id)["event_id"], "ev-9");
}

TEST_F(WebhookPluginTest, CompletedWithNoExecutionsAnswers200) {
  auto instance = create(R"({"respond": "completed"})");
  const uint64_t empty_report = host.request("POST", {}, "{}");
  host.finish_emit(0, SB_OK, "ev-1", "", R"({"executions":[]})");
  EXPECT_EQ(host.responses.at(empty_report).status, 200);
  const uint64_t no_report = host.request("POST", {}, "{}");
  host.finish_emit(1, SB_OK, "ev-2");
  EXPECT_EQ(host.responses.at(no_report).status, 200);
  EXPECT_EQ(response_body(no_report), json::parse(R"({"event_id": "ev-2", "executions": []})"));
}

TEST_F(WebhookPluginTest, CompletedIsNot200UnlessTheHostSaysEveryExecutionIsDone) {
  auto instance = create(R"({"respond": "completed"})");
  const uint64_t unreadable = host.request("POST", {}, "{}");
  host.finish_emit(0, SB_OK, "ev-3", "", "not json", 1, 0);
  EXPECT_EQ(host.responses.at(unreadable).status, 502);
  EXPECT_EQ(response_body(unreadable), json::parse(R"({"event_id": "ev-3", "executions": []})"));
  // A host whose result has no counts proves nothing either.
  const uint64_t older_host = host.request("POST", {}, "{}");
  host.finish_emit(1, SB_OK, "ev-4", "", R"({"executions":[]})", 0, 0, offsetof(sb_emit_result, execution_count));
  EXPECT_EQ(host.responses.at(older_host).status, 502);
}

}  // namespace
