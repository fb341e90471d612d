#include "analytics/TaskReport.h"

#include <optional>
#include <string_view>

#include "util/Text.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

constexpr const char* kCounts[] = {"created", "done", "overdue"};
constexpr int64_t kFewestForAlerts = 5;  // tasks not cancelled, in each period

// A metric's value: a count or the completion rate, or (hours_to_complete)
// the average time; null when there is none.
json value_of(const json& figures, std::string_view metric) {
  const json* at = &figures;
  std::string key(metric);
  if (metric == "hours_to_complete") {
    const auto hours = figures.find("hours_to_complete");
    if (hours == figures.end() || !hours->is_object()) return nullptr;
    at = &*hours;
    key = "average";
  }
  const auto it = at->find(key);
  return it != at->end() && it->is_number() ? *it : json();
}

std::optional<double> number(const json& figures, std::string_view metric) {
  const json v = value_of(figures, metric);
  if (!v.is_number()) return std::nullopt;
  return v.get<double>();
}

// `scale`: the period's length over the one before's, for the counts.
json changes_of(const json& now, const json& before, double scale) {
  json out = json::object();
  const auto change = [&](const char* metric, double by) {
    const auto n = number(now, metric);
    auto b = number(before, metric);
    if (b) *b *= by;
    out[metric] = b && *b > 0 && n ? json((*n - *b) / *b) : json();
  };
  for (const char* count : kCounts) change(count, scale);
  change("completion_rate", 1);
  change("hours_to_complete", 1);
  return out;
}

std::string rate_text(const json& figures) {
  const auto rate = number(figures, "completion_rate");
  return rate ? percent_text(*rate) : "-";
}

std::string hours_text(const json& figures) {
  const json h = value_of(figures, "hours_to_complete");
  return h.is_number() ? h.dump() + " h" : "-";
}

// "Анна: 12 created, 9 done (81.8%, was 90%), 2 overdue, 5.5 h to complete (was 4 h)"
std::string line_of(const std::string& label, const json& figures, const json& before) {
  std::string line = label + ": " + value_of(figures, "created").dump() + " created, " +
                     value_of(figures, "done").dump() + " done (" + rate_text(figures);
  if (number(before, "completion_rate")) line += ", was " + rate_text(before);
  line += "), " + value_of(figures, "overdue").dump() + " overdue, " + hours_text(figures) + " to complete";
  if (number(before, "hours_to_complete")) line += " (was " + hours_text(before) + ")";
  return line;
}

std::string row_of(const std::string& label, const json& figures) {
  return "<tr><td>" + escape_html(label) + "</td><td>" + value_of(figures, "created").dump() + "</td><td>" +
         value_of(figures, "done").dump() + " (" + rate_text(figures) + ")</td><td>" +
         value_of(figures, "overdue").dump() + "</td><td>" + hours_text(figures) + "</td></tr>";
}

json with_name(json figures, const TaskCounts& counts, const std::string& id) {
  const auto name = counts.names.find(id);
  figures["name"] = name == counts.names.end() || name->second.empty() ? json() : json(name->second);
  return figures;
}

}  // namespace

json task_report(const TaskReportInput& in) {
  const int64_t length = in.period.to_ms - in.period.from_ms;
  const int64_t length_before = in.previous_period.to_ms - in.previous_period.from_ms;
  const double scale = length_before > 0 ? static_cast<double>(length) / static_cast<double>(length_before) : 1;
  const json total = in.now.total.to_json(), total_before = in.before.total.to_json();
  // Every manager of either period, with nothing in the one they were not in.
  json assignees = json::object(), assignees_before = json::object();
  for (const auto& [id, figures] : in.now.assignees) assignees[id] = with_name(figures.to_json(), in.now, id);
  for (const auto& [id, figures] : in.before.assignees)
    assignees_before[id] = with_name(figures.to_json(), in.before, id);
  for (const auto& [id, figures] : assignees_before.items())
    if (!assignees.contains(id)) assignees[id] = with_name(TaskFigures{}.to_json(), in.before, id);
  for (const auto& [id, figures] : assignees.items())
    if (!assignees_before.contains(id)) assignees_before[id] = with_name(TaskFigures{}.to_json(), in.now, id);

  json changes{{"total", changes_of(total, total_before, scale)}, {"assignees", json::object()}};
  for (const auto& [id, figures] : assignees.items())
    changes["assignees"][id] = changes_of(figures, assignees_before[id], scale);

  json alerts = json::array();
  std::vector<std::string> alert_lines;
  const auto label_of = [&](const std::string& id) {
    const json& name = assignees[id]["name"];
    return id.empty() ? std::string("(no one)") : name.is_string() ? name.get<std::string>() : id;
  };
  // Alerts only from complete counts, and of enough tasks in both periods
  // that one task more or less is no fall.
  const bool complete = in.now.complete && in.before.complete;
  if (in.alert_drop > 0 && complete) {
    const auto check = [&](const json& who, const std::string& label, const json& is, const json& was,
                           const json& change) {
      const auto counted = [](const json& f) {
        return value_of(f, "created").get<int64_t>() - value_of(f, "cancelled").get<int64_t>();
      };
      if (counted(is) < kFewestForAlerts || counted(was) < kFewestForAlerts) return;
      const auto alert = [&](const char* metric, double by, const std::string& how, const std::string& from,
                             const std::string& to) {
        alerts.push_back({{"assignee", who},
                          {"metric", metric},
                          {"previous", value_of(was, metric)},
                          {"current", value_of(is, metric)},
                          {"change", change.value(metric, json())}});
        alert_lines.push_back(label + ": " + metric + " " + how + " by " + percent_text(by) + " (" + from + " -> " +
                              to + ")");
      };
      // A change is a plain number per metric (not a figure's object).
      const auto changed = [&](const char* metric) -> std::optional<double> {
        const json c = change.value(metric, json());
        return c.is_number() ? std::optional(c.get<double>()) : std::nullopt;
      };
      if (const auto c = changed("completion_rate"); c && *c <= -in.alert_drop + 1e-9)
        alert("completion_rate", -*c, "fell", rate_text(was), rate_text(is));
      if (const auto c = changed("hours_to_complete"); c && *c >= in.alert_drop - 1e-9)
        alert("hours_to_complete", *c, "rose", hours_text(was), hours_text(is));
    };
    check(nullptr, "Total", total, total_before, changes["total"]);
    for (const auto& [id, figures] : assignees.items())
      check(id, label_of(id), figures, assignees_before[id], changes["assignees"][id]);
  }

  const std::string span = period_text(in.period, in.zone, in.whole_days);
  std::string text = "Tasks created " + span;
  std::string html = "<p>Tasks created " + escape_html(span) +
                     "</p><table><tr><th>Manager</th><th>Created</th><th>Done</th><th>Overdue</th>"
                     "<th>Time to complete</th></tr>";
  for (const auto& [id, figures] : assignees.items()) {
    text += "\n" + line_of(label_of(id), figures, assignees_before[id]);
    html += row_of(label_of(id), figures);
  }
  text += "\n" + line_of("Total", total, total_before);
  html += row_of("Total", total) + "</table>";
  if (!complete) {
    text += "\nNot every task was read (over the limit): no alerts.";
    html += "<p>Not every task was read (over the limit): no alerts.</p>";
  }
  append_alerts("Changed by " + percent_text(in.alert_drop) + " or more", alert_lines, text, html);
  return json{{"from", format_time_ms(in.period.from_ms)},
              {"to", format_time_ms(in.period.to_ms)},
              {"complete", complete},
              {"total", total},
              {"assignees", assignees},
              {"previous",
               {{"from", format_time_ms(in.previous_period.from_ms)},
                {"to", format_time_ms(in.previous_period.to_ms)},
                {"total", total_before},
                {"assignees", assignees_before}}},
              {"changes", std::move(changes)},
              {"alerts", std::move(alerts)},
              {"text", std::move(text)},
              {"html", std::move(html)}};
}

}  // namespace sb
