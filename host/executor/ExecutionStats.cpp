#include "executor/ExecutionStats.h"

#include <set>
#include <utility>

namespace sb {

using nlohmann::json;

namespace {

std::string text_at(const json& entry, const char* key) {
  const auto it = entry.find(key);
  return it != entry.end() && it->is_string() ? it->get<std::string>() : std::string();
}

using Pairs = std::set<std::pair<std::string, std::string>>;

// The (step, outcome) pairs a history reached and the (split step, variant)
// pairs it took; a parallel group's branches are in its "branches ended"
// entry, each with its whole history (which repeats the parent's start: a
// set counts it once).
void collect(const json& history, Pairs& reached, Pairs& variants) {
  if (!history.is_array()) return;
  for (const json& entry : history) {
    if (!entry.is_object()) continue;
    const std::string step = text_at(entry, "step"), outcome = text_at(entry, "outcome");
    if (!step.empty() && !outcome.empty()) reached.emplace(step, outcome);
    // The decisions taken on the way to it: a branch, a case, a variant, a
    // wait that timed out.
    if (const auto branches = entry.find("branches"); branches != entry.end() && branches->is_array())
      for (const json& decision : *branches) {
        if (!decision.is_object()) continue;
        const std::string at = text_at(decision, "step");
        if (decision.contains("variant")) variants.emplace(at, text_at(decision, "variant"));
        for (const char* kind : {"outcome", "branch", "case", "variant"})
          if (const std::string value = text_at(decision, kind); !value.empty())
            reached.emplace(at, std::string(kind) == "outcome" ? value : std::string(kind) + " " + value);
      }
    if (text_at(entry, "outcome") == "branches ended")
      if (const auto ends = entry.find("branches"); ends != entry.end() && ends->is_array())
        for (const json& end : *ends)
          if (end.is_object() && end.contains("history")) collect(end["history"], reached, variants);
  }
}

}  // namespace

void ExecutionStats::add(const ExecutionRow& row) {
  ++executions_;
  ++states_[state_name(row.state)];
  // Once per execution: a step retried three times was reached once.
  Pairs reached, variants;
  collect(json::parse(row.history_json, nullptr, false), reached, variants);
  for (const auto& [step, outcome] : reached) ++steps_[step][outcome];
  for (const auto& [split, name] : variants) {
    Variant& variant = splits_[split][name];
    ++variant.executions;
    for (const auto& [step, outcome] : reached) ++variant.steps[step][outcome];
  }
}

json ExecutionStats::to_json() const {
  json splits = json::object();
  for (const auto& [split, variants] : splits_)
    for (const auto& [name, variant] : variants)
      splits[split][name] = {{"executions", variant.executions}, {"steps", variant.steps}};
  return {{"executions", executions_}, {"states", states_}, {"steps", steps_}, {"splits", splits}};
}

}  // namespace sb
