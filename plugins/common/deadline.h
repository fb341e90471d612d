// An answer after the step's deadline is thrown away by the host: a request
// waits no longer than that.
#pragma once

#include <algorithm>
#include <cstdint>

namespace switchboard_plugins {

// `timeout_ms`, shortened to what is left before `deadline_unix_ms` (at least
// 1 ms); unchanged when either time is unknown (0).
inline uint32_t timeout_within_deadline(uint32_t timeout_ms, int64_t deadline_unix_ms, int64_t now_unix_ms) {
  if (deadline_unix_ms <= 0 || now_unix_ms <= 0) return timeout_ms;
  const int64_t left = std::max<int64_t>(deadline_unix_ms - now_unix_ms, 1);
  return static_cast<uint32_t>(std::min<int64_t>(timeout_ms, left));
}

}  // namespace switchboard_plugins
