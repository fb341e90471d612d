// The inbound HTTP server: GET /healthz, GET /api/v1/plugins, GET /metrics,
// and /webhooks/... routed to trigger plugins. Errors are
// {"error":{"code":..,"message":..}}.
//
// Connections live on the host's event loops (see net/EventLoop.h), spread
// round robin; a webhook handler runs on its connection's loop thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config/Config.h"
#include "http/ServerConnection.h"

namespace sb {

class EventLoopGroup;
class Metrics;
class WebhookRoutes;

class HttpServer {
 public:
  using ApiHandler = std::function<void(ServerRequest&&, ServerConnection::Reply)>;
  struct Handlers {
    std::function<nlohmann::json()> plugins;  // body of GET /api/v1/plugins
    // More host endpoints by path, any method; a path ending in '/' also
    // takes every path below it.
    std::map<std::string, ApiHandler> api;
    // GET /healthz's body with 503 while the host is degraded; none: {"status":"ok"}.
    std::function<std::optional<nlohmann::json>()> degraded = {};
  };

  // Binds immediately (port 0 picks a free port); serves after start().
  // Throws std::runtime_error when the address cannot be bound.
  HttpServer(EventLoopGroup& loops, const std::string& host, uint16_t port, const HttpServerConfig& config,
             WebhookRoutes& routes, Metrics& metrics, Handlers handlers);
  ~HttpServer();  // stop()

  void start();
  // Stops accepting, lets requests in progress finish (for a bounded time),
  // then closes every connection. Not from a loop thread.
  void stop();
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sb
