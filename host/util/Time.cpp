#include "util/Time.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Timestamp.h>

#include <chrono>
#include <limits>

namespace sb {

std::optional<int64_t> parse_time_ms(std::string_view text) {
  const std::string s(text);
  Poco::DateTime parsed;
  int tz = 0;
  if (s.size() == 10 && s[4] == '-' && s[7] == '-') {
    if (!Poco::DateTimeParser::tryParse("%Y-%m-%d", s, parsed, tz)) return std::nullopt;
  } else {
    // Poco accepts looser forms; RFC 3339 needs the 'T' and a full time.
    if (s.size() < 20 || (s[10] != 'T' && s[10] != 't')) return std::nullopt;
    if (!Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::ISO8601_FRAC_FORMAT, s, parsed, tz)) return std::nullopt;
  }
  parsed.makeUTC(tz);
  return parsed.timestamp().epochMicroseconds() / 1000;
}

std::optional<int64_t> parse_duration_ms(std::string_view text) {
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
    if (digits == 0 || digits == text.size()) return std::nullopt;
    int64_t unit = 0;
    size_t unit_length = 1;
    if (text.substr(digits, 2) == "ms") {
      unit = 1;
      unit_length = 2;
    } else
      switch (text[digits]) {
        case 's':
          unit = 1000;
          break;
        case 'm':
          unit = 60 * 1000;
          break;
        case 'h':
          unit = 3600 * 1000;
          break;
        case 'd':
          unit = 86400 * 1000;
          break;
        case 'w':
          unit = 7 * 86400 * 1000LL;
          break;
        default:
          return std::nullopt;
      }
    total += n * unit;
    text.remove_prefix(digits + unit_length);
  }
  return negative ? -total : total;
}

std::string format_time_ms(int64_t ms) {
  return Poco::DateTimeFormatter::format(Poco::Timestamp(ms * 1000), "%Y-%m-%dT%H:%M:%S.%iZ");
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sb
