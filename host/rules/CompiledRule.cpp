#include "rules/CompiledRule.h"

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

}  // namespace sb
