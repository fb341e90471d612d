// What the stats count of the messages a rule's steps sent.
#include <gtest/gtest.h>

#include "analytics/ExecutionStats.h"

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
        {{"step", "SMS"}, {"outcome", "done"}, {"external_id", "s" + std::to_string(i)}, {"channel", "sms"}});
  for (int i = 0; i < 10; ++i)
    history.push_back(
        {{"step", "Email"}, {"outcome", "done"}, {"external_id", "e" + std::to_string(i)}, {"channel", "email"}});
  history.push_back({{"step", "Push"}, {"outcome", "done"}, {"external_id", "p0"}, {"channel", "push"}});
  stats.add(row_with(history));
  // SMS, whose gateway reports deliveries: 8 sent, 6 delivered (3 read, of
  // which 1 clicked; 1 replied to), 2 undelivered.
  std::vector<MessageReport> reports = {{"s0", "message.delivered", 1},   {"s1", "message.delivered", 1},
                                        {"s2", "message.read", 1},        {"s3", "message.read", 1},
                                        {"s4", "message.clicked", 1},     {"s4", "message.delivered", 1},
                                        {"s5", "message.replied", 1},     {"s5", "message.delivered", 1},
                                        {"s6", "message.undelivered", 1}, {"s7", "message.undelivered", 1}};
  // Email, known delivered only by what its reader did: 10 sent, 2 bounced,
  // 4 opened (1 of them clicked).
  for (const char* id : {"e0", "e1", "e2"}) reports.push_back({id, "message.opened", 1});
  reports.push_back({"e3", "message.clicked", 1});
  reports.push_back({"e8", "message.bounced", 1});
  reports.push_back({"e9", "message.bounced", 1});
  reports.push_back({"p0", "message.failed", 1});
  stats.add_reports(reports);
  const json messages = stats.to_json()["messages"];
  const json& sms = messages["SMS"];
  EXPECT_EQ(sms["sent"], 8);
  EXPECT_EQ(sms["delivered"], 6);
  EXPECT_DOUBLE_EQ(sms["delivery_rate"].get<double>(), 75.0);
  EXPECT_DOUBLE_EQ(sms["failure_rate"].get<double>(), 25.0);
  EXPECT_DOUBLE_EQ(sms["open_rate"].get<double>(), 50.0);           // 3 of 6
  EXPECT_DOUBLE_EQ(sms["click_rate"].get<double>(), 16.7);          // 1 of 6
  EXPECT_DOUBLE_EQ(sms["reply_rate"].get<double>(), 16.7);          // 1 of 6
  EXPECT_DOUBLE_EQ(sms["click_to_open_rate"].get<double>(), 33.3);  // 1 of 3
  const json& email = messages["Email"];
  EXPECT_TRUE(email["delivery_rate"].is_null()) << email;  // no provider said so
  EXPECT_DOUBLE_EQ(email["failure_rate"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(email["open_rate"].get<double>(), 50.0);   // 4 of the 8 not bounced
  EXPECT_DOUBLE_EQ(email["click_rate"].get<double>(), 12.5);  // 1 of 8
  EXPECT_DOUBLE_EQ(email["click_to_open_rate"].get<double>(), 25.0);
  const json& push = messages["Push"];
  EXPECT_DOUBLE_EQ(push["failure_rate"].get<double>(), 100.0);
  EXPECT_TRUE(push["open_rate"].is_null()) << push;  // none reached anyone: no rate, not 0 %
  EXPECT_TRUE(push["click_to_open_rate"].is_null()) << push;
}

// A payment after three reminders converted all three, and is one payment:
// its value is the revenue of the last reminder to begin before it (of its
// variant), not three times over.
TEST(ExecutionStats, AGoalIsTheRevenueOfTheLastExecutionBeforeIt) {
  ExecutionStats stats(std::set<std::string>{}, RuleGoal{{"order.paid"}, 86'400'000, "data.amount"});
  const auto started = [&](const char* contact, int64_t at, const char* variant) {
    ExecutionRow row = row_with(json::array(
        {{{"step", "SMS"}, {"outcome", "done"}, {"branches", {{{"step", "offer"}, {"variant", variant}}}}}}));
    row.context_json = json{{"contact", {{"id", contact}}}}.dump();
    row.created_at_ms = at;
    stats.add(row);
  };
  started("A", 1000, "A");
  started("A", 2000, "B");
  started("A", 3000, "B");
  started("B", 1000, "A");
  started("C", 1000, "A");  // pays nothing
  const auto keys = stats.contact_keys();
  EXPECT_EQ(keys, (std::vector<std::string>{"id:A", "id:B", "id:C"}));
  stats.add_goals({{"id:A", "order.paid", 5000, 1000.0}, {"id:B", "order.paid", 4000, 250.0}});
  const json out = stats.to_json();
  EXPECT_EQ(out["goal"]["converted"], 4) << out.dump();
  EXPECT_EQ(out["goal"]["revenue"], 1250.0) << out.dump();
  EXPECT_EQ(out["goal"]["average_check"], 625.0) << out.dump();
  // A's payment is the revenue of its last reminder, in variant B; B's in A.
  const json& offer = out["splits"]["offer"];
  EXPECT_EQ(offer["A"]["converted"], 2) << out.dump();
  EXPECT_EQ(offer["A"]["revenue"], 250.0) << out.dump();
  EXPECT_EQ(offer["B"]["converted"], 2) << out.dump();
  EXPECT_EQ(offer["B"]["revenue"], 1000.0) << out.dump();
  EXPECT_EQ(offer["B"]["average_check"], 1000.0) << out.dump();
}

}  // namespace
}  // namespace sb
