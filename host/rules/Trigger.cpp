#include "rules/Trigger.h"

#include <algorithm>

namespace sb {

using nlohmann::json;

namespace {
std::optional<std::string> status_value(const json& v) {
  return v.is_string() ? std::optional<std::string>(v.get<std::string>()) : std::nullopt;
}
}  // namespace

std::optional<Trigger> Trigger::compile(const json& trigger, const Pipelines& pipelines,
                                        std::vector<ConditionProblem>& problems) {
  const size_t before = problems.size();
  Trigger t;
  t.event_ = trigger.value("event", "");
  t.source_ = trigger.value("source", "");
  t.entity_ = trigger.value("entity", "");
  const bool single = trigger.contains("status");
  // An event of one pipeline's entities ("deal.created" in "Продажи") is an
  // event trigger; a pipeline without an event, a range.
  const bool range = trigger.contains("from") || trigger.contains("to") ||
                     (!single && trigger.contains("pipeline") && t.event_.empty());
  if (single && range) problems.push_back({"", "either \"status\" or a \"pipeline\" range (from, to), not both"});
  if (trigger.contains("previous_status") && !single)
    problems.push_back({"/previous_status", "goes with \"status\": the transition into it from this status"});
  if (!single && !range) {
    if (t.event_.empty()) problems.push_back({"", "needs an \"event\" type, or an \"entity\" and a \"status\""});
    if (!t.entity_.empty()) problems.push_back({"/entity", "\"entity\" goes with \"status\" or a pipeline range"});
    if (trigger.contains("pipeline")) {
      if (!trigger["pipeline"].is_string() || trigger["pipeline"].get<std::string>().empty())
        problems.push_back({"/pipeline", "expected the pipeline's name"});
      else
        t.pipeline_ = trigger["pipeline"].get<std::string>();
      // A misspelt name would never match: checked when the config declares pipelines.
      if (!t.pipeline_.empty() && !pipelines.empty() && !pipelines.count(t.pipeline_))
        problems.push_back(
            {"/pipeline", "unknown pipeline '" + t.pipeline_ + "': declare its statuses under \"pipelines\""});
    }
    return problems.size() == before ? std::optional<Trigger>(t) : std::nullopt;
  }
  if (t.entity_.empty())
    problems.push_back({"", "a status trigger needs the \"entity\" type (lead, deal, booking...)"});
  if (single) {
    t.kind_ = Kind::kStatus;
    t.status_ = status_value(trigger["status"]);
    if (trigger.contains("previous_status")) t.previous_ = status_value(trigger["previous_status"]);
    // A task has statuses of its own, in no pipeline: another would never come.
    if (t.entity_ == "task")
      for (const char* key : {"status", "previous_status"})
        if (const auto status = trigger.contains(key) ? status_value(trigger[key]) : std::nullopt;
            status && std::find(kTaskStatuses.begin(), kTaskStatuses.end(), *status) == kTaskStatuses.end())
          problems.push_back(
              {std::string("/") + key, "a task has no status '" + *status + "' (open, in_progress, done, cancelled)"});
    // One status of one pipeline (pipelines may share status names).
    if (trigger.contains("pipeline")) {
      t.pipeline_ = trigger.value("pipeline", "");
      const auto it = pipelines.find(t.pipeline_);
      if (it == pipelines.end()) {
        problems.push_back(
            {"/pipeline", "unknown pipeline '" + t.pipeline_ + "': declare its statuses under \"pipelines\""});
      } else {
        for (const char* key : {"status", "previous_status"})
          if (const auto status = trigger.contains(key) ? status_value(trigger[key]) : std::nullopt;
              status && std::find(it->second.begin(), it->second.end(), *status) == it->second.end())
            problems.push_back(
                {std::string("/") + key, "pipeline '" + t.pipeline_ + "' has no status '" + *status + "'"});
      }
    }
  } else {
    t.kind_ = Kind::kRange;
    // A range is an order of statuses: the pipeline's, named or the only one.
    if (!trigger.contains("pipeline")) {
      if (pipelines.size() != 1) {
        std::string names;
        for (const auto& [name, statuses] : pipelines) names += (names.empty() ? "" : ", ") + name;
        problems.push_back({"", pipelines.empty() ? "a range needs the statuses of its pipeline: declare them under "
                                                    "\"pipelines\" and name it in \"pipeline\""
                                                  : "a range needs \"pipeline\", one of: " + names});
        return std::nullopt;
      }
      t.pipeline_ = pipelines.begin()->first;
    } else {
      t.pipeline_ = trigger.value("pipeline", "");
    }
    const std::string& pipeline = t.pipeline_;
    auto it = pipelines.find(pipeline);
    if (it == pipelines.end()) {
      problems.push_back(
          {"/pipeline", "unknown pipeline '" + pipeline + "': declare its statuses under \"pipelines\""});
      return std::nullopt;
    }
    // Position 0 is "no status"; the pipeline's statuses follow in order.
    auto position = [&](const char* key) -> std::optional<size_t> {
      if (!trigger.contains(key)) {
        problems.push_back({"", std::string("a range needs \"") + key + "\" (a status of the pipeline, or null)"});
        return std::nullopt;
      }
      const auto status = status_value(trigger[key]);
      if (!status) return 0;
      auto at = std::find(it->second.begin(), it->second.end(), *status);
      if (at == it->second.end()) {
        problems.push_back({std::string("/") + key, "pipeline '" + pipeline + "' has no status '" + *status + "'"});
        return std::nullopt;
      }
      return static_cast<size_t>(at - it->second.begin()) + 1;
    };
    const auto from = position("from");
    const auto to = position("to");
    if (from && to && *from > *to) problems.push_back({"/to", "\"to\" comes before \"from\" in the pipeline"});
    if (from && to && *from == *to) {
      // A range of one status is that status (the reference CRM's way to
      // bind a rule to one status): it fires on every entry, not once.
      t.kind_ = Kind::kStatus;
      t.status_ = *from == 0 ? std::nullopt : std::optional<std::string>(it->second[*from - 1]);
    } else if (from && to)
      for (size_t i = *from; i <= *to; ++i)
        t.range_.insert(i == 0 ? std::nullopt : std::optional<std::string>(it->second[i - 1]));
  }
  return problems.size() == before ? std::optional<Trigger>(t) : std::nullopt;
}

bool Trigger::in_pipeline(const json& context) const {
  if (pipeline_.empty()) return true;
  const json* pipeline = lookup_path(context, "entity.pipeline");
  return !pipeline || !pipeline->is_string() || pipeline->get_ref<const std::string&>() == pipeline_;
}

Trigger::Fire Trigger::fires(const std::string& event_type, const std::string& source,
                             const std::optional<StatusChange>& change) const {
  if (!event_.empty() && event_type != event_) return Fire::kNo;
  if (!source_.empty() && source != source_) return Fire::kNo;
  // A rule's time trigger produces events for that rule alone.
  if (source_.empty() && source.rfind("time:", 0) == 0) return Fire::kNo;
  switch (kind_) {
    case Kind::kEvent:
      // "Moved to another stage": a CRM's <type>.status_changed that left
      // its entity where the host knew it to be (a repeat with a new id)
      // moved nothing.
      return change && !change->enters_status() && event_type == change->entity_type + ".status_changed" ? Fire::kNo
                                                                                                         : Fire::kYes;
    case Kind::kStatus:
      return change && change->entity_type == entity_ && change->enters_status() && change->current == status_ &&
                     (!previous_ || change->previous == *previous_)
                 ? Fire::kYes
                 : Fire::kNo;
    case Kind::kRange:
      return change && change->entity_type == entity_ && change->enters_status() && range_.count(change->current)
                 ? Fire::kIfFirstForEntity
                 : Fire::kNo;
  }
  return Fire::kNo;
}

}  // namespace sb
