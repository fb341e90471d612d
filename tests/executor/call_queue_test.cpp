// Calls waiting for their instance's slots (max_in_flight), and the ones an
// operator's cancel or the host's stop gives up.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "executor/CallQueue.h"
#include "util/Time.h"

namespace sb {
namespace {

// Records which calls ran and which were given up; keeps the releases.
struct Recorder {
  std::vector<std::string> ran, given_up;
  std::vector<CallQueue::Release> releases;
  void submit(CallQueue& queue, const std::string& instance, int priority, const std::string& name, int64_t execution,
              int64_t start_by_ms = 0, int64_t claimed_ms = 0) {
    queue.submit(
        instance, priority,
        [this, name](CallQueue::Release release) {
          ran.push_back(name);
          releases.push_back(std::move(release));
        },
        execution,
        [this, name](CallQueue::GiveUpReason why) {
          given_up.push_back(name + (why == CallQueue::GiveUpReason::kStopping      ? " (stopping)"
                                     : why == CallQueue::GiveUpReason::kClaimEnding ? " (late)"
                                                                                    : ""));
        },
        start_by_ms, claimed_ms);
  }
};

TEST(CallQueue, ACancelGivesUpTheWaitingCallsOfItsExecutionsOnly) {
  CallQueue queue({{"sms", 1}, {"mail", 1}}, [] {});
  Recorder r;
  r.submit(queue, "sms", kLowestPriority, "sms-1", 1);  // runs: the slot is free
  r.submit(queue, "sms", kLowestPriority, "sms-2", 2);
  r.submit(queue, "sms", kHighestPriority, "sms-3", 3);
  r.submit(queue, "sms", kLowestPriority, "route", 0);  // a route's, in memory: no operator names it
  r.submit(queue, "mail", kLowestPriority, "mail-1", 4);
  r.submit(queue, "mail", kLowestPriority, "mail-2", 2);
  r.submit(queue, "push", kLowestPriority, "push-1", 2);  // unbounded: runs at once
  EXPECT_EQ(r.ran, (std::vector<std::string>{"sms-1", "mail-1", "push-1"}));
  EXPECT_EQ(queue.queued(), 4u);

  queue.give_up_executions({2, 3, 1, 0});  // 1 runs already: PendingCalls' to give up
  EXPECT_EQ(r.given_up, (std::vector<std::string>{"mail-2", "sms-2", "sms-3"}));  // by instance, then priority
  EXPECT_EQ(queue.queued(), 1u);

  r.releases.front()();  // sms-1 ends: the route's call takes its slot
  queue.start_queued();
  EXPECT_EQ(r.ran, (std::vector<std::string>{"sms-1", "mail-1", "push-1", "route"}));
  EXPECT_EQ(queue.queued(), 0u);
  queue.give_up_executions({4});  // runs already: nothing to give up
  EXPECT_EQ(r.given_up.size(), 3u);
}

// A cancel that lands between a step's claim and its call (the step read
// its contact, checked a frequency cap): the call is given up as it is
// submitted. A step claimed after the cancel (an operator's retry) runs,
// and so does a call whose claim time is not known.
TEST(CallQueue, ACallOfAStepClaimedBeforeItsExecutionWasCancelledIsGivenUp) {
  CallQueue queue({}, [] {});  // no bound: a call runs as it is submitted
  Recorder r;
  const int64_t before = now_ms() - 1000;
  queue.give_up_executions({7});
  r.submit(queue, "sms", kNormalPriority, "claimed before the cancel", 7, 0, before);
  r.submit(queue, "sms", kNormalPriority, "another execution", 8, 0, before);
  r.submit(queue, "sms", kNormalPriority, "retried since", 7, 0, now_ms() + 1000);
  r.submit(queue, "sms", kNormalPriority, "claimed when, unknown", 7);
  EXPECT_EQ(r.given_up, (std::vector<std::string>{"claimed before the cancel"}));
  EXPECT_EQ(r.ran, (std::vector<std::string>{"another execution", "retried since", "claimed when, unknown"}));
}

TEST(CallQueue, AStopGivesUpEveryWaitingCallSayingSo) {
  CallQueue queue({{"sms", 1}}, [] {});
  Recorder r;
  r.submit(queue, "sms", kLowestPriority, "sms-1", 1);  // runs
  r.submit(queue, "sms", kLowestPriority, "sms-2", 2);
  r.submit(queue, "sms", kLowestPriority, "route", 0);
  queue.give_up_all();
  EXPECT_EQ(r.given_up, (std::vector<std::string>{"sms-2 (stopping)", "route (stopping)"}));
  EXPECT_EQ(queue.queued(), 0u);
  // A call submitted later (a step whose frequency cap was just counted) is given up at once.
  r.submit(queue, "push", kLowestPriority, "push-1", 3);
  EXPECT_EQ(r.given_up.back(), "push-1 (stopping)");
  EXPECT_EQ(r.ran, (std::vector<std::string>{"sms-1"}));
}

// Behind a slow provider's slots, a call that could no longer end within
// its step's lease is given up (and its step given back), not kept until
// another claim takes the step for one that may have run.
TEST(CallQueue, ACallThatWaitsPastItsStartByTimeIsGivenUp) {
  CallQueue queue({{"sms", 1}}, [] {});
  Recorder r;
  r.submit(queue, "sms", kLowestPriority, "sms-1", 1, 100);  // runs
  r.submit(queue, "sms", kLowestPriority, "sms-2", 2, 200);
  r.submit(queue, "sms", kHighestPriority, "sms-3", 3, 300);
  r.submit(queue, "sms", kLowestPriority, "route", 0);  // no lease: waits as long as it takes
  queue.give_up_late(199);
  EXPECT_TRUE(r.given_up.empty());
  queue.give_up_late(250);
  EXPECT_EQ(r.given_up, (std::vector<std::string>{"sms-2 (late)"}));
  queue.give_up_late(10000);
  EXPECT_EQ(r.given_up, (std::vector<std::string>{"sms-2 (late)", "sms-3 (late)"}));
  EXPECT_EQ(queue.queued(), 1u);
  r.releases.front()();
  queue.start_queued();
  EXPECT_EQ(r.ran, (std::vector<std::string>{"sms-1", "route"}));
}

}  // namespace
}  // namespace sb
