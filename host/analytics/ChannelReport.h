// A scheduled report of the advertising channels (a rule's trigger
// {"report": "channels", ...}): the figures of one period beside those of
// the period before it, how each changed, what fell far enough to alert,
// and the whole as text and as an HTML table for a message.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analytics/ChannelCounts.h"

namespace sb {

struct ReportPeriod {
  int64_t from_ms = 0, to_ms = 0;  // [from, to)
};

// "30.11.2026 - 06.12.2026" on `zone`'s clock, with the times when the
// period is not whole days: a report's text says what it covers so.
std::string period_text(const ReportPeriod& period, const std::string& zone, bool whole_days);

// A report's alerts after its figures: "<heading>:" and a line each, in the
// text and as an HTML list; nothing when there are none.
void append_alerts(const std::string& heading, const std::vector<std::string>& lines, std::string& text,
                   std::string& html);

struct ChannelReportInput {
  const Config::AdChannelsConfig& config;
  ReportPeriod period, previous_period;
  const ChannelCounts& now;
  const ChannelCounts& before;
  double alert_drop = 0;    // a fall of conversion, sales or revenue by this much (0.2) is an alert; 0: none
  std::string zone;         // dates in the text are on this clock
  bool whole_days = false;  // a calendar period: the text names its days, not its times
};

// {"entity", "from", "to", "complete", "channels", "total",
//  "previous": {"from", "to", "channels", "total"},
//  "changes": {"total": {metric: change}, "channels": {name: {metric: change}}},
//  "alerts": [{"channel": name or null (the total), "metric", "previous", "current", "change"}],
//  "text", "html"}
// A change is relative ((now - before) / before: -0.25 is a quarter less),
// null where there was nothing before. Records, sales and revenue compare
// per unit of time when the periods differ in length (February against
// January, a day of 23 hours); conversion and the average check as they are.
nlohmann::json channel_report(const ChannelReportInput& in);

}  // namespace sb
