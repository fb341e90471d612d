#include "plugins/PendingCalls.h"

#include <vector>

#include "log/Logger.h"

namespace sb {

// Callbacks run on whatever thread completes the call, often a plugin's or
// the HTTP client's: an exception must not escape into it.
void PendingCalls::run(Callback& done, ActionOutcome outcome) {
  try {
    done(std::move(outcome));
  } catch (const std::exception& e) {
    log_error("actions", "completion callback threw", {{"error", e.what()}});
  } catch (...) {
    log_error("actions", "completion callback threw an unknown exception");
  }
}

PendingCalls::PendingCalls() : expirer_([this] { expire_loop(); }) {}

PendingCalls::~PendingCalls() {
  close();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  expirer_.join();
}

void PendingCalls::close() {
  std::map<uint64_t, Entry> left;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    left.swap(calls_);
    deadlines_.clear();
  }
  for (auto& [id, entry] : left) run(entry.done, ActionOutcome::failure(SB_OUTCOME_RETRY, "host shutting down"));
}

uint64_t PendingCalls::add(Clock::time_point deadline, const void* owner, Callback done) {
  std::unique_lock lock(mutex_);
  if (closed_) {
    lock.unlock();
    run(done, ActionOutcome::failure(SB_OUTCOME_RETRY, "host shutting down"));
    return 0;
  }
  const uint64_t id = next_id_++;
  calls_.emplace(id, Entry{deadline, owner, std::move(done)});
  deadlines_.emplace(deadline, id);
  if (deadline < expirer_wakes_at_) wake_.notify_one();
  return id;
}

bool PendingCalls::complete(uint64_t id, const void* owner, ActionOutcome outcome) {
  Callback done;
  {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(id);
    if (it == calls_.end() || it->second.owner != owner) return false;
    deadlines_.erase({it->second.deadline, id});
    done = std::move(it->second.done);
    calls_.erase(it);
  }
  run(done, std::move(outcome));
  return true;
}

size_t PendingCalls::size() const {
  std::lock_guard lock(mutex_);
  return calls_.size();
}

void PendingCalls::expire_loop() {
  // Wakes at least this often, so that adding a call due later never has to.
  constexpr std::chrono::seconds kMaxSleep{1};
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    if (deadlines_.empty() || now < deadlines_.begin()->first) {
      expirer_wakes_at_ = now + kMaxSleep;
      if (!deadlines_.empty()) expirer_wakes_at_ = std::min(expirer_wakes_at_, deadlines_.begin()->first);
      wake_.wait_until(lock, expirer_wakes_at_);
      expirer_wakes_at_ = Clock::time_point::min();  // awake: adds need not notify
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
      run(done, ActionOutcome::failure(SB_OUTCOME_RETRY,
                                       "no completion: the plugin did not complete the action before its deadline"));
    lock.lock();
  }
}

}  // namespace sb
