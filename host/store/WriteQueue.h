// The writes waiting for a store's writer thread, taken a group at a time:
// everything that arrived while the previous group committed, up to a bound
// (group commit: one transaction, one sync, for many requests).
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>

namespace sb {

template <class Write>
class WriteQueue {
 public:
  explicit WriteQueue(size_t max_group) : max_group_(max_group) {}

  // Queues `write` (moved from) and returns true; false, leaving it as it
  // is, once the store is stopping.
  bool push(Write& write) {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    pending_.push_back(std::move(write));
    wake_.notify_one();
    return true;
  }

  // Waits for the next group; empty once stopping and every write was taken.
  std::deque<Write> next_group() {
    std::deque<Write> group;
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    while (!pending_.empty() && group.size() < max_group_) {
      group.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    return group;
  }

  void stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
  }

 private:
  const size_t max_group_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Write> pending_;
  bool stopping_ = false;
};

}  // namespace sb
