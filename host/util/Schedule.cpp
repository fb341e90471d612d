#include "util/Schedule.h"

#include <date/tz.h>

#include <array>
#include <cctype>
#include <charconv>
#include <regex>
#include <sstream>
#include <vector>

#include "util/Text.h"

namespace sb {

namespace {

using Ms = std::chrono::milliseconds;

const std::array<const char*, 7> kWeekdays = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
const std::array<const char*, 7> kWeekdayWords = {"sunday",   "monday", "tuesday", "wednesday",
                                                  "thursday", "friday", "saturday"};

std::optional<int> number(const std::string& text, bool weekdays) {
  if (weekdays)
    for (int i = 0; i < 7; ++i)
      if (text == kWeekdays[i]) return i;
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

// One field: "*", "5", "1-5", "*/15", "8-20/2", lists of those. Sets bits lo..hi.
template <size_t N>
bool read_field(const std::string& field, int lo, int hi, bool weekdays, std::bitset<N>& bits) {
  std::stringstream parts(field);
  std::string part;
  while (std::getline(parts, part, ',')) {
    int step = 1;
    if (const auto slash = part.find('/'); slash != std::string::npos) {
      auto s = number(part.substr(slash + 1), false);
      if (!s || *s < 1) return false;
      step = *s;
      part.resize(slash);
    }
    int from = lo, to = hi;
    if (part != "*") {
      const auto dash = part.find('-');
      auto a = number(part.substr(0, dash), weekdays);
      auto b = dash == std::string::npos ? a : number(part.substr(dash + 1), weekdays);
      if (!a || !b) return false;
      from = *a;
      to = dash == std::string::npos && step > 1 ? hi : *b;
    }
    if (from < lo || to > hi || from > to) return false;
    for (int v = from; v <= to; v += step) bits.set(weekdays && v == 7 ? 0 : v);
  }
  return !field.empty();
}

// The Russian words the reference CRMs use, in English: "ежедневно в 09:00"
// is "daily at 09:00", "каждый понедельник в 10:00" "every monday at 10:00".
std::string in_english(const std::string& text) {
  static const std::vector<std::pair<std::string, std::string>> kWords = {
      {"ежедневно", "daily"},          {"каждый день", "every day"},        {"еженедельно", "weekly"},
      {"каждую неделю", "every week"}, {"ежемесячно", "monthly"},           {"каждый месяц", "every month"},
      {"ежеквартально", "quarterly"},  {"каждый квартал", "every quarter"}, {"ежечасно", "hourly"},
      {"каждый час", "every hour"},    {"каждую минуту", "every minute"},   {"по будням", "every weekday"}};
  static const std::vector<std::pair<std::string, std::string>> kDays = {
      {"понедельник", "monday"}, {"вторник", "tuesday"},  {"среду", "wednesday"},   {"четверг", "thursday"},
      {"пятницу", "friday"},     {"субботу", "saturday"}, {"воскресенье", "sunday"}};
  static const std::regex every_day_of_week(R"(^(каждый|каждую|каждое) (\S+)( в (.+))?$)");
  // "каждые 15 минут", "каждые 2 часа", "каждые 6 часов", "каждые полчаса"
  static const std::regex every_n(R"(^каждые (\d+) (минут(у|ы)?|час(а|ов)?)$)");
  std::smatch m;
  if (text == "каждые полчаса") return "every 30 minutes";
  if (std::regex_match(text, m, every_n))
    return "every " + m[1].str() + (m[2].str().rfind("минут", 0) == 0 ? " minutes" : " hours");
  if (std::regex_match(text, m, every_day_of_week))
    for (const auto& [ru, en] : kDays)
      if (m[2] == ru) return "every " + en + (m[3].matched ? " at " + m[4].str() : "");
  for (const auto& [ru, en] : kWords) {
    if (text == ru) return en;
    // "ежедневно в 09:00", "по будням в 09:00"
    if (text.rfind(ru + " в ", 0) == 0)
      return (en == "weekly" || en == "every week" ? "every monday" : en) + " at " + text.substr(ru.size() + 4);
  }
  return text;
}

// The words, as cron: "every day at 09:00" -> "0 9 * * *".
std::optional<std::string> words_to_cron(const std::string& text) {
  static const std::regex every_day(R"(^every day at ([01]?\d|2[0-3]):([0-5]\d)$)");
  static const std::regex every_weekday(
      R"(^every (monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekday) at ([01]?\d|2[0-3]):([0-5]\d)$)");
  static const std::regex every_n_minutes(R"(^every ([1-9]\d?) minutes?$)");
  static const std::regex every_n_hours(R"(^every ([1-9]\d?) hours?$)");
  static const std::regex daily_at(R"(^daily at ([01]?\d|2[0-3]):([0-5]\d)$)");
  std::smatch m;
  // The CRMs' own words: daily, weekly (Mondays), monthly (the 1st), at midnight unless "daily at".
  if (text == "daily" || text == "every day") return "0 0 * * *";
  if (text == "weekly" || text == "every week") return "0 0 * * 1";
  if (text == "monthly" || text == "every month") return "0 0 1 * *";
  if (text == "quarterly" || text == "every quarter") return "0 0 1 1,4,7,10 *";
  if (text == "every weekday") return "0 0 * * 1-5";
  static const std::regex monthly_at(
      R"(^(monthly|every month|quarterly|every quarter) at ([01]?\d|2[0-3]):([0-5]\d)$)");
  if (std::regex_match(text, m, monthly_at))
    return std::to_string(std::stoi(m[3])) + " " + std::to_string(std::stoi(m[2])) + " 1 " +
           (m[1] == "monthly" || m[1] == "every month" ? "*" : "1,4,7,10") + " *";
  if (std::regex_match(text, m, daily_at)) return std::to_string(std::stoi(m[2])) + " " + m[1].str() + " * * *";
  // "weekly at 09:00": on Mondays, as "weekly" is.
  static const std::regex weekly_at(R"(^(weekly|every week) at ([01]?\d|2[0-3]):([0-5]\d)$)");
  if (std::regex_match(text, m, weekly_at)) return std::to_string(std::stoi(m[3])) + " " + m[2].str() + " * * 1";
  if (text == "every hour" || text == "hourly") return "0 * * * *";
  if (text == "every minute") return "* * * * *";
  if (std::regex_match(text, m, every_day)) return std::to_string(std::stoi(m[2])) + " " + m[1].str() + " * * *";
  if (std::regex_match(text, m, every_weekday)) {
    std::string day = m[1] == "weekday" ? "1-5" : "";
    for (int i = 0; i < 7 && day.empty(); ++i)
      if (m[1] == kWeekdayWords[i]) day = std::to_string(i);
    return std::to_string(std::stoi(m[3])) + " " + m[2].str() + " * * " + day;
  }
  // Only a divisor of the hour runs at even intervals ("*/45" runs at :00 and :45).
  if (std::regex_match(text, m, every_n_minutes) && 60 % std::stoi(m[1]) == 0) return "*/" + m[1].str() + " * * * *";
  // So for hours: a divisor of the day, from midnight ("every 6 hours": 00, 06, 12, 18).
  if (std::regex_match(text, m, every_n_hours) && 24 % std::stoi(m[1]) == 0) return "0 */" + m[1].str() + " * * *";
  return std::nullopt;
}

}  // namespace

std::optional<Schedule> Schedule::parse(const std::string& text, std::string& why) {
  // Words begin with a letter (cron's fields with a digit or "*"), in
  // English or Russian, in any case.
  const bool words = !text.empty() &&
                     (std::isalpha(static_cast<unsigned char>(text[0])) || static_cast<unsigned char>(text[0]) >= 0x80);
  const std::string cron = words ? words_to_cron(in_english(lower_case(text))).value_or("") : text;
  if (cron.empty()) {
    why = "'" + text +
          "' is not a schedule: expected \"every day at 09:00\", \"every monday at 10:30\", \"every weekday at "
          "09:00\", \"every hour\" (\"hourly\"), \"every 6 hours\" (a divisor of 24), \"every 15 minutes\" (a divisor "
          "of 60), \"daily\", \"weekly\", \"monthly\", \"quarterly\" (in Russian too: \"ежедневно в 09:00\", "
          "\"каждый понедельник в 10:00\", \"каждые 15 минут\") or "
          "cron's five fields (\"0 9 * * 1-5\")";
    return std::nullopt;
  }
  std::stringstream in(cron);
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() != 5) {
    why = "'" + text + "' has " + std::to_string(fields.size()) +
          " fields; cron has five: minute hour day-of-month month day-of-week";
    return std::nullopt;
  }
  Schedule s;
  static const std::array<const char*, 5> kNames = {"minute (0-59)", "hour (0-23)", "day of month (1-31)",
                                                    "month (1-12)", "day of week (0-7 or sun..sat)"};
  const bool ok[5] = {read_field(fields[0], 0, 59, false, s.minutes_), read_field(fields[1], 0, 23, false, s.hours_),
                      read_field(fields[2], 1, 31, false, s.days_), read_field(fields[3], 1, 12, false, s.months_),
                      read_field(fields[4], 0, 7, true, s.weekdays_)};
  for (int i = 0; i < 5; ++i)
    if (!ok[i]) {
      why = "'" + text + "': field " + std::to_string(i + 1) + " '" + fields[i] + "' is not a valid " + kNames[i];
      return std::nullopt;
    }
  s.any_day_of_month_ = fields[2] == "*";
  s.any_weekday_ = fields[4] == "*";
  return s;
}

bool Schedule::day_matches(unsigned day_of_month, unsigned month, unsigned weekday) const {
  if (!months_.test(month)) return false;
  if (any_day_of_month_) return weekdays_.test(weekday);
  if (any_weekday_) return days_.test(day_of_month);
  return days_.test(day_of_month) || weekdays_.test(weekday);
}

std::optional<int64_t> Schedule::next_after(int64_t after_ms, const std::string& zone) const {
  const date::time_zone* tz = date::locate_zone(zone);
  const auto after = date::sys_time<Ms>{Ms{after_ms}};
  // Local wall-clock times, minute by minute, skipping whole days and hours
  // that cannot match.
  auto local = date::floor<std::chrono::minutes>(tz->to_local(after)) + std::chrono::minutes{1};
  const auto give_up = local + date::days{366 * 8};
  while (local < give_up) {
    const auto day = date::floor<date::days>(local);
    const date::year_month_day ymd{day};
    if (!day_matches(static_cast<unsigned>(ymd.day()), static_cast<unsigned>(ymd.month()),
                     date::weekday{day}.c_encoding())) {
      local = day + date::days{1};
      continue;
    }
    const auto since_midnight = std::chrono::duration_cast<std::chrono::minutes>(local - day).count();
    const auto hour = static_cast<size_t>(since_midnight / 60), minute = static_cast<size_t>(since_midnight % 60);
    if (!hours_.test(hour)) {
      local = day + std::chrono::hours{hour + 1};
      continue;
    }
    if (!minutes_.test(minute)) {
      local += std::chrono::minutes{1};
      continue;
    }
    const auto when = tz->to_sys(local, date::choose::earliest);
    if (when > after) return std::chrono::duration_cast<Ms>(when.time_since_epoch()).count();
    local += std::chrono::minutes{1};  // a skipped local time that maps before `after`
  }
  return std::nullopt;
}

}  // namespace sb
