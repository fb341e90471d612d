// Action calls that a plugin has started but not yet completed.
//
// The sb_completion handle given to a plugin is an id, never a pointer into
// host memory, and it is valid only for the instance that got it: a late,
// repeated or forged completion (or one from another instance) finds nothing
// and is ignored, so a misbehaving plugin cannot touch others' calls or freed
// memory.
// A call not completed by its deadline fails with RETRY ("no completion"),
// and its plugin hears that the host gave up on it (on_action_cancel); so
// does a call of an execution that an operator cancelled.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "plugins/ActionOutcome.h"

namespace sb {

class PendingCalls {
 public:
  using Clock = std::chrono::steady_clock;
  using Callback = std::function<void(ActionOutcome)>;
  using GiveUp = std::function<void(uint64_t id)>;  // the host stopped waiting for the call

  PendingCalls();
  ~PendingCalls();  // fails every call still pending ("host shutting down")

  // Registers a call of `owner` (the instance); `done` runs exactly once, on
  // the completing thread. After close() it runs at once with "host shutting
  // down" and the result is 0. `gave_up` runs after `done` when the call
  // expires, its execution is cancelled, or it is failed by close(), never
  // when it was completed.
  // `execution`: the execution whose step made the call (0: none).
  uint64_t add(Clock::time_point deadline, const void* owner, Callback done, GiveUp gave_up = {},
               int64_t execution = 0);
  // Runs the call's callback; false when the id is unknown (already
  // completed, expired or never issued).
  bool complete(uint64_t id, const void* owner, ActionOutcome outcome);
  // Gives up the calls in flight of these executions, soon, on the expiry
  // thread (plugin code does not run on the caller's, the store's writer):
  // each fails with an ActionOutcome marked `cancelled`, then its plugin
  // hears it.
  void give_up_executions(std::vector<int64_t> executions);
  // Fails every pending call and refuses new ones. The object stays usable
  // (completions find nothing), so threads that still hold it are safe.
  void close();
  size_t size() const;

 private:
  struct Entry {
    Clock::time_point deadline;
    const void* owner;
    Callback done;
    GiveUp gave_up;
    int64_t execution = 0;
  };
  void expire_loop();
  static void run(Callback& done, ActionOutcome outcome);
  // Fails calls taken out of the map with `outcome`, then tells their plugins.
  static void give_up(std::vector<std::pair<uint64_t, Entry>>& calls, const ActionOutcome& outcome);
  // Takes the call out of calls_ and deadlines_; under mutex_.
  std::pair<uint64_t, Entry> take(std::map<uint64_t, Entry>::iterator it);
  // Takes out the calls that are due, or whose execution was cancelled; under mutex_.
  std::vector<std::pair<uint64_t, Entry>> take_expired();
  std::vector<std::pair<uint64_t, Entry>> take_cancelled();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<uint64_t, Entry> calls_;
  std::set<std::pair<Clock::time_point, uint64_t>> deadlines_;
  uint64_t next_id_ = 1;
  // When the expiry thread wakes next anyway: a call due later needs no
  // wake-up (a futex call and two context switches per action otherwise).
  Clock::time_point expirer_wakes_at_ = Clock::time_point::min();
  bool stopping_ = false;
  bool closed_ = false;
  // Executions whose calls the expiry thread gives up next, each with the
  // first call id added after the cancel: a later call (a retry the
  // operator started since) is not the cancelled step's.
  std::vector<std::pair<int64_t, uint64_t>> cancelled_executions_;
  bool expiring_ = false;  // the expiry thread is telling calls it took out
  std::condition_variable expired_told_;
  std::thread expirer_;
};

}  // namespace sb
