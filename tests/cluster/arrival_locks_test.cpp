// Nodes sharing PostgreSQL: the router keeping an event that a step awaits,
// and a node recording that the step starts waiting for it, take turns on
// the awaited key, so neither misses the other's write.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "executor/Transitions.h"
#include "integration/test_support.h"
#include "store/PostgresStore.h"
#include "support/pg_cluster.h"
#include "util/Time.h"

namespace sb {
namespace {

using namespace std::chrono_literals;

// Holds the awaited key's lock, as a routing unit on another node does
// while it reads whether a step waits for the event, until released.
class HeldKey {
 public:
  HeldKey(Store& store, const std::string& lock) {
    store.transact_on(
        {{}, {{"host:arrivals", lock}}},
        [this](ExecutionRows&) {
          held_.set_value();
          released_.get_future().wait();
        },
        [](StoreStatus) {});
    held_.get_future().wait();
  }
  void release() { released_.set_value(); }

 private:
  std::promise<void> held_, released_;
};

TEST(ArrivalLocks, AStepStartingToWaitAndTheRoutingOfItsEventTakeTurnsOnTheKey) {
  if (!test::PgCluster::shared())
    GTEST_SKIP() << "no PostgreSQL server on this machine (apt-get install postgresql-15)";
  const std::string schema = test::PgCluster::shared()->fresh_schema("arrival_locks");
  PostgresStore router({test::PgCluster::shared()->conninfo(schema)});
  PostgresStore node({test::PgCluster::shared()->conninfo(schema)});
  const std::string key = "message.opened|data.message_id=m1";
  uint32_t hash = 2166136261u;  // its lock: one of 256, by FNV-1a, as every node computes it
  for (unsigned char c : key) hash = (hash ^ c) * 16777619u;
  const std::string lock = std::to_string(hash % 256);

  // A step's wait is recorded on the node: it waits while the router holds the key.
  HeldKey routing(router, lock);
  ExecutionUpdate wait = ExecutionUpdate::to(999, ExecutionState::kWaiting, "1", 0, now_ms() + 60000);
  wait.awaiting = key;
  std::promise<StoreStatus> recorded;
  Transitions(node).update(wait, [&](StoreStatus s) { recorded.set_value(std::move(s)); });
  auto waits = recorded.get_future();
  EXPECT_EQ(waits.wait_for(300ms), std::future_status::timeout);
  routing.release();
  ASSERT_EQ(waits.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(waits.get().code, StoreErrc::kNotFound);  // (no such execution: only the turn is tested)

  // The routing of an event kept for the key waits while a node records a step's wait.
  HeldKey waiting(node, lock);
  RouteBatch batch;
  batch.from = 0;
  batch.routed_up_to = 1;
  batch.arrivals.push_back({key, R"({"id":"o1"})", now_ms()});
  std::promise<StoreStatus> routed;
  Transitions(router).route(batch, [&](StoreStatus s) { routed.set_value(std::move(s)); });
  auto routes = routed.get_future();
  EXPECT_EQ(routes.wait_for(300ms), std::future_status::timeout);
  waiting.release();
  ASSERT_EQ(routes.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(routes.get().ok());
}

}  // namespace
}  // namespace sb
