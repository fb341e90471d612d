#include "http/ConnectionPool.h"

#include <algorithm>

#include "http/Resolver.h"
#include "http/TlsClient.h"

namespace sb {

namespace {
using namespace std::chrono_literals;
constexpr auto kAddressesKept = 60s;
// libcurl's default: an older connection may have been dropped by a NAT or
// a load balancer without a word.
constexpr auto kIdleKept = 118s;

OutboundResponse failure(std::string error) {
  OutboundResponse r;
  r.transport_error = std::move(error);
  return r;
}
}  // namespace

struct ConnectionPool::Job {
  std::unique_ptr<Transfer> transfer;
  WireRequest wire;
  Site* site = nullptr;
  OutboundConnection* connection = nullptr;  // the one carrying it, if any
  EventLoop::TimerId timer = 0;
  std::chrono::milliseconds timeout{0};
  bool retried = false;
};

struct ConnectionPool::Site {
  Origin origin;
  std::vector<SocketAddress> addresses;
  Clock::time_point resolved_until{};
  bool resolving = false;
  std::vector<OutboundConnection*> idle;  // the most recently used last
  std::deque<Job*> waiting;
};

ConnectionPool::ConnectionPool(EventLoop& loop, const HttpClientOptions& options, const TlsContext& tls,
                               Resolver& resolver)
    : loop_(loop), options_(options), tls_(tls), resolver_(resolver) {}

ConnectionPool::~ConnectionPool() { close(); }

void ConnectionPool::start(std::unique_ptr<Transfer> t) {
  if (!*open_) return deliver(*t, failure("client shut down"));
  auto job = std::make_unique<Job>();
  job->wire = to_wire(t->request);
  if (job->wire.error.empty() && job->wire.origin.tls && !tls_.error().empty()) job->wire.error = tls_.error();
  if (!job->wire.error.empty()) return deliver(*t, failure(job->wire.error));
  job->timeout = t->request.timeout.count() > 0 ? t->request.timeout : options_.default_timeout;
  job->transfer = std::move(t);
  Job* raw = job.get();
  jobs_.emplace(raw, std::move(job));
  raw->timer = loop_.run_after(raw->timeout, [this, raw] {
    raw->timer = 0;
    timed_out(raw);
  });
  raw->site = &site_for(raw->wire.origin);
  place(raw);
}

ConnectionPool::Site& ConnectionPool::site_for(const Origin& origin) {
  auto [it, added] = sites_.try_emplace(origin.key());
  if (added) {
    it->second = std::make_unique<Site>();
    it->second->origin = origin;
    if (auto literal = resolve_literal(origin.host, origin.port)) {
      it->second->addresses = std::move(literal->addresses);
      it->second->resolved_until = Clock::time_point::max();
    }
  }
  return *it->second;
}

void ConnectionPool::place(Job* job) {
  Site& site = *job->site;
  while (!site.idle.empty()) {
    OutboundConnection* c = site.idle.back();
    site.idle.pop_back();
    Link& link = links_.at(c);
    if (Clock::now() - link.idle_since < kIdleKept) return carry(link, job);
    drop(*c);
  }
  if (Clock::now() >= site.resolved_until) {
    site.waiting.push_back(job);
    ++waiting_;
    return resolve(site);
  }
  if (links_.size() < static_cast<size_t>(options_.max_connections)) return open_for(job);
  site.waiting.push_back(job);
  ++waiting_;
  if (close_one_idle()) serve_waiting();
}

void ConnectionPool::open_for(Job* job) {
  const Site& site = *job->site;
  Owner& owner = *this;
  auto connection = std::make_unique<OutboundConnection>(loop_, owner, site.origin.host, site.origin.port,
                                                         site.addresses, site.origin.tls ? &tls_ : nullptr);
  OutboundConnection* raw = connection.get();
  Link& link = links_[raw];
  link.connection = std::move(connection);
  link.site = job->site;
  carry(link, job);
}

void ConnectionPool::carry(Link& link, Job* job) {
  link.job = job;
  job->connection = link.connection.get();
  link.connection->send(job->wire.bytes, job->wire.head, options_.max_response_bytes);
}

void ConnectionPool::resolve(Site& site) {
  if (site.resolving) return;
  site.resolving = true;
  EventLoop* loop = &loop_;
  resolver_.resolve(site.origin.host, site.origin.port,
                    [loop, open = open_, this, key = site.origin.key()](Resolution&& result) {
                      loop->post([open, this, key, result = std::move(result)]() mutable {
                        if (*open) resolved(key, std::move(result));
                      });
                    });
}

void ConnectionPool::resolved(const std::string& key, Resolution&& result) {
  Site& site = *sites_.at(key);
  site.resolving = false;
  if (!result.error.empty()) {
    std::deque<Job*> failed;
    failed.swap(site.waiting);
    waiting_ -= failed.size();
    for (Job* job : failed) finish(job, failure(result.error));
    return;
  }
  site.addresses = std::move(result.addresses);
  site.resolved_until = Clock::now() + kAddressesKept;
  serve_waiting();
}

// Opens connections for waiting requests while there is room, or room can
// be made by closing an idle connection to another origin.
void ConnectionPool::serve_waiting() {
  if (waiting_ == 0) return;
  const auto now = Clock::now();
  for (auto& [key, site] : sites_) {
    while (!site->waiting.empty() && now < site->resolved_until) {
      if (links_.size() >= static_cast<size_t>(options_.max_connections) && !close_one_idle()) return;
      Job* job = site->waiting.front();
      site->waiting.pop_front();
      --waiting_;
      open_for(job);
    }
  }
}

bool ConnectionPool::close_one_idle() {
  for (auto& [key, site] : sites_)
    if (!site->idle.empty()) {
      OutboundConnection* oldest = site->idle.front();
      site->idle.erase(site->idle.begin());
      drop(*oldest);
      return true;
    }
  return false;
}

void ConnectionPool::drop(OutboundConnection& connection) {
  auto it = links_.find(&connection);
  if (it == links_.end()) return;
  auto& idle = it->second.site->idle;
  idle.erase(std::remove(idle.begin(), idle.end(), &connection), idle.end());
  links_.erase(it);
}

void ConnectionPool::exchanged(OutboundConnection& connection, OutboundConnection::Result&& result) {
  Link& link = links_.at(&connection);
  Job* job = std::exchange(link.job, nullptr);
  if (!job) return drop(connection);
  job->connection = nullptr;
  Site& site = *link.site;
  if (result.stale && !job->retried) {
    // The peer had closed the kept-alive connection before reading the
    // request (libcurl retries this case too): once more, on a new one.
    job->retried = true;
    drop(connection);
    if (links_.size() < static_cast<size_t>(options_.max_connections)) return open_for(job);
    site.waiting.push_front(job);
    ++waiting_;
    if (close_one_idle()) serve_waiting();
    return;
  }
  if (!result.reusable) {
    drop(connection);
    serve_waiting();
  } else if (!site.waiting.empty()) {
    Job* next = site.waiting.front();
    site.waiting.pop_front();
    --waiting_;
    carry(link, next);
  } else if (waiting_ > 0) {
    drop(connection);  // another origin waits for a connection
    serve_waiting();
  } else {
    link.idle_since = Clock::now();
    site.idle.push_back(&connection);
  }
  finish(job, std::move(result.response));
}

void ConnectionPool::closed_while_idle(OutboundConnection& connection) {
  drop(connection);
  serve_waiting();
}

void ConnectionPool::timed_out(Job* job) {
  if (OutboundConnection* c = job->connection) {
    links_.at(c).job = nullptr;
    drop(*c);  // what it carries can no longer be told apart from the next answer
    serve_waiting();
  } else {
    auto& waiting = job->site->waiting;
    waiting.erase(std::remove(waiting.begin(), waiting.end(), job), waiting.end());
    --waiting_;
  }
  finish(job, failure("Operation timed out after " + std::to_string(job->timeout.count()) + " milliseconds"));
}

void ConnectionPool::finish(Job* job, OutboundResponse&& response) {
  loop_.cancel(job->timer);
  auto it = jobs_.find(job);
  std::unique_ptr<Job> owned = std::move(it->second);
  jobs_.erase(it);
  deliver(*owned->transfer, std::move(response));
}

void ConnectionPool::close() {
  if (!*open_) return;
  *open_ = false;
  links_.clear();  // before the jobs: a connection points at its request's bytes
  sites_.clear();
  waiting_ = 0;
  auto jobs = std::move(jobs_);
  jobs_.clear();
  for (auto& [raw, job] : jobs) {
    loop_.cancel(job->timer);
    deliver(*job->transfer, failure("client shut down"));
  }
}

}  // namespace sb
