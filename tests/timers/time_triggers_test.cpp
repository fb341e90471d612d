// The host's own events for time triggers, over a real store: schedules,
// special dates in each contact's zone (29 February included), overdue
// entities and tasks; each occurrence once, also for a second producer on
// the same store (a restart, or another host).
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <set>

#include "analytics/ChannelReport.h"
#include "events/EventParser.h"
#include "integration/test_support.h"
#include "rules/RuleCompiler.h"
#include "rules/SegmentMembership.h"
#include "store/SqliteStore.h"
#include "timers/TimeTriggers.h"
#include "util/Time.h"
#include "util/Zones.h"

namespace sb {
namespace {

using nlohmann::json;

int64_t at(const char* rfc3339) { return *parse_time_ms(rfc3339); }

CompiledRule time_rule(const std::string& name, const json& trigger) {
  std::vector<ConditionProblem> problems;
  CompiledRule r;
  r.name = name;
  r.time_trigger = TimeTrigger::compile(trigger, problems);
  EXPECT_TRUE(problems.empty()) << (problems.empty() ? "" : problems[0].pointer + ": " + problems[0].message);
  return r;
}

class TimeTriggersTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = std::make_unique<SqliteStore>(SqliteStore::Options{dir_ / "store.db"}); }
  void append(json event, int64_t received_ms = now_ms()) {
    ParsedEvents parsed = parse_event(event, received_ms, "api");
    ASSERT_TRUE(parsed.problems.empty()) << parsed.problems[0].message;
    std::promise<AppendResult> done;
    store_->append_events(parsed.records, [&](AppendResult r) { done.set_value(r); });
    ASSERT_TRUE(done.get_future().get().ok());
  }
  std::vector<std::string> ids(TimeTriggers& t, const char* now) {
    std::vector<std::string> out;
    for (const auto& e : t.check(at(now))) out.push_back(e.id);
    return out;
  }
  std::vector<std::string> stored_types() {
    std::vector<std::string> out;
    for (const auto& e : store_->events_after(0, 1000))
      if (e.record.source.rfind("time", 0) == 0) out.push_back(e.record.type + " " + e.record.id);
    return out;
  }
  std::filesystem::path dir_ = test::make_temp_dir("sb_time");
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(TimeTriggersTest, ABirthdayComesOnTheDayAtTheLocalTimeOnceEvenAfterARestart) {
  append({{"id", "c1"},
          {"type", "contact.updated"},
          {"contact", {{"id", "omsk"}, {"timezone", "Asia/Omsk"}, {"fields", {{"birthday", "1990-12-02"}}}}}});
  append({{"id", "c2"},
          {"type", "contact.updated"},
          {"contact", {{"id", "moscow"}, {"fields", {{"birthday", "02.12.1985"}}}}}});  // the account's zone
  append({{"id", "c3"},
          {"type", "contact.updated"},
          {"contact", {{"id", "other"}, {"fields", {{"birthday", "1990-12-03"}}}}}});
  const std::vector<CompiledRule> rules{
      time_rule("birthday", {{"special_date", "contact.fields.birthday"}, {"at", "10:00"}})};
  TimeTriggers::Options options;
  options.account_timezone = "Europe/Moscow";
  auto first = std::make_unique<TimeTriggers>(*store_, rules, std::vector<DynamicSegment>{}, options, nullptr);
  // 10:00 in Omsk is 04:00 UTC; in Moscow 07:00 UTC.
  EXPECT_TRUE(ids(*first, "2026-12-02T03:59:00Z").empty());
  EXPECT_EQ(ids(*first, "2026-12-02T04:00:30Z"), std::vector<std::string>{"time:birthday:id:omsk:2026-12-02"});
  EXPECT_TRUE(ids(*first, "2026-12-02T05:00:00Z").empty());
  EXPECT_EQ(ids(*first, "2026-12-02T07:00:00Z"), std::vector<std::string>{"time:birthday:id:moscow:2026-12-02"});
  // A restart that day: the same occurrences again, which the store drops.
  auto second = std::make_unique<TimeTriggers>(*store_, rules, std::vector<DynamicSegment>{}, options, nullptr);
  EXPECT_EQ(ids(*second, "2026-12-02T08:00:00Z").size(), 2u);
  EXPECT_EQ(stored_types(), (std::vector<std::string>{"contact.special_date time:birthday:id:omsk:2026-12-02",
                                                      "contact.special_date time:birthday:id:moscow:2026-12-02"}));
  const auto events = store_->events_after(0, 1000);
  const auto omsk = std::find_if(events.begin(), events.end(), [](const StoredEvent& e) {
    return e.record.id == "time:birthday:id:omsk:2026-12-02";
  });
  ASSERT_NE(omsk, events.end());
  EXPECT_EQ(json::parse(omsk->record.body_json)["data"]["years"], 36);
  EXPECT_EQ(json::parse(omsk->contact_json)["id"], "omsk");  // rules see the contact
  // The next day is someone else's.
  EXPECT_EQ(ids(*second, "2026-12-03T07:00:00Z"), std::vector<std::string>{"time:birthday:id:other:2026-12-03"});
}

// A person first known by their address, then given the CRM's id that day
// (their contact's key changes), is greeted once: in the same run, and
// after a restart. A pending greeting moves with them. Another person with
// an id who shares that number (a twin) is greeted all the same. A date in
// a later year is not yet anyone's day.
TEST_F(TimeTriggersTest, ABirthdayGoesOnceWhenTheContactIsGivenAnIdThatDay) {
  append({{"id", "c1"},
          {"type", "form.submitted"},
          {"contact", {{"email", "Merge@Example.com"}, {"fields", {{"birthday", "1991-12-02"}}}}}});
  append({{"id", "c2"},
          {"type", "form.submitted"},
          {"contact", {{"phone", "+79990001122"}, {"fields", {{"birthday", "1992-12-02"}}}}}});
  append({{"id", "c3"},
          {"type", "contact.updated"},
          {"contact", {{"id", "later"}, {"fields", {{"birthday", "2030-12-02"}}}}}});
  append({{"id", "c4"},
          {"type", "form.submitted"},
          {"contact", {{"phone", "+79990003344"}, {"fields", {{"birthday", "2015-12-02"}}}}}});
  const std::vector<CompiledRule> rules{
      time_rule("bday", {{"special_date", "birthday"}, {"at", "10:00"}, {"timezone", "UTC"}})};
  auto first =
      std::make_unique<TimeTriggers>(*store_, rules, std::vector<DynamicSegment>{}, TimeTriggers::Options{}, nullptr);
  EXPECT_TRUE(ids(*first, "2026-12-02T09:30:00Z").empty());  // all pending
  // The one with the first phone is given an id before ten.
  append({{"id", "c5"},
          {"type", "contact.updated"},
          {"contact", {{"id", "P1"}, {"phones", {{{"number", "+79990001122"}}}}}}});
  std::vector<std::string> due = ids(*first, "2026-12-02T10:00:30Z");
  std::sort(due.begin(), due.end());
  EXPECT_EQ(due, (std::vector<std::string>{"time:bday:email:merge@example.com:2026-12-02", "time:bday:id:P1:2026-12-02",
                                           "time:bday:phone:+79990003344:2026-12-02"}));
  // After their greetings: the one with an email is given an id; the one
  // with the other phone too (T1), and her twin on the same phone is met.
  append({{"id", "c6"},
          {"type", "contact.updated"},
          {"contact", {{"id", "M1"}, {"emails", {{{"address", "merge@example.com"}}}}}}});
  for (const char* twin : {"T1", "T2"})
    append({{"id", std::string("c-") + twin},
            {"type", "contact.updated"},
            {"contact", {{"id", twin}, {"phone", "+79990003344"}, {"fields", {{"birthday", "2015-12-02"}}}}}});
  ids(*first, "2026-12-02T10:05:00Z");
  ids(*first, "2026-12-02T11:30:00Z");  // the hourly read of every contact
  auto second =
      std::make_unique<TimeTriggers>(*store_, rules, std::vector<DynamicSegment>{}, TimeTriggers::Options{}, nullptr);
  ids(*second, "2026-12-02T12:00:00Z");  // the day's occurrences again, which the store drops
  std::vector<std::string> stored = stored_types();
  std::sort(stored.begin(), stored.end());
  EXPECT_EQ(stored, (std::vector<std::string>{"contact.special_date time:bday:email:merge@example.com:2026-12-02",
                                              "contact.special_date time:bday:id:P1:2026-12-02",
                                              "contact.special_date time:bday:id:T2:2026-12-02",
                                              "contact.special_date time:bday:phone:+79990003344:2026-12-02"}));
}

TEST_F(TimeTriggersTest, The29thOfFebruaryIsThe28thInOtherYears) {
  append({{"id", "c1"},
          {"type", "contact.updated"},
          {"contact", {{"id", "leap"}, {"fields", {{"birthday", "2000-02-29"}}}}}});
  const std::vector<CompiledRule> rules{
      time_rule("birthday", {{"special_date", "contact.fields.birthday"}, {"at", "09:00"}, {"timezone", "UTC"}})};
  TimeTriggers t(*store_, rules, {}, {}, nullptr);
  EXPECT_EQ(ids(t, "2027-02-28T09:00:00Z"), std::vector<std::string>{"time:birthday:id:leap:2027-02-28"});
  EXPECT_TRUE(ids(t, "2027-03-01T09:00:00Z").empty());
  EXPECT_EQ(ids(t, "2028-02-29T09:00:00Z"), std::vector<std::string>{"time:birthday:id:leap:2028-02-29"});
  EXPECT_TRUE(ids(t, "2028-02-28T09:00:01Z").empty());
}

// "Three days before the birthday": the day it fires is the offset from the
// contact's, the years counted on the contact's day (across a new year too).
TEST_F(TimeTriggersTest, ASpecialDateWithAnOffsetComesThatManyDaysBeforeOrAfter) {
  append({{"id", "c1"},
          {"type", "contact.updated"},
          {"contact", {{"id", "dec"}, {"fields", {{"birthday", "1990-12-05"}}}}}});
  append({{"id", "c2"},
          {"type", "contact.updated"},
          {"contact", {{"id", "jan"}, {"fields", {{"birthday", "2000-01-01"}}}}}});
  const std::vector<CompiledRule> rules{
      time_rule("before",
                {{"special_date", "contact.fields.birthday"}, {"offset", "-3d"}, {"at", "10:00"}, {"timezone", "UTC"}}),
      time_rule("after",
                {{"special_date", "contact.fields.birthday"}, {"offset", "1d"}, {"at", "10:00"}, {"timezone", "UTC"}})};
  TimeTriggers t(*store_, rules, {}, {}, nullptr);
  EXPECT_EQ(ids(t, "2026-12-02T10:00:00Z"), std::vector<std::string>{"time:before:id:dec:2026-12-02"});
  EXPECT_TRUE(ids(t, "2026-12-05T10:00:00Z").empty());
  EXPECT_EQ(ids(t, "2026-12-06T10:00:00Z"), std::vector<std::string>{"time:after:id:dec:2026-12-06"});
  EXPECT_EQ(ids(t, "2026-12-29T10:00:00Z"), std::vector<std::string>{"time:before:id:jan:2026-12-29"});
  const auto events = store_->events_after(0, 1000);
  const auto jan = std::find_if(events.begin(), events.end(),
                                [](const StoredEvent& e) { return e.record.id == "time:before:id:jan:2026-12-29"; });
  ASSERT_NE(jan, events.end());
  const json data = json::parse(jan->record.body_json)["data"];
  EXPECT_EQ(data["years"], 27);  // on 2027-01-01
  EXPECT_EQ(data["offset_days"], -3);
}

TEST_F(TimeTriggersTest, AScheduleRunsEachOccurrenceOnceAndOneMissedWithinTheHourLate) {
  const std::vector<CompiledRule> rules{time_rule("daily", {{"schedule", "every day at 09:00"}})};
  TimeTriggers::Options options;
  options.account_timezone = "Europe/Moscow";
  TimeTriggers t(*store_, rules, {}, options, nullptr);
  // A new rule, first run at 09:20 Moscow: today's 09:00 came before it was written.
  EXPECT_TRUE(ids(t, "2026-12-02T06:20:00Z").empty());
  EXPECT_EQ(ids(t, "2026-12-03T06:00:10Z"), std::vector<std::string>{"time:daily:2026-12-03T06:00:00.000Z"});
  EXPECT_TRUE(ids(t, "2026-12-03T07:00:00Z").empty());
  // A whole day checked late is one run, not many.
  EXPECT_EQ(ids(t, "2026-12-05T06:30:00Z"), std::vector<std::string>{"time:daily:2026-12-05T06:00:00.000Z"});
  // Restarted at 09:20: the 09:00 run, missed while down, runs late, once.
  TimeTriggers restarted(*store_, rules, {}, options, nullptr);
  EXPECT_EQ(ids(restarted, "2026-12-06T06:20:00Z"), std::vector<std::string>{"time:daily:2026-12-06T06:00:00.000Z"});
  EXPECT_TRUE(ids(restarted, "2026-12-06T06:40:00Z").empty());
  TimeTriggers later(*store_, rules, {}, options, nullptr);
  EXPECT_TRUE(ids(later, "2026-12-07T08:30:00Z").empty());  // more than an hour after: not run late
  // Given another time, the rule is new again: no run from before the change.
  const std::vector<CompiledRule> moved{time_rule("daily", {{"schedule", "every day at 11:00"}})};
  TimeTriggers edited(*store_, moved, {}, options, nullptr);
  EXPECT_TRUE(ids(edited, "2026-12-08T08:20:00Z").empty());
}

// A weekly report of the advertising channels: last week's bookings beside
// the week's before, how each figure changed, and, as an alert, what fell by
// a fifth or more; a week where nothing fell alerts no one.
TEST_F(TimeTriggersTest, AWeeklyChannelsReportComparesTheWeekWithTheOneBeforeAndAlertsOnWhatFell) {
  const auto booking = [&](const std::string& id, const char* at_time, const std::string& channel,
                           const std::string& status, json amount = nullptr) {
    json fields{{"channel", channel}};
    if (!amount.is_null()) fields["amount"] = amount;
    append({{"id", "e-" + id},
            {"type", "booking.updated"},
            {"entity", {{"type", "booking"}, {"id", id}, {"status", status}, {"fields", fields}}}},
           at(at_time));
  };
  // The week before (Moscow: 23 to 29 November): Instagram sold 2 of 4, the site 1 of 2.
  booking("p1", "2026-11-23T08:00:00Z", "Instagram", "done", 1000);
  booking("p2", "2026-11-24T08:00:00Z", "Instagram", "done", "1 000");
  booking("p3", "2026-11-25T08:00:00Z", "Instagram", "new");
  booking("p4", "2026-11-29T20:00:00Z", "Instagram", "new");  // 23:00 in Moscow: still that week
  booking("p5", "2026-11-26T08:00:00Z", "Site", "done", 2000);
  booking("p6", "2026-11-26T09:00:00Z", "Site", "new");
  // Last week (30 November to 6 December): Instagram 1 of 4, the site 1 of 2 again.
  booking("n1", "2026-11-29T21:30:00Z", "Instagram", "done", "1 500,50");  // 00:30 on Monday in Moscow
  booking("n2", "2026-12-01T08:00:00Z", "Instagram", "new");
  booking("n3", "2026-12-02T08:00:00Z", "Instagram", "new");
  booking("n4", "2026-12-03T08:00:00Z", "Instagram", "new");
  booking("n5", "2026-12-04T08:00:00Z", "Site", "done", 2000);
  booking("n6", "2026-12-05T08:00:00Z", "Site", "new");
  booking("late", "2026-12-06T21:30:00Z", "Site", "new");  // Monday 00:30 in Moscow: this week's
  booking("none", "2026-12-02T10:00:00Z", "", "new");

  std::vector<ConditionProblem> problems;
  const json weekly{{"report", "channels"}, {"schedule", "every monday at 09:00"}, {"period", "week"}};
  json alert = weekly;
  alert["alert"] = "20%";
  const std::vector<CompiledRule> rules{time_rule("weekly", weekly), time_rule("falls", alert)};
  ASSERT_EQ(rules[0].time_trigger->event_type(), "report.channels");
  TimeTriggers::Options options;
  options.account_timezone = "Europe/Moscow";
  options.ad_channels.entity = "booking";
  options.ad_channels.sale_statuses = {"done"};
  options.ad_channels.costs = {{"Instagram", 500}};
  TimeTriggers t(*store_, rules, {}, options, nullptr);
  EXPECT_TRUE(t.check(at("2026-12-07T05:59:00Z")).empty());
  const auto events = t.check(at("2026-12-07T06:00:30Z"));  // Monday 09:00 in Moscow
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id, "time:weekly:2026-12-07T06:00:00.000Z");
  EXPECT_EQ(events[0].type, "report.channels");
  const json data = json::parse(events[0].body_json)["data"];
  EXPECT_EQ(data["from"], "2026-11-29T21:00:00.000Z");  // Monday 00:00 in Moscow
  EXPECT_EQ(data["to"], "2026-12-06T21:00:00.000Z");
  EXPECT_EQ(data["previous"]["from"], "2026-11-22T21:00:00.000Z");
  const json& instagram = data["channels"]["Instagram"];
  EXPECT_EQ(instagram["records"], 4) << data.dump(2);
  EXPECT_EQ(instagram["sales"], 1);
  EXPECT_DOUBLE_EQ(instagram["conversion"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(instagram["revenue"].get<double>(), 1500.5);
  EXPECT_EQ(instagram["cost"], 500);
  EXPECT_EQ(data["channels"]["Site"]["records"], 2);
  EXPECT_EQ(data["channels"][""]["records"], 1);
  EXPECT_EQ(data["total"]["records"], 7);
  EXPECT_EQ(data["previous"]["channels"]["Instagram"]["sales"], 2);
  EXPECT_EQ(data["previous"]["channels"]["Instagram"]["revenue"], 2000);
  EXPECT_DOUBLE_EQ(data["changes"]["channels"]["Instagram"]["conversion"].get<double>(), -0.5);
  EXPECT_DOUBLE_EQ(data["changes"]["channels"]["Site"]["conversion"].get<double>(), 0);
  EXPECT_TRUE(data["changes"]["channels"][""]["records"].is_null());  // nothing before
  EXPECT_TRUE(data["alerts"].empty());                                // no threshold: a report, not an alert
  const std::string text = data["text"];
  EXPECT_NE(text.find("30.11.2026 - 06.12.2026"), std::string::npos) << text;
  EXPECT_NE(text.find("Instagram: 4 records, 1 sales, conversion 25% (was 50%)"), std::string::npos) << text;
  EXPECT_NE(data["html"].get<std::string>().find("<td>Instagram</td><td>4</td><td>1</td><td>25%</td>"),
            std::string::npos)
      << data["html"];

  // The alert: what fell by a fifth or more, and nothing that did not.
  const json falls = json::parse(events[1].body_json)["data"];
  std::set<std::string> fell;
  for (const json& a : falls["alerts"])
    fell.insert((a["channel"].is_null() ? std::string("total") : a["channel"].get<std::string>()) + " " +
                a["metric"].get<std::string>());
  EXPECT_EQ(fell, (std::set<std::string>{"Instagram sales", "Instagram conversion", "Instagram revenue",
                                         "total conversion", "total sales"}))
      << falls["alerts"].dump();
  EXPECT_NE(falls["text"].get<std::string>().find("Instagram: conversion fell by 50% (50% -> 25%)"), std::string::npos)
      << falls["text"];

  // The week after held only the late booking: everything fell.
  const auto next = t.check(at("2026-12-14T06:00:30Z"));
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(json::parse(next[0].body_json)["data"]["total"]["records"], 1);
  const json next_alerts = json::parse(next[1].body_json)["data"]["alerts"];
  EXPECT_FALSE(next_alerts.empty());
  // The record with no channel, one the week before and none now, is too few to have fallen.
  for (const json& a : next_alerts) EXPECT_NE(a["channel"], "") << next_alerts.dump();
  // A week like the one before: the report goes, the alert does not.
  booking("same", "2026-12-15T08:00:00Z", "Site", "new");
  const auto calm = t.check(at("2026-12-21T06:00:30Z"));
  ASSERT_EQ(calm.size(), 1u);
  EXPECT_EQ(calm[0].id, "time:weekly:2026-12-21T06:00:00.000Z");
}

// A booking counts in the week it was made, whenever it is sold; the week
// before is compared as it stood as long after its end as this run is
// after this week's (its bookings had a week longer to be sold).
TEST_F(TimeTriggersTest, AChannelsReportCountsABookingInTheWeekItWasMade) {
  const auto booking = [&](const std::string& event, const std::string& id, const char* at_time, const char* status) {
    append({{"id", event},
            {"type", "booking.updated"},
            {"entity", {{"type", "booking"}, {"id", id}, {"status", status}, {"fields", {{"channel", "Instagram"}}}}}},
           at(at_time));
  };
  booking("e1", "p1", "2026-11-24T08:00:00Z", "new");   // the week before ...
  booking("e2", "p1", "2026-11-30T05:00:00Z", "done");  // ... sold within 9 hours of its end (as this run is)
  booking("e3", "p2", "2026-11-25T08:00:00Z", "new");
  booking("e4", "p2", "2026-12-02T08:00:00Z", "done");  // sold a few days into last week
  booking("e5", "n1", "2026-12-01T08:00:00Z", "new");
  booking("e6", "n1", "2026-12-03T08:00:00Z", "done");
  booking("e7", "n2", "2026-12-04T08:00:00Z", "new");
  std::vector<ConditionProblem> problems;
  const std::vector<CompiledRule> rules{
      time_rule("weekly", {{"report", "channels"}, {"schedule", "every monday at 09:00"}, {"period", "week"}})};
  TimeTriggers::Options options;
  options.account_timezone = "Europe/Moscow";
  options.ad_channels.entity = "booking";
  options.ad_channels.sale_statuses = {"done"};
  TimeTriggers t(*store_, rules, {}, options, nullptr);
  EXPECT_TRUE(t.check(at("2026-12-07T05:59:00Z")).empty());  // running when it comes
  const auto events = t.check(at("2026-12-07T06:00:30Z"));
  ASSERT_EQ(events.size(), 1u);
  const json data = json::parse(events[0].body_json)["data"];
  // Last week: n1 (sold) and n2; p2, sold then, was the week before's.
  EXPECT_EQ(data["channels"]["Instagram"]["records"], 2) << data.dump(2);
  EXPECT_EQ(data["channels"]["Instagram"]["sales"], 1);
  // The week before: p1 and p2, of which p1 was sold by 9 hours after it ended.
  EXPECT_EQ(data["previous"]["channels"]["Instagram"]["records"], 2);
  EXPECT_EQ(data["previous"]["channels"]["Instagram"]["sales"], 1);
  EXPECT_DOUBLE_EQ(data["changes"]["channels"]["Instagram"]["conversion"].get<double>(), 0);
}

// A weekly report of the messages a rule sent: last week's SMS beside the
// week's before, read from the executions' histories and the gateway's
// delivery reports; the delivery rate fell by a third, which alerts.
TEST_F(TimeTriggersTest, AWeeklyMessagesReportComparesEachStepsDeliveriesAndAlertsOnAFall) {
  int64_t next_message = 0;
  const auto sent = [&](const char* created, int delivered_of_ten) {
    for (int i = 0; i < 10; ++i) {
      const std::string id = "m" + std::to_string(next_message++);
      ExecutionRow row;
      row.rule = "welcome";
      row.event_id = "e-" + id;
      row.state = ExecutionState::kDone;
      row.context_json = "{}";
      row.history_json =
          json::array({{{"step", "SMS"}, {"outcome", "done"}, {"external_id", id}, {"channel", "sms"}}}).dump();
      row.created_at_ms = row.updated_at_ms = at(created);
      std::promise<StoreStatus> done;
      store_->transact([row](ExecutionRows& rows) { rows.insert(row); },
                       [&](StoreStatus status) { done.set_value(status); });
      ASSERT_TRUE(done.get_future().get().ok());
      append({{"id", "r-" + id},
              {"type", i < delivered_of_ten ? "message.delivered" : "message.undelivered"},
              {"data", {{"message_id", id}}}},
             at(created) + 3'600'000);  // reported an hour after the send
    }
  };
  sent("2026-11-25T08:00:00Z", 9);  // the week before: 9 of 10 delivered
  sent("2026-12-02T08:00:00Z", 6);  // last week: 6 of 10
  sent("2026-12-07T07:00:00Z", 0);  // this week's: not counted yet
  // A report of the week before that came only this week: the week before
  // is counted as it stood 9 hours after its end, as last week is now.
  append({{"id", "late-report"}, {"type", "message.delivered"}, {"data", {{"message_id", "m9"}}}},
         at("2026-12-03T10:00:00Z"));

  const json weekly{{"report", "messages"},
                    {"rules", {"welcome"}},
                    {"schedule", "every monday at 09:00"},
                    {"period", "week"},
                    {"alert", "20%"}};
  const std::vector<CompiledRule> rules{time_rule("weekly", weekly)};
  ASSERT_EQ(rules[0].time_trigger->event_type(), "report.messages");
  TimeTriggers::Options options;
  options.account_timezone = "Europe/Moscow";
  options.stats_rules = {{"welcome", {{"SMS"}, std::nullopt}}, {"other", {{"Email"}, std::nullopt}}};
  TimeTriggers t(*store_, rules, {}, options, nullptr);
  EXPECT_TRUE(t.check(at("2026-12-07T05:59:00Z")).empty());  // running when it comes
  const auto events = t.check(at("2026-12-07T06:00:30Z"));   // Monday 09:00 in Moscow
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "report.messages");
  const json data = json::parse(events[0].body_json)["data"];
  EXPECT_EQ(data["from"], "2026-11-29T21:00:00.000Z");
  EXPECT_TRUE(data["complete"].get<bool>());
  EXPECT_FALSE(data["rules"].contains("other"));  // not named
  const json& sms = data["rules"]["welcome"]["SMS"];
  EXPECT_EQ(sms["sent"], 10) << data.dump(2);
  EXPECT_EQ(sms["delivered"], 6);
  EXPECT_EQ(sms["failed"], 4);
  EXPECT_DOUBLE_EQ(sms["delivery_rate"].get<double>(), 60.0);
  EXPECT_DOUBLE_EQ(data["previous"]["rules"]["welcome"]["SMS"]["delivery_rate"].get<double>(), 90.0);
  EXPECT_DOUBLE_EQ(data["total"]["delivery_rate"].get<double>(), 60.0);
  EXPECT_NEAR(data["changes"]["rules"]["welcome"]["SMS"]["delivery_rate"].get<double>(), -1.0 / 3, 1e-9);
  EXPECT_NEAR(data["changes"]["total"]["sent"].get<double>(), 0, 1e-9);
  std::set<std::string> fell;
  for (const json& a : data["alerts"])
    fell.insert((a["rule"].is_null() ? std::string("total") : a["rule"].get<std::string>()) + " " +
                a["metric"].get<std::string>());
  EXPECT_EQ(fell, (std::set<std::string>{"welcome delivery_rate", "welcome failure_rate"})) << data["alerts"].dump();
  const std::string text = data["text"];
  EXPECT_NE(text.find("30.11.2026 - 06.12.2026"), std::string::npos) << text;
  EXPECT_NE(text.find("welcome / SMS: 10 sent, 6 delivered (60%, was 90%), 4 failed (40%, was 10%)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("welcome / SMS: delivery_rate fell by 33.3% (90% -> 60%)"), std::string::npos) << text;
  EXPECT_NE(data["html"].get<std::string>().find("<td>welcome / SMS</td><td>10</td><td>6 (60%)</td>"),
            std::string::npos)
      << data["html"];
}

// The tasks created last week beside the week before's, each counted as it
// stood nine hours after its week (a task of the week before done after
// that counts as open then); the completion rate fell and the time to
// complete rose, which alerts.
TEST_F(TimeTriggersTest, AWeeklyTasksReportComparesCompletionAndItsTimeAsOfEachWeek) {
  const json anna{{"id", "m1"}, {"name", "Анна"}};
  int n = 0;
  const auto task = [&](const char* created, const std::string& status, json fields) {
    fields["created_at"] = created;
    fields["assignee"] = anna;
    const std::string id = "t" + std::to_string(n++);
    append({{"id", "e-" + id},
            {"type", "task.created"},
            {"entity", {{"type", "task"}, {"id", id}, {"status", status}, {"fields", fields}}}},
           at(created));
  };
  // The week before: four done in 2, 4, 6 and 4 hours; one done only this week.
  task("2026-11-24T08:00:00Z", "done", {{"completed_at", "2026-11-24T12:00:00Z"}});
  task("2026-11-24T08:00:00Z", "done", {{"completed_at", "2026-11-24T10:00:00Z"}});
  task("2026-11-24T08:00:00Z", "done", {{"completed_at", "2026-11-24T12:00:00Z"}});
  task("2026-11-24T08:00:00Z", "done", {{"completed_at", "2026-11-24T14:00:00Z"}});
  task("2026-11-24T08:00:00Z", "done", {{"completed_at", "2026-12-01T08:00:00Z"}});
  // ... and one cancelled only after the week before's report time: open as that week stood.
  task("2026-11-24T08:00:00Z", "cancelled", {{"cancelled_at", "2026-12-01T08:00:00Z"}});
  // Last week: three done in 12, 24 and 24 hours, one open past its deadline, one open, one cancelled.
  task("2026-12-01T08:00:00Z", "done", {{"completed_at", "2026-12-02T08:00:00Z"}});
  task("2026-12-01T08:00:00Z", "open", json::object());
  task("2026-12-01T08:00:00Z", "done", {{"completed_at", "2026-12-01T20:00:00Z"}});
  task("2026-12-01T08:00:00Z", "done", {{"completed_at", "2026-12-02T08:00:00Z"}});
  task("2026-12-01T08:00:00Z", "open", {{"deadline", "2026-12-02T08:00:00Z"}});
  task("2026-12-01T08:00:00Z", "cancelled", json::object());
  // And one cancelled only after the report ran: it was open as the week stood.
  task("2026-12-01T08:00:00Z", "cancelled", {{"cancelled_at", "2026-12-08T08:00:00Z"}});

  const json weekly{{"report", "tasks"}, {"schedule", "every monday at 09:00"}, {"period", "week"}, {"alert", "10%"}};
  const std::vector<CompiledRule> rules{time_rule("tasks weekly", weekly)};
  ASSERT_EQ(rules[0].time_trigger->event_type(), "report.tasks");
  TimeTriggers::Options options;
  options.account_timezone = "Europe/Moscow";
  TimeTriggers t(*store_, rules, {}, options, nullptr);
  EXPECT_TRUE(t.check(at("2026-12-07T05:59:00Z")).empty());  // running when it comes
  const auto events = t.check(at("2026-12-07T06:00:30Z"));   // Monday 09:00 in Moscow
  ASSERT_EQ(events.size(), 1u);
  const json data = json::parse(events[0].body_json)["data"];
  EXPECT_EQ(data["from"], "2026-11-29T21:00:00.000Z");
  const json& total = data["total"];
  EXPECT_EQ(total["created"], 7) << data.dump(2);
  EXPECT_EQ(total["done"], 3);
  EXPECT_EQ(total["cancelled"], 1);
  EXPECT_EQ(total["open"], 3);
  EXPECT_EQ(total["overdue"], 1);
  EXPECT_DOUBLE_EQ(total["completion_rate"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(total["hours_to_complete"]["average"].get<double>(), 20);
  const json& before = data["previous"]["total"];
  EXPECT_EQ(before["done"], 4);       // the fifth was done after the week before's report time
  EXPECT_EQ(before["cancelled"], 0);  // and the sixth cancelled after it
  EXPECT_EQ(before["open"], 2);
  EXPECT_DOUBLE_EQ(before["completion_rate"].get<double>(), 0.667);
  EXPECT_DOUBLE_EQ(before["hours_to_complete"]["average"].get<double>(), 4);
  EXPECT_EQ(data["assignees"]["m1"]["name"], "Анна");
  std::set<std::string> changed;
  for (const json& a : data["alerts"])
    changed.insert((a["assignee"].is_null() ? std::string("total") : a["assignee"].get<std::string>()) + " " +
                   a["metric"].get<std::string>());
  EXPECT_EQ(changed, (std::set<std::string>{"total completion_rate", "total hours_to_complete", "m1 completion_rate",
                                            "m1 hours_to_complete"}))
      << data["alerts"].dump();
  const std::string text = data["text"];
  EXPECT_NE(text.find("Tasks created 30.11.2026 - 06.12.2026"), std::string::npos) << text;
  EXPECT_NE(text.find("Анна: 7 created, 3 done (50%, was 66.7%), 1 overdue, 20.0 h to complete (was 4.0 h)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Total: completion_rate fell by 25% (66.7% -> 50%)"), std::string::npos) << text;
  EXPECT_NE(data["html"].get<std::string>().find("<td>Анна</td><td>7</td><td>3 (50%)</td><td>1</td>"),
            std::string::npos)
      << data["html"];
}

TEST(TimeTriggerCompile, AMessagesReportNamesRulesByName) {
  std::vector<ConditionProblem> problems;
  EXPECT_FALSE(TimeTrigger::compile({{"report", "messages"}, {"schedule", "daily"}, {"rules", {"a", 1}}}, problems));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].pointer, "/rules");
  problems.clear();
  EXPECT_FALSE(TimeTrigger::compile({{"report", "channels"}, {"schedule", "daily"}, {"rules", {"a"}}}, problems));
  const auto every = TimeTrigger::compile({{"report", "messages"}, {"schedule", "daily"}}, problems);
  ASSERT_TRUE(every);
  EXPECT_TRUE(every->rules.empty());  // every rule that sends messages
}

// February against January: as many records a day is no fall, though 28
// days hold fewer than 31; conversion compares as it is.
TEST(ChannelReport, PeriodsOfDifferentLengthsCompareRecordsPerDay) {
  Config::AdChannelsConfig config;
  config.entity = "booking";
  ChannelCounts february, january;
  february.total = {28, 14, 0, 0};
  january.total = {31, 31, 0, 0};
  february.channels["Site"] = february.total;
  january.channels["Site"] = january.total;
  const int64_t day = 86'400'000;
  const ReportPeriod feb{at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z")};
  const ReportPeriod jan{at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")};
  ASSERT_EQ(feb.to_ms - feb.from_ms, 28 * day);
  const json report = channel_report({config, feb, jan, february, january, 0.2, "UTC", true});
  EXPECT_NEAR(report["changes"]["total"]["records"].get<double>(), 0, 1e-9);
  EXPECT_NEAR(report["changes"]["total"]["conversion"].get<double>(), -0.5, 1e-9);
  std::set<std::string> fell;
  for (const json& a : report["alerts"]) fell.insert(a["metric"].get<std::string>());
  EXPECT_EQ(fell, (std::set<std::string>{"conversion", "sales"})) << report["alerts"].dump();
  EXPECT_NE(report["text"].get<std::string>().find("01.02.2026 - 28.02.2026"), std::string::npos) << report["text"];
}

TEST(TimeTriggerRules, AReportNamesWhatItCountsAndAPeriodAndAThresholdItKnows) {
  std::vector<ConditionProblem> problems;
  EXPECT_FALSE(TimeTrigger::compile({{"report", "sales"}, {"schedule", "daily"}}, problems));
  EXPECT_FALSE(TimeTrigger::compile({{"report", "channels"}}, problems));
  EXPECT_FALSE(
      TimeTrigger::compile({{"report", "channels"}, {"schedule", "daily"}, {"period", "fortnight"}}, problems));
  EXPECT_FALSE(TimeTrigger::compile({{"report", "channels"}, {"schedule", "daily"}, {"alert", "120%"}}, problems));
  std::set<std::string> pointers;
  for (const auto& p : problems) pointers.insert(p.pointer);
  EXPECT_EQ(pointers, (std::set<std::string>{"/report", "/schedule", "/period", "/alert"}));
  problems.clear();
  const auto daily = TimeTrigger::compile({{"report", "channels"}, {"schedule", "daily"}, {"alert", 0.3}}, problems);
  ASSERT_TRUE(daily) << problems[0].message;
  EXPECT_DOUBLE_EQ(daily->alert_drop, 0.3);
  EXPECT_EQ(daily->describe(),
            "report channels on schedule \"daily\" (the account's time zone), over the time since the run before, "
            "only when a figure fell by 30%");
}

// The store forgets events after its retention: an entity overdue for longer
// than that (less a day) is let go, or a restart would alert of it again.
TEST_F(TimeTriggersTest, AnEntityOverdueForLongerThanTheStoreKeepsEventsIsLetGo) {
  append({{"id", "d1"},
          {"type", "deal.created"},
          {"entity", {{"type", "deal"}, {"id", "D1"}, {"fields", {{"due", "2026-10-01T12:00:00Z"}}}}}});
  append({{"id", "d2"},
          {"type", "deal.created"},
          {"entity", {{"type", "deal"}, {"id", "D2"}, {"fields", {{"due", "2026-11-20T12:00:00Z"}}}}}});
  const std::vector<CompiledRule> rules{time_rule("late deal", {{"overdue", "deal"}, {"field", "entity.fields.due"}})};
  TimeTriggers::Options kept_30_days;
  kept_30_days.events_kept_ms = 30 * 86'400'000LL;
  TimeTriggers t(*store_, rules, {}, kept_30_days, nullptr);
  EXPECT_EQ(ids(t, "2026-12-05T12:00:00Z"),
            std::vector<std::string>{"time:late deal:deal:D2:2026-11-20T12:00:00.000Z"});
  // Every event kept: the store knows each occurrence (D2's, given again, is its duplicate).
  TimeTriggers forever(*store_, rules, {}, {}, nullptr);
  EXPECT_EQ(ids(forever, "2026-12-05T12:00:00Z"),
            (std::vector<std::string>{"time:late deal:deal:D1:2026-10-01T12:00:00.000Z",
                                      "time:late deal:deal:D2:2026-11-20T12:00:00.000Z"}));
}

TEST_F(TimeTriggersTest, OverdueEntitiesOncePerDueTimeAndNeverInAClosedStatus) {
  append(
      {{"id", "d1"},
       {"type", "deal.created"},
       {"entity", {{"type", "deal"}, {"id", "D1"}, {"status", "new"}, {"fields", {{"due", "2026-12-01T12:00:00Z"}}}}}});
  append(
      {{"id", "d2"},
       {"type", "deal.created"},
       {"entity", {{"type", "deal"}, {"id", "D2"}, {"status", "won"}, {"fields", {{"due", "2026-11-01T12:00:00Z"}}}}}});
  append({{"id", "t1"},
          {"type", "task.created"},
          {"entity",
           {{"type", "task"}, {"id", "T1"}, {"status", "open"}, {"fields", {{"deadline", "2026-12-02T12:00:00Z"}}}}}});
  std::vector<CompiledRule> rules{time_rule(
      "late deal", {{"overdue", "deal"}, {"field", "entity.fields.due"}, {"by", "1d"}, {"closed", {"won", "lost"}}})};
  std::vector<ConditionProblem> problems;
  CompiledRule on_task;  // a rule on the host's task.overdue turns it on
  on_task.name = "task late";
  on_task.trigger = Trigger::compile({{"event", "task.overdue"}}, {}, problems);
  rules.push_back(on_task);
  TimeTriggers t(*store_, rules, {}, {}, nullptr);
  EXPECT_TRUE(ids(t, "2026-12-02T11:59:00Z").empty());  // D1 is late by less than a day
  EXPECT_EQ(ids(t, "2026-12-02T12:00:00Z"), (std::vector<std::string>{"time:late deal:deal:D1:2026-12-01T12:00:00.000Z",
                                                                      "overdue:task:T1:2026-12-02T12:00:00.000Z"}));
  EXPECT_TRUE(ids(t, "2026-12-02T12:01:00Z").empty());
  const auto events = store_->events_after(0, 100);
  EXPECT_EQ(events.back().record.type, "task.overdue");
  EXPECT_EQ(events.back().record.source, "time");
  EXPECT_EQ(json::parse(events.back().entity_json)["id"], "T1");
  // Done tasks are never overdue; a moved deadline is a new occurrence.
  append({{"id", "t2"},
          {"type", "task.updated"},
          {"entity", {{"type", "task"}, {"id", "T1"}, {"fields", {{"deadline", "2026-12-03T12:00:00Z"}}}}}});
  EXPECT_EQ(ids(t, "2026-12-03T12:00:00Z"), std::vector<std::string>{"overdue:task:T1:2026-12-03T12:00:00.000Z"});
  append({{"id", "t3"},
          {"type", "task.status_changed"},
          {"entity",
           {{"type", "task"}, {"id", "T1"}, {"status", "done"}, {"fields", {{"deadline", "2026-12-04T12:00:00Z"}}}}}});
  EXPECT_TRUE(ids(t, "2026-12-05T12:00:00Z").empty());
}

// A rule on deal.overdue (as on task.overdue) has the host watch deals'
// deadlines: once per deadline, never for a deal in a closing status.
TEST_F(TimeTriggersTest, ARuleOnAnEntitysOverdueEventWatchesItsDeadlineUntilItCloses) {
  const auto deal = [&](const std::string& id, const char* status, const char* deadline) {
    append({{"id", "e-" + id},
            {"type", "deal.updated"},
            {"entity", {{"type", "deal"}, {"id", id}, {"status", status}, {"fields", {{"deadline", deadline}}}}}});
  };
  deal("D1", "new", "2026-12-02T12:00:00Z");
  deal("D2", "won", "2026-12-01T12:00:00Z");
  deal("D3", "Успешно реализовано", "2026-12-01T12:00:00Z");
  deal("D4", "WON", "2026-12-01T12:00:00Z");      // in any case
  deal("D5", "ЗАКРЫТО", "2026-12-01T12:00:00Z");  // Cyrillic too
  // SendPulse's and amoCRM's finishing stages.
  for (const char* status : {"Успешно завершено", "Завершено", "Оплачено", "Отказ", "Paid", "Completed"})
    deal(std::string("F-") + status, status, "2026-12-01T12:00:00Z");
  std::vector<ConditionProblem> problems;
  CompiledRule on_deal;
  on_deal.name = "deal late";
  on_deal.trigger = Trigger::compile({{"event", "deal.overdue"}}, {}, problems);
  TimeTriggers t(*store_, {on_deal}, {}, {}, nullptr);
  EXPECT_FALSE(t.empty());
  EXPECT_TRUE(ids(t, "2026-12-02T11:59:00Z").empty());
  EXPECT_EQ(ids(t, "2026-12-02T12:00:30Z"), std::vector<std::string>{"overdue:deal:D1:2026-12-02T12:00:00.000Z"});
  EXPECT_TRUE(ids(t, "2026-12-02T13:00:00Z").empty());
}

// A birthday written into a contact between the hourly reads of all
// contacts comes at its time that day: each check reads the contacts that
// changed since the last.
TEST_F(TimeTriggersTest, ABirthdayAddedBetweenTheHourlyReadsComesAtItsTime) {
  const std::vector<CompiledRule> rules{time_rule("birthday", {{"special_date", "birthday"}, {"at", "10:00"}})};
  TimeTriggers::Options options;
  options.account_timezone = "Europe/Moscow";
  TimeTriggers t(*store_, rules, {}, options, nullptr);
  EXPECT_TRUE(ids(t, "2026-12-02T06:00:00Z").empty());  // the hourly read: no one yet
  append({{"id", "c1"},
          {"type", "contact.updated"},
          {"contact", {{"id", "anna"}, {"fields", {{"birthday", "1990-12-02"}}}}}});
  append({{"id", "c2"},
          {"type", "contact.updated"},
          {"contact", {{"id", "oleg"}, {"fields", {{"birthday", "1990-12-02"}}}}}});
  EXPECT_TRUE(ids(t, "2026-12-02T06:30:00Z").empty());  // read, and due at 10:00 Moscow
  // Oleg's birthday is corrected to tomorrow before it comes.
  append({{"id", "c3"},
          {"type", "contact.updated"},
          {"contact", {{"id", "oleg"}, {"fields", {{"birthday", "1990-12-03"}}}}}});
  EXPECT_EQ(ids(t, "2026-12-02T07:00:30Z"), std::vector<std::string>{"time:birthday:id:anna:2026-12-02"});
}

// A task's reminder ("1 hour before") comes as the host's task.reminder at
// that time, once, with the deadline; never for a closed task, and not a
// day late (after a long outage).
TEST_F(TimeTriggersTest, ATasksReminderComesOnceAtItsTimeWhileTheTaskIsOpen) {
  append({{"id", "t1"},
          {"type", "task.created"},
          {"entity",
           {{"type", "task"},
            {"id", "T1"},
            {"status", "open"},
            {"fields", {{"deadline", "2026-12-02T12:00:00Z"}, {"reminder", "2026-12-02T11:00:00Z"}}}}}});
  append({{"id", "t2"},
          {"type", "task.created"},
          {"entity",
           {{"type", "task"}, {"id", "T2"}, {"status", "done"}, {"fields", {{"reminder", "2026-12-02T11:00:00Z"}}}}}});
  append({{"id", "t3"},
          {"type", "task.created"},
          {"entity",
           {{"type", "task"}, {"id", "T3"}, {"status", "open"}, {"fields", {{"reminder", "2026-11-30T11:00:00Z"}}}}}});
  std::vector<ConditionProblem> problems;
  CompiledRule on_reminder;  // a rule on the host's task.reminder turns it on
  on_reminder.name = "remind";
  on_reminder.trigger = Trigger::compile({{"event", "task.reminder"}}, {}, problems);
  TimeTriggers t(*store_, {on_reminder}, {}, {}, nullptr);
  EXPECT_TRUE(ids(t, "2026-12-02T10:59:00Z").empty());
  EXPECT_EQ(ids(t, "2026-12-02T11:00:30Z"), std::vector<std::string>{"reminder:task:T1:2026-12-02T11:00:00.000Z"});
  EXPECT_TRUE(ids(t, "2026-12-02T11:01:30Z").empty());
  const auto events = store_->events_after(0, 100);
  EXPECT_EQ(events.back().record.type, "task.reminder");
  const json data = json::parse(events.back().record.body_json)["data"];
  EXPECT_EQ(data["reminder"], "2026-12-02T11:00:00Z");
  EXPECT_EQ(data["deadline"], "2026-12-02T12:00:00Z");
  EXPECT_EQ(json::parse(events.back().entity_json)["id"], "T1");
}

// A deadline that is a date alone is due for the whole of that day on the
// account's clock: overdue once the day is over there, not at UTC midnight.
TEST_F(TimeTriggersTest, ADateAloneIsOverdueWhenThatLocalDayIsOver) {
  append({{"id", "d1"},
          {"type", "deal.created"},
          {"entity", {{"type", "deal"}, {"id", "D1"}, {"status", "new"}, {"fields", {{"due", "2026-12-02"}}}}}});
  TimeTriggers::Options options;
  options.account_timezone = "Asia/Omsk";  // UTC+6
  TimeTriggers t(*store_, {time_rule("late", {{"overdue", "deal"}, {"field", "entity.fields.due"}})}, {}, options,
                 nullptr);
  EXPECT_TRUE(ids(t, "2026-12-02T12:00:00Z").empty());  // 18:00 in Omsk: still the due day
  EXPECT_TRUE(ids(t, "2026-12-02T17:59:00Z").empty());
  EXPECT_EQ(ids(t, "2026-12-02T18:00:00Z"), std::vector<std::string>{"time:late:deal:D1:2026-12-02T00:00:00.000Z"});
}

TEST_F(TimeTriggersTest, ADynamicSegmentIsRefreshedOnItsScheduleAndItsSizeIsKept) {
  append({{"id", "c1"}, {"type", "contact.updated"}, {"contact", {{"id", "A"}, {"fields", {{"visits", 12}}}}}});
  append({{"id", "c2"}, {"type", "contact.updated"}, {"contact", {{"id", "B"}, {"fields", {{"visits", 3}}}}}});
  std::vector<ConditionProblem> problems;
  std::string why;
  DynamicSegment regulars{
      "regulars", Condition::compile({{"field", "contact.fields.visits"}, {"op", ">="}, {"value", 10}}, problems),
      Schedule::parse("every day at 03:00", why), "visits >= 10, every day at 03:00"};
  ASSERT_TRUE(problems.empty() && why.empty()) << why;
  TimeTriggers t(*store_, {}, {regulars}, {}, nullptr);
  const auto moves = [&] {
    std::vector<std::string> out;
    for (const auto& e : store_->events_after(0, 1000))
      if (e.record.type.rfind("segment.", 0) == 0)
        out.push_back(e.record.type + " " + json::parse(e.contact_json)["id"].get<std::string>());
    return out;
  };
  t.check(at("2026-12-02T10:00:00Z"));  // the first check refreshes
  EXPECT_EQ(moves(), (std::vector<std::string>{"segment.entered A"}));
  EXPECT_EQ(json::parse(store_->contact("id:A")->data_json)["segments"], json::parse(R"(["regulars"])"));

  // B comes, A goes: the router moves them as they change; the refresh
  // catches what it missed, at 03:00 the next day and not before.
  append({{"id", "c3"}, {"type", "contact.updated"}, {"contact", {{"id", "B"}, {"fields", {{"visits", 10}}}}}});
  append({{"id", "c4"}, {"type", "contact.updated"}, {"contact", {{"id", "A"}, {"fields", {{"visits", 0}}}}}});
  t.check(at("2026-12-03T02:59:00Z"));
  EXPECT_EQ(moves().size(), 1u);
  t.check(at("2026-12-03T03:00:00Z"));
  EXPECT_EQ(moves(), (std::vector<std::string>{"segment.entered A", "segment.left A", "segment.entered B"}));
  // A second refresh of the same state moves no one.
  t.check(at("2026-12-04T03:00:00Z"));
  EXPECT_EQ(moves().size(), 3u);

  const json history = json::parse(store_->kv_get(kSegmentSizes, "regulars").value());
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0], json::parse(R"({"at":"2026-12-02T10:00:00.000Z","size":1,"entered":1,"left":0})"));
  EXPECT_EQ(history[1], json::parse(R"({"at":"2026-12-03T03:00:00.000Z","size":1,"entered":1,"left":1})"));
  EXPECT_EQ(history[2], json::parse(R"({"at":"2026-12-04T03:00:00.000Z","size":1,"entered":0,"left":0})"));

  // Another node takes the time triggers over (or this one restarts): it
  // refreshes on the schedule the store remembers, not at once.
  TimeTriggers other(*store_, {}, {regulars}, {}, nullptr);
  other.check(at("2026-12-04T05:00:00Z"));
  EXPECT_EQ(json::parse(store_->kv_get(kSegmentSizes, "regulars").value()).size(), 3u);
  other.check(at("2026-12-05T03:00:00Z"));
  EXPECT_EQ(json::parse(store_->kv_get(kSegmentSizes, "regulars").value()).size(), 4u);
  // The first node takes the triggers back: the refresh the other made counts.
  t.check(at("2026-12-05T04:00:00Z"));
  EXPECT_EQ(json::parse(store_->kv_get(kSegmentSizes, "regulars").value()).size(), 4u);
  // A segment defined anew is refreshed at once.
  DynamicSegment redefined = regulars;
  redefined.definition = "another filter";
  TimeTriggers edited(*store_, {}, {redefined}, {}, nullptr);
  edited.check(at("2026-12-05T05:00:00Z"));
  EXPECT_EQ(json::parse(store_->kv_get(kSegmentSizes, "regulars").value()).size(), 5u);
}

// A static segment's members are put in by rules and managers; its size is
// counted once a day all the same, for its history ("segment size over time").
TEST_F(TimeTriggersTest, AStaticSegmentIsCountedOnceADay) {
  for (const char* id : {"A", "B", "C"})
    append({{"id", std::string("c-") + id}, {"type", "contact.updated"}, {"contact", {{"id", id}}}});
  for (const char* key : {"id:A", "id:B"}) {
    ParsedEvents parsed =
        parse_event({{"id", std::string("vip-") + key}, {"type", "contact.updated"}}, now_ms(), "api");
    ASSERT_TRUE(parsed.problems.empty());
    parsed.records[0].contact = ContactUpdate{key, ""};
    parsed.records[0].contact->segments.add = {"VIP"};
    std::promise<AppendResult> done;
    store_->append_events(parsed.records, [&](AppendResult r) { done.set_value(r); });
    ASSERT_TRUE(done.get_future().get().ok());
  }
  TimeTriggers::Options options;
  options.static_segments = {"VIP"};
  TimeTriggers t(*store_, {}, {}, options, nullptr);
  EXPECT_TRUE(t.check(at("2026-12-02T10:00:00Z")).empty());  // counted, nothing moved
  t.check(at("2026-12-03T09:59:00Z"));
  t.check(at("2026-12-03T10:00:00Z"));
  const json history = json::parse(store_->kv_get(kSegmentSizes, "VIP").value());
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0], json::parse(R"({"at":"2026-12-02T10:00:00.000Z","size":2,"entered":0,"left":0})"));
  EXPECT_EQ(history[1]["at"], "2026-12-03T10:00:00.000Z");
}

TEST(MonthDay, TheFormsDatesAreWrittenIn) {
  EXPECT_EQ(read_month_day("1990-02-28")->month, 2u);
  EXPECT_EQ(read_month_day("28.02.1990")->day, 28u);
  EXPECT_EQ(read_month_day("28.02.1990")->year, 1990);
  EXPECT_EQ(read_month_day("--02-29")->day, 29u);
  EXPECT_EQ(read_month_day("1990-05-17T00:00:00Z")->month, 5u);
  EXPECT_FALSE(read_month_day("1990-02-30"));
  EXPECT_FALSE(read_month_day("tomorrow"));
}

TEST(TimeTriggerRules, AreCheckedWithThePathAndWhatWasExpected) {
  const auto problem = [](const json& trigger) {
    std::vector<ConditionProblem> problems;
    TimeTrigger::compile(trigger, problems);
    return problems.empty() ? std::string("(none)") : problems[0].pointer + ": " + problems[0].message;
  };
  EXPECT_EQ(problem({{"special_date", "contact.fields.birthday"}, {"at", "25:00"}}),
            "/at: expected a local time of day such as \"10:00\"");
  EXPECT_EQ(problem({{"special_date", "contact.fields.birthday"}, {"offset", "-3h"}}),
            "/offset: expected whole days within a year, such as \"-3d\" (three days before)");
  EXPECT_EQ(problem({{"schedule", "every day at 09:00"}, {"timezone", "Mars/Olympus"}}),
            "/timezone: expected an IANA time zone such as \"Europe/Moscow\"");
  EXPECT_EQ(problem({{"overdue", "deal"}, {"by", "soon"}}), "/by: expected how long past due, e.g. \"1d\" or \"2h\"");
  // A path into another record, or a misspelt root, would never fire: named, with what was expected.
  EXPECT_EQ(problem({{"special_date", "entity.fields.birthday"}}),
            "/special_date: 'entity.fields.birthday' is not a field of the contact: expected "
            "\"contact.fields.<name>\" or a field's short name (\"birthday\")");
  EXPECT_EQ(problem({{"special_date", "contcat.fields.birthday"}}).substr(0, 42),
            "/special_date: 'contcat.fields.birthday' i");
  EXPECT_EQ(problem({{"overdue", "deal"}, {"field", "contact.fields.x"}}),
            "/field: 'contact.fields.x' is not a field of the entity: expected \"entity.fields.<name>\" or a "
            "field's short name (\"due\")");
  EXPECT_EQ(problem({{"overdue", "deal"}, {"field", 7}}),
            "/field: expected \"entity.fields.<name>\" or a field's short name (\"due\")");
  for (const char* fine : {"birthday", "fields.birthday", "contact.fields.birthday", "contact.birthday"})
    EXPECT_EQ(problem({{"special_date", fine}}), "(none)") << fine;
  EXPECT_EQ(problem({{"schedule", "0 9 * *"}}).substr(0, 30), "/schedule: '0 9 * *' has 4 fie");
  EXPECT_EQ(problem({{"overdue", "deal"}, {"at", "10:00"}}).substr(0, 29), "/at: does not go with \"overdu");
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

// MatrixCRM's "added by hand, as the manager decides": a contact a manager
// put into a dynamic segment stays in, and one taken out stays out, whatever
// the filter says, on every check (the router's and a refresh); without a
// choice, the filter decides.
TEST(SegmentMembershipChoice, AManagersChoiceStandsWhateverTheFilterSays) {
  std::vector<ConditionProblem> problems;
  const DynamicSegment regulars{
      "regulars", Condition::compile({{"field", "contact.fields.visits"}, {"op", ">="}, {"value", 10}}, problems),
      std::nullopt};
  ASSERT_TRUE(problems.empty());
  const auto moves = [&](const json& contact) {
    std::vector<EventRecord> out;
    SegmentMembership::check(regulars, "id:c1", SegmentMembership::context_of(contact, "UTC"), "t", 0, 0, out);
    return out.empty() ? std::string("-") : out[0].type;
  };
  EXPECT_EQ(moves({{"fields", {{"visits", 2}}}, {"manual_segments", {"regulars"}}}), "segment.entered");
  EXPECT_EQ(moves({{"fields", {{"visits", 2}}}, {"manual_segments", {"regulars"}}, {"segments", {"regulars"}}}), "-");
  EXPECT_EQ(moves({{"fields", {{"visits", 12}}}, {"excluded_segments", {"regulars"}}, {"segments", {"regulars"}}}),
            "segment.left");
  EXPECT_EQ(moves({{"fields", {{"visits", 12}}}, {"excluded_segments", {"regulars"}}}), "-");
  EXPECT_EQ(moves({{"fields", {{"visits", 12}}}, {"excluded_segments", {"other"}}}), "segment.entered");
  EXPECT_EQ(moves({{"fields", {{"visits", 2}}}, {"segments", {"regulars"}}}), "segment.left");
}

}  // namespace
}  // namespace sb
