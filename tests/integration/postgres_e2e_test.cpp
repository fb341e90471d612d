// The real binary on PostgreSQL ("store": {"postgres": {"$secret": ...}}),
// against the tests' private server: a rule runs, its waiting execution lives
// in the database (a host with a new, empty data folder resumes it), the
// connection string's password never reaches a log line, and three nodes
// share the work: one SIGKILLed in a burst loses no acknowledged event, and
// the others take its steps over with the same idempotency keys; a digest's
// steps run on several nodes still make one digest.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>

#include "integration/test_support.h"
#include "store/Postgres.h"
#include "support/pg_cluster.h"

namespace sb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kToken[] = "pg-events-token-51a";
constexpr char kAdmin[] = "pg-admin-token-7b2";

class PostgresEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = PgCluster::shared();
    if (!pg_) GTEST_SKIP() << "no PostgreSQL server on this machine (apt-get install postgresql-15)";
    schema_ = pg_->fresh_schema(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ::setenv("SB_TEST_PG_URL", pg_->conninfo(schema_).c_str(), 1);
    ::setenv("SB_TEST_PG_EVENTS", kToken, 1);
    ::setenv("SB_TEST_PG_ADMIN", kAdmin, 1);
  }

  json config(const HttpSink& sink, json steps) const {
    return json{
        {"plugin_dirs", {SB_PLUGIN_DIR}},
        {"secrets",
         {{"events", {{"env", "SB_TEST_PG_EVENTS"}}},
          {"admin", {{"env", "SB_TEST_PG_ADMIN"}}},
          {"pg", {{"env", "SB_TEST_PG_URL"}}}}},
        {"store", {{"postgres", {{"$secret", "pg"}}}}},
        {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
        {"instances", {{"sink", {{"plugin", "http"}, {"config", {{"base_url", sink.url()}}}}}}},
        {"rules", {{{"name", "greet"}, {"trigger", {{"event", "lead.created"}}}, {"steps", std::move(steps)}}}}};
  }

  static json post(const std::string& path) {
    return {{"action", "sink.post"}, {"params", {{"url", path}, {"body", {{"lead", "{{event.id}}"}}}}}};
  }

  static HttpResult post_event(uint16_t port, const std::string& id) {
    return http_request(port, "POST", "/api/v1/events", json{{"id", id}, {"type", "lead.created"}}.dump(),
                        {{"Authorization", std::string("Bearer ") + kToken}});
  }

  PgCluster* pg_ = nullptr;
  std::string schema_;
};

TEST_F(PostgresEndToEnd, AWaitingExecutionLivesInTheDatabaseNotInTheHostsFolder) {
  HttpSink sink;
  const json cfg = config(sink, json::array({post("/first"), {{"wait", "2s"}}, post("/later")}));
  auto first = std::make_unique<HostProcess>(cfg);
  ASSERT_EQ(post_event(first->port(), "e-1").status, 202);
  EXPECT_EQ(post_event(first->port(), "e-1").status, 200);  // a duplicate: one execution
  auto requests = sink.wait_for(1);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers["idempotency-key"], "e-1:greet:0");
  EXPECT_EQ(first->stop(), 0);
  first.reset();  // its folder goes too

  HostProcess second(cfg);  // a fresh folder: only the database remembers
  requests = sink.wait_for(2, 10s);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].uri, "/later");
  EXPECT_EQ(requests[1].headers["idempotency-key"], "e-1:greet:2");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.count(), 2u);
}

TEST_F(PostgresEndToEnd, TheConnectionStringsPasswordIsNeverLogged) {
  HttpSink sink;
  const std::string password = "S3cret-pg-pass-e41";
  ::setenv("SB_TEST_PG_URL", (pg_->conninfo(schema_, "no_such_db") + " password=" + password).c_str(), 1);
  const auto dir = make_temp_dir("sb_pg_secret");
  json cfg = config(sink, json::array({post("/x")}));
  cfg["data_dir"] = dir.string();
  cfg["listen"] = "127.0.0.1:0";
  std::ofstream(dir / "switchboard.json") << cfg.dump();
  const auto [code, output] = run_switchboard({"--config", (dir / "switchboard.json").string()});
  EXPECT_NE(code, 0);
  EXPECT_NE(output.find("no_such_db"), std::string::npos) << output;  // says what is wrong
  EXPECT_EQ(output.find(password), std::string::npos) << output;
}

json cluster_of(const HostProcess& host) {
  return http_request(host.port(), "GET", "/api/v1/cluster", "", {{"Authorization", std::string("Bearer ") + kAdmin}})
      .json();
}

TEST_F(PostgresEndToEnd, ThreeNodesShareABurstAndASigkilledNodesStepsAreTakenOver) {
  HttpSink sink;
  // A step, a parallel group (one branch waits), and a step after it.
  json cfg = config(
      sink, json::array(
                {post("/first"),
                 {{"parallel", json::array({json::array({post("/a")}), json::array({{{"wait", "1s"}}, post("/b")})})}},
                 post("/last")}));
  constexpr int kMaxInFlight = 40;
  cfg["executions"] = {{"max_in_flight", kMaxInFlight}};
  // Six beats before a node counts as dead: a live node slowed down by a
  // loaded machine is not taken for the killed one (its steps would run twice).
  cfg["cluster"] = {{"heartbeat", "500ms"}, {"node_timeout", "3s"}};
  // Fewer connections to the sink than its 64 threads: a keep-alive
  // connection holds one, and a request on a connection waiting for a thread
  // timed out after it was recorded, and was sent again (a retry, with its key).
  cfg["http_client"] = {{"max_connections", 16}};
  // Each node's provider URL names the node: the sink sees who sent what.
  std::vector<std::unique_ptr<HostProcess>> nodes;
  for (int n = 0; n < 3; ++n) {
    json node = cfg;
    node["instances"]["sink"]["config"]["base_url"] = sink.url() + "/n" + std::to_string(n);
    nodes.push_back(std::make_unique<HostProcess>(node));
  }
  json cluster = cluster_of(*nodes[1]);
  ASSERT_EQ(cluster["nodes"].size(), 3u) << cluster.dump();
  for (const auto& n : cluster["nodes"]) EXPECT_TRUE(n["alive"].get<bool>()) << n.dump();
  EXPECT_EQ(cluster["node"], cluster["nodes"][1]["id"]) << "nodes are listed in the order they started";

  // Four clients post to every node in turn; node 0 is killed midway.
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::atomic<bool> stop{false}, killed{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const int n = i % 3;
        if (n == 0 && killed) continue;
        const std::string id = "k-" + std::to_string(t) + "-" + std::to_string(i);
        try {
          if (post_event(nodes[static_cast<size_t>(n)]->port(), id).status == 202) {
            std::lock_guard lock(mutex);
            acknowledged.insert(id);
          }
        } catch (const std::exception&) {
          // node 0 died under this request: not acknowledged
        }
      }
    });
  std::this_thread::sleep_for(700ms);
  killed = true;
  nodes[0]->kill();
  std::this_thread::sleep_for(700ms);
  stop = true;
  for (auto& c : clients) c.join();
  ASSERT_GT(acknowledged.size(), 30u);

  std::set<std::string> expected;
  for (const auto& id : acknowledged)
    for (const std::string& key :
         {id + ":greet:0", id + "#1.0:greet:1/parallel/0/0", id + "#1.1:greet:1/parallel/1/1", id + ":greet:2"})
      expected.insert(key);
  std::map<std::string, int> deliveries;
  std::map<std::string, size_t> by_node;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  size_t missing = expected.size();
  while (missing && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    deliveries.clear();
    by_node.clear();
    for (const auto& r : sink.wait_for(0, 0ms)) {
      ++deliveries[r.headers.at("idempotency-key")];
      ++by_node[r.uri.substr(0, 3)];
    }
    missing = 0;
    for (const auto& key : expected) missing += !deliveries.count(key);
  }
  // Every step of every acknowledged event happened...
  EXPECT_EQ(missing, 0u) << "of " << expected.size() << " steps";
  // ...a key came twice only for a step the dead node had in flight...
  size_t repeats = 0;
  for (const auto& [key, n] : deliveries) repeats += static_cast<size_t>(n - 1);
  EXPECT_LE(repeats, static_cast<size_t>(kMaxInFlight));
  // ...and each of those is counted as a step sent again in doubt by the
  // node that took it over.
  double resent = 0;
  for (size_t n = 1; n < 3; ++n) {
    std::istringstream metrics(http_request(nodes[n]->port(), "GET", "/metrics").body);
    for (std::string line; std::getline(metrics, line);)
      if (line.rfind("switchboard_steps_resent_in_doubt_total{", 0) == 0)
        resent += std::stod(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_LE(static_cast<double>(repeats), resent);
  // ...and each surviving node did part of the work.
  EXPECT_GT(by_node["/n1"], 0u);
  EXPECT_GT(by_node["/n2"], 0u);
  // The dead node is no longer listed once its steps were taken over (by
  // whichever node saw it first: node 1 may learn of it a beat later).
  for (int i = 0; i < 100; ++i) {
    cluster = cluster_of(*nodes[1]);
    if (cluster["nodes"].size() == 2u) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(cluster["nodes"].size(), 2u) << cluster.dump();
  std::cout << acknowledged.size() << " events, " << expected.size() << " steps; sent by node 0/1/2: " << by_node["/n0"]
            << "/" << by_node["/n1"] << "/" << by_node["/n2"] << "; " << repeats << " repeated deliveries, " << resent
            << " steps sent again in doubt\n";
}

// A deploy under way: a node still on the old version of a rule routes an
// event whose execution, on that version, waits for a reply; then the node
// on the new version (which waits for nothing) routes alone. It still
// routes the reply to the execution, which it learns of from the versions
// the store keeps, not from its own rules or its start.
TEST_F(PostgresEndToEnd, ANodeThatRoutesAloneResumesTheWaitsOfAVersionOnlyAnotherNodeRan) {
  HttpSink sink;
  json old_version = config(sink, json::array({{{"wait_for", "lead.replied"},
                                                {"match", {{"data.lead", "{{event.id}}"}}},
                                                {"timeout", "1h"},
                                                {"then", json::array({post("/replied")})}}}));
  json new_version = config(sink, json::array({post("/new")}));
  for (json* cfg : {&old_version, &new_version}) (*cfg)["cluster"] = {{"heartbeat", "200ms"}, {"node_timeout", "1s"}};
  auto old_node = std::make_unique<HostProcess>(old_version);  // routes: it asked first
  HostProcess new_node(new_version);
  ASSERT_EQ(post_event(old_node->port(), "w-1").status, 202);
  const auto admin_get = [](const HostProcess& host, const std::string& path) {
    return http_request(host.port(), "GET", path, "", {{"Authorization", std::string("Bearer ") + kAdmin}}).json();
  };
  json listed;
  for (int i = 0; i < 250; ++i) {
    listed = admin_get(new_node, "/api/v1/executions?rule=greet");
    if (listed["executions"].size() == 1u && listed["executions"][0]["state"] == "waiting") break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(listed["executions"].size(), 1u) << listed.dump();
  ASSERT_EQ(listed["executions"][0]["state"], "waiting") << listed.dump();
  EXPECT_EQ(old_node->stop(), 0);
  old_node.reset();

  ASSERT_EQ(http_request(new_node.port(), "POST", "/api/v1/events",
                         json{{"id", "r-1"}, {"type", "lead.replied"}, {"data", {{"lead", "w-1"}}}}.dump(),
                         {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            202);
  const auto requests = sink.wait_for(1, 15s);
  ASSERT_EQ(requests.size(), 1u) << new_node.log();
  EXPECT_EQ(requests[0].uri, "/replied");
  EXPECT_EQ(requests[0].headers.at("idempotency-key"), "w-1:greet:0/then/0");
}

// An operator cancels, through one node, an execution whose call is in
// flight on another: that node gives it up at once (its plugin hears it),
// not at its deadline ten minutes later.
TEST_F(PostgresEndToEnd, ACancelThroughOneNodeGivesUpTheCallInFlightOnAnother) {
  HttpSink sink;
  json cfg = config(sink, json::array({post("/x")}));
  cfg["instances"]["silent"] = {{"plugin", std::string(SB_FIXTURE_DIR) + "/never_completes.so"}};
  cfg["rules"].push_back(
      {{"name", "hold"},
       {"trigger", {{"event", "lead.held"}}},
       {"steps", {{{"action", "silent.echo"}, {"params", json::object()}, {"timeout_ms", 600000}}}}});
  std::vector<std::unique_ptr<HostProcess>> nodes;
  for (int n = 0; n < 2; ++n) nodes.push_back(std::make_unique<HostProcess>(cfg));
  const auto admin = [](const HostProcess& host, const std::string& method, const std::string& path) {
    return http_request(host.port(), method, path, method == "POST" ? "{}" : "",
                        {{"Authorization", std::string("Bearer ") + kAdmin}});
  };
  ASSERT_EQ(http_request(nodes[0]->port(), "POST", "/api/v1/events", json{{"id", "h-1"}, {"type", "lead.held"}}.dump(),
                         {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            202);
  // The node whose call is in flight holds the step's lease.
  std::string runner;
  for (int i = 0; i < 250 && runner.empty(); ++i) {
    const json cluster = cluster_of(*nodes[0]);
    for (const auto& n : cluster["nodes"])
      if (n["claims"].get<int64_t>() == 1) runner = n["id"].get<std::string>();
    if (runner.empty()) std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(runner.empty()) << cluster_of(*nodes[0]).dump();
  const bool first_runs = cluster_of(*nodes[0])["node"] == runner;
  const HostProcess& other = first_runs ? *nodes[1] : *nodes[0];
  ASSERT_NE(cluster_of(other)["node"], runner);
  // Its step started (the call is handed to the plugin right after).
  for (int i = 0; i < 250; ++i) {
    const std::string metrics = http_request((first_runs ? *nodes[0] : *nodes[1]).port(), "GET", "/metrics").body;
    if (metrics.find("switchboard_pipeline_steps_started_total 1") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  const json listed = admin(other, "GET", "/api/v1/executions?rule=hold").json();
  ASSERT_EQ(listed["executions"].size(), 1u) << listed.dump();
  ASSERT_EQ(listed["executions"][0]["running"], true) << listed.dump();
  const std::string path = "/api/v1/executions/" + std::to_string(listed["executions"][0]["id"].get<int64_t>());
  ASSERT_EQ(admin(other, "POST", path + "/cancel").status, 200);
  json one;
  for (int i = 0; i < 150; ++i) {
    one = admin(other, "GET", path).json();
    if (one["running"] == false) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(one["state"], "cancelled") << one.dump();
  EXPECT_EQ(one["running"], false) << one.dump();
  EXPECT_EQ(one["history"].size(), 1u) << one.dump();  // the admin's cancel only
}

TEST_F(PostgresEndToEnd, ThreeNodesRunningOneDigestsStepsSendOneDigest) {
  HttpSink sink;
  // Every event joins one digest; its leader posts what was collected.
  json cfg = config(
      sink,
      json::array(
          {{{"name", "Batch"}, {"digest", "5s"}, {"item", "{{event.id}}"}, {"key", "all"}},
           {{"action", "sink.post"},
            {"params",
             {{"url", "/digest"},
              {"body", {{"count", "{{steps.Batch.output.count}}"}, {"list", "{{steps.Batch.output.list}}"}}}}}}}));
  // Few steps in flight per node: the nodes that do not route claim the digest steps too.
  cfg["executions"] = {{"max_in_flight", 4}};
  std::vector<std::unique_ptr<HostProcess>> nodes;
  for (int n = 0; n < 3; ++n) nodes.push_back(std::make_unique<HostProcess>(cfg));
  constexpr int kEvents = 30;
  // One batch per node, at once: every digest step runs within the window
  // that the first one opens, also on a slow machine.
  std::vector<std::thread> clients;
  for (int n = 0; n < 3; ++n)
    clients.emplace_back([&, n] {
      json events = json::array();
      for (int i = n; i < kEvents; i += 3)
        events.push_back({{"id", "d-" + std::to_string(i)}, {"type", "lead.created"}});
      EXPECT_EQ(http_request(nodes[static_cast<size_t>(n)]->port(), "POST", "/api/v1/events",
                             json{{"events", events}}.dump(), {{"Authorization", std::string("Bearer ") + kToken}})
                    .status,
                202);
    });
  for (auto& c : clients) c.join();
  auto requests = sink.wait_for(1, 20s);
  ASSERT_EQ(requests.size(), 1u);
  std::this_thread::sleep_for(5500ms);  // a second digest would have closed its window by now
  requests = sink.wait_for(0, 0ms);
  ASSERT_EQ(requests.size(), 1u) << "one digest across the cluster";
  const json body = json::parse(requests[0].body);
  EXPECT_EQ(body["count"], kEvents) << body.dump();
  std::set<std::string> listed;
  std::istringstream lines(body["list"].get<std::string>());
  for (std::string line; std::getline(lines, line);) listed.insert(line);
  EXPECT_EQ(listed.size(), static_cast<size_t>(kEvents)) << body.dump();
  // Each execution ended once, on the node that ran its last step.
  std::string ended_by_node;
  int ended = 0;
  for (const auto& node : nodes) {
    const std::string metrics = http_request(node->port(), "GET", "/metrics").body;
    const std::string name = "switchboard_executions_total{rule=\"greet\",status=\"done\"} ";
    const size_t at = metrics.find(name);
    const int n = at == std::string::npos ? 0 : std::stoi(metrics.substr(at + name.size()));
    ended += n;
    ended_by_node += (ended_by_node.empty() ? "" : "/") + std::to_string(n);
  }
  EXPECT_EQ(ended, kEvents);
  std::cout << "executions ended by node 0/1/2: " << ended_by_node << "\n";
}

TEST_F(PostgresEndToEnd, AStoreMovedFromSqliteResumesItsWaitingExecutionsOnPostgres) {
  HttpSink sink;
  json on_postgres = config(sink, json::array({post("/first"), {{"wait", "2s"}}, post("/later")}));
  on_postgres["rules"][0]["goal"] = {{"event", "lead.won"}, {"value", "data.amount"}};
  json on_sqlite = on_postgres;
  on_sqlite.erase("store");
  HostProcess before(on_sqlite);
  // A goal reached (routed before the events after it): its conversion moves too.
  ASSERT_EQ(http_request(before.port(), "POST", "/api/v1/events",
                         json{{"id", "won-1"},
                              {"type", "lead.won"},
                              {"contact", {{"id", "lead-1"}}},
                              {"data", {{"amount", 1234.5678901234567}}}}
                             .dump(),
                         {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            202);
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(post_event(before.port(), "e-" + std::to_string(i)).status, 202);
  ASSERT_EQ(sink.wait_for(5).size(), 5u);

  const auto dir = make_temp_dir("sb_migrate");
  json cfg = on_postgres;
  cfg["data_dir"] = dir.string();
  std::ofstream(dir / "switchboard.json") << cfg.dump();
  const std::vector<std::string> args = {"migrate-store",
                                         "--from",
                                         "sqlite:" + (before.dir() / "switchboard.db").string(),
                                         "--to",
                                         "postgres",
                                         "--config",
                                         (dir / "switchboard.json").string()};
  // Not while the host runs on it: what it writes next would be left behind.
  auto [code, output] = run_switchboard(args);
  EXPECT_NE(code, 0);
  EXPECT_NE(output.find("a host is running on"), std::string::npos) << output;
  ASSERT_EQ(before.stop(), 0);  // five executions wait mid-rule

  std::tie(code, output) = run_switchboard(args);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("executions     5"), std::string::npos) << output;
  EXPECT_NE(output.find("events         6"), std::string::npos) << output;
  EXPECT_NE(output.find("goals          1"), std::string::npos) << output;
  {  // with what it was worth, to the last digit
    PgConnection moved(std::getenv("SB_TEST_PG_URL"));
    const PgResult goal = moved.run("SELECT value::text FROM goals");
    ASSERT_EQ(goal.rows(), 1);
    EXPECT_EQ(std::stod(goal.text(0, 0)), 1234.5678901234567);
  }
  // Copying again over what is there needs --force.
  std::tie(code, output) = run_switchboard(args);
  EXPECT_NE(code, 0);
  EXPECT_NE(output.find("not empty"), std::string::npos) << output;
  auto forced = args;
  forced.push_back("--force");
  std::tie(code, output) = run_switchboard(forced);
  ASSERT_EQ(code, 0) << output;

  HostProcess after(on_postgres);
  const auto requests = sink.wait_for(10, 15s);
  ASSERT_EQ(requests.size(), 10u);
  std::set<std::string> later;
  for (size_t i = 5; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].uri, "/later");
    later.insert(requests[i].headers.at("idempotency-key"));
  }
  EXPECT_EQ(later, (std::set<std::string>{"e-1:greet:2", "e-2:greet:2", "e-3:greet:2", "e-4:greet:2", "e-5:greet:2"}));
  // The events moved too: a repeat is a duplicate on PostgreSQL.
  EXPECT_EQ(post_event(after.port(), "e-1").status, 200);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(sink.count(), 10u) << "a step ran twice";
}

TEST_F(PostgresEndToEnd, WhileTheDatabaseIsAwayEventsAre503AndNothingAcknowledgedIsLost) {
  // A server of this test's own: the others' keeps running.
  PgCluster own(make_temp_dir("sb_pg_fault"));
  ASSERT_TRUE(own.start());
  ::setenv("SB_TEST_PG_URL", own.conninfo().c_str(), 1);
  HttpSink sink;
  HostProcess host(config(sink, json::array({post("/x")})));
  std::set<std::string> acknowledged;
  auto send = [&](const std::string& id) {
    const int status = post_event(host.port(), id).status;
    if (status == 202) acknowledged.insert(id);
    return status;
  };
  for (int i = 0; i < 3; ++i) ASSERT_EQ(send("before-" + std::to_string(i)), 202);
  ASSERT_EQ(sink.wait_for(3).size(), 3u);

  ASSERT_TRUE(own.stop());
  std::map<int, int> answers;  // status -> how many
  for (int i = 0; i < 5; ++i) ++answers[send("away-" + std::to_string(i))];
  EXPECT_EQ(answers[503], 5) << "acknowledged while the database was away";
  EXPECT_EQ(
      http_request(host.port(), "GET", "/api/v1/executions", "", {{"Authorization", std::string("Bearer ") + kAdmin}})
          .status,
      503);  // reads say so too, and the host stays up

  ASSERT_TRUE(own.start());
  // Work resumes by itself: new events are taken again once the host reconnects.
  int taken = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (int i = 0; taken < 3 && std::chrono::steady_clock::now() < deadline; ++i) {
    if (send("after-" + std::to_string(i)) == 202)
      ++taken;
    else
      std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(taken, 3);
  const auto requests = sink.wait_for(acknowledged.size(), 20s);
  std::set<std::string> delivered;
  for (const auto& r : requests) delivered.insert(json::parse(r.body)["lead"].get<std::string>());
  EXPECT_EQ(delivered, acknowledged);
  EXPECT_EQ(requests.size(), acknowledged.size());
  EXPECT_EQ(host.stop(), 0);
}

TEST_F(PostgresEndToEnd, AStepThatEndsWhileTheDatabaseIsAwayIsRecordedOnceItIsBackAndNotSentAgain) {
  PgCluster own(make_temp_dir("sb_pg_step_fault"));
  ASSERT_TRUE(own.start());
  ::setenv("SB_TEST_PG_URL", own.conninfo().c_str(), 1);
  HttpSink sink;
  sink.hold(true);  // the provider answers only once the database is away
  HostProcess host(config(sink, json::array({post("/x")})));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(post_event(host.port(), "in-flight-" + std::to_string(i)).status, 202);
  ASSERT_EQ(sink.wait_for(3).size(), 3u);

  ASSERT_TRUE(own.stop());
  sink.hold(false);
  std::this_thread::sleep_for(1s);  // the results find no database
  ASSERT_TRUE(own.start());

  // Recorded by themselves once it is back, long before a lease runs out
  // (minutes), which would send the steps again as doubtful.
  size_t done = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (done < 3 && std::chrono::steady_clock::now() < deadline) {
    const auto listed = http_request(host.port(), "GET", "/api/v1/executions?state=done", "",
                                     {{"Authorization", std::string("Bearer ") + kAdmin}});
    if (listed.status == 200) done = listed.json()["executions"].size();
    if (done < 3) std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(done, 3u);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.count(), 3u) << "a step was sent again";
  EXPECT_EQ(host.stop(), 0);
}

}  // namespace
}  // namespace sb::test
