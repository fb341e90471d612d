// The durable rule pipeline. It routes stored events to executions and runs
// their steps, keeping every execution's state in the store, so that a crash
// loses nothing and repeats no step needlessly:
//
//   router    events after the routing position -> matching rules -> new
//             executions, committed together with the new position (an event
//             is routed exactly once; a range trigger fires once per entity)
//   scheduler executions due now (found by the due-time index, so waits of
//             days hold no memory or thread) -> their next step
//   steps     an action (through the plugin, with the idempotency key
//             "<event id>:<rule>:<step>"), a wait, or a wait for an event;
//             each result is committed before the next step starts
//   arrivals  routed events that a wait_for step may be waiting for, keyed
//             by type and the matched values, so that the store finds the
//             waiting executions by index
//
// A step in flight when the host dies runs again after the restart, with the
// same idempotency key: providers that honour it do the work once. Retries
// back off exponentially with jitter; permanent failures and exhausted
// retries leave the execution "failed" with the reason (the dead letters).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "pipeline/CallQueue.h"
#include "rules/RuleEngine.h"
#include "store/Store.h"

namespace sb {

class Counter;
class Metrics;

struct PipelineOptions {
  std::chrono::milliseconds stop_wait{5000};  // how long stop() waits for steps in flight
  // Events that rules' actions produce (pipeline/HostActions.h) may set off
  // rules that produce more: no rules run for an event deeper than this.
  int max_chain_depth = 5;
  nlohmann::json account = nlohmann::json::object();  // {{account.*}}, and the default time zone
  // Steps claimed and not yet recorded, at most: a backlog of any size is
  // worked through with bounded memory.
  int max_in_flight = 1000;
  std::map<std::string, int> instance_max_in_flight = {};  // calls in flight per instance, where bounded
  // Compiles an older rule version kept in the store (its source), for the
  // executions that began with it; nullopt with `why` when it cannot be.
  std::function<std::optional<CompiledRule>(const nlohmann::json& source, std::string& why)> compile_version = {};
};

class Pipeline {
 public:
  Pipeline(Store& store, std::vector<CompiledRule> rules, ActionDispatcher& actions, Metrics& metrics,
           PipelineOptions options = {});
  ~Pipeline();  // stop()

  void start();
  // Stops routing and starting steps, and waits (bounded) for the steps in
  // flight; results that arrive later are not recorded, so those steps run
  // again after a restart.
  void stop();
  // New events are in the store (saves waiting for the next poll).
  void wake();

 private:
  void run();
  // Each routes or starts one batch; true when there may be more to do now.
  bool route_new_events();
  bool start_due_steps();
  // A claimed execution with its rule version and the index of its step there.
  struct Claimed {
    ExecutionRow row;
    const CompiledRule* rule = nullptr;
    int index = 0;
  };
  void start_step(const ExecutionRow& row);
  // The version of its rule the execution runs; null with `why` when there is none.
  const CompiledRule* rule_for(const ExecutionRow& row, std::string& why);
  // Where a branch, switch, split or jump at `index` leads; notes the decision.
  int choose_branch(const CompiledRule& rule, const CompiledStep& step, int index, const nlohmann::json& context,
                    nlohmann::json& decisions) const;
  void run_action(const Claimed& at, const CompiledStep& step, const nlohmann::json& context,
                  nlohmann::json decisions);
  void step_ended(const Claimed& at, const CompiledStep& step, const ActionOutcome& outcome,
                  const nlohmann::json& decisions);
  void produce_event(const Claimed& at, const CompiledStep& step, const ActionRequest& request,
                     const nlohmann::json& context, nlohmann::json decisions);
  void hold_in_doubt(const Claimed& at, const CompiledStep& step, nlohmann::json decisions);
  void wait_for_event(const Claimed& at, const CompiledStep& step, const nlohmann::json& context,
                      nlohmann::json decisions);
  void record(ExecutionUpdate update);
  const CompiledRule* rule_named(const std::string& name) const;

  Store& store_;
  std::vector<CompiledRule> rules_;  // the current versions
  std::mutex versions_mutex_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<CompiledRule>> versions_;  // older ones, once read
  // Event type -> the sets of paths that wait_for steps match it on.
  std::map<std::string, std::set<std::vector<std::string>>> awaited_;
  ActionDispatcher& actions_;
  const PipelineOptions options_;
  Counter& executions_started_;
  Counter& executions_done_;
  Counter& executions_failed_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;
  bool stopping_ = false;
  bool recording_ = true;    // false once stop() gave up waiting for steps in flight
  int steps_in_flight_ = 0;  // claimed and not yet recorded (stop() waits for them); at most max_in_flight
  const std::string owner_;  // the claimer of due work: unique across hosts and restarts
  int64_t lease_ms_ = 120000;
  CallQueue calls_;
  std::thread thread_;
};

// The delay before retry `attempt` (1 = the first): base * 2^(attempt-1),
// at most an hour, times a random factor in [0.5, 1.5) so that retries of
// many executions spread out.
int64_t backoff_ms(int64_t base_ms, int attempt, double jitter);

// The key an awaited event is found by: its type and the matched values.
std::string arrival_key(const std::string& type, const std::vector<std::pair<std::string, std::string>>& matched);

// An A/B split's variant for this contact: the same contact always gets the
// same variant of a rule, in the proportions of the weights.
std::string split_variant(const std::string& rule, const CompiledStep& split, const nlohmann::json& context);

}  // namespace sb
