#include "http/HttpClient.h"

#include <curl/curl.h>
#include <sys/epoll.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <unordered_set>
#include <utility>

#include "log/Logger.h"
#include "net/EventLoop.h"

namespace sb {

namespace {
struct Transfer {
  OutboundRequest request;
  HttpClient::Callback done;
  OutboundResponse response;
  curl_slist* header_list = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  size_t max_bytes = 0;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->response.body.size() + n > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->response.body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response.headers.clear();  // a new response (after 100 Continue or a redirect)
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
    return std::string(s);
  };
  t->response.headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  return n;
}

// One curl multi handle on one event loop; touched only by that loop's thread.
class LoopDriver {
 public:
  LoopDriver(EventLoop& loop, const HttpClientOptions& options) : loop_(loop), options_(options) {
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_connections);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options.max_connections);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }
  ~LoopDriver() { close(); }  // close() has normally run on the loop already

  EventLoop& loop() { return loop_; }

  void start(std::unique_ptr<Transfer> t) {
    if (!multi_) {
      t->response.transport_error = "client shut down";
      return deliver(*t);
    }
    CURL* h = handle_for(*t);
    if (const CURLMcode code = curl_multi_add_handle(multi_, h); code != CURLM_OK) {
      curl_slist_free_all(t->header_list);
      t->header_list = nullptr;
      idle_handles_.push_back(h);
      t->response.transport_error = std::string("cannot start the transfer: ") + curl_multi_strerror(code);
      return deliver(*t);
    }
    t.release();           // owned through CURLOPT_PRIVATE until finish()
    in_flight_.insert(h);  // curl_multi_add_handle set a 0 ms timer that starts it
  }

  // Fails what is in flight with "client shut down" and frees every curl
  // resource. Later transfers fail at once.
  void close() {
    if (!multi_) return;
    for (CURL* h : std::vector<CURL*>(in_flight_.begin(), in_flight_.end())) {
      Transfer* t = nullptr;
      curl_easy_getinfo(h, CURLINFO_PRIVATE, &t);
      std::snprintf(t->error, sizeof t->error, "client shut down");
      finish(h, CURLE_ABORTED_BY_CALLBACK);
    }
    for (CURL* h : idle_handles_) curl_easy_cleanup(h);
    idle_handles_.clear();
    curl_multi_cleanup(multi_);
    multi_ = nullptr;
    for (int fd : watched_) loop_.unwatch(fd);
    watched_.clear();
    loop_.cancel(timer_);
  }

 private:
  static int on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) {
    auto* d = static_cast<LoopDriver*>(user);
    if (what == CURL_POLL_REMOVE) {
      if (d->watched_.erase(fd)) d->loop_.unwatch(fd);
      return 0;
    }
    const uint32_t events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    try {  // nothing may be thrown through curl's C frames
      if (!d->watched_.count(fd)) {
        d->loop_.watch(fd, events, [d, fd](uint32_t ready) { d->on_ready(fd, ready); });
        d->watched_.insert(fd);
      } else {
        d->loop_.modify(fd, events);
      }
    } catch (const std::exception& e) {
      log_error("http_client", "cannot watch a socket", {{"error", e.what()}});
      return -1;  // curl fails the transfer
    }
    return 0;
  }

  // curl must not be re-entered from its own callbacks: the timeout is
  // handled from the loop, even when it is 0.
  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto* d = static_cast<LoopDriver*>(user);
    d->loop_.cancel(d->timer_);
    d->timer_ = 0;
    if (timeout_ms >= 0)
      d->timer_ = d->loop_.run_after(std::chrono::milliseconds(timeout_ms), [d] {
        d->timer_ = 0;
        d->act(CURL_SOCKET_TIMEOUT, 0);
      });
    return 0;
  }

  void on_ready(int fd, uint32_t ready) {
    int mask = 0;
    if (ready & EPOLLIN) mask |= CURL_CSELECT_IN;
    if (ready & EPOLLOUT) mask |= CURL_CSELECT_OUT;
    if (ready & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
    act(fd, mask);
  }

  void act(curl_socket_t fd, int mask) {
    if (!multi_) return;
    int running = 0;
    curl_multi_socket_action(multi_, fd, mask, &running);
    // Collected first: a callback may start a new transfer on this multi.
    std::vector<std::pair<CURL*, CURLcode>> done;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left))
      if (msg->msg == CURLMSG_DONE) done.emplace_back(msg->easy_handle, msg->data.result);
    for (auto [h, code] : done) {
      if (!multi_) break;  // a callback shut the client down: close() failed the rest
      finish(h, code);
    }
  }

  // A handle keeps its options between transfers, so the ones that never
  // change are set once; curl_easy_reset() plus a full set per request cost
  // more than the request's own work on a fast local peer.
  CURL* new_handle() {
    CURL* h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    return h;
  }

  CURL* handle_for(Transfer& t) {
    CURL* h = nullptr;
    if (idle_handles_.empty()) {
      h = new_handle();
    } else {
      h = idle_handles_.back();
      idle_handles_.pop_back();
    }
    const auto& r = t.request;
    curl_easy_setopt(h, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t.error);
    const auto timeout = r.timeout.count() > 0 ? r.timeout : options_.default_timeout;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(h, CURLOPT_NOBODY, r.method == "HEAD" ? 1L : 0L);  // a HEAD response has no body to wait for
    if (r.method == "GET" || r.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, nullptr);
      if (r.method == "GET") curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);  // also forgets a previous transfer's body
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r.method.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    }
    // Without this curl waits for "100 Continue" on bodies over 1 KiB.
    t.header_list = curl_slist_append(t.header_list, "Expect:");
    for (const auto& [name, value] : r.headers)
      t.header_list = curl_slist_append(t.header_list, (name + ": " + value).c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, t.header_list);
    return h;
  }

  void finish(CURL* h, CURLcode code) {
    Transfer* raw = nullptr;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, &raw);
    std::unique_ptr<Transfer> t(raw);
    curl_multi_remove_handle(multi_, h);
    in_flight_.erase(h);
    if (code == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
      t->response.status = static_cast<int>(status);
    } else {
      t->response.status = 0;
      t->response.transport_error = t->too_large
                                        ? "response body larger than " + std::to_string(t->max_bytes) + " bytes"
                                    : t->error[0] ? std::string(t->error)
                                                  : std::string(curl_easy_strerror(code));
    }
    curl_slist_free_all(t->header_list);
    t->header_list = nullptr;
    idle_handles_.push_back(h);
    deliver(*t);
  }

  static void deliver(Transfer& t) {
    try {
      t.done(std::move(t.response));
    } catch (const std::exception& e) {
      log_error("http_client", "response callback threw", {{"error", e.what()}});
    } catch (...) {
      log_error("http_client", "response callback threw an unknown exception");
    }
  }

  EventLoop& loop_;
  const HttpClientOptions& options_;
  CURLM* multi_ = nullptr;
  std::vector<CURL*> idle_handles_;  // reused: keeps per-handle caches warm
  std::unordered_set<CURL*> in_flight_;
  std::unordered_set<int> watched_;
  EventLoop::TimerId timer_ = 0;
};
}  // namespace

struct HttpClient::Impl {
  HttpClientOptions options;
  std::unique_ptr<EventLoopGroup> own_loops;
  EventLoopGroup& loops;
  EventLoopGroup* senders;                           // loops whose own requests run on them (may be null)
  std::vector<std::unique_ptr<LoopDriver>> drivers;  // one per loop of both
  // send() holds it shared from its stopping check to its post, shutdown()
  // exclusively to set stopping: a request that got past the check is
  // queued on its loop before that loop's close task, so its callback runs
  // during shutdown() and never after.
  std::shared_mutex stopping_mutex;
  bool stopping = false;
  std::mutex shutdown_mutex;

  Impl(std::unique_ptr<EventLoopGroup> owned, EventLoopGroup& group, EventLoopGroup* also, HttpClientOptions o)
      : options(std::move(o)), own_loops(std::move(owned)), loops(group), senders(also) {
    static std::once_flag global;
    std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    for (EventLoopGroup* g : {&loops, senders})
      for (size_t i = 0; g && i < g->size(); ++i) drivers.push_back(std::make_unique<LoopDriver>(g->at(i), options));
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

  LoopDriver& driver_on(EventLoop& loop) {
    for (auto& d : drivers)
      if (&d->loop() == &loop) return *d;
    return *drivers.front();  // unreachable: every loop of the group has a driver
  }

  void shutdown() {
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
      LoopDriver* driver = d.get();
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
  t->max_bytes = impl_->options.max_response_bytes;
  if (EventLoop* here = impl_->current()) {
    // This loop's close task, if shutdown() has begun, runs after this: the
    // lock is not needed (and start() may call back into send()).
    stop.unlock();
    impl_->driver_on(*here).start(std::move(t));
    return true;
  }
  LoopDriver& driver = impl_->driver_on(impl_->loops.next());
  Transfer* raw = t.release();
  if (driver.loop().post([&driver, raw] { driver.start(std::unique_ptr<Transfer>(raw)); })) return true;
  delete raw;
  return false;
}

}  // namespace sb
