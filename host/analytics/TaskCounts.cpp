#include "analytics/TaskCounts.h"

#include <algorithm>
#include <cmath>

#include "analytics/EntityPages.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

std::optional<int64_t> time_at(const json& fields, const char* name) {
  const auto it = fields.find(name);
  return it != fields.end() && it->is_string() ? parse_time_ms(it->get<std::string>()) : std::nullopt;
}

// Hours rounded to a hundredth.
json hours(double h) { return std::round(h * 100) / 100; }

// The managers a task is for: its assignees, else its assignee, else its
// responsible managers (a task a CRM posts names them as any record does),
// else none ("").
std::vector<std::pair<std::string, std::string>> managers_of(const json& data, const json& fields) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto add = [&](const json& m) {
    if (!m.is_object() || !m.contains("id")) return;
    const json& id = m["id"];
    const json name = m.value("name", json());
    out.emplace_back(id.is_string() ? id.get<std::string>() : id.dump(),
                     name.is_string() ? name.get<std::string>() : std::string());
  };
  if (const auto list = fields.find("assignees"); list != fields.end() && list->is_array())
    for (const json& m : *list) add(m);
  if (out.empty())
    if (const auto one = fields.find("assignee"); one != fields.end()) add(*one);
  if (out.empty() && data.is_object())
    if (const auto list = data.find("responsible"); list != data.end() && list->is_array())
      for (const json& m : *list) add(m);
  if (out.empty()) out.emplace_back("", "");
  return out;
}

}  // namespace

json TaskFigures::to_json() const {
  const auto count = [&](const char* status) {
    const auto it = statuses.find(status);
    return it == statuses.end() ? int64_t{0} : it->second;
  };
  const int64_t done = count("done"), cancelled = count("cancelled");
  json out{{"created", created},
           {"open", count("open")},
           {"in_progress", count("in_progress")},
           {"done", done},
           {"cancelled", cancelled},
           {"overdue", overdue},
           {"done_on_time", done_on_time},
           {"done_late", done_late}};
  out["completion_rate"] =
      created > cancelled
          ? json(std::round(1000.0 * static_cast<double>(done) / static_cast<double>(created - cancelled)) / 1000)
          : json();
  json to_complete{{"average", nullptr}, {"median", nullptr}};
  if (!hours_to_complete.empty()) {
    std::vector<double> sorted = hours_to_complete;
    std::sort(sorted.begin(), sorted.end());
    double sum = 0;
    for (const double h : sorted) sum += h;
    const size_t n = sorted.size();
    to_complete["average"] = hours(sum / static_cast<double>(n));
    to_complete["median"] = hours(n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2);
  }
  out["hours_to_complete"] = std::move(to_complete);
  return out;
}

json TaskCounts::to_json() const {
  json by_assignee = json::object();
  for (const auto& [id, figures] : assignees) {
    json one = figures.to_json();
    const auto name = names.find(id);
    one["name"] = name == names.end() || name->second.empty() ? json() : json(name->second);
    by_assignee[id] = std::move(one);
  }
  return {{"total", total.to_json()}, {"assignees", std::move(by_assignee)}, {"undated", undated}};
}

std::optional<TaskCounts> count_tasks(Store& store, const TaskBounds& bounds, int64_t now_ms, size_t most,
                                      const std::function<bool()>& stopping, bool as_it_stood) {
  TaskCounts counts;
  RecordQuery query;
  query.entity_type = "task";
  const bool bounded = bounds.created_after_ms || bounds.created_before_ms;
  const auto complete = read_entities(store, query, most, stopping, [&](const StoredEntity& task) {
    const json data = json::parse(task.data_json, nullptr, false);
    const json fields =
        data.is_object() && data.contains("fields") && data["fields"].is_object() ? data["fields"] : json::object();
    const std::optional<int64_t> created = time_at(fields, "created_at");
    if (!created && bounded) {
      ++counts.undated;
      return;
    }
    if (created && ((bounds.created_after_ms && *created < *bounds.created_after_ms) ||
                    (bounds.created_before_ms && *created > *bounds.created_before_ms)))
      return;
    std::string status = task.status.value_or("");
    const std::optional<int64_t> deadline = time_at(fields, "deadline");
    std::optional<int64_t> completed = status == "done" ? time_at(fields, "completed_at") : std::nullopt;
    // As it stood at `now_ms` (a report of an earlier period): a task done
    // or cancelled since, by its completed_at or cancelled_at, was still
    // open then. (One cancelled before cancelled_at was written counts as
    // cancelled.)
    const std::optional<int64_t> cancelled = status == "cancelled" ? time_at(fields, "cancelled_at") : std::nullopt;
    if (as_it_stood && ((completed && *completed > now_ms) || (cancelled && *cancelled > now_ms))) {
      status = "open";
      completed.reset();
    }
    const bool working = status == "open" || status == "in_progress";
    const auto tally = [&](TaskFigures& f) {
      ++f.created;
      ++f.statuses[status];
      f.overdue += working && deadline && *deadline < now_ms;
      if (status == "done") {
        // Done without a recorded time (by a rule's crm.set_status): its last change.
        const int64_t at = completed.value_or(task.updated_at_ms);
        (!deadline || at <= *deadline ? f.done_on_time : f.done_late) += 1;
        if (created && completed && *completed >= *created)
          f.hours_to_complete.push_back(static_cast<double>(*completed - *created) / 3'600'000.0);
      }
    };
    tally(counts.total);
    for (const auto& [id, name] : managers_of(data, fields)) {
      tally(counts.assignees[id]);
      if (!name.empty()) counts.names[id] = name;
    }
  });
  if (!complete) return std::nullopt;
  counts.complete = *complete;
  return counts;
}

}  // namespace sb
