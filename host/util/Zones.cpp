#include "util/Zones.h"

#include <date/tz.h>

#include <array>

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

}  // namespace sb
