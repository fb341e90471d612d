// One configured instance of a plugin ("sink" of plugin "http"): creates it
// through the ABI, invokes its actions, and destroys it — every call guarded
// so that a plugin's error, exception or nonsense answer fails that call only.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "plugins/HostServices.h"
#include "plugins/PendingCalls.h"
#include "plugins/PluginLibrary.h"

namespace sb {

class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ActionRequest {
  std::string action;
  nlohmann::json params;
  std::string idempotency_key;
  uint32_t attempt = 1;
  std::chrono::milliseconds timeout{30000};
  CallSubject subject = {};  // what the call is about (switchboard.crm/1 changes)
};

class PluginInstance {
 public:
  // `config` is resolved (secrets substituted) and valid against the plugin's
  // schema. Throws PluginError with the plugin's reason.
  PluginInstance(std::shared_ptr<PluginLibrary> library, std::string name, HostDependencies& deps,
                 const nlohmann::json& config);
  ~PluginInstance();  // destroys the plugin's instance, then drops its routes
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const std::string& name() const { return host_->instance; }
  const PluginLibrary& library() const { return *library_; }

  void start();  // throws PluginError
  void stop() noexcept;

  // `done` runs exactly once: with the plugin's outcome, or a failure when the
  // plugin refuses, throws, or does not complete before the timeout.
  void invoke(const ActionRequest& request, PendingCalls::Callback done);

 private:
  std::shared_ptr<PluginLibrary> library_;  // outlives instance_
  std::unique_ptr<InstanceHost> host_;
  sb_instance* instance_ = nullptr;
};

// Finds and loads plugin libraries: "http" is <dir>/http.so in the first
// plugin dir that has it; a name containing '/' is a path. Each file is loaded
// once.
class PluginCatalog {
 public:
  explicit PluginCatalog(std::vector<std::filesystem::path> dirs);
  // Throws PluginLoadError.
  std::shared_ptr<PluginLibrary> get(const std::string& name_or_path);
  // Every *.so in the plugin dirs, loaded, or the reason it would not load.
  struct Entry {
    std::filesystem::path file;
    std::shared_ptr<PluginLibrary> library;
    std::string error;
  };
  std::vector<Entry> scan();
  const std::vector<std::filesystem::path>& dirs() const { return dirs_; }

 private:
  std::filesystem::path locate(const std::string& name_or_path) const;
  std::vector<std::filesystem::path> dirs_;
  std::map<std::filesystem::path, std::shared_ptr<PluginLibrary>> loaded_;
};

}  // namespace sb
