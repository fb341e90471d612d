#include "store/Store.h"

namespace sb {

const char* state_name(ExecutionState s) {
  switch (s) {
    case ExecutionState::kReady:
      return "ready";
    case ExecutionState::kWaiting:
      return "waiting";
    case ExecutionState::kDone:
      return "done";
    case ExecutionState::kFailed:
      return "failed";
    case ExecutionState::kCancelled:
      return "cancelled";
    case ExecutionState::kInDoubt:
      return "in_doubt";
  }
  return "failed";
}

std::string id_taken_problem(const std::string& id) {
  return "the event id '" + id + "' is taken by an event from another source";
}

std::optional<ExecutionState> state_named(const std::string& s) {
  for (auto state : {ExecutionState::kReady, ExecutionState::kWaiting, ExecutionState::kDone, ExecutionState::kFailed,
                     ExecutionState::kCancelled, ExecutionState::kInDoubt})
    if (s == state_name(state)) return state;
  return std::nullopt;
}

ExecutionFilter execution_filter(const ExecutionQuery& query, std::string (*mark)(int)) {
  ExecutionFilter f;
  const auto term = [&](const std::string& column, std::string value) {
    f.values.push_back(std::move(value));
    f.where += (f.values.size() == 1 ? " WHERE " : " AND ") + column + " = " + mark(static_cast<int>(f.values.size()));
  };
  if (query.state) {
    term("state", state_name(*query.state));
    // Said again as the index says it: neither SQLite nor a generic plan
    // reads it from the value.
    if (*query.state != ExecutionState::kDone) f.where += " AND state <> 'done'";
  }
  if (!query.rule.empty()) term("rule", query.rule);
  if (!query.event_id.empty()) term("event_id", query.event_id);
  if (!query.contact_keys.empty()) {
    f.where += f.values.empty() ? " WHERE contact_key IN (" : " AND contact_key IN (";
    for (size_t i = 0; i < query.contact_keys.size(); ++i) {
      f.values.push_back(query.contact_keys[i]);
      f.where += (i ? ", " : "") + mark(static_cast<int>(f.values.size()));
    }
    f.where += ")";
  }
  if (query.before_id > 0) {
    f.values.push_back(std::to_string(query.before_id));
    f.where += std::string(f.values.size() == 1 ? " WHERE " : " AND ") + "id < CAST(" +
               mark(static_cast<int>(f.values.size())) + " AS BIGINT)";
  }
  return f;
}

}  // namespace sb
