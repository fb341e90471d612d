#include "analytics/MessageReport.h"

#include <algorithm>

#include "analytics/ExecutionStats.h"
#include "util/Text.h"
#include "util/Time.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {

constexpr const char* kCounts[] = {"sent", "delivered", "failed", "opened", "clicked", "replied", "converted"};
constexpr const char* kRates[] = {"delivery_rate", "failure_rate",       "open_rate",      "click_rate",
                                  "reply_rate",    "click_to_open_rate", "conversion_rate"};
constexpr const char* kAlerting[] = {"delivery_rate", "open_rate", "click_rate", "conversion_rate"};

std::optional<double> number(const json& figures, const char* metric) {
  const auto it = figures.find(metric);
  if (it == figures.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// Every message step of the rules: {rule: {step: figures}}, and all of them
// added up, with rates as a step's (a delivery rate only when every step
// that sent had its deliveries reported).
std::pair<json, json> tally(const std::map<std::string, json>& stats) {
  json rules = json::object();
  std::map<std::string, int64_t> sum;
  for (const char* count : kCounts)
    if (std::string_view(count) != "converted") sum[count] = 0;
  bool delivery_reported = true, any_sent = false;
  for (const auto& [rule, s] : stats) {
    json& steps = rules[rule] = json::object();
    const json messages = s.value("messages", json::object());
    for (const auto& [step, figures] : messages.items()) {
      steps[step] = figures;
      for (const char* count : kCounts)
        if (figures.contains(count)) sum[count] += figures[count].get<int64_t>();
      if (figures.value("sent", 0) > 0) {
        any_sent = true;
        delivery_reported = delivery_reported && !figures.value("delivery_rate", json()).is_null();
      }
    }
  }
  return {std::move(rules), with_rates(sum, delivery_reported && any_sent)};
}

// `scale`: the period's length over the one before's, for the counts.
json changes_of(const json& now, const json& before, double scale) {
  json out = json::object();
  // A count missing now is none; a rate missing (nothing to count it from) compares with nothing.
  const auto change = [&](const char* metric, double by, std::optional<double> missing) {
    if (!now.contains(metric) && !before.contains(metric)) return;
    const auto n = number(now, metric) ? number(now, metric) : missing;
    auto b = number(before, metric);
    if (b) *b *= by;
    out[metric] = b && *b > 0 && n ? json((*n - *b) / *b) : json();
  };
  for (const char* count : kCounts) change(count, scale, 0.0);
  for (const char* rate : kRates) change(rate, 1, std::nullopt);
  return out;
}

// A count as it is, a rate (already in percent) with its sign.
std::string shown(const json& figures, const char* metric) {
  const auto it = figures.find(metric);
  if (it == figures.end() || it->is_null()) return "-";
  return std::string(metric).ends_with("_rate") ? percent_text(it->get<double>() / 100) : it->dump();
}

// "8 sent, 6 delivered (75%, was 80%), 2 failed (25%), 3 opened (50%), ..."
std::string line_of(const std::string& label, const json& figures, const json& before) {
  const bool compared = number(before, "sent").value_or(0) > 0;
  std::string line = label + ": " + shown(figures, "sent") + " sent";
  for (const auto& [count, rate] : {std::pair{"delivered", "delivery_rate"},
                                    {"failed", "failure_rate"},
                                    {"opened", "open_rate"},
                                    {"clicked", "click_rate"},
                                    {"converted", "conversion_rate"}}) {
    if (!figures.contains(count)) continue;
    line += ", " + shown(figures, count) + " " + count + " (" + shown(figures, rate);
    if (compared && !before.value(rate, json()).is_null()) line += ", was " + shown(before, rate);
    line += ")";
  }
  return line;
}

std::string row_of(const std::string& label, const json& figures) {
  std::string row = "<tr><td>" + escape_html(label) + "</td><td>" + shown(figures, "sent") + "</td>";
  for (const auto& [count, rate] : {std::pair{"delivered", "delivery_rate"},
                                    {"failed", "failure_rate"},
                                    {"opened", "open_rate"},
                                    {"clicked", "click_rate"},
                                    {"converted", "conversion_rate"}})
    row +=
        "<td>" + (figures.contains(count) ? shown(figures, count) + " (" + shown(figures, rate) + ")" : "-") + "</td>";
  return row + "</tr>";
}

}  // namespace

json message_report(const MessageReportInput& in) {
  auto [rules, total] = tally(in.now);
  auto [rules_before, total_before] = tally(in.before);
  const int64_t length = in.period.to_ms - in.period.from_ms;
  const int64_t length_before = in.previous_period.to_ms - in.previous_period.from_ms;
  const double scale = length_before > 0 ? static_cast<double>(length) / static_cast<double>(length_before) : 1;
  const auto before_of = [&](const std::string& rule, const std::string& step) {
    return rules_before.value(rule, json::object()).value(step, json::object());
  };

  json changes{{"total", changes_of(total, total_before, scale)}, {"rules", json::object()}};
  for (auto rule = rules.begin(); rule != rules.end(); ++rule) {
    json& steps = changes["rules"][rule.key()] = json::object();
    for (auto step = rule->begin(); step != rule->end(); ++step)
      steps[step.key()] = changes_of(*step, before_of(rule.key(), step.key()), scale);
  }

  json alerts = json::array();
  std::vector<std::string> alert_lines;
  if (in.alert_drop > 0) {
    const auto check = [&](const json& rule, const json& step, const json& was, const json& is, const json& change) {
      for (const char* metric : kAlerting) {
        const auto c = number(change, metric);
        if (!c || *c > -in.alert_drop + 1e-9) continue;
        alerts.push_back({{"rule", rule},
                          {"step", step},
                          {"metric", metric},
                          {"previous", was.value(metric, json())},
                          {"current", is.value(metric, json())},
                          {"change", *c}});
        alert_lines.push_back(
            (rule.is_null() ? std::string("Total") : rule.get<std::string>() + " / " + step.get<std::string>()) + ": " +
            metric + " fell by " + percent_text(-*c) + " (" + shown(was, metric) + " -> " + shown(is, metric) + ")");
      }
    };
    check(json(), json(), total_before, total, changes["total"]);
    for (auto rule = rules.begin(); rule != rules.end(); ++rule)
      for (auto step = rule->begin(); step != rule->end(); ++step)
        check(rule.key(), step.key(), before_of(rule.key(), step.key()), *step,
              changes["rules"][rule.key()][step.key()]);
  }

  const std::string day_format = in.whole_days ? "%d.%m.%Y" : "%d.%m.%Y %H:%M";
  const std::string span = format_in_zone(in.period.from_ms, in.zone, day_format) + " - " +
                           format_in_zone(in.period.to_ms - 1, in.zone, day_format);
  std::string text = "Messages, " + span;
  std::string html = "<p>Messages, " + span +
                     "</p><table><tr><th>Rule / step</th><th>Sent</th><th>Delivered</th><th>Failed</th>"
                     "<th>Opened</th><th>Clicked</th><th>Converted</th></tr>";
  for (auto rule = rules.begin(); rule != rules.end(); ++rule)
    for (auto step = rule->begin(); step != rule->end(); ++step) {
      const std::string label = rule.key() + " / " + step.key();
      text += "\n" + line_of(label, *step, before_of(rule.key(), step.key()));
      html += row_of(label, *step);
    }
  text += "\n" + line_of("Total", total, total_before);
  html += row_of("Total", total) + "</table>";
  if (!alert_lines.empty()) {
    text += "\nFell by " + percent_text(in.alert_drop) + " or more:";
    html += "<p>Fell by " + percent_text(in.alert_drop) + " or more:</p><ul>";
    for (const std::string& line : alert_lines) {
      text += "\n" + line;
      html += "<li>" + escape_html(line) + "</li>";
    }
    html += "</ul>";
  }
  return json{{"from", format_time_ms(in.period.from_ms)},
              {"to", format_time_ms(in.period.to_ms)},
              {"complete", in.complete},
              {"rules", std::move(rules)},
              {"total", std::move(total)},
              {"previous",
               {{"from", format_time_ms(in.previous_period.from_ms)},
                {"to", format_time_ms(in.previous_period.to_ms)},
                {"rules", std::move(rules_before)},
                {"total", std::move(total_before)}}},
              {"changes", std::move(changes)},
              {"alerts", std::move(alerts)},
              {"text", std::move(text)},
              {"html", std::move(html)}};
}

}  // namespace sb
