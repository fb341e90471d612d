#include "http/HttpServer.h"

#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/String.h>
#include <Poco/URI.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <thread>
#include <unordered_map>

#include "http/ServerConnection.h"
#include "http/WebhookRoutes.h"
#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "net/EventLoop.h"
#include "util/JsonText.h"

namespace sb {

using nlohmann::json;
using Reply = ServerConnection::Reply;
using Abandon = ServerConnection::Abandon;

namespace {

constexpr std::chrono::milliseconds kMaxStopWait{10000};
constexpr std::chrono::milliseconds kAcceptBackoff{100};

ServerResponse ok_response(std::string body, std::string content_type = "application/json") {
  ServerResponse r;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

// Framing headers belong to the server, whatever a plugin asks for.
bool host_controlled(const std::string& name) {
  for (const char* h : {"content-length", "content-type", "transfer-encoding", "connection", "date"})
    if (Poco::icompare(name, h) == 0) return true;
  return false;
}

sb_str view(const std::string& s) { return sb_str{s.data(), s.size()}; }

// Runs `fn` on `loop` and waits for it; nothing when the loop has ended.
void run_on(EventLoop& loop, const std::function<void()>& fn) {
  if (loop.in_loop_thread()) return fn();
  std::promise<void> done;
  if (loop.post([&] {
        fn();
        done.set_value();
      }))
    done.get_future().wait();
}

}  // namespace

struct HttpServer::Impl {
  EventLoopGroup& loops;
  const HttpServerConfig config;
  WebhookRoutes& routes;
  Metrics& metrics;
  Handlers handlers;
  Poco::Net::ServerSocket listener;
  uint16_t port = 0;
  ServerConnection::Settings settings;
  ServerConnection::RequestHandler handler;
  // switchboard_http_requests_total by route: a fixed set of label values, so
  // that a scanner's random paths cannot grow the metrics without bound.
  Counter& webhook_requests;
  Counter& healthz_requests;
  Counter& plugins_requests;
  Counter& metrics_requests;
  Counter& other_requests;
  Counter& refused_connections;
  std::map<std::string, Counter*> api_requests;

  // Touched only on its loop's thread.
  struct LoopState {
    std::unordered_map<ServerConnection*, std::weak_ptr<ServerConnection>> connections;
    EventLoop::TimerId sweep = 0;
    bool stopping = false;
  };
  std::vector<LoopState> loop_states;
  std::atomic<size_t> open_connections{0};
  size_t next_loop = 0;                   // loop 0 only
  EventLoop::TimerId accept_backoff = 0;  // loop 0 only
  bool started = false;
  bool stopped = false;

  Impl(EventLoopGroup& group, const HttpServerConfig& c, WebhookRoutes& r, Metrics& m, Handlers h)
      : loops(group),
        config(c),
        routes(r),
        metrics(m),
        handlers(std::move(h)),
        webhook_requests(m.counter("switchboard_http_requests_total", {{"route", "webhooks"}})),
        healthz_requests(m.counter("switchboard_http_requests_total", {{"route", "/healthz"}})),
        plugins_requests(m.counter("switchboard_http_requests_total", {{"route", "/api/v1/plugins"}})),
        metrics_requests(m.counter("switchboard_http_requests_total", {{"route", "/metrics"}})),
        other_requests(m.counter("switchboard_http_requests_total", {{"route", "other"}})),
        refused_connections(m.counter("switchboard_http_connections_refused_total", {})),
        loop_states(group.size()) {
    for (const auto& [path, handler] : handlers.api)
      api_requests[path] = &m.counter("switchboard_http_requests_total", {{"route", path}});
    settings.max_body_bytes = config.max_body_bytes;
    settings.response_timeout = std::chrono::milliseconds(config.response_timeout_ms);
    handler = [this](ServerRequest&& request, Reply reply) { return route(std::move(request), std::move(reply)); };
  }

  // ---- routing -------------------------------------------------------------

  Abandon route(ServerRequest&& request, Reply reply) {
    const size_t q = request.target.find('?');
    std::string path;
    try {
      Poco::URI::decode(request.target.substr(0, q), path);
    } catch (const Poco::Exception&) {
      reply(error_response(400, "bad_request", "malformed request path"));
      return nullptr;
    }
    std::string query = q == std::string::npos ? std::string() : request.target.substr(q + 1);
    const std::string& method = request.method;

    if (path.rfind("/webhooks/", 0) == 0) {
      webhook_requests.add();
      if (auto found = routes.find(path)) return webhook(*found, path, query, request, std::move(reply));
      reply(error_response(404, "not_found", "no webhook route " + path));
      return nullptr;
    }
    if (auto api = find_api(path); api != handlers.api.end()) {
      api_requests[api->first]->add();
      api->second(std::move(request), std::move(reply));
      return nullptr;
    }
    Counter& requests = path == "/healthz"          ? healthz_requests
                        : path == "/api/v1/plugins" ? plugins_requests
                        : path == "/metrics"        ? metrics_requests
                                                    : other_requests;
    requests.add();
    if (&requests == &other_requests)
      reply(error_response(404, "not_found", "no route " + path));
    else if (method != "GET" && method != "HEAD")
      reply(method_not_allowed("GET, HEAD", method + " is not allowed on " + path));
    else if (path == "/healthz")
      reply(health());
    else if (path == "/api/v1/plugins")
      reply(ok_response(dump_text(json{{"plugins", handlers.plugins()}})));
    else
      reply(ok_response(metrics.prometheus_text(), "text/plain; version=0.0.4"));
    return nullptr;
  }

  ServerResponse health() const {
    const std::optional<json> degraded = handlers.degraded ? handlers.degraded() : std::nullopt;
    if (!degraded) return ok_response(R"({"status":"ok"})");
    ServerResponse r = ok_response(dump_text(*degraded));
    r.status = 503;
    return r;
  }

  // An exact path, or the longest key ending in '/' that starts the path.
  std::map<std::string, ApiHandler>::const_iterator find_api(const std::string& path) const {
    if (auto exact = handlers.api.find(path); exact != handlers.api.end()) return exact;
    auto best = handlers.api.end();
    for (auto it = handlers.api.begin(); it != handlers.api.end(); ++it)
      if (it->first.back() == '/' && path.rfind(it->first, 0) == 0 &&
          (best == handlers.api.end() || it->first.size() > best->first.size()))
        best = it;
    return best;
  }

  Abandon webhook(const WebhookRoute& route, const std::string& path, const std::string& query,
                  const ServerRequest& request, Reply reply) {
    std::vector<sb_header> headers;
    headers.reserve(request.headers.size());
    for (const auto& [name, value] : request.headers) headers.push_back({view(name), view(value)});
    sb_inbound_request in{sizeof(sb_inbound_request),
                          view(request.method),
                          view(path),
                          view(query),
                          headers.data(),
                          headers.size(),
                          view(request.body),
                          view(request.remote_address)};
    const uint64_t id = routes.open(route.owner_token, [reply = std::move(reply)](WebhookResponse&& answer) {
      ServerResponse r;
      r.status = answer.status;
      r.content_type = std::move(answer.content_type);
      r.body = std::move(answer.body);
      for (auto& [name, value] : answer.headers)
        if (!host_controlled(name)) r.headers.emplace_back(std::move(name), std::move(value));
      reply(std::move(r));
    });
    try {
      route.handler(route.user_data, &in, reinterpret_cast<sb_responder*>(static_cast<uintptr_t>(id)));
    } catch (...) {
      log_error("http", "webhook handler threw across the ABI", {{"instance", route.owner}, {"path", path}});
      // Answered now, not after the caller's timeout (unless the handler answered before it threw).
      routes.respond(
          id, route.owner_token,
          {500, "application/json", R"({"error":{"code":"internal","message":"the webhook's plugin failed"}})", {}});
    }
    return [this, id] { routes.close(id); };
  }

  // ---- connections ---------------------------------------------------------

  void on_acceptable() {
    for (;;) {
      sockaddr_storage address{};
      socklen_t length = sizeof address;
      const int fd = ::accept4(listener.impl()->sockfd(), reinterpret_cast<sockaddr*>(&address), &length,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_accepting();
        return;
      }
      if (open_connections.load() >= static_cast<size_t>(config.max_connections)) {
        refused_connections.add();  // before the close the client sees
        ::close(fd);
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::string remote = Poco::Net::SocketAddress(reinterpret_cast<const sockaddr*>(&address), length).toString();
      ++open_connections;
      const size_t i = next_loop++ % loops.size();
      EventLoop& loop = loops.at(i);
      if (loop.in_loop_thread()) {
        adopt(i, fd, std::move(remote));
      } else if (!loop.post([this, i, fd, remote = std::move(remote)]() mutable { adopt(i, fd, std::move(remote)); })) {
        ::close(fd);
        --open_connections;
      }
    }
  }

  // Out of descriptors: the listener stays readable, so stop watching it for
  // a moment instead of spinning on accept().
  void pause_accepting() {
    log_warn("http", "cannot accept connections now", {{"error", std::strerror(errno)}});
    EventLoop& loop = loops.at(0);
    const int fd = listener.impl()->sockfd();
    loop.unwatch(fd);
    accept_backoff = loop.run_after(kAcceptBackoff, [this, &loop, fd] {
      accept_backoff = 0;
      loop.watch(fd, EPOLLIN, [this](uint32_t) { on_acceptable(); });
    });
  }

  void adopt(size_t i, int fd, std::string remote) {
    LoopState& state = loop_states[i];
    if (state.stopping) {
      ::close(fd);
      --open_connections;
      return;
    }
    auto connection =
        ServerConnection::open(loops.at(i), fd, std::move(remote), settings, handler, [this, i](ServerConnection* c) {
          loop_states[i].connections.erase(c);
          --open_connections;
        });
    state.connections.emplace(connection.get(), connection);
  }

  std::vector<std::shared_ptr<ServerConnection>> connections_of(size_t i) {
    std::vector<std::shared_ptr<ServerConnection>> out;
    for (auto& [raw, weak] : loop_states[i].connections)
      if (auto c = weak.lock()) out.push_back(std::move(c));
    return out;
  }

  // Closes connections that waited too long for their client, once a second
  // (one timer per loop, not one per connection and request).
  void sweep(size_t i) {
    const auto now = std::chrono::steady_clock::now();
    for (auto& c : connections_of(i))
      c->close_if_stalled(now, std::chrono::seconds(config.keep_alive_timeout_s),
                          std::chrono::seconds(config.request_timeout_s));
    loop_states[i].sweep = loops.at(i).run_after(std::chrono::seconds(1), [this, i] { sweep(i); });
  }

  void start() {
    started = true;
    for (size_t i = 0; i < loops.size(); ++i)
      run_on(loops.at(i), [this, i] {
        loop_states[i].sweep = loops.at(i).run_after(std::chrono::seconds(1), [this, i] { sweep(i); });
      });
    run_on(loops.at(0),
           [this] { loops.at(0).watch(listener.impl()->sockfd(), EPOLLIN, [this](uint32_t) { on_acceptable(); }); });
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    if (!started) return listener.close();
    run_on(loops.at(0), [this] {
      loops.at(0).cancel(accept_backoff);
      loops.at(0).unwatch(listener.impl()->sockfd());
    });
    listener.close();
    for (size_t i = 0; i < loops.size(); ++i)
      run_on(loops.at(i), [this, i] {
        loop_states[i].stopping = true;
        loops.at(i).cancel(loop_states[i].sweep);
        for (auto& c : connections_of(i)) c->close_when_idle();
      });
    const auto deadline = std::chrono::steady_clock::now() + std::min(kMaxStopWait, settings.response_timeout);
    while (open_connections.load() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (size_t i = 0; i < loops.size(); ++i)
      run_on(loops.at(i), [this, i] {
        for (auto& c : connections_of(i)) c->close();
      });
  }
};

HttpServer::HttpServer(EventLoopGroup& loops, const std::string& host, uint16_t port, const HttpServerConfig& config,
                       WebhookRoutes& routes, Metrics& metrics, Handlers handlers)
    : impl_(std::make_unique<Impl>(loops, config, routes, metrics, std::move(handlers))) {
  try {
    // SO_REUSEADDR (a restart takes the port at once), not SO_REUSEPORT: a
    // second host on the same port is refused instead of sharing the requests.
    impl_->listener.bind(Poco::Net::SocketAddress(host, port), true, false);
    impl_->listener.listen(1024);
    impl_->listener.setBlocking(false);
  } catch (const Poco::Exception& e) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " + e.displayText());
  }
  impl_->port = impl_->listener.address().port();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() { impl_->start(); }

void HttpServer::stop() { impl_->stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

}  // namespace sb
