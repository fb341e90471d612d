// The checks that need the plugins: each instance's config against its
// plugin's schema, each step's action against what its plugin declares, each
// step's parameters against the action's schema, and template syntax.
#pragma once

#include <map>
#include <memory>
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

}  // namespace sb
