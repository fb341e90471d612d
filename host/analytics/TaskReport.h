// A scheduled report of the tasks (a rule's trigger {"report": "tasks",
// ...}): the tasks created in one period beside those of the period before
// it (count_tasks), how their completion rate and time changed, what fell
// far enough to alert, and the whole as text and as an HTML table.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "analytics/ChannelReport.h"  // ReportPeriod
#include "analytics/TaskCounts.h"

namespace sb {

struct TaskReportInput {
  ReportPeriod period, previous_period;
  const TaskCounts& now;
  const TaskCounts& before;
  double alert_drop = 0;    // a completion rate falling (or a time to complete rising) by this much; 0: none
  std::string zone;         // dates in the text are on this clock
  bool whole_days = false;  // a calendar period: the text names its days, not its times
};

// {"from", "to", "complete", "total": figures, "assignees": {id: figures +
//  "name"}, "previous": {"from", "to", "total", "assignees"},
//  "changes": {"total": {metric: change}, "assignees": {id: {metric: change}}},
//  "alerts": [{"assignee": id or null (the total), "metric", "previous", "current", "change"}],
//  "text", "html"}
// figures as GET /api/v1/analytics/tasks gives them. A change is relative
// (-0.25: a quarter less), null where there was nothing before: created,
// done and overdue compare per unit of time when the periods differ in
// length; completion_rate and hours_to_complete.average as they are. Alerts:
// a completion rate that fell by alert_drop or more, or an average time to
// complete that rose by as much, of the total or of a manager with at least
// 5 tasks (not cancelled) in each period; none when a count was cut short.
nlohmann::json task_report(const TaskReportInput& in);

}  // namespace sb
