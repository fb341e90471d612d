// The runner for events whose emitter waits for the rules' result (a webhook
// with respond: completed): the same interpreter as the durable pipeline,
// the same steps and the same metrics, with the executions kept in memory for
// the length of the request. An event with the sender's own id (webhook-id)
// is kept for a while after it ends: a repeat of it (the sender's retry)
// joins it while it runs, is answered with its end, or runs again only the
// executions that failed, from their failed step; what was sent is not sent
// again. On several nodes a repeat that reaches another node runs anew.
//
// Waits run on timers and must end within the route's time (max_wait, for
// all the waits of the event's executions together, counted from the
// event); one that would end later fails its execution and says to answer
// before the rules end (respond: accepted). A parallel group's branches run at once and join in memory; a
// wait_for takes its else branch at its timeout (the event it waits for
// reaches only the durable pipeline).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <vector>

#include "executor/Interpreter.h"
#include "plugins/HostServices.h"

namespace sb {

class CompletedRoutes final : public EventSink {
 public:
  // Runs `task` after `delay` (on a host thread that may not block).
  using Schedule = std::function<void(std::chrono::milliseconds delay, std::function<void()> task)>;

  struct Options {
    nlohmann::json account = nlohmann::json::object();
    std::chrono::milliseconds max_wait{30000};
    FrequencyCaps* frequency_caps = nullptr;  // shared with the pipeline; null: no caps
    // Events with the sender's own id are kept this long (and so many at
    // most) after they end, for the sender's repeats.
    std::chrono::milliseconds repeats_kept{std::chrono::minutes(10)};
    size_t repeats_kept_at_most = 10000;
    size_t repeats_kept_bytes = 64u << 20;  // of their events' text, counted once per execution
  };

  CompletedRoutes(std::vector<CompiledRule> rules, ActionDispatcher& actions, CallQueue& calls, Store& events,
                  Metrics& metrics, Schedule schedule, Options options);
  ~CompletedRoutes() override;

  sb_status emit(EmittedEvent event, sb_emit_wait wait, std::function<void(const EmitReport&)> done) override;

 private:
  struct Run;
  struct Execution;
  void next(const std::shared_ptr<Execution>& execution);
  void apply(const std::shared_ptr<Execution>& execution, ExecutionUpdate update);
  void ended(const std::shared_ptr<Execution>& execution);
  // The run kept for the same event, else null, with `run` kept if `keep` (`bytes`: what it holds).
  std::shared_ptr<Run> remember_or_find(const std::shared_ptr<Run>& run, size_t bytes, bool keep);
  void forget_old(int64_t now_ms);
  void repeat(const std::shared_ptr<Run>& run, sb_emit_wait wait, std::function<void(const EmitReport&)> done);
  static EmitReport report_of(const Run& run);

  std::vector<CompiledRule> rules_;
  ExecutionMetrics metrics_;
  Interpreter interpreter_;
  Schedule schedule_;
  const Options options_;
  struct Kept {
    int64_t forget_at_ms = 0;
    std::string key;
    size_t bytes = 0;
  };
  std::mutex recent_mutex_;
  std::unordered_map<std::string, std::shared_ptr<Run>> recent_;  // by Run::key: runs kept for a repeat
  std::deque<Kept> recent_order_;                                 // oldest first
  size_t recent_bytes_ = 0;
};

}  // namespace sb
