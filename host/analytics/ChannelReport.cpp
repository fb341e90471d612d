#include "analytics/ChannelReport.h"

#include <cmath>
#include <cstdio>

#include "util/Text.h"
#include "util/Time.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {

constexpr const char* kMetrics[] = {"records", "sales", "conversion", "revenue", "average_check"};
constexpr const char* kAlerting[] = {"records", "sales", "conversion", "revenue"};

std::optional<double> number(const json& figures, const char* metric) {
  const auto it = figures.find(metric);
  if (it == figures.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// `scale`: the period's length over the one before's, for the figures that
// grow with time.
json changes_of(const json& now, const json& before, double scale) {
  json out = json::object();
  for (const char* metric : kMetrics) {
    const auto n = number(now, metric);
    auto b = number(before, metric);
    const std::string_view name = metric;
    if (b && (name == "records" || name == "sales" || name == "revenue")) *b *= scale;
    out[metric] = b && *b > 0 ? json((n.value_or(0) - *b) / *b) : json();
  }
  return out;
}

std::string shown(const json& figures, const char* metric) {
  const auto it = figures.find(metric);
  if (it == figures.end() || it->is_null()) return "-";
  if (std::string_view(metric) == "conversion" || std::string_view(metric) == "roi")
    return percent_text(it->get<double>());
  return it->dump();
}

std::string channel_label(const std::string& name) { return name.empty() ? "No channel" : name; }

std::string line_of(const std::string& label, const json& figures, const json& before) {
  std::string line = label + ": " + shown(figures, "records") + " records, " + shown(figures, "sales") +
                     " sales, conversion " + shown(figures, "conversion");
  if (number(before, "records").value_or(0) > 0) line += " (was " + shown(before, "conversion") + ")";
  line += ", revenue " + shown(figures, "revenue");
  if (number(before, "records").value_or(0) > 0) line += " (was " + shown(before, "revenue") + ")";
  line += ", average check " + shown(figures, "average_check");
  if (!figures.value("cost", json()).is_null())
    line += ", cost " + shown(figures, "cost") + ", ROI " + shown(figures, "roi");
  return line;
}

std::string row_of(const std::string& label, const json& figures, const json& before) {
  std::string row = "<tr><td>" + escape_html(label) + "</td>";
  for (const char* metric : {"records", "sales", "conversion", "revenue", "average_check", "cost", "roi"})
    row += "<td>" + shown(figures, metric) + "</td>";
  row += "<td>" + (number(before, "records").value_or(0) > 0 ? shown(before, "conversion") : std::string("-")) +
         "</td></tr>";
  return row;
}

}  // namespace

// Records in the period before, of a channel or in all, for a fall to be
// one: a channel with one booking last week and none this week did not fall
// by 100 %. (A small salon's channel has a few a week: two are enough.)
constexpr double kFewestForAlerts = 2;

void append_alerts(const std::string& heading, const std::vector<std::string>& lines, std::string& text,
                   std::string& html) {
  if (lines.empty()) return;
  text += "\n" + heading + ":";
  html += "<p>" + escape_html(heading) + ":</p><ul>";
  for (const std::string& line : lines) {
    text += "\n" + line;
    html += "<li>" + escape_html(line) + "</li>";
  }
  html += "</ul>";
}

std::string period_text(const ReportPeriod& period, const std::string& zone, bool whole_days) {
  const std::string day_format = whole_days ? "%d.%m.%Y" : "%d.%m.%Y %H:%M";
  return format_in_zone(period.from_ms, zone, day_format) + " - " + format_in_zone(period.to_ms - 1, zone, day_format);
}

json channel_report(const ChannelReportInput& in) {
  json now = in.now.to_json(in.config), before = in.before.to_json(in.config);
  json out{{"entity", in.config.entity},
           {"from", format_time_ms(in.period.from_ms)},
           {"to", format_time_ms(in.period.to_ms)},
           {"complete", in.now.complete && in.before.complete},
           {"channels", now["channels"]},
           {"total", now["total"]},
           {"previous",
            {{"from", format_time_ms(in.previous_period.from_ms)},
             {"to", format_time_ms(in.previous_period.to_ms)},
             {"channels", before["channels"]},
             {"total", before["total"]}}}};
  const int64_t length = in.period.to_ms - in.period.from_ms;
  const int64_t length_before = in.previous_period.to_ms - in.previous_period.from_ms;
  const double scale = length_before > 0 ? static_cast<double>(length) / static_cast<double>(length_before) : 1;
  json changes{{"total", changes_of(now["total"], before["total"], scale)}, {"channels", json::object()}};
  for (const auto& [name, figures] : now["channels"].items())
    changes["channels"][name] = changes_of(figures, before["channels"].value(name, json::object()), scale);
  // A channel that brought something before and nothing now fell the most.
  for (const auto& [name, figures] : before["channels"].items())
    if (!changes["channels"].contains(name)) changes["channels"][name] = changes_of(json::object(), figures, scale);

  json alerts = json::array();
  std::string alert_lines;
  if (in.alert_drop > 0) {
    const auto check = [&](const json& channel, const json& was, const json& is, const json& change) {
      if (number(was, "records").value_or(0) < kFewestForAlerts) return;
      for (const char* metric : kAlerting) {
        const auto c = number(change, metric);
        if (!c || *c > -in.alert_drop + 1e-9) continue;
        alerts.push_back({{"channel", channel},
                          {"metric", metric},
                          {"previous", was.value(metric, json())},
                          {"current", is.value(metric, json(0))},
                          {"change", *c}});
        alert_lines += "\n" + (channel.is_null() ? std::string("Total") : channel_label(channel.get<std::string>())) +
                       ": " + metric + " fell by " + percent_text(-*c) + " (" + shown(was, metric) + " -> " +
                       (is.contains(metric) ? shown(is, metric) : "0") + ")";
      }
    };
    check(json(), before["total"], now["total"], changes["total"]);
    for (const auto& [name, change] : changes["channels"].items())
      check(name, before["channels"].value(name, json::object()), now["channels"].value(name, json::object()), change);
  }
  out["changes"] = std::move(changes);
  out["alerts"] = alerts;

  const std::string span = period_text(in.period, in.zone, in.whole_days);
  std::string text = "Advertising channels (" + in.config.entity + "), " + span;
  std::string html = "<p>Advertising channels (" + escape_html(in.config.entity) + "), " + span +
                     "</p><table><tr><th>Channel</th><th>Records</th><th>Sales</th><th>Conversion</th>"
                     "<th>Revenue</th><th>Average check</th><th>Cost</th><th>ROI</th><th>Conversion before</th></tr>";
  for (const auto& [name, figures] : now["channels"].items()) {
    const json& was = before["channels"].value(name, json::object());
    text += "\n" + line_of(channel_label(name), figures, was);
    html += row_of(channel_label(name), figures, was);
  }
  text += "\n" + line_of("Total", now["total"], before["total"]);
  html += row_of("Total", now["total"], before["total"]) + "</table>";
  if (!alert_lines.empty()) {
    text += "\nFell by " + percent_text(in.alert_drop) + " or more:" + alert_lines;
    html += "<p>Fell by " + percent_text(in.alert_drop) + " or more:</p><ul>";
    for (size_t start = 1; start < alert_lines.size();) {
      const size_t end = std::min(alert_lines.find('\n', start), alert_lines.size());
      html += "<li>" + escape_html(alert_lines.substr(start, end - start)) + "</li>";
      start = end + 1;
    }
    html += "</ul>";
  }
  out["text"] = std::move(text);
  out["html"] = std::move(html);
  return out;
}

}  // namespace sb
