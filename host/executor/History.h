// The entries of an execution's history that do not come from running one of
// its steps: built here for both runners, the durable one
// (executor/Transitions.h) and the in-memory one (executor/CompletedRoutes.h),
// so that `steps.<name>` reads the same whichever ran the rule.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace sb::history {

// `history_json` (a JSON array) with `entry_json` appended; neither is parsed.
std::string appended(std::string history_json, const std::string& entry_json);

// The step named by the history's last entry (null when there is none).
nlohmann::json last_step(const std::string& history_json);
// The history's last entry (an empty object when there is none).
nlohmann::json last_entry(const std::string& history_json);

// A wait for an event took `event`, recorded under the wait's step; `to_else`:
// the event was one of the wait's else_on, so the else steps run.
nlohmann::json event_arrived(nlohmann::json step, nlohmann::json event, int64_t at_ms, bool to_else);

// How one branch of a parallel group ended, with its whole history.
nlohmann::json branch_end(int64_t execution, const std::string& event_id, const char* state, const std::string& error,
                          nlohmann::json history);

// The last branch of a group ended: the parent goes on from its group's step.
nlohmann::json branches_ended(nlohmann::json step, nlohmann::json branch_ends, int64_t at_ms);

nlohmann::json cancelled_with_parent(int64_t at_ms);

// The execution failed at `step` for a reason of the host's, not a plugin's
// outcome: a step that could not be run, or a wait longer than a route's
// caller waits for.
nlohmann::json failed(nlohmann::json step, const std::string& reason, int64_t at_ms);

}  // namespace sb::history
