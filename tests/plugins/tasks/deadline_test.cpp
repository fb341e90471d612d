// Deadlines as a person writes them, in the account's time zone: days,
// business days, times of day, "within", and across a DST change.
#include "deadline.h"

#include <gtest/gtest.h>

namespace tasks_plugin {
namespace {

// 2026-12-04 is a Friday. 14:30 in Omsk (UTC+6) is 08:30 UTC.
constexpr int64_t kFridayOmsk1430 = 1'796'373'000'000;

std::string at(const std::string& expression, int64_t now = kFridayOmsk1430, const std::string& zone = "Asia/Omsk") {
  auto ms = resolve_deadline(expression, now, zone);
  return ms ? format_utc(*ms) : "(none)";
}

TEST(Deadline, TheNowUsedHereIsAFridayAfternoonInOmsk) {
  EXPECT_EQ(format_utc(kFridayOmsk1430), "2026-12-04T08:30:00Z");
}

TEST(Deadline, DaysAndTimesOfDayAreLocal) {
  EXPECT_EQ(at("today 18:00"), "2026-12-04T12:00:00Z");
  EXPECT_EQ(at("tomorrow 10:00"), "2026-12-05T04:00:00Z");
  EXPECT_EQ(at("today"), "2026-12-04T17:59:00Z");  // the end of the day
  EXPECT_EQ(at("today 18:00", kFridayOmsk1430, "Europe/Moscow"), "2026-12-04T15:00:00Z");
}

TEST(Deadline, SpansAndBusinessDays) {
  EXPECT_EQ(at("+1 day"), "2026-12-05T08:30:00Z");
  EXPECT_EQ(at("+2 hours"), "2026-12-04T10:30:00Z");
  EXPECT_EQ(at("+30 minutes"), "2026-12-04T09:00:00Z");
  EXPECT_EQ(at("+1 week 10:00"), "2026-12-11T04:00:00Z");
  EXPECT_EQ(at("+1 business day"), "2026-12-07T08:30:00Z");   // Friday + 1 = Monday
  EXPECT_EQ(at("+3 business days"), "2026-12-09T08:30:00Z");  // Wednesday
  EXPECT_EQ(at("+5 business days 09:00"), "2026-12-11T03:00:00Z");
}

TEST(Deadline, WithinIsTheEndOfTheLastDay) {
  EXPECT_EQ(at("within a week"), "2026-12-11T17:59:00Z");
  EXPECT_EQ(at("within 3 days"), "2026-12-07T17:59:00Z");
  EXPECT_EQ(at("within an hour"), "2026-12-04T09:30:00Z");
}

TEST(Deadline, Rfc3339IsTakenAsItIs) {
  EXPECT_EQ(at("2026-12-24T18:00:00+03:00"), "2026-12-24T15:00:00Z");
  EXPECT_EQ(at("2026-12-24T18:00Z"), "2026-12-24T18:00:00Z");
  EXPECT_EQ(at("2026-02-30T18:00:00Z"), "(none)");
}

TEST(Deadline, WhatIsNotADeadlineIsNone) {
  for (const char* bad : {"", "soon", "today 25:00", "+0 days", "+1 fortnight", "yesterday", "within", "18:00"})
    EXPECT_EQ(at(bad), "(none)") << bad;
  EXPECT_THROW(resolve_deadline("today", kFridayOmsk1430, "Mars/Olympus"), std::runtime_error);
}

TEST(Deadline, ADayAddedAcrossTheSpringDstChangeKeepsTheWallClock) {
  // 2026-03-28 12:00 in Berlin is 11:00 UTC (CET); the next day is CEST.
  EXPECT_EQ(at("+1 day", 1'774'695'600'000, "Europe/Berlin"), "2026-03-29T10:00:00Z");
  EXPECT_EQ(at("+24 hours", 1'774'695'600'000, "Europe/Berlin"), "2026-03-29T11:00:00Z");
}

// As the reference CRMs write them, in Russian ("Сегодня до 18:00", "в
// течение недели"); "в течение дня" is during the day, today.
TEST(Deadline, RussianFormsMeanTheirEnglishOnes) {
  EXPECT_EQ(at("Сегодня до 18:00"), at("today 18:00"));
  EXPECT_EQ(at("сегодня в 18:00"), at("today 18:00"));
  EXPECT_EQ(at("сегодня"), at("today"));
  EXPECT_EQ(at("Завтра до 10:00"), at("tomorrow 10:00"));
  EXPECT_EQ(at("Сегодня 18:00"), at("today 18:00"));  // the time alone, as a CRM's form may write it
  EXPECT_EQ(at("завтра 10:00"), at("tomorrow 10:00"));
  EXPECT_EQ(at("+1 день 10:00"), at("+1 day 10:00"));
  EXPECT_EQ(at("+1 день"), at("+1 day"));
  EXPECT_EQ(at("+2 дня"), at("+2 days"));
  EXPECT_EQ(at("+5 дней в 09:00"), at("+5 days 09:00"));
  EXPECT_EQ(at("+3 рабочих дня"), at("+3 business days"));
  EXPECT_EQ(at("+1 рабочий день"), at("+1 business day"));
  EXPECT_EQ(at("+2 часа"), at("+2 hours"));
  EXPECT_EQ(at("+30 минут"), at("+30 minutes"));
  EXPECT_EQ(at("+1 неделя"), at("+1 week"));
  EXPECT_EQ(at("В течение недели"), at("within a week"));
  EXPECT_EQ(at("в течение 3 дней"), at("within 3 days"));
  EXPECT_EQ(at("в течение часа"), at("within an hour"));
  // "Пригласить отзыв через 7 дней": from now, as "+7 days".
  EXPECT_EQ(at("через 7 дней"), at("+7 days"));
  EXPECT_EQ(at("Через час"), at("+1 hour"));
  EXPECT_EQ(at("через 2 рабочих дня в 10:00"), at("+2 business days 10:00"));
  EXPECT_EQ(at("in 7 days"), at("+7 days"));
  EXPECT_EQ(at("in an hour"), at("+1 hour"));
  EXPECT_EQ(at("in 1 week 10:00"), at("+1 week 10:00"));
  EXPECT_NE(at("+7 days"), "(none)");
  EXPECT_EQ(at("через месяц"), "(none)");  // a month is no length here, as in "+1 month"
  EXPECT_EQ(at("в течение месяца"), at("within a month"));
  EXPECT_EQ(at("в течение дня"), at("today"));
  EXPECT_EQ(at("Today 18:00"), at("today 18:00"));
  for (const char* bad : {"послезавтра", "+1 месяц", "в течение 5 минут", "сегодня до 25:00", "+0 дней"})
    EXPECT_EQ(at(bad), "(none)") << bad;
}

TEST(Reminder, BeforeTheDeadlineOrAtATime) {
  const int64_t deadline = *resolve_deadline("today 18:00", kFridayOmsk1430, "Asia/Omsk");
  EXPECT_EQ(format_utc(*resolve_reminder("1 hour before", kFridayOmsk1430, deadline, "Asia/Omsk")),
            "2026-12-04T11:00:00Z");
  EXPECT_EQ(format_utc(*resolve_reminder("today 17:00", kFridayOmsk1430, deadline, "Asia/Omsk")),
            "2026-12-04T11:00:00Z");
  EXPECT_FALSE(resolve_reminder("1 hour before", kFridayOmsk1430, std::nullopt, "Asia/Omsk"));
  EXPECT_EQ(format_utc(*resolve_reminder("за 1 час", kFridayOmsk1430, deadline, "Asia/Omsk")), "2026-12-04T11:00:00Z");
  EXPECT_EQ(format_utc(*resolve_reminder("За час", kFridayOmsk1430, deadline, "Asia/Omsk")), "2026-12-04T11:00:00Z");
  EXPECT_EQ(format_utc(*resolve_reminder("за 30 минут", kFridayOmsk1430, deadline, "Asia/Omsk")),
            "2026-12-04T11:30:00Z");
  EXPECT_EQ(format_utc(*resolve_reminder("за 1 день", kFridayOmsk1430, deadline, "Asia/Omsk")), "2026-12-03T12:00:00Z");
}

}  // namespace
}  // namespace tasks_plugin
