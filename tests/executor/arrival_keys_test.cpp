#include <gtest/gtest.h>

#include "executor/ArrivalKeys.h"

namespace sb {
namespace {

TEST(ArrivalKeys, AWaitWithoutElseOnKeepsTheKeyItHadBefore) {
  EXPECT_EQ(arrival_key(awaited_types({"message.read"}, {}), {{"data.message_id", "m1"}}),
            "message.read\ndata.message_id=m1");
}

TEST(ArrivalKeys, OnlyTheElseOnTypesTakeTheElseSteps) {
  const std::string key =
      arrival_key(awaited_types({"call.answered"}, {"call.no_answer", "call.busy"}), {{"data.call_id", "CA1"}});
  EXPECT_EQ(key, "call.answered|!call.no_answer|!call.busy\ndata.call_id=CA1");
  EXPECT_TRUE(takes_else(key, "call.no_answer"));
  EXPECT_TRUE(takes_else(key, "call.busy"));
  EXPECT_FALSE(takes_else(key, "call.answered"));
  EXPECT_FALSE(takes_else(key, "call.no"));   // a prefix of an else type is not one
  EXPECT_FALSE(takes_else(key, "call.bus"));  // nor at the end
  // A matched value that looks like a marker is not read as one.
  EXPECT_FALSE(takes_else(arrival_key("call.answered", {{"data.x", "|!call.failed"}}), "call.failed"));
}

TEST(ArrivalKeys, EachOfSeveralAwaitedTypesTakesTheThenSteps) {
  const std::string key = arrival_key(awaited_types({"message.opened", "message.clicked"}, {"message.bounced"}),
                                      {{"data.message_id", "m1"}});
  EXPECT_EQ(key, "message.opened|message.clicked|!message.bounced\ndata.message_id=m1");
  EXPECT_FALSE(takes_else(key, "message.opened"));
  EXPECT_FALSE(takes_else(key, "message.clicked"));
  EXPECT_TRUE(takes_else(key, "message.bounced"));
}

}  // namespace
}  // namespace sb
