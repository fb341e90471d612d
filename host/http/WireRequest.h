// An OutboundRequest as the bytes of an HTTP/1.1 request, and the origin
// (scheme, host, port) whose connections may carry it. libcurl's URL parser
// reads the URL.
#pragma once

#include <cstdint>
#include <string>

#include "http/HttpClient.h"

namespace sb {

struct Origin {
  bool tls = false;
  std::string host;  // as it resolves: an IPv6 address without brackets
  uint16_t port = 0;
  std::string key() const { return (tls ? "https://" : "http://") + host + ":" + std::to_string(port); }
};

struct WireRequest {
  Origin origin;
  std::string bytes;
  bool head = false;  // its answer has no body
  std::string error;  // why the request cannot be sent; the rest is empty
};

// Adds Host, "Accept: */*" and, for a method with a body, Content-Length and
// (when the caller gave none) libcurl's default Content-Type, so that a
// provider sees the request it saw before. A header with an empty value is
// not sent (as libcurl does); a line break in a header is refused.
WireRequest to_wire(const OutboundRequest& request);

}  // namespace sb
