// A scheduled report of the messages rules sent (a rule's trigger
// {"report": "messages", ...}): for each message step of each rule, how many
// were sent, delivered, opened, clicked, replied to, failed and converted in
// one period beside the period before it, the rates that fell far enough to
// alert, and the whole as text and as an HTML table for a message.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "analytics/ChannelReport.h"  // ReportPeriod

namespace sb {

struct MessageReportInput {
  ReportPeriod period, previous_period;
  // Each rule's ExecutionStats::to_json() over the period, and over the one before.
  const std::map<std::string, nlohmann::json>& now;
  const std::map<std::string, nlohmann::json>& before;
  bool complete = true;     // every execution of both periods was counted
  double alert_drop = 0;    // a rate falling by this much (0.2) is an alert; 0: none
  std::string zone;         // dates in the text are on this clock
  bool whole_days = false;  // a calendar period: the text names its days, not its times
};

// {"from", "to", "complete",
//  "rules": {rule: {step: figures}}, "total": figures,
//  "previous": {"from", "to", "rules", "total"},
//  "changes": {"total": {metric: change}, "rules": {rule: {step: {metric: change}}}},
//  "alerts": [{"rule", "step", "metric", "previous", "current", "change"}],
//  "text", "html"}
// figures: a step's counts and rates as GET /api/v1/executions/stats gives
// them (with_rates: percent, of the stage before); a step of only one period
// is in both, with nothing sent in the other. A change is relative (-0.25: a
// quarter less), null where there was nothing before; counts compare per
// unit of time when the periods differ in length. Alerts, per step: a
// delivery, open, click or conversion rate that fell by alert_drop or more,
// or a failure rate whose complement (the messages not failed) did. The
// total mixes steps a rate does not apply to: it informs, never alerts.
nlohmann::json message_report(const MessageReportInput& in);

}  // namespace sb
