// Requests on libcurl's multi interface, driven by one event loop. The
// client uses it instead of ConnectionPool when the environment names an
// outbound proxy (http_proxy, https_proxy, all_proxy and no_proxy, read by
// libcurl as curl(1) reads them).
#pragma once

#include "http/ClientDriver.h"

namespace sb {

// True when libcurl would send some request through a proxy.
bool proxy_in_environment();

std::unique_ptr<ClientDriver> make_curl_driver(EventLoop& loop, const HttpClientOptions& options);

}  // namespace sb
