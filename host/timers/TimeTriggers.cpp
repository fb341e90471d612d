#include "timers/TimeTriggers.h"

#include <date/tz.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <unordered_set>

#include "analytics/ChannelReport.h"
#include "analytics/MessageReport.h"
#include "analytics/RuleExecutions.h"
#include "analytics/TaskCounts.h"
#include "analytics/TaskReport.h"
#include "log/Logger.h"
#include "rules/SegmentMembership.h"
#include "store/ContactAliases.h"
#include "util/JsonText.h"
#include "util/Text.h"
#include "util/ThreadName.h"
#include "util/Time.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {

using Ms = std::chrono::milliseconds;
constexpr int64_t kHour = 3'600'000;

// Statuses that close a deal (or any entity) in CRMs, by their usual names:
// one in them is never overdue.
// In lower case: a status matches in any case ("Won", "УСПЕШНО").
const std::set<std::string> kClosedStatuses{"won",
                                            "lost",
                                            "lose",
                                            "done",
                                            "closed",
                                            "closed won",
                                            "closed lost",
                                            "cancelled",
                                            "canceled",
                                            "успешно",
                                            "закрыто",
                                            "выиграна",
                                            "проиграна",
                                            "отменена",
                                            "успешно реализовано",
                                            "закрыто и не реализовано",
                                            "completed",
                                            "paid",
                                            "завершено",
                                            "успешно завершено",
                                            "оплачено",
                                            "отменено",
                                            "отказ"};

EventRecord time_event(const std::string& id, const std::string& type, const std::string& source, int64_t at_ms,
                       int64_t now_ms, json data) {
  EventRecord e;
  e.id = id;
  e.type = type;
  e.source = source;
  e.occurred_at_ms = at_ms;
  e.received_at_ms = now_ms;
  e.body_json = dump_text(json{{"id", id}, {"type", type}, {"time", format_time_ms(at_ms)}, {"data", std::move(data)}});
  return e;
}

json object_of(const std::string& text) {
  json data = json::parse(text, nullptr, false);
  return data.is_object() ? data : json::object();
}

// The runs of a rule's schedule as they come due: the latest one due, and
// after it is stored, the next. At the first check, one missed within the
// hour before runs late, once (a host restarted), if the store has seen
// this rule's schedule before: a rule new to it (or given a new schedule)
// begins with its next run, not with one from before it was written.
class ScheduledRuns {
 public:
  ScheduledRuns(std::string rule, Schedule schedule, std::string text, std::string zone)
      : rule_(std::move(rule)), schedule_(std::move(schedule)), zone_(std::move(zone)), written_(text + " " + zone_) {}

  std::optional<int64_t> due(int64_t now, Store& store) {
    if (!started_) {
      next_ = schedule_.next_after(seen_before(store) ? now - kHour : now - 1, zone_);  // a run at `now` is due
      started_ = true;
    }
    std::optional<int64_t> latest, after = next_;
    while (after && *after <= now) {
      latest = after;
      after = schedule_.next_after(*after, zone_);
    }
    if (latest) after_delivery_ = after;
    return latest;
  }
  void delivered() {
    if (after_delivery_) next_ = *after_delivery_;
    after_delivery_.reset();
  }
  // The run before the one at `at` (none within eight years: a day before).
  int64_t previous(int64_t at) const {
    for (const int64_t back : {kHour, 25 * kHour, 8 * 24 * kHour, 32 * 24 * kHour, 93 * 24 * kHour, 367 * 24 * kHour,
                               8 * 367 * 24 * kHour}) {
      auto run = schedule_.next_after(at - back, zone_);
      if (!run || *run >= at) continue;
      for (auto next = schedule_.next_after(*run, zone_); next && *next < at; next = schedule_.next_after(*next, zone_))
        run = next;
      return *run;
    }
    return at - 24 * kHour;
  }
  const std::string& zone() const { return zone_; }

 private:
  bool seen_before(Store& store) const {
    try {
      if (store.kv_get(kSchedulesSeen, rule_) == written_) return true;
      store.kv_put(kSchedulesSeen, rule_, written_);
    } catch (const std::exception&) {
      // Unread: taken as new (no run late), which at worst skips one run missed while down.
    }
    return false;
  }

  std::string rule_;
  Schedule schedule_;
  std::string zone_;
  std::string written_;  // the schedule as written, and its zone
  bool started_ = false;
  std::optional<int64_t> next_;                           // none: it never runs again
  std::optional<std::optional<int64_t>> after_delivery_;  // next_ once the run due now is stored
};

class ScheduleProducer final : public TimeProducer {
 public:
  ScheduleProducer(std::string rule, const TimeTrigger& t, std::string zone)
      : rule_(std::move(rule)), runs_(rule_, *t.schedule, t.text, std::move(zone)) {}

  void due(int64_t now, Store& store, std::vector<EventRecord>& out) override {
    const auto latest = runs_.due(now, store);
    if (!latest) return;
    const std::string at = format_time_ms(*latest);
    out.push_back(time_event("time:" + rule_ + ":" + at, "schedule.fired", time_source(rule_), *latest, now,
                             {{"rule", rule_}, {"scheduled_for", at}}));
  }
  void delivered() override { runs_.delivered(); }

 private:
  std::string rule_;
  ScheduledRuns runs_;
};

// A scheduled report (rules/TimeTrigger.h): at each run, what it counts
// over the period before it beside the period before that. With an alert
// threshold, a run where nothing fell that far produces nothing.
class ReportProducer : public TimeProducer {
 public:
  ReportProducer(std::string rule, const TimeTrigger& t, std::string zone)
      : t_(t), runs_(rule, *t.schedule, t.text, std::move(zone)), rule_(std::move(rule)) {}

  void due(int64_t now, Store& store, std::vector<EventRecord>& out) override {
    const auto latest = runs_.due(now, store);
    if (!latest) return;
    const ReportPeriod period = period_before(*latest);
    // The period before, of the same kind: the calendar one before, or as
    // long again (a weekday schedule's Monday covers three days, and the
    // figures it compares with are the three days before).
    const ReportPeriod previous = t_.period.empty() ? ReportPeriod{2 * period.from_ms - period.to_ms, period.from_ms}
                                                    : period_before(period.from_ms);
    json data = report(store, period, previous, *latest);
    if (data.is_null()) return;                               // nothing to count
    if (t_.alert_drop > 0 && data["alerts"].empty()) return;  // delivered() moves on: nothing fell
    const std::string at = format_time_ms(*latest);
    data["rule"] = rule_;
    data["report"] = t_.report;
    data["scheduled_for"] = at;
    out.push_back(
        time_event("time:" + rule_ + ":" + at, t_.event_type(), time_source(rule_), *latest, now, std::move(data)));
  }
  void delivered() override { runs_.delivered(); }

 protected:
  // The report's data (its "alerts" among them), or null when there is
  // nothing to count; `run_ms`: when this run was scheduled.
  virtual json report(Store& store, const ReportPeriod& period, const ReportPeriod& previous, int64_t run_ms) = 0;

  const TimeTrigger t_;
  ScheduledRuns runs_;

 private:
  // The period a run at `at` reports on: the whole day, week (from Monday),
  // month or quarter before the one `at` falls in, on the report's clock; a
  // length before `at`; or the time since the run before.
  ReportPeriod period_before(int64_t at) const {
    if (t_.period_ms > 0) return {at - t_.period_ms, at};
    if (t_.period.empty()) return {runs_.previous(at), at};
    return {start_of_unit(at, 1), start_of_unit(at, 0)};
  }

  // The local beginning of the day (week, month, quarter) `ms` falls in,
  // `back` of them before.
  int64_t start_of_unit(int64_t ms, int back) const {
    const date::time_zone* tz = date::locate_zone(runs_.zone());
    const auto day = date::floor<date::days>(tz->to_local(date::sys_time<Ms>{Ms{ms}}));
    date::local_days start;
    if (t_.period == "day") {
      start = day - date::days{back};
    } else if (t_.period == "week") {
      const unsigned since_monday = (date::weekday{day}.c_encoding() + 6) % 7;
      start = day - date::days{since_monday + 7 * back};
    } else {
      const int months = t_.period == "month" ? 1 : 3;
      const date::year_month_day ymd{day};
      const unsigned first = (static_cast<unsigned>(ymd.month()) - 1) / months * months + 1;
      const date::year_month unit = date::year_month{ymd.year(), date::month{first}} - date::months{months * back};
      start = date::local_days{unit / 1};
    }
    return std::chrono::duration_cast<Ms>(tz->to_sys(start, date::choose::earliest).time_since_epoch()).count();
  }

  std::string rule_;
};

// The advertising channels' records (the config's ad_channels) made in each
// period; the period before as it stood as long after its end as this run
// is after this one's.
class ChannelsReportProducer final : public ReportProducer {
 public:
  ChannelsReportProducer(std::string rule, const TimeTrigger& t, std::string zone, Config::AdChannelsConfig config)
      : ReportProducer(std::move(rule), t, std::move(zone)), config_(std::move(config)) {}

 private:
  static constexpr size_t kMostRecords = 1'000'000;

  json report(Store& store, const ReportPeriod& period, const ReportPeriod& previous, int64_t run_ms) override {
    if (config_.entity.empty()) return nullptr;  // refused by validate: nothing to count
    const int64_t lag = run_ms - period.to_ms;
    const auto counted = [&](const ReportPeriod& p, std::optional<int64_t> sold_by) {
      RecordQuery bounds;
      bounds.created_after_ms = p.from_ms;
      bounds.created_before_ms = p.to_ms - 1;
      return *count_channels(store, config_, bounds, kMostRecords, {}, sold_by);
    };
    const ChannelCounts now_counts = counted(period, std::nullopt),
                        before_counts = counted(previous, previous.to_ms + lag);
    return channel_report(
        {config_, period, previous, now_counts, before_counts, t_.alert_drop, runs_.zone(), !t_.period.empty()});
  }

  Config::AdChannelsConfig config_;
};

// The tasks created in each period, as they stood as long after its end as
// this run is after the period's (a task of the week before had a week
// longer to be done).
class TasksReportProducer final : public ReportProducer {
 public:
  using ReportProducer::ReportProducer;

 private:
  static constexpr size_t kMostTasks = 1'000'000;

  json report(Store& store, const ReportPeriod& period, const ReportPeriod& previous, int64_t run_ms) override {
    const int64_t lag = run_ms - period.to_ms;
    const auto counted = [&](const ReportPeriod& p) {
      TaskBounds bounds;
      bounds.created_after_ms = p.from_ms;
      bounds.created_before_ms = p.to_ms - 1;
      return count_tasks(store, bounds, p.to_ms + lag, kMostTasks, {}, /*as_it_stood=*/true);
    };
    const auto now_counts = counted(period), before_counts = counted(previous);
    if (!now_counts || !before_counts) return nullptr;
    return task_report(
        {period, previous, *now_counts, *before_counts, t_.alert_drop, runs_.zone(), !t_.period.empty()});
  }
};

// What the messages of the executions each rule began in each period did.
class MessagesReportProducer final : public ReportProducer {
 public:
  MessagesReportProducer(std::string rule, const TimeTrigger& t, std::string zone, const StatsRules& stats_rules)
      : ReportProducer(std::move(rule), t, std::move(zone)), stats_rules_(stats_rules) {
    // Named, or every rule that sends messages.
    for (const auto& [name, stats] : stats_rules_)
      if (t.rules.empty() ? !stats.channel_steps.empty()
                          : std::find(t.rules.begin(), t.rules.end(), name) != t.rules.end())
        counted_.push_back(name);
  }

 private:
  static constexpr size_t kMostExecutions = 1'000'000;  // per rule and period

  // Each period as it stood as long after its end as this run is after the
  // period's: the one before had longer for its reports and goals to come,
  // which would make every week look worse than the one before.
  json report(Store& store, const ReportPeriod& period, const ReportPeriod& previous, int64_t run_ms) override {
    std::map<std::string, json> now, before;
    bool complete = true;
    const int64_t lag = run_ms - period.to_ms;
    for (const std::string& name : counted_)
      for (auto [p, figures] : {std::pair{&period, &now}, std::pair{&previous, &before}}) {
        const auto counted =
            count_executions(store, name, stats_rules_, p->from_ms, p->to_ms, kMostExecutions, {}, p->to_ms + lag);
        if (!counted) return nullptr;
        complete = complete && counted->complete;
        (*figures)[name] = counted->stats.to_json();
      }
    return message_report({period, previous, now, before, complete, t_.alert_drop, runs_.zone(), !t_.period.empty()});
  }

  const StatsRules stats_rules_;
  std::vector<std::string> counted_;
};

bool leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

class SpecialDateProducer final : public TimeProducer {
 public:
  SpecialDateProducer(std::string rule, const TimeTrigger& t, std::string account_zone)
      : rule_(std::move(rule)),
        field_(t.field),
        at_minute_(t.at_minute),
        offset_days_(t.offset_days),
        zone_(t.timezone),
        account_zone_(std::move(account_zone)) {
    const auto dot = field_.rfind('.');
    needle_ = "\"" + (dot == std::string::npos ? field_ : field_.substr(dot + 1)) + "\"";
  }

  void due(int64_t now, Store& store, std::vector<EventRecord>& out) override {
    if (now >= read_again_at_)
      read_contacts(now, store);
    else
      read_changed_contacts(now, store);
    handed_ = 0;
    for (auto it = pending_.begin(); it != pending_.end() && it->first <= now;) {
      // A contact known by an address alone, merged since into one with an
      // id: that one's own occurrence (read as it changed, with this one's
      // id as one it is also known by) stands for it, on its own day.
      const std::string& key = it->second.contact->key;
      if (!is_id_key(key))
        if (const auto now_known = store.contact(key); now_known && now_known->key != key) {
          pending_of_.erase(key);
          it = pending_.erase(it);
          continue;
        }
      out.push_back(it->second);
      ++it;
      ++handed_;
    }
  }
  void delivered() override {
    for (; handed_ > 0; --handed_) {
      sent_.insert(pending_.begin()->second.id);
      pending_of_.erase(pending_.begin()->second.contact->key);
      pending_.erase(pending_.begin());
    }
  }

 private:
  const date::time_zone* zone_named(const std::string& name) {
    auto [it, fresh] = zones_.try_emplace(name, nullptr);
    if (fresh) try {
        it->second = date::locate_zone(name);
      } catch (const std::runtime_error&) {
        it->second = nullptr;
      }
    return it->second;
  }

  // The contacts whose day (in their zone) comes before the next read, or
  // came earlier today; the rest of the day's are already pending or sent.
  void read_contacts(int64_t now, Store& store) {
    if (sent_.size() > 100000) sent_.clear();  // duplicates are dropped by the store anyway
    read_since(std::nullopt, now, store);
    read_again_at_ = now + kHour;  // once read: a read that failed runs again at the next check
  }

  // Between the hourly reads, at every check: the contacts changed since the
  // last read, so a birthday added today (or moved) comes at its time, not up
  // to an hour late. A contact's time is its event's arrival, a little before
  // its commit: a minute's margin.
  void read_changed_contacts(int64_t now, Store& store) { read_since(last_read_ - 60'000, now, store); }

  void read_since(std::optional<int64_t> changed_after, int64_t now, Store& store) {
    const int64_t started = now_ms();
    RecordQuery page;
    page.limit = 1000;
    page.updated_after_ms = changed_after;
    page.few_in_bounds = changed_after.has_value();
    for (;;) {
      const auto rows = store.contacts_page(page);
      for (const StoredContact& c : rows) {
        // Read again: its date may have moved.
        if (const auto it = pending_of_.find(c.key); it != pending_of_.end()) {
          pending_.erase(it->second);
          pending_of_.erase(it);
        }
        consider(c, now, store);
      }
      if (rows.size() < page.limit) break;
      page.after = rows.back().key;
    }
    last_read_ = started;  // the next changed read starts here, once this one is whole
  }

  std::string occurrence(const std::string& key, const std::string& local_date) const {
    return "time:" + rule_ + ":" + key + ":" + local_date;
  }

  void consider(const StoredContact& c, int64_t now, Store& store) {
    if (c.data_json.find(needle_) == std::string::npos) return;  // most contacts: no parse
    const json data = object_of(c.data_json);
    const json* value = lookup_path(data, field_);
    if (!value || !value->is_string()) return;
    const auto date = read_month_day(value->get<std::string>());
    if (!date) {
      // Said once per contact and value: the admin learns why no greeting went.
      if (unreadable_.size() > 10000) unreadable_.clear();
      if (unreadable_.insert(c.key + '\n' + value->get<std::string>()).second)
        log_warn("time", "a special date is not a date (expected 1990-12-02, 02.12.1990 or --12-02): it never comes",
                 {{"rule", rule_}, {"contact", c.key}, {"field", "contact." + field_}, {"value", *value}});
      return;
    }
    // The contact's own zone first, then the rule's, then the account's.
    std::string zone = zone_;
    if (data.contains("timezone") && data["timezone"].is_string() && zone_named(data["timezone"].get<std::string>()))
      zone = data["timezone"].get<std::string>();
    const date::time_zone* tz = zone_named(zone.empty() ? account_zone_ : zone);
    if (!tz) tz = date::locate_zone("UTC");
    const auto today = date::floor<date::days>(tz->to_local(date::sys_time<Ms>{Ms{now}}));
    for (int d = 0; d <= 1; ++d) {
      const date::local_days day = today + date::days{d};  // when it fires
      // The contact's own day: `offset_days` from it is when it fires.
      const date::year_month_day ymd{day - date::days{offset_days_}};
      const int year = static_cast<int>(ymd.year());
      unsigned month = date->month, dom = date->day;
      if (month == 2 && dom == 29 && !leap(year)) dom = 28;  // 29 February: the 28th in other years
      if (static_cast<unsigned>(ymd.month()) != month || static_cast<unsigned>(ymd.day()) != dom) continue;
      const auto ms = [](auto t) { return std::chrono::duration_cast<Ms>(t.time_since_epoch()).count(); };
      const int64_t at = ms(tz->to_sys(day + std::chrono::minutes{at_minute_}, date::choose::earliest));
      const int64_t day_ends = ms(tz->to_sys(day + date::days{1}, date::choose::earliest));
      if (now >= day_ends || at > now + kHour + 60000) continue;  // gone, or the next read finds it
      // A day still to come (a date in a later year): nothing to mark yet.
      if (date->year && year < date->year) continue;
      const std::string local_date = date::format("%F", day);
      json data_out{{"rule", rule_}, {"field", "contact." + field_}, {"date", *value}};
      if (offset_days_ != 0) data_out["offset_days"] = offset_days_;
      if (date->year) data_out["years"] = year - date->year;
      EventRecord e = time_event(occurrence(c.key, local_date), "contact.special_date", time_source(rule_), at, now,
                                 std::move(data_out));
      e.contact = ContactUpdate{c.key, "", {}, {}};
      // A person first known by an address and given the CRM's id (a new
      // key) that day is greeted once: the occurrence under each address
      // the store knows as theirs, stored already, makes this one a
      // duplicate (also after a restart). Another person who shares a
      // number (a twin, a parent's phone) is not known by it.
      if (!sent_.count(e.id)) {
        for (const std::string& alias : contact_aliases(data))
          if (alias != c.key)
            if (const auto owner = store.contact(alias); owner && owner->key == c.key)
              e.also_known_as.push_back(occurrence(alias, local_date));
        pending_of_[c.key] = pending_.emplace(at, std::move(e));
      }
    }
  }

  std::string rule_, field_;
  int at_minute_, offset_days_;
  std::string zone_, account_zone_, needle_;
  int64_t read_again_at_ = 0;
  int64_t last_read_ = 0;                        // the host's clock when the last read began
  std::multimap<int64_t, EventRecord> pending_;  // by the moment each is due
  // Each contact's pending event (its one day within the next hour or so).
  std::unordered_map<std::string, std::multimap<int64_t, EventRecord>::iterator> pending_of_;
  size_t handed_ = 0;  // the first of pending_ the last `due` gave
  std::unordered_set<std::string> sent_;
  std::unordered_set<std::string> unreadable_;  // the contacts' dates said to be none, with the value
  std::map<std::string, const date::time_zone*> zones_;
};

class OverdueProducer final : public TimeProducer {
 public:
  // `rule` empty: the host's own <type>.overdue, which any rule may take.
  // `reminder`: <type>.reminder when the time in the field comes (a task's
  // reminder), not when it is `by` past; one more than a day late is let go.
  // `kept_ms`: how long the store keeps an event (0: for ever), and so
  // knows an occurrence as one it produced.
  OverdueProducer(std::string rule, const TimeTrigger& t, std::string account_zone, int64_t kept_ms,
                  bool reminder = false)
      : rule_(std::move(rule)), t_(t), account_zone_(std::move(account_zone)), kept_ms_(kept_ms), reminder_(reminder) {}

  void due(int64_t now, Store& store, std::vector<EventRecord>& out) override {
    handed_.clear();
    if (sent_.size() > 100000) sent_.clear();  // the store drops what comes again
    RecordQuery page;
    page.entity_type = t_.entity_type;
    page.limit = 1000;
    for (;;) {
      const auto rows = store.entities_page(page);
      for (const StoredEntity& e : rows) consider(e, now, out);
      if (rows.size() < page.limit) break;
      page.after = entity_cursor_key(rows.back().type, rows.back().id);
    }
  }
  void delivered() override {
    sent_.insert(handed_.begin(), handed_.end());
    handed_.clear();
  }

 private:
  void consider(const StoredEntity& e, int64_t now, std::vector<EventRecord>& out) {
    if (e.status && closed(*e.status)) return;
    const json data = object_of(e.data_json);
    const json* value = lookup_path(data, t_.field);
    if (!value || !value->is_string()) return;
    // A date alone is due for the whole of that day, on the account's clock.
    const std::string& text = value->get_ref<const std::string&>();
    auto due_at = parse_local_time_ms(text, account_zone_);
    const auto day = iso_date(text);
    if (due_at && day)  // the next date's beginning (UTC dates are a day apart)
      due_at = parse_local_time_ms(format_time_ms(*parse_time_ms(*day) + 86'400'000).substr(0, 10), account_zone_);
    if (!due_at || *due_at + t_.by_ms > now) return;
    if (reminder_ && now - *due_at > 24 * kHour) return;  // reminding of a call yesterday helps no one
    // An occurrence whose event the store may have forgotten by now (the
    // retention, less a day) would be produced again after a restart: one
    // that old is let go, as a stale alert.
    if (kept_ms_ > 0 && now - (*due_at + t_.by_ms) > kept_ms_ - 24 * kHour) return;
    const std::string what = reminder_ ? "reminder" : "overdue";
    const std::string source = rule_.empty() ? "time" : time_source(rule_);
    // Named by the deadline as written (a date: its UTC midnight, as before
    // dates were local days), so the same deadline is one occurrence
    // whatever the account's zone is or was.
    const int64_t named = day ? *parse_time_ms(*day) : *due_at;
    const std::string id =
        (rule_.empty() ? what : "time:" + rule_) + ":" + e.type + ":" + e.id + ":" + format_time_ms(named);
    if (sent_.count(id)) return;
    handed_.push_back(id);
    json data_out{{"field", "entity." + t_.field}};
    if (reminder_) {
      data_out["reminder"] = *value;
      if (const json* deadline = lookup_path(data, "fields.deadline")) data_out["deadline"] = *deadline;
    } else {
      data_out["due"] = *value;
      data_out["overdue_by_ms"] = now - *due_at;
    }
    if (!rule_.empty()) data_out["rule"] = rule_;
    EventRecord event = time_event(id, t_.entity_type + "." + what, source, *due_at + t_.by_ms, now, data_out);
    event.entity = EntityUpdate{e.type, e.id, false, std::nullopt, ""};
    json body = object_of(event.body_json);
    body["entity"] = {{"type", e.type}, {"id", e.id}};
    event.body_json = dump_text(body);
    out.push_back(std::move(event));
  }

  // A closing status, in any case ("Won", "LOST"): the trigger's own list as
  // written, else the usual names.
  bool closed(const std::string& status) const {
    if (t_.closed.count(status)) return true;
    return t_.closed == kClosedStatuses && kClosedStatuses.count(lower_case(status)) > 0;
  }

  std::string rule_;
  TimeTrigger t_;
  std::string account_zone_;
  const int64_t kept_ms_;
  const bool reminder_;
  std::vector<std::string> handed_;
  std::unordered_set<std::string> sent_;
};

// A dynamic segment's full refresh, on its schedule (once a day when it has
// none, and at once when it was never refreshed or its definition changed): every contact is checked, and the moves are
// stored a chunk at a time, so memory does not grow with the members who move. A refresh cut short is done again from
// the start: moves already stored are no moves the second time. Its size, and how many came and went, join the
// segment's size history. A static segment (no condition) is only counted, once a day.
class SegmentProducer final : public TimeProducer {
 public:
  using Append = std::function<std::future<AppendResult>(std::vector<EventRecord>)>;
  SegmentProducer(DynamicSegment segment, std::string zone, Append append)
      : segment_(std::move(segment)), zone_(std::move(zone)), append_(std::move(append)) {}

  // The refresh stores what it finds itself: it is done (and its next time
  // set) here, whatever becomes of the other triggers' events.
  void due(int64_t now, Store& store, std::vector<EventRecord>&) override {
    if (next_refresh_ && now < *next_refresh_) return;
    // Read again when due: another node may have refreshed it while it held
    // the time triggers.
    next_refresh_ = first_due(store);
    if (now < *next_refresh_) return;
    constexpr size_t kChunk = 1000;
    RecordQuery page;
    page.limit = kChunk;
    std::vector<EventRecord> moves;
    // One chunk is stored while the next is checked: the two take turns on two cores.
    std::future<AppendResult> storing;
    std::vector<bool> storing_enters, enters;  // for each move of that chunk, and of this one: in (or out)
    int64_t size = 0, entered = 0, left = 0;
    // Counts the moves the store kept: one the router made first is no move.
    const auto stored = [&] {
      if (!storing.valid()) return;
      const AppendResult r = storing.get();
      if (!r.ok()) throw std::runtime_error("the store did not take a chunk of the moves: " + r.error);
      for (size_t i = 0; i < r.outcomes.size(); ++i)
        if (r.outcomes[i] == AppendOutcome::kStored) ++(storing_enters[i] ? entered : left);
    };
    const std::string cause = "refresh-" + std::to_string(now);
    try {
      for (;;) {
        const auto rows = store.contacts_page(page);
        for (const StoredContact& c : rows) {
          const size_t before = moves.size();
          const json context = SegmentMembership::context_of(object_of(c.data_json), zone_);
          const bool was = SegmentMembership::is_member(segment_, context);
          SegmentMembership::check(segment_, c.key, context, cause, 0, now, moves);  // none for a static one
          const bool moved = moves.size() != before;
          size += was != moved;
          if (moved) enters.push_back(!was);
        }
        const bool last = rows.size() < page.limit;
        if (moves.size() >= kChunk || last) {
          stored();
          storing = append_(std::move(moves));
          storing_enters = std::move(enters);
          moves.clear();
          enters.clear();
        }
        if (last) break;
        page.after = rows.back().key;
      }
      stored();
    } catch (...) {
      // Not before the chunk being stored is: its callback reaches the triggers.
      if (storing.valid()) storing.wait();
      throw;
    }
    remember_size(store, now, size, entered, left);
    store.kv_put(kSegmentRefreshes, segment_.name, dump_text(json{{"at", now}, {"definition", segment_.definition}}));
    next_refresh_ = next_after(now);
  }
  void delivered() override {}

 private:
  int64_t next_after(int64_t refreshed) const {
    const auto next = segment_.refresh ? segment_.refresh->next_after(refreshed, zone_) : std::nullopt;
    return next ? *next : refreshed + 24 * kHour;
  }
  // When the cluster refreshed it last (whichever node held the time
  // triggers then): the next time after that. Now when it never was, or was
  // defined otherwise then.
  int64_t first_due(Store& store) const {
    const json last = json::parse(store.kv_get(kSegmentRefreshes, segment_.name).value_or("null"), nullptr, false);
    if (!last.is_object() || last.value("definition", "") != segment_.definition) return 0;
    const int64_t at = last.value("at", int64_t{0});
    return at > 0 ? next_after(at) : 0;
  }

  // The last 400 refreshes (more than a year of daily ones), newest last (RecordsApi shows them).
  void remember_size(Store& store, int64_t now, int64_t size, int64_t entered, int64_t left) {
    json history = json::parse(store.kv_get(kSegmentSizes, segment_.name).value_or("[]"), nullptr, false);
    if (!history.is_array()) history = json::array();
    history.push_back({{"at", format_time_ms(now)}, {"size", size}, {"entered", entered}, {"left", left}});
    constexpr size_t kKept = 400;
    if (history.size() > kKept) history.erase(history.begin(), history.end() - kKept);
    store.kv_put(kSegmentSizes, segment_.name, dump_text(history));
  }

  DynamicSegment segment_;
  std::string zone_;
  Append append_;
  std::optional<int64_t> next_refresh_;  // as last read from the store
};

}  // namespace

TimeTriggers::TimeTriggers(Store& store, const std::vector<CompiledRule>& rules,
                           const std::vector<DynamicSegment>& segments, Options options, std::function<void()> stored)
    : store_(store), options_(std::move(options)), stored_(std::move(stored)) {
  std::vector<DynamicSegment> counted = segments;
  for (const std::string& name : options_.static_segments) counted.push_back({name, nullptr, std::nullopt, "static"});
  for (DynamicSegment& segment : counted)
    producers_.push_back(
        std::make_unique<SegmentProducer>(std::move(segment), options_.account_timezone,
                                          [this](std::vector<EventRecord> e) { return append_async(std::move(e)); }));
  std::set<std::string> overdue_types;  // a rule on <type>.overdue (not its own trigger's)
  bool task_reminder_wanted = false;
  for (const CompiledRule& rule : rules) {
    // A rule that can take the host's events (any source, or "time").
    const bool hosts =
        rule.trigger && !rule.time_trigger && (rule.trigger->source().empty() || rule.trigger->source() == "time");
    const std::string event = hosts ? rule.trigger->event() : "";
    constexpr std::string_view kOverdue = ".overdue";
    if (event.size() > kOverdue.size() && event.compare(event.size() - kOverdue.size(), kOverdue.size(), kOverdue) == 0)
      overdue_types.insert(event.substr(0, event.size() - kOverdue.size()));
    if (event == "task.reminder") task_reminder_wanted = true;
    if (!rule.time_trigger) continue;
    const TimeTrigger& t = *rule.time_trigger;
    switch (t.kind) {
      case TimeTrigger::Kind::kSchedule:
        producers_.push_back(std::make_unique<ScheduleProducer>(
            rule.name, t, t.timezone.empty() ? options_.account_timezone : t.timezone));
        break;
      case TimeTrigger::Kind::kSpecialDate:
        producers_.push_back(std::make_unique<SpecialDateProducer>(rule.name, t, options_.account_timezone));
        break;
      case TimeTrigger::Kind::kOverdue:
        producers_.push_back(
            std::make_unique<OverdueProducer>(rule.name, t, options_.account_timezone, options_.events_kept_ms));
        break;
      case TimeTrigger::Kind::kReport: {
        std::string zone = t.timezone.empty() ? options_.account_timezone : t.timezone;
        if (t.report == "tasks")
          producers_.push_back(std::make_unique<TasksReportProducer>(rule.name, t, std::move(zone)));
        else if (t.report == "messages")
          producers_.push_back(
              std::make_unique<MessagesReportProducer>(rule.name, t, std::move(zone), options_.stats_rules));
        else
          producers_.push_back(
              std::make_unique<ChannelsReportProducer>(rule.name, t, std::move(zone), options_.ad_channels));
        break;
      }
    }
  }
  // A rule on <type>.overdue or task.reminder: the host tells when an open
  // entity's deadline (entity.fields.deadline) passes, or a task's reminder
  // time comes. Tasks are open until done or cancelled; other entities
  // until a status that closes them by its usual name (the "overdue"
  // trigger names others).
  const auto watch = [this](const std::string& type, const char* field, bool reminder) {
    TimeTrigger t;
    t.kind = TimeTrigger::Kind::kOverdue;
    t.entity_type = type;
    t.field = field;
    t.closed = type == "task" ? std::set<std::string>{"done", "cancelled"} : kClosedStatuses;
    producers_.push_back(
        std::make_unique<OverdueProducer>("", t, options_.account_timezone, options_.events_kept_ms, reminder));
  };
  for (const std::string& type : overdue_types) watch(type, "fields.deadline", false);
  if (task_reminder_wanted) watch("task", "fields.reminder", true);
}

TimeTriggers::~TimeTriggers() { stop(); }

void TimeTriggers::start() {
  if (producers_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    name_this_thread("sb-timers");
    loop();
  });
}

void TimeTriggers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TimeTriggers::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      // One node of a cluster checks at a time: the others' hold has not
      // run out. Held for three checks, so that a late one keeps it.
      const int64_t now = now_ms();
      if (options_.owner.empty() ||
          store_.hold("time_triggers", options_.owner, now, now + 3 * options_.check_every.count()))
        check(now);
    } catch (const std::exception& e) {
      log_error("time", "checking the time triggers failed", {{"error", e.what()}});
    }
    lock.lock();
    wake_.wait_for(lock, options_.check_every, [this] { return stopping_; });
  }
}

std::vector<EventRecord> TimeTriggers::check(int64_t now) {
  std::vector<EventRecord> due;
  std::vector<TimeProducer*> gave;
  for (auto& producer : producers_) {
    const size_t before = due.size();
    try {
      producer->due(now, store_, due);
    } catch (const std::exception& e) {
      // One trigger's failure (a store read) holds up none of the others.
      due.resize(before);
      log_error("time", "a time trigger could not be checked", {{"error", e.what()}});
      continue;
    }
    gave.push_back(producer.get());
  }
  if (due.empty()) {
    for (TimeProducer* p : gave) p->delivered();
    return due;
  }
  if (!append(due)) {
    log_error("time", "cannot store the time triggers' events; they come again at the next check");
    return {};
  }
  for (TimeProducer* p : gave) p->delivered();
  return due;
}

bool TimeTriggers::append(std::vector<EventRecord>& events) { return append_async(events).get().ok(); }

std::future<AppendResult> TimeTriggers::append_async(std::vector<EventRecord> events) {
  auto appended = std::make_shared<std::promise<AppendResult>>();
  std::future<AppendResult> result = appended->get_future();
  if (events.empty()) {
    appended->set_value({});
    return result;
  }
  store_.append_events(std::move(events), [this, appended](AppendResult r) {
    if (!r.ok()) log_error("time", "cannot store the time triggers' events", {{"error", r.error}});
    if (r.ok() && stored_) stored_();
    appended->set_value(std::move(r));
  });
  return result;
}

}  // namespace sb
