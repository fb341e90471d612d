// Retention: old routed events and ended executions are forgotten a chunk at
// a time, with the rule versions nothing runs any more; what is still in use
// (an unrouted event, a waiting execution, the config's versions) is kept.
#include "executor/Retention.h"

#include <gtest/gtest.h>

#include <future>

#include "executor/Transitions.h"
#include "integration/test_support.h"
#include "store/SqliteStore.h"
#include "util/Time.h"

namespace sb {
namespace {

constexpr int64_t kDay = 86'400'000;

class RetentionTest : public ::testing::Test {
 protected:
  RetentionTest() : dir_(test::make_temp_dir("sb_retention")) {
    store_ = std::make_unique<SqliteStore>(SqliteStore::Options{dir_ / "store.db"});
  }
  ~RetentionTest() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void append(const std::string& id, int64_t received_at) {
    EventRecord e;
    e.id = id;
    e.type = "lead.created";
    e.source = "api";
    e.occurred_at_ms = e.received_at_ms = received_at;
    e.body_json = "{}";
    std::promise<AppendResult> got;
    store_->append_events({e}, [&](AppendResult r) { got.set_value(std::move(r)); });
    ASSERT_TRUE(got.get_future().get().ok());
  }
  void route_everything() {
    RouteBatch b;
    b.from = store_->routed_up_to();
    b.routed_up_to = store_->events_after(b.from, 1000).back().seq;
    std::promise<StoreStatus> got;
    Transitions(*store_).route(std::move(b), [&](StoreStatus s) { got.set_value(s); });
    ASSERT_TRUE(got.get_future().get().ok());
  }
  int64_t add_execution(const std::string& event_id, ExecutionState state, int64_t at, const std::string& version) {
    int64_t id = 0;
    std::promise<StoreStatus> got;
    store_->transact(
        [&](ExecutionRows& rows) {
          ExecutionRow row{.rule = "r", .rule_version = version, .event_id = event_id, .state = state};
          row.context_json = "{}";
          row.history_json = "[]";
          row.created_at_ms = row.updated_at_ms = at;
          id = rows.insert(row);
        },
        [&](StoreStatus s) { got.set_value(s); });
    EXPECT_TRUE(got.get_future().get().ok());
    return id;
  }
  void save_versions(std::vector<RuleVersion> versions) {
    std::promise<StoreStatus> got;
    store_->save_rule_versions(std::move(versions), [&](StoreStatus s) { got.set_value(s); });
    ASSERT_TRUE(got.get_future().get().ok());
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(RetentionTest, ForgetsWhatIsOlderThanItsLimitAChunkAtATime) {
  const int64_t now = now_ms();
  for (int i = 0; i < 5; ++i) append("old-" + std::to_string(i), now - 31 * kDay);
  append("recent", now - 29 * kDay);
  route_everything();
  append("unrouted-but-old", now - 40 * kDay);
  save_versions({{"r", "v0", "{}"}, {"r", "v1", "{}"}, {"r", "v2", "{}"}});
  std::vector<int64_t> gone, kept;
  for (int i = 0; i < 5; ++i)
    gone.push_back(add_execution("d" + std::to_string(i), ExecutionState::kDone, now - 8 * kDay, "v0"));
  gone.push_back(add_execution("f", ExecutionState::kFailed, now - 8 * kDay, "v0"));
  gone.push_back(add_execution("c", ExecutionState::kCancelled, now - 8 * kDay, "v0"));
  kept.push_back(add_execution("w", ExecutionState::kWaiting, now - 8 * kDay, "v0"));
  kept.push_back(add_execution("h", ExecutionState::kInDoubt, now - 8 * kDay, "v0"));
  kept.push_back(add_execution("n", ExecutionState::kDone, now - 6 * kDay, "v1"));

  Retention retention(
      *store_, {.events_ms = 30 * kDay, .executions_ms = 7 * kDay, .current_versions = {{"r", "v2"}}, .chunk = 2});
  EXPECT_TRUE(retention.enabled());
  const Retention::Forgotten f = retention.forget(now);
  EXPECT_EQ(f.events, 5u);
  EXPECT_EQ(f.executions, gone.size());
  EXPECT_EQ(f.versions, 0u);  // v0 still runs (the waiting one), v1 too, v2 is the config's
  std::vector<std::string> events;
  for (const auto& e : store_->events_after(0, 100)) events.push_back(e.record.id);
  EXPECT_EQ(events, (std::vector<std::string>{"recent", "unrouted-but-old"}));
  for (int64_t id : gone) EXPECT_FALSE(store_->execution(id)) << id;
  for (int64_t id : kept) EXPECT_TRUE(store_->execution(id)) << id;

  // Once the waiting and in-doubt ones end long ago, their version goes with them.
  Retention later(*store_, {.events_ms = 30 * kDay, .executions_ms = 1, .current_versions = {{"r", "v2"}}});
  const Retention::Forgotten then = later.forget(now + 1000);
  EXPECT_EQ(then.executions, 1u);  // the one done 6 days ago; waiting and in-doubt stay
  EXPECT_EQ(then.versions, 1u);    // v1, which nothing runs now
  EXPECT_EQ(store_->rule_version_names(), (std::vector<std::pair<std::string, std::string>>{{"r", "v0"}, {"r", "v2"}}));
}

TEST_F(RetentionTest, ASharedStoreKeepsEveryVersionAndForeverKeepsEverything) {
  const int64_t now = now_ms();
  append("old", now - 100 * kDay);
  route_everything();
  save_versions({{"r", "v0", "{}"}});
  add_execution("d", ExecutionState::kDone, now - 100 * kDay, "v0");
  Retention forever(*store_, {});
  EXPECT_FALSE(forever.enabled());
  const Retention::Forgotten none = forever.forget(now);
  EXPECT_EQ(none.events + none.executions + none.versions, 0u);
  // Of nodes sharing the store, another may be starting a version this one never ran.
  Retention shared(*store_, {.events_ms = kDay, .executions_ms = kDay, .forget_versions = false});
  const Retention::Forgotten f = shared.forget(now);
  EXPECT_EQ(f.events, 1u);
  EXPECT_EQ(f.executions, 1u);
  EXPECT_EQ(f.versions, 0u);
  EXPECT_EQ(store_->rule_version_names().size(), 1u);
}

}  // namespace
}  // namespace sb
