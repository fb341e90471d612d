// The checks that need the plugins: each instance's config against its
// plugin's schema, each step's action against what its plugin declares, each
// step's parameters against the action's schema, and template syntax.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/Config.h"
#include "plugins/PluginInstance.h"
#include "rules/RuleCompiler.h"

namespace sb {

struct CheckedConfig {
  std::map<std::string, std::shared_ptr<PluginLibrary>> instance_plugins;  // by instance name
  std::map<std::string, nlohmann::json> instance_configs;                  // resolved secrets, by instance name
  std::vector<CompiledRule> rules;
  std::vector<DynamicSegment> segments;  // the dynamic ones
  RuleEnvironment environment;           // what they were compiled against (older versions are compiled against it too)
  std::vector<ConfigIssue> issues;       // empty when everything is valid
  // What is wrong with a disabled rule: it does not stop the host, but
  // enabling the rule would.
  std::vector<ConfigIssue> warnings;
};

// The config's parts that rules are compiled against (actions unchecked).
RuleEnvironment rule_environment(const Config& config);

// `secrets` holds what could be read; a reference to a secret that could not
// be read is checked as a string placeholder (read_secrets reports it).
CheckedConfig check_against_plugins(const Config& config, PluginCatalog& catalog,
                                    const std::map<std::string, std::string>& secrets);

// The host services granted to an instance beyond the common ones: what
// its config says, else the records ("crm") for the bundled record plugins,
// known by the loaded plugin's own name and its file's ("crm", or
// .../crm.so), so that another library calling itself "crm" gets nothing
// unasked.
std::set<std::string> granted_services(const InstanceConfig& instance, const PluginLibrary& library);

// Creates every instance as the host would, with services that send, keep
// and emit nothing, and destroys it again: what only its plugin can tell (a
// webhook path another instance took, a key of the wrong shape) is found
// before the host runs. One issue for each instance that refuses.
std::vector<ConfigIssue> try_creating_instances(const Config& config, const CheckedConfig& checked,
                                                const std::map<std::string, std::string>& secrets);

}  // namespace sb
