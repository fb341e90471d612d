#include "response_mapping.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <switchboard/plugin.hpp>

#include "json_check.h"
#include "provider_answers.h"

namespace http_plugin {

namespace {

using nlohmann::json;
using switchboard::ActionResult;

constexpr size_t kReasonBodyBytes = 200;

// Deeper JSON is kept as text: nlohmann::json serialises recursively and the
// output is serialised on an I/O thread. The host takes 64 levels, and the
// body is one level inside the output ({"status", "body"}).
constexpr int kMaxDepth = 63;

bool is_transient(int status) { return status == 408 || status == 425 || status == 429 || status >= 500; }

// The first `max` bytes, shortened to end on a whole UTF-8 character.
std::string_view prefix(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// The body as JSON text: itself when it is JSON, else a JSON string of it.
// Checked, not parsed: the host parses the output once anyway.
std::string body_json(std::string_view body) {
  if (switchboard_plugins::check_json(body, kMaxDepth).valid) return std::string(body);
  return json(std::string(body)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string reason_for(const switchboard::HttpResponse& response) {
  std::string reason = "HTTP " + std::to_string(response.status);
  if (!response.body.empty()) reason.append(": ").append(prefix(response.body, kReasonBodyBytes));
  return reason;
}

}  // namespace

ActionResult map_response(const switchboard::HttpResponse& response) {
  const int status = response.status;
  if (status == 0) {
    const std::string_view error = response.transport_error;
    return ActionResult::retry(error.empty() ? std::string("no response") : std::string(error));
  }
  if (status >= 200 && status <= 299) {
    std::string output = R"({"body":)" + body_json(response.body) + R"(,"status":)" + std::to_string(status) + "}";
    return ActionResult::done(std::string(response.header("X-Request-Id").value_or("")), std::move(output));
  }
  if (is_transient(status))
    return ActionResult::retry(reason_for(response), switchboard_plugins::retry_after(response),
                               std::to_string(status));
  return ActionResult::permanent(reason_for(response), std::to_string(status));
}

}  // namespace http_plugin
