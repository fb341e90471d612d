#include "deadline.h"

#include <date/date.h>
#include <date/tz.h>

#include <cctype>
#include <regex>

namespace tasks_plugin {

namespace {

using Ms = std::chrono::milliseconds;
using date::days;
using date::local_days;

struct Clock {
  int minutes;  // after midnight
};

std::optional<Clock> clock_of(const std::string& hh, const std::string& mm) {
  if (hh.empty()) return std::nullopt;
  return Clock{std::stoi(hh) * 60 + std::stoi(mm)};
}

// The local time `now` in `zone`, moved to another day and perhaps another time of day.
class LocalTime {
 public:
  LocalTime(int64_t now_ms, const std::string& zone)
      : zone_(date::locate_zone(zone)), local_(zone_->to_local(date::sys_time<Ms>{Ms{now_ms}})) {}

  LocalTime& add_days(int n) {
    local_ += days{n};
    return *this;
  }
  LocalTime& add(Ms span) {
    // Spans of hours and minutes are physical time, not wall-clock time.
    local_ = zone_->to_local(zone_->to_sys(local_, date::choose::earliest) + span);
    return *this;
  }
  LocalTime& add_business_days(int n) {
    while (n > 0) {
      local_ += days{1};
      const date::weekday wd{date::floor<days>(local_)};
      if (wd != date::Saturday && wd != date::Sunday) --n;
    }
    return *this;
  }
  LocalTime& at(std::optional<Clock> clock) {
    if (clock) local_ = date::floor<days>(local_) + std::chrono::minutes{clock->minutes};
    return *this;
  }
  LocalTime& end_of_day() {
    local_ = date::floor<days>(local_) + std::chrono::hours{23} + std::chrono::minutes{59};
    return *this;
  }
  int64_t ms() const {
    // A local time skipped by a DST change is the moment the clocks jump.
    return zone_->to_sys(local_, date::choose::earliest).time_since_epoch().count();
  }

 private:
  const date::time_zone* zone_;
  date::local_time<Ms> local_;
};

std::optional<int64_t> rfc3339(const std::string& text) {
  static const std::regex form(
      R"(^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:(Z)|([+-])(\d{2}):(\d{2}))$)");
  std::smatch m;
  if (!std::regex_match(text, m, form)) return std::nullopt;
  const auto n = [&](int i) { return m[i].matched ? std::stoi(m[i]) : 0; };
  const date::year_month_day day{date::year{n(1)}, date::month(static_cast<unsigned>(n(2))),
                                 date::day(static_cast<unsigned>(n(3)))};
  if (!day.ok() || n(4) > 23 || n(5) > 59 || n(6) > 60) return std::nullopt;
  auto t = date::sys_days{day} + std::chrono::hours{n(4)} + std::chrono::minutes{n(5)} + std::chrono::seconds{n(6)};
  if (!m[7].matched) {
    const auto offset = std::chrono::hours{n(9)} + std::chrono::minutes{n(10)};
    t += m[8] == "-" ? offset : -offset;
  }
  return std::chrono::duration_cast<Ms>(t.time_since_epoch()).count();
}

int count_of(const std::string& n) { return n == "a" || n == "an" ? 1 : std::stoi(n); }

// Lower case for ASCII and Russian letters ("Сегодня" is "сегодня"); other bytes as they are.
std::string lowered(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (c == 0xD0 && next >= 0x90 && next <= 0x9F) {  // А..П
      out += {'\xD0', static_cast<char>(next + 0x20)};
      ++i;
    } else if (c == 0xD0 && next >= 0xA0 && next <= 0xAF) {  // Р..Я
      out += {'\xD1', static_cast<char>(next - 0x20)};
      ++i;
    } else if (c == 0xD0 && next == 0x81) {  // Ё
      out += "\xD1\x91";
      ++i;
    } else {
      out += static_cast<char>(std::tolower(c));
    }
  }
  return out;
}

// The English unit of a Russian one, in any of its forms: "дня" is day.
std::string unit_of(const std::string& russian) {
  const auto starts = [&](const char* stem) { return russian.rfind(stem, 0) == 0; };
  if (starts("минут")) return "minute";
  if (starts("час")) return "hour";
  if (starts("рабоч")) return "business day";
  if (starts("недел")) return "week";
  if (starts("месяц")) return "month";
  return "day";
}

// Spelled in words, the forms below in Russian, as the reference CRMs write
// them ("Сегодня до 18:00", "+3 рабочих дня", "в течение недели"): each in
// the English form it means; anything else as it is.
const std::string kRuUnits =
    "(минута|минуты|минуту|минут|час|часа|часов|день|дня|дней|неделя|недели|неделю|недель|месяц|месяца|месяцев|"
    "рабочий день|рабочих дня|рабочих дней)";
const std::string kRuClock = R"((?: (?:(?:до|в) )?([01]?\d|2[0-3]):([0-5]\d))?)";  // "до 18:00", "в 18:00", "18:00"

std::string in_english(const std::string& raw) {
  static const std::regex day("^(сегодня|завтра)" + kRuClock + "$");
  static const std::regex plus(R"(^\+([1-9]\d{0,3}) )" + kRuUnits + kRuClock + "$");
  static const std::regex within(R"(^в течение (?:([1-9]\d{0,3}) )?)" + kRuUnits + "$");
  static const std::regex after(R"(^через (?:([1-9]\d{0,3}) )?)" + kRuUnits + kRuClock + "$");
  static const std::regex in(
      R"(^in (a|an|[1-9]\d{0,3}) (minute|hour|day|week|business day)s?( (?:[01]?\d|2[0-3]):[0-5]\d)?$)");
  const std::string text = lowered(raw);
  const auto clock = [](const std::smatch& m, int at) {
    return m[at].matched ? " " + std::string(m[at]) + ":" + std::string(m[at + 1]) : std::string();
  };
  std::smatch m;
  if (std::regex_match(text, m, day)) return (m[1] == "сегодня" ? "today" : "tomorrow") + clock(m, 2);
  if (std::regex_match(text, m, plus) && unit_of(m[2]) != "month")  // "+1 month" is no form either
    return "+" + std::string(m[1]) + " " + unit_of(m[2]) + "s" + clock(m, 3);
  // "через 7 дней", "через час", "in 7 days", "in an hour": from now, as "+7 days".
  if (std::regex_match(text, m, after) && unit_of(m[2]) != "month")
    return "+" + (m[1].matched ? std::string(m[1]) : "1") + " " + unit_of(m[2]) + "s" + clock(m, 3);
  if (std::regex_match(text, m, in))
    return "+" + (m[1] == "a" || m[1] == "an" ? std::string("1") : std::string(m[1])) + " " + std::string(m[2]) + "s" +
           std::string(m[3]);
  if (std::regex_match(text, m, within)) {
    const std::string unit = unit_of(m[2]);
    if (!m[1].matched && unit == "day") return "today";           // "в течение дня": during the day
    if (unit == "minute" || unit == "business day") return text;  // not a form "within" takes
    return "within " +
           (m[1].matched     ? std::string(m[1])
            : unit == "hour" ? "an"
                             : "a") +
           " " + unit + (m[1].matched ? "s" : "");
  }
  return text;  // English, in any case: "Today 18:00"
}

}  // namespace

std::optional<int64_t> resolve_deadline(const std::string& written, int64_t now_ms, const std::string& zone) {
  if (auto exact = rfc3339(written)) return exact;
  const std::string raw = in_english(written);
  static const std::string time = R"((?: ([01]?\d|2[0-3]):([0-5]\d))?)";
  static const std::regex day_word("^(today|tomorrow)" + time + "$");
  static const std::regex plus(R"(^\+([1-9]\d{0,3}) (minute|hour|day|week|business day)s?)" + time + "$");
  static const std::regex within(R"(^within (a|an|[1-9]\d{0,3}) (hour|day|week|month)s?$)");
  std::smatch m;
  LocalTime t(now_ms, zone);
  if (std::regex_match(raw, m, day_word)) {
    if (m[1] == "tomorrow") t.add_days(1);
    if (m[2].matched) return t.at(clock_of(m[2], m[3])).ms();
    return t.end_of_day().ms();
  }
  if (std::regex_match(raw, m, plus)) {
    const int n = std::stoi(m[1]);
    const std::string unit = m[2];
    if (unit == "minute") t.add(std::chrono::minutes{n});
    if (unit == "hour") t.add(std::chrono::hours{n});
    if (unit == "day") t.add_days(n);
    if (unit == "week") t.add_days(7 * n);
    if (unit == "business day") t.add_business_days(n);
    if (m[3].matched) t.at(clock_of(m[3], m[4]));
    return t.ms();
  }
  if (std::regex_match(raw, m, within)) {
    const int n = count_of(m[1]);
    const std::string unit = m[2];
    if (unit == "hour") return t.add(std::chrono::hours{n}).ms();
    t.add_days(unit == "day" ? n : unit == "week" ? 7 * n : 30 * n);
    return t.end_of_day().ms();
  }
  return std::nullopt;
}

namespace {

// "1 hour before", "за 1 час", "за час", "за 2 дня": how long before the
// deadline, in milliseconds; none for any other reminder.
std::optional<int64_t> span_before(const std::string& raw) {
  static const std::regex before(R"(^([1-9]\d{0,3}) (minute|hour|day)s? before$)");
  static const std::regex ru_before(
      R"(^за (?:([1-9]\d{0,3}) )?(минута|минуты|минуту|минут|час|часа|часов|день|дня|дней)$)");
  std::smatch m;
  const std::string text = lowered(raw);
  std::string unit;
  int count = 0;
  if (std::regex_match(text, m, before)) {
    unit = m[2];
    count = std::stoi(m[1]);
  } else if (std::regex_match(text, m, ru_before)) {
    unit = unit_of(m[2]);
    count = m[1].matched ? std::stoi(m[1]) : 1;
  } else {
    return std::nullopt;
  }
  return count * (unit == "minute" ? int64_t{60'000} : unit == "hour" ? int64_t{3'600'000} : int64_t{86'400'000});
}

}  // namespace

bool counts_from_deadline(const std::string& reminder) { return span_before(reminder).has_value(); }

std::optional<int64_t> resolve_reminder(const std::string& raw, int64_t now_ms, std::optional<int64_t> deadline_ms,
                                        const std::string& zone) {
  const auto before = span_before(raw);
  if (!before) return resolve_deadline(raw, now_ms, zone);
  if (!deadline_ms) return std::nullopt;
  return *deadline_ms - *before;
}

std::string format_utc(int64_t ms) {
  return date::format("%FT%TZ", date::floor<std::chrono::seconds>(date::sys_time<Ms>{Ms{ms}}));
}

}  // namespace tasks_plugin
