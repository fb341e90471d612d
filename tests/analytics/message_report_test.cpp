// The messages report's figures: each step's as the stats API gives them,
// and a total whose rates mean what a step's do.
#include <gtest/gtest.h>

#include "analytics/ExecutionStats.h"
#include "analytics/MessageReport.h"
#include "util/Time.h"

namespace sb {
namespace {

using nlohmann::json;

json step(int sent, int delivered, int failed, int opened, bool delivery_reported) {
  std::map<std::string, int64_t> counts{{"sent", sent},     {"delivered", delivered}, {"failed", failed},
                                        {"opened", opened}, {"clicked", 0},           {"replied", 0}};
  return with_rates(counts, delivery_reported);
}

// An SMS step (its gateway reports deliveries) and an email step (opens
// only): the total has no delivery rate, as an email step has none, and its
// open rate counts from the messages that did not fail. A week against a
// fortnight compares counts per day.
TEST(MessageReport, TotalsMixStepsAsAStepWouldAndCountsComparePerDay) {
  const std::map<std::string, json> now{
      {"welcome", {{"messages", {{"SMS", step(10, 8, 2, 0, true)}, {"Email", step(10, 0, 2, 4, false)}}}}}};
  const std::map<std::string, json> before{
      {"welcome", {{"messages", {{"SMS", step(20, 18, 2, 0, true)}, {"Email", step(20, 0, 0, 16, false)}}}}}};
  const int64_t week = 7 * 86'400'000LL;
  const ReportPeriod period{*parse_time_ms("2026-12-01T00:00:00Z"), *parse_time_ms("2026-12-01T00:00:00Z") + week};
  const ReportPeriod previous{period.from_ms - 2 * week, period.from_ms};
  const json report = message_report({period, previous, now, before, true, 0.2, "UTC", false});
  EXPECT_EQ(report["total"]["sent"], 20);
  EXPECT_TRUE(report["total"]["delivery_rate"].is_null()) << report["total"];
  EXPECT_DOUBLE_EQ(report["total"]["open_rate"].get<double>(), 25.0);  // 4 of the 16 not failed
  // 20 in a week against 40 in two: as many a day.
  EXPECT_NEAR(report["changes"]["total"]["sent"].get<double>(), 0, 1e-9);
  EXPECT_NEAR(report["changes"]["rules"]["welcome"]["SMS"]["delivery_rate"].get<double>(), 80.0 / 90 - 1, 1e-9);
  const auto fell = [](const json& alerts) {
    std::set<std::string> out;
    for (const json& a : alerts) out.insert(a["step"].get<std::string>() + " " + a["metric"].get<std::string>());
    return out;
  };
  // Email: opens 80% -> 50% of those reached, and a fifth fewer not failed
  // (100% -> 80%); SMS deliveries fell by 11% only. The total never alerts.
  EXPECT_EQ(fell(report["alerts"]), (std::set<std::string>{"Email open_rate", "Email failure_rate"}))
      << report["alerts"].dump();
  // A step that sent nothing now has no rates to compare: no alert, no change.
  const std::map<std::string, json> silent{{"welcome", {{"messages", {{"SMS", step(0, 0, 0, 0, true)}}}}}};
  const json quiet = message_report({period, previous, silent, before, true, 0.2, "UTC", false});
  EXPECT_TRUE(quiet["changes"]["rules"]["welcome"]["SMS"]["delivery_rate"].is_null());
  EXPECT_NEAR(quiet["changes"]["rules"]["welcome"]["SMS"]["sent"].get<double>(), -1, 1e-9);
  EXPECT_TRUE(quiet["alerts"].empty()) << quiet["alerts"].dump();
  EXPECT_EQ(quiet["rules"]["welcome"]["Email"]["sent"], 0);  // in the report, with nothing sent
  EXPECT_NE(quiet["text"].get<std::string>().find("welcome / Email: 0 sent"), std::string::npos) << quiet["text"];

  // Every SMS failed: no delivery was reported this week, yet the step's
  // provider reports them (it did the week before): 0 %, an alert.
  const std::map<std::string, json> failing{{"welcome", {{"messages", {{"SMS", step(10, 0, 10, 0, false)}}}}}};
  const json failed = message_report({period, previous, failing, before, true, 0.2, "UTC", false});
  EXPECT_DOUBLE_EQ(failed["rules"]["welcome"]["SMS"]["delivery_rate"].get<double>(), 0.0);
  EXPECT_EQ(fell(failed["alerts"]), (std::set<std::string>{"SMS delivery_rate", "SMS failure_rate"}))
      << failed["alerts"].dump();
}

}  // namespace
}  // namespace sb
