// Watches for plugins blocked in a call that must return at once
// (on_action_invoke): such a call holds up every step queued behind it and
// cannot be stopped from outside, so the host says so — once in the log
// per call, in switchboard_plugin_calls_blocked_total{instance}, and in
// GET /healthz (503 "degraded", naming the calls) while it lasts.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace sb {

class Metrics;

class PluginWatchdog {
 public:
  // A call into a plugin longer than `blocked_after` is blocked.
  PluginWatchdog(Metrics& metrics, std::chrono::milliseconds blocked_after = std::chrono::seconds(10));
  ~PluginWatchdog();  // stops the thread
  PluginWatchdog(const PluginWatchdog&) = delete;
  PluginWatchdog& operator=(const PluginWatchdog&) = delete;

  // The body /healthz answers 503 with while a call is blocked; none when none is.
  std::optional<nlohmann::json> degraded() const;

 private:
  void watch();

  Metrics& metrics_;
  const std::chrono::milliseconds blocked_after_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::set<std::string> reported_;  // the blocked calls logged (Call::identity)
  std::thread thread_;
};

}  // namespace sb
