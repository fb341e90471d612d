#include "http/ConnectionPool.h"

#include <algorithm>

#include "http/Resolver.h"
#include "http/TlsClient.h"

namespace sb {

namespace {
using namespace std::chrono_literals;
constexpr auto kAddressesFresh = 60s;
constexpr auto kFailureKept = 5s;
// libcurl's default: an older connection may have been dropped by a NAT or
// a load balancer without a word.
constexpr auto kIdleKept = 118s;
// Origins remembered with nothing open or waiting, beyond which they go.
constexpr size_t kSitesKept = 256;

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
  std::list<Job*>::iterator queued;          // valid while in_queue
  bool in_queue = false;
  bool awaiting_addresses = false;
  EventLoop::TimerId timer = 0;
  std::chrono::milliseconds timeout{0};
  bool retried = false;
};

struct ConnectionPool::Site {
  Origin origin;
  std::vector<SocketAddress> addresses;
  Clock::time_point fresh_until{};
  bool resolving = false;
  std::string failure;  // the last lookup's, while no addresses are known
  Clock::time_point failure_until{};
  size_t open = 0;                        // connections to it, idle or busy
  size_t jobs = 0;                        // requests for it not yet answered
  std::vector<OutboundConnection*> idle;  // the most recently used last
  std::vector<Job*> unresolved;           // waiting for its first addresses
};

ConnectionPool::ConnectionPool(EventLoop& loop, const HttpClientOptions& options, const TlsContext& tls,
                               Resolver& resolver)
    : loop_(loop), options_(options), tls_(tls), resolver_(resolver) {}

ConnectionPool::~ConnectionPool() { close(); }

bool ConnectionPool::at_limit() const { return links_.size() >= static_cast<size_t>(options_.max_connections); }

// A request that cannot start is answered from the loop, not from inside
// send(): a caller that retries at once does not recurse.
void ConnectionPool::fail_soon(std::unique_ptr<Transfer> t, std::string error) {
  Transfer* raw = t.release();
  if (!loop_.post([raw, error = std::move(error)] {
        std::unique_ptr<Transfer> owned(raw);
        deliver(*owned, failure(error));
      }))
    delete raw;
}

void ConnectionPool::start(std::unique_ptr<Transfer> t) {
  if (!*open_) return fail_soon(std::move(t), "client shut down");
  auto job = std::make_unique<Job>();
  job->wire = to_wire(t->request);
  if (job->wire.error.empty() && job->wire.origin.tls && !tls_.error().empty()) job->wire.error = tls_.error();
  if (!job->wire.error.empty()) return fail_soon(std::move(t), job->wire.error);
  job->timeout = t->request.timeout.count() > 0 ? t->request.timeout : options_.default_timeout;
  job->transfer = std::move(t);
  Job* raw = job.get();
  jobs_.emplace(raw, std::move(job));
  raw->timer = loop_.run_after(raw->timeout, [this, raw] {
    raw->timer = 0;
    timed_out(raw);
  });
  raw->site = &site_for(raw->wire.origin);
  ++raw->site->jobs;
  place(raw);
}

ConnectionPool::Site& ConnectionPool::site_for(const Origin& origin) {
  const std::string key = origin.key();
  if (auto it = sites_.find(key); it != sites_.end()) return *it->second;
  if (sites_.size() >= kSitesKept)
    std::erase_if(sites_, [](const auto& entry) {
      const Site& s = *entry.second;
      return s.open == 0 && s.jobs == 0 && !s.resolving;
    });
  auto site = std::make_unique<Site>();
  site->origin = origin;
  if (auto literal = resolve_literal(origin.host, origin.port)) {
    site->addresses = std::move(literal->addresses);
    site->fresh_until = Clock::time_point::max();
  }
  return *sites_.emplace(key, std::move(site)).first->second;
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
  const auto now = Clock::now();
  if (now >= site.fresh_until) {
    if (site.addresses.empty() && now < site.failure_until) {
      // No lookup for every request to a name that does not resolve.
      loop_.cancel(job->timer);
      job->timer = loop_.run_after(0ms, [this, job] {
        job->timer = 0;
        finish(job, failure(job->site->failure));
      });
      return;
    }
    resolve(site);  // known addresses stay in use meanwhile
    if (site.addresses.empty()) {
      job->awaiting_addresses = true;
      site.unresolved.push_back(job);
      return;
    }
  }
  if (!at_limit()) return open_for(job);
  queue(job);
  if (close_one_idle()) serve_queue();
}

void ConnectionPool::queue(Job* job, bool first) {
  job->queued = queue_.insert(first ? queue_.begin() : queue_.end(), job);
  job->in_queue = true;
}

ConnectionPool::Job* ConnectionPool::take_first() {
  Job* job = queue_.front();
  queue_.pop_front();
  job->in_queue = false;
  return job;
}

void ConnectionPool::open_for(Job* job) {
  Site& site = *job->site;
  Owner& owner = *this;
  auto connection = std::make_unique<OutboundConnection>(loop_, owner, site.origin.host, site.origin.port,
                                                         site.addresses, site.origin.tls ? &tls_ : nullptr);
  OutboundConnection* raw = connection.get();
  Link& link = links_[raw];
  link.connection = std::move(connection);
  link.site = &site;
  ++site.open;
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
  auto it = sites_.find(key);
  if (it == sites_.end()) return;
  Site& site = *it->second;
  site.resolving = false;
  std::vector<Job*> waiting;
  waiting.swap(site.unresolved);
  if (result.error.empty()) {
    site.addresses = std::move(result.addresses);
    site.fresh_until = Clock::now() + kAddressesFresh;
  } else if (!site.addresses.empty()) {
    site.fresh_until = Clock::now() + kFailureKept;  // the old addresses serve on; asked again later
  } else {
    site.failure = result.error;
    site.failure_until = Clock::now() + kFailureKept;
    for (Job* job : waiting) {
      if (!*open_) return;  // a callback closed the client: close() answered the rest
      job->awaiting_addresses = false;
      finish(job, failure(result.error));
    }
    return;
  }
  for (Job* job : waiting) {
    job->awaiting_addresses = false;
    place(job);
  }
}

// Opens connections for the queue, oldest request first, while there is
// room or room can be made by closing an idle connection.
void ConnectionPool::serve_queue() {
  while (!queue_.empty() && (!at_limit() || close_one_idle())) {
    open_for(take_first());
  }
}

bool ConnectionPool::close_one_idle() {
  OutboundConnection* oldest = nullptr;
  Clock::time_point since = Clock::time_point::max();
  for (auto& [key, site] : sites_)
    if (!site->idle.empty() && links_.at(site->idle.front()).idle_since < since) {
      oldest = site->idle.front();
      since = links_.at(oldest).idle_since;
    }
  if (!oldest) return false;
  drop(*oldest);
  return true;
}

void ConnectionPool::drop(OutboundConnection& connection) {
  auto it = links_.find(&connection);
  if (it == links_.end()) return;
  Site& site = *it->second.site;
  std::erase(site.idle, &connection);
  --site.open;
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
    if (!at_limit()) return open_for(job);
    queue(job, /*first=*/true);
    if (close_one_idle()) serve_queue();
    return;
  }
  if (!result.reusable) {
    drop(connection);
    serve_queue();
  } else if (queue_.empty()) {
    link.idle_since = Clock::now();
    site.idle.push_back(&connection);
  } else if (queue_.front()->site == &site) {
    carry(link, take_first());
  } else {
    drop(connection);  // the oldest waiting request is for another origin
    serve_queue();
  }
  finish(job, std::move(result.response));
}

void ConnectionPool::closed_while_idle(OutboundConnection& connection) {
  drop(connection);
  serve_queue();
}

void ConnectionPool::timed_out(Job* job) {
  if (OutboundConnection* c = job->connection) {
    links_.at(c).job = nullptr;
    drop(*c);  // what it carries can no longer be told apart from the next answer
    serve_queue();
  } else if (job->in_queue) {
    queue_.erase(job->queued);
    job->in_queue = false;
  } else if (job->awaiting_addresses) {
    std::erase(job->site->unresolved, job);
  }
  finish(job, failure("Operation timed out after " + std::to_string(job->timeout.count()) + " milliseconds"));
}

void ConnectionPool::finish(Job* job, OutboundResponse&& response) {
  loop_.cancel(job->timer);
  --job->site->jobs;
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
  queue_.clear();
  auto jobs = std::move(jobs_);
  jobs_.clear();
  for (auto& [raw, job] : jobs) {
    loop_.cancel(job->timer);
    deliver(*job->transfer, failure("client shut down"));
  }
}

}  // namespace sb
