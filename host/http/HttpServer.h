// The inbound HTTP server (Poco Net): GET /healthz, GET /api/v1/plugins,
// GET /metrics, and /webhooks/... routed to trigger plugins. Errors are
// {"error":{"code":..,"message":..}}.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "config/Config.h"

namespace Poco {
class ThreadPool;
namespace Net {
class HTTPServer;
}
}  // namespace Poco

namespace sb {

class Metrics;
class WebhookRoutes;

class HttpServer {
 public:
  struct Handlers {
    std::function<nlohmann::json()> plugins;  // body of GET /api/v1/plugins
  };

  // Binds immediately (port 0 picks a free port); serves after start().
  // Throws std::runtime_error when the address cannot be bound.
  HttpServer(const std::string& host, uint16_t port, const HttpServerConfig& config, WebhookRoutes& routes,
             Metrics& metrics, Handlers handlers);
  ~HttpServer();

  void start();
  // Stops accepting and waits (bounded) for requests in progress.
  void stop();
  uint16_t port() const { return port_; }

 private:
  std::unique_ptr<Poco::ThreadPool> pool_;  // declared first: outlives the server
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  uint16_t port_ = 0;
};

}  // namespace sb
