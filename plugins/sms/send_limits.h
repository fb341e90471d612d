// An instance's sending limits ("no more than N a minute, M a day", as the
// reference CRMs let admins set them): fixed UTC minute and day windows,
// counted in memory (a restart starts them afresh).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

namespace sms {

class Limits {
 public:
  Limits(uint32_t per_minute, uint32_t per_day) : per_minute_(per_minute), per_day_(per_day) {}

  // Takes a slot for one message now, or says how many seconds until one is free.
  std::optional<uint32_t> take(int64_t now_ms);

 private:
  struct Window {
    int64_t index = -1;
    uint32_t used = 0;
  };
  static std::optional<uint32_t> full(Window& w, uint32_t limit, int64_t now_ms, int64_t length_ms);

  const uint32_t per_minute_, per_day_;  // 0 = no limit
  std::mutex mutex_;
  Window minute_, day_;
};

}  // namespace sms
