// The writes waiting for a store's writer thread, taken a group at a time:
// everything that arrived while the previous group committed, up to a bound
// (group commit: one transaction, one sync, for many requests).
//
// Urgent writes (what starts a high-priority rule: a password reset behind a
// campaign's writes) do not wait for a group of everything else: when some
// wait, the next group is theirs alone, unless the previous one was; then the
// others go first (so a stream of urgent writes cannot hold them back for
// more than every other group).
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
  bool push(Write& write, bool urgent = false) {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    (urgent ? urgent_ : pending_).push_back(std::move(write));
    wake_.notify_one();
    return true;
  }

  // Waits for the next group; empty once stopping and every write was taken.
  std::deque<Write> next_group() {
    std::deque<Write> group;
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return stopping_ || !pending_.empty() || !urgent_.empty(); });
    const bool urgent_only = !urgent_.empty() && !last_urgent_only_;
    if (!urgent_only) take(pending_, group);
    take(urgent_, group);
    last_urgent_only_ = urgent_only;
    return group;
  }

  void stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
  }

 private:
  void take(std::deque<Write>& from, std::deque<Write>& group) {
    while (!from.empty() && group.size() < max_group_) {
      group.push_back(std::move(from.front()));
      from.pop_front();
    }
  }

  const size_t max_group_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Write> pending_;
  std::deque<Write> urgent_;
  bool last_urgent_only_ = false;
  bool stopping_ = false;
};

}  // namespace sb
