// Asynchronous outbound HTTP(S) driven by the host's event loops: thousands
// of requests can be in flight without a thread each, and connections are
// reused across requests to the same host. The loops speak HTTP/1.1
// themselves (ConnectionPool); when the environment names an outbound proxy
// (http_proxy, https_proxy, all_proxy, no_proxy) libcurl carries every
// request instead (CurlDriver).
//
// A request sent from one of its loops' threads, or from a loop of the
// `senders` group (the HTTP server's), runs on that loop, so its callback
// comes back on the thread that sent it (the inbound request that caused it
// is answered without a thread hand-off). Requests from other threads (the
// pipeline's) run on its own loops in turn. Callbacks must not block.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sb {

struct OutboundRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{0};  // 0 = the client's default
};

struct OutboundResponse {
  int status = 0;  // 0 when no HTTP response arrived
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string transport_error;  // why status is 0
};

struct HttpClientOptions {
  std::chrono::milliseconds default_timeout{10000};
  long max_connections = 256;  // per I/O thread
  std::string ca_file;         // empty = system store
  size_t max_response_bytes = 16 << 20;
};

class EventLoopGroup;

class HttpClient {
 public:
  using Callback = std::function<void(OutboundResponse&&)>;

  // On the given loops (and `senders`' for their own requests), which must
  // outlive shutdown().
  HttpClient(EventLoopGroup& loops, HttpClientOptions options = {}, EventLoopGroup* senders = nullptr);
  // On one I/O thread of its own.
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();  // shutdown()
  // Fails requests still in flight with "client shut down" and refuses new
  // ones; safe to call more than once. The object stays usable (send()
  // returns false), so threads that still hold it are safe.
  void shutdown();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Thread-safe. `done` runs exactly once on a loop thread (also for
  // transport errors), unless this returns false (client shutting down).
  bool send(OutboundRequest request, Callback done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sb
