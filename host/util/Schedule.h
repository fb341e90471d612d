// When a periodic rule runs: cron's five fields, or the words people use,
// in an IANA time zone.
//
//   "0 9 * * 1-5"          minute hour day-of-month month day-of-week
//   "*/15 8-20 * * *"      lists, ranges, steps; day-of-week 0-7 (0 and 7 are Sunday) or mon..sun
//   "every day at 09:00"   "every monday at 10:30"   "every hour"   "every 15 minutes"
//
// As in cron, when both day fields are restricted a day matching either
// runs. A local time skipped by a DST change runs when the clocks jump; one
// that happens twice runs once.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>

namespace sb {

class Schedule {
 public:
  // The schedule, or nothing with `why` (which field, what was expected).
  static std::optional<Schedule> parse(const std::string& text, std::string& why);

  // The first run strictly after `after_ms`, in `zone` (throws
  // std::runtime_error for an unknown zone). Nothing within eight years.
  std::optional<int64_t> next_after(int64_t after_ms, const std::string& zone) const;

 private:
  bool day_matches(unsigned day_of_month, unsigned month, unsigned weekday) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_of_month_ = true, any_weekday_ = true;
};

}  // namespace sb
