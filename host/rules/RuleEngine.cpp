#include "rules/RuleEngine.h"

#include <atomic>
#include <mutex>
#include <random>

#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "rules/Template.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

std::variant<ActionRequest, ActionOutcome> make_action_request(const CompiledStep& step, const json& context,
                                                               const std::string& event_id, const std::string& rule,
                                                               uint32_t attempt) {
  ActionRequest request;
  request.action = step.action;
  request.timeout = step.timeout;
  request.attempt = attempt;
  request.idempotency_key = event_id + ":" + rule + ":" + step.id;
  try {
    request.params = render_template(step.params, context, step.html_params);
  } catch (const TemplateError& e) {
    return ActionOutcome::failure(SB_OUTCOME_INVALID_PARAMS, e.what());
  }
  if (step.schema)
    if (auto violations = step.schema->validate(request.params); !violations.empty()) {
      std::string why = "parameters do not match the action's schema:";
      for (const auto& v : violations) why += " " + (v.path.empty() ? "/" : v.path) + ": " + v.message + ";";
      return ActionOutcome::failure(SB_OUTCOME_INVALID_PARAMS, why);
    }
  return request;
}

namespace {
void collect_step_results(const json& history, json& results) {
  if (!history.is_array()) return;
  for (const json& entry : history) {
    if (!entry.is_object()) continue;
    const std::string outcome = entry.value("outcome", "");
    if (outcome == "branches ended" && entry.contains("branches"))
      for (const json& branch : entry["branches"]) collect_step_results(branch.value("history", json()), results);
    if (!entry.contains("step") || !entry["step"].is_string()) continue;
    if (outcome == "done")
      results[entry["step"].get<std::string>()] = {{"external_id", entry.value("external_id", "")},
                                                   {"output", entry.value("output", json())}};
    else if (outcome == "event arrived")
      results[entry["step"].get<std::string>()] = {{"event", entry.value("event", json())}};
  }
}
}  // namespace

json step_results(const json& history) {
  json results = json::object();
  collect_step_results(history, results);
  return results;
}

std::string generate_event_id() {
  // Random prefix per process + counter: unique without a syscall per event.
  static const std::string prefix = [] {
    std::random_device rd;
    std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
    static const char kHex[] = "0123456789abcdef";
    std::string p = "evt_";
    for (int i = 0; i < 16; ++i) p += kHex[gen() % 16];
    return p;
  }();
  static std::atomic<uint64_t> counter{0};
  return prefix + "_" + std::to_string(++counter);
}

namespace {
bool rule_takes(const CompiledRule& rule, const EmittedEvent& event) {
  // Plugins' events carry no entity status: status triggers wait for the
  // durable pipeline's events.
  if (!rule.trigger || rule.trigger->fires(event.type, event.source, std::nullopt) != Trigger::Fire::kYes)
    return false;
  return !rule.filter || rule.filter->matches(event.payload, now_ms());
}
}  // namespace

// Everything one emitted event set off; reports when the last execution ends.
struct RuleEngine::EventRun {
  std::string event_id;
  json context;
  std::function<void(const EmitReport&)> done;  // empty when nobody waits
  std::mutex mutex;
  json executions = json::array();
  size_t remaining = 0;
  uint32_t executions_done = 0;

  void finished(json execution, bool ok) {
    std::function<void(const EmitReport&)> report;
    {
      std::lock_guard lock(mutex);
      executions.push_back(std::move(execution));
      executions_done += ok;
      if (--remaining > 0 || !done) return;
      report = std::move(done);
    }
    const auto count = static_cast<uint32_t>(executions.size());
    report(EmitReport{SB_OK, event_id, "", json{{"executions", std::move(executions)}}, count, executions_done});
  }
};

struct RuleEngine::Execution {
  const CompiledRule* rule;
  std::shared_ptr<EventRun> run;
  size_t next_step = 0;
  json steps = json::array();
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

RuleEngine::RuleEngine(std::vector<CompiledRule> rules, ActionDispatcher& actions, Metrics& metrics, json account)
    : rules_(std::move(rules)), actions_(actions), metrics_(metrics), account_(std::move(account)) {
  for (CompiledRule& rule : rules_) rule.index_steps();
  for (const CompiledRule& rule : rules_) {
    RuleCounters c;
    c.done = &metrics_.counter("switchboard_executions_total", {{"rule", rule.name}, {"status", "done"}});
    c.failed = &metrics_.counter("switchboard_executions_total", {{"rule", rule.name}, {"status", "failed"}});
    for (const CompiledStep& step : rule.steps) {
      std::array<Counter*, 5> outcomes{};
      for (int o = SB_OUTCOME_DONE; o <= SB_OUTCOME_INVALID_PARAMS; ++o)
        outcomes[o] = &metrics_.counter("switchboard_actions_total",
                                        {{"rule", rule.name},
                                         {"step", step.name},
                                         {"outcome", std::string(outcome_name(static_cast<sb_outcome>(o)))}});
      c.step_outcomes.push_back(outcomes);
    }
    counters_.push_back(std::move(c));
  }
}

Counter& RuleEngine::events_of_type(const std::string& type) {
  {
    std::shared_lock lock(event_counters_mutex_);
    auto it = event_counters_.find(type);
    if (it != event_counters_.end()) return *it->second;
  }
  Counter& c = metrics_.counter("switchboard_events_total", {{"type", type}});
  std::unique_lock lock(event_counters_mutex_);
  event_counters_.emplace(type, &c);
  return c;
}

sb_status RuleEngine::emit(EmittedEvent event, sb_emit_wait wait, std::function<void(const EmitReport&)> done) {
  if (event.id.empty()) event.id = generate_event_id();
  events_of_type(event.type).add();
  auto run = std::make_shared<EventRun>();
  run->event_id = event.id;
  std::vector<const CompiledRule*> matched;
  for (const auto& rule : rules_)
    if (rule_takes(rule, event)) matched.push_back(&rule);
  if (Logger::instance().enabled(LogLevel::debug))
    log_debug("rules", "event", {{"event_id", event.id}, {"type", event.type}, {"matched", matched.size()}});

  if (wait == SB_EMIT_WAIT_ACCEPTED || matched.empty()) {
    done(EmitReport{SB_OK, event.id, "", json{{"executions", json::array()}}});
  } else {
    run->done = std::move(done);
  }
  if (matched.empty()) return SB_OK;

  run->context = std::move(event.payload);
  run->context["event"] = {{"id", event.id}, {"type", event.type}, {"source", event.source}};
  if (!account_.empty()) run->context["account"] = account_;
  run->remaining = matched.size();
  for (const CompiledRule* rule : matched) {
    auto execution = std::make_shared<Execution>();
    execution->rule = rule;
    execution->run = run;
    run_step(std::move(execution));
  }
  return SB_OK;
}

void RuleEngine::run_step(std::shared_ptr<Execution> execution) {
  const CompiledRule& rule = *execution->rule;
  if (execution->next_step == rule.steps.size()) {
    counters_[execution->rule - rules_.data()].done->add();
    execution->run->finished(json{{"rule", rule.name}, {"status", "done"}, {"steps", std::move(execution->steps)}},
                             true);
    return;
  }
  const size_t index = execution->next_step;
  const CompiledStep& step = rule.steps[index];
  if (step.kind != CompiledStep::Kind::kAction)
    return step_ended(std::move(execution),
                      ActionOutcome::failure(
                          SB_OUTCOME_PERMANENT,
                          "waits and branches run in the durable pipeline only: have the trigger answer before the "
                          "rules end (a webhook's respond: accepted)"));

  // The first step reads the event as it is; later ones also what earlier ones reported.
  json with_steps;
  if (!execution->steps.empty()) {
    with_steps = execution->run->context;
    with_steps["steps"] = step_results(execution->steps);
  }
  auto request = make_action_request(step, execution->steps.empty() ? execution->run->context : with_steps,
                                     execution->run->event_id, rule.name, 1);
  if (auto* refused = std::get_if<ActionOutcome>(&request))
    return step_ended(std::move(execution), std::move(*refused));
  actions_.dispatch(step.instance, std::get<ActionRequest>(request), [this, execution](ActionOutcome outcome) mutable {
    step_ended(std::move(execution), std::move(outcome));
  });
}

void RuleEngine::step_ended(std::shared_ptr<Execution> execution, ActionOutcome outcome) {
  const CompiledRule& rule = *execution->rule;
  const CompiledStep& step = rule.steps[execution->next_step];
  const RuleCounters& counters = counters_[execution->rule - rules_.data()];
  counters.step_outcomes[execution->next_step][outcome.outcome]->add();
  json record = outcome.to_json();
  record["step"] = step.name;
  execution->steps.push_back(std::move(record));
  if (outcome.ok()) {
    ++execution->next_step;
    return run_step(std::move(execution));
  }
  counters.failed->add();
  log_warn("rules", "step failed",
           {{"rule", rule.name},
            {"step", step.name},
            {"event_id", execution->run->event_id},
            {"outcome", outcome_name(outcome.outcome)},
            {"reason", outcome.reason}});
  execution->run->finished(json{{"rule", rule.name}, {"status", "failed"}, {"steps", std::move(execution->steps)}},
                           false);
}

}  // namespace sb
