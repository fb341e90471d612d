#include "executor/CallQueue.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "log/Logger.h"
#include "util/Time.h"

namespace sb {

CallQueue::CallQueue(std::map<std::string, int> limits, std::function<void()> freed) : freed_(std::move(freed)) {
  for (const auto& [instance, limit] : limits) slots_[instance].limit = limit;
}

CallQueue::Release CallQueue::release_for(const std::string& instance) {
  auto once = std::make_shared<std::once_flag>();
  return [this, instance, once] {
    std::call_once(*once, [&] {
      bool wake = false;
      {
        std::lock_guard lock(mutex_);
        Slots& s = slots_.at(instance);
        --s.running;
        wake = s.waiting_count > 0;
      }
      if (wake) freed_();
    });
  };
}

CallQueue::Call CallQueue::Slots::next() {
  for (auto queue = waiting.rbegin(); queue != waiting.rend(); ++queue)
    if (!queue->empty()) {
      Call call = std::move(queue->front().call);
      queue->pop_front();
      --waiting_count;
      return call;
    }
  return {};
}

void CallQueue::submit(const std::string& instance, int priority, Call call, int64_t execution, GiveUp give_up,
                       int64_t start_by_ms, int64_t claimed_ms) {
  bool bounded = false, stopped = false, cancelled = false;
  {
    std::lock_guard lock(mutex_);
    stopped = stopped_;
    if (const auto it = execution != 0 && claimed_ms != 0 ? cancelled_at_.find(execution) : cancelled_at_.end();
        it != cancelled_at_.end() && it->second > claimed_ms)
      cancelled = true;  // between its claim and now: a retry since begins a step after it
    if (stopped || cancelled) {
      // Given up below, outside the lock: what it records may submit again.
    } else if (auto it = slots_.find(instance); it != slots_.end()) {
      Slots& s = it->second;
      if (s.running >= s.limit || s.waiting_count > 0) {
        s.waiting[static_cast<size_t>(std::clamp(priority, kLowestPriority, kHighestPriority))].push_back(
            {std::move(call), execution, std::move(give_up), start_by_ms});
        if (start_by_ms != 0) earliest_start_by_ = std::min(earliest_start_by_, start_by_ms);
        ++s.waiting_count;
        ++queued_;
        return;
      }
      ++s.running;
      bounded = true;
    }
  }
  if (stopped || cancelled) {
    if (give_up) give_up(stopped ? GiveUpReason::kStopping : GiveUpReason::kCancelled);
    return;
  }
  run(bounded ? release_for(instance) : Release([] {}), call);
}

void CallQueue::run(const Release& release, const Call& call) {
  try {
    call(release);
  } catch (...) {
    release();  // a call that threw holds no slot (it reports its own failure)
  }
}

void CallQueue::start_queued() {
  std::vector<std::pair<std::string, Call>> ready;
  {
    std::lock_guard lock(mutex_);
    for (auto& [instance, s] : slots_)
      while (s.running < s.limit && s.waiting_count > 0) {
        ++s.running;
        ready.emplace_back(instance, s.next());
        --queued_;
      }
  }
  for (auto& [instance, call] : ready) run(release_for(instance), call);
}

void CallQueue::give_up_executions(const std::vector<int64_t>& executions) {
  {
    std::lock_guard lock(mutex_);
    const int64_t now = now_ms();
    std::erase_if(cancelled_at_, [now](const auto& kept) { return kept.second < now - kCancelsKeptMs; });
    for (const int64_t execution : executions) cancelled_at_[execution] = now;
  }
  give_up_where(
      [&](const Waiting& w) {
        return w.execution != 0 && std::find(executions.begin(), executions.end(), w.execution) != executions.end();
      },
      GiveUpReason::kCancelled);
}

void CallQueue::give_up_late(int64_t now_ms) {
  {
    // Called on every turn of the pipeline's loop: most find nothing to walk.
    std::lock_guard lock(mutex_);
    if (queued_ == 0 || now_ms < earliest_start_by_) return;
  }
  give_up_where([now_ms](const Waiting& w) { return w.start_by_ms != 0 && w.start_by_ms <= now_ms; },
                GiveUpReason::kClaimEnding);
}

void CallQueue::give_up_all() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  give_up_where([](const Waiting&) { return true; }, GiveUpReason::kStopping);
}

void CallQueue::give_up_where(const std::function<bool(const Waiting&)>& which, GiveUpReason why) {
  std::vector<GiveUp> given_up;
  {
    std::lock_guard lock(mutex_);
    earliest_start_by_ = INT64_MAX;  // of the calls that stay
    for (auto& [instance, s] : slots_)
      for (auto& queue : s.waiting)
        for (auto it = queue.begin(); it != queue.end();) {
          if (!which(*it)) {
            if (it->start_by_ms != 0) earliest_start_by_ = std::min(earliest_start_by_, it->start_by_ms);
            ++it;
            continue;
          }
          given_up.push_back(std::move(it->give_up));
          it = queue.erase(it);
          --s.waiting_count;
          --queued_;
        }
  }
  for (const GiveUp& give_up : given_up) try {
      if (give_up) give_up(why);
    } catch (const std::exception& e) {  // the others still end
      log_error("pipeline", "a waiting call could not be given up", {{"error", e.what()}});
    }
}

size_t CallQueue::queued() const {
  std::lock_guard lock(mutex_);
  return queued_;
}

}  // namespace sb
