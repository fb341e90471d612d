#include "util/Zones.h"

#include <date/tz.h>

#include <array>
#include <regex>

#include "util/Time.h"

namespace sb {

namespace {
using Ms = std::chrono::milliseconds;
}

bool is_time_zone(const std::string& name) {
  try {
    date::locate_zone(name);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

std::string format_in_zone(int64_t ms, const std::string& zone, const std::string& format) {
  const auto when =
      date::make_zoned(date::locate_zone(zone), date::floor<std::chrono::seconds>(date::sys_time<Ms>{Ms{ms}}));
  return date::format(format, when);
}

std::optional<int> SendWindow::parse_clock(const std::string& text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  for (size_t i : {0, 1, 3, 4})
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  const int hours = (text[0] - '0') * 10 + (text[1] - '0');
  const int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (minutes > 59 || hours > 24 || (hours == 24 && minutes != 0)) return std::nullopt;
  return hours * 60 + minutes;
}

std::optional<unsigned> SendWindow::parse_day(const std::string& text) {
  static constexpr std::array<const char*, 7> kDays = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  for (unsigned i = 0; i < kDays.size(); ++i)
    if (text == kDays[i]) return 1u << i;
  return std::nullopt;
}

int64_t next_window_start(int64_t now_ms, const std::string& zone, const SendWindow& window) {
  const date::time_zone* tz = date::locate_zone(zone);
  const date::sys_time<Ms> now{Ms{now_ms}};
  const auto today = date::floor<date::days>(tz->to_local(now));
  const bool wraps = window.to_minute <= window.from_minute;
  // Yesterday's window may still be open when it runs past midnight.
  for (int d = -1; d <= 7; ++d) {
    const date::local_days day = today + date::days{d};
    if (!(window.days & (1u << date::weekday{day}.c_encoding()))) continue;
    const auto open = tz->to_sys(day + std::chrono::minutes{window.from_minute}, date::choose::earliest);
    const auto close =
        tz->to_sys(day + date::days{wraps ? 1 : 0} + std::chrono::minutes{window.to_minute}, date::choose::earliest);
    if (now < open) return std::chrono::duration_cast<Ms>(open.time_since_epoch()).count();
    if (now < close) return now_ms;
  }
  return now_ms;  // no day allowed: config validation prevents it
}

std::optional<std::string> iso_date(const std::string& text) {
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') return text;
  // "10.12.2026", "1.12.2026": as Russian CRMs write a day.
  static const std::regex dotted(R"(^(\d{1,2})\.(\d{1,2})\.(\d{4})$)");
  std::smatch m;
  if (!std::regex_match(text, m, dotted)) return std::nullopt;
  const auto two = [](const std::string& digits) { return digits.size() == 1 ? "0" + digits : digits; };
  return m[3].str() + "-" + two(m[2].str()) + "-" + two(m[1].str());
}

bool is_date_only(const std::string& text) { return iso_date(text).has_value(); }

namespace {

// A date and a time of day without an offset ("2026-11-25T16:00",
// "2026-11-25 16:00:00"), as a booking system writes its local times.
std::optional<date::local_time<Ms>> wall_clock_time(const std::string& text) {
  static const std::regex iso(R"(^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?$)");
  // As Russian CRMs and booking systems write it: "10.12.2026 16:00", or
  // the day alone ("10.12.2026", its beginning).
  static const std::regex dotted(R"(^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:,? +(\d{1,2}):(\d{2})(?::(\d{2}))?)?$)");
  std::smatch m;
  int year = 0, month = 0, day_of_month = 0;
  const auto n = [&](int i) { return m[i].matched ? std::stoi(m[i]) : 0; };
  if (std::regex_match(text, m, iso))
    year = n(1), month = n(2), day_of_month = n(3);
  else if (std::regex_match(text, m, dotted))
    year = n(3), month = n(2), day_of_month = n(1);
  else
    return std::nullopt;
  const date::year_month_day day{date::year{year}, date::month(static_cast<unsigned>(month)),
                                 date::day(static_cast<unsigned>(day_of_month))};
  if (!day.ok() || n(4) > 23 || n(5) > 59 || n(6) > 59) return std::nullopt;
  return date::local_days{day} + std::chrono::hours{n(4)} + std::chrono::minutes{n(5)} + std::chrono::seconds{n(6)};
}

}  // namespace

bool is_local_time(const std::string& text) { return is_date_only(text) || wall_clock_time(text).has_value(); }

std::optional<int64_t> parse_local_time_ms(const std::string& text, const std::string& zone) {
  if (const auto wall = wall_clock_time(text)) {
    const auto at = date::locate_zone(zone)->to_sys(*wall, date::choose::earliest);
    return std::chrono::duration_cast<Ms>(at.time_since_epoch()).count();
  }
  const auto ms = parse_time_ms(text);
  if (!ms || !is_date_only(text)) return ms;
  // Parsed as UTC midnight: the same date's midnight on the local clock.
  const auto day = date::local_days{date::floor<date::days>(date::sys_time<Ms>{Ms{*ms}}).time_since_epoch()};
  const auto begins = date::locate_zone(zone)->to_sys(day, date::choose::earliest);
  return std::chrono::duration_cast<Ms>(begins.time_since_epoch()).count();
}

int64_t at_local_time(int64_t ms, int64_t offset_ms, const std::string& zone, int minute_of_day) {
  const date::time_zone* tz = date::locate_zone(zone);
  const auto day = date::floor<date::days>(tz->to_local(date::sys_time<Ms>{Ms{ms}}) + Ms{offset_ms});
  const auto at = tz->to_sys(day + std::chrono::minutes{minute_of_day}, date::choose::earliest);
  return std::chrono::duration_cast<Ms>(at.time_since_epoch()).count();
}

}  // namespace sb

namespace sb {

std::optional<MonthDay> read_month_day(const std::string& text) {
  static const std::regex iso(R"(^(\d{4})-(\d{2})-(\d{2})(T.*)?$)");
  static const std::regex dotted(R"(^(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?$)");
  static const std::regex no_year(R"(^(?:--)?(\d{2})-(\d{2})$)");
  std::smatch m;
  MonthDay out;
  if (std::regex_match(text, m, iso)) {
    out = {std::stoi(m[1]), static_cast<unsigned>(std::stoi(m[2])), static_cast<unsigned>(std::stoi(m[3]))};
  } else if (std::regex_match(text, m, dotted)) {
    out = {m[3].matched ? std::stoi(m[3]) : 0, static_cast<unsigned>(std::stoi(m[2])),
           static_cast<unsigned>(std::stoi(m[1]))};
  } else if (std::regex_match(text, m, no_year)) {
    out = {0, static_cast<unsigned>(std::stoi(m[1])), static_cast<unsigned>(std::stoi(m[2]))};
  } else {
    return std::nullopt;
  }
  // Any year that has the day (a leap year for 29 February).
  if (!date::year_month_day{date::year{2000}, date::month{out.month}, date::day{out.day}}.ok()) return std::nullopt;
  return out;
}

std::optional<LocalPeriod> LocalPeriod::parse(const std::string& text) {
  static const std::pair<const char*, Kind> kNamed[] = {{"today", Kind::kToday},
                                                        {"tomorrow", Kind::kTomorrow},
                                                        {"this_week", Kind::kThisWeek},
                                                        {"this_month", Kind::kThisMonth},
                                                        {"next_month", Kind::kNextMonth}};
  for (const auto& [name, kind] : kNamed)
    if (text == name) return LocalPeriod{kind, 0};
  static const std::regex next_days(R"(^next_(\d{1,3})_days?$)");
  if (std::smatch m; std::regex_match(text, m, next_days)) {
    const int days = std::stoi(m[1]);
    if (days >= 1 && days <= 366) return LocalPeriod{Kind::kNextDays, days};
  }
  return std::nullopt;
}

bool LocalPeriod::contains(const MonthDay& yearly, int64_t now_ms, const std::string& zone) const {
  using date::days;
  const auto today = date::floor<days>(date::locate_zone(zone)->to_local(date::sys_time<Ms>{Ms{now_ms}}));
  const date::year_month_day ymd{today};
  date::local_days first = today, last = today;
  switch (kind) {
    case Kind::kToday:
      break;
    case Kind::kTomorrow:
      first = last = today + days{1};
      break;
    case Kind::kThisWeek:
      first = today - (date::weekday{today} - date::Monday);
      last = first + days{6};
      break;
    case Kind::kThisMonth:
    case Kind::kNextMonth: {
      const auto month = ymd.year() / ymd.month() + date::months{kind == Kind::kNextMonth ? 1 : 0};
      first = date::local_days{month / 1};
      last = date::local_days{month / date::last};
      break;
    }
    case Kind::kNextDays:
      last = today + days{this->days - 1};
      break;
  }
  for (int y = static_cast<int>(date::year_month_day{first}.year());
       y <= static_cast<int>(date::year_month_day{last}.year()); ++y) {
    const date::year year{y};
    const unsigned day = yearly.month == 2 && yearly.day == 29 && !year.is_leap() ? 28 : yearly.day;
    const date::local_days at{year / date::month{yearly.month} / date::day{day}};
    if (at >= first && at <= last) return true;
  }
  return false;
}

}  // namespace sb
