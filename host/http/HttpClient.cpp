#include "http/HttpClient.h"

#include <curl/curl.h>

#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "log/Logger.h"

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
}  // namespace

struct HttpClient::Impl {
  HttpClientOptions options;
  CURLM* multi = nullptr;
  std::mutex mutex;
  std::deque<std::unique_ptr<Transfer>> queued;
  std::vector<CURL*> idle_handles;      // reused: keeps per-handle caches warm
  std::unordered_set<CURL*> in_flight;  // touched only by the I/O thread
  bool stopping = false;
  std::mutex join_mutex;
  std::thread thread;

  explicit Impl(HttpClientOptions o) : options(std::move(o)) {
    static std::once_flag global;
    std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_connections);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options.max_connections);
    thread = std::thread([this] { run(); });
  }

  ~Impl() {
    shutdown();
    for (CURL* h : idle_handles) curl_easy_cleanup(h);
    curl_multi_cleanup(multi);
  }

  void shutdown() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    curl_multi_wakeup(multi);
    std::lock_guard lock(join_mutex);
    if (thread.joinable()) thread.join();
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
    if (!options.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options.ca_file.c_str());
    return h;
  }

  CURL* handle_for(Transfer& t) {
    CURL* h = nullptr;
    if (idle_handles.empty()) {
      h = new_handle();
    } else {
      h = idle_handles.back();
      idle_handles.pop_back();
    }
    const auto& r = t.request;
    curl_easy_setopt(h, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t.error);
    const auto timeout = r.timeout.count() > 0 ? r.timeout : options.default_timeout;
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
    curl_multi_remove_handle(multi, h);
    in_flight.erase(h);
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
    idle_handles.push_back(h);
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

  void run() {
    int running = 0;
    for (;;) {
      std::deque<std::unique_ptr<Transfer>> batch;
      {
        std::lock_guard lock(mutex);
        if (stopping) break;
        batch.swap(queued);
      }
      for (auto& t : batch) {
        CURL* h = handle_for(*t);
        t.release();
        in_flight.insert(h);
        curl_multi_add_handle(multi, h);
      }
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left))
        if (msg->msg == CURLMSG_DONE) finish(msg->easy_handle, msg->data.result);
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    // Shutting down: fail what is in flight and what is still queued.
    for (CURL* h : std::vector<CURL*>(in_flight.begin(), in_flight.end())) {
      Transfer* t = nullptr;
      curl_easy_getinfo(h, CURLINFO_PRIVATE, &t);
      std::snprintf(t->error, sizeof t->error, "client shut down");
      finish(h, CURLE_ABORTED_BY_CALLBACK);
    }
    std::deque<std::unique_ptr<Transfer>> left;
    {
      std::lock_guard lock(mutex);
      left.swap(queued);
    }
    for (auto& t : left) {
      t->response.transport_error = "client shut down";
      deliver(*t);
    }
  }
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

void HttpClient::shutdown() { impl_->shutdown(); }

bool HttpClient::send(OutboundRequest request, Callback done) {
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  t->max_bytes = impl_->options.max_response_bytes;
  bool wake = false;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) return false;
    // The I/O thread takes the whole queue when it wakes: only the first
    // request of a batch needs to wake it (a syscall).
    wake = impl_->queued.empty();
    impl_->queued.push_back(std::move(t));
  }
  if (wake) curl_multi_wakeup(impl_->multi);
  return true;
}

}  // namespace sb
