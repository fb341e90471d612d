// Schedules as cron and as words, in a time zone, across DST changes, and
// what a schedule that is not one says.
#include "util/Schedule.h"

#include <gtest/gtest.h>

#include "util/Time.h"

namespace sb {
namespace {

std::string next(const std::string& text, const std::string& after, const std::string& zone = "Europe/Moscow") {
  std::string why;
  auto s = Schedule::parse(text, why);
  if (!s) return "invalid: " + why;
  auto at = s->next_after(*parse_time_ms(after), zone);
  return at ? format_time_ms(*at) : "never";
}

TEST(Schedule, WordsAndCronInTheZone) {
  // 09:00 in Moscow (UTC+3) is 06:00 UTC.
  EXPECT_EQ(next("every day at 09:00", "2026-12-02T05:00:00Z"), "2026-12-02T06:00:00.000Z");
  EXPECT_EQ(next("every day at 09:00", "2026-12-02T06:00:00Z"), "2026-12-03T06:00:00.000Z");  // strictly after
  EXPECT_EQ(next("0 9 * * *", "2026-12-02T07:00:00Z"), "2026-12-03T06:00:00.000Z");
  EXPECT_EQ(next("every monday at 10:30", "2026-12-02T07:00:00Z"), "2026-12-07T07:30:00.000Z");
  EXPECT_EQ(next("every weekday at 09:00", "2026-12-04T07:00:00Z"), "2026-12-07T06:00:00.000Z");  // Fri -> Mon
  EXPECT_EQ(next("every 15 minutes", "2026-12-02T07:01:00Z"), "2026-12-02T07:15:00.000Z");
  EXPECT_EQ(next("every hour", "2026-12-02T07:01:00Z"), "2026-12-02T08:00:00.000Z");
  EXPECT_EQ(next("*/20 8-9 * * mon-fri", "2026-12-05T00:00:00Z"), "2026-12-07T05:00:00.000Z");
  EXPECT_EQ(next("0 12 1 1 *", "2026-12-02T00:00:00Z", "UTC"), "2027-01-01T12:00:00.000Z");
  EXPECT_EQ(next("0 0 29 2 *", "2026-03-01T00:00:00Z", "UTC"), "2028-02-29T00:00:00.000Z");
  EXPECT_EQ(next("0 0 31 4 *", "2026-03-01T00:00:00Z", "UTC"), "never");
}

// The reference CRMs' words ("Автообновление: Ежедневно"): daily, weekly
// and monthly at local midnight (Mondays, the 1st), or daily at a time.
TEST(Schedule, DailyWeeklyAndMonthly) {
  EXPECT_EQ(next("daily", "2026-12-02T05:00:00Z"), "2026-12-02T21:00:00.000Z");  // 00:00 in Moscow
  EXPECT_EQ(next("every day", "2026-12-02T05:00:00Z"), "2026-12-02T21:00:00.000Z");
  EXPECT_EQ(next("daily at 09:00", "2026-12-02T05:00:00Z"), "2026-12-02T06:00:00.000Z");
  EXPECT_EQ(next("weekly", "2026-12-02T05:00:00Z", "UTC"), "2026-12-07T00:00:00.000Z");  // Wed -> Mon
  EXPECT_EQ(next("monthly", "2026-12-02T05:00:00Z", "UTC"), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(next("every month", "2026-12-02T05:00:00Z", "UTC"), "2027-01-01T00:00:00.000Z");
  // Hours: "hourly", and a divisor of the day from local midnight.
  EXPECT_EQ(next("hourly", "2026-12-02T07:01:00Z"), "2026-12-02T08:00:00.000Z");
  EXPECT_EQ(next("every 6 hours", "2026-12-02T07:01:00Z"), "2026-12-02T09:00:00.000Z");  // 12:00 in Moscow
  EXPECT_EQ(next("every 6 hours", "2026-12-02T07:01:00Z", "UTC"), "2026-12-02T12:00:00.000Z");
  EXPECT_EQ(next("every 5 hours", "2026-12-02T07:01:00Z").rfind("invalid: ", 0), 0u);  // not a divisor of 24
}

// Quarterly reports, and the same words in Russian, in any case:
// "Ежедневно", "Квартальные" reports, "каждый понедельник в 10:00".
TEST(Schedule, QuarterlyAndRussianWords) {
  EXPECT_EQ(next("quarterly", "2026-12-02T05:00:00Z", "UTC"), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(next("every quarter", "2027-01-01T00:00:00Z", "UTC"), "2027-04-01T00:00:00.000Z");
  EXPECT_EQ(next("Ежедневно", "2026-12-02T05:00:00Z"), next("daily", "2026-12-02T05:00:00Z"));
  EXPECT_EQ(next("ежедневно в 09:00", "2026-12-02T05:00:00Z"), "2026-12-02T06:00:00.000Z");
  EXPECT_EQ(next("Каждый день в 09:00", "2026-12-02T05:00:00Z"), "2026-12-02T06:00:00.000Z");
  EXPECT_EQ(next("еженедельно", "2026-12-02T05:00:00Z", "UTC"), "2026-12-07T00:00:00.000Z");
  EXPECT_EQ(next("еженедельно в 10:00", "2026-12-02T05:00:00Z", "UTC"), "2026-12-07T10:00:00.000Z");
  EXPECT_EQ(next("Ежемесячно", "2026-12-02T05:00:00Z", "UTC"), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(next("ежеквартально", "2026-12-02T05:00:00Z", "UTC"), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(next("ежемесячно в 10:00", "2026-12-02T05:00:00Z", "UTC"), "2027-01-01T10:00:00.000Z");
  EXPECT_EQ(next("ежеквартально в 09:30", "2027-01-01T10:00:00Z", "UTC"), "2027-04-01T09:30:00.000Z");
  EXPECT_EQ(next("по будням", "2026-12-04T07:00:00Z", "UTC"), "2026-12-07T00:00:00.000Z");  // Fri -> Mon
  EXPECT_EQ(next("каждый понедельник в 10:30", "2026-12-02T07:00:00Z"), "2026-12-07T07:30:00.000Z");
  EXPECT_EQ(next("каждую среду в 09:00", "2026-12-02T07:00:00Z"), "2026-12-09T06:00:00.000Z");
  EXPECT_EQ(next("по будням в 09:00", "2026-12-04T07:00:00Z"), "2026-12-07T06:00:00.000Z");
  EXPECT_EQ(next("Every Monday at 10:30", "2026-12-02T07:00:00Z"), "2026-12-07T07:30:00.000Z");
  // Repeating: minutes and hours in each of Russian's plural forms.
  EXPECT_EQ(next("Каждые 15 минут", "2026-12-02T07:01:00Z"), "2026-12-02T07:15:00.000Z");
  EXPECT_EQ(next("каждые 2 минуты", "2026-12-02T07:01:00Z"), "2026-12-02T07:02:00.000Z");
  EXPECT_EQ(next("каждые полчаса", "2026-12-02T07:01:00Z"), "2026-12-02T07:30:00.000Z");
  EXPECT_EQ(next("каждые 6 часов", "2026-12-02T07:01:00Z"), "2026-12-02T09:00:00.000Z");  // 12:00 in Moscow
  EXPECT_EQ(next("каждые 3 часа", "2026-12-02T07:01:00Z", "UTC"), "2026-12-02T09:00:00.000Z");
  EXPECT_EQ(next("каждые 7 часов", "2026-12-02T07:01:00Z").rfind("invalid: ", 0), 0u);  // not a divisor of 24
  // English the same way: "weekly at" as "еженедельно в", one hour or minute.
  EXPECT_EQ(next("weekly at 10:00", "2026-12-02T05:00:00Z", "UTC"), "2026-12-07T10:00:00.000Z");
  EXPECT_EQ(next("every 1 hour", "2026-12-02T07:01:00Z"), "2026-12-02T08:00:00.000Z");
  EXPECT_EQ(next("иногда", "2026-12-02T05:00:00Z").rfind("invalid: 'иногда' is not a schedule", 0), 0u);
}

TEST(Schedule, EitherRestrictedDayFieldMatchesAsInCron) {
  // The 13th, or any Friday: 2026-12-04 is a Friday.
  EXPECT_EQ(next("0 10 13 * 5", "2026-12-01T00:00:00Z", "UTC"), "2026-12-04T10:00:00.000Z");
  EXPECT_EQ(next("0 10 13 * 5", "2026-12-11T11:00:00Z", "UTC"), "2026-12-13T10:00:00.000Z");
  EXPECT_EQ(next("0 10 * * 0", "2026-12-01T00:00:00Z", "UTC"), next("0 10 * * 7", "2026-12-01T00:00:00Z", "UTC"));
}

TEST(Schedule, DaylightSavingChanges) {
  // Berlin, 2026-03-29: 02:00-03:00 does not exist; the 02:30 run happens when the clocks jump.
  EXPECT_EQ(next("30 2 * * *", "2026-03-28T12:00:00Z", "Europe/Berlin"), "2026-03-29T01:00:00.000Z");
  // 2026-10-25: 02:30 happens twice; it runs once.
  EXPECT_EQ(next("30 2 * * *", "2026-10-24T12:00:00Z", "Europe/Berlin"), "2026-10-25T00:30:00.000Z");
  EXPECT_EQ(next("30 2 * * *", "2026-10-25T00:30:00Z", "Europe/Berlin"), "2026-10-26T01:30:00.000Z");
}

TEST(Schedule, WhatIsNotAScheduleSaysWhy) {
  EXPECT_EQ(next("every tuesday", "2026-12-02T00:00:00Z").substr(0, 41), "invalid: 'every tuesday' is not a schedul");
  EXPECT_EQ(next("0 9 * *", "2026-12-02T00:00:00Z"),
            "invalid: '0 9 * *' has 4 fields; cron has five: minute hour day-of-month month day-of-week");
  EXPECT_EQ(next("0 25 * * *", "2026-12-02T00:00:00Z"),
            "invalid: '0 25 * * *': field 2 '25' is not a valid hour (0-23)");
  EXPECT_EQ(next("0 9 * * fun", "2026-12-02T00:00:00Z"),
            "invalid: '0 9 * * fun': field 5 'fun' is not a valid day of week (0-7 or sun..sat)");
  EXPECT_NE(next("every 45 minutes", "2026-12-02T00:00:00Z").find("(a divisor of 60)"), std::string::npos);
  EXPECT_EQ(next("*/0 9 * * *", "2026-12-02T00:00:00Z"),
            "invalid: '*/0 9 * * *': field 1 '*/0' is not a valid minute (0-59)");
}

}  // namespace
}  // namespace sb
