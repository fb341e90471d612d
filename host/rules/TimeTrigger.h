// Triggers that nobody posts: the host produces their events itself, once
// per occurrence (the event's id names the occurrence, so a repeat is a
// duplicate the store drops, across restarts and hosts).
//
//   {"schedule": "every day at 09:00", "timezone": "Europe/Moscow"}     schedule.fired
//   {"schedule": "0 9 * * 1-5"}                                         (util/Schedule.h)
//   {"special_date": "contact.fields.birthday", "at": "10:00"}          contact.special_date
//        on the day, at that local time in the contact's zone (else the
//        trigger's "timezone", else the account's); 29 February falls on
//        28 February in other years
//   {"overdue": "deal", "field": "entity.fields.due", "by": "1d", "closed": ["won", "lost"]}
//        <type>.overdue, once per due time, for entities not in a closed status
//   {"report": "channels", "schedule": "every monday at 09:00", "period": "week", "alert": "20%"}
//        report.channels: the advertising channels' figures (config's
//        "ad_channels") over the period before the run and the one before
//        it; with "alert", only when a figure fell by that much
//   {"report": "messages", "rules": ["welcome"], "schedule": ..., "period": ..., "alert": ...}
//        report.messages: what the rules' messages did (sent, delivered,
//        opened, clicked, failed, converted), the same way
//   {"report": "tasks", "schedule": ..., "period": ..., "alert": ...}
//        report.tasks: the tasks created, done, overdue, their completion
//        rate and time, in all and per manager, the same way
//
// Their events come from "time:<rule>": only their own rule sees them.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rules/Condition.h"
#include "util/Schedule.h"

namespace sb {

struct TimeTrigger {
  enum class Kind { kSchedule, kSpecialDate, kOverdue, kReport };
  Kind kind = Kind::kSchedule;
  std::optional<Schedule> schedule;
  std::string text;      // the schedule as written
  std::string timezone;  // schedules: "" = the account's; special dates: used when the contact has no zone
  std::string field;     // a dotted path in the contact (special dates) or the entity (overdue)
  int at_minute = 9 * 60;
  int offset_days = 0;  // special dates: the day it fires, from the contact's day ("-3d": three days before)
  std::string entity_type;
  int64_t by_ms = 0;
  std::set<std::string> closed;
  std::string report;              // reports: what is counted ("channels", "messages")
  std::vector<std::string> rules;  // messages reports: the rules counted (empty: every rule that sends messages)
  std::string period;              // reports: "day", "week", "month", "quarter"; "" = since the run before
  int64_t period_ms = 0;           // ... or a length ("7d")
  double alert_drop = 0;           // reports: a fall (0.2 = 20 %) that makes the run an alert; 0 = always report

  // Whether `trigger` is one of these (then compile it).
  static bool is_time_trigger(const nlohmann::json& trigger);
  static std::optional<TimeTrigger> compile(const nlohmann::json& trigger, std::vector<ConditionProblem>& problems);

  std::string event_type() const;  // schedule.fired, contact.special_date, <type>.overdue, report.<report>
  std::string describe() const;    // for switchboard validate
};

// A dynamic segment: the contacts its condition matches. The host checks
// the contacts that changed at every time check, and every contact on its
// refresh schedule (conditions on dates change as time passes).
struct DynamicSegment {
  std::string name;
  std::shared_ptr<const Condition> condition;  // over {"contact": ...}
  std::optional<Schedule> refresh;             // none: once a day
  // Its filter and schedule as written: a store keeps the last refresh's time
  // with it, so that another node (or this one restarted) refreshes on the
  // schedule, and at once only a segment defined anew.
  std::string definition = {};
};

// The source of the events a rule's time trigger produces.
inline std::string time_source(const std::string& rule) { return "time:" + rule; }

}  // namespace sb
