#include "http/CurlDriver.h"

#include <curl/curl.h>
#include <sys/epoll.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "log/Logger.h"

namespace sb {

namespace {
struct CurlTransfer {
  std::unique_ptr<Transfer> transfer;
  OutboundResponse response;
  curl_slist* header_list = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  size_t max_bytes = 0;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<CurlTransfer*>(user);
  const size_t n = size * count;
  if (t->response.body.size() + n > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->response.body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<CurlTransfer*>(user);
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
class CurlDriver final : public ClientDriver {
 public:
  CurlDriver(EventLoop& loop, const HttpClientOptions& options) : loop_(loop), options_(options) {
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_connections);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options.max_connections);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }
  ~CurlDriver() override { close(); }  // close() has normally run on the loop already

  EventLoop& loop() override { return loop_; }

  void start(std::unique_ptr<Transfer> transfer) override {
    auto t = std::make_unique<CurlTransfer>();
    t->transfer = std::move(transfer);
    t->max_bytes = options_.max_response_bytes;
    if (!multi_) {
      t->response.transport_error = "client shut down";
      return deliver(*t->transfer, std::move(t->response));
    }
    CURL* h = handle_for(*t);
    if (const CURLMcode code = curl_multi_add_handle(multi_, h); code != CURLM_OK) {
      curl_slist_free_all(t->header_list);
      t->header_list = nullptr;
      idle_handles_.push_back(h);
      t->response.transport_error = std::string("cannot start the transfer: ") + curl_multi_strerror(code);
      return deliver(*t->transfer, std::move(t->response));
    }
    t.release();           // owned through CURLOPT_PRIVATE until finish()
    in_flight_.insert(h);  // curl_multi_add_handle set a 0 ms timer that starts it
  }

  // Fails what is in flight with "client shut down" and frees every curl
  // resource. Later transfers fail at once.
  void close() override {
    if (!multi_) return;
    for (CURL* h : std::vector<CURL*>(in_flight_.begin(), in_flight_.end())) {
      CurlTransfer* t = nullptr;
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
    auto* d = static_cast<CurlDriver*>(user);
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
    auto* d = static_cast<CurlDriver*>(user);
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

  CURL* handle_for(CurlTransfer& t) {
    CURL* h = nullptr;
    if (idle_handles_.empty()) {
      h = new_handle();
    } else {
      h = idle_handles_.back();
      idle_handles_.pop_back();
    }
    const auto& r = t.transfer->request;
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
    CurlTransfer* raw = nullptr;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, &raw);
    std::unique_ptr<CurlTransfer> t(raw);
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
    deliver(*t->transfer, std::move(t->response));
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

bool proxy_in_environment() {
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
    if (const char* value = std::getenv(name); value && *value) return true;
  return false;
}

std::unique_ptr<ClientDriver> make_curl_driver(EventLoop& loop, const HttpClientOptions& options) {
  static std::once_flag global;
  std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<CurlDriver>(loop, options);
}

}  // namespace sb
