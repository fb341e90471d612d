// The real binary on PostgreSQL ("store": {"postgres": {"$secret": ...}}),
// against the tests' private server: a rule runs, its waiting execution lives
// in the database (a host with a new, empty data folder resumes it), and the
// connection string's password never reaches a log line.
#include <gtest/gtest.h>

#include <fstream>

#include "integration/test_support.h"
#include "support/pg_cluster.h"

namespace sb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kToken[] = "pg-events-token-51a";

class PostgresEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = PgCluster::shared();
    if (!pg_) GTEST_SKIP() << "no PostgreSQL server on this machine (apt-get install postgresql-15)";
    schema_ = pg_->fresh_schema(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ::setenv("SB_TEST_PG_URL", pg_->conninfo(schema_).c_str(), 1);
    ::setenv("SB_TEST_PG_EVENTS", kToken, 1);
  }

  json config(const HttpSink& sink, json steps) const {
    return json{
        {"plugin_dirs", {SB_PLUGIN_DIR}},
        {"secrets", {{"events", {{"env", "SB_TEST_PG_EVENTS"}}}, {"pg", {{"env", "SB_TEST_PG_URL"}}}}},
        {"store", {{"postgres", {{"$secret", "pg"}}}}},
        {"api", {{"event_tokens", {{{"$secret", "events"}}}}}},
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

}  // namespace
}  // namespace sb::test
