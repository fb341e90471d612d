// The compiled form of rules (shared with the durable pipeline), and the
// in-memory runner for the events whose emitter waits for the rules' result
// (a webhook with respond: completed; see pipeline/EmittedEvents.h): it
// matches them against the rules and runs each matching rule's actions in
// order. Its executions live only as long as the request and it runs no
// waits or branches; every other event goes through pipeline/Pipeline.h.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "plugins/HostServices.h"
#include "plugins/PendingCalls.h"
#include "plugins/PluginInstance.h"
#include "rules/CompiledRule.h"

namespace sb {

class Counter;
class Metrics;

// Runs one action on a named instance; `done` runs exactly once.
class ActionDispatcher {
 public:
  virtual ~ActionDispatcher() = default;
  virtual void dispatch(const std::string& instance, const ActionRequest& request, PendingCalls::Callback done) = 0;
};

class RuleEngine : public EventSink {
 public:
  // `account` is the config's account object ({{account.*}}).
  RuleEngine(std::vector<CompiledRule> rules, ActionDispatcher& actions, Metrics& metrics,
             nlohmann::json account = nlohmann::json::object());

  sb_status emit(EmittedEvent event, sb_emit_wait wait, std::function<void(const EmitReport&)> done) override;

 private:
  struct EventRun;
  struct Execution;
  void run_step(std::shared_ptr<Execution> execution);
  void step_ended(std::shared_ptr<Execution> execution, ActionOutcome outcome);
  Counter& events_of_type(const std::string& type);

  std::vector<CompiledRule> rules_;
  ActionDispatcher& actions_;
  Metrics& metrics_;
  const nlohmann::json account_;
  // Series looked up once, so that counting an event takes no lock.
  struct RuleCounters {
    Counter* done = nullptr;
    Counter* failed = nullptr;
    std::vector<std::array<Counter*, 5>> step_outcomes;  // [step][sb_outcome]
  };
  std::vector<RuleCounters> counters_;  // parallel to rules_
  std::shared_mutex event_counters_mutex_;
  std::unordered_map<std::string, Counter*> event_counters_;
};

// The request for an action step of `rule`: parameters rendered from
// `context` and checked against the action's schema, with the step's
// idempotency key "<event id>:<rule>:<step id>"; or the invalid_params
// outcome that says why there is none. Shared by both runners.
std::variant<ActionRequest, ActionOutcome> make_action_request(const CompiledStep& step, const nlohmann::json& context,
                                                               const std::string& event_id, const std::string& rule,
                                                               uint32_t attempt);

// What the steps of an execution so far reported, by step name, from its
// history: {"Offer": {"external_id": .., "output": ..}, "Read": {"event": ..}};
// a parallel group's branches count too. Templates and conditions read it as
// "steps".
nlohmann::json step_results(const nlohmann::json& history);

// Every character of a generated event id is URL- and header-safe.
std::string generate_event_id();

}  // namespace sb
