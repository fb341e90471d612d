// The scheduled tasks report from counted tasks: every manager of either
// period, changes per unit of time, alerts only where a rate fell or a time rose.
#include <gtest/gtest.h>

#include "analytics/TaskReport.h"

namespace sb {
namespace {

using nlohmann::json;

TaskFigures figures(int64_t created, int64_t done, std::vector<double> hours = {}) {
  TaskFigures f;
  f.created = created;
  f.statuses["done"] = done;
  f.statuses["open"] = created - done;
  f.done_on_time = done;
  f.hours_to_complete = std::move(hours);
  return f;
}

TEST(TaskReport, AManagerOfOnePeriodIsInBothAndNothingToCompareAlertsNothing) {
  TaskCounts now, before;
  now.complete = before.complete = true;
  now.total = now.assignees["m1"] = figures(2, 2, {3, 5});
  now.names["m1"] = "Анна";
  before.total = before.assignees["m2"] = figures(0, 0);
  before.names["m2"] = "Пётр";
  // Two weeks now against one before: counts compare per unit of time.
  const json report = task_report({{0, 14 * 86'400'000LL}, {-7 * 86'400'000LL, 0}, now, before, 0.2, "UTC", true});
  EXPECT_EQ(report["assignees"]["m2"]["created"], 0) << report.dump(2);
  EXPECT_EQ(report["assignees"]["m2"]["name"], "Пётр");
  EXPECT_EQ(report["previous"]["assignees"]["m1"]["created"], 0);
  EXPECT_TRUE(report["changes"]["total"]["created"].is_null());  // nothing before
  EXPECT_TRUE(report["alerts"].empty());
  EXPECT_TRUE(report["complete"].get<bool>());
  EXPECT_NE(report["text"].get<std::string>().find("Пётр: 0 created, 0 done (-), 0 overdue, - to complete"),
            std::string::npos)
      << report["text"];

  TaskCounts half = now;
  half.total = half.assignees["m1"] = figures(10, 5, {4, 4});
  half.assignees["m3"] = figures(2, 0);  // too few to alert on
  before.total = before.assignees["m1"] = figures(5, 5, {4, 4});
  before.assignees["m3"] = figures(2, 2);
  before.names["m1"] = "Анна";
  const json compared = task_report({{0, 14 * 86'400'000LL}, {-7 * 86'400'000LL, 0}, half, before, 0.2, "UTC", true});
  // 10 tasks in two weeks are 5 a week, as before: no change; half done against all: a fall.
  EXPECT_NEAR(compared["changes"]["total"]["created"].get<double>(), 0, 1e-9);
  EXPECT_NEAR(compared["changes"]["total"]["completion_rate"].get<double>(), -0.5, 1e-9);
  ASSERT_EQ(compared["alerts"].size(), 2u) << compared["alerts"].dump();  // the total and Анна's, not m3's
  EXPECT_EQ(compared["alerts"][0]["metric"], "completion_rate");
  EXPECT_TRUE(compared["alerts"][0]["assignee"].is_null());
  EXPECT_EQ(compared["alerts"][1]["assignee"], "m1");

  // A count cut short alerts nothing, and says so.
  half.complete = false;
  const json cut = task_report({{0, 14 * 86'400'000LL}, {-7 * 86'400'000LL, 0}, half, before, 0.2, "UTC", true});
  EXPECT_TRUE(cut["alerts"].empty());
  EXPECT_NE(cut["text"].get<std::string>().find("no alerts"), std::string::npos);
}

}  // namespace
}  // namespace sb
