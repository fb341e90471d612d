// How an HTTP answer ends the step: the one place that decides what is
// transient (retry) and what will never succeed (permanent).
#pragma once

#include <cstdint>
#include <string_view>

namespace switchboard {
struct ActionResult;
struct HttpResponse;
}  // namespace switchboard

namespace http_plugin {

// 2xx: done, external_id = X-Request-Id, output {"status": N, "body": <JSON or text>}.
// 408, 425, 429, 5xx and no response at all: retry, honouring Retry-After (seconds or an HTTP-date).
// Anything else: permanent, reason "HTTP <status>: <start of the body>".
switchboard::ActionResult map_response(const switchboard::HttpResponse& response);

}  // namespace http_plugin
