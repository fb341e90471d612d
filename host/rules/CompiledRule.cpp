#include "rules/CompiledRule.h"

#include <algorithm>

namespace sb {

const std::string& CompiledRule::id_at(int index) const {
  static const std::string end = kEndId;
  return index >= 0 && index < static_cast<int>(steps.size()) ? steps[static_cast<size_t>(index)].id : end;
}

std::optional<int> CompiledRule::index_of(const std::string& id) const {
  if (id.empty()) return 0;
  if (id == kEndId) return static_cast<int>(steps.size());
  auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

void CompiledRule::index_steps() {
  index_.clear();
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].id.empty()) steps[i].id = std::to_string(i);
    index_.emplace(steps[i].id, static_cast<int>(i));
  }
}

bool some_rule_reads(const std::vector<CompiledRule>& rules, const std::string& type) {
  const auto in = [&type](const std::vector<std::string>& types) {
    return std::find(types.begin(), types.end(), type) != types.end();
  };
  for (const CompiledRule& rule : rules) {
    if (rule.trigger && rule.trigger->event() == type) return true;
    for (const CompiledStep& step : rule.steps)
      if (in(step.wait_events) || in(step.wait_else_on)) return true;
  }
  return false;
}

}  // namespace sb
