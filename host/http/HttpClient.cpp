#include "http/HttpClient.h"

#include <future>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "http/ClientDriver.h"
#include "http/ConnectionPool.h"
#include "http/CurlDriver.h"
#include "http/Resolver.h"
#include "http/TlsClient.h"
#include "log/Logger.h"
#include "net/EventLoop.h"

namespace sb {

void deliver(Transfer& t, OutboundResponse&& response) {
  try {
    t.done(std::move(response));
  } catch (const std::exception& e) {
    log_error("http_client", "response callback threw", {{"error", e.what()}});
  } catch (...) {
    log_error("http_client", "response callback threw an unknown exception");
  }
}

struct HttpClient::Impl {
  HttpClientOptions options;
  std::unique_ptr<EventLoopGroup> own_loops;
  EventLoopGroup& loops;
  EventLoopGroup* senders;  // loops whose own requests run on them (may be null)
  TlsContext tls;
  Resolver resolver;                                   // joined after the drivers are gone
  std::vector<std::unique_ptr<ClientDriver>> drivers;  // one per loop of both
  // send() holds it shared from its stopping check to its post, shutdown()
  // exclusively to set stopping: a request that got past the check is
  // queued on its loop before that loop's close task, so its callback runs
  // during shutdown() and never after.
  std::shared_mutex stopping_mutex;
  bool stopping = false;
  std::mutex shutdown_mutex;

  Impl(std::unique_ptr<EventLoopGroup> owned, EventLoopGroup& group, EventLoopGroup* also, HttpClientOptions o)
      : options(std::move(o)), own_loops(std::move(owned)), loops(group), senders(also), tls(options.ca_file) {
    const bool proxied = proxy_in_environment();
    for (EventLoopGroup* g : {&loops, senders})
      for (size_t i = 0; g && i < g->size(); ++i)
        drivers.push_back(proxied ? make_curl_driver(g->at(i), options)
                                  : std::make_unique<ConnectionPool>(g->at(i), options, tls, resolver));
  }

  // The loop a request sent from this thread runs on, if it is one of ours.
  EventLoop* current() const {
    if (EventLoop* here = loops.current()) return here;
    return senders ? senders->current() : nullptr;
  }

  ~Impl() {
    shutdown();
    if (own_loops) own_loops->stop();
    drivers.clear();  // loops stopped or closed drivers: nothing runs on them now
  }

  ClientDriver& driver_on(EventLoop& loop) {
    for (auto& d : drivers)
      if (&d->loop() == &loop) return *d;
    return *drivers.front();  // unreachable: every loop of the group has a driver
  }

  void shutdown() {
    {
      // From a callback that close() runs (on one of our loops): the
      // shutdown under way is this one's, or holds the mutex waiting for
      // this loop; either way, nothing is left to do here.
      std::shared_lock stop(stopping_mutex);
      if (stopping && current()) return;
    }
    std::lock_guard lock(shutdown_mutex);
    {
      std::unique_lock stop(stopping_mutex);
      if (std::exchange(stopping, true)) return;
    }
    for (auto& d : drivers) {
      if (d->loop().in_loop_thread()) {
        d->close();
        continue;
      }
      std::promise<void> closed;
      ClientDriver* driver = d.get();
      if (d->loop().post([driver, &closed] {
            driver->close();
            closed.set_value();
          }))
        closed.get_future().wait();
    }
  }
};

HttpClient::HttpClient(EventLoopGroup& loops, HttpClientOptions options, EventLoopGroup* senders)
    : impl_(std::make_unique<Impl>(nullptr, loops, senders, std::move(options))) {}

HttpClient::HttpClient(HttpClientOptions options) {
  auto own = std::make_unique<EventLoopGroup>(1);
  EventLoopGroup& group = *own;
  impl_ = std::make_unique<Impl>(std::move(own), group, nullptr, std::move(options));
}

HttpClient::~HttpClient() = default;

void HttpClient::shutdown() { impl_->shutdown(); }

bool HttpClient::send(OutboundRequest request, Callback done) {
  std::shared_lock stop(impl_->stopping_mutex);
  if (impl_->stopping) return false;
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  if (EventLoop* here = impl_->current()) {
    // This loop's close task, if shutdown() has begun, runs after this: the
    // lock is not needed (and start() may call back into send()).
    stop.unlock();
    impl_->driver_on(*here).start(std::move(t));
    return true;
  }
  ClientDriver& driver = impl_->driver_on(impl_->loops.next());
  Transfer* raw = t.release();
  if (driver.loop().post([&driver, raw] { driver.start(std::unique_ptr<Transfer>(raw)); })) return true;
  delete raw;
  return false;
}

}  // namespace sb
