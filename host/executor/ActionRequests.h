// How the executor calls actions: the dispatcher that reaches a plugin
// instance, the request for an action step (rendered parameters, checked
// against the action's schema, with the step's idempotency key), and what
// earlier steps reported, as templates read it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "plugins/PendingCalls.h"
#include "plugins/PluginInstance.h"
#include "rules/CompiledRule.h"
#include "store/Store.h"

namespace sb {

// Runs one action on a named instance; `done` runs exactly once.
class ActionDispatcher {
 public:
  virtual ~ActionDispatcher() = default;
  virtual void dispatch(const std::string& instance, const ActionRequest& request, PendingCalls::Callback done) = 0;
};

// The request for an action step of the execution `row` is at: parameters
// rendered from `context` and checked against the action's schema, with the
// step's idempotency key "<event id>:<rule>:<step id>"; or the
// invalid_params outcome that says why there is none.
std::variant<ActionRequest, ActionOutcome> make_action_request(const CompiledStep& step, const nlohmann::json& context,
                                                               const ExecutionRow& row);

// What the steps of an execution so far reported, by step name, from its
// history: {"Offer": {"external_id": .., "output": ..}, "Read": {"event": ..}};
// a parallel group's branches count too. Templates and conditions read it as
// "steps".
nlohmann::json step_results(const nlohmann::json& history);

// Every character of a generated event id is URL- and header-safe.
std::string generate_event_id();

}  // namespace sb
