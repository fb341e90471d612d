// The actions the host offers itself, as the instance "switchboard". They
// produce events, which are stored and routed like any other:
//
//   switchboard.set_status  {"status": "VIP" or null, "entity": {"type", "id", "pipeline"}}
//                           -> "<entity type>.status_changed"; the entity is
//                              the event's own unless named
//   switchboard.emit        {"type": "deal.upgraded", "data": {...}}
//
// The event's id is the step's idempotency key, so a step run again after a
// crash produces a duplicate, which changes nothing. Its chain depth is one
// more than that of the event the execution began with: the pipeline runs no
// rules for an event deeper than its `max_chain_depth`, so two rules that
// move a lead back and forth cannot run forever.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "config/Config.h"
#include "plugins/PluginInstance.h"
#include "plugins/PluginLibrary.h"
#include "store/Store.h"

namespace sb {

// The action's name and parameter schema; null when there is none so named.
const CapabilityInfo* find_host_action(std::string_view name);
std::string host_action_names();  // "emit, set_status"
std::vector<const CapabilityInfo*> all_host_actions();

// The event `request` produces for an execution of `rule` whose context is
// `context`, or why it produces none (the step's invalid_params reason).
// `contact_stored`: the context's contact is the store's (a durable
// execution), and the event names it by key; otherwise (a route that answers
// with the rule's result, whose event was never stored) it carries it.
std::variant<EventRecord, std::string> host_action_event(const ActionRequest& request, const nlohmann::json& context,
                                                         const std::string& rule, int64_t now_ms,
                                                         bool contact_stored = true);

}  // namespace sb
