#include "send_limits.h"

#include <algorithm>

namespace sms {

std::optional<uint32_t> Limits::full(Window& w, uint32_t limit, int64_t now_ms, int64_t length_ms) {
  if (limit == 0) return std::nullopt;
  const int64_t index = now_ms / length_ms;
  if (w.index != index) w = {index, 0};
  if (w.used < limit) return std::nullopt;
  return static_cast<uint32_t>(((index + 1) * length_ms - now_ms + 999) / 1000);
}

std::optional<uint32_t> Limits::take(int64_t now_ms) {
  std::lock_guard lock(mutex_);
  const auto minute = full(minute_, per_minute_, now_ms, 60'000);
  const auto day = full(day_, per_day_, now_ms, 86'400'000);
  if (minute || day) return std::max(minute.value_or(0), day.value_or(0));
  if (per_minute_) ++minute_.used;
  if (per_day_) ++day_.used;
  return std::nullopt;
}

}  // namespace sms
