// When a task is due, written as a person would, in the account's time zone:
//
//   today 18:00      tomorrow 10:00      today (= 23:59)
//   +1 day   +2 hours   +3 business days   +1 week 10:00
//   within a week    within 3 days       (the end of the last day)
//   2026-12-03T18:00:00+03:00            (RFC 3339, as it is)
//   and in Russian: "Сегодня до 18:00", "+3 рабочих дня", "в течение недели",
//   "в течение дня" (today); reminders "за 1 час"
//
// Business days are Monday to Friday. A time of day replaces the current
// one on the day reached.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tasks_plugin {

// Unix milliseconds, or nothing when `expression` is not one of the forms
// above. `zone` is an IANA zone ("Asia/Omsk"); an unknown one throws
// std::runtime_error.
std::optional<int64_t> resolve_deadline(const std::string& expression, int64_t now_ms, const std::string& zone);

// A reminder: a deadline expression, or "<n> minutes|hours|days before"
// (the deadline).
std::optional<int64_t> resolve_reminder(const std::string& expression, int64_t now_ms,
                                        std::optional<int64_t> deadline_ms, const std::string& zone);

// Whether a reminder counts back from the deadline ("1 hour before", "за 1 час").
bool counts_from_deadline(const std::string& reminder);

// RFC 3339 in UTC with milliseconds' precision dropped: "2026-12-03T15:00:00Z".
std::string format_utc(int64_t ms);

}  // namespace tasks_plugin
