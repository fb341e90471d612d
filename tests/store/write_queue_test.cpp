// The store writers' queue: groups of what arrived meanwhile, up to a bound;
// urgent writes (what starts a high-priority rule) in a group of their own,
// but never two such groups in a row while other writes wait.
#include <gtest/gtest.h>

#include <string>

#include "store/WriteQueue.h"

namespace sb {
namespace {

void push_all(WriteQueue<std::string>& queue, std::initializer_list<const char*> writes, bool urgent) {
  for (const char* w : writes) {
    std::string write = w;
    EXPECT_TRUE(queue.push(write, urgent));
  }
}

TEST(WriteQueue, AGroupIsWhatArrivedUpToItsBound) {
  WriteQueue<std::string> queue(3);
  push_all(queue, {"a", "b", "c", "d"}, false);
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"a", "b", "c"}));
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"d"}));
}

TEST(WriteQueue, UrgentWritesGoFirstInAGroupOfTheirOwnButNotTwiceInARow) {
  WriteQueue<std::string> queue(10);
  push_all(queue, {"campaign-1", "campaign-2"}, false);
  push_all(queue, {"reset-1"}, true);
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"reset-1"}));
  push_all(queue, {"reset-2"}, true);
  // The others have waited one group: the next takes them first.
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"campaign-1", "campaign-2", "reset-2"}));
  push_all(queue, {"campaign-3"}, false);
  push_all(queue, {"reset-3"}, true);
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"reset-3"}));
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"campaign-3"}));
}

TEST(WriteQueue, MoreUrgentWritesThanAGroupHoldsDoNotHoldTheOthersBack) {
  WriteQueue<std::string> queue(2);
  push_all(queue, {"campaign-1", "campaign-2", "campaign-3"}, false);
  push_all(queue, {"reset-1", "reset-2", "reset-3", "reset-4", "reset-5"}, true);
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"reset-1", "reset-2"}));
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"campaign-1", "campaign-2"}));
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"reset-3", "reset-4"}));
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"campaign-3", "reset-5"}));
}

TEST(WriteQueue, NothingIsQueuedOnceStoppingAndWhatWasIsStillTaken) {
  WriteQueue<std::string> queue(10);
  push_all(queue, {"a"}, false);
  queue.stop();
  std::string late = "late";
  EXPECT_FALSE(queue.push(late, true));
  EXPECT_EQ(late, "late");  // left as it was, for its caller to fail
  EXPECT_EQ(queue.next_group(), (std::deque<std::string>{"a"}));
  EXPECT_TRUE(queue.next_group().empty());
}

}  // namespace
}  // namespace sb
