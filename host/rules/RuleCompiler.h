// Rules from their JSON (a rule of the config file, or an older version of it
// kept in the store) to what the executor runs (rules/CompiledRule.h). The one
// place that knows the rule syntax: triggers, filters, every step kind, step
// ids, templates checked against the variables an event offers, and action
// parameters checked against the action's schema.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "rules/CompiledRule.h"

namespace sb {

// What an action declares: its parameters' schema.
struct ActionSpec {
  nlohmann::json schema_json;
  std::shared_ptr<const JsonSchema> schema;
  bool retry_safe = false;  // its provider does the work once per idempotency key
};

// What a rule is compiled against, besides the rule itself.
struct RuleEnvironment {
  std::map<std::string, std::vector<std::string>> pipelines;  // statuses in order
  std::map<std::string, std::string> template_variables;      // the config's short names
  std::map<std::string, nlohmann::json> message_templates;    // a step's "template": {"channel", params...}
  std::set<std::string> instances;                            // the declared instances
  std::set<std::string> static_segments;                      // segments without a filter
  std::set<std::string> dynamic_segments;                     // segments with one
  std::string ad_channels_entity;                             // the config's ad_channels.entity ("" = none)
  // Parameters that name what the config declares are checked against it
  // (not for a stored older version: the config has moved on since).
  bool check_declared_names = true;
  // The config's account: an {{account.x}} it lacks is an error (with
  // check_declared_names).
  nlohmann::json account = nlohmann::json::object();
  // A key that another kind of step reads is an error in a config being
  // loaded; a stored version written before that check ran as it was.
  bool check_step_keys = true;
  // INSTANCE.ACTION's declaration. Null with `why` set: there is no such
  // action (why says what there is); null with `why` empty: unknown, the
  // instance itself is broken and reported elsewhere. Unset: actions are
  // not checked (the config's structure only).
  std::function<const ActionSpec*(const std::string& instance, const std::string& action, std::string& why)>
      find_action;
};

struct RuleIssue {
  std::string pointer;  // absolute, in the file the rule came from
  std::string message;  // starts with "rule '<name>'"
};

// What a version is compiled from: the rule and the parts of the config its
// meaning depends on. Stored with the version, compiled again from there.
nlohmann::json rule_source(const nlohmann::json& rule, const RuleEnvironment& environment);

// Compiles a rule found at `pointer` ("/rules/3"). Problems are appended to
// `issues`; the rule is still returned (what could be compiled of it).
CompiledRule compile_rule(const nlohmann::json& rule, const std::string& pointer, const RuleEnvironment& environment,
                          std::vector<RuleIssue>& issues);

// Compiles a stored version (rule_source's output) against today's
// environment (the instances and their actions as configured now).
CompiledRule compile_rule_version(const nlohmann::json& source, const RuleEnvironment& environment,
                                  std::vector<RuleIssue>& issues);

// A dynamic segment's filter (at `pointer`, "/segments/VIP/filter"): the
// rules' filter language over the contact, short names ("Город") read as
// rules read them; a field of no contact is an issue. `where` begins each
// message ("segment 'VIP': "). `as_read` gets the filter with the short
// names' paths (what it means, for the segment's definition).
std::unique_ptr<Condition> compile_segment_filter(const nlohmann::json& filter, const std::string& pointer,
                                                  const std::string& where, const RuleEnvironment& environment,
                                                  std::vector<RuleIssue>& issues, nlohmann::json& as_read);

}  // namespace sb
