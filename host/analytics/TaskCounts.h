// Task analytics (the reference CRMs' task completion rate and time): the
// tasks (entities of type "task") created within bounds, counted by status,
// overdue, done on time or late, with the completion rate and the hours from
// creation to completion, in all and per assignee. Read by the admin API
// (api/AnalyticsApi: GET /api/v1/analytics/tasks).
//
// A task's creation and completion times are its fields created_at and
// completed_at (the tasks plugin and PATCH /api/v1/tasks/{id} write them);
// one without created_at (made before they were written, or by another
// system) counts only when no bounds are given ("undated" says how many
// were left out). Overdue: open or in progress past its deadline. Done on
// time: completed by its deadline, or without one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/Store.h"

namespace sb {

struct TaskFigures {
  int64_t created = 0;
  std::map<std::string, int64_t> statuses;  // "open", "in_progress", "done", "cancelled", ...
  int64_t overdue = 0;
  int64_t done_on_time = 0;
  int64_t done_late = 0;
  std::vector<double> hours_to_complete;  // of the done tasks with both times

  // {"created", "open", "in_progress", "done", "cancelled", "overdue",
  //  "done_on_time", "done_late", "completion_rate", "hours_to_complete":
  //  {"average", "median"}}: the rate is done of those not cancelled; what
  //  has no value is null.
  nlohmann::json to_json() const;
};

struct TaskCounts {
  TaskFigures total;
  std::map<std::string, TaskFigures> assignees;  // by manager id ("" = no assignee)
  std::map<std::string, std::string> names;      // manager id -> name, as the tasks say
  int64_t undated = 0;
  bool complete = false;  // every task was read

  // {"total": figures, "assignees": {id: figures + "name"}, "undated"}
  nlohmann::json to_json() const;
};

struct TaskBounds {
  std::optional<int64_t> created_after_ms, created_before_ms;  // inclusive
};

// Counts the tasks created within `bounds` as of `now_ms` (overdue: past
// their deadline then), reading at most `most`; none when `stopping` says so
// between pages. `as_it_stood`: a task done or cancelled after `now_ms` (its
// completed_at or cancelled_at) counts as open, as it was then.
std::optional<TaskCounts> count_tasks(Store& store, const TaskBounds& bounds, int64_t now_ms, size_t most,
                                      const std::function<bool()>& stopping = {}, bool as_it_stood = false);

}  // namespace sb
