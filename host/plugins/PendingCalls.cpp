#include "plugins/PendingCalls.h"

#include <algorithm>
#include <vector>

#include "log/Logger.h"
#include "util/ThreadName.h"

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

void PendingCalls::give_up(std::vector<std::pair<uint64_t, Entry>>& calls, const ActionOutcome& outcome) {
  for (auto& [id, entry] : calls) {
    run(entry.done, outcome);
    if (!entry.gave_up) continue;
    try {
      entry.gave_up(id);
    } catch (...) {
      log_error("actions", "telling a plugin that a call was given up threw");
    }
  }
}

PendingCalls::PendingCalls()
    : expirer_([this] {
        name_this_thread("sb-call-expiry");
        expire_loop();
      }) {}

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
  std::vector<std::pair<uint64_t, Entry>> left;
  {
    std::unique_lock lock(mutex_);
    closed_ = true;
    for (auto& call : calls_) left.emplace_back(call.first, std::move(call.second));
    calls_.clear();
    deadlines_.clear();
    // Calls the expiry thread took out are told before close returns: after
    // it, no callback reaches a plugin.
    if (std::this_thread::get_id() != expirer_.get_id()) expired_told_.wait(lock, [this] { return !expiring_; });
  }
  give_up(left, ActionOutcome::failure(SB_OUTCOME_RETRY, "host shutting down"));
}

uint64_t PendingCalls::add(Clock::time_point deadline, const void* owner, Callback done, GiveUp gave_up,
                           int64_t execution) {
  std::unique_lock lock(mutex_);
  if (closed_) {
    lock.unlock();
    run(done, ActionOutcome::failure(SB_OUTCOME_RETRY, "host shutting down"));
    return 0;
  }
  const uint64_t id = next_id_++;
  calls_.emplace(id, Entry{deadline, owner, std::move(done), std::move(gave_up), execution});
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
    done = std::move(take(it).second.done);
  }
  run(done, std::move(outcome));
  return true;
}

void PendingCalls::give_up_executions(std::vector<int64_t> executions) {
  {
    std::lock_guard lock(mutex_);
    for (const int64_t execution : executions) cancelled_executions_.emplace_back(execution, next_id_);
  }
  wake_.notify_one();
}

std::pair<uint64_t, PendingCalls::Entry> PendingCalls::take(std::map<uint64_t, Entry>::iterator it) {
  std::pair<uint64_t, Entry> taken{it->first, std::move(it->second)};
  deadlines_.erase({taken.second.deadline, taken.first});
  calls_.erase(it);
  return taken;
}

std::vector<std::pair<uint64_t, PendingCalls::Entry>> PendingCalls::take_expired() {
  std::vector<std::pair<uint64_t, Entry>> expired;
  while (!deadlines_.empty() && deadlines_.begin()->first <= Clock::now())
    expired.push_back(take(calls_.find(deadlines_.begin()->second)));
  return expired;
}

std::vector<std::pair<uint64_t, PendingCalls::Entry>> PendingCalls::take_cancelled() {
  std::vector<std::pair<uint64_t, Entry>> taken;
  if (cancelled_executions_.empty()) return taken;
  std::sort(cancelled_executions_.begin(), cancelled_executions_.end());
  // An operator's cancel is rare and the calls in flight are bounded
  // (max_in_flight): a scan, not an index kept up at every call.
  for (auto it = calls_.begin(); it != calls_.end();) {
    const auto next = std::next(it);
    const int64_t execution = it->second.execution;
    const auto cancel = std::lower_bound(cancelled_executions_.begin(), cancelled_executions_.end(),
                                         std::make_pair(execution, uint64_t{0}));
    if (execution != 0 && cancel != cancelled_executions_.end() && cancel->first == execution &&
        it->first < cancel->second)
      taken.push_back(take(it));
    it = next;
  }
  cancelled_executions_.clear();
  return taken;
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
    if (cancelled_executions_.empty() && (deadlines_.empty() || now < deadlines_.begin()->first)) {
      expirer_wakes_at_ = now + kMaxSleep;
      if (!deadlines_.empty()) expirer_wakes_at_ = std::min(expirer_wakes_at_, deadlines_.begin()->first);
      wake_.wait_until(lock, expirer_wakes_at_);
      expirer_wakes_at_ = Clock::time_point::min();  // awake: adds need not notify
      continue;
    }
    // Cancelled first: a call both due and cancelled ends as cancelled.
    std::vector<std::pair<uint64_t, Entry>> cancelled = take_cancelled(), expired = take_expired();
    expiring_ = true;
    lock.unlock();
    give_up(expired,
            ActionOutcome::failure(SB_OUTCOME_RETRY,
                                   "no completion: the plugin did not complete the action before its deadline"));
    give_up(cancelled, ActionOutcome::given_up_for_cancel());
    lock.lock();
    expiring_ = false;
    expired_told_.notify_all();
  }
}

}  // namespace sb
