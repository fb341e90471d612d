#include "app/ConfigCheck.h"

#include <algorithm>
#include <filesystem>

#include "events/EventParser.h"
#include "executor/HostActions.h"
#include "http/WebhookRoutes.h"
#include "metrics/Metrics.h"
#include "rules/Template.h"
#include "util/JsonText.h"
#include "util/Text.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {
std::string action_list(const PluginLibrary& lib) {
  std::string out;
  for (const auto& a : lib.actions()) out += (out.empty() ? "" : ", ") + a.name;
  return out.empty() ? "none" : out;
}
}  // namespace

RuleEnvironment rule_environment(const Config& config) {
  RuleEnvironment environment;
  environment.pipelines = config.pipelines;
  environment.template_variables = config.template_variables;
  environment.account = config.account;
  environment.message_templates = config.message_templates;
  environment.ad_channels_entity = config.ad_channels.entity;
  for (const auto& instance : config.instances) environment.instances.insert(instance.name);
  for (const auto& [name, segment] : config.segments)
    (segment.dynamic() ? environment.dynamic_segments : environment.static_segments).insert(name);
  return environment;
}

namespace {
// Calls `marked` for each string of `value` whose property in `schema`
// carries `mark` (true), with its JSON Pointer below `at`.
template <class Marked>
void for_each_marked(json& value, const json& schema, const char* mark, const std::string& at, Marked&& marked) {
  if (!value.is_object() || !schema.is_object()) return;
  const auto properties = schema.find("properties");
  if (properties == schema.end() || !properties->is_object()) return;
  for (auto& [key, item] : value.items()) {
    const auto property = properties->find(key);
    if (property == properties->end()) continue;
    const std::string pointer = at + "/" + escape_pointer_token(key);
    const auto flag = property->is_object() ? property->find(mark) : property->end();
    if (flag != property->end() && *flag == true && item.is_string())
      marked(item, pointer);
    else
      for_each_marked(item, *property, mark, pointer, marked);
  }
}

// A plugin's path settings ("x-switchboard-path": true in its schema), when
// relative, are relative to the config file, as the host's own are: not to
// wherever the host was started (a systemd unit's working directory).
void resolve_paths(json& value, const json& schema, const std::filesystem::path& base) {
  for_each_marked(value, schema, "x-switchboard-path", "", [&](json& item, const std::string&) {
    if (const std::filesystem::path path = item.get<std::string>(); !path.empty() && path.is_relative())
      item = (base / path).lexically_normal().string();
  });
}

// A plugin that reads numbers written without a country code in its
// "default_country" reads them in the account's country unless its instance
// says otherwise: "8 999 ..." is the same number to the contact store and to
// the SMS that goes to it.
void default_country_from_account(json& instance_config, const PluginLibrary& library, const json& account) {
  const auto country = account.find("country");
  if (country == account.end() || !country->is_string() || !instance_config.is_object() ||
      instance_config.contains("default_country"))
    return;
  const json& schema = library.config_schema_json();
  const auto properties = schema.find("properties");
  if (properties == schema.end() || !properties->is_object() || !properties->contains("default_country")) return;
  instance_config["default_country"] = *country;
  // A plugin that means something else by the name (another form) keeps its own default.
  if (!library.config_schema().validate(instance_config).empty()) instance_config.erase("default_country");
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
    resolve_paths(resolved, lib->config_schema_json(), config.file.parent_path());
    default_country_from_account(resolved, *lib, config.account);
    // A plugin's zone settings ("x-switchboard-timezone": true): a misspelt
    // one is the config's error, not every step's at run time. Read as
    // written (a secret's value is never repeated); empty is the default.
    json written = instance.config;
    for_each_marked(written, lib->config_schema_json(), "x-switchboard-timezone", pointer + "/config",
                    [&](json& item, const std::string& at) {
                      const std::string& zone = item.get_ref<const std::string&>();
                      if (!zone.empty() && !is_time_zone(zone))
                        out.issues.push_back({file, at,
                                              "instance '" + instance.name + "': '" + zone +
                                                  "' is not an IANA time zone (such as \"Europe/Moscow\")"});
                    });
    out.instance_plugins[instance.name] = lib;
    out.instance_configs[instance.name] = std::move(resolved);
  }

  out.environment = rule_environment(config);
  // Actions are looked up in the instances' plugins (and the host's own).
  std::map<std::string, ActionSpec> specs;
  for (const auto& [instance, lib] : out.instance_plugins)
    for (const auto& a : lib->actions())
      specs[instance + "." + a.name] = ActionSpec{a.schema_json, a.schema, a.retry_safe};
  // The host's actions are: the event they produce is stored once by its id, the step's key.
  for (const CapabilityInfo* a : all_host_actions())
    specs[std::string(kHostInstance) + "." + a->name] = ActionSpec{a->schema_json, a->schema, true};
  out.environment.find_action = [specs, plugins = out.instance_plugins](const std::string& instance,
                                                                        const std::string& action,
                                                                        std::string& why) -> const ActionSpec* {
    if (auto it = specs.find(instance + "." + action); it != specs.end()) return &it->second;
    if (instance == kHostInstance) {
      why = "the host has no action '" + action + "'; it offers: " + host_action_names();
      return nullptr;
    }
    auto lib = plugins.find(instance);
    if (lib == plugins.end()) return nullptr;  // the instance itself was reported
    why = "plugin '" + lib->second->name() + "' (instance '" + instance + "') has no action '" + action +
          "'; it offers: " + action_list(*lib->second);
    return nullptr;
  };
  for (const auto& rule : config.rules) {
    std::vector<RuleIssue> issues;
    out.rules.push_back(compile_rule(rule.body, rule.pointer, out.environment, issues));
    for (auto& i : issues) out.issues.push_back({file, std::move(i.pointer), std::move(i.message)});
  }
  // A goal event is worth one thing: the host keeps one value with it.
  std::map<std::string, std::pair<std::string, std::string>> goal_values;  // type -> path, the rule that reads it
  for (size_t r = 0; r < out.rules.size(); ++r) {
    const auto& goal = out.rules[r].goal;
    if (!goal || goal->value.empty()) continue;
    for (const std::string& type : goal->events) {
      const auto [it, first] = goal_values.try_emplace(type, goal->value, out.rules[r].name);
      if (!first && it->second.first != goal->value)
        out.issues.push_back({file, config.rules[r].pointer + "/goal/value",
                              "rule '" + out.rules[r].name + "': rule '" + it->second.second + "' reads what " + type +
                                  " was worth at " + it->second.first + ", this one at " + goal->value +
                                  ": a goal event has one value, read by every rule the same way"});
    }
  }
  // A messages report counts rules that send messages.
  for (size_t r = 0; r < out.rules.size(); ++r) {
    const auto& trigger = out.rules[r].time_trigger;
    if (!trigger || trigger->report != "messages") continue;
    for (size_t i = 0; i < trigger->rules.size(); ++i) {
      const std::string& named = trigger->rules[i];
      const auto counted =
          std::find_if(out.rules.begin(), out.rules.end(), [&](const CompiledRule& c) { return c.name == named; });
      const bool sends =
          counted != out.rules.end() && std::any_of(counted->steps.begin(), counted->steps.end(),
                                                    [](const CompiledStep& s) { return !s.channel.empty(); });
      const std::string at = config.rules[r].pointer + "/trigger/rules/" + std::to_string(i);
      const std::string where = "rule '" + out.rules[r].name + "': ";
      // A rule switched off for now: what it sent before is still counted.
      const bool disabled = std::any_of(config.disabled_rules.begin(), config.disabled_rules.end(),
                                        [&](const RuleSource& d) { return d.body.value("name", "") == named; });
      if (counted == out.rules.end() && config.refused_rule_names.count(named)) continue;  // reported already
      if (counted == out.rules.end() && disabled)
        out.warnings.push_back({file, at, where + "rule '" + named + "' is disabled: it sends nothing new to count"});
      else if (!sends)
        out.issues.push_back({file, at,
                              where + (counted == out.rules.end() ? "no rule is named '" + named + "'"
                                                                  : "rule '" + named + "' sends no messages")});
    }
  }
  // Every event that can arrive has a dotted type (the events API's, a
  // webhook's, a plugin's, the host's own: every one is checked against
  // the events' schema): a rule on another would never run.
  for (size_t r = 0; r < out.rules.size(); ++r) {
    const auto& trigger = out.rules[r].trigger;
    if (trigger && !trigger->event().empty() && !is_event_type(trigger->event()))
      out.issues.push_back({file, config.rules[r].pointer + "/trigger/event",
                            "rule '" + out.rules[r].name + "': no event of type '" + trigger->event() +
                                "' can arrive: event types are dotted lower case (lead.created, order.paid)"});
  }
  // A status trigger that names no pipeline: a status in none of the
  // declared ones is likely misspelt ("Оплочено"). Said, not refused: an
  // entity's pipeline may not be declared at all.
  if (!config.pipelines.empty())
    for (size_t r = 0; r < config.rules.size() && r < out.rules.size(); ++r) {
      const json& trigger = config.rules[r].body.value("trigger", json::object());
      // Tasks have statuses of their own (open, in_progress, done, cancelled), in no pipeline.
      if (!trigger.is_object() || trigger.contains("pipeline") || trigger.value("entity", "") == "task") continue;
      for (const char* key : {"status", "previous_status"}) {
        if (!trigger.contains(key) || !trigger[key].is_string()) continue;
        const std::string status = trigger[key];
        std::string closest, all;
        size_t distance = 3;  // at most two edits away
        bool declared = false;
        for (const auto& [pipeline, statuses] : config.pipelines)
          for (const std::string& s : statuses) {
            declared = declared || s == status;
            all += (all.empty() ? "" : ", ") + s;
            if (const size_t d = edit_distance(status, s); d < distance) distance = d, closest = s;
          }
        if (!declared)
          out.warnings.push_back({file, config.rules[r].pointer + "/trigger/" + key,
                                  "rule '" + out.rules[r].name + "': no declared pipeline has the status '" + status +
                                      "'" + (closest.empty() ? "" : " (did you mean '" + closest + "'?)") +
                                      "; the pipelines' statuses: " + all});
      }
    }
  // A rule the schema refused (reported): the problems of the rest of it too, in the same run.
  for (const auto& rule : config.refused_rules) {
    std::vector<RuleIssue> issues;
    (void)compile_rule(rule.body, rule.pointer, out.environment, issues);
    for (auto& i : issues) out.issues.push_back({file, std::move(i.pointer), std::move(i.message)});
  }
  for (const auto& rule : config.disabled_rules) {
    std::vector<RuleIssue> issues;
    (void)compile_rule(rule.body, rule.pointer, out.environment, issues);
    for (auto& i : issues)
      out.warnings.push_back({file, std::move(i.pointer), "(a disabled rule) " + std::move(i.message)});
  }
  for (const auto& [name, segment] : config.segments) {
    const std::string at = "/segments/" + escape_pointer_token(name);
    if (!segment.dynamic()) {
      if (!segment.refresh.empty())
        out.issues.push_back({file, at + "/refresh",
                              "segment '" + name +
                                  "' has no filter: only a dynamic one is checked again on a schedule (its "
                                  "members are the ones put in it)"});
      continue;
    }
    std::vector<RuleIssue> issues;
    json as_read;
    auto condition = compile_segment_filter(segment.filter, at + "/filter", "segment '" + name + "': ", out.environment,
                                            issues, as_read);
    // Defined by what the filter means: one whose short names came to mean
    // fields ("Город") is refreshed at once.
    DynamicSegment dynamic{name, std::move(condition), std::nullopt, dump_text(as_read) + "\n" + segment.refresh};
    for (auto& i : issues) out.issues.push_back({file, std::move(i.pointer), std::move(i.message)});
    if (!segment.refresh.empty()) {
      std::string why;
      dynamic.refresh = Schedule::parse(segment.refresh, why);
      if (!dynamic.refresh) out.issues.push_back({file, at + "/refresh", "segment '" + name + "': " + why});
    }
    if (dynamic.condition) out.segments.push_back(std::move(dynamic));
  }
  return out;
}

std::set<std::string> granted_services(const InstanceConfig& instance, const PluginLibrary& library) {
  const std::string& plugin = library.name();
  const bool records = (plugin == "crm" || plugin == "tasks" || plugin == "segments") &&
                       std::filesystem::path(instance.plugin).stem() == plugin;
  const std::vector<std::string> grants =
      instance.grants.value_or(records ? std::vector<std::string>{"crm"} : std::vector<std::string>{});
  return {grants.begin(), grants.end()};
}

std::vector<ConfigIssue> try_creating_instances(const Config& config, const CheckedConfig& checked,
                                                const std::map<std::string, std::string>& secrets) {
  Metrics metrics;
  WebhookRoutes routes;
  HostDependencies deps;  // no HTTP client, store, outbox or records: the plugins are only created
  deps.metrics = &metrics;
  deps.routes = &routes;
  deps.secrets = secrets;
  for (const auto& instance : config.instances) {
    deps.instance_secrets[instance.name] = secret_names(instance.config);
    deps.instance_grants[instance.name] = granted_services(instance, *checked.instance_plugins.at(instance.name));
  }
  std::vector<ConfigIssue> issues;
  // Kept until every one is made: a second instance on a taken path is refused as at run time.
  std::vector<std::unique_ptr<PluginInstance>> created;
  for (const auto& instance : config.instances) {
    try {
      created.push_back(std::make_unique<PluginInstance>(checked.instance_plugins.at(instance.name), instance.name,
                                                         deps, checked.instance_configs.at(instance.name)));
    } catch (const PluginError& e) {
      issues.push_back(
          {config.file.string(), "/instances/" + escape_pointer_token(instance.name) + "/config", e.what()});
    }
  }
  return issues;
}

}  // namespace sb
