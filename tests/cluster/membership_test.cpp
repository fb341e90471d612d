// The nodes sharing a store: a node that stops beating has its steps taken
// over, but nodes back from a store that was away (none could beat) do not
// take over each other's.
#include "cluster/Membership.h"

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

int64_t claims_of(Store& store, const std::string& node) {
  for (const NodeRecord& n : store.nodes())
    if (n.id == node) return n.claims;
  return -1;  // not listed: taken over
}

TEST(Membership, NodesBackFromAStoreThatWasAwayTakeOverNoStepsUntilTheOthersCouldBeat) {
  if (!test::PgCluster::shared())
    GTEST_SKIP() << "no PostgreSQL server on this machine (apt-get install postgresql-15)";
  test::PgCluster own(test::make_temp_dir("sb_pg_membership"));
  ASSERT_TRUE(own.start());
  PostgresStore store({own.conninfo()});
  const Membership::Options options{1000ms, 10000ms};
  const int64_t t = now_ms();
  Membership a(store, NodeRecord{"node-a", "machine-a", "10.0.0.1:8080", t, t}, options, {});
  Membership b(store, NodeRecord{"node-b", "machine-b", "10.0.0.2:8080", t, t}, options, {});
  a.beat(t);
  b.beat(t);
  RouteBatch batch;
  batch.routed_up_to = 1;
  batch.executions.push_back({"r", "e1", "{}", std::nullopt});
  std::promise<StoreStatus> routed;
  Transitions(store).route(std::move(batch), [&](StoreStatus s) { routed.set_value(s); });
  ASSERT_TRUE(routed.get_future().get().ok());
  ASSERT_EQ(store.claim_due({"node-b", now_ms() + 10, 10, 600000}).size(), 1u);  // b's step is running

  ASSERT_TRUE(own.stop());
  EXPECT_ANY_THROW(a.beat(t + 5000));
  EXPECT_ANY_THROW(b.beat(t + 5000));
  ASSERT_TRUE(own.start());
  // a is back first, 12 s after b's last beat: b could not beat, it is not dead.
  bool beaten = false;
  for (int i = 0; i < 50 && !beaten; ++i) try {
      a.beat(t + 12000);
      beaten = true;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(100ms);  // reconnecting
    }
  ASSERT_TRUE(beaten);
  EXPECT_EQ(claims_of(store, "node-b"), 1);
  b.beat(t + 12500);
  a.beat(t + 16000);
  EXPECT_EQ(claims_of(store, "node-b"), 1);
  // A node that really stopped is still taken over, a node_timeout after its last beat.
  a.beat(t + 23000);
  EXPECT_EQ(claims_of(store, "node-b"), -1);
}

}  // namespace
}  // namespace sb
