// The whole path over real sockets: a webhook posted to the real host binary
// triggers a rule whose http action reaches a local sink.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/test_support.h"

namespace sb::test {
namespace {

using nlohmann::json;

json forward_config(const HttpSink& sink, const std::string& respond) {
  return json{{"plugin_dirs", {SB_PLUGIN_DIR, SB_FIXTURE_DIR}},
              {"instances",
               {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}, {"respond", respond}}}}},
                {"sink", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}},
                {"broken", {{"plugin", "throws_in_action"}}}}},
              {"rules",
               {{{"name", "forward-new"},
                 {"trigger", {{"event", "webhook.received"}, {"source", "inbox"}}},
                 {"filter", {{"body.status", "new"}}},
                 {"steps",
                  {{{"action", "sink.post"},
                    {"params",
                     {{"url", "/messages"}, {"body", {{"to", "{{body.phone}}"}, {"text", "Hello {{body.name}}"}}}}}}}}},
                {{"name", "explode"},
                 {"trigger", {{"event", "webhook.received"}}},
                 {"filter", {{"body.status", "explode"}}},
                 {"steps", {{{"action", "broken.boom"}}}}}}}};
}

const char kNewLead[] = R"({"phone":"+79990001122","name":"Иван","status":"new"})";

TEST(EndToEnd, WebhookTriggersRuleThatPostsToTheSink) {
  HttpSink sink;
  HostProcess host(forward_config(sink, "accepted"));

  HttpResult r = http_request(host.port(), "POST", "/webhooks/inbox", kNewLead);
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_TRUE(r.json()["event_id"].is_string()) << r.body;

  auto received = sink.wait_for(1);
  ASSERT_EQ(received.size(), 1u) << host.log();
  EXPECT_EQ(received[0].method, "POST");
  EXPECT_EQ(received[0].uri, "/messages");
  EXPECT_EQ(json::parse(received[0].body), (json{{"to", "+79990001122"}, {"text", "Hello Иван"}}));
  EXPECT_EQ(received[0].headers["content-type"], "application/json");
  EXPECT_EQ(received[0].headers["idempotency-key"], r.json()["event_id"].get<std::string>() + ":forward-new:0");
}

TEST(EndToEnd, AProviderCallbackPostedToAWebhookResumesTheWaitingExecution) {
  // The sink answers every send with the message id the provider would give.
  HttpSink sink(200, R"({"id":"msg-42"})");
  json config = forward_config(sink, "accepted");
  config["instances"]["callbacks"] = {{"plugin", "webhook"},
                                      {"config", {{"path", "callbacks"}, {"event_type", "message.read"}}}};
  config["rules"] = json::parse(R"([{
    "name": "offer", "trigger": {"event": "webhook.received", "source": "inbox"},
    "steps": [
      {"name": "Offer", "action": "sink.post", "params": {"url": "/offer", "body": {"to": "{{body.phone}}"}}},
      {"name": "Read", "wait_for": "message.read", "match": {"body.message_id": "{{steps.Offer.output.body.id}}"}, "timeout": "1m",
       "then": [{"action": "sink.post", "params": {"url": "/thanks", "body": {"status": "{{steps.Read.event.body.status}}"}}}],
       "else": [{"action": "sink.post", "params": {"url": "/remind", "body": {}}}]}]}])");
  HostProcess host(config);

  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", kNewLead).status, 202);
  ASSERT_EQ(sink.wait_for(1).size(), 1u) << host.log();
  // Another message's report first: it resumes nothing.
  EXPECT_EQ(
      http_request(host.port(), "POST", "/webhooks/callbacks", R"({"message_id":"msg-7","status":"read"})").status,
      202);
  EXPECT_EQ(
      http_request(host.port(), "POST", "/webhooks/callbacks", R"({"message_id":"msg-42","status":"read"})").status,
      202);
  auto received = sink.wait_for(2);
  ASSERT_EQ(received.size(), 2u) << host.log();
  EXPECT_EQ(received[0].uri, "/offer");
  EXPECT_EQ(received[1].uri, "/thanks");
  EXPECT_EQ(json::parse(received[1].body), (json{{"status", "read"}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(sink.count(), 2u);  // no reminder
}

TEST(EndToEnd, CompletedModeAnswersAfterTheSinkWithTheResult) {
  HttpSink sink(201, R"({"id":"msg-42"})");
  HostProcess host(forward_config(sink, "completed"));

  HttpResult r = http_request(host.port(), "POST", "/webhooks/inbox", kNewLead);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(sink.count(), 1u);  // already there when the answer came
  json execution = r.json()["executions"][0];
  EXPECT_EQ(execution["rule"], "forward-new");
  EXPECT_EQ(execution["status"], "done");
  EXPECT_EQ(execution["steps"][0]["outcome"], "done");
  EXPECT_EQ(execution["steps"][0]["output"]["status"], 201);
  EXPECT_EQ(execution["steps"][0]["output"]["body"]["id"], "msg-42");
}

// A sender that did not get the answer sends the request again (the same
// webhook-id): it gets the first one's result, and the sink one message.
TEST(EndToEnd, CompletedModeAnswersASendersRepeatWithoutSendingAgain) {
  HttpSink sink(201, R"({"id":"msg-42"})");
  HostProcess host(forward_config(sink, "completed"));
  const std::map<std::string, std::string> id{{"webhook-id", "msg_dup"}};
  HttpResult first = http_request(host.port(), "POST", "/webhooks/inbox", kNewLead, id);
  ASSERT_EQ(first.status, 200) << first.body;
  HttpResult again = http_request(host.port(), "POST", "/webhooks/inbox", kNewLead, id);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json()["executions"], first.json()["executions"]);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(sink.count(), 1u);
}

TEST(EndToEnd, FilterKeepsOtherStatusesFromTheSink) {
  HttpSink sink;
  HostProcess host(forward_config(sink, "completed"));
  HttpResult r =
      http_request(host.port(), "POST", "/webhooks/inbox", R"({"phone":"+79990001122","name":"Иван","status":"old"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["executions"], json::array());
  EXPECT_EQ(sink.count(), 0u);
}

TEST(EndToEnd, SinkErrorIsReportedAsAFailedExecution) {
  HttpSink sink(422, R"({"error":"bad phone"})");
  HostProcess host(forward_config(sink, "completed"));
  HttpResult r = http_request(host.port(), "POST", "/webhooks/inbox", kNewLead);
  EXPECT_EQ(r.status, 502) << r.body;
  json step = r.json()["executions"][0]["steps"][0];
  EXPECT_EQ(step["outcome"], "permanent");
  EXPECT_NE(step["reason"].get<std::string>().find("422"), std::string::npos) << step;
}

TEST(EndToEnd, ThrowingPluginFailsItsStepAndTheHostKeepsServing) {
  HttpSink sink;
  HostProcess host(forward_config(sink, "completed"));
  HttpResult r = http_request(host.port(), "POST", "/webhooks/inbox", R"({"status":"explode"})");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(r.json()["executions"][0]["steps"][0]["reason"], "plugin threw: provider client exploded");

  EXPECT_EQ(http_request(host.port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", kNewLead).status, 200);
  EXPECT_EQ(sink.count(), 1u);
}

// A rule whose action emits the very event that sets it off (a channel
// plugin's message.sent, a rule on message.sent that sends again): the
// events the action emits count in their cause's chain, and the loop guard
// cuts it at max_chain_depth instead of running for ever.
TEST(EndToEnd, AnEventAPluginEmitsDuringItsCallCountsInTheChainOfItsCause) {
  json config{
      {"plugin_dirs", {SB_PLUGIN_DIR, SB_FIXTURE_DIR}},
      {"executions", {{"max_chain_depth", 3}}},
      {"instances",
       {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
        {"echo", {{"plugin", "emits_in_invoke"}}}}},
      {"rules",
       {{{"name", "start"}, {"trigger", {{"event", "webhook.received"}}}, {"steps", {{{"action", "echo.echo"}}}}},
        {{"name", "again"}, {"trigger", {{"event", "fixture.echoed"}}}, {"steps", {{{"action", "echo.echo"}}}}}}}};
  HostProcess host(config);
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", "{}").status, 202);
  for (int i = 0; i < 250 && host.log().find("a chain of rules was cut") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::string log = host.log();
  ASSERT_NE(log.find("a chain of rules was cut"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("chain_depth":4)"), std::string::npos) << log;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // none runs after the cut
  const HttpResult metrics = http_request(host.port(), "GET", "/metrics");
  // start (depth 0), then again for the events of depths 1, 2 and 3.
  EXPECT_NE(metrics.body.find("switchboard_executions_total{rule=\"again\",status=\"done\"} 3"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("switchboard_rule_chains_cut_total{rule=\"again\"} 1"), std::string::npos)
      << metrics.body;
}

TEST(EndToEnd, HttpErrorsAreJsonWithSpecificCodes) {
  HttpSink sink;
  json config = forward_config(sink, "accepted");
  config["http_server"] = {{"max_body_bytes", 4096}};
  HostProcess host(config);
  HttpResult missing = http_request(host.port(), "GET", "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json()["error"]["code"], "not_found");

  HttpResult bad = http_request(host.port(), "POST", "/webhooks/inbox", "{not json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["error"]["code"], "invalid_json");

  HttpResult too_big = http_request(host.port(), "POST", "/webhooks/inbox", std::string(10000, ' '));
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(too_big.json()["error"]["code"], "payload_too_large");
  EXPECT_EQ(sink.count(), 0u);
}

TEST(EndToEnd, MetricsCountRequestsWithoutALabelPerUnknownPath) {
  HttpSink sink;
  HostProcess host(forward_config(sink, "completed"));
  http_request(host.port(), "POST", "/webhooks/inbox", kNewLead);
  for (int i = 0; i < 3; ++i) http_request(host.port(), "GET", "/scan-" + std::to_string(i));
  HttpResult metrics = http_request(host.port(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("switchboard_http_requests_total{route=\"other\"} 3"), std::string::npos) << metrics.body;
  EXPECT_EQ(metrics.body.find("scan-"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("switchboard_executions_total{rule=\"forward-new\",status=\"done\"} 1"),
            std::string::npos)
      << metrics.body;
}

TEST(EndToEnd, PluginsEndpointListsLoadedPluginsAndInstances) {
  HttpSink sink;
  HostProcess host(forward_config(sink, "accepted"));
  json plugins = http_request(host.port(), "GET", "/api/v1/plugins").json()["plugins"];
  std::map<std::string, json> by_name;
  for (const auto& p : plugins) by_name[p["name"]] = p;
  ASSERT_TRUE(by_name.count("http")) << plugins;
  EXPECT_EQ(by_name["http"]["instances"], json::array({"sink"}));
  EXPECT_EQ(by_name["http"]["actions"][0]["name"], "post");
  EXPECT_EQ(by_name["webhook"]["instances"], json::array({"inbox"}));
}

TEST(EndToEnd, SigtermShutsDownCleanly) {
  HttpSink sink;
  HostProcess host(forward_config(sink, "accepted"));
  EXPECT_EQ(host.stop(), 0);
  EXPECT_NE(host.log().find("\"msg\":\"stopped\""), std::string::npos) << host.log();
}

// `top -H` and `perf` tell the host's threads apart by name.
TEST(EndToEnd, TheHostsThreadsAreNamedForWhatTheyDo) {
  HttpSink sink;
  HostProcess host(forward_config(sink, "accepted"));
  const std::vector<std::string> wanted{"sb-in-0", "sb-out-0", "sb-store", "sb-pipeline", "sb-call-expiry"};
  // Each thread names itself once it runs: on a loaded machine, a moment after the host answers.
  std::set<std::string> names;
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(std::chrono::milliseconds(20))) {
    names.clear();
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(host.pid()) + "/task")) {
      std::string name;
      std::getline(std::ifstream(task.path() / "comm"), name);
      names.insert(name);
    }
    if (std::all_of(wanted.begin(), wanted.end(), [&](const std::string& n) { return names.count(n) > 0; })) break;
  }
  for (const std::string& expected : wanted)
    EXPECT_TRUE(names.count(expected)) << expected << " is not among the host's threads";
}

// Release builds link mimalloc (the request path allocates a lot); sanitizer
// builds keep glibc's malloc, which ASan replaces.
TEST(EndToEnd, HostRunsOnTheAllocatorItWasBuiltWith) {
  HttpSink sink;
  HostProcess host(forward_config(sink, "accepted"));
  EXPECT_EQ(host.stop(), 0);
  EXPECT_NE(host.log().find(R"("allocator":")" SB_EXPECTED_ALLOCATOR), std::string::npos) << host.log();
}

// A second host on the same embedded store, or on the same port, stops at
// start-up with the reason: it would run the same due steps again, or take
// a share of the first one's requests with rules of its own.
TEST(Cli, ASecondHostOnTheSameStoreOrPortIsRefused) {
  HostProcess first(json{{"plugin_dirs", {SB_PLUGIN_DIR}}});
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "second.json";
  std::ofstream(file) << json{{"plugin_dirs", {SB_PLUGIN_DIR}}, {"listen", "127.0.0.1:0"}, {"data_dir", first.dir()}};
  auto [code, out] = run_switchboard({"--config", file.string()});
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("another host (pid " + std::to_string(first.pid()) + ") runs on the store " +
                     (first.dir() / "switchboard.db").string()),
            std::string::npos)
      << out;

  const std::string taken = "127.0.0.1:" + std::to_string(first.port());
  std::ofstream(file) << json{{"plugin_dirs", {SB_PLUGIN_DIR}}, {"listen", taken}, {"data_dir", dir / "own"}};
  std::tie(code, out) = run_switchboard({"--config", file.string()});
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("cannot listen on " + taken), std::string::npos) << out;
  EXPECT_EQ(http_request(first.port(), "GET", "/healthz").status, 200);
}

// A plugin whose call crashes the process: the host says, as it dies,
// which call of which instance it was (and the next start logs it again);
// the step, taken up in doubt, is sent once more, and when it crashes the
// host a second time it is failed, so that the third start stays up.
TEST(EndToEnd, AStepThatCrashesTheHostTwiceIsFailedInsteadOfRunAgain) {
  ::setenv("SB_TEST_CRASH_ADMIN", "crash-admin-5d1", 1);
  // Longer than the note keeps of a rule's name: cut between the two bytes
  // of a letter, the note would be no JSON; it is cut before the letter.
  std::string long_name = "Правило";
  for (int i = 0; i < 120; ++i) long_name += "я";
  const json config{{"plugin_dirs", {SB_PLUGIN_DIR, SB_FIXTURE_DIR}},
                    {"secrets", {{"admin", {{"env", "SB_TEST_CRASH_ADMIN"}}}}},
                    {"api", {{"admin_tokens", {{{"$secret", "admin"}}}}}},
                    {"instances",
                     {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
                      {"fragile", {{"plugin", "misbehaves_in_invoke"}}}}},
                    {"rules",
                     {{{"name", long_name},
                       {"trigger", {{"event", "webhook.received"}}},
                       {"steps", {{{"name", "boom"}, {"action", "fragile.echo"}, {"params", {{"crash", true}}}}}}}}}};
  const auto crashed = [](HostProcess& host) {
    for (int i = 0; i < 500 && host.log().find("the host is crashing") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return host.log();
  };
  HostProcess first(config);
  ASSERT_EQ(http_request(first.port(), "POST", "/webhooks/inbox", "{}").status, 202);
  const std::string dying = crashed(first);
  first.stop();
  ASSERT_NE(dying.find("the host is crashing in a plugin's call"), std::string::npos) << dying;
  EXPECT_NE(dying.find(R"("plugin":"misbehaves_in_invoke","instance":"fragile","entry":"echo","rule":"Правилояяя)"),
            std::string::npos)
      << dying;
  // Taken up again in doubt (on_doubt: resend), it crashes the host again:
  // maybe before it says it listens (the host then "did not start").
  std::optional<HostProcess> second;
  std::string again;
  try {
    second.emplace(config, std::vector<std::string>{}, first.dir());
    again = crashed(*second);
    second->stop();
  } catch (const std::runtime_error& e) {
    again = e.what();
  }
  EXPECT_NE(again.find("the host crashed when it last ran"), std::string::npos) << again;
  ASSERT_NE(again.find("the host is crashing in a plugin's call"), std::string::npos) << again;
  // The third start fails it, and stays up.
  HostProcess third(config, {}, first.dir());
  const HttpResult failed = [&] {
    HttpResult r;
    for (int i = 0; i < 250; ++i) {
      r = http_request(third.port(), "GET", "/api/v1/executions?state=failed", "",
                       {{"Authorization", "Bearer crash-admin-5d1"}});
      if (r.status == 200 && !r.json()["executions"].empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return r;
  }();
  ASSERT_EQ(failed.status, 200) << third.log();
  ASSERT_EQ(failed.json()["executions"].size(), 1u) << failed.body << third.log();
  EXPECT_NE(failed.json()["executions"][0]["error"].get<std::string>().find(
                "the host crashed in this execution's plugin calls 2 times, the last in this step's (plugin "
                "'misbehaves_in_invoke', instance 'fragile', signal 11)"),
            std::string::npos)
      << failed.body;
  EXPECT_EQ(http_request(third.port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(third.log().find("the host is crashing"), std::string::npos) << third.log();
}

// A plugin's call that does not return holds up the steps behind it: while
// it runs past executions.blocked_call_after, /healthz answers 503 naming
// it, and the host logs it; once it returns, the host is healthy again.
TEST(EndToEnd, HealthzIsDegradedWhileAPluginsCallBlocks) {
  const json config{{"plugin_dirs", {SB_PLUGIN_DIR, SB_FIXTURE_DIR}},
                    {"executions", {{"blocked_call_after", "300ms"}}},
                    {"instances",
                     {{"inbox", {{"plugin", "webhook"}, {"config", {{"path", "inbox"}}}}},
                      {"slow", {{"plugin", "misbehaves_in_invoke"}}}}},
                    {"rules",
                     {{{"name", "blocking"},
                       {"trigger", {{"event", "webhook.received"}}},
                       {"steps", {{{"name", "wait"}, {"action", "slow.echo"}, {"params", {{"block", true}}}}}}}}}};
  HostProcess host(config);
  EXPECT_EQ(http_request(host.port(), "GET", "/healthz").status, 200);
  ASSERT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", "{}").status, 202);
  HttpResult degraded;
  for (int i = 0; i < 150 && degraded.status != 503; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    degraded = http_request(host.port(), "GET", "/healthz");
  }
  ASSERT_EQ(degraded.status, 503) << host.log();
  const json body = degraded.json();
  EXPECT_EQ(body["status"], "degraded");
  ASSERT_EQ(body["blocked_plugin_calls"].size(), 1u) << degraded.body;
  EXPECT_EQ(body["blocked_plugin_calls"][0]["instance"], "slow");
  EXPECT_EQ(body["blocked_plugin_calls"][0]["call"], "echo");
  EXPECT_EQ(body["blocked_plugin_calls"][0]["rule"], "blocking");
  HttpResult healthy;
  for (int i = 0; i < 300 && healthy.status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    healthy = http_request(host.port(), "GET", "/healthz");
  }
  EXPECT_EQ(healthy.status, 200) << host.log();
  EXPECT_NE(host.log().find("a plugin's call has not returned"), std::string::npos) << host.log();
}

// The forwarding config with a stop grace and an admin token (Bearer stop-admin-7f3).
json stop_config(const HttpSink& sink, const std::string& grace) {
  json config = forward_config(sink, "accepted");
  config["executions"] = {{"stop_grace", grace}};
  ::setenv("SB_TEST_STOP_ADMIN", "stop-admin-7f3", 1);
  config["secrets"] = {{"admin", {{"env", "SB_TEST_STOP_ADMIN"}}}};
  config["api"] = {{"admin_tokens", {{{"$secret", "admin"}}}}};
  return config;
}

// A lead forwarded to the sink, which holds its answer; then SIGTERM, on a
// thread of its own (the host's exit code when it has stopped).
std::future<int> stop_with_a_call_in_flight(HostProcess& host, HttpSink& sink) {
  sink.hold(true);
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/inbox", kNewLead).status, 202);
  EXPECT_EQ(sink.wait_for(1).size(), 1u) << host.log();
  return std::async(std::launch::async, [&host] { return host.stop(); });
}

// A stop (a deploy) in the middle of a slow provider call waits for its
// answer and records it: after the restart nothing is sent again, and the
// step is not in doubt.
TEST(EndToEnd, AStopWaitsForTheCallsInFlightToAnswer) {
  HttpSink sink;
  json config = stop_config(sink, "20s");
  config["rules"][0]["on_doubt"] = "hold";  // a call cut off by the stop would be listed in doubt
  HostProcess host(config);                 // its folder stays until the test ends
  std::future<int> stopped = stop_with_a_call_in_flight(host, sink);
  EXPECT_EQ(stopped.wait_for(std::chrono::milliseconds(700)), std::future_status::timeout);  // waits for the answer
  sink.hold(false);
  EXPECT_EQ(stopped.get(), 0);
  HostProcess again(config, {}, host.dir());
  json executions;
  for (int i = 0; i < 100; ++i) {
    executions =
        http_request(again.port(), "GET", "/api/v1/executions", "", {{"Authorization", "Bearer stop-admin-7f3"}})
            .json()["executions"];
    if (executions.size() == 1 && executions[0]["state"] != "ready") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(executions.size(), 1u) << again.log();
  EXPECT_EQ(executions[0]["state"], "done") << executions.dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sink.count(), 1u);
}

// ... for stop_grace at most: a call unanswered by then may have reached its
// provider, and is in doubt after the restart (an http call, which carries
// its idempotency key, is sent again).
TEST(EndToEnd, AStopWaitsNoLongerThanItsGrace) {
  HttpSink sink;
  const json config = stop_config(sink, "200ms");
  HostProcess host(config);
  std::future<int> stopped = stop_with_a_call_in_flight(host, sink);
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  sink.hold(false);
  HostProcess again(config, {}, host.dir());
  ASSERT_EQ(sink.wait_for(2).size(), 2u) << again.log();
  json one;
  for (int i = 0; i < 100; ++i) {
    one = http_request(again.port(), "GET", "/api/v1/executions/1", "", {{"Authorization", "Bearer stop-admin-7f3"}})
              .json();
    if (one["state"] == "done") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(one["state"], "done") << one.dump();
  EXPECT_EQ(one["history"][0]["sent_again_in_doubt"], true) << one.dump();
}

TEST(Cli, ValidateExitsNonZeroWithFileAndPointer) {
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "bad.json";
  std::ofstream(file) << R"({"instances": {"sink": {"plugin": "http", "config": {"timeout_ms": "soon"}}}})";
  auto [code, out] = run_switchboard({"validate", "--config", file.string()});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(file.string() + ": /instances/sink/config/timeout_ms: instance 'sink' (plugin 'http')"),
            std::string::npos)
      << out;
  // A folder where the file was meant: said so, not "invalid JSON".
  auto [folder_code, folder_out] = run_switchboard({"validate", "--config", dir.string()});
  EXPECT_EQ(folder_code, 2) << folder_out;
  EXPECT_NE(folder_out.find(dir.string() + ": is a folder"), std::string::npos) << folder_out;
}

// The host that will not start names every problem validate names, at once:
// a misspelt setting, an unknown plugin, a rule's unknown variable, an
// unreadable secret, not only the first group of them.
TEST(Cli, TheHostNamesEveryProblemBeforeItStarts) {
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "broken.json";
  std::ofstream(file) << R"({"log_level": "verbose", "listen": "127.0.0.1:0", "data_dir": ")" << (dir / "var").string()
                      << R"(", "secrets": {"token": {"env": "SB_TEST_NO_SUCH_VARIABLE"}},
      "instances": {"sink": {"plugin": "http"}, "crm": {"plugin": "no_such_plugin"}},
      "rules": [{"name": "r", "trigger": {"event": "lead.created"},
                 "steps": [{"action": "sink.post", "params": {"url": "/x", "body": {"n": "{{contct.name}}"}}}]}]})";
  auto [code, out] = run_switchboard({"--config", file.string()});
  EXPECT_EQ(code, 2) << out;
  for (const char* problem : {"/log_level", "/instances/crm/plugin: plugin 'no_such_plugin' not found",
                              "/rules/0/steps/0/params/body/n", "SB_TEST_NO_SUCH_VARIABLE"})
    EXPECT_NE(out.find(problem), std::string::npos) << problem << " in:\n" << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "var" / "switchboard.db")) << "nothing starts";
}

// What only a plugin can tell is found by validate too, not when the host
// starts: a webhook path another instance took, a signing secret that is
// not one. Each is named at its instance, without the secret.
TEST(Cli, ValidateCreatesEveryInstanceAsTheHostWould) {
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "instances.json";
  ::setenv("SB_TEST_VALIDATE_SIGNING", "whsec_!!not-base64-Zq83", 1);
  std::ofstream(file) << R"({"secrets": {"signing": {"env": "SB_TEST_VALIDATE_SIGNING"}},
      "instances": {"leads": {"plugin": "webhook"},
                    "site": {"plugin": "webhook", "config": {"path": "leads"}},
                    "signed": {"plugin": "webhook", "config": {"signing_secret": {"$secret": "signing"}}},
                    "sms": {"plugin": "sms", "config": {"gateway": "smsru", "api_id": "k", "dry_run": true}}}})";
  auto [code, out] = run_switchboard({"validate", "--config", file.string()});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(file.string() + ": /instances/site/config: instance 'site' (plugin 'webhook'): cannot create: "
                                     "cannot register route /webhooks/leads: the path is taken"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(file.string() + ": /instances/signed/config: instance 'signed' (plugin 'webhook'): cannot "
                                     "create: 'signing_secret' must be"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("Zq83"), std::string::npos) << out;
  EXPECT_EQ(out.find("instance 'leads'"), std::string::npos) << out;
  EXPECT_EQ(out.find("instance 'sms'"), std::string::npos) << out;
}

// A plugin folder named twice (written two ways, or also a default) lists
// each plugin once.
TEST(Cli, APluginFolderNamedTwiceListsEachPluginOnce) {
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "twice.json";
  std::ofstream(file) << json{{"plugin_dirs", {SB_PLUGIN_DIR, std::string(SB_PLUGIN_DIR) + "/"}}}.dump();
  auto [code, out] = run_switchboard({"plugins", "--config", file.string()});
  EXPECT_EQ(code, 0) << out;
  size_t listed = 0;
  for (size_t at = out.find("\ncrm "); at != std::string::npos; at = out.find("\ncrm ", at + 1)) ++listed;
  listed += out.rfind("crm ", 0) == 0;
  EXPECT_EQ(listed, 1u) << out;
}

// A misspelt key is said at the key, with what was likely meant.
TEST(Cli, AMisspeltKeyIsNamedAtItsLineWithWhatWasMeant) {
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "misspelt.json";
  std::ofstream(file) << "{\"instances\": {\"sink\": {\"plugin\": \"http\"}}, \"listn\": \"127.0.0.1:1\",\n"
                         "\"rules\": [{\"name\": \"r\", \"trigger\": {\"event\": \"a.b\"},\n"
                         "  \"steps\": [{\"action\": \"sink.post\", \"parms\": {\"url\": \"/x\"}}]}]}";
  auto [code, out] = run_switchboard({"validate", "--config", file.string()});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find(file.string() + ": /listn: unknown key 'listn' (did you mean 'listen'?); expected one of: "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("(line 1, column 54)"), std::string::npos) << out;
  EXPECT_NE(out.find(file.string() + ": /rules/0/steps/0/parms: unknown key 'parms' (did you mean 'params'?)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("(line 3, column 46)"), std::string::npos) << out;
}

// A disabled rule does not stop the host, but what would stop it once
// enabled is said now, not on the day it is enabled.
TEST(Cli, ValidateWarnsOfADisabledRulesProblems) {
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "disabled.json";
  std::ofstream(file) << R"({"instances": {"sink": {"plugin": "http"}}, "rules": [
      {"name": "later", "enabled": false, "trigger": {"event": "lead.created"},
       "steps": [{"action": "sink.post", "params": {"url": "/x", "body": {"t": "{{contcat.name}}"}}}]}]})";
  auto [code, out] = run_switchboard({"validate", "--config", file.string()});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("warning: " + file.string() +
                     ": /rules/0/steps/0/params/body/t: (a disabled rule) rule 'later', step 'sink.post': unknown "
                     "variable 'contcat.name'"),
            std::string::npos)
      << out;
}

// A status trigger without a pipeline on a status no declared pipeline has
// is likely misspelt: said, with the status likeliest meant.
TEST(Cli, AStatusInNoDeclaredPipelineIsAWarning) {
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "status.json";
  std::ofstream(file) << R"({"pipelines": {"sales": ["Новая", "Оплачено"]}, "instances": {"sink": {"plugin": "http"}},
      "rules": [{"name": "paid", "trigger": {"entity": "deal", "status": "Оплочено"},
                 "steps": [{"action": "sink.post", "params": {"url": "/x"}}]},
                {"name": "new", "trigger": {"entity": "deal", "status": "Новая"},
                 "steps": [{"action": "sink.post", "params": {"url": "/x"}}]}]})";
  auto [code, out] = run_switchboard({"validate", "--config", file.string()});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("warning: " + file.string() +
                     ": /rules/0/trigger/status: rule 'paid': no declared pipeline has the status 'Оплочено' (did "
                     "you mean 'Оплачено'?)"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("rule 'new'"), std::string::npos) << out;
}

// A rule on an event type no event can have (undotted) would never run: refused.
TEST(Cli, ARuleOnAnUndottedEventTypeIsRefused) {
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "undotted.json";
  std::ofstream(file) << R"({"instances": {"sink": {"plugin": "http"}}, "rules": [
      {"name": "signup", "trigger": {"event": "signup"}, "steps": [{"action": "sink.post", "params": {"url": "/x"}}]},
      {"name": "lead", "trigger": {"event": "lead.created"}, "steps": [{"action": "sink.post", "params": {"url": "/x"}}]}]})";
  auto [code, out] = run_switchboard({"validate", "--config", file.string()});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("error: " + file.string() +
                     ": /rules/0/trigger/event: rule 'signup': no event of type 'signup' can arrive: event types are "
                     "dotted lower case (lead.created, order.paid)"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("rule 'lead': no event"), std::string::npos) << out;
}

// A messages report may name a rule switched off for now: warned of, not refused.
TEST(Cli, AMessagesReportOfADisabledRuleIsAWarning) {
  const auto dir = make_temp_dir("sb_cli");
  const auto file = dir / "report.json";
  std::ofstream(file) << R"({"instances": {"sms": {"plugin": "sms", "config": {"gateway": "smsru", "api_id": "k",
      "dry_run": true}}}, "rules": [
      {"name": "weekly", "trigger": {"report": "messages", "rules": ["promo"], "schedule": "every monday at 09:00"},
       "steps": [{"action": "sms.send", "params": {"to": "+79990001122", "text": "{{data.text}}"}}]},
      {"name": "promo", "enabled": false, "trigger": {"event": "promo.start"},
       "steps": [{"action": "sms.send", "params": {"text": "Sale"}}]}]})";
  auto [code, out] = run_switchboard({"validate", "--config", file.string()});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("warning: " + file.string() +
                     ": /rules/0/trigger/rules/0: rule 'weekly': rule 'promo' is disabled: it sends nothing new to "
                     "count"),
            std::string::npos)
      << out;
}

// Each scheduled report that needs no more config passes the config's schema
// and the rules' compiler (channels needs ad_channels: config_test); one of
// none is refused by name.
TEST(Cli, ValidateTakesEveryKindOfScheduledReport) {
  const auto dir = make_temp_dir("sb_cli");
  for (const std::string report : {"messages", "tasks", "visits"}) {
    const auto file = dir / (report + ".json");
    std::ofstream(file) << R"({"instances": {"sink": {"plugin": "http"}}, "rules": [
        {"name": "weekly", "trigger": {"report": ")"
                        << report << R"(", "schedule": "every monday at 09:00", "period": "week", "alert": "20%"},
         "steps": [{"action": "sink.post", "params": {"url": "/r", "body": {"t": "{{data.text}}"}}}]}]})";
    auto [code, out] = run_switchboard({"validate", "--config", file.string()});
    if (report == "visits") {
      EXPECT_EQ(code, 2) << out;
      EXPECT_NE(out.find("/rules/0/trigger/report"), std::string::npos) << out;
    } else {
      EXPECT_EQ(code, 0) << report << ": " << out;
    }
  }
}

// What an instance needs depends on what it is: Zadarma's calls show its
// sip number's caller id (no "from"), Twilio's need one; a tasks instance's
// zone is checked as the config loads, not at its first deadline.
TEST(Cli, ValidateChecksAnInstancesConfigByWhatItIs) {
  const auto dir = make_temp_dir("sb_cli");
  const auto check = [&](const std::string& name, const json& instance) {
    const auto file = dir / (name + ".json");
    std::ofstream(file) << json{{"instances", {{"x", instance}}}}.dump();
    return run_switchboard({"validate", "--config", file.string()});
  };
  auto [zadarma, zadarma_out] =
      check("zadarma", {{"plugin", "telephony"},
                        {"config", {{"provider", "zadarma"}, {"api_key", "k"}, {"api_secret", "s"}, {"sip", "100"}}}});
  EXPECT_EQ(zadarma, 0) << zadarma_out;
  auto [twilio, twilio_out] =
      check("twilio",
            {{"plugin", "telephony"},
             {"config",
              {{"provider", "twilio"}, {"account_sid", "AC0123456789abcdef0123456789abcdef"}, {"auth_token", "t"}}}});
  EXPECT_EQ(twilio, 2) << twilio_out;
  EXPECT_NE(twilio_out.find("/instances/x/config: instance 'x' (plugin 'telephony')"), std::string::npos) << twilio_out;
  EXPECT_NE(twilio_out.find("from"), std::string::npos) << twilio_out;
  auto [unset, unset_out] = check("unset", {{"plugin", "tasks"}, {"config", {{"timezone", ""}}}});  // the account's
  EXPECT_EQ(unset, 0) << unset_out;
  auto [tasks, tasks_out] = check("tasks", {{"plugin", "tasks"}, {"config", {{"timezone", "Moscow"}}}});
  EXPECT_EQ(tasks, 2) << tasks_out;
  EXPECT_NE(tasks_out.find("/instances/x/config/timezone: instance 'x': 'Moscow' is not an IANA time zone"),
            std::string::npos)
      << tasks_out;
}

TEST(Cli, ValidateAcceptsTheShippedConfigs) {
  ::setenv("SB_EVENTS_TOKEN", "example-events-token", 1);
  ::setenv("SB_ADMIN_TOKEN", "example-admin-token", 1);
  for (const char* name : {"switchboard.json", "examples/route-and-forward.json", "examples/crm-events.json",
                           "examples/crm-writeback.json", "examples/delivery-call.json"}) {
    auto [code, out] = run_switchboard({"validate", "--config", std::string(SB_SOURCE_DIR) + "/config/" + name});
    EXPECT_EQ(code, 0) << name << ": " << out;
  }
}

TEST(Cli, PluginsListsVersionsTriggersAndActions) {
  auto [code, out] = run_switchboard({"plugins", "--config", "/nonexistent.json"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("http 1.0.0 (ABI 1.2)"), std::string::npos) << out;
  EXPECT_NE(out.find("  action post"), std::string::npos) << out;
  EXPECT_NE(out.find("  trigger webhook.received"), std::string::npos) << out;
}

}  // namespace
}  // namespace sb::test
