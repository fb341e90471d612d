#include "app/ConfigCheck.h"

#include "pipeline/HostActions.h"
#include "rules/Template.h"
#include "util/JsonText.h"

namespace sb {

using nlohmann::json;

namespace {
// A violation whose value is (or holds) a placeholder is decided at run time.
bool templated(const json& params, const std::string& pointer) {
  try {
    const json& value = params.at(json::json_pointer(pointer));
    return value.is_string() && has_placeholder(value.get<std::string>());
  } catch (const json::exception&) {
    return false;
  }
}

// What a step is, as written; templates, conditions and schemas are added
// by the caller once checked.
CompiledStep copy_of(const StepConfig& step) {
  CompiledStep cs;
  cs.kind = step.kind;
  cs.name = step.name;
  cs.instance = step.instance;
  cs.action = step.action;
  if (step.timeout_ms) cs.timeout = std::chrono::milliseconds(*step.timeout_ms);
  cs.wait_ms = step.wait_ms;
  cs.wait_until = step.wait_until;
  cs.wait_offset_ms = step.wait_offset_ms;
  cs.window = step.window;
  cs.window_zone = step.window_zone;
  cs.wait_event = step.wait_event;
  cs.max_attempts = step.max_attempts;
  cs.backoff_ms = step.backoff_ms;
  cs.else_step = step.else_step;
  cs.switch_path = step.switch_path;
  cs.branches = step.branches;
  cs.weights = step.weights;
  cs.default_step = step.default_step;
  cs.jump_to = step.jump_to;
  cs.fallback_next = step.fallback_next;
  cs.fallback_end = step.fallback_end;
  return cs;
}

std::string action_list(const PluginLibrary& lib) {
  std::string out;
  for (const auto& a : lib.actions()) out += (out.empty() ? "" : ", ") + a.name;
  return out.empty() ? "none" : out;
}
}  // namespace

CheckedConfig check_against_plugins(const Config& config, PluginCatalog& catalog,
                                    const std::map<std::string, std::string>& secrets) {
  CheckedConfig out;
  const std::string file = config.file.string();

  // Unreadable secrets are reported by read_secrets; check the shape here.
  std::map<std::string, std::string> usable = secrets;
  for (const auto& [name, source] : config.secrets) usable.emplace(name, "[secret]");

  for (const auto& instance : config.instances) {
    const std::string pointer = "/instances/" + escape_pointer_token(instance.name);
    std::shared_ptr<PluginLibrary> lib;
    try {
      lib = catalog.get(instance.plugin);
    } catch (const PluginLoadError& e) {
      out.issues.push_back({file, pointer + "/plugin", e.what()});
      continue;
    }
    json resolved = resolve_secrets(instance.config, usable, file, pointer + "/config");
    for (const auto& v : lib->config_schema().validate(resolved))
      out.issues.push_back({file, pointer + "/config" + v.path,
                            "instance '" + instance.name + "' (plugin '" + lib->name() + "'): " + v.message});
    out.instance_plugins[instance.name] = lib;
    out.instance_configs[instance.name] = std::move(resolved);
  }

  for (const auto& rule : config.rules) {
    CompiledRule compiled;
    compiled.name = rule.name;
    compiled.priority = rule.priority;
    std::vector<ConditionProblem> ignored;  // reported by load_config
    compiled.trigger = Trigger::compile(rule.trigger, config.pipelines, ignored);
    compiled.filter = Condition::compile(rule.filter, ignored);
    // What an event offers a template: the events API's fields, a webhook's
    // payload, the event's own metadata, and what earlier steps reported.
    static const std::vector<std::string> kRoots = {"event", "id",      "type",  "time",  "entity", "contact", "data",
                                                    "body",  "headers", "query", "route", "steps",  "account"};
    std::map<std::string, std::string> variables = config.template_variables;
    variables.insert(default_template_variables().begin(), default_template_variables().end());
    std::vector<std::string> step_names;
    for (const auto& step : rule.steps)
      if (step.kind == StepConfig::Kind::kAction || step.kind == StepConfig::Kind::kWaitEvent)
        step_names.push_back(step.name);
    auto check_templates = [&](const json& value, const std::string& pointer, const std::string& where) {
      for (const auto& e : unknown_template_variables(value, kRoots, step_names))
        out.issues.push_back({file, pointer + e.substr(0, e.find(": ")), where + e.substr(e.find(": ") + 2)});
      for (const auto& e : template_syntax_errors(value))
        out.issues.push_back({file, pointer + e.substr(0, e.find(": ")), where + e.substr(e.find(": ") + 2)});
    };
    for (const auto& step : rule.steps) {
      const std::string where = "rule '" + rule.name + "', step '" + step.name + "': ";
      CompiledStep cs = copy_of(step);
      if (step.kind != StepConfig::Kind::kAction) {
        cs.wait_match = expand_template_variables(step.wait_match, variables, kRoots);
        if (step.kind == StepConfig::Kind::kWaitEvent) check_templates(cs.wait_match, step.pointer + "/match", where);
        if (step.kind == StepConfig::Kind::kIf) cs.condition = Condition::compile(step.condition, ignored);
        compiled.steps.push_back(std::move(cs));
        continue;
      }
      const json params = expand_template_variables(step.params, variables, kRoots);
      check_templates(params, step.pointer + "/params", where);
      const CapabilityInfo* action = nullptr;
      if (step.instance == kHostInstance) {
        action = find_host_action(step.action);
        if (!action) {
          out.issues.push_back(
              {file, step.pointer + "/action",
               where + "the host has no action '" + step.action + "'; it offers: " + host_action_names()});
          continue;
        }
      }
      auto lib = out.instance_plugins.find(step.instance);
      if (!action && lib == out.instance_plugins.end()) continue;  // the instance itself was reported
      if (!action) action = lib->second->find_action(step.action);
      if (!action) {
        out.issues.push_back({file, step.pointer + "/action",
                              where + "plugin '" + lib->second->name() + "' (instance '" + step.instance +
                                  "') has no action '" + step.action + "'; it offers: " + action_list(*lib->second)});
        continue;
      }
      for (const auto& v : action->schema->validate(params))
        if (!templated(params, v.path))
          out.issues.push_back({file, step.pointer + "/params" + v.path, where + v.message});
      cs.params = params;
      cs.schema = action->schema;
      cs.html_params = html_targets(action->schema_json);
      compiled.steps.push_back(std::move(cs));
    }
    out.rules.push_back(std::move(compiled));
  }
  return out;
}

}  // namespace sb
