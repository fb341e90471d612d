// Unix seconds as an event's RFC 3339 time, for plugins that receive times
// as numbers (a gateway's report, a webhook's body).
#pragma once

#include <ctime>
#include <string>

namespace switchboard_plugins {

// "2026-06-26T10:31:33Z"; empty when it cannot be written.
inline std::string utc_time(long long unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char text[32];
  if (!gmtime_r(&t, &tm) || !std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm)) return "";
  return text;
}

}  // namespace switchboard_plugins
