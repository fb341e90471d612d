// Calls in flight per plugin instance, bounded where the config says
// (an instance's max_in_flight, which protects a provider's rate limits):
// a call over the bound waits until one of its instance ends, those of a
// higher priority first (a password reset is not queued behind a campaign
// on a shared SMS instance), in order within a priority.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "store/Store.h"

namespace sb {

class CallQueue {
 public:
  // A call gets `release`, to run exactly once when it has ended.
  using Release = std::function<void()>;
  using Call = std::function<void(Release release)>;
  // Why a waiting call will never run: an operator cancelled its execution,
  // the host stops, or the claim it was made for ends before the call could
  // (the step was never sent: it is given back, to be claimed again).
  enum class GiveUpReason { kCancelled, kStopping, kClaimEnding };
  using GiveUp = std::function<void(GiveUpReason)>;

  // `limits`: instance -> calls in flight at most (absent: no bound).
  // `freed` runs (on the releasing thread) when a waiting call may start.
  CallQueue(std::map<std::string, int> limits, std::function<void()> freed);

  // Runs `call` now if its instance has a free slot, else queues it.
  // `priority`: kLowestPriority to kHighestPriority (store/Store.h).
  // `execution` (0: none) names the call for give_up_executions, which
  // runs `give_up` instead of `call`. `start_by_ms` (0: any time): a call
  // still waiting then is given up (kClaimEnding) by give_up_late.
  // `claimed_ms` (0: unknown): a time before its step was claimed; an
  // execution cancelled since (between its claim and this call) gives the
  // call up at once (kCancelled).
  void submit(const std::string& instance, int priority, Call call, int64_t execution = 0, GiveUp give_up = {},
              int64_t start_by_ms = 0, int64_t claimed_ms = 0);
  // The waiting calls whose `start_by_ms` has passed are given up
  // (kClaimEnding), on the caller's thread: a call queued behind a slow
  // provider's slots must not outlive its step's lease, which another claim
  // would then take for a step that may have run.
  void give_up_late(int64_t now_ms);
  // An operator cancelled these executions: their waiting calls never run;
  // each one's `give_up` runs, on the caller's thread (the store's: the
  // cancel's commit callback, or the listener that heard another node's
  // cancel; it only records the step's end). Calls that started are
  // PendingCalls' to give up. A call submitted later for a step claimed
  // before the cancel is given up too (a while: kCancelsKeptMs).
  void give_up_executions(const std::vector<int64_t>& executions);
  static constexpr int64_t kCancelsKeptMs = 10 * 60 * 1000;
  // The host stops: every waiting call is given up (kStopping), on the
  // caller's thread, and so is every call submitted from then on, at once.
  void give_up_all();
  // Starts the queued calls whose instance has a free slot again. Runs them
  // on the caller's thread, never inside a release (a call that ends at once
  // would otherwise start the next one on the same stack, and so on).
  void start_queued();
  size_t queued() const;

 private:
  struct Waiting {
    Call call;
    int64_t execution = 0;
    GiveUp give_up;
    int64_t start_by_ms = 0;
  };
  struct Slots {
    int limit = 0;
    int running = 0;
    std::array<std::deque<Waiting>, kHighestPriority + 1> waiting;  // by priority
    size_t waiting_count = 0;
    Call next();  // the first waiting call of the highest priority
  };
  void give_up_where(const std::function<bool(const Waiting&)>& which, GiveUpReason why);
  Release release_for(const std::string& instance);
  static void run(const Release& release, const Call& call);

  std::function<void()> freed_;
  mutable std::mutex mutex_;
  std::map<std::string, Slots> slots_;  // only the bounded instances
  size_t queued_ = 0;
  // No waiting call has to start before then (a call that started since may have set it earlier).
  int64_t earliest_start_by_ = INT64_MAX;
  bool stopped_ = false;  // give_up_all() ran
  // Execution -> when this node heard its cancel; those older than
  // kCancelsKeptMs go when the next cancel comes.
  std::map<int64_t, int64_t> cancelled_at_;
};

}  // namespace sb
