// Asynchronous outbound HTTP(S) on libcurl's multi interface: one I/O thread
// drives every request, so thousands can be in flight without a thread each,
// and connections are reused across requests to the same host.
//
// Callbacks run on the I/O thread and must not block.
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
  long max_connections = 256;
  std::string ca_file;  // empty = system store
  size_t max_response_bytes = 16 << 20;
};

class HttpClient {
 public:
  using Callback = std::function<void(OutboundResponse&&)>;

  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();  // shutdown()
  // Fails requests still in flight with "client shut down" and refuses new
  // ones; safe to call more than once. The object stays usable (send()
  // returns false), so threads that still hold it are safe.
  void shutdown();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Thread-safe. `done` runs exactly once on the I/O thread (also for
  // transport errors), unless this returns false (client shutting down).
  bool send(OutboundRequest request, Callback done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sb
