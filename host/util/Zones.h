// Local time in IANA time zones ("Europe/Moscow", "Asia/Omsk"), from the
// system's tzdata through howardhinnant-date: g++ 12's <chrono> has no tzdb.
// Daylight-saving transitions are the library's: a local time that does not
// exist (the hour skipped in spring) means the moment the clocks jump.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sb {

bool is_time_zone(const std::string& name);

// Unix milliseconds written with a strftime-like format ("%d.%m.%Y %H:%M",
// "%Z" the abbreviation) in `zone`. Throws std::runtime_error for an unknown
// zone.
std::string format_in_zone(int64_t ms, const std::string& zone, const std::string& format);

// Hours of the week when messages may go out, in local time: every day in
// `days` from `from_minute` to `to_minute` after midnight. A window whose end
// is before its start runs past midnight ("22:00" to "06:00").
struct SendWindow {
  int from_minute = 9 * 60;
  int to_minute = 21 * 60;
  unsigned days = 0x7f;  // bit 0 = Sunday ... bit 6 = Saturday

  // "09:00" -> 540, or nothing.
  static std::optional<int> parse_clock(const std::string& text);
  // "mon" .. "sun" -> its bit, or nothing.
  static std::optional<unsigned> parse_day(const std::string& text);
};

// `now_ms` when it is inside the window in `zone`, else the moment the next
// window opens. Throws std::runtime_error for an unknown zone.
int64_t next_window_start(int64_t now_ms, const std::string& zone, const SendWindow& window);

// The moment the local clock in `zone` reads `minute_of_day` (after
// midnight) on the local day that `ms` plus `offset_ms` falls on, the offset
// counted on the local clock (a day is a calendar day across a DST change):
// "the day before at 10:00". Throws std::runtime_error for an unknown zone.
int64_t at_local_time(int64_t ms, int64_t offset_ms, const std::string& zone, int minute_of_day);

// An RFC 3339 time; a date alone ("2026-12-02") as the moment that day
// begins in `zone` (a date-only booking or deadline is a local day, not UTC
// midnight); a date and time without an offset ("2026-12-02T16:00",
// "2026-12-02 16:00:00") as that time on `zone`'s clock (the earlier one
// when a DST change repeats it). Nothing when it is none of them; throws
// std::runtime_error for an unknown zone.
std::optional<int64_t> parse_local_time_ms(const std::string& text, const std::string& zone);
// A day alone as "YYYY-MM-DD", written so or as "10.12.2026"; none for anything else.
std::optional<std::string> iso_date(const std::string& text);
bool is_date_only(const std::string& text);
bool is_local_time(const std::string& text);  // a date alone, or a date and time without an offset

// The month and day (and year, when written) of a date field: "1990-02-28",
// "28.02.1990", "--02-28", "02-28", or an RFC 3339 time's date.
struct MonthDay {
  int year = 0;  // 0: not written
  unsigned month = 0, day = 0;
};
std::optional<MonthDay> read_month_day(const std::string& text);

// A stretch of local days around now, for dates that come back every year
// ("birthday this month"): "today", "tomorrow", "this_week" (Monday to
// Sunday), "this_month", "next_month", or "next_7_days" (today and the six
// after it; any count up to 366).
struct LocalPeriod {
  enum class Kind { kToday, kTomorrow, kThisWeek, kThisMonth, kNextMonth, kNextDays };
  Kind kind = Kind::kToday;
  int days = 0;  // kNextDays
  static std::optional<LocalPeriod> parse(const std::string& text);
  // Whether the yearly day falls in the period around `now_ms` in `zone`;
  // 29 February falls on 28 February in other years. Throws
  // std::runtime_error for an unknown zone.
  bool contains(const MonthDay& yearly, int64_t now_ms, const std::string& zone) const;
};

}  // namespace sb
