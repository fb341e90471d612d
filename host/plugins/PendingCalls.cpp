#include "plugins/PendingCalls.h"

#include <vector>

namespace sb {

PendingCalls::PendingCalls() : expirer_([this] { expire_loop(); }) {}

PendingCalls::~PendingCalls() {
  std::map<uint64_t, Entry> left;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    left.swap(calls_);
    deadlines_.clear();
  }
  wake_.notify_all();
  expirer_.join();
  for (auto& [id, entry] : left) entry.done(ActionOutcome::failure(SB_OUTCOME_RETRY, "host shutting down"));
}

uint64_t PendingCalls::add(Clock::time_point deadline, Callback done) {
  std::lock_guard lock(mutex_);
  const uint64_t id = next_id_++;
  const bool earliest = deadlines_.empty() || deadline < deadlines_.begin()->first;
  calls_.emplace(id, Entry{deadline, std::move(done)});
  deadlines_.emplace(deadline, id);
  if (earliest) wake_.notify_one();
  return id;
}

bool PendingCalls::complete(uint64_t id, ActionOutcome outcome) {
  Callback done;
  {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return false;
    deadlines_.erase({it->second.deadline, id});
    done = std::move(it->second.done);
    calls_.erase(it);
  }
  done(std::move(outcome));
  return true;
}

size_t PendingCalls::size() const {
  std::lock_guard lock(mutex_);
  return calls_.size();
}

void PendingCalls::expire_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (deadlines_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const auto next = deadlines_.begin()->first;
    if (Clock::now() < next) {
      wake_.wait_until(lock, next);
      continue;
    }
    std::vector<Callback> expired;
    while (!deadlines_.empty() && deadlines_.begin()->first <= Clock::now()) {
      const uint64_t id = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto it = calls_.find(id);
      expired.push_back(std::move(it->second.done));
      calls_.erase(it);
    }
    lock.unlock();
    for (auto& done : expired)
      done(ActionOutcome::failure(SB_OUTCOME_RETRY,
                                  "no completion: the plugin did not complete the action before its deadline"));
    lock.lock();
  }
}

}  // namespace sb
