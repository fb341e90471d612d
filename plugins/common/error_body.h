// The host's error answer, {"error": {"code", "message"}}, for the plugins'
// own routes (a provider's callback refused): the shape every answer of the
// host's API has (docs/configuration.md), whoever sent the request.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace switchboard_plugins {

inline std::string error_body(std::string_view code, std::string_view message) {
  return nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The code of a refusal by its HTTP status.
inline std::string_view error_code_of(int http_status) {
  switch (http_status) {
    case 401:
      return "invalid_signature";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 503:
      return "unavailable";
    default:
      return "bad_request";
  }
}

}  // namespace switchboard_plugins
