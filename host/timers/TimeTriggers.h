// The events of rules' time triggers (rules/TimeTrigger.h), produced by the
// host: a thread wakes every `check_every`, asks each producer what is due,
// and appends those events to the store, which routes them like any other.
// Each event's id names its occurrence, so a repeat (after a restart, or on
// another host sharing the store) is a duplicate: each runs once.
//
//   schedules      the latest occurrence due (one missed within the last hour
//                  while the host was down runs late, once)
//   special dates  the contacts are read once an hour; those whose day comes
//                  within it wait in memory for their local time, and one
//                  whose time passed earlier that day (a restart) goes at once
//   overdue        the entities of the type are read at every check
//   segments       (dynamic) the contacts changed since the last check, and
//                  every contact on the segment's refresh schedule: one
//                  contact.segments_changed event for each that should come
//                  in or go out (segment.entered / segment.left follow)
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "rules/CompiledRule.h"
#include "store/Store.h"

namespace sb {

// What one time trigger has due. Nothing counts as done until `delivered`:
// events the store could not take come again at the next check.
class TimeProducer {
 public:
  virtual ~TimeProducer() = default;
  virtual void due(int64_t now_ms, Store& store, std::vector<EventRecord>& out) = 0;
  virtual void delivered() = 0;  // what the last `due` gave is stored
};

class TimeTriggers {
 public:
  struct Options {
    std::chrono::milliseconds check_every{60000};
    std::string account_timezone = "UTC";
  };
  // `stored` runs after events were appended (it wakes the pipeline).
  TimeTriggers(Store& store, const std::vector<CompiledRule>& rules, const std::vector<DynamicSegment>& segments,
               Options options, std::function<void()> stored);
  ~TimeTriggers();

  bool empty() const { return producers_.empty(); }
  void start();
  void stop();
  // One check at `now_ms`: what was due, once appended (tests call it).
  std::vector<EventRecord> check(int64_t now_ms);

 private:
  void loop();

  Store& store_;
  const Options options_;
  std::function<void()> stored_;
  std::vector<std::unique_ptr<TimeProducer>> producers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// The month and day (and year, when written) of a date field: "1990-02-28",
// "28.02.1990", "--02-28", "02-28", or an RFC 3339 time's date.
struct MonthDay {
  int year = 0;  // 0: not written
  unsigned month = 0, day = 0;
};
std::optional<MonthDay> read_month_day(const std::string& text);

}  // namespace sb
