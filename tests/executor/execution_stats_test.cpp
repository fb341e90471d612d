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

// Deliverability, open and click rates as the reference CRMs show them: in
// percent, of the messages sent (delivered, failed), of those delivered
// (opened, clicked, replied) and of those opened (click-to-open).
TEST(ExecutionStats, RatesArePercentOfTheStageBeforeAndNullOfNothing) {
  ExecutionStats stats(std::set<std::string>{});
  json history = json::array();
  for (int i = 0; i < 8; ++i)
    history.push_back(
        {{"step", "Email"}, {"outcome", "done"}, {"external_id", "e" + std::to_string(i)}, {"channel", "email"}});
  history.push_back({{"step", "SMS"}, {"outcome", "done"}, {"external_id", "s0"}, {"channel", "sms"}});
  stats.add(row_with(history));
  // 8 sent: 6 delivered (3 opened, of which 1 clicked; 1 replied), 2 bounced.
  stats.add_reports({{"e0", "message.delivered", 1},
                     {"e1", "message.delivered", 1},
                     {"e2", "message.opened", 1},
                     {"e3", "message.opened", 1},
                     {"e4", "message.clicked", 1},
                     {"e5", "message.replied", 1},
                     {"e6", "message.bounced", 1},
                     {"e7", "message.bounced", 1},
                     {"s0", "message.failed", 1}});
  const json messages = stats.to_json()["messages"];
  const json& email = messages["Email"];
  EXPECT_EQ(email["sent"], 8);
  EXPECT_EQ(email["delivered"], 6);
  EXPECT_DOUBLE_EQ(email["delivery_rate"].get<double>(), 75.0);
  EXPECT_DOUBLE_EQ(email["failure_rate"].get<double>(), 25.0);
  EXPECT_DOUBLE_EQ(email["open_rate"].get<double>(), 50.0);           // 3 of 6
  EXPECT_DOUBLE_EQ(email["click_rate"].get<double>(), 16.7);          // 1 of 6
  EXPECT_DOUBLE_EQ(email["reply_rate"].get<double>(), 16.7);          // 1 of 6
  EXPECT_DOUBLE_EQ(email["click_to_open_rate"].get<double>(), 33.3);  // 1 of 3
  const json& sms = messages["SMS"];
  EXPECT_DOUBLE_EQ(sms["delivery_rate"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(sms["failure_rate"].get<double>(), 100.0);
  EXPECT_TRUE(sms["open_rate"].is_null()) << sms;  // none delivered: no rate, not 0 %
  EXPECT_TRUE(sms["click_to_open_rate"].is_null()) << sms;
}

}  // namespace
}  // namespace sb
