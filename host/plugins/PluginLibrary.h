// One loaded plugin library: the shared object, its checked descriptor, and
// its schemas compiled once.
//
// load() refuses, with a message naming the file and the exact defect, a
// missing file, a library without the entry symbol, an ABI of another major
// (or a newer minor) version, and a descriptor that is too small, incomplete
// or carries invalid names or schemas. Nothing else in the host reads the
// raw descriptor.
#pragma once

#include <switchboard/plugin.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/JsonSchema.h"

namespace boost::dll {
class shared_library;
}

namespace sb {

class PluginLoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CapabilityInfo {
  std::string name;
  std::string description;
  nlohmann::json schema_json;
  std::shared_ptr<const JsonSchema> schema;
  bool retry_safe = false;  // an action whose provider does the work once per idempotency key
};

// The plugin's functions, read once from the descriptor. Optional ones are
// null when the plugin's descriptor ends before them.
struct PluginEntryPoints {
  sb_on_instance_create create = nullptr;
  sb_on_instance_destroy destroy = nullptr;
  sb_on_action_invoke invoke = nullptr;
  sb_on_instance_start start = nullptr;
  sb_on_instance_stop stop = nullptr;
  sb_on_action_cancel cancel = nullptr;  // 1.1
};

class PluginLibrary {
 public:
  // Throws PluginLoadError.
  static std::shared_ptr<PluginLibrary> load(const std::filesystem::path& file);
  ~PluginLibrary();

  const std::filesystem::path& path() const { return path_; }
  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& vendor() const { return vendor_; }
  const std::string& description() const { return description_; }
  sb_version abi_version() const { return abi_version_; }
  const nlohmann::json& config_schema_json() const { return config_schema_json_; }
  const JsonSchema& config_schema() const { return *config_schema_; }
  const std::vector<CapabilityInfo>& actions() const { return actions_; }
  const std::vector<CapabilityInfo>& triggers() const { return triggers_; }
  const CapabilityInfo* find_action(const std::string& name) const;
  const PluginEntryPoints& entry() const { return entry_; }

  // {"name", "version", ..., "actions": [...], "triggers": [...]}; with
  // schemas when asked.
  nlohmann::json describe(bool with_schemas) const;

 private:
  PluginLibrary() = default;
  void read_descriptor(const sb_plugin_descriptor* d);

  // Declared first so that it is destroyed last: every other member may
  // point into the library's memory.
  std::unique_ptr<boost::dll::shared_library> library_;
  std::filesystem::path path_;
  std::string name_, version_, vendor_, description_;
  sb_version abi_version_{};
  nlohmann::json config_schema_json_;
  std::shared_ptr<const JsonSchema> config_schema_;
  std::vector<CapabilityInfo> actions_, triggers_;
  PluginEntryPoints entry_;
};

// The one compatibility rule: equal majors, host minor >= plugin minor.
// Returns an empty string when compatible, else why not.
std::string abi_incompatibility(sb_version plugin, sb_version host);

}  // namespace sb
