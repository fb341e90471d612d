// The host's own HTTP/1.1 client on one event loop: kept-alive connections
// per origin, at most `max_connections` open, requests that find none free
// waiting in order, each request's deadline on the loop's timers. Host
// names resolve on the client's Resolver and are remembered for a minute.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/ClientDriver.h"
#include "http/OutboundConnection.h"
#include "http/WireRequest.h"

namespace sb {

class Resolver;
struct Resolution;
class TlsContext;

class ConnectionPool final : public ClientDriver, private OutboundConnection::Owner {
 public:
  ConnectionPool(EventLoop& loop, const HttpClientOptions& options, const TlsContext& tls, Resolver& resolver);
  ~ConnectionPool() override;  // close()

  EventLoop& loop() override { return loop_; }
  void start(std::unique_ptr<Transfer> t) override;
  void close() override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Job;
  struct Site;  // one origin's connections, addresses and waiting requests
  struct Link {
    std::unique_ptr<OutboundConnection> connection;
    Site* site = nullptr;
    Job* job = nullptr;  // the request it carries; null while idle
    Clock::time_point idle_since;
  };

  Site& site_for(const Origin& origin);
  void place(Job* job);
  void open_for(Job* job);
  void carry(Link& link, Job* job);
  void resolve(Site& site);
  void resolved(const std::string& key, Resolution&& result);
  void serve_waiting();
  bool close_one_idle();
  void drop(OutboundConnection& connection);
  void timed_out(Job* job);
  void finish(Job* job, OutboundResponse&& response);

  void exchanged(OutboundConnection& connection, OutboundConnection::Result&& result) override;
  void closed_while_idle(OutboundConnection& connection) override;

  EventLoop& loop_;
  const HttpClientOptions& options_;
  const TlsContext& tls_;
  Resolver& resolver_;
  std::shared_ptr<bool> open_ = std::make_shared<bool>(true);  // false once closed: late lookups find nothing
  std::unordered_map<std::string, std::unique_ptr<Site>> sites_;
  std::unordered_map<OutboundConnection*, Link> links_;
  std::unordered_map<Job*, std::unique_ptr<Job>> jobs_;
  size_t waiting_ = 0;  // jobs waiting in every site
};

}  // namespace sb
