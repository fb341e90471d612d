// What every provider plugin reads the same way: a required credential in
// its config, and the answers that mean "try again" whoever sent them (no
// answer, HTTP 429, a 5xx, with the provider's Retry-After).
#pragma once

#include <time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
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

// A Retry-After value (RFC 9110): delay seconds, or an HTTP-date ("Wed, 21
// Oct 2026 07:28:00 GMT", or an obsolete form) counted from `now_s`. 0 when it is
// neither, or already past; a delay too long for 32 bits is the longest.
inline uint32_t retry_after_seconds(std::string_view value, int64_t now_s) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return 0;
  int64_t seconds = 0;
  if (value.find_first_not_of("0123456789") == value.npos) {
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (error == std::errc::result_out_of_range) return std::numeric_limits<uint32_t>::max();
    if (error != std::errc() || end != value.data() + value.size()) return 0;
  } else {
    // IMF-fixdate, and the two obsolete forms a recipient must take too
    // (RFC 850's, asctime's).
    const std::string text(value);
    std::tm date{};
    const auto parsed = [&](const char* format) {
      date = std::tm{};
      const char* end = strptime(text.c_str(), format, &date);
      return end && *end == '\0';
    };
    if (!parsed("%a, %d %b %Y %H:%M:%S GMT") && !parsed("%A, %d-%b-%y %H:%M:%S GMT") && !parsed("%a %b %e %H:%M:%S %Y"))
      return 0;
    seconds = static_cast<int64_t>(timegm(&date)) - now_s;
  }
  return seconds <= 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(seconds, std::numeric_limits<uint32_t>::max()));
}

// The response's Retry-After, from now.
inline uint32_t retry_after(const switchboard::HttpResponse& response) {
  const auto header = response.header("retry-after");
  if (!header) return 0;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return retry_after_seconds(*header, std::chrono::duration_cast<std::chrono::seconds>(now).count());
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
