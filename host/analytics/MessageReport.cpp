#include "analytics/MessageReport.h"

#include <algorithm>

#include "analytics/ExecutionStats.h"
#include "util/Text.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

constexpr const char* kCounts[] = {"sent", "delivered", "failed", "opened", "clicked", "replied", "converted"};
constexpr const char* kRates[] = {"delivery_rate", "failure_rate",       "open_rate",      "click_rate",
                                  "reply_rate",    "click_to_open_rate", "conversion_rate"};
constexpr const char* kFalling[] = {"delivery_rate", "open_rate", "click_rate", "conversion_rate"};

std::optional<double> number(const json& figures, const char* metric) {
  const auto it = figures.find(metric);
  if (it == figures.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

using Counts = std::map<std::string, int64_t>;
struct StepCounts {
  Counts counts;
  bool delivery_reported = false;  // its provider reported deliveries
};
using RuleSteps = std::map<std::string, std::map<std::string, StepCounts>>;

// Every message step's counts, from each rule's stats.
RuleSteps counts_of(const std::map<std::string, json>& stats) {
  RuleSteps out;
  for (const auto& [rule, s] : stats) {
    auto& steps = out[rule];
    const json messages = s.value("messages", json::object());
    for (const auto& [step, figures] : messages.items()) {
      StepCounts& c = steps[step];
      for (const char* count : kCounts)
        if (figures.contains(count)) c.counts[count] = figures[count].get<int64_t>();
      c.delivery_reported = !figures.value("delivery_rate", json()).is_null();
    }
  }
  return out;
}

// A step of one period that the other does not have sent nothing then.
void add_missing(RuleSteps& to, const RuleSteps& from) {
  for (const auto& [rule, steps] : from)
    for (const auto& [step, c] : steps)
      if (!to[rule].count(step)) {
        StepCounts& none = to[rule][step];
        for (const auto& [count, n] : c.counts) none.counts[count] = 0;
      }
}

// The figures of both periods, {rule: {step: figures}}, and their totals. A
// step has a delivery rate when its provider reported deliveries in either
// period (one whose every message failed has 0 %, not none); the total has
// one when every step that sent has.
struct Tallies {
  json rules = json::object(), rules_before = json::object(), total, total_before;
};
Tallies tally(RuleSteps now, RuleSteps before) {
  add_missing(now, before);
  add_missing(before, now);
  Tallies out;
  Counts sum, sum_before;
  for (const char* count : kCounts)
    if (std::string_view(count) != "converted") sum[count] = sum_before[count] = 0;
  bool all_reported = true;
  for (const auto& [rule, steps] : now) {
    for (const auto& [step, c] : steps) {
      const StepCounts& was = before[rule][step];
      const bool reported = c.delivery_reported || was.delivery_reported;
      if (c.counts.at("sent") > 0 || was.counts.at("sent") > 0) all_reported = all_reported && reported;
      out.rules[rule][step] = with_rates(c.counts, reported);
      out.rules_before[rule][step] = with_rates(was.counts, reported);
      for (const auto& [count, n] : c.counts) sum[count] += n;
      for (const auto& [count, n] : was.counts) sum_before[count] += n;
    }
  }
  out.total = with_rates(sum, all_reported);
  out.total_before = with_rates(sum_before, all_reported);
  return out;
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
  Tallies tallies = tally(counts_of(in.now), counts_of(in.before));
  json& rules = tallies.rules;
  json& rules_before = tallies.rules_before;
  json& total = tallies.total;
  json& total_before = tallies.total_before;
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

  // Per step: the total mixes steps a rate does not apply to (SMS has no
  // opens, a rule without a goal no conversions), so it only informs.
  json alerts = json::array();
  std::vector<std::string> alert_lines;
  if (in.alert_drop > 0) {
    const auto check = [&](const std::string& rule, const std::string& step, const json& was, const json& is,
                           const json& change) {
      const auto alert = [&](const char* metric, double fall, const std::string& how) {
        alerts.push_back({{"rule", rule},
                          {"step", step},
                          {"metric", metric},
                          {"previous", was.value(metric, json())},
                          {"current", is.value(metric, json())},
                          {"change", change.value(metric, json())}});
        alert_lines.push_back(rule + " / " + step + ": " + metric + " " + how + " by " + percent_text(fall) + " (" +
                              shown(was, metric) + " -> " + shown(is, metric) + ")");
      };
      for (const char* metric : kFalling)
        if (const auto c = number(change, metric); c && *c <= -in.alert_drop + 1e-9) alert(metric, -*c, "fell");
      // Failures: the share of messages that did not fail fell that much.
      const auto failed = number(is, "failure_rate"), failed_before = number(was, "failure_rate");
      if (failed && failed_before && *failed_before < 100)
        if (const double kept = (100 - *failed) / (100 - *failed_before) - 1; kept <= -in.alert_drop + 1e-9)
          alert("failure_rate", -kept, "rose: the share not failed fell");
    };
    for (auto rule = rules.begin(); rule != rules.end(); ++rule)
      for (auto step = rule->begin(); step != rule->end(); ++step)
        check(rule.key(), step.key(), before_of(rule.key(), step.key()), *step,
              changes["rules"][rule.key()][step.key()]);
  }

  const std::string span = period_text(in.period, in.zone, in.whole_days);
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
  append_alerts("Fell by " + percent_text(in.alert_drop) + " or more", alert_lines, text, html);
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
