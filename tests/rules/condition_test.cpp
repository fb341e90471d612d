// Rule filters: every operator, missing fields, groups, the shorthand, and
// compile errors that point at the condition at fault.
#include "rules/Condition.h"

#include <gtest/gtest.h>

#include "util/Time.h"

namespace sb {
namespace {

using nlohmann::json;

const json kContext = json::parse(R"({
  "event": {"type": "lead.status_changed"},
  "entity": {"status": "new", "fields": {"visits": 10, "budget": 2500.5, "booking_at": "2026-12-01T10:00:00Z"}},
  "contact": {"name": "Анна Петрова", "tags": ["vip", "newsletter"], "fields": {"city": "Омск", "note": null},
              "emails": [{"address": "anna@example.com", "type": "work"}]}
})");

bool eval(const json& filter, int64_t now = 0) {
  std::vector<ConditionProblem> problems;
  auto c = Condition::compile(filter, problems);
  EXPECT_TRUE(problems.empty()) << filter.dump() << ": " << (problems.empty() ? "" : problems[0].message);
  return c && c->matches(kContext, now);
}

json cond(const std::string& field, const std::string& op, json value = json()) {
  json c{{"field", field}, {"op", op}};
  if (!value.is_null() || op != "exists") c["value"] = value;
  return c;
}

TEST(Condition, EqualityAndOrdering) {
  EXPECT_TRUE(eval(cond("contact.fields.city", "=", "Омск")));
  EXPECT_FALSE(eval(cond("contact.fields.city", "=", "омск")));
  EXPECT_TRUE(eval(cond("entity.status", "!=", "won")));
  EXPECT_TRUE(eval(cond("entity.fields.visits", ">=", 10)));
  EXPECT_FALSE(eval(cond("entity.fields.visits", ">", 10)));
  EXPECT_TRUE(eval(cond("entity.fields.visits", "=", 10.0)));  // numbers by value
  EXPECT_TRUE(eval(cond("entity.fields.budget", "<", 3000)));
  EXPECT_TRUE(eval(cond("contact.name", "<", "Б")));             // strings by bytes
  EXPECT_FALSE(eval(cond("entity.fields.visits", "<", "ten")));  // a number is not ordered with other text
}

// CRMs often send numbers as text: such a value compares with a number as
// the number it is ("12 000" and "1,5" too), and is otherwise text.
TEST(Condition, ANumberSentAsTextComparesAsANumber) {
  const json context = json::parse(
      R"({"entity": {"fields": {"check": "12000", "visits": "10", "spaced": "12 000", "nbsp": "12 000",
                                "rate": "1,5", "code": "007", "word": "10 visits", "large": "9000"}}})");
  const auto matches = [&](const json& filter) {
    std::vector<ConditionProblem> problems;
    auto c = Condition::compile(filter, problems);
    return c && c->matches(context, 0);
  };
  EXPECT_TRUE(matches(cond("entity.fields.check", ">", 10000)));
  EXPECT_TRUE(matches(cond("entity.fields.visits", ">=", 10)));
  EXPECT_TRUE(matches(cond("entity.fields.visits", "=", 10)));
  EXPECT_TRUE(matches(cond("entity.fields.visits", "in", json::array({5, 10}))));
  EXPECT_TRUE(matches(cond("entity.fields.spaced", "=", 12000)));
  EXPECT_TRUE(matches(cond("entity.fields.nbsp", "=", 12000)));
  EXPECT_TRUE(matches(cond("entity.fields.rate", "<", 2)));
  const json ambiguous = json::parse(R"({"entity": {"fields": {"a": "12,000", "b": "1,234,567"}}})");
  for (const char* field : {"entity.fields.a", "entity.fields.b"}) {
    std::vector<ConditionProblem> problems;
    auto c = Condition::compile(cond(field, ">", 1), problems);
    EXPECT_FALSE(c->matches(ambiguous, 0)) << field;  // twelve, or twelve thousand: neither
  }
  EXPECT_TRUE(matches(cond("entity.fields.code", "=", 7)));
  EXPECT_FALSE(matches(cond("entity.fields.large", ">", 10000)));  // as a number, not by its first digit
  EXPECT_FALSE(matches(cond("entity.fields.word", ">=", 10)));     // text with a number in it is text
  EXPECT_TRUE(matches(cond("entity.fields.code", "=", "007")));    // text with text: as written
  EXPECT_FALSE(matches(cond("entity.fields.code", "=", "7")));
}

TEST(Condition, ContainsInAndExists) {
  EXPECT_TRUE(eval(cond("contact.tags", "contains", "vip")));
  EXPECT_FALSE(eval(cond("contact.tags", "contains", "blocked")));
  EXPECT_TRUE(eval(cond("contact.name", "contains", "Петров")));
  EXPECT_TRUE(eval(cond("contact.fields", "contains", "city")));
  EXPECT_TRUE(eval(cond("entity.status", "in", json::array({"new", "qualified"}))));
  EXPECT_FALSE(eval(cond("entity.status", "in", json::array({"won"}))));
  // A list field is in when one of its items is.
  EXPECT_TRUE(eval(cond("contact.tags", "in", json::array({"gold", "vip"}))));
  EXPECT_FALSE(eval(cond("contact.tags", "in", json::array({"gold", "blocked"}))));
  // ... and equal to one value when it holds it ("the tag is VIP").
  EXPECT_TRUE(eval(cond("contact.tags", "=", "vip")));
  EXPECT_FALSE(eval(cond("contact.tags", "=", "gold")));
  EXPECT_TRUE(eval(cond("contact.tags", "!=", "gold")));
  EXPECT_FALSE(eval(cond("contact.tags", "!=", "vip")));
  EXPECT_TRUE(eval(cond("contact.emails.0.type", "=", "work")));
  EXPECT_TRUE(eval(cond("contact.fields.city", "exists")));
  EXPECT_FALSE(eval(cond("contact.fields.note", "exists")));  // null counts as absent
  EXPECT_FALSE(eval(cond("contact.fields.missing", "exists")));
}

TEST(Condition, MissingFieldsFailComparisonsButNotInequality) {
  EXPECT_FALSE(eval(cond("contact.fields.missing", "=", "x")));
  EXPECT_FALSE(eval(cond("contact.fields.missing", "<", 5)));
  EXPECT_FALSE(eval(cond("contact.fields.missing", "contains", "x")));
  EXPECT_TRUE(eval(cond("contact.fields.missing", "!=", "x")));
  EXPECT_FALSE(eval(cond("entity.status.deeper", "=", "x")));
  // A field without a value (absent or null) is null: "= null" holds, "!= null" does not.
  EXPECT_TRUE(eval(cond("contact.fields.missing", "=", nullptr)));
  EXPECT_FALSE(eval(cond("contact.fields.missing", "!=", nullptr)));
  EXPECT_TRUE(eval(cond("contact.fields.note", "=", nullptr)));
  EXPECT_FALSE(eval(cond("contact.fields.note", "!=", nullptr)));
  EXPECT_FALSE(eval(cond("contact.fields.city", "=", nullptr)));
  EXPECT_TRUE(eval(cond("contact.fields.city", "!=", nullptr)));
  EXPECT_TRUE(eval(cond("contact.fields.missing", "in", json::array({"x", nullptr}))));
  EXPECT_FALSE(eval(cond("contact.fields.missing", "in", json::array({"x"}))));
}

TEST(Condition, DatesAgainstFixedAndRelativeTimes) {
  const int64_t now = *parse_time_ms("2026-11-24T10:00:00Z");
  EXPECT_TRUE(eval(cond("entity.fields.booking_at", "after", "2026-11-30"), now));
  EXPECT_TRUE(eval(cond("entity.fields.booking_at", "before", "2026-12-01T13:00:00+03:00"), now) == false);
  EXPECT_TRUE(eval(cond("entity.fields.booking_at", "after", "now"), now));
  EXPECT_TRUE(eval(cond("entity.fields.booking_at", "before", "now+7d1h"), now));
  EXPECT_FALSE(eval(cond("entity.fields.booking_at", "before", "now+7d"), now));
  EXPECT_FALSE(eval(cond("contact.name", "before", "now"), now));  // not a time
}

// A booking's local time without an offset is on the contact's clock.
TEST(Condition, ALocalTimeWithoutAnOffsetIsOnTheContactsClock) {
  const json context = {{"contact", {{"timezone", "Asia/Omsk"}}},
                        {"entity", {{"fields", {{"at", "2026-11-25T16:00"}}}}}};
  std::vector<ConditionProblem> problems;
  const auto after = Condition::compile(cond("entity.fields.at", "after", "now"), problems);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->matches(context, *parse_time_ms("2026-11-25T09:59:00Z")));   // 15:59 in Omsk
  EXPECT_FALSE(after->matches(context, *parse_time_ms("2026-11-25T10:01:00Z")));  // 16:01 in Omsk
}

// A date alone is a local day (the contact's, the condition's, the
// account's zone, else UTC), as wait_until reads it: not UTC midnight.
TEST(Condition, ADateAloneIsTheLocalDayNotUtcMidnight) {
  auto matches = [](const json& filter, const json& context, int64_t now) {
    std::vector<ConditionProblem> problems;
    auto c = Condition::compile(filter, problems);
    EXPECT_TRUE(problems.empty()) << filter.dump() << ": " << (problems.empty() ? "" : problems[0].message);
    return c && c->matches(context, now);
  };
  // 10 December begins at 2026-12-09T18:00:00Z in Omsk (UTC+6).
  const json in_omsk = json::parse(R"({"account": {"timezone": "Asia/Omsk"}, "entity": {"fields":
      {"booking": "2026-12-10", "paid_at": "2026-12-09T19:00:00Z"}}})");
  const int64_t evening_before = *parse_time_ms("2026-12-09T20:00:00Z");  // already the 10th in Omsk
  EXPECT_TRUE(matches(cond("entity.fields.booking", "before", "now"), in_omsk, evening_before));
  EXPECT_FALSE(matches(cond("entity.fields.booking", "before", "now"), json::parse(R"({"entity": {"fields":
      {"booking": "2026-12-10"}}})"),
                       evening_before));  // in UTC it has not begun
  // The bound as a date alone, too: paid during the 10th, Omsk time.
  EXPECT_TRUE(matches(cond("entity.fields.paid_at", "after", "2026-12-10"), in_omsk, 0));
  EXPECT_FALSE(
      matches(cond("entity.fields.paid_at", "after", "2026-12-10"), json::object({{"entity", in_omsk["entity"]}}), 0));
  // The contact's zone first, then the condition's own, then the account's.
  json moscow_contact = in_omsk;
  moscow_contact["contact"] = {{"timezone", "Europe/Moscow"}};  // the 10th begins at 21:00Z
  EXPECT_FALSE(matches(cond("entity.fields.booking", "before", "now"), moscow_contact, evening_before));
  json own = cond("entity.fields.booking", "before", "now");
  own["timezone"] = "Europe/Moscow";
  EXPECT_FALSE(matches(own, in_omsk, evening_before));
  // A full time is the instant it names, whatever the zone.
  EXPECT_TRUE(matches(cond("entity.fields.paid_at", "before", "now"), moscow_contact, evening_before));
}

TEST(Condition, GroupsCombine) {
  const json vip_in_omsk = {
      {"all", {cond("contact.tags", "contains", "vip"), cond("contact.fields.city", "=", "Омск")}}};
  EXPECT_TRUE(eval(vip_in_omsk));
  EXPECT_TRUE(eval({{"any", {cond("entity.status", "=", "won"), cond("entity.fields.visits", ">=", 10)}}}));
  EXPECT_FALSE(eval({{"not", vip_in_omsk}}));
  EXPECT_TRUE(eval({{"not", {{"any", {cond("entity.status", "=", "won"), cond("entity.status", "=", "lost")}}}}}));
  // "and" and "or": other names of all and any.
  EXPECT_TRUE(eval({{"and", {cond("contact.tags", "contains", "vip"), cond("contact.fields.city", "=", "Омск")}}}));
  EXPECT_FALSE(eval({{"and", {cond("contact.tags", "contains", "vip"), cond("contact.fields.city", "=", "Томск")}}}));
  EXPECT_TRUE(eval({{"or", {cond("entity.status", "=", "won"), cond("entity.fields.visits", ">=", 10)}}}));
  EXPECT_FALSE(eval({{"or", {cond("entity.status", "=", "won"), cond("entity.status", "=", "lost")}}}));
  EXPECT_TRUE(eval(json::parse(R"({"entity.status": "new", "contact.fields.city": "Омск"})")));  // shorthand
  EXPECT_FALSE(eval(json::parse(R"({"entity.status": "new", "contact.fields.city": "Москва"})")));
}

// "Birthday this month" and its neighbours, in local days.
TEST(Condition, AnniversariesFallInPeriodsOfLocalDays) {
  const auto in = [](const std::string& birthday, const std::string& period, const char* now, json extra = {}) {
    json context{{"contact", {{"fields", {{"birthday", birthday}}}}}};
    if (!extra.is_null()) context.update(extra);
    std::vector<ConditionProblem> problems;
    auto c =
        Condition::compile({{"field", "contact.fields.birthday"}, {"op", "anniversary"}, {"value", period}}, problems);
    EXPECT_TRUE(problems.empty());
    return c->matches(context, *parse_time_ms(now));
  };
  EXPECT_TRUE(in("1990-12-17", "this_month", "2026-12-02T10:00:00Z"));
  EXPECT_TRUE(in("17.12", "this_month", "2026-12-31T23:00:00Z"));
  EXPECT_FALSE(in("1990-11-30", "this_month", "2026-12-02T10:00:00Z"));
  EXPECT_TRUE(in("1990-01-05", "next_month", "2026-12-02T10:00:00Z"));  // across the new year
  EXPECT_TRUE(in("1990-12-02", "today", "2026-12-02T10:00:00Z"));
  EXPECT_TRUE(in("1990-12-03", "tomorrow", "2026-12-02T10:00:00Z"));
  // Wednesday 2 December 2026: the week runs from Monday 30 November to Sunday 6 December.
  EXPECT_TRUE(in("1990-11-30", "this_week", "2026-12-02T10:00:00Z"));
  EXPECT_TRUE(in("1990-12-06", "this_week", "2026-12-02T10:00:00Z"));
  EXPECT_FALSE(in("1990-12-07", "this_week", "2026-12-02T10:00:00Z"));
  EXPECT_TRUE(in("1990-01-01", "next_31_days", "2026-12-02T10:00:00Z"));
  EXPECT_FALSE(in("1990-01-02", "next_31_days", "2026-12-02T10:00:00Z"));
  // 29 February is the 28th in other years.
  EXPECT_TRUE(in("1992-02-29", "today", "2027-02-28T10:00:00Z"));
  EXPECT_TRUE(in("1992-02-29", "today", "2028-02-29T10:00:00Z"));
  EXPECT_FALSE(in("1992-02-29", "today", "2028-02-28T10:00:00Z"));
  // 30 November 20:00 UTC is already 1 December in Omsk (+6): the contact's zone first, then the account's.
  EXPECT_FALSE(in("1990-12-15", "this_month", "2026-11-30T20:00:00Z"));
  EXPECT_TRUE(in("1990-12-15", "this_month", "2026-11-30T20:00:00Z", {{"account", {{"timezone", "Asia/Omsk"}}}}));
  EXPECT_FALSE(in("1990-12-15", "this_month", "2026-11-30T20:00:00Z",
                  {{"account", {{"timezone", "Asia/Omsk"}}},
                   {"contact", {{"timezone", "Europe/London"}, {"fields", {{"birthday", "1990-12-15"}}}}}}));
  EXPECT_FALSE(in("not a date", "this_month", "2026-12-02T10:00:00Z"));
}

TEST(Condition, CompileErrorsPointAtTheCondition) {
  struct Case {
    json filter;
    std::string pointer, message_part;
  };
  const Case cases[] = {
      {{{"field", "x"}, {"op", "~="}, {"value", 1}}, "/op", "unknown operator '~='"},
      {{{"field", "x"}, {"op", "in"}, {"value", "a"}}, "/value", "array"},
      {{{"field", "x"}, {"op", "exists"}, {"value", true}}, "/value", "no value"},
      {{{"field", "x"}, {"op", ">"}}, "", "needs a value"},
      {{{"field", "x"}, {"op", "before"}, {"value", "tomorrow"}}, "/value", "RFC 3339"},
      {{{"all", {cond("a", "=", 1), {{"field", ""}}}}}, "/all/1/field", "dotted path"},
      {{{"any", json::array()}}, "/any", "non-empty array"},
      {{{"or", json::array()}}, "/or", "non-empty array"},
      {{{"and", {cond("a", "=", 1), {{"field", "x"}, {"op", "has"}, {"value", 1}}}}}, "/and/1/op", "unknown operator"},
      {{{"field", "x"}, {"value", 1}, {"colour", "red"}}, "/colour", "unknown key"},
      {json::parse(R"({"body.status": {"in": [1]}})"), "/body.status", "string, number, boolean or null"},
      {{{"field", "x"}, {"op", "anniversary"}, {"value", "soon"}}, "/value", "this_month"},
      {{{"field", "x"}, {"op", "anniversary"}, {"value", "next_400_days"}}, "/value", "up to 366"},
      {{{"field", "x"}, {"op", "anniversary"}, {"value", "today"}, {"timezone", "Mars/Olympus"}}, "/timezone", "IANA"},
      {{{"field", "x"}, {"op", "after"}, {"value", "now"}, {"timezone", "Mars/Olympus"}}, "/timezone", "IANA"},
      {{{"field", "x"}, {"op", "<"}, {"value", 1}, {"timezone", "Asia/Omsk"}}, "/timezone", "unknown key"},
      {{{"field", "x"}, {"op", 5}, {"value", 1}}, "/op", "operator name"},
      {{{"field", "x"}, {"op", nullptr}, {"value", 1}}, "/op", "operator name"},
      {{{"op", ">"}, {"value", 5}}, "", "needs \"field\""},  // "field" forgotten: not the shorthand
  };
  for (const auto& c : cases) {
    std::vector<ConditionProblem> problems;
    EXPECT_EQ(Condition::compile(c.filter, problems, ""), nullptr) << c.filter.dump();
    ASSERT_FALSE(problems.empty()) << c.filter.dump();
    EXPECT_EQ(problems[0].pointer, c.pointer) << c.filter.dump();
    EXPECT_NE(problems[0].message.find(c.message_part), std::string::npos) << problems[0].message;
  }
}

}  // namespace
}  // namespace sb
