#include "http/HttpServer.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/String.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include <istream>

#include "http/WebhookRoutes.h"
#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "util/JsonText.h"

namespace sb {

using nlohmann::json;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

namespace {

void send(HTTPServerResponse& response, int status, const std::string& content_type, const std::string& body) {
  response.setStatus(static_cast<HTTPResponse::HTTPStatus>(status));
  response.setContentType(content_type.empty() ? "application/octet-stream" : content_type);
  response.setContentLength(static_cast<std::streamsize>(body.size()));
  response.send().write(body.data(), static_cast<std::streamsize>(body.size()));
}

void send_error(HTTPServerResponse& response, int status, const std::string& code, const std::string& message) {
  send(response, status, "application/json", dump_text(json{{"error", {{"code", code}, {"message", message}}}}));
}

// Reads at most `limit` bytes; false when the body is larger.
bool read_body(HTTPServerRequest& request, size_t limit, std::string& body) {
  if (request.hasContentLength() && request.getContentLength64() > static_cast<Poco::Int64>(limit)) return false;
  std::istream& in = request.stream();
  char buffer[16384];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    body.append(buffer, static_cast<size_t>(in.gcount()));
    if (body.size() > limit) return false;
  }
  return true;
}

// Before refusing a body, read (a bounded amount of) what the client is still
// sending: closing a socket with unread data resets the connection, and the
// client would see "connection reset" instead of our 413.
void refuse_too_large(HTTPServerRequest& request, HTTPServerResponse& response, size_t limit) {
  constexpr std::streamsize kMaxDrain = 4 << 20;
  request.stream().ignore(kMaxDrain);
  response.setKeepAlive(false);
  send_error(response, 413, "payload_too_large", "request body exceeds " + std::to_string(limit) + " bytes");
}

class JsonHandler : public Poco::Net::HTTPRequestHandler {
 public:
  JsonHandler(int status, std::function<std::string()> body, std::string content_type = "application/json")
      : status_(status), body_(std::move(body)), content_type_(std::move(content_type)) {}
  void handleRequest(HTTPServerRequest&, HTTPServerResponse& response) override {
    send(response, status_, content_type_, body_());
  }

 private:
  int status_;
  std::function<std::string()> body_;
  std::string content_type_;
};

class ErrorHandler : public Poco::Net::HTTPRequestHandler {
 public:
  ErrorHandler(int status, std::string code, std::string message)
      : status_(status), code_(std::move(code)), message_(std::move(message)) {}
  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    // The body is not read: close the connection, or its bytes would be
    // parsed as the next request on it.
    if (request.hasContentLength() ? request.getContentLength64() > 0 : request.getChunkedTransferEncoding())
      response.setKeepAlive(false);
    send_error(response, status_, code_, message_);
  }

 private:
  int status_;
  std::string code_, message_;
};

// Framing headers belong to the server, whatever a plugin asks for.
bool host_controlled(const std::string& name) {
  for (const char* h : {"content-length", "content-type", "transfer-encoding", "connection"})
    if (Poco::icompare(name, h) == 0) return true;
  return false;
}

class WebhookHandler : public Poco::Net::HTTPRequestHandler {
 public:
  WebhookHandler(WebhookRoute route, std::string path, std::string query, WebhookRoutes& routes,
                 const HttpServerConfig& config)
      : route_(std::move(route)), path_(std::move(path)), query_(std::move(query)), routes_(routes), config_(config) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    std::string body;
    if (!read_body(request, config_.max_body_bytes, body))
      return refuse_too_large(request, response, config_.max_body_bytes);

    std::vector<std::pair<std::string, std::string>> header_copies;
    for (const auto& [name, value] : request) header_copies.emplace_back(name, value);
    std::vector<sb_header> headers;
    headers.reserve(header_copies.size());
    for (const auto& [name, value] : header_copies) headers.push_back({view(name), view(value)});
    const std::string method = request.getMethod();
    const std::string remote = request.clientAddress().toString();
    sb_inbound_request in{sizeof(sb_inbound_request),
                          view(method),
                          view(path_),
                          view(query_),
                          headers.data(),
                          headers.size(),
                          view(body),
                          view(remote)};

    auto waiter = std::make_shared<WebhookRoutes::Waiter>();
    const uint64_t id = routes_.open(waiter, route_.owner_token);
    try {
      route_.handler(route_.user_data, &in, reinterpret_cast<sb_responder*>(static_cast<uintptr_t>(id)));
    } catch (...) {
      log_error("http", "webhook handler threw across the ABI", {{"instance", route_.owner}, {"path", path_}});
    }
    auto answer = waiter->wait(std::chrono::milliseconds(config_.response_timeout_ms));
    routes_.close(id);
    if (!answer)
      return send_error(response, 504, "timeout",
                        "the handler did not answer within " + std::to_string(config_.response_timeout_ms) + " ms");
    for (const auto& [name, value] : answer->headers)
      if (!host_controlled(name)) response.add(name, value);  // add: Set-Cookie may repeat
    send(response, answer->status, answer->content_type, answer->body);
  }

 private:
  static sb_str view(const std::string& s) { return sb_str{s.data(), s.size()}; }
  WebhookRoute route_;
  std::string path_, query_;
  WebhookRoutes& routes_;
  const HttpServerConfig& config_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(WebhookRoutes& routes, Metrics& metrics, HttpServer::Handlers handlers, HttpServerConfig config)
      : routes_(routes), metrics_(metrics), handlers_(std::move(handlers)), config_(config) {}

  Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest& request) override {
    const std::string& uri = request.getURI();
    const size_t q = uri.find('?');
    std::string path = uri.substr(0, q);
    std::string query = q == std::string::npos ? std::string() : uri.substr(q + 1);
    try {
      std::string decoded;
      Poco::URI::decode(path, decoded);
      path = std::move(decoded);
    } catch (const Poco::Exception&) {
      return new ErrorHandler(400, "bad_request", "malformed request path");
    }
    const std::string& method = request.getMethod();

    if (path.rfind("/webhooks/", 0) == 0) {
      metrics_.counter_add("switchboard_http_requests_total", {{"route", "webhooks"}});
      if (auto route = routes_.find(path))
        return new WebhookHandler(std::move(*route), std::move(path), std::move(query), routes_, config_);
      return new ErrorHandler(404, "not_found", "no webhook route " + path);
    }
    // A fixed set of label values: a scanner's random paths must not grow
    // the metrics without bound.
    const bool known = path == "/healthz" || path == "/api/v1/plugins" || path == "/metrics";
    metrics_.counter_add("switchboard_http_requests_total", {{"route", known ? path : "other"}});
    if (path == "/healthz" && method == "GET")
      return new JsonHandler(200, [] { return std::string(R"({"status":"ok"})"); });
    if (path == "/api/v1/plugins" && method == "GET")
      return new JsonHandler(200, [this] { return dump_text(json{{"plugins", handlers_.plugins()}}); });
    if (path == "/metrics" && method == "GET")
      return new JsonHandler(
          200, [this] { return metrics_.prometheus_text(); }, "text/plain; version=0.0.4");
    if (path == "/healthz" || path == "/api/v1/plugins" || path == "/metrics")
      return new ErrorHandler(405, "method_not_allowed", method + " is not allowed on " + path);
    return new ErrorHandler(404, "not_found", "no route " + path);
  }

 private:
  WebhookRoutes& routes_;
  Metrics& metrics_;
  HttpServer::Handlers handlers_;
  HttpServerConfig config_;
};

}  // namespace

HttpServer::HttpServer(const std::string& host, uint16_t port, const HttpServerConfig& config, WebhookRoutes& routes,
                       Metrics& metrics, Handlers handlers) {
  Poco::Net::ServerSocket socket;
  try {
    socket.bind(Poco::Net::SocketAddress(host, port), true);
    socket.listen(1024);
  } catch (const Poco::Exception& e) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " + e.displayText());
  }
  port_ = socket.address().port();
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(config.max_threads);
  params->setMaxQueued(config.max_queued);
  params->setKeepAlive(true);
  params->setKeepAliveTimeout(Poco::Timespan(config.keep_alive_timeout_s, 0));
  params->setMaxKeepAliveRequests(0);  // unlimited
  // Poco's default pool has 16 threads; a connection holds one for its whole
  // keep-alive life, so the pool is sized from the config.
  pool_ = std::make_unique<Poco::ThreadPool>(std::min(2, config.max_threads), config.max_threads);
  server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(routes, metrics, std::move(handlers), config), *pool_,
                                                    socket, params);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() { server_->start(); }

void HttpServer::stop() {
  if (!server_) return;
  server_->stopAll(true);
  pool_->joinAll();
}

}  // namespace sb
