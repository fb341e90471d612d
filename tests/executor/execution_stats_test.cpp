// What the stats count of the messages a rule's steps sent.
#include <gtest/gtest.h>

#include "executor/ExecutionStats.h"

namespace sb {
namespace {

using nlohmann::json;

ExecutionRow row_with(const json& history) {
  ExecutionRow row;
  row.rule = "promo";
  row.state = ExecutionState::kDone;
  row.history_json = history.dump();
  return row;
}

// Steps whose ids are no message's (a task's, a request's) are not counted;
// a channel step's entry says its channel, and one written before entries
// did is known by the rule's channel steps.
TEST(ExecutionStats, OnlyChannelStepsSendMessagesWhateverTheirHistoriesSay) {
  ExecutionStats stats({"Old SMS"});
  stats.add(
      row_with(json::array({{{"step", "SMS"}, {"outcome", "done"}, {"external_id", "m1"}, {"channel", "sms"}},
                            {{"step", "Old SMS"}, {"outcome", "done"}, {"external_id", "m0"}},
                            {{"step", "Task"}, {"outcome", "done"}, {"external_id", "task-1"}},
                            {{"step", "Retry"}, {"outcome", "retry"}, {"external_id", "m9"}, {"channel", "sms"}}})));
  std::vector<std::string> ids = stats.message_ids();
  EXPECT_EQ(ids, (std::vector<std::string>{"m0", "m1"}));
  stats.add_reports({{"m0", "message.delivered", 1}, {"m1", "message.undelivered", 1}, {"task-1", "message.read", 1}});
  const json messages = stats.to_json()["messages"];
  EXPECT_EQ(messages.size(), 2u) << messages;
  EXPECT_EQ(messages["SMS"]["failed"], 1);
  EXPECT_EQ(messages["SMS"]["delivered"], 0);
  EXPECT_EQ(messages["Old SMS"]["delivered"], 1);
  EXPECT_EQ(messages["Old SMS"]["sent"], 1);
}

}  // namespace
}  // namespace sb
