// A rule's executions over a time, counted: what the stats API answers for
// one rule (GET /api/v1/executions/stats) and what a scheduled messages
// report compares week by week.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "analytics/ExecutionStats.h"
#include "rules/CompiledRule.h"
#include "store/Store.h"

namespace sb {

// What counting a rule's executions needs of it: its steps that send
// messages, by name (whose messages histories written before their entries
// said their channel count), and its goal.
struct StatsRule {
  std::set<std::string> channel_steps;
  std::optional<RuleGoal> goal;
};
using StatsRules = std::map<std::string, StatsRule>;
// The rules' stats, and an empty one for each disabled rule (its executions
// still count).
StatsRules stats_rules(const std::vector<CompiledRule>& rules, const std::vector<std::string>& disabled = {});

// The stats of a rule's executions made in [from_ms, to_ms) (no from: since
// the oldest; no to: until now), newest first, at most `most` of them (a
// parallel group's branches count in their parent's history, not as
// executions), with what providers reported of their messages and the goals
// their contacts reached (those known before `known_before_ms`, when given:
// a period compared with a later one is counted as it stood as long after
// its end).
struct CountedExecutions {
  ExecutionStats stats;
  bool complete = false;  // false: `most` were counted, and older ones were left
};
// Nothing when `stopping` said so between pages (the host shuts down).
std::optional<CountedExecutions> count_executions(Store& store, const std::string& rule, const StatsRules& rules,
                                                  std::optional<int64_t> from_ms, std::optional<int64_t> to_ms,
                                                  size_t most, const std::function<bool()>& stopping = {},
                                                  std::optional<int64_t> known_before_ms = std::nullopt);

}  // namespace sb
