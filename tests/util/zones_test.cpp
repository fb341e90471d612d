// Local times and send windows in IANA zones, across daylight-saving changes.
#include "util/Zones.h"

#include <gtest/gtest.h>

#include "util/Time.h"

namespace sb {
namespace {

int64_t at(const char* rfc3339) { return parse_time_ms(rfc3339).value(); }
std::string utc(int64_t ms) { return format_time_ms(ms); }

SendWindow window(const char* from, const char* to, unsigned days = 0x7f) {
  return {SendWindow::parse_clock(from).value(), SendWindow::parse_clock(to).value(), days};
}

TEST(Zones, ALocalTimeOfTheDayAMomentFallsOn) {
  // 23:30 UTC is already the next day in Moscow: 10:00 of that day.
  EXPECT_EQ(utc(at_local_time(at("2026-12-01T23:30:00Z"), 0, "Europe/Moscow", 10 * 60)), "2026-12-02T07:00:00.000Z");
  EXPECT_EQ(utc(at_local_time(at("2026-07-01T12:00:00Z"), 0, "Europe/Berlin", 10 * 60)), "2026-07-01T08:00:00.000Z");
  EXPECT_EQ(utc(at_local_time(at("2026-01-15T12:00:00Z"), 0, "Europe/Berlin", 10 * 60)), "2026-01-15T09:00:00.000Z");
  // The day before counts on the local clock: across the spring change a
  // day is 23 hours, and 10:00 is still on the 29th.
  EXPECT_EQ(utc(at_local_time(*parse_local_time_ms("2026-03-30", "Europe/Berlin"), -86'400'000, "Europe/Berlin", 600)),
            "2026-03-29T08:00:00.000Z");
  // 02:30 does not exist on the day clocks go forward: the moment they jump.
  EXPECT_EQ(utc(at_local_time(at("2026-03-29T12:00:00Z"), 0, "Europe/Berlin", 2 * 60 + 30)),
            "2026-03-29T01:00:00.000Z");
}

TEST(Zones, ADateAloneIsTheLocalDaysBeginning) {
  EXPECT_EQ(parse_local_time_ms("2026-12-02", "Asia/Omsk"), at("2026-12-01T18:00:00Z"));
  EXPECT_EQ(parse_local_time_ms("2026-07-01", "America/New_York"), at("2026-07-01T04:00:00Z"));
  EXPECT_EQ(parse_local_time_ms("2026-12-02T10:00:00Z", "Asia/Omsk"), at("2026-12-02T10:00:00Z"));  // a time is a time
  EXPECT_EQ(parse_local_time_ms("tomorrow", "UTC"), std::nullopt);
}

// A booking system's local time, with no offset: that time on the clock
// of the zone given (the earlier one when clocks go back repeat it).
TEST(Zones, ADateAndTimeWithoutAnOffsetIsOnTheLocalClock) {
  EXPECT_EQ(parse_local_time_ms("2026-11-25T16:00:00", "Asia/Omsk"), at("2026-11-25T10:00:00Z"));
  EXPECT_EQ(parse_local_time_ms("2026-11-25T16:00", "Europe/Moscow"), at("2026-11-25T13:00:00Z"));
  EXPECT_EQ(parse_local_time_ms("2026-11-25 16:00:30.5", "UTC"), at("2026-11-25T16:00:30Z"));
  EXPECT_EQ(parse_local_time_ms("2026-10-25T02:30:00", "Europe/Berlin"), at("2026-10-25T00:30:00Z"));
  for (const char* bad : {"2026-02-30T10:00", "2026-11-25T24:00", "2026-11-25T16", "2026-11-25X16:00"})
    EXPECT_EQ(parse_local_time_ms(bad, "UTC"), std::nullopt) << bad;
  EXPECT_TRUE(is_local_time("2026-11-25 16:00"));
  EXPECT_FALSE(is_local_time("2026-11-25T16:00:00+03:00"));
  // As Russian CRMs write it: the day first, with dots.
  EXPECT_EQ(parse_local_time_ms("10.12.2026 16:00", "Europe/Moscow"), at("2026-12-10T13:00:00Z"));
  EXPECT_EQ(parse_local_time_ms("1.12.2026, 9:05:30", "UTC"), at("2026-12-01T09:05:30Z"));
  EXPECT_EQ(parse_local_time_ms("10.12.2026", "Asia/Omsk"), at("2026-12-09T18:00:00Z"));  // the day's beginning
  for (const char* bad : {"31.02.2026", "10.12.2026 25:00", "10.13.2026", "10.12.26 16:00"})
    EXPECT_EQ(parse_local_time_ms(bad, "UTC"), std::nullopt) << bad;
  EXPECT_TRUE(is_local_time("10.12.2026 16:00"));
}

TEST(Zones, FormatsInTheZoneWithItsSummerAndWinterNames) {
  EXPECT_EQ(format_in_zone(at("2026-07-01T12:00:00Z"), "Europe/Berlin", "%d.%m.%Y %H:%M %Z"), "01.07.2026 14:00 CEST");
  EXPECT_EQ(format_in_zone(at("2026-01-15T12:00:00Z"), "Europe/Berlin", "%d.%m.%Y %H:%M %Z"), "15.01.2026 13:00 CET");
  EXPECT_EQ(format_in_zone(at("2026-11-24T19:30:00Z"), "Asia/Omsk", "%H:%M"), "01:30");
  EXPECT_TRUE(is_time_zone("America/New_York"));
  EXPECT_FALSE(is_time_zone("Mars/Olympus"));
  EXPECT_THROW(format_in_zone(0, "Mars/Olympus", "%H"), std::runtime_error);
}

TEST(SendWindows, InsideTheWindowIsNow) {
  const int64_t now = at("2026-11-24T10:00:00Z");  // 13:00 in Moscow
  EXPECT_EQ(next_window_start(now, "Europe/Moscow", window("09:00", "21:00")), now);
}

TEST(SendWindows, AfterTheWindowIsTheNextMorningLocally) {
  // 22:00 in Moscow (UTC+3 all year) -> 09:00 the next day.
  EXPECT_EQ(utc(next_window_start(at("2026-11-24T19:00:00Z"), "Europe/Moscow", window("09:00", "21:00"))),
            "2026-11-25T06:00:00.000Z");
  // The same moment is 01:00 in Omsk (UTC+6): 09:00 that day there.
  EXPECT_EQ(utc(next_window_start(at("2026-11-24T19:00:00Z"), "Asia/Omsk", window("09:00", "21:00"))),
            "2026-11-25T03:00:00.000Z");
}

TEST(SendWindows, TheMorningAfterClocksGoBackIsAnHourLaterInUtc) {
  // Berlin leaves summer time on 2026-10-25 at 03:00 CEST -> 02:00 CET.
  EXPECT_EQ(utc(next_window_start(at("2026-10-24T20:00:00Z"), "Europe/Berlin", window("09:00", "21:00"))),
            "2026-10-25T08:00:00.000Z");
  // A week earlier the same local 09:00 was 07:00 UTC.
  EXPECT_EQ(utc(next_window_start(at("2026-10-17T20:00:00Z"), "Europe/Berlin", window("09:00", "21:00"))),
            "2026-10-18T07:00:00.000Z");
}

TEST(SendWindows, AnOpeningInTheSkippedHourIsWhenTheClocksJump) {
  // Berlin skips 02:00-03:00 on 2026-03-29: a window opening at 02:30 opens
  // at the jump, 01:00 UTC (03:00 CEST).
  EXPECT_EQ(utc(next_window_start(at("2026-03-29T00:10:00Z"), "Europe/Berlin", window("02:30", "05:00"))),
            "2026-03-29T01:00:00.000Z");
  // New York springs forward on 2026-03-08 at 02:00 EST -> 03:00 EDT.
  EXPECT_EQ(utc(next_window_start(at("2026-03-08T05:00:00Z"), "America/New_York", window("09:00", "17:00"))),
            "2026-03-08T13:00:00.000Z");
}

TEST(SendWindows, AWindowPastMidnightAndWeekdaysOnly) {
  // 02:00 in Omsk is inside yesterday's 22:00-06:00 window.
  const int64_t night = at("2026-11-24T20:00:00Z");
  EXPECT_EQ(next_window_start(night, "Asia/Omsk", window("22:00", "06:00")), night);
  // 12:00 in Omsk: tonight at 22:00.
  EXPECT_EQ(utc(next_window_start(at("2026-11-24T06:00:00Z"), "Asia/Omsk", window("22:00", "06:00"))),
            "2026-11-24T16:00:00.000Z");
  // Saturday 2026-11-28 10:00 in Moscow, weekdays only: Monday 09:00.
  unsigned weekdays = 0;
  for (const char* d : {"mon", "tue", "wed", "thu", "fri"}) weekdays |= SendWindow::parse_day(d).value();
  EXPECT_EQ(utc(next_window_start(at("2026-11-28T07:00:00Z"), "Europe/Moscow", window("09:00", "21:00", weekdays))),
            "2026-11-30T06:00:00.000Z");
}

TEST(SendWindows, ClockTextIsStrict) {
  EXPECT_EQ(SendWindow::parse_clock("09:30"), 570);
  EXPECT_EQ(SendWindow::parse_clock("24:00"), 1440);
  EXPECT_FALSE(SendWindow::parse_clock("9:30"));
  EXPECT_FALSE(SendWindow::parse_clock("09:60"));
  EXPECT_FALSE(SendWindow::parse_clock("25:00"));
  EXPECT_FALSE(SendWindow::parse_day("monday"));
}

}  // namespace
}  // namespace sb
