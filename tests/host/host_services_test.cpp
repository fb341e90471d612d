// The services the host offers plugins, called through the C tables exactly
// as a plugin would.
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <mutex>
#include <sstream>

#include "config/Config.h"
#include "http/HttpClient.h"
#include "http/WebhookRoutes.h"
#include "integration/test_support.h"
#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "plugins/HostServices.h"
#include "plugins/PendingCalls.h"
#include "store/Outbox.h"
#include "store/SqliteStore.h"
#include "util/TrackingTokens.h"

namespace sb {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

sb_str view(const std::string& s) { return {s.data(), s.size()}; }

template <class T>
const T* service(const sb_host* host, const char* id) {
  return static_cast<const T*>(host->get_service(host, id));
}

class RecordingSink : public EventSink {
 public:
  sb_status emit(EmittedEvent event, sb_emit_wait, std::function<void(const EmitReport&)> done) override {
    events.push_back(event);
    done(EmitReport{SB_OK, "evt_1", "", report});
    return SB_OK;
  }
  std::vector<EmittedEvent> events;
  json report = json{{"executions", json::array()}};
};

class HostServicesTest : public ::testing::Test {
 protected:
  HostServicesTest() : dir_(test::make_temp_dir("sb_services")) {
    kv_ = std::make_unique<SqliteStore>(SqliteStore::Options{dir_ / "store.db"});
    outbox_ = std::make_unique<Outbox>(dir_ / "outbox.jsonl");
    deps_.metrics = &metrics_;
    deps_.kv = kv_.get();
    deps_.outbox = outbox_.get();
    deps_.calls = &calls_;
    deps_.routes = &routes_;
    deps_.events = &events_;
    deps_.http = &http_;
    deps_.secrets = {{"crm_token", "tok-123456"}, {"events", "event-token"}, {"sms_key", "sms-secret"}};
    deps_.instance_secrets = {{"crm", {"crm_token", "missing"}}, {"sms", {"sms_key"}}};
    host_ = make_instance_host(deps_, "http", "crm");
    host_->emits = {"lead.created"};  // as its plugin's trigger names would
  }
  ~HostServicesTest() override { fs::remove_all(dir_); }

  const sb_host* host() const { return &host_->table; }

  fs::path dir_;
  Metrics metrics_;
  PendingCalls calls_;
  WebhookRoutes routes_;
  RecordingSink events_;
  HttpClient http_;
  std::unique_ptr<SqliteStore> kv_;
  std::unique_ptr<Outbox> outbox_;
  HostDependencies deps_;
  std::unique_ptr<InstanceHost> host_;
};

std::optional<std::string> get_value(sb_status (*get)(const sb_host*, sb_str, sb_on_value, void*), const sb_host* h,
                                     const std::string& key) {
  std::optional<std::string> out;
  auto on_value = [](void* user, sb_str v) { static_cast<std::optional<std::string>*>(user)->emplace(v.ptr, v.len); };
  if (get(h, view(key), on_value, &out) != SB_OK) return std::nullopt;
  return out;
}

class RecordingCrm : public CrmRecords {
 public:
  CrmAnswer get(const std::string& kind, const std::string& id) override { return {SB_OK, kind + "/" + id}; }
  CrmAnswer query(const std::string&, const std::string&, size_t) override { return {SB_OK, "{}"}; }
  CrmAnswer query_entities(const std::string& type, const std::string&, const std::string& after, size_t) override {
    return {SB_OK, type + " after " + after};
  }
  void apply(const CallSubject& call, const std::string& instance, const std::string& key, const std::string& change,
             std::function<void(CrmAnswer)> done) override {
    applied.push_back(call.event_id + "|" + call.contact_key + "|" + instance + "|" + key + "|" + change);
    done({SB_OK, "evt-" + key});
  }
  std::vector<std::string> applied;
};

TEST_F(HostServicesTest, TheRecordsServiceIsGrantedPerInstanceAndChangesOnlyForItsCallsInFlight) {
  RecordingCrm crm;
  deps_.crm = &crm;
  deps_.instance_grants = {{"records", {"crm"}}};
  auto granted = make_instance_host(deps_, "crm", "records");
  auto other = make_instance_host(deps_, "crm", "crm");  // the fixture's instance: no grant
  EXPECT_EQ(other->table.get_service(&other->table, SB_SERVICE_CRM), nullptr);
  const auto* api = service<sb_host_crm_v1>(&granted->table, SB_SERVICE_CRM);
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(get_value(
                [](const sb_host* h, sb_str id, sb_on_value v, void* u) {
                  return service<sb_host_crm_v1>(h, SB_SERVICE_CRM)->get(h, view(std::string("deal")), id, v, u);
                },
                &granted->table, "D1"),
            "deal/D1");
  ASSERT_TRUE(SB_HAS_FIELD(api, sb_host_crm_v1, query_entities));  // ABI 1.2
  std::string page;
  EXPECT_EQ(api->query_entities(
                &granted->table, view(std::string("task")), view(std::string("{}")), view(std::string("T1")), 10,
                [](void* u, sb_str v) { static_cast<std::string*>(u)->assign(v.ptr, v.len); }, &page),
            SB_OK);
  EXPECT_EQ(page, "task after T1");
  EXPECT_EQ(api->query_entities(
                &granted->table, view(std::string("task")), view(std::string("{}")), view(std::string("")), 0,
                [](void*, sb_str) {}, nullptr),
            SB_ERR_INVALID_ARGUMENT);  // a limit of 0

  std::vector<std::string> results;
  auto on_applied = [](void* user, sb_status status, sb_str result) {
    static_cast<std::vector<std::string>*>(user)->push_back(std::to_string(status) + " " +
                                                            std::string(result.ptr, result.len));
  };
  const std::string change = R"({"op":"add_tags","tags":["VIP"]})";
  // No call in flight with that key: refused, and the callback never runs.
  EXPECT_EQ(api->apply(&granted->table, view(std::string("e1:r:0")), view(change), on_applied, &results),
            SB_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(crm.applied.empty());
  granted->calls_in_flight["e1:r:0"] = {CallSubject{"e1", 0, "id:C1", "deal", "D1", "{}", 0, "", ""}, 1};
  EXPECT_EQ(api->apply(&granted->table, view(std::string("e1:r:0")), view(change), on_applied, &results), SB_OK);
  EXPECT_EQ(crm.applied, (std::vector<std::string>{"e1|id:C1|records|e1:r:0|" + change}));
  EXPECT_EQ(results, (std::vector<std::string>{"0 evt-e1:r:0"}));
}

TEST_F(HostServicesTest, TrackedLinksAreSignedForCallsInFlightOnly) {
  const auto* api = service<sb_host_tracking_v1>(host(), SB_SERVICE_TRACKING);
  ASSERT_NE(api, nullptr);
  auto link = [&](const std::string& key, const std::string& kind, const std::string& url, sb_status* status) {
    std::string out;
    auto on_value = [](void* user, sb_str v) { static_cast<std::string*>(user)->assign(v.ptr, v.len); };
    *status = api->link(host(), view(key), view(kind), view(std::string("email")), view(std::string("m1@shop.test")),
                        view(url), on_value, &out);
    return out;
  };
  sb_status status;
  link("e1:offer:s1", "open", "", &status);
  EXPECT_EQ(status, SB_ERR_UNAVAILABLE);  // the host has no tracking.base_url
  const TrackingTokens tokens("key", "https://sb.example.com/");
  deps_.tracking = &tokens;
  link("e1:offer:s1", "open", "", &status);
  EXPECT_EQ(status, SB_ERR_NOT_FOUND);  // no such call in flight
  host_->calls_in_flight["e1:offer:s1"] = {CallSubject{"e1", 0, "id:C1", "", "", "{}", 42, "offer", "s1"}, 1};
  const std::string click = link("e1:offer:s1", "click", "https://shop.test/a?b=1", &status);
  ASSERT_EQ(status, SB_OK);
  ASSERT_EQ(click.rfind("https://sb.example.com/t/c/", 0), 0u) << click;
  const auto verified = tokens.verify("click", click.substr(std::string("https://sb.example.com/t/c/").size()));
  ASSERT_TRUE(verified);
  EXPECT_EQ(verified->url, "https://shop.test/a?b=1");
  EXPECT_EQ(verified->contact_key, "id:C1");
  EXPECT_EQ(verified->execution_id, 42);
  EXPECT_EQ(verified->rule, "offer");
  EXPECT_EQ(verified->step, "s1");
  EXPECT_EQ(verified->message_id, "m1@shop.test");
  // Only web links redirect, and only kinds the host serves.
  link("e1:offer:s1", "click", "javascript:alert(1)", &status);
  EXPECT_EQ(status, SB_ERR_INVALID_ARGUMENT);
  link("e1:offer:s1", "click", "https://shop.test/a\r\nSet-Cookie: x", &status);
  EXPECT_EQ(status, SB_ERR_INVALID_ARGUMENT);
  link("e1:offer:s1", "forward", "", &status);
  EXPECT_EQ(status, SB_ERR_INVALID_ARGUMENT);
}

TEST_F(HostServicesTest, HostTableIdentifiesTheInstance) {
  EXPECT_EQ(host()->abi_version.major, 1u);
  EXPECT_EQ(std::string(host()->instance_name.ptr, host()->instance_name.len), "crm");
  EXPECT_EQ(host()->get_service(host(), "switchboard.nope/1"), nullptr);
  EXPECT_EQ(host()->get_service(host(), "switchboard.kv/2"), nullptr);  // versions are exact
}

TEST_F(HostServicesTest, KvStateIsDurableAndPrivateToTheInstance) {
  auto* kv = service<sb_host_kv_v1>(host(), SB_SERVICE_KV);
  ASSERT_NE(kv, nullptr);
  EXPECT_EQ(kv->put(host(), view("cursor"), view("42")), SB_OK);
  EXPECT_EQ(get_value(kv->get, host(), "cursor"), "42");

  auto other = make_instance_host(deps_, "http", "other");
  EXPECT_EQ(get_value(kv->get, &other->table, "cursor"), std::nullopt);

  // Reopen the file: the value is still there.
  kv_ = std::make_unique<SqliteStore>(SqliteStore::Options{dir_ / "store.db"});
  deps_.kv = kv_.get();
  EXPECT_EQ(get_value(kv->get, host(), "cursor"), "42");
  EXPECT_EQ(kv->remove(host(), view("cursor")), SB_OK);
  EXPECT_EQ(get_value(kv->get, host(), "cursor"), std::nullopt);
}

// The 1.1 calls never wait for the disk: an action on an I/O thread may use
// them. Their answers come in the order they were made.
TEST_F(HostServicesTest, KvAsyncCallsAnswerOnceInTheOrderTheyWereMade) {
  auto* kv = service<sb_host_kv_v1>(host(), SB_SERVICE_KV);
  ASSERT_TRUE(SB_HAS_FIELD(kv, sb_host_kv_v1, remove_async));
  struct Answers {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::string> got;
    void add(std::string a) {
      std::lock_guard lock(mutex);
      got.push_back(std::move(a));
      changed.notify_all();
    }
  } answers;
  const auto on_value = [](void* user, sb_status status, sb_str value) {
    static_cast<Answers*>(user)->add("get " + std::to_string(status) + " " +
                                     std::string(value.ptr ? value.ptr : "", value.len));
  };
  const auto on_done = [](void* user, sb_status status) {
    static_cast<Answers*>(user)->add("done " + std::to_string(status));
  };
  EXPECT_EQ(kv->get_async(host(), view("cursor"), on_value, &answers), SB_OK);
  EXPECT_EQ(kv->put_async(host(), view("cursor"), view("42"), on_done, &answers), SB_OK);
  EXPECT_EQ(kv->get_async(host(), view("cursor"), on_value, &answers), SB_OK);
  EXPECT_EQ(kv->remove_async(host(), view("cursor"), on_done, &answers), SB_OK);
  EXPECT_EQ(kv->get_async(host(), view("cursor"), on_value, &answers), SB_OK);
  EXPECT_EQ(kv->get_async(host(), view("cursor"), nullptr, &answers), SB_ERR_INVALID_ARGUMENT);
  std::unique_lock lock(answers.mutex);
  answers.changed.wait_for(lock, std::chrono::seconds(5), [&] { return answers.got.size() == 5; });
  EXPECT_EQ(answers.got, (std::vector<std::string>{"get 2 ", "done 0", "get 0 42", "done 0", "get 2 "}));
  lock.unlock();
  EXPECT_EQ(get_value(kv->get, host(), "cursor"), std::nullopt);
}

TEST_F(HostServicesTest, SecretsAreLookedUpByName) {
  auto* secrets = service<sb_host_secrets_v1>(host(), SB_SERVICE_SECRETS);
  EXPECT_EQ(get_value(secrets->get, host(), "crm_token"), "tok-123456");
  EXPECT_EQ(get_value(secrets->get, host(), "missing"), std::nullopt);
}

TEST_F(HostServicesTest, AnInstanceReadsOnlyTheSecretsItsConfigReferences) {
  auto* secrets = service<sb_host_secrets_v1>(host(), SB_SERVICE_SECRETS);
  EXPECT_EQ(get_value(secrets->get, host(), "events"), std::nullopt);   // the event token: never a plugin's
  EXPECT_EQ(get_value(secrets->get, host(), "sms_key"), std::nullopt);  // another instance's credentials
  auto sms = make_instance_host(deps_, "sms", "sms");
  EXPECT_EQ(get_value(secrets->get, &sms->table, "sms_key"), "sms-secret");
  EXPECT_EQ(get_value(secrets->get, &sms->table, "crm_token"), std::nullopt);
  auto unlisted = make_instance_host(deps_, "http", "unlisted");  // references none
  EXPECT_EQ(get_value(secrets->get, &unlisted->table, "crm_token"), std::nullopt);
}

TEST(SecretNames, AreFoundAtAnyDepthOfAnInstanceConfig) {
  const auto names = secret_names(nlohmann::json::parse(
      R"({"token": {"$secret": "a"}, "smtp": {"password": {"$secret": "b"}}, "list": [{"$secret": "c"}], "x": "d"})"));
  EXPECT_EQ(names, (std::set<std::string>{"a", "b", "c"}));
}

TEST_F(HostServicesTest, PluginMetricsAreExportedWithPluginAndInstanceLabels) {
  auto* m = service<sb_host_metrics_v1>(host(), SB_SERVICE_METRICS);
  m->counter_add(host(), view("sent_total"), 2);
  m->counter_add(host(), view("Bad-Name"), 1);  // invalid names are dropped
  m->histogram_observe(host(), view("latency_seconds"), 0.02);
  const std::string text = metrics_.prometheus_text();
  EXPECT_NE(text.find("switchboard_plugin_sent_total{instance=\"crm\",plugin=\"http\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("switchboard_plugin_latency_seconds_bucket{instance=\"crm\",plugin=\"http\",le=\"0.025\"} 1"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("Bad-Name"), std::string::npos);
}

// What the exposition format cannot carry never reaches /metrics, whatever a
// plugin passes: a counter that goes down or is not a number, a NaN or
// infinite observation, one name as both kinds (two "# TYPE" lines).
TEST_F(HostServicesTest, APluginsMetricsStayParseable) {
  auto* m = service<sb_host_metrics_v1>(host(), SB_SERVICE_METRICS);
  m->counter_add(host(), view("sent_total"), 3);
  m->counter_add(host(), view("sent_total"), -5);
  m->counter_add(host(), view("sent_total"), std::nan(""));
  m->counter_add(host(), view("sent_total"), std::numeric_limits<double>::infinity());
  m->histogram_observe(host(), view("latency_seconds"), 0.5);
  m->histogram_observe(host(), view("latency_seconds"), std::nan(""));
  m->histogram_observe(host(), view("latency_seconds"), -std::numeric_limits<double>::infinity());
  m->histogram_observe(host(), view("sent_total"), 1);  // a counter's name
  m->counter_add(host(), view("latency_seconds"), 1);   // a histogram's name
  const std::string text = metrics_.prometheus_text();
  EXPECT_NE(text.find("switchboard_plugin_sent_total{instance=\"crm\",plugin=\"http\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("switchboard_plugin_latency_seconds_sum{instance=\"crm\",plugin=\"http\"} 0.5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("switchboard_plugin_latency_seconds_count{instance=\"crm\",plugin=\"http\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("nan"), std::string::npos) << text;
  EXPECT_EQ(text.find("inf"), std::string::npos) << text;
  size_t types = 0;
  for (size_t at = text.find("# TYPE switchboard_plugin_"); at != std::string::npos;
       at = text.find("# TYPE switchboard_plugin_", at + 1))
    ++types;
  EXPECT_EQ(types, 2u) << text;
}

TEST_F(HostServicesTest, LogLinesAreStructuredAndRedactSecrets) {
  std::ostringstream out;
  Logger::instance().set_stream(&out);
  Logger::instance().add_secret("tok-123456");
  auto* log = service<sb_host_log_v1>(host(), SB_SERVICE_LOG);
  log->log(host(), SB_LOG_WARN, view("calling with tok-123456"), view(R"({"header":"Bearer tok-123456"})"));
  Logger::instance().set_stream(nullptr);
  json line = json::parse(out.str());
  EXPECT_EQ(line["level"], "warn");
  EXPECT_EQ(line["plugin"], "http");
  EXPECT_EQ(line["instance"], "crm");
  EXPECT_EQ(line["msg"], "calling with [redacted]");
  EXPECT_EQ(line["header"], "Bearer [redacted]");
}

// A short secret ("ad") is masked where it stands alone, not inside every
// word that holds its letters ("lead", a log line's keys); a long one
// wherever it is, inside other text too.
TEST(Redaction, AShortSecretIsMaskedAsAWordALongOneAnywhere) {
  Logger::instance().add_secret("q7");
  Logger::instance().add_secret("Zx9-long-secret");
  EXPECT_EQ(Logger::instance().redact("the lead q7 has q7q7 and aq7, q7"),
            "the lead [redacted] has q7q7 and aq7, [redacted]");
  EXPECT_EQ(Logger::instance().redact("key=q7&x=1 \"q7\" Пq7"), "key=[redacted]&x=1 \"[redacted]\" Пq7");
  EXPECT_EQ(Logger::instance().redact("abcZx9-long-secretdef"), "abc[redacted]def");
  // After an escape that ends in letters: a line's "\n", "\u001b", a URL's "%3D".
  EXPECT_EQ(Logger::instance().redact(R"(key:\nq7 \u001bq7 k%3Dq7 x\\q7)"),
            R"(key:\n[redacted] \u001b[redacted] k%3D[redacted] x\\[redacted])");
  std::ostringstream out;
  Logger::instance().set_stream(&out);
  Logger::instance().add_secret("ev");
  Logger::instance().log(LogLevel::warn, "test", "token ev leaked", json::object());
  Logger::instance().set_stream(nullptr);
  const json line = json::parse(out.str());  // the keys are whole: "level" holds "ev"
  EXPECT_EQ(line["level"], "warn");
  EXPECT_EQ(line["msg"], "token [redacted] leaked");
}

// A provider that refuses "Authorization: Bearer <token>" may echo the
// token alone, or an error body cut to its first bytes may end inside it.
TEST(Redaction, ACredentialAloneAndASecretCutShortAreMasked) {
  Logger::instance().add_secret("Bearer sink-super-secret-xyz");
  const auto redact = [](const std::string& text) { return Logger::instance().redact(text); };
  EXPECT_EQ(redact("HTTP 401: invalid token: sink-super-secret-xyz"), "HTTP 401: invalid token: [redacted]");
  EXPECT_EQ(redact("HTTP 400: xxxxBearer sink-sup"), "HTTP 400: xxxxBearer [redacted]");  // its first bytes
  EXPECT_EQ(redact("HTTP 400: sink-s"), "HTTP 400: sink-s");            // too short to be told from text
  EXPECT_EQ(redact("HTTP 400: xsink-super"), "HTTP 400: xsink-super");  // not a word of its own
  EXPECT_EQ(redact("expected Authorization: Bearer"), "expected Authorization: Bearer");  // the scheme is text
}

TEST_F(HostServicesTest, OutboxRecordsAreStampedAndRedacted) {
  Logger::instance().add_secret("tok-123456");
  auto* outbox = service<sb_host_outbox_v1>(host(), SB_SERVICE_OUTBOX);
  EXPECT_EQ(outbox->write(host(), view(R"({"to":"+79990001122","auth":"tok-123456"})")), SB_OK);
  EXPECT_EQ(outbox->write(host(), view("not json")), SB_ERR_INVALID_ARGUMENT);
  std::ifstream in(dir_ / "outbox.jsonl");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json record = json::parse(text);
  EXPECT_EQ(record["to"], "+79990001122");
  EXPECT_EQ(record["auth"], "[redacted]");
  EXPECT_EQ(record["instance"], "crm");
  EXPECT_TRUE(record["ts"].is_string());
}

TEST_F(HostServicesTest, EmitCopiesTheEventAndTagsItsSource) {
  auto* events = service<sb_host_events_v1>(host(), SB_SERVICE_EVENTS);
  std::string type = "lead.created", payload = R"({"id":7})";
  sb_event ev{sizeof(sb_event), view(type), {"", 0}, view(payload)};
  std::string reported;
  auto on_emitted = [](void* user, const sb_emit_result* r) {
    static_cast<std::string*>(user)->assign(r->event_id.ptr, r->event_id.len);
  };
  EXPECT_EQ(events->emit(host(), &ev, SB_EMIT_WAIT_ACCEPTED, on_emitted, &reported), SB_OK);
  EXPECT_EQ(reported, "evt_1");
  ASSERT_EQ(events_.events.size(), 1u);
  EXPECT_EQ(events_.events[0].source, "crm");
  EXPECT_EQ(events_.events[0].payload, json({{"id", 7}}));

  // Nested a million levels (2 MB): refused, not copied into a tree that would overflow the stack.
  std::string deep = "{\"a\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}";
  sb_event too_deep{sizeof(sb_event), view(type), {"", 0}, view(deep)};
  EXPECT_EQ(events->emit(host(), &too_deep, SB_EMIT_WAIT_ACCEPTED, on_emitted, &reported), SB_ERR_INVALID_ARGUMENT);
  std::string bad = "[1,2]";
  sb_event not_object{sizeof(sb_event), view(type), {"", 0}, view(bad)};
  EXPECT_EQ(events->emit(host(), &not_object, SB_EMIT_WAIT_ACCEPTED, on_emitted, &reported), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(events->emit(host(), &ev, static_cast<sb_emit_wait>(9), on_emitted, &reported), SB_ERR_INVALID_ARGUMENT);
  // An id that is not UTF-8 would be stored as other text than was emitted.
  std::string latin1_id = "caf\xe9";
  sb_event bad_id{sizeof(sb_event), view(type), view(latin1_id), view(payload)};
  EXPECT_EQ(events->emit(host(), &bad_id, SB_EMIT_WAIT_ACCEPTED, on_emitted, &reported), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(events_.events.size(), 1u);
}

TEST_F(HostServicesTest, AnInstanceEmitsOnlyTheEventTypesItDeclares) {
  auto* events = service<sb_host_events_v1>(host(), SB_SERVICE_EVENTS);
  ASSERT_TRUE(SB_HAS_FIELD(events, sb_host_events_v1, declare));
  auto emit = [&](const std::string& type) {
    const std::string payload = "{}";
    sb_event ev{sizeof(sb_event), view(type), {"", 0}, view(payload)};
    return events->emit(
        host(), &ev, SB_EMIT_WAIT_ACCEPTED, [](void*, const sb_emit_result*) {}, nullptr);
  };
  EXPECT_EQ(emit("lead.created"), SB_OK);
  EXPECT_EQ(emit("contact.deleted"), SB_ERR_INVALID_ARGUMENT);                     // refused, and logged
  EXPECT_EQ(events->declare(host(), view("message.*")), SB_ERR_INVALID_ARGUMENT);  // only while it is created
  host_->creating = true;
  EXPECT_EQ(events->declare(host(), view("message.*")), SB_OK);
  EXPECT_EQ(events->declare(host(), view("two words")), SB_ERR_INVALID_ARGUMENT);
  host_->creating = false;
  EXPECT_EQ(emit("message.read"), SB_OK);
  EXPECT_EQ(emit("message.delivered"), SB_OK);
  EXPECT_EQ(emit("message"), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(emit("messages.read"), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(events_.events.size(), 3u);
}

TEST(DeclaredEventTypes, AreExactOrAPrefixEndingInAStar) {
  const std::vector<std::string> declared{"webhook.received", "message.*"};
  EXPECT_TRUE(declares_event_type(declared, "webhook.received"));
  EXPECT_FALSE(declares_event_type(declared, "webhook.received.x"));
  EXPECT_TRUE(declares_event_type(declared, "message.status.read"));
  EXPECT_FALSE(declares_event_type(declared, "message."));
  EXPECT_FALSE(declares_event_type({}, "lead.created"));
}

TEST_F(HostServicesTest, RoutesAreAddedOnlyDuringCreateAndOnlyUnderWebhooks) {
  auto* webhooks = service<sb_host_webhooks_v1>(host(), SB_SERVICE_WEBHOOKS);
  auto handler = [](void*, const sb_inbound_request*, sb_responder*) {};
  EXPECT_EQ(webhooks->add_route(host(), view("/webhooks/a"), handler, nullptr), SB_ERR_INVALID_ARGUMENT);
  host_->creating = true;
  EXPECT_EQ(webhooks->add_route(host(), view("/webhooks/a"), handler, nullptr), SB_OK);
  EXPECT_EQ(webhooks->add_route(host(), view("/webhooks/a"), handler, nullptr), SB_ERR_INVALID_ARGUMENT);  // taken
  EXPECT_EQ(webhooks->add_route(host(), view("/api/v1/x"), handler, nullptr), SB_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(webhooks->add_route(host(), view("/webhooks/"), handler, nullptr), SB_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(routes_.find("/webhooks/a").has_value());
  routes_.remove_owner("crm");
  EXPECT_FALSE(routes_.find("/webhooks/a").has_value());
}

TEST_F(HostServicesTest, HttpClientServiceCallsBackWithTheResponse) {
  test::HttpSink sink(201, R"({"id":"x"})");
  auto* http = service<sb_host_http_client_v1>(host(), SB_SERVICE_HTTP_CLIENT);
  const std::string method = "POST", url = sink.url() + "/send", body = R"({"a":1})";
  const std::string hname = "X-Test", hvalue = "yes";
  sb_header header{view(hname), view(hvalue)};
  sb_http_request request{sizeof(sb_http_request), view(method), view(url), &header, 1, view(body), 5000};
  std::promise<std::pair<int, std::string>> got;
  auto on_response = [](void* user, const sb_http_response* r) {
    static_cast<std::promise<std::pair<int, std::string>>*>(user)->set_value(
        {r->status, std::string(r->body.ptr, r->body.len)});
  };
  ASSERT_EQ(http->request(host(), &request, on_response, &got), SB_OK);
  auto [status, response] = got.get_future().get();
  EXPECT_EQ(status, 201);
  EXPECT_EQ(response, R"({"id":"x"})");
  auto received = sink.wait_for(1);
  EXPECT_EQ(received[0].headers["x-test"], "yes");
  EXPECT_EQ(received[0].body, body);

  const std::string ftp = "ftp://example.com/";
  sb_http_request bad{sizeof(sb_http_request), view(method), view(ftp), nullptr, 0, {"", 0}, 0};
  EXPECT_EQ(http->request(host(), &bad, on_response, &got), SB_ERR_INVALID_ARGUMENT);
}

TEST_F(HostServicesTest, ClosedRegistryFailsNewCallsAtOnce) {
  calls_.close();
  std::optional<ActionOutcome> got;
  EXPECT_EQ(calls_.add(PendingCalls::Clock::now() + std::chrono::seconds(5), host_.get(),
                       [&](ActionOutcome o) { got = std::move(o); }),
            0u);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->reason, "host shutting down");
}

TEST_F(HostServicesTest, ResponsesToAnotherInstancesRequestAreIgnored) {
  std::optional<WebhookResponse> answer;  // respond() answers on the calling thread
  const uint64_t id = routes_.open(host_.get(), [&](WebhookResponse&& r) { answer = std::move(r); });
  auto other = make_instance_host(deps_, "webhook", "other");
  auto* webhooks = service<sb_host_webhooks_v1>(host(), SB_SERVICE_WEBHOOKS);
  const std::string body = "forged";
  sb_outbound_response forged{sizeof(sb_outbound_response), 200, {"", 0}, view(body), nullptr, 0};
  webhooks->respond(&other->table, reinterpret_cast<sb_responder*>(static_cast<uintptr_t>(id)), &forged);
  EXPECT_FALSE(answer.has_value());

  const std::string split = "text/plain\r\nX-Injected: 1";
  sb_outbound_response bad{sizeof(sb_outbound_response), 200, view(split), view(body), nullptr, 0};
  webhooks->respond(host(), reinterpret_cast<sb_responder*>(static_cast<uintptr_t>(id)), &bad);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 500);  // refused, not sent as given
}

TEST_F(HostServicesTest, InvalidUtf8InAReportReachesThePluginReplacedNotThrown) {
  // A provider's error text in cp1251, carried in an execution's reason.
  const std::string cp1251 = "\xce\xf8\xe8\xe1\xea\xe0";
  events_.report = json{{"executions", {{{"status", "failed"}, {"reason", cp1251}}}}};
  auto* events = service<sb_host_events_v1>(host(), SB_SERVICE_EVENTS);
  std::string type = "lead.created", payload = "{}", report;
  sb_event ev{sizeof(sb_event), view(type), {"", 0}, view(payload)};
  auto on_emitted = [](void* user, const sb_emit_result* r) {
    static_cast<std::string*>(user)->assign(r->report_json.ptr, r->report_json.len);
  };
  ASSERT_EQ(events->emit(host(), &ev, SB_EMIT_WAIT_COMPLETED, on_emitted, &report), SB_OK);
  json parsed = json::parse(report);
  std::string replaced;
  for (int i = 0; i < 6; ++i) replaced += "\xEF\xBF\xBD";  // U+FFFD for each byte that is not UTF-8
  EXPECT_EQ(parsed["executions"][0]["reason"].get<std::string>(), replaced);
}

TEST_F(HostServicesTest, LateCompletionIsIgnored) {
  std::promise<ActionOutcome> got;
  const uint64_t id = calls_.add(PendingCalls::Clock::now() + std::chrono::seconds(5), host_.get(),
                                 [&](ActionOutcome o) { got.set_value(std::move(o)); });
  sb_action_result result{};
  result.struct_size = sizeof result;
  result.outcome = SB_OUTCOME_DONE;
  std::string id_text = "wamid.1";
  result.external_id = view(id_text);
  auto* handle = reinterpret_cast<sb_completion*>(static_cast<uintptr_t>(id));
  auto other = make_instance_host(deps_, "http", "other");
  other->table.complete(&other->table, handle, &result);  // not its call: ignored
  EXPECT_EQ(calls_.size(), 1u);
  host()->complete(host(), handle, &result);
  host()->complete(host(), handle, &result);  // ignored, logged
  EXPECT_EQ(got.get_future().get().external_id, "wamid.1");
  EXPECT_EQ(calls_.size(), 0u);
}

}  // namespace
}  // namespace sb
