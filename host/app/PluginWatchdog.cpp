#include "app/PluginWatchdog.h"

#include <algorithm>

#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "plugins/InvokeWatch.h"

namespace sb {

namespace {

nlohmann::json described(const invoke_watch::Call& call) {
  nlohmann::json out{
      {"plugin", call.plugin}, {"instance", call.instance}, {"call", call.entry}, {"seconds", call.running_ms / 1000}};
  if (!call.rule.empty()) out["rule"] = call.rule;
  if (!call.step.empty()) out["step"] = call.step;
  if (call.execution_id != 0) out["execution_id"] = call.execution_id;
  return out;
}

}  // namespace

PluginWatchdog::PluginWatchdog(Metrics& metrics, std::chrono::milliseconds blocked_after)
    : metrics_(metrics), blocked_after_(blocked_after), thread_([this] { watch(); }) {}

PluginWatchdog::~PluginWatchdog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::optional<nlohmann::json> PluginWatchdog::degraded() const {
  nlohmann::json blocked = nlohmann::json::array();
  for (const invoke_watch::Call& call : invoke_watch::longer_than(blocked_after_.count()))
    blocked.push_back(described(call));
  if (blocked.empty()) return std::nullopt;
  return nlohmann::json{{"status", "degraded"}, {"blocked_plugin_calls", std::move(blocked)}};
}

void PluginWatchdog::watch() {
  // Looked at twice per threshold, at most once a second.
  const auto every = std::clamp(blocked_after_ / 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, every, [this] { return stopping_; })) {
    std::set<std::string> still;
    for (invoke_watch::Call& call : invoke_watch::longer_than(blocked_after_.count())) {
      if (!reported_.count(call.identity)) {
        log_error("plugins", "a plugin's call has not returned: the steps behind it wait (a plugin must not block)",
                  described(call));
        metrics_.counter_add("switchboard_plugin_calls_blocked_total", {{"instance", call.instance}});
      }
      still.insert(std::move(call.identity));
    }
    reported_ = std::move(still);
  }
}

}  // namespace sb
