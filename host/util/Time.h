// Times and durations as rules and events write them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb {

// RFC 3339 ("2026-11-24T10:00:00Z", "2026-11-24T13:00:00.250+03:00") or a
// plain date ("2026-11-24", midnight UTC) to Unix milliseconds.
std::optional<int64_t> parse_time_ms(std::string_view text);

// "250ms", "30s", "15m", "2h", "1d", "1w", combined as "1d12h"; or in words,
// English or Russian: "1 day", "3 days 2 hours", "2 часа", "1 день"; a
// leading '-' makes it negative. Milliseconds, or nothing when the text is
// not a duration or is longer than 100 years (added to a time, a longer one
// would overflow it and come out in the past).
std::optional<int64_t> parse_duration_ms(std::string_view text);

// What a time parse_time_ms refused was expected to be, with the text given.
std::string expected_rfc3339_time(const std::string& got);

// Unix milliseconds as RFC 3339 UTC with milliseconds.
std::string format_time_ms(int64_t ms);

int64_t now_ms();

}  // namespace sb
