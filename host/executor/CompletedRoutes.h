// The runner for events whose emitter waits for the rules' result (a webhook
// with respond: completed): the same interpreter as the durable pipeline,
// the same steps and the same metrics, with the executions kept in memory for
// the length of the request. The caller holds the state: it retries when it
// gets no answer, and the steps' idempotency keys make the retry harmless.
//
// Waits run on timers and must end within the route's time (max_wait, for
// all the waits of the event's executions together, counted from the
// event); one that would end later fails its execution and says to answer
// before the rules end (respond: accepted). A parallel group's branches run at once and join in memory; a
// wait_for takes its else branch at its timeout (the event it waits for
// reaches only the durable pipeline).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
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

  std::vector<CompiledRule> rules_;
  ExecutionMetrics metrics_;
  Interpreter interpreter_;
  Schedule schedule_;
  const Options options_;
};

}  // namespace sb
