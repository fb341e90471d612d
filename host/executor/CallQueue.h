// Calls in flight per plugin instance, bounded where the config says
// (an instance's max_in_flight, which protects a provider's rate limits):
// a call over the bound waits in order until one of its instance ends.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace sb {

class CallQueue {
 public:
  // A call gets `release`, to run exactly once when it has ended.
  using Release = std::function<void()>;
  using Call = std::function<void(Release release)>;

  // `limits`: instance -> calls in flight at most (absent: no bound).
  // `freed` runs (on the releasing thread) when a waiting call may start.
  CallQueue(std::map<std::string, int> limits, std::function<void()> freed);

  // Runs `call` now if its instance has a free slot, else queues it.
  void submit(const std::string& instance, Call call);
  // Starts the queued calls whose instance has a free slot again. Runs them
  // on the caller's thread, never inside a release (a call that ends at once
  // would otherwise start the next one on the same stack, and so on).
  void start_queued();
  size_t queued() const;

 private:
  struct Slots {
    int limit = 0;
    int running = 0;
    std::deque<Call> waiting;
  };
  Release release_for(const std::string& instance);
  static void run(const Release& release, const Call& call);

  std::function<void()> freed_;
  mutable std::mutex mutex_;
  std::map<std::string, Slots> slots_;  // only the bounded instances
  size_t queued_ = 0;
};

}  // namespace sb
