// The executions admin API on the real binary: dead letters with their
// reason, one execution with its history, retry and cancel (and the
// conflicts), and its token.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "integration/test_support.h"
#include "util/Time.h"

namespace sb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kEventsToken[] = "events-5e1";
constexpr char kAdminToken[] = "admin-93b";

json admin_config(const HttpSink& sink) {
  ::setenv("SB_TEST_ADMIN_EVENTS", kEventsToken, 1);
  ::setenv("SB_TEST_ADMIN_ADMIN", kAdminToken, 1);
  return json{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"events", {{"env", "SB_TEST_ADMIN_EVENTS"}}}, {"admin", {{"env", "SB_TEST_ADMIN_ADMIN"}}}}},
      {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
      {"instances",
       {{"sink", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}},
        // Takes every call and never completes it; hears a cancel (ABI 1.1).
        // One call at a time: the next waits for the instance.
        {"silent", {{"plugin", std::string(SB_FIXTURE_DIR) + "/never_completes.so"}, {"max_in_flight", 1}}}}},
      {"rules",
       {{{"name", "notify"},
         {"trigger", {{"event", "lead.created"}}},
         {"steps", {{{"action", "sink.post"}, {"params", {{"url", "/notify"}, {"body", {{"id", "{{id}}"}}}}}}}}},
        {{"name", "later"},
         {"trigger", {{"event", "lead.snoozed"}}},
         {"steps", {{{"wait", "1h"}}, {{"action", "sink.post"}, {"params", {{"url", "/later"}}}}}}},
        {{"name", "booked"},
         {"trigger", {{"event", "booking.made"}}},
         {"steps",
          {{{"wait_until", "data.at"}, {"offset", "-1h"}},
           {{"action", "sink.post"}, {"params", {{"url", "/remind"}}}}}}},
        {{"name", "hold"},
         {"trigger", {{"event", "lead.held"}}},
         {"steps", {{{"action", "silent.echo"}, {"params", json::object()}, {"timeout_ms", 600000}}}}}}}};
}

class ExecutionsApiTest : public ::testing::Test {
 protected:
  HttpResult admin(const std::string& method, const std::string& path) {
    return http_request(host_.port(), method, path, method == "POST" ? "{}" : "",
                        {{"Authorization", std::string("Bearer ") + kAdminToken}});
  }
  void post_event(const std::string& id, const std::string& type) {
    ASSERT_EQ(http_request(host_.port(), "POST", "/api/v1/events", json{{"id", id}, {"type", type}}.dump(),
                           {{"Authorization", std::string("Bearer ") + kEventsToken}})
                  .status,
              202);
  }
  // Polls the list until `pred` holds for it.
  json wait_list(const std::string& path, const std::function<bool(const json&)>& pred) {
    json last;
    for (int i = 0; i < 200; ++i) {
      last = admin("GET", path).json();
      if (pred(last)) break;
      std::this_thread::sleep_for(20ms);
    }
    return last;
  }

  // Cancels the execution at `path`; returns it once its step no longer runs.
  json cancel_and_wait_for_its_step(const std::string& path) {
    EXPECT_EQ(admin("POST", path + "/cancel").status, 200);
    json one;
    for (int i = 0; i < 100; ++i) {
      one = admin("GET", path).json();
      if (one["running"] == false) break;
      std::this_thread::sleep_for(20ms);
    }
    return one;
  }

  HttpSink sink_{400, R"({"error":"bad phone"})"};
  HostProcess host_{admin_config(sink_)};
};

TEST_F(ExecutionsApiTest, DeadLetterIsExplainedAndRetriedToSuccess) {
  post_event("ev-1", "lead.created");
  json dead = wait_list("/api/v1/dead-letters", [](const json& j) { return j["dead_letters"].size() == 1; });
  ASSERT_EQ(dead["dead_letters"].size(), 1u) << dead.dump();
  const json letter = dead["dead_letters"][0];
  EXPECT_EQ(letter["rule"], "notify");
  EXPECT_EQ(letter["event_id"], "ev-1");
  EXPECT_EQ(letter["state"], "failed");
  EXPECT_NE(letter["error"].get<std::string>().find("HTTP 400"), std::string::npos) << letter.dump();
  const std::string path = "/api/v1/executions/" + std::to_string(letter["id"].get<int64_t>());

  HttpResult one = admin("GET", path);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.json()["history"][0]["outcome"], "permanent");
  EXPECT_EQ(one.json()["context"]["event"]["id"], "ev-1");

  sink_.set_status(200);
  HttpResult retried = admin("POST", path + "/retry");
  ASSERT_EQ(retried.status, 200) << retried.body;
  json done = wait_list("/api/v1/executions?state=done", [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(done["executions"].size(), 1u);
  const json history = admin("GET", path).json()["history"];
  ASSERT_EQ(history.size(), 3u);  // failed, the admin's retry, done
  EXPECT_EQ(history[1]["admin"], "retry");
  EXPECT_EQ(history[2]["outcome"], "done");
  EXPECT_EQ(sink_.count(), 2u);
  EXPECT_EQ(admin("POST", path + "/retry").status, 409);  // done: nothing to retry
}

TEST_F(ExecutionsApiTest, WaitingExecutionIsCancelledOnce) {
  post_event("ev-2", "lead.snoozed");
  json waiting = wait_list("/api/v1/executions?state=waiting&rule=later",
                           [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(waiting["executions"].size(), 1u) << waiting.dump();
  EXPECT_FALSE(waiting["executions"][0]["due_at"].is_null());
  const std::string path = "/api/v1/executions/" + std::to_string(waiting["executions"][0]["id"].get<int64_t>());
  EXPECT_EQ(admin("POST", path + "/cancel").status, 200);
  EXPECT_EQ(admin("GET", path).json()["state"], "cancelled");
  HttpResult again = admin("POST", path + "/cancel");
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(again.json()["error"]["message"].get<std::string>().find("is cancelled"), std::string::npos);
}

// An operator who retries a cancelled wait_until means it to go on: the
// next step runs now, the wait not waited again.
TEST_F(ExecutionsApiTest, ARetriedCancelledWaitUntilGoesOn) {
  ASSERT_EQ(
      http_request(
          host_.port(), "POST", "/api/v1/events",
          json{{"id", "b-1"}, {"type", "booking.made"}, {"data", {{"at", format_time_ms(now_ms() + 86400000)}}}}.dump(),
          {{"Authorization", std::string("Bearer ") + kEventsToken}})
          .status,
      202);
  json waiting = wait_list("/api/v1/executions?state=waiting&rule=booked",
                           [](const json& j) { return j["executions"].size() == 1; });
  ASSERT_EQ(waiting["executions"].size(), 1u) << waiting.dump();
  const std::string path = "/api/v1/executions/" + std::to_string(waiting["executions"][0]["id"].get<int64_t>());
  ASSERT_EQ(admin("POST", path + "/cancel").status, 200);
  ASSERT_EQ(admin("POST", path + "/retry").status, 200);
  ASSERT_EQ(sink_.wait_for(1).size(), 1u);  // the reminder, a day early, as the operator asked
  json one;
  for (int i = 0; i < 100 && (one = admin("GET", path).json())["state"] != "failed"; ++i)
    std::this_thread::sleep_for(20ms);
  const json history = one["history"];
  ASSERT_GE(history.size(), 4u) << one.dump();
  EXPECT_EQ(history[3]["outcome"], "not waiting: an operator retried it") << one.dump();
}

// An operator cancels an execution whose call is in flight on this node:
// the host gives the call up at once (its plugin hears it through
// on_action_cancel and may stop the provider's work), not at its deadline
// ten minutes later, and the step's lease ends with it.
TEST_F(ExecutionsApiTest, CancellingAnExecutionGivesUpItsCallInFlight) {
  post_event("ev-3", "lead.held");
  json running = wait_list("/api/v1/executions?rule=hold", [](const json& j) {
    return j["executions"].size() == 1 && j["executions"][0]["running"] == true;
  });
  ASSERT_EQ(running["executions"].size(), 1u) << running.dump();
  ASSERT_EQ(running["executions"][0]["running"], true) << running.dump();
  // Leased is not yet in flight: the step renders its call and queues it
  // first. A cancel in that moment finds no call to give up (a known gap:
  // the call then holds the lease to its deadline); this test is about a
  // call in flight, which the plugin has a moment later.
  std::this_thread::sleep_for(300ms);
  const std::string path = "/api/v1/executions/" + std::to_string(running["executions"][0]["id"].get<int64_t>());
  const json one = cancel_and_wait_for_its_step(path);
  EXPECT_EQ(one["state"], "cancelled") << one.dump();
  EXPECT_EQ(one["running"], false) << one.dump();
  // Not a provider's answer: no action outcome, and no end of the rule
  // counted (not failed, not cancelled).
  const std::string metrics = http_request(host_.port(), "GET", "/metrics").body;
  EXPECT_EQ(metrics.find(R"(rule="hold",step="silent.echo")"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find(R"(rule="hold",status=)"), std::string::npos) << metrics;
  EXPECT_EQ(one["history"].size(), 1u) << one.dump();  // the admin's cancel only
}

// A call waiting for its instance (max_in_flight) when its execution is
// cancelled is never sent: the step ends at once instead of holding its
// lease until the call ahead of it ends.
TEST_F(ExecutionsApiTest, CancellingAnExecutionWhoseCallWaitsForItsInstanceEndsItsStep) {
  post_event("ev-4", "lead.held");
  post_event("ev-5", "lead.held");  // its call waits for ev-4's
  json both = wait_list("/api/v1/executions?rule=hold", [](const json& j) {
    return j["executions"].size() == 2 && j["executions"][0]["running"] == true &&
           j["executions"][1]["running"] == true;
  });
  ASSERT_EQ(both["executions"].size(), 2u) << both.dump();
  ASSERT_EQ(both["executions"][0]["event_id"], "ev-5") << both.dump();  // newest first
  // Not yet run, it stands at its rule's first step (its path: it has no name).
  EXPECT_EQ(both["executions"][0]["step"], "0") << both.dump();
  const std::string path = "/api/v1/executions/" + std::to_string(both["executions"][0]["id"].get<int64_t>());
  const json one = cancel_and_wait_for_its_step(path);
  EXPECT_EQ(one["state"], "cancelled") << one.dump();
  EXPECT_EQ(one["running"], false) << one.dump();
  EXPECT_EQ(one["history"].size(), 1u) << one.dump();  // the admin's cancel only
  const json first =
      admin("GET", "/api/v1/executions/" + std::to_string(both["executions"][1]["id"].get<int64_t>())).json();
  EXPECT_EQ(first["running"], true) << first.dump();  // its call still in flight
  EXPECT_EQ(admin("POST", "/api/v1/executions/" + std::to_string(first["id"].get<int64_t>()) + "/cancel").status,
            200);  // (and the host stops without waiting for it)
}

// A long list is read a page at a time, newest first, each page's "next"
// the cursor of the one after it.
TEST_F(ExecutionsApiTest, ListsArePagedWithACursor) {
  for (int i = 0; i < 5; ++i) post_event("page-" + std::to_string(i), "lead.snoozed");
  json all = wait_list("/api/v1/executions?rule=later", [](const json& j) { return j["executions"].size() == 5; });
  ASSERT_EQ(all["executions"].size(), 5u) << all.dump();
  EXPECT_TRUE(all["next"].is_null());  // not a full page: the last
  std::vector<int64_t> paged;
  std::string path = "/api/v1/executions?rule=later&limit=2";
  for (int page = 0; page < 5; ++page) {
    const json got = admin("GET", path).json();
    for (const auto& e : got["executions"]) paged.push_back(e["id"].get<int64_t>());
    if (got["next"].is_null()) break;
    path = "/api/v1/executions?rule=later&limit=2&cursor=" + got["next"].get<std::string>();
  }
  std::vector<int64_t> expected;
  for (const auto& e : all["executions"]) expected.push_back(e["id"].get<int64_t>());
  EXPECT_EQ(paged, expected);
  // A last page that is full says it is the last.
  const json exact = admin("GET", "/api/v1/executions?rule=later&limit=5").json();
  EXPECT_EQ(exact["executions"].size(), 5u);
  EXPECT_TRUE(exact["next"].is_null()) << exact.dump();
  EXPECT_EQ(admin("GET", "/api/v1/executions?cursor=abc").status, 400);
}

// "What did we do for this client?": a contact's executions, by its id or an
// address it is known by, also those begun before the CRM gave it its id.
TEST_F(ExecutionsApiTest, AContactsExecutionsAreListed) {
  const auto post = [&](const std::string& id, const json& contact) {
    ASSERT_EQ(http_request(host_.port(), "POST", "/api/v1/events",
                           json{{"id", id}, {"type", "lead.snoozed"}, {"contact", contact}}.dump(),
                           {{"Authorization", std::string("Bearer ") + kEventsToken}})
                  .status,
              202);
  };
  post("s1", {{"email", "Anna@Example.com"}});
  post("s2", {{"id", "c-1"}, {"email", "anna@example.com"}});
  post("s3", {{"id", "c-2"}, {"phone", "+79990001122"}});
  post_event("s4", "lead.snoozed");
  const auto events_of = [](const json& list) {
    std::vector<std::string> out;
    for (const json& e : list["executions"]) out.push_back(e["event_id"].get<std::string>());
    return out;
  };
  const json all =
      wait_list("/api/v1/executions?rule=later", [](const json& j) { return j["executions"].size() == 4; });
  ASSERT_EQ(all["executions"].size(), 4u) << all.dump();
  using V = std::vector<std::string>;
  EXPECT_EQ(events_of(admin("GET", "/api/v1/executions?contact=c-1").json()), (V{"s2", "s1"}));
  EXPECT_EQ(events_of(admin("GET", "/api/v1/executions?contact=email:anna@example.com").json()), (V{"s2", "s1"}));
  EXPECT_EQ(events_of(admin("GET", "/api/v1/executions?contact=phone:%2B79990001122&rule=later").json()), V{"s3"});
  const json one = admin("GET", "/api/v1/executions?contact=c-2").json();
  EXPECT_EQ(one["executions"].at(0)["contact"], "id:c-2");
  EXPECT_TRUE(admin("GET", "/api/v1/executions?contact=c-1&state=failed").json()["executions"].empty());
  const HttpResult unknown = admin("GET", "/api/v1/executions?contact=c-404");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.json()["error"]["message"].get<std::string>().find("no contact 'c-404'"), std::string::npos);
}

TEST_F(ExecutionsApiTest, RequestsAreCheckedAndErrorsAreSpecific) {
  EXPECT_EQ(http_request(host_.port(), "GET", "/api/v1/executions").status, 401);
  EXPECT_EQ(http_request(host_.port(), "GET", "/api/v1/executions", "",
                         {{"Authorization", std::string("Bearer ") + kEventsToken}})
                .status,
            401);  // the events token is not an admin token
  EXPECT_EQ(admin("GET", "/api/v1/executions/999").status, 404);
  EXPECT_EQ(admin("POST", "/api/v1/executions/999/retry").status, 404);
  HttpResult not_a_number = admin("GET", "/api/v1/executions/abc");
  EXPECT_EQ(not_a_number.status, 404);
  EXPECT_NE(not_a_number.json()["error"]["message"].get<std::string>().find("positive integer"), std::string::npos);
  EXPECT_EQ(admin("POST", "/api/v1/executions/1/explode").status, 404);
  HttpResult bad_state = admin("GET", "/api/v1/executions?state=dead");
  EXPECT_EQ(bad_state.status, 400);
  EXPECT_NE(bad_state.json()["error"]["message"].get<std::string>().find("state:"), std::string::npos);
  EXPECT_EQ(admin("GET", "/api/v1/executions?colour=red").status, 400);
  // A misspelt rule is named, not an empty list that looks like a quiet rule;
  // a rule of the config that has not run yet is an empty list.
  const HttpResult misspelt = admin("GET", "/api/v1/executions?rule=notfy");
  EXPECT_EQ(misspelt.status, 404);
  EXPECT_NE(misspelt.json()["error"]["message"].get<std::string>().find("no rule 'notfy'"), std::string::npos);
  EXPECT_EQ(admin("GET", "/api/v1/dead-letters?rule=notfy").status, 404);
  const HttpResult quiet = admin("GET", "/api/v1/executions?rule=later");
  EXPECT_EQ(quiet.status, 200);
  EXPECT_TRUE(quiet.json()["executions"].empty());
  const HttpResult not_allowed = admin("DELETE", "/api/v1/executions");
  EXPECT_EQ(not_allowed.status, 405);
  EXPECT_EQ(not_allowed.headers.at("allow"), "GET");  // RFC 9110: a 405 says what is allowed
  const HttpResult not_a_command = admin("GET", "/api/v1/executions/1/retry");
  EXPECT_EQ(not_a_command.status, 405);
  EXPECT_EQ(not_a_command.headers.at("allow"), "POST");
}

}  // namespace
}  // namespace sb::test

namespace sb::test {
namespace {

// MatrixCRM's action analytics and A/B tests: twenty offers split A/B, each
// waiting for its message to be opened; some are. The stats count, per
// variant, how many executions took it and how many saw the open.
TEST(ExecutionStatsApi, AnAbTestIsCountedPerVariantAndStep) {
  HttpSink sink;
  ::setenv("SB_TEST_STATS_EVENTS", "stats-events", 1);
  ::setenv("SB_TEST_STATS_ADMIN", "stats-admin", 1);
  const auto offer = [](const char* path) {
    return json{{"action", "sink.post"}, {"params", {{"url", path}, {"body", {{"offer", "{{id}}"}}}}}};
  };
  const json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"events", {{"env", "SB_TEST_STATS_EVENTS"}}}, {"admin", {{"env", "SB_TEST_STATS_ADMIN"}}}}},
      {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
      {"instances", {{"sink", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}}}},
      {"rules",
       {{{"name", "fanout"},
         {"trigger", {{"event", "fanout.due"}}},
         {"steps",
          {{{"parallel",
             {{{{"name", "left"}, {"action", "sink.post"}, {"params", {{"url", "/left"}}}}},
              {{{"name", "right"}, {"action", "sink.post"}, {"params", {{"url", "/right"}}}}}}}},
           {{"name", "after"}, {"action", "sink.post"}, {"params", {{"url", "/after"}}}}}}},
        {{"name", "offer"},
         {"trigger", {{"event", "offer.due"}}},
         {"steps",
          {{{"name", "subject"},
            {"split",
             {{"A", {{"weight", 50}, {"steps", {offer("/a")}}}}, {"B", {{"weight", 50}, {"steps", {offer("/b")}}}}}}},
           {{"name", "Opened?"},
            {"wait_for", "message.opened"},
            {"match", {{"data.offer", "{{id}}"}}},
            {"timeout", "2s"}}}}}}}};
  HostProcess host(config);
  const auto post = [&](const json& event) {
    ASSERT_EQ(
        http_request(host.port(), "POST", "/api/v1/events", event.dump(), {{"Authorization", "Bearer stats-events"}})
            .status,
        202);
  };
  for (int i = 0; i < 20; ++i) post({{"id", "o" + std::to_string(i)}, {"type", "offer.due"}});
  const auto sent = sink.wait_for(20);
  ASSERT_EQ(sent.size(), 20u) << host.log();
  std::map<std::string, std::string> variant_of;
  for (const auto& r : sent) variant_of[json::parse(r.body)["offer"]] = r.uri == "/a" ? "A" : "B";
  // Every third offer is opened.
  std::map<std::string, int> offered, opened;
  for (int i = 0; i < 20; ++i) {
    const std::string id = "o" + std::to_string(i);
    ++offered[variant_of[id]];
    if (i % 3 == 0) {
      post({{"id", "open-" + id}, {"type", "message.opened"}, {"data", {{"offer", id}}}});
      ++opened[variant_of[id]];
    }
  }
  ASSERT_GT(offered["A"], 0);
  ASSERT_GT(offered["B"], 0);
  json stats;
  for (int i = 0; i < 300; ++i) {
    stats = http_request(host.port(), "GET", "/api/v1/executions/stats?rule=offer", "",
                         {{"Authorization", "Bearer stats-admin"}})
                .json();
    if (stats["states"].value("done", 0) == 20) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(stats["states"].value("done", 0), 20) << stats.dump();
  EXPECT_EQ(stats["executions"], 20);
  EXPECT_EQ(stats["complete"], true);
  EXPECT_EQ(stats["steps"]["Opened?"]["event arrived"], opened["A"] + opened["B"]);
  EXPECT_EQ(stats["steps"]["Opened?"]["timed out"], 20 - opened["A"] - opened["B"]);
  for (const char* v : {"A", "B"}) {
    const json& variant = stats["splits"]["subject"][v];
    EXPECT_EQ(variant["executions"], offered[v]) << v;
    EXPECT_EQ(variant["steps"]["sink.post"]["done"], offered[v]) << v;
    EXPECT_EQ(variant["steps"]["Opened?"].value("event arrived", 0), opened[v]) << v;
  }
  // The rule is required; a time must be one.
  EXPECT_EQ(http_request(host.port(), "GET", "/api/v1/executions/stats", "", {{"Authorization", "Bearer stats-admin"}})
                .status,
            400);
  EXPECT_EQ(http_request(host.port(), "GET", "/api/v1/executions/stats?rule=offer&since=yesterday", "",
                         {{"Authorization", "Bearer stats-admin"}})
                .status,
            400);
  EXPECT_EQ(http_request(host.port(), "GET", "/api/v1/executions/stats?rule=offer").status, 401);
  // A misspelt rule is not a rule that did nothing.
  const HttpResult nope = http_request(host.port(), "GET", "/api/v1/executions/stats?rule=ofer", "",
                                       {{"Authorization", "Bearer stats-admin"}});
  EXPECT_EQ(nope.status, 404) << nope.body;
  EXPECT_NE(nope.body.find("no rule 'ofer'"), std::string::npos) << nope.body;
  const auto stats_of = [&](const std::string& query) {
    return http_request(host.port(), "GET", "/api/v1/executions/stats?" + query, "",
                        {{"Authorization", "Bearer stats-admin"}})
        .json();
  };
  // The newest 10 of 20: not complete; all 20 by a limit of 20: complete.
  EXPECT_EQ(stats_of("rule=offer&limit=10")["executions"], 10);
  EXPECT_EQ(stats_of("rule=offer&limit=10")["complete"], false);
  EXPECT_EQ(stats_of("rule=offer&limit=20")["complete"], true);
  // A parallel group's branches count within their parent, once.
  for (int i = 0; i < 3; ++i) post({{"id", "f" + std::to_string(i)}, {"type", "fanout.due"}});
  ASSERT_EQ(sink.wait_for(29).size(), 29u) << host.log();  // 20 offers, 3 x (left, right, after)
  json fanout;
  for (int i = 0; i < 300; ++i) {
    fanout = stats_of("rule=fanout");
    if (fanout["states"].value("done", 0) == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(fanout["executions"], 3) << fanout.dump();
  EXPECT_EQ(fanout["steps"]["left"]["done"], 3) << fanout.dump();
  EXPECT_EQ(fanout["steps"]["right"]["done"], 3);
  EXPECT_EQ(fanout["steps"]["after"]["done"], 3);
}

// The reference CRMs' message analytics: of what a step sent, how much was
// delivered, opened, clicked, replied to or failed, by the providers'
// reports on each message (events naming its data.message_id), in all and
// per A/B variant.
TEST(ExecutionStatsApi, MessagesAreCountedPerStepAndVariantByWhatProvidersReported) {
  ::setenv("SB_TEST_MSG_EVENTS", "msg-events", 1);
  ::setenv("SB_TEST_MSG_ADMIN", "msg-admin", 1);
  const auto sms = [](const char* name) {
    return json{{"name", name}, {"action", "sms.send"}, {"params", {{"text", "Sale {{id}}"}}}};
  };
  const json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"events", {{"env", "SB_TEST_MSG_EVENTS"}}}, {"admin", {{"env", "SB_TEST_MSG_ADMIN"}}}}},
      {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
      {"instances",
       {{"sms", {{"plugin", "sms"}, {"config", {{"gateway", "smsru"}, {"api_id", "x"}, {"dry_run", true}}}}},
        {"crm", {{"plugin", "http"}, {"config", {{"base_url", "http://127.0.0.1:9"}, {"dry_run", true}}}}}}},
      {"rules",
       {{{"name", "promo"},
         {"trigger", {{"event", "promo.due"}}},
         {"steps",
          {{{"name", "text"},
            {"split",
             {{"A", {{"weight", 50}, {"steps", {sms("SMS A")}}}}, {"B", {{"weight", 50}, {"steps", {sms("SMS B")}}}}}}},
           // A step with an id of its own that is no message: not counted as one.
           {{"name", "Note"}, {"action", "crm.post"}, {"params", {{"url", "/note"}}}}}}}}}};
  HostProcess host(config);
  const auto post = [&](const json& event) {
    const auto r =
        http_request(host.port(), "POST", "/api/v1/events", event.dump(), {{"Authorization", "Bearer msg-events"}});
    ASSERT_EQ(r.status, 202) << r.body;
  };
  constexpr int kSent = 12;
  for (int i = 0; i < kSent; ++i)
    post({{"id", "p" + std::to_string(i)},
          {"type", "promo.due"},
          {"contact", {{"phones", {{{"number", "+7999000" + std::to_string(1000 + i)}}}}}}});
  std::vector<json> sent;  // the SMS messages (the notes go to the outbox too)
  for (const json& record : wait_for_outbox(host, 2 * kSent))
    if (record.value("channel", "") == "sms") sent.push_back(record);
  ASSERT_EQ(sent.size(), static_cast<size_t>(kSent)) << host.log();
  // What each message's provider reports, as the gateway's callbacks would
  // post it. The first is read and clicked, the second replied to, with no
  // report of their delivery (which those imply); the third fails after its
  // delivery (a late status that does not undo it); the last fails; the
  // others are delivered.
  int n = 0;
  for (const json& record : sent) {
    const std::string message_id = "dry-run:" + record["idempotency_key"].get<std::string>();
    const auto reports_on = [&](const std::string& type) {
      post({{"id", type + ":" + message_id}, {"type", type}, {"data", {{"message_id", message_id}}}});
    };
    ++n;
    if (n == 1) {
      reports_on("message.read");
      reports_on("message.clicked");
    } else if (n == 2) {
      post({{"id", "reply:" + message_id},
            {"type", "message.replied"},
            {"data", {{"message_id", "inbound-1"}, {"in_reply_to", message_id}}}});
    } else if (n == kSent) {
      reports_on("message.failed");
    } else {
      reports_on("message.delivered");
      if (n == 3) reports_on("message.failed");
    }
  }
  // A report on no message sent, and a message received, count nowhere.
  post({{"id", "stray"}, {"type", "message.delivered"}, {"data", {{"message_id", "not-sent"}}}});
  post({{"id", "in-1"}, {"type", "message.received"}, {"data", {{"message_id", "dry-run:x"}}}});
  json stats;
  for (int i = 0; i < 300; ++i) {
    stats = http_request(host.port(), "GET", "/api/v1/executions/stats?rule=promo", "",
                         {{"Authorization", "Bearer msg-admin"}})
                .json();
    int delivered = 0;
    for (const char* step : {"SMS A", "SMS B"})
      if (stats["messages"].contains(step)) delivered += stats["messages"][step].value("delivered", 0);
    if (delivered == kSent - 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const json& messages = stats["messages"];
  int sent_total = 0, delivered = 0, opened = 0, clicked = 0, replied = 0, failed = 0;
  for (const char* step : {"SMS A", "SMS B"}) {
    if (!messages.contains(step)) continue;
    const json& m = messages[step];
    sent_total += m.value("sent", 0);
    delivered += m.value("delivered", 0);
    opened += m.value("opened", 0);
    clicked += m.value("clicked", 0);
    replied += m.value("replied", 0);
    failed += m.value("failed", 0);
    // The variant's own count is the step's: each variant sent through its own step.
    const std::string variant = std::string(step).substr(4);
    EXPECT_EQ(stats["splits"]["text"][variant]["messages"][step], m) << stats.dump();
    EXPECT_EQ(m.value("sent", 0), stats["splits"]["text"][variant]["executions"]) << stats.dump();
  }
  EXPECT_FALSE(messages.contains("Note")) << stats.dump();
  EXPECT_EQ(stats["steps"]["Note"]["done"], kSent) << stats.dump();
  // Six counts and six rates, always.
  for (const auto& [step, figures] : messages.items()) EXPECT_EQ(figures.size(), 12u) << step << figures;
  EXPECT_EQ(sent_total, kSent) << stats.dump();
  EXPECT_EQ(delivered, kSent - 1) << stats.dump();
  EXPECT_EQ(opened, 1) << stats.dump();
  EXPECT_EQ(clicked, 1) << stats.dump();
  EXPECT_EQ(replied, 1) << stats.dump();
  EXPECT_EQ(failed, 1) << stats.dump();  // the third was delivered before its failure
}

// "Conversion: the share of actions after the message": a rule's goal is
// an event of the contact (a booking) within a time of each message; the
// stats count the messages and executions whose contact reached it, in all
// and per A/B variant, and what the goals were worth (revenue, the average
// check).
TEST(ExecutionStatsApi, ConversionCountsTheContactsGoalEventsWithinTheGoalsTime) {
  ::setenv("SB_TEST_GOAL_EVENTS", "goal-events", 1);
  ::setenv("SB_TEST_GOAL_ADMIN", "goal-admin", 1);
  const auto sms = [](const char* name) {
    return json{{"name", name}, {"action", "sms.send"}, {"params", {{"text", "Sale {{id}}"}}}};
  };
  const json config{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"events", {{"env", "SB_TEST_GOAL_EVENTS"}}}, {"admin", {{"env", "SB_TEST_GOAL_ADMIN"}}}}},
      {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
      {"instances",
       {{"sms", {{"plugin", "sms"}, {"config", {{"gateway", "smsru"}, {"api_id", "x"}, {"dry_run", true}}}}}}},
      {"rules",
       {{{"name", "promo"},
         {"trigger", {{"event", "promo.due"}}},
         {"goal", {{"event", {"booking.created", "order.paid"}}, {"within", "1h"}, {"value", "data.amount"}}},
         {"steps",
          {{{"name", "text"},
            {"split",
             {{"A", {{"weight", 50}, {"steps", {sms("SMS A")}}}},
              {"B", {{"weight", 50}, {"steps", {sms("SMS B")}}}}}}}}}}}}};
  HostProcess host(config);
  const auto post = [&](const json& event) {
    const auto r =
        http_request(host.port(), "POST", "/api/v1/events", event.dump(), {{"Authorization", "Bearer goal-events"}});
    ASSERT_EQ(r.status, 202) << r.body;
  };
  const auto stats_now = [&] {
    return http_request(host.port(), "GET", "/api/v1/executions/stats?rule=promo", "",
                        {{"Authorization", "Bearer goal-admin"}})
        .json();
  };
  const auto phone = [](int i) { return json{{{"number", "+7999100" + std::to_string(1000 + i)}}}; };
  // Twelve contacts known by their id; the thirteenth, a lead, only by its phone.
  constexpr int kSent = 13;
  for (int i = 0; i < kSent; ++i) {
    json contact{{"phones", phone(i)}};
    if (i < 12) contact["id"] = "c" + std::to_string(i);
    post({{"id", "p" + std::to_string(i)}, {"type", "promo.due"}, {"contact", contact}});
  }
  // Sent: every message's step has ended (a goal counts from then).
  json stats;
  const auto sent = [&] {
    int n = 0;
    if (stats.contains("messages"))
      for (const auto& [step, figures] : stats["messages"].items()) n += figures.value("sent", 0);
    return n;
  };
  for (int i = 0; i < 500 && sent() < kSent; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stats = stats_now();
  }
  ASSERT_EQ(sent(), kSent) << stats.dump() << host.log();
  // c0 books, c1 pays and c2 books twice: converted. c3 books two hours
  // after (outside the goal's hour), c4 an hour before it was sent; c5 does
  // something that is no goal; a booking names no contact. The lead is
  // known by its id since (the CRM made it a client) and books under it:
  // converted. c6 pays last: once counted, every event before it is.
  const int64_t now = now_ms();
  // Worth 1000, "2500.5" (a CRM's text), 1500 (the first of c2's: the one
  // that converted), 500 (the lead's), nothing said (c6's): 5500.5 in all.
  post({{"id", "b0"}, {"type", "booking.created"}, {"contact", {{"id", "c0"}}}, {"data", {{"amount", 1000}}}});
  post({{"id", "b1"}, {"type", "order.paid"}, {"contact", {{"id", "c1"}}}, {"data", {{"amount", "2500.5"}}}});
  post({{"id", "b2"}, {"type", "booking.created"}, {"contact", {{"id", "c2"}}}, {"data", {{"amount", 1500}}}});
  post({{"id", "b2-again"}, {"type", "booking.created"}, {"contact", {{"id", "c2"}}}, {"data", {{"amount", 9999}}}});
  post({{"id", "b3"},
        {"type", "booking.created"},
        {"contact", {{"id", "c3"}}},
        {"data", {{"amount", 7777}}},
        {"time", format_time_ms(now + 7'200'000)}});
  post({{"id", "b4"},
        {"type", "booking.created"},
        {"contact", {{"id", "c4"}}},
        {"time", format_time_ms(now - 3'600'000)}});
  post({{"id", "b5"}, {"type", "deal.won"}, {"contact", {{"id", "c5"}}}});
  post({{"id", "b-nobody"}, {"type", "booking.created"}});
  post({{"id", "lead-is-client"}, {"type", "client.created"}, {"contact", {{"id", "c12"}, {"phones", phone(12)}}}});
  post({{"id", "b12"}, {"type", "booking.created"}, {"contact", {{"id", "c12"}}}, {"data", {{"amount", 500}}}});
  post({{"id", "b6"}, {"type", "order.paid"}, {"contact", {{"id", "c6"}}}});
  for (int i = 0; i < 300; ++i) {
    stats = stats_now();
    if (stats.contains("goal") && stats["goal"].value("converted", 0) >= 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(stats.contains("goal")) << stats.dump();
  EXPECT_EQ(stats["goal"]["events"], json({"booking.created", "order.paid"}));
  EXPECT_EQ(stats["goal"]["within_ms"], 3'600'000);
  EXPECT_EQ(stats["goal"]["converted"], 5) << stats.dump();
  EXPECT_EQ(stats["goal"]["conversion_rate"], 38.5) << stats.dump();  // 5 of 13
  EXPECT_EQ(stats["goal"]["value"], "data.amount");
  EXPECT_EQ(stats["goal"]["revenue"], 5500.5) << stats.dump();
  EXPECT_EQ(stats["goal"]["average_check"], 1375.13) << stats.dump();  // of the four with an amount
  // Per step and per variant, the same five.
  int converted_messages = 0, converted_executions = 0, executions = 0;
  double revenue = 0;
  for (const char* variant : {"A", "B"}) {
    if (!stats["splits"]["text"].contains(variant)) continue;
    const json& v = stats["splits"]["text"][variant];
    const std::string step = std::string("SMS ") + variant;
    const json& m = stats["messages"][step];
    EXPECT_EQ(v["messages"][step], m) << stats.dump();
    converted_messages += m.value("converted", 0);
    converted_executions += v.value("converted", 0);
    revenue += v.value("revenue", 0.0);
    EXPECT_TRUE(v.contains("average_check")) << v.dump();
    executions += v.value("executions", 0);
    EXPECT_EQ(m["conversion_rate"].get<double>(),
              std::round(1000.0 * m.value("converted", 0) / m.value("sent", 1)) / 10.0);
    EXPECT_EQ(v["conversion_rate"].get<double>(),
              std::round(1000.0 * v.value("converted", 0) / v.value("executions", 1)) / 10.0);
  }
  EXPECT_EQ(executions, kSent) << stats.dump();
  EXPECT_EQ(converted_messages, 5) << stats.dump();
  EXPECT_EQ(converted_executions, 5) << stats.dump();
  EXPECT_DOUBLE_EQ(revenue, 5500.5) << stats.dump();
}

}  // namespace
}  // namespace sb::test
