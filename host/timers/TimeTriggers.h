// The events of rules' time triggers (rules/TimeTrigger.h), produced by the
// host: a thread wakes every `check_every`, asks each producer what is due,
// and appends those events to the store, which routes them like any other.
// Each event's id names its occurrence, so a repeat (after a restart, or on
// another host sharing the store) is a duplicate: each runs once. Of several
// nodes sharing a store, one checks at a time (Store::hold), so segment
// refreshes and contact reads happen once, not on every node.
//
//   schedules      the latest occurrence due (one missed within the last hour
//                  while the host was down runs late, once)
//   special dates  the contacts are read once an hour, and at every check
//                  those changed since the last read; those whose day comes
//                  within it wait in memory for their local time, and one
//                  whose time passed earlier that day (a restart) goes at once
//   overdue        the entities of the type are read at every check
//   reports        the report's entities, twice (its period and the one
//                  before), at each run of its schedule
//   segments       (dynamic) every contact on the segment's refresh schedule,
//                  stored a chunk at a time (rules/SegmentMembership.h; the
//                  router checks the contacts that change as they change)
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "analytics/RuleExecutions.h"
#include "config/Config.h"
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
    // This node's id: the checks are held by one node of those sharing the
    // store at a time ("" = this host checks alone).
    std::string owner = "";
    // How long the store keeps events (retention.events; 0: for ever): an
    // overdue entity is let go once its event may have been forgotten.
    int64_t events_kept_ms = 0;
    // What a rule's "report": "channels" counts (the config's ad_channels).
    Config::AdChannelsConfig ad_channels;
    // What a "report": "messages" needs of the rules it counts.
    StatsRules stats_rules;
    // The static segments (no filter): their members are counted once a
    // day, for their size history, as a dynamic one's are at its refresh.
    std::vector<std::string> static_segments = {};
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
  bool append(std::vector<EventRecord>& events);  // stored (then `stored` runs), or logged
  std::future<AppendResult> append_async(std::vector<EventRecord> events);

  Store& store_;
  const Options options_;
  std::function<void()> stored_;
  std::vector<std::unique_ptr<TimeProducer>> producers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sb
