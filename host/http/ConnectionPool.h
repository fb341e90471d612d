// The host's own HTTP/1.1 client on one event loop: kept-alive connections
// per origin, at most `max_connections` open. Requests that find none free
// wait in one queue, first come first served whatever their origin, so a
// campaign's backlog to one provider never starves another's calls. Each
// request's deadline is a timer on the loop. Host names resolve on the
// client's Resolver; their addresses are refreshed after a minute while the
// old ones stay in use, and a failed lookup is remembered for five seconds.
#pragma once

#include <chrono>
#include <list>
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
  struct Site;  // one origin: its addresses, idle connections, requests waiting for its addresses
  struct Link {
    std::unique_ptr<OutboundConnection> connection;
    Site* site = nullptr;
    Job* job = nullptr;  // the request it carries; null while idle
    Clock::time_point idle_since;
  };

  Site& site_for(const Origin& origin);
  void place(Job* job);
  void queue(Job* job, bool first = false);  // waits for a connection (`first`: ahead of the others)
  Job* take_first();                         // the oldest waiting request, out of the queue
  void open_for(Job* job);
  void carry(Link& link, Job* job);
  void resolve(Site& site);
  void resolved(const std::string& key, Resolution&& result);
  void serve_queue();
  bool close_one_idle();
  void drop(OutboundConnection& connection);
  void timed_out(Job* job);
  void fail_soon(std::unique_ptr<Transfer> t, std::string error);
  void finish(Job* job, OutboundResponse&& response);
  bool at_limit() const;

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
  std::list<Job*> queue_;  // requests with addresses, waiting for a connection, oldest first
};

}  // namespace sb
