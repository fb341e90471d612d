#include "util/Time.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Timestamp.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace sb {

namespace {
// RFC 3339's date-time, all of it (Poco's parser reads a prefix, dropping
// trailing text, and takes any offset, +99:99), with the offsets ISO 8601
// writes too (+0300, as PHP's DATE_ISO8601 and Python's %z; +03), and an
// RFC 9557 zone after it ("...+03:00[Europe/Moscow]", which says no more
// than the offset for a past or present time).
bool rfc3339_shape(std::string_view s) {
  const auto digits = [&s](size_t at, size_t n, int most) {
    if (at + n > s.size()) return false;
    int value = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      value = value * 10 + (s[i] - '0');
    }
    return value <= most;
  };
  if (!(digits(0, 4, 9999) && s[4] == '-' && digits(5, 2, 12) && s[7] == '-' && digits(8, 2, 31) &&
        (s[10] == 'T' || s[10] == 't') && digits(11, 2, 23) && s[13] == ':' && digits(14, 2, 59) && s[16] == ':' &&
        digits(17, 2, 60)))
    return false;
  size_t at = 19;
  if (at < s.size() && s[at] == '.') {
    const size_t first = ++at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
    if (at == first) return false;
  }
  if (const size_t zone = s.find('[', at); zone != std::string_view::npos) {
    if (s.back() != ']' || zone + 2 >= s.size()) return false;
    s = s.substr(0, zone);
  }
  if (at + 1 == s.size()) return s[at] == 'Z' || s[at] == 'z';
  if (at >= s.size() || (s[at] != '+' && s[at] != '-') || !digits(at + 1, 2, 23)) return false;
  const size_t minutes = at + 3 < s.size() && s[at + 3] == ':' ? at + 4 : at + 3;
  return s.size() == at + 3 || (s.size() == minutes + 2 && digits(minutes, 2, 59));
}
}  // namespace

std::optional<int64_t> parse_time_ms(std::string_view text) {
  const std::string s(text);
  Poco::DateTime parsed;
  int tz = 0;
  if (s.size() == 10 && s[4] == '-' && s[7] == '-') {
    if (!Poco::DateTimeParser::tryParse("%Y-%m-%d", s, parsed, tz)) return std::nullopt;
  } else {
    if (s.size() < 20 || !rfc3339_shape(s)) return std::nullopt;
    if (!Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::ISO8601_FRAC_FORMAT, s.substr(0, s.find('[')), parsed,
                                        tz))
      return std::nullopt;
  }
  parsed.makeUTC(tz);
  return parsed.timestamp().epochMicroseconds() / 1000;
}

namespace {

// A duration's unit, as written compactly ("d") or in words, English or
// Russian, in any of their forms ("days", "дня", "дней").
std::optional<int64_t> unit_ms(std::string_view word) {
  static const std::pair<std::vector<std::string_view>, int64_t> kUnits[] = {
      {{"ms", "msec", "millisecond", "milliseconds", "мс"}, 1},
      {{"s", "sec", "secs", "second", "seconds", "с", "сек", "секунда", "секунды", "секунд", "секунду"}, 1000},
      {{"m", "min", "mins", "minute", "minutes", "мин", "минута", "минуты", "минут", "минуту"}, 60 * 1000},
      {{"h", "hr", "hrs", "hour", "hours", "ч", "час", "часа", "часов"}, 3600 * 1000},
      {{"d", "day", "days", "д", "дн", "день", "дня", "дней", "сутки", "суток"}, 86400 * 1000},
      {{"w", "wk", "week", "weeks", "нед", "неделя", "недели", "недель", "неделю"}, 7 * 86400 * 1000LL},
      // A month is 30 days ("wait 1 month"): a duration, not the calendar's.
      {{"mo", "month", "months", "мес", "месяц", "месяца", "месяцев"}, 30 * 86400 * 1000LL},
  };
  // Words in any case ("Day", "День"); the one- and two-letter units only as
  // written ("1M" is no minute: people mean a month by it).
  std::string lower;
  for (size_t i = 0; i < word.size(); ++i) {
    const auto c = static_cast<unsigned char>(word[i]);
    const auto next = i + 1 < word.size() ? static_cast<unsigned char>(word[i + 1]) : 0;
    if (c >= 'A' && c <= 'Z') {
      lower += static_cast<char>(c - 'A' + 'a');
    } else if (c == 0xd0 && next >= 0x90 && next <= 0x9f) {  // А-П
      lower += {static_cast<char>(0xd0), static_cast<char>(next + 0x20)};
      ++i;
    } else if (c == 0xd0 && next >= 0xa0 && next <= 0xaf) {  // Р-Я
      lower += {static_cast<char>(0xd1), static_cast<char>(next - 0x20)};
      ++i;
    } else {
      lower += static_cast<char>(c);
    }
  }
  const std::string_view as_written = word.size() <= 2 ? word : std::string_view(lower);
  for (const auto& [words, ms] : kUnits)
    for (std::string_view w : words)
      if (as_written == w) return ms;
  return std::nullopt;
}

bool is_letter(char c) {  // ASCII letters and the bytes of UTF-8 letters (Cyrillic)
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  // Between parts: spaces, commas, "and" ("1 day and 2 hours", "1 день и 2 часа").
  const auto skip_blanks = [&text] {
    for (bool more = true; more;) {
      while (!text.empty() && (text.front() == ' ' || text.front() == ',')) text.remove_prefix(1);
      more = false;
      for (std::string_view joint : {"and ", "и "})
        if (text.substr(0, joint.size()) == joint) {
          text.remove_prefix(joint.size());
          more = true;
        }
    }
  };
  skip_blanks();
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  while (!text.empty()) {
    int64_t n = 0;
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
      if (n > std::numeric_limits<int64_t>::max() / 10 / 604800000) return std::nullopt;  // absurdly long
      n = n * 10 + (text[digits] - '0');
      ++digits;
    }
    // A unit alone is one of it ("час", "неделю", "an hour" as "hour");
    // "полчаса" is half an hour.
    if (digits == 0) {
      size_t letters = 0;
      while (letters < text.size() && is_letter(text[letters])) ++letters;
      if (text.substr(0, letters) == "полчаса") {
        total += 1800 * 1000;
        text.remove_prefix(letters);
        skip_blanks();
        continue;
      }
      for (std::string_view article : {"an ", "a ", "An ", "A "})
        if (text.substr(0, article.size()) == article) {
          text.remove_prefix(article.size());
          break;
        }
      letters = 0;
      while (letters < text.size() && is_letter(text[letters])) ++letters;
      // "d", "мс" alone are no duration: a unit alone is a word.
      const auto characters = std::count_if(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(letters),
                                            [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
      if (characters <= 2 || !unit_ms(text.substr(0, letters))) return std::nullopt;
      n = 1;
    }
    text.remove_prefix(digits);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    size_t letters = 0;
    while (letters < text.size() && is_letter(text[letters])) ++letters;
    const auto unit = unit_ms(text.substr(0, letters));
    if (!unit || n > (std::numeric_limits<int64_t>::max() - total) / *unit) return std::nullopt;
    total += n * *unit;
    text.remove_prefix(letters);
    skip_blanks();
  }
  constexpr int64_t kLongest = int64_t{100} * 366 * 86400000;
  if (total > kLongest) return std::nullopt;
  return negative ? -total : total;
}

std::string expected_rfc3339_time(const std::string& got) {
  std::string out =
      "expected an RFC 3339 time such as 2026-12-01T09:00:00Z or 2026-12-01T12:00:00+03:00, got '" + got + "'";
  // A '+' a query string carries as it is reads as a space.
  if (got.find(' ') != std::string::npos) out += " (in a URL, an offset's '+' is written %2B)";
  return out;
}

std::string format_time_ms(int64_t ms) {
  // Every history entry and routed event has one: Poco's formatter parsed
  // its pattern and built a calendar date each time (1 % of a campaign's
  // CPU), and wrapped years past 9999. The civil date of a day number, in
  // 64 bits for any year (H. Hinnant's days-to-civil algorithm).
  constexpr int64_t kDayMs = 86400000;
  const int64_t day = ms / kDayMs - (ms % kDayMs < 0 ? 1 : 0);
  const int64_t in_day = ms - day * kDayMs;
  const int64_t z = day + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  std::string text = y < 0 ? "-" : "";
  const std::string year = std::to_string(y < 0 ? -y : y);
  if (year.size() < 4) text.append(4 - year.size(), '0');
  text += year;
  char rest[] = "-00-00T00:00:00.000Z";
  const auto put = [&rest](int at, int digits, int64_t value) {
    for (int i = at + digits - 1; i >= at; --i, value /= 10) rest[i] = static_cast<char>('0' + value % 10);
  };
  put(1, 2, m);
  put(4, 2, d);
  put(7, 2, in_day / 3600000);
  put(10, 2, in_day / 60000 % 60);
  put(13, 2, in_day / 1000 % 60);
  put(16, 3, in_day % 1000);
  return text.append(rest, sizeof rest - 1);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sb
