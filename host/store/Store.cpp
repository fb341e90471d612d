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

std::optional<ExecutionState> state_named(const std::string& s) {
  for (auto state : {ExecutionState::kReady, ExecutionState::kWaiting, ExecutionState::kDone, ExecutionState::kFailed,
                     ExecutionState::kCancelled, ExecutionState::kInDoubt})
    if (s == state_name(state)) return state;
  return std::nullopt;
}

}  // namespace sb
