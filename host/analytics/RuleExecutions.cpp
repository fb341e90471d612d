#include "analytics/RuleExecutions.h"

namespace sb {

StatsRules stats_rules(const std::vector<CompiledRule>& rules, const std::vector<std::string>& disabled) {
  StatsRules out;
  for (const std::string& name : disabled) out[name];
  for (const CompiledRule& rule : rules) {
    StatsRule& stats = out[rule.name];
    stats.goal = rule.goal;
    for (const CompiledStep& step : rule.steps)
      if (!step.channel.empty()) stats.channel_steps.insert(step.name);
  }
  return out;
}

std::optional<CountedExecutions> count_executions(Store& store, const std::string& rule, const StatsRules& rules,
                                                  std::optional<int64_t> from_ms, std::optional<int64_t> to_ms,
                                                  size_t most, const std::function<bool()>& stopping,
                                                  std::optional<int64_t> known_before_ms) {
  const auto known = rules.find(rule);
  CountedExecutions out{known == rules.end() ? ExecutionStats()
                                             : ExecutionStats(known->second.channel_steps, known->second.goal)};
  ExecutionQuery query;
  query.rule = rule;
  const auto before_from = [&](const ExecutionRow& row) { return from_ms && row.created_at_ms < *from_ms; };
  size_t counted = 0;
  // The newest first, page by page, until `from`, the oldest, or `most`.
  while (!out.complete && counted < most) {
    if (stopping && stopping()) return std::nullopt;
    query.limit = 1000;
    const std::vector<ExecutionRow> rows = store.executions(query);
    for (const ExecutionRow& row : rows) {
      if (before_from(row)) {
        out.complete = true;
        break;
      }
      if (counted == most && !row.parent_id) break;  // the next page begins here
      query.before_id = row.id;
      if (row.parent_id || (to_ms && row.created_at_ms >= *to_ms)) continue;
      out.stats.add(row);
      ++counted;
    }
    if (counted < most && rows.size() < query.limit) out.complete = true;
  }
  // `most` counted: complete when nothing older (of this rule, after `from`) is left.
  if (!out.complete) {
    query.limit = 1;
    for (;;) {
      const std::vector<ExecutionRow> next = store.executions(query);
      if (next.empty() || before_from(next[0])) {
        out.complete = true;
        break;
      }
      if (!next[0].parent_id) break;
      query.before_id = next[0].id;
    }
  }
  // What providers reported of the messages counted: one read per few thousand.
  std::vector<MessageReport> reports = store.message_reports(out.stats.message_ids());
  if (known_before_ms)
    std::erase_if(reports, [&](const MessageReport& r) { return r.received_at_ms >= *known_before_ms; });
  out.stats.add_reports(reports);
  // ... and the goals their contacts reached since the first began.
  if (const auto contacts = out.stats.contact_keys(); !contacts.empty()) {
    std::vector<GoalReached> goals = store.goals_reached(contacts, out.stats.goals_since_ms());
    if (known_before_ms) std::erase_if(goals, [&](const GoalReached& g) { return g.at_ms >= *known_before_ms; });
    out.stats.add_goals(goals);
  }
  return out;
}

}  // namespace sb
