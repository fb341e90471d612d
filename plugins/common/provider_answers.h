// What every provider plugin reads the same way: a required credential in
// its config, and the answers that mean "try again" whoever sent them (no
// answer, HTTP 429, a 5xx, with the provider's Retry-After).
#pragma once

#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <switchboard/plugin.hpp>

namespace switchboard_plugins {

// The non-empty string at `key`; otherwise a ConfigError naming it and the
// provider the config chose with `selector` ("gateway", "provider").
inline std::string required_setting(const nlohmann::json& config, const char* key, const char* selector) {
  auto it = config.find(key);
  if (it == config.end() || !it->is_string() || it->get<std::string>().empty())
    throw switchboard::ConfigError(std::string("'") + key + "' is required for " + selector + " '" +
                                   config.value(selector, "") + "'");
  return it->get<std::string>();
}

inline uint32_t retry_after(const switchboard::HttpResponse& response) {
  uint32_t seconds = 0;
  if (auto h = response.header("retry-after")) std::from_chars(h->data(), h->data() + h->size(), seconds);
  return seconds;
}

inline std::optional<switchboard::ActionResult> transport_failure(const switchboard::HttpResponse& response,
                                                                  const std::string& provider) {
  using switchboard::ActionResult;
  if (response.status == 0)
    return ActionResult::retry(provider + " did not answer: " + std::string(response.transport_error));
  if (response.status == 429 || response.status >= 500)
    return ActionResult::retry(provider + " answered HTTP " + std::to_string(response.status), retry_after(response),
                               std::to_string(response.status));
  return std::nullopt;
}

}  // namespace switchboard_plugins
