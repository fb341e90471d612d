// The durable pipeline in the real binary: an event posted to the events API
// reaches a provider through a status rule, and a host killed with SIGKILL in
// the middle of a burst of events and delayed steps loses none of them after
// a restart, while each step's side effect happens once per idempotency key.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "integration/test_support.h"

namespace sb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kToken[] = "pipeline-token-7c1d";

json pipeline_config(const HttpSink& sink, json steps) {
  ::setenv("SB_TEST_PIPELINE_TOKEN", kToken, 1);
  return json{{"plugin_dirs", {SB_PLUGIN_DIR}},
              {"secrets", {{"events", {{"env", "SB_TEST_PIPELINE_TOKEN"}}}}},
              {"api", {{"event_tokens", {{{"$secret", "events"}}}}}},
              {"http_client", {{"max_connections", 8}}},
              {"instances", {{"sink", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}}}},
              {"rules",
               {{{"name", "greet"},
                 {"trigger", {{"entity", "lead"}, {"status", "new"}}},
                 {"filter", {{"field", "contact.phones"}, {"op", "exists"}}},
                 {"steps", std::move(steps)}}}}};
}

json greet_step(const std::string& url) {
  return {
      {"action", "sink.post"},
      {"retry", {{"max_attempts", 10}, {"backoff", "1s"}}},
      {"params",
       {{"url", url}, {"body", {{"to", "{{contact.phones.0.number}}"}, {"text", "Здравствуйте, {{contact.name}}"}}}}}};
}

json new_lead(const std::string& id) {
  return {{"id", id},
          {"type", "lead.created"},
          {"entity", {{"type", "lead"}, {"id", "L-" + id}, {"status", "new"}}},
          {"contact", {{"name", "Иван"}, {"phones", {{{"number", "+7 999 000-11-22"}}}}}}};
}

HttpResult post_event(uint16_t port, const json& event) {
  return http_request(port, "POST", "/api/v1/events", event.dump(),
                      {{"Authorization", std::string("Bearer ") + kToken}});
}

TEST(PipelineEndToEnd, StatusRuleSendsTheEventToTheProvider) {
  HttpSink sink;
  HostProcess host(pipeline_config(sink, json::array({greet_step("/sms")})));
  ASSERT_EQ(post_event(host.port(), new_lead("e-1")).status, 202);
  json no_phone = new_lead("e-2");
  no_phone["contact"].erase("phones");
  no_phone["contact"]["emails"] = {{{"address", "x@example.com"}}};
  ASSERT_EQ(post_event(host.port(), no_phone).status, 202);  // filtered out
  auto requests = sink.wait_for(1);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].uri, "/sms");
  EXPECT_EQ(requests[0].headers["idempotency-key"], "e-1:greet:0");
  EXPECT_EQ(json::parse(requests[0].body), json::parse(R"({"to": "+7 999 000-11-22", "text": "Здравствуйте, Иван"})"));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(sink.count(), 1u);
}

TEST(PipelineEndToEnd, AnEditedRuleLeavesWaitingExecutionsOnTheirOwnVersion) {
  HttpSink sink;
  const json before = json::array({greet_step("/first"), {{"wait", "3s"}}, greet_step("/later")});
  auto first = std::make_unique<HostProcess>(pipeline_config(sink, before));
  const auto dir = first->dir();
  ASSERT_EQ(post_event(first->port(), new_lead("e-1")).status, 202);
  ASSERT_EQ(sink.wait_for(1).size(), 1u);
  first->stop();  // e-1 waits three seconds before "/later"; the folder stays while `first` lives

  // A step is inserted before the one that waits, and the host restarted.
  const json after =
      json::array({greet_step("/inserted"), greet_step("/first"), {{"wait", "3s"}}, greet_step("/later")});
  HostProcess second(pipeline_config(sink, after), {}, dir);
  ASSERT_EQ(post_event(second.port(), new_lead("e-2")).status, 202);
  std::map<std::string, std::string> keys;  // idempotency key -> path
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline && keys.size() < 5) {
    keys.clear();
    for (const auto& r : sink.wait_for(0, 0ms)) keys[r.headers.at("idempotency-key")] = r.uri;
    std::this_thread::sleep_for(50ms);
  }
  // e-1 goes on at the step it waited for, with the key it would have had:
  // nothing of the new version runs for it.
  EXPECT_EQ(keys, (std::map<std::string, std::string>{{"e-1:greet:0", "/first"},
                                                      {"e-1:greet:2", "/later"},
                                                      {"e-2:greet:0", "/inserted"},
                                                      {"e-2:greet:1", "/first"},
                                                      {"e-2:greet:3", "/later"}}))
      << second.log();
  EXPECT_EQ(sink.count(), 5u);
}

TEST(PipelineEndToEnd, AWaitForEventRemovedByAnEditStillResumesTheExecutionsWaitingOnIt) {
  HttpSink sink;
  json read_or_not = {{"name", "Replied"},
                      {"wait_for", "lead.replied"},
                      {"match", {{"data.lead", "{{entity.id}}"}}},
                      {"timeout", "1h"},
                      {"then", json::array({greet_step("/thanks")})},
                      {"else", json::array({greet_step("/remind")})}};
  auto first = std::make_unique<HostProcess>(pipeline_config(sink, json::array({greet_step("/first"), read_or_not})));
  const auto dir = first->dir();
  ASSERT_EQ(post_event(first->port(), new_lead("e-1")).status, 202);
  ASSERT_EQ(sink.wait_for(1).size(), 1u);
  std::this_thread::sleep_for(300ms);  // e-1 is waiting for lead.replied
  first->stop();

  // The new version waits for nothing: no current rule reads lead.replied.
  HostProcess second(pipeline_config(sink, json::array({greet_step("/first")})), {}, dir);
  ASSERT_EQ(
      post_event(second.port(), {{"id", "reply-1"}, {"type", "lead.replied"}, {"data", {{"lead", "L-e-1"}}}}).status,
      202);
  const auto requests = sink.wait_for(2, 10s);
  ASSERT_EQ(requests.size(), 2u) << second.log();
  EXPECT_EQ(requests[1].uri, "/thanks");
  EXPECT_EQ(requests[1].headers.at("idempotency-key"), "e-1:greet:1/then/0");
}

// The store keeps only the implied events something reads; an edit that
// drops the last wait for one keeps it while executions of the old version
// wait for it.
TEST(PipelineEndToEnd, AnImpliedEventThatOnlyAnEarlierVersionWaitsForIsStillStored) {
  HttpSink sink;
  json changed_or_not = {{"name", "Changed"},
                         {"wait_for", "lead.field_changed"},
                         {"match", {{"entity.id", "{{entity.id}}"}}},
                         {"timeout", "1h"},
                         {"then", json::array({greet_step("/changed")})},
                         {"else", json::array({greet_step("/remind")})}};
  auto first =
      std::make_unique<HostProcess>(pipeline_config(sink, json::array({greet_step("/first"), changed_or_not})));
  const auto dir = first->dir();
  ASSERT_EQ(post_event(first->port(), new_lead("e-1")).status, 202);
  ASSERT_EQ(sink.wait_for(1).size(), 1u);
  std::this_thread::sleep_for(300ms);  // e-1 is waiting for lead.field_changed
  first->stop();

  HostProcess second(pipeline_config(sink, json::array({greet_step("/first")})), {}, dir);
  ASSERT_EQ(post_event(second.port(), {{"id", "u-1"},
                                       {"type", "lead.updated"},
                                       {"entity", {{"type", "lead"}, {"id", "L-e-1"}, {"fields", {{"stage", "hot"}}}}}})
                .status,
            202);
  const auto requests = sink.wait_for(2, 10s);
  ASSERT_EQ(requests.size(), 2u) << second.log();
  EXPECT_EQ(requests[1].uri, "/changed");
  EXPECT_EQ(requests[1].headers.at("idempotency-key"), "e-1:greet:1/then/0");
}

TEST(PipelineEndToEnd, AnElseOnEventEndsTheWaitAtOnceWithTheElseSteps) {
  HttpSink sink;
  json answered_or_not = {{"name", "Answered"},
                          {"wait_for", "call.answered"},
                          {"else_on", {"call.no_answer", "call.busy"}},
                          {"match", {{"data.lead", "{{entity.id}}"}}},
                          {"timeout", "1h"},
                          {"then", json::array({greet_step("/thanks")})},
                          {"else", json::array({greet_step("/sms")})}};
  HostProcess host(pipeline_config(sink, json::array({greet_step("/call"), answered_or_not})));
  for (const char* id : {"e-1", "e-2"}) ASSERT_EQ(post_event(host.port(), new_lead(id)).status, 202);
  ASSERT_EQ(sink.wait_for(2).size(), 2u);
  std::this_thread::sleep_for(300ms);  // both are waiting
  // Not answered: the else steps at once, not after the hour; answered: the then steps.
  ASSERT_EQ(post_event(host.port(), {{"id", "c-1"}, {"type", "call.no_answer"}, {"data", {{"lead", "L-e-1"}}}}).status,
            202);
  ASSERT_EQ(post_event(host.port(), {{"id", "c-2"}, {"type", "call.answered"}, {"data", {{"lead", "L-e-2"}}}}).status,
            202);
  std::map<std::string, std::string> keys;
  for (const auto& r : sink.wait_for(4)) keys[r.headers.at("idempotency-key")] = r.uri;
  EXPECT_EQ(keys, (std::map<std::string, std::string>{{"e-1:greet:0", "/call"},
                                                      {"e-1:greet:1/else/0", "/sms"},
                                                      {"e-2:greet:0", "/call"},
                                                      {"e-2:greet:1/then/0", "/thanks"}}))
      << host.log();
  // A late answer to a call that already went to the else steps changes nothing.
  ASSERT_EQ(post_event(host.port(), {{"id", "c-3"}, {"type", "call.answered"}, {"data", {{"lead", "L-e-1"}}}}).status,
            202);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(sink.count(), 4u);
}

TEST(PipelineEndToEnd, AWaitForSeveralTypesTakesTheThenStepsOnWhicheverComesFirst) {
  HttpSink sink;
  json opened = {{"name", "Opened"},
                 {"wait_for", {"message.opened", "message.clicked"}},
                 {"match", {{"data.lead", "{{entity.id}}"}}},
                 {"timeout", "1h"},
                 {"then", json::array({greet_step("/next")})},
                 {"else", json::array({greet_step("/reminder")})}};
  HostProcess host(pipeline_config(sink, json::array({greet_step("/offer"), opened})));
  for (const char* id : {"e-1", "e-2"}) ASSERT_EQ(post_event(host.port(), new_lead(id)).status, 202);
  ASSERT_EQ(sink.wait_for(2).size(), 2u);
  std::this_thread::sleep_for(300ms);  // both are waiting
  // A click with no open before it (the pixel was not loaded) counts, as an open does.
  ASSERT_EQ(post_event(host.port(), {{"id", "m-1"}, {"type", "message.clicked"}, {"data", {{"lead", "L-e-1"}}}}).status,
            202);
  ASSERT_EQ(post_event(host.port(), {{"id", "m-2"}, {"type", "message.opened"}, {"data", {{"lead", "L-e-2"}}}}).status,
            202);
  std::map<std::string, std::string> keys;
  for (const auto& r : sink.wait_for(4)) keys[r.headers.at("idempotency-key")] = r.uri;
  EXPECT_EQ(keys, (std::map<std::string, std::string>{{"e-1:greet:0", "/offer"},
                                                      {"e-1:greet:1/then/0", "/next"},
                                                      {"e-2:greet:0", "/offer"},
                                                      {"e-2:greet:1/then/0", "/next"}}))
      << host.log();
  // The open that follows the click resumes nothing again.
  ASSERT_EQ(post_event(host.port(), {{"id", "m-3"}, {"type", "message.opened"}, {"data", {{"lead", "L-e-1"}}}}).status,
            202);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(sink.count(), 4u);
}

// Waits (bounded) until every expected idempotency key reached the sink;
// returns how often each key arrived.
std::map<std::string, int> deliveries_of(HttpSink& sink, const std::set<std::string>& expected,
                                         std::chrono::seconds timeout) {
  std::map<std::string, int> deliveries;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    deliveries.clear();
    for (const auto& r : sink.wait_for(0, 0ms)) ++deliveries[r.headers.at("idempotency-key")];
    size_t seen = 0;
    for (const auto& key : expected) seen += deliveries.count(key);
    if (seen == expected.size()) break;
    std::this_thread::sleep_for(50ms);
  }
  return deliveries;
}

// Posts new leads from four threads until the host is gone; returns the
// acknowledged ids.
std::set<std::string> post_until_killed(HostProcess& host, const std::string& prefix,
                                        std::chrono::milliseconds run_for) {
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t)
    senders.emplace_back([&, t, port = host.port()] {
      for (int i = 0; !stop; ++i) {
        const std::string id = prefix + "-" + std::to_string(t) + "-" + std::to_string(i);
        try {
          if (post_event(port, new_lead(id)).status == 202) {
            std::lock_guard lock(mutex);
            acknowledged.insert(id);
          }
        } catch (const std::exception&) {
          return;  // the host is gone
        }
      }
    });
  std::this_thread::sleep_for(run_for);
  host.kill();
  stop = true;
  for (auto& s : senders) s.join();
  return acknowledged;
}

TEST(PipelineEndToEnd, NothingAcknowledgedIsLostOrDoneTwiceAcrossASigkill) {
  HttpSink sink;
  // An immediate step, a delayed one, and a second action after the delay.
  const json config =
      pipeline_config(sink, json::array({greet_step("/first"), {{"wait", "1s"}}, greet_step("/later")}));
  auto first = std::make_unique<HostProcess>(config);
  const auto dir = first->dir();
  // Some first steps done, every delayed step still waiting.
  const std::set<std::string> acknowledged = post_until_killed(*first, "k", 700ms);
  ASSERT_GT(acknowledged.size(), 10u);
  // The second host's requests are told apart by their path, not by when
  // they arrive: the dead host's last ones may reach the sink late.
  json restarted = config;
  restarted["instances"]["sink"]["config"]["base_url"] = sink.url() + "/after";
  HostProcess second(restarted, {}, dir);
  std::set<std::string> expected;
  for (const auto& id : acknowledged) {
    expected.insert(id + ":greet:0");
    expected.insert(id + ":greet:2");
  }
  // Every step of every acknowledged event happens...
  const std::map<std::string, int> deliveries = deliveries_of(sink, expected, 20s);
  for (const auto& key : expected) EXPECT_TRUE(deliveries.count(key)) << key << " never reached the provider";
  // ...and a repeated delivery is only a step that was in flight when the
  // host died: delivered by the first host, its result not yet committed, so
  // the second host sends it again with the same key (the provider sees it
  // once). Neither host delivers any key twice.
  std::map<std::string, int> first_host, second_host;
  for (const auto& r : sink.wait_for(0, 0ms))
    ++(r.uri.rfind("/after/", 0) == 0 ? second_host : first_host)[r.headers.at("idempotency-key")];
  size_t repeats = 0;
  for (const auto& [key, n] : first_host) EXPECT_EQ(n, 1) << key << " delivered twice by the first host";
  for (const auto& [key, n] : second_host) {
    EXPECT_EQ(n, 1) << key << " delivered twice by the second host";
    repeats += first_host.count(key);
  }
  std::cout << "acknowledged " << acknowledged.size() << " events, " << expected.size() << " steps, "
            << first_host.size() << " keys sent by the first host, " << repeats << " repeated deliveries\n";
}

TEST(PipelineEndToEnd, TwentySigkillsDuringABurstWithWaitsAndBranchesLoseNothing) {
  HttpSink sink;
  // A step, a parallel group (one branch waits), and a step after the group.
  json config = pipeline_config(
      sink, json::array({greet_step("/first"),
                         {{"parallel", json::array({json::array({greet_step("/a")}),
                                                    json::array({{{"wait", "1s"}}, greet_step("/b")})})}},
                         greet_step("/last")}));
  constexpr int kMaxInFlight = 40;
  config["executions"] = {{"max_in_flight", kMaxInFlight}};
  std::set<std::string> acknowledged;
  std::vector<std::unique_ptr<HostProcess>> hosts;  // each keeps the shared folder alive
  std::filesystem::path dir;
  constexpr int kKills = 20;
  for (int kill = 0; kill < kKills; ++kill) {
    hosts.push_back(std::make_unique<HostProcess>(config, std::vector<std::string>{}, dir));
    dir = hosts.back()->dir();
    auto acked = post_until_killed(*hosts.back(), "k" + std::to_string(kill), 150ms);
    acknowledged.insert(acked.begin(), acked.end());
  }
  ASSERT_GT(acknowledged.size(), 20u);
  HostProcess last(config, {}, dir);
  std::set<std::string> expected;
  for (const auto& id : acknowledged)
    for (const std::string& key :
         {id + ":greet:0", id + "#1.0:greet:1/parallel/0/0", id + "#1.1:greet:1/parallel/1/1", id + ":greet:2"})
      expected.insert(key);
  const std::map<std::string, int> deliveries = deliveries_of(sink, expected, 60s);
  // Every step of every acknowledged event happened...
  size_t missing = 0;
  for (const auto& key : expected) missing += !deliveries.count(key);
  EXPECT_EQ(missing, 0u) << "of " << expected.size() << " steps";
  // ...and a key came again only for a step in flight at a kill: no more
  // repeats than kills times the steps that may be in flight.
  size_t repeats = 0;
  for (const auto& [key, n] : deliveries) repeats += static_cast<size_t>(n - 1);
  EXPECT_LE(repeats, static_cast<size_t>(kKills * kMaxInFlight));
  std::cout << kKills << " kills, " << acknowledged.size() << " events, " << expected.size() << " steps, " << repeats
            << " repeated deliveries\n";
}

TEST(PipelineEndToEnd, WithOnDoubtHoldNoWhatsAppMessageIsSentTwiceAcrossTwentySigkillsWithWaitsAndBranches) {
  HttpSink cloud_api(200,
                     R"({"messaging_product":"whatsapp","contacts":[{"input":"79990001122","wa_id":"79990001122"}],)"
                     R"("messages":[{"id":"wamid.HBgL"}]})");
  ::setenv("SB_TEST_PIPELINE_TOKEN", kToken, 1);
  ::setenv("SB_TEST_ADMIN_TOKEN", "admin-token-3f9", 1);
  const auto send = [](const std::string& suffix) {
    return json{{"action", "wa.send_text"}, {"params", {{"to", "+79990001122"}, {"text", "{{event.id}}" + suffix}}}};
  };
  // A message, a parallel group (one branch waits), and a message after it:
  // WhatsApp takes no idempotency key, so none may go twice.
  const json config = {
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"events", {{"env", "SB_TEST_PIPELINE_TOKEN"}}}, {"admin", {{"env", "SB_TEST_ADMIN_TOKEN"}}}}},
      {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
      {"executions", {{"max_in_flight", 40}}},
      {"instances",
       {{"wa",
         {{"plugin", "whatsapp"},
          {"config",
           {{"phone_number_id", "106540352242922"}, {"access_token", "t"}, {"base_url", cloud_api.url()}}}}}}},
      {"rules",
       {{{"name", "notify"},
         {"on_doubt", "hold"},
         {"trigger", {{"event", "lead.created"}}},
         {"steps",
          {send("/first"),
           {{"parallel", json::array({json::array({send("/a")}), json::array({{{"wait", "1s"}}, send("/b")})})}},
           send("/last")}}}}}};
  std::set<std::string> acknowledged;
  std::vector<std::unique_ptr<HostProcess>> hosts;
  std::filesystem::path dir;
  for (int kill = 0; kill < 20; ++kill) {
    hosts.push_back(std::make_unique<HostProcess>(config, std::vector<std::string>{}, dir));
    dir = hosts.back()->dir();
    auto acked = post_until_killed(*hosts.back(), "w" + std::to_string(kill), 150ms);
    acknowledged.insert(acked.begin(), acked.end());
  }
  ASSERT_GT(acknowledged.size(), 20u);
  HostProcess last(config, {}, dir);
  const auto admin = std::map<std::string, std::string>{{"Authorization", "Bearer admin-token-3f9"}};
  // Each acknowledged event ends with its four messages sent, or with an
  // execution of it (the rule's, or a branch's: `<event>#...`) held for an operator.
  std::map<std::string, int> sent;      // by text
  std::map<std::string, int64_t> held;  // event -> an execution of it in doubt
  const auto read_sent = [&] {
    sent.clear();
    for (const auto& r : cloud_api.wait_for(0, 0ms)) ++sent[json::parse(r.body)["text"]["body"].get<std::string>()];
  };
  const auto settled = [&](const std::string& id) {
    if (held.count(id)) return true;
    for (const char* suffix : {"/first", "/a", "/b", "/last"})
      if (!sent.count(id + suffix)) return false;
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    read_sent();
    held.clear();
    const HttpResult listed =
        http_request(last.port(), "GET", "/api/v1/executions?state=in_doubt&limit=1000", "", admin);
    ASSERT_EQ(listed.status, 200) << listed.body;
    const json body = listed.json();  // kept: the loop reads into it
    for (const auto& e : body["executions"]) {
      const std::string event_id = e["event_id"].get<std::string>();
      held[event_id.substr(0, event_id.find('#'))] = e["id"].get<int64_t>();
    }
    size_t done = 0;
    for (const auto& id : acknowledged) done += settled(id);
    if (done == acknowledged.size()) break;
    std::this_thread::sleep_for(100ms);
  }
  for (const auto& id : acknowledged) EXPECT_TRUE(settled(id)) << id << " was neither sent in full nor held";
  // An operator says a held step was sent: its execution goes on without
  // sending it again (the check below), to its end.
  if (!held.empty()) {
    const int64_t id = held.begin()->second;
    EXPECT_EQ(
        http_request(last.port(), "POST", "/api/v1/executions/" + std::to_string(id) + "/mark-done", "", admin).status,
        200);
    std::string state;
    for (int i = 0; i < 200 && state != "done"; ++i) {
      std::this_thread::sleep_for(50ms);
      state = http_request(last.port(), "GET", "/api/v1/executions/" + std::to_string(id), "", admin)
                  .json()
                  .value("state", "");
    }
    EXPECT_EQ(state, "done");
  }
  read_sent();
  for (const auto& [text, n] : sent) EXPECT_EQ(n, 1) << text << " sent " << n << " times";
  std::cout << acknowledged.size() << " events, " << sent.size() << " messages sent, " << held.size()
            << " events held in doubt\n";
}

}  // namespace
}  // namespace sb::test
