#include "rules/TimeTrigger.h"

#include <algorithm>

#include "util/Time.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {

// "contact.fields.birthday", "fields.birthday" and "birthday" are the same
// path: a record's own keys hold no dates, so a single name is a field.
std::optional<std::string> path_in(const std::string& written, const std::string& record) {
  const std::string prefix = record + ".";
  if (written.rfind(prefix, 0) == 0) {
    const std::string path = written.substr(prefix.size());
    return path.find('.') == std::string::npos ? "fields." + path : path;
  }
  if (written.find('.') == std::string::npos) return "fields." + written;  // a field's short name
  if (written.rfind("fields.", 0) == 0) return written;
  return std::nullopt;  // another record's ("entity." for a contact), or a misspelt root ("contcat.")
}

std::string clock_text(int minute) {
  const auto two = [](int n) { return std::string(n < 10 ? "0" : "") + std::to_string(n); };
  return two(minute / 60) + ":" + two(minute % 60);
}

void check_zone(const json& trigger, TimeTrigger& t, std::vector<ConditionProblem>& problems) {
  if (!trigger.contains("timezone")) return;
  if (!trigger["timezone"].is_string() || !is_time_zone(trigger["timezone"].get<std::string>()))
    return problems.push_back({"/timezone", "expected an IANA time zone such as \"Europe/Moscow\""});
  t.timezone = trigger["timezone"].get<std::string>();
}

const std::set<std::string> kKeys{"schedule", "special_date", "overdue", "report"};

const std::set<std::string> kReports{"channels", "messages", "tasks"};
const std::set<std::string> kPeriods{"day", "week", "month", "quarter"};

void compile_schedule(const json& trigger, TimeTrigger& t, std::vector<ConditionProblem>& problems) {
  t.text =
      trigger.contains("schedule") && trigger["schedule"].is_string() ? trigger["schedule"].get<std::string>() : "";
  std::string why;
  t.schedule = Schedule::parse(t.text, why);
  if (!t.schedule) problems.push_back({"/schedule", why});
}

// "20%" or 0.2: a fall by a fifth.
std::optional<double> fraction(const json& value) {
  double f = -1;
  if (value.is_number()) f = value.get<double>();
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    try {
      size_t used = 0;
      const double percent = std::stod(text, &used);
      if (used + 1 == text.size() && text.back() == '%') f = percent / 100;
    } catch (const std::exception&) {
    }
  }
  if (!(f > 0 && f <= 1)) return std::nullopt;
  return f;
}

}  // namespace

bool TimeTrigger::is_time_trigger(const json& trigger) {
  if (!trigger.is_object()) return false;
  for (const auto& key : kKeys)
    if (trigger.contains(key)) return true;
  return false;
}

std::optional<TimeTrigger> TimeTrigger::compile(const json& trigger, std::vector<ConditionProblem>& problems) {
  const size_t before = problems.size();
  TimeTrigger t;
  std::set<std::string> allowed;
  std::string kind_key;
  if (trigger.contains("report")) {
    kind_key = "report";
    t.kind = Kind::kReport;
    allowed = {"report", "schedule", "timezone", "period", "alert"};
    t.report = trigger["report"].is_string() ? trigger["report"].get<std::string>() : "";
    if (!kReports.count(t.report))
      problems.push_back({"/report",
                          "expected \"channels\" (the advertising channels of the config's ad_channels), "
                          "\"messages\" (what the rules' messages did) or \"tasks\" (the tasks created, done and "
                          "overdue)"});
    if (t.report == "messages") {
      allowed.insert("rules");
      const json rules = trigger.value("rules", json::array());
      if (!rules.is_array() || !std::all_of(rules.begin(), rules.end(), [](const json& r) {
            return r.is_string() && !r.get_ref<const std::string&>().empty();
          }))
        problems.push_back({"/rules", "expected the names of the rules whose messages are counted"});
      else
        for (const json& r : rules) t.rules.push_back(r.get<std::string>());
    }
    if (!trigger.contains("schedule"))
      problems.push_back({"/schedule", "a report needs a schedule, such as \"every monday at 09:00\""});
    else
      compile_schedule(trigger, t, problems);
    if (trigger.contains("period")) {
      const std::string period = trigger["period"].is_string() ? trigger["period"].get<std::string>() : "";
      if (kPeriods.count(period))
        t.period = period;
      else if (std::any_of(period.begin(), period.end(), [](char c) { return c >= '0' && c <= '9'; }))
        t.period_ms = parse_duration_ms(period).value_or(0);  // a length ("7d"); "Week" is no calendar week
      if (t.period.empty() && t.period_ms <= 0)
        problems.push_back(
            {"/period", "expected \"day\", \"week\", \"month\", \"quarter\" or a length such as \"7d\""});
    }
    if (trigger.contains("alert")) {
      const auto drop = fraction(trigger["alert"]);
      if (!drop)
        problems.push_back(
            {"/alert", "expected the fall that makes an alert, such as \"20%\" (more than 0, at most 100%)"});
      else
        t.alert_drop = *drop;
    }
  } else if (trigger.contains("schedule")) {
    kind_key = "schedule";
    t.kind = Kind::kSchedule;
    allowed = {"schedule", "timezone"};
    compile_schedule(trigger, t, problems);
  } else if (trigger.contains("special_date")) {
    t.kind = Kind::kSpecialDate;
    kind_key = "special_date";
    allowed = {"special_date", "at", "timezone", "offset"};
    if (!trigger["special_date"].is_string() || trigger["special_date"].get<std::string>().empty())
      problems.push_back({"/special_date", "expected the contact's date field, e.g. \"contact.fields.birthday\""});
    else if (auto field = path_in(trigger["special_date"].get<std::string>(), "contact"))
      t.field = *field;
    else
      problems.push_back({"/special_date", "'" + trigger["special_date"].get<std::string>() +
                                               "' is not a field of the contact: expected \"contact.fields.<name>\" "
                                               "or a field's short name (\"birthday\")"});
    if (trigger.contains("offset")) {
      constexpr int64_t kDay = 86400000;
      const auto offset =
          trigger["offset"].is_string() ? parse_duration_ms(trigger["offset"].get<std::string>()) : std::nullopt;
      if (!offset || *offset % kDay != 0 || *offset / kDay < -366 || *offset / kDay > 366)
        problems.push_back({"/offset", "expected whole days within a year, such as \"-3d\" (three days before)"});
      else
        t.offset_days = static_cast<int>(*offset / kDay);
    }
    if (trigger.contains("at")) {
      const auto clock =
          trigger["at"].is_string() ? SendWindow::parse_clock(trigger["at"].get<std::string>()) : std::nullopt;
      if (!clock || *clock >= 24 * 60)
        problems.push_back({"/at", "expected a local time of day such as \"10:00\""});
      else
        t.at_minute = *clock;
    }
  } else {
    t.kind = Kind::kOverdue;
    kind_key = "overdue";
    allowed = {"overdue", "field", "by", "closed"};
    if (!trigger["overdue"].is_string() || trigger["overdue"].get<std::string>().empty())
      problems.push_back({"/overdue", "expected the entity type, e.g. \"deal\" or \"task\""});
    else
      t.entity_type = trigger["overdue"].get<std::string>();
    const json& written = trigger.contains("field") ? trigger["field"] : json("entity.fields.deadline");
    if (auto field = written.is_string() ? path_in(written.get<std::string>(), "entity") : std::nullopt)
      t.field = *field;
    else
      problems.push_back(
          {"/field",
           (written.is_string() ? "'" + written.get<std::string>() + "' is not a field of the entity: " : "") +
               "expected \"entity.fields.<name>\" or a field's short name (\"due\")"});
    if (trigger.contains("by")) {
      const auto by = trigger["by"].is_string() ? parse_duration_ms(trigger["by"].get<std::string>()) : std::nullopt;
      if (!by || *by < 0)
        problems.push_back({"/by", "expected how long past due, e.g. \"1d\" or \"2h\""});
      else
        t.by_ms = *by;
    }
    if (trigger.contains("closed")) {
      if (!trigger["closed"].is_array()) problems.push_back({"/closed", "expected a list of statuses"});
      for (const json& s : trigger.value("closed", json::array()))
        if (s.is_string()) t.closed.insert(s.get<std::string>());
    } else if (t.entity_type == "task") {
      t.closed = {"done", "cancelled"};
    }
  }
  check_zone(trigger, t, problems);
  for (const auto& [key, value] : trigger.items())
    if (!allowed.count(key))
      problems.push_back({"/" + key, "does not go with \"" + kind_key + "\"; expected " + [&] {
                            std::string keys;
                            for (const auto& k : allowed) keys += (keys.empty() ? "" : ", ") + k;
                            return keys;
                          }()});
  if (problems.size() != before) return std::nullopt;
  return t;
}

std::string TimeTrigger::event_type() const {
  switch (kind) {
    case Kind::kSchedule:
      return "schedule.fired";
    case Kind::kSpecialDate:
      return "contact.special_date";
    case Kind::kReport:
      return "report." + report;
    case Kind::kOverdue:
      break;
  }
  return entity_type + ".overdue";
}

std::string TimeTrigger::describe() const {
  switch (kind) {
    case Kind::kSchedule:
      return "schedule \"" + text + "\" (" + (timezone.empty() ? "the account's time zone" : timezone) + ")";
    case Kind::kSpecialDate:
      return "special date contact." + field +
             (offset_days == 0 ? ""
                               : " " + std::to_string(offset_days < 0 ? -offset_days : offset_days) +
                                     (offset_days < 0 ? " days before" : " days after")) +
             " at " + clock_text(at_minute) + " (" + (timezone.empty() ? "the contact's time zone" : timezone) + ")";
    case Kind::kReport:
      return "report " + report + " on schedule \"" + text + "\" (" +
             (timezone.empty() ? "the account's time zone" : timezone) + "), over " +
             (!period.empty() ? "the last " + period
              : period_ms     ? "the last " + std::to_string(period_ms / 60000) + " min"
                              : "the time since the run before") +
             (alert_drop > 0
                  ? ", only when a figure fell by " + std::to_string(static_cast<int>(alert_drop * 100 + 0.5)) + "%"
                  : "");
    case Kind::kOverdue:
      break;
  }
  std::string closed_text;
  for (const auto& s : closed) closed_text += (closed_text.empty() ? "" : ", ") + s;
  return entity_type + " overdue: entity." + field + (by_ms ? " + " + std::to_string(by_ms / 60000) + " min" : "") +
         (closed_text.empty() ? "" : " (not when " + closed_text + ")");
}

}  // namespace sb
