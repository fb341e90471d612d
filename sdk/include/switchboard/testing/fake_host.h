// A scripted host for plugin tests: loads a built plugin library with dlopen,
// offers it an sb_host whose services record every call, and lets the test
// decide when and how asynchronous calls (emit, http) finish. Header-only,
// C++17; link the test with ${CMAKE_DL_LIBS} (see sdk/examples/hello-action).
//
// Single-threaded: every "asynchronous" callback runs when the test says so.
// A plugin with threads of its own (email) completes on them: wait_results()
// waits for those under the host's lock.
#pragma once

#include <dlfcn.h>
#include <switchboard/plugin.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fake {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline std::string text(sb_str s) { return s.len ? std::string(s.ptr, s.len) : std::string(); }
inline sb_str view(const std::string& s) { return sb_str{s.data(), s.size()}; }

struct Emitted {
  std::string type, id, payload;
  sb_emit_wait wait;
  sb_on_emitted callback;
  void* user_data;
  bool finished = false;
};

struct Sent {
  std::string method, url, body;
  Headers headers;
  uint32_t timeout_ms;
  sb_on_http_response callback;
  void* user_data;
  bool finished = false;

  std::optional<std::string> header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return std::nullopt;
  }
};

struct Response {
  int status = 0;
  std::string content_type, body;
  Headers headers = {};
};

struct Result {
  sb_outcome outcome;
  std::string external_id, reason, provider_code, output_json;
  uint32_t retry_after_s;
};

struct Route {
  std::string path;
  sb_on_http_request handler;
  void* user_data;
};

class Host {
 public:
  explicit Host(std::string instance_name) : instance_(std::move(instance_name)) {
    table_.struct_size = sizeof(table_);
    table_.abi_version = {SB_ABI_VERSION_MAJOR, SB_ABI_VERSION_MINOR, SB_ABI_VERSION_PATCH};
    table_.host_version = view(version_);
    table_.instance_name = view(instance_);
    table_.host_data = this;
    table_.get_service = &Host::get_service;
    table_.complete = &Host::complete;
  }
  // Like a host shutting down, finishes what the test left pending: the
  // plugin's callbacks must run exactly once, even after its instance is gone.
  ~Host() {
    for (size_t i = 0; i < emitted.size(); ++i)
      if (!emitted[i].finished) finish_emit(i, SB_ERR_UNAVAILABLE, "", "host shut down");
    for (size_t i = 0; i < sent.size(); ++i)
      if (!sent[i].finished) finish_http(i, 0, {}, "", "host shut down");
  }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const sb_host* table() const { return &table_; }

  // What the test controls.
  int64_t now_ms = 1'700'000'000'000;
  bool routes_available = true;  // add_route fails when false
  sb_status emit_status = SB_OK;
  std::vector<std::string> declared;  // event types the instance declared (beyond its trigger names)
  sb_status http_status = SB_OK;
  sb_status outbox_status = SB_OK;
  bool tracking = false;  // offer switchboard.tracking/1: "http://t.test/<kind>/<message id>[?u=<url>]"

  // What the plugin did.
  std::vector<Route> routes;
  std::vector<Emitted> emitted;
  std::vector<Sent> sent;
  std::vector<std::string> outbox;
  std::map<std::string, std::string> kv;  // the instance's state (switchboard.kv/1)
  std::vector<Result> results;
  std::vector<std::string> warnings;  // what the plugin logged as warnings
  std::map<uint64_t, Response> responses;
  std::map<std::string, double> counters;

  // Waits until `count` results are in (completions from a plugin's own threads).
  bool wait_results(size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    return completed_.wait_for(lock, timeout, [&] { return results.size() >= count; });
  }
  Result result(size_t index) {
    std::lock_guard lock(mutex_);
    return results.at(index);
  }

  // Simulates an inbound request on the first route; returns the responder id
  // to look up in `responses` (the answer may come later).
  uint64_t request(const std::string& method, const Headers& headers, const std::string& body,
                   const std::string& query = "") {
    if (routes.empty()) throw std::logic_error("the plugin registered no route");
    std::vector<sb_header> h;
    for (const auto& [k, v] : headers) h.push_back({view(k), view(v)});
    const std::string remote = "127.0.0.1";
    sb_inbound_request r{sizeof(r), view(method), view(routes[0].path), view(query),
                         h.data(),  h.size(),     view(body),           view(remote)};
    const uint64_t id = next_responder_++;
    routes[0].handler(routes[0].user_data, &r, reinterpret_cast<sb_responder*>(id));
    return id;
  }

  void finish_emit(size_t index, sb_status status, const std::string& event_id, const std::string& message = "",
                   const std::string& report = "", uint32_t executions = 0, uint32_t executions_done = 0,
                   uint32_t struct_size = sizeof(sb_emit_result)) {
    sb_emit_result r{struct_size, status, view(event_id), view(message), view(report), executions, executions_done};
    if (std::exchange(emitted.at(index).finished, true)) throw std::logic_error("emit finished twice");
    emitted.at(index).callback(emitted.at(index).user_data, &r);
  }

  void finish_http(size_t index, int status, const Headers& headers = {}, const std::string& body = "",
                   const std::string& transport_error = "") {
    std::vector<sb_header> h;
    for (const auto& [k, v] : headers) h.push_back({view(k), view(v)});
    sb_http_response r{sizeof(r), status, h.data(), h.size(), view(body), view(transport_error)};
    if (std::exchange(sent.at(index).finished, true)) throw std::logic_error("request finished twice");
    sent.at(index).callback(sent.at(index).user_data, &r);
  }

 private:
  static Host* self(const sb_host* h) { return static_cast<Host*>(h->host_data); }

  static const void* get_service(const sb_host* h, const char* id) {
    static const sb_host_log_v1 log{sizeof(sb_host_log_v1), [](const sb_host* h, sb_log_level level, sb_str m, sb_str) {
                                      if (level == SB_LOG_WARN) self(h)->warnings.push_back(text(m));
                                    }};
    static const sb_host_metrics_v1 metrics{
        sizeof(sb_host_metrics_v1), [](const sb_host* h, sb_str name, double v) { self(h)->counters[text(name)] += v; },
        [](const sb_host*, sb_str, double) {}};
    static const sb_host_clock_v1 clock{sizeof(sb_host_clock_v1), [](const sb_host* h) { return self(h)->now_ms; },
                                        [](const sb_host*) { return int64_t{0}; }};
    static const sb_host_events_v1 events{
        sizeof(sb_host_events_v1),
        [](const sb_host* h, const sb_event* e, sb_emit_wait wait, sb_on_emitted cb, void* user) {
          if (self(h)->emit_status != SB_OK) return self(h)->emit_status;
          self(h)->emitted.push_back({text(e->type), text(e->id), text(e->payload_json), wait, cb, user, false});
          return SB_OK;
        },
        [](const sb_host* h, sb_str type) {
          self(h)->declared.push_back(text(type));
          return SB_OK;
        }};
    static const sb_host_webhooks_v1 webhooks{
        sizeof(sb_host_webhooks_v1),
        [](const sb_host* h, sb_str path, sb_on_http_request handler, void* user) {
          if (!self(h)->routes_available) return SB_ERR_INVALID_ARGUMENT;
          self(h)->routes.push_back({text(path), handler, user});
          return SB_OK;
        },
        [](const sb_host* h, sb_responder* responder, const sb_outbound_response* r) {
          Headers headers;
          for (size_t i = 0; i < r->header_count; ++i)
            headers.emplace_back(text(r->headers[i].name), text(r->headers[i].value));
          self(h)->responses[reinterpret_cast<uint64_t>(responder)] = {r->status, text(r->content_type), text(r->body),
                                                                       std::move(headers)};
        }};
    static const sb_host_http_client_v1 http{
        sizeof(sb_host_http_client_v1),
        [](const sb_host* h, const sb_http_request* r, sb_on_http_response cb, void* user) {
          if (self(h)->http_status != SB_OK) return self(h)->http_status;
          Headers headers;
          for (size_t i = 0; i < r->header_count; ++i)
            headers.emplace_back(text(r->headers[i].name), text(r->headers[i].value));
          self(h)->sent.push_back(
              {text(r->method), text(r->url), text(r->body), std::move(headers), r->timeout_ms, cb, user, false});
          return SB_OK;
        }};
    static const sb_host_outbox_v1 outbox{sizeof(sb_host_outbox_v1), [](const sb_host* h, sb_str record) {
                                            if (self(h)->outbox_status == SB_OK)
                                              self(h)->outbox.push_back(text(record));
                                            return self(h)->outbox_status;
                                          }};
    static const sb_host_tracking_v1 tracking{
        sizeof(sb_host_tracking_v1), [](const sb_host*, sb_str, sb_str kind, sb_str, sb_str message_id, sb_str url,
                                        sb_on_value on_value, void* user) {
          std::string link = "http://t.test/" + text(kind) + "/" + text(message_id);
          if (url.len) link += "?u=" + text(url);
          on_value(user, view(link));
          return SB_OK;
        }};
    // The instance's durable state, in memory; the async calls answer at once.
    static const sb_host_kv_v1 kv{sizeof(sb_host_kv_v1),
                                  [](const sb_host* h, sb_str key, sb_on_value on_value, void* user) {
                                    const auto it = self(h)->kv.find(text(key));
                                    if (it == self(h)->kv.end()) return SB_ERR_NOT_FOUND;
                                    on_value(user, view(it->second));
                                    return SB_OK;
                                  },
                                  [](const sb_host* h, sb_str key, sb_str value) {
                                    self(h)->kv[text(key)] = text(value);
                                    return SB_OK;
                                  },
                                  [](const sb_host* h, sb_str key) {
                                    self(h)->kv.erase(text(key));
                                    return SB_OK;
                                  },
                                  [](const sb_host* h, sb_str key, sb_on_kv_value done, void* user) {
                                    const auto it = self(h)->kv.find(text(key));
                                    if (it == self(h)->kv.end())
                                      done(user, SB_ERR_NOT_FOUND, view(""));
                                    else
                                      done(user, SB_OK, view(it->second));
                                    return SB_OK;
                                  },
                                  [](const sb_host* h, sb_str key, sb_str value, sb_on_kv_done done, void* user) {
                                    self(h)->kv[text(key)] = text(value);
                                    done(user, SB_OK);
                                    return SB_OK;
                                  },
                                  [](const sb_host* h, sb_str key, sb_on_kv_done done, void* user) {
                                    self(h)->kv.erase(text(key));
                                    done(user, SB_OK);
                                    return SB_OK;
                                  }};
    if (std::string_view(id) == SB_SERVICE_TRACKING) return self(h)->tracking ? &tracking : nullptr;
    const std::map<std::string, const void*> services = {
        {SB_SERVICE_LOG, &log},           {SB_SERVICE_METRICS, &metrics},
        {SB_SERVICE_CLOCK, &clock},       {SB_SERVICE_EVENTS, &events},
        {SB_SERVICE_WEBHOOKS, &webhooks}, {SB_SERVICE_HTTP_CLIENT, &http},
        {SB_SERVICE_OUTBOX, &outbox},     {SB_SERVICE_KV, &kv}};
    auto it = services.find(id);
    return it == services.end() ? nullptr : it->second;
  }

  static void complete(const sb_host* h, sb_completion*, const sb_action_result* r) {
    std::lock_guard lock(self(h)->mutex_);
    self(h)->results.push_back({r->outcome, text(r->external_id), text(r->reason), text(r->provider_code),
                                text(r->output_json), r->retry_after_s});
    self(h)->completed_.notify_all();
  }

  std::string version_ = "test";
  std::string instance_;
  sb_host table_{};
  uint64_t next_responder_ = 1;
  std::mutex mutex_;
  std::condition_variable completed_;
};

// One plugin library, loaded for the duration of a test.
class Library {
 public:
  explicit Library(const char* path) : handle_(dlopen(path, RTLD_NOW | RTLD_LOCAL)) {
    if (!handle_) throw std::runtime_error(std::string("dlopen: ") + dlerror());
    auto entry = reinterpret_cast<sb_plugin_entry_fn>(dlsym(handle_, SB_PLUGIN_ENTRY_SYMBOL));
    if (!entry || !(descriptor_ = entry())) throw std::runtime_error("no plugin descriptor");
  }
  ~Library() { dlclose(handle_); }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  const sb_plugin_descriptor& descriptor() const { return *descriptor_; }

 private:
  void* handle_;
  const sb_plugin_descriptor* descriptor_ = nullptr;
};

// One instance of a plugin; destroyed with the object.
class Instance {
 public:
  Instance(const Library& library, Host& host, const std::string& config) : library_(library) {
    char buffer[512];
    size_t length = 0;
    sb_error_buffer error{sizeof(error), buffer, sizeof(buffer), &length};
    status_ = library.descriptor().on_instance_create(host.table(), view(config), &instance_, &error);
    error_.assign(buffer, length);
  }
  ~Instance() {
    if (instance_) library_.descriptor().on_instance_destroy(instance_);
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  sb_status status() const { return status_; }
  const std::string& error() const { return error_; }

  sb_status invoke(const std::string& action, const std::string& params, const std::string& key = "step-key-1",
                   int64_t deadline_unix_ms = 0, const std::string& subject = "{}") {
    sb_action_call call{sizeof(call), view(action), view(params), view(key), 1, deadline_unix_ms, view(subject)};
    return library_.descriptor().on_action_invoke(instance_, &call, reinterpret_cast<sb_completion*>(1), nullptr);
  }

 private:
  const Library& library_;
  sb_instance* instance_ = nullptr;
  sb_status status_ = SB_ERR_INTERNAL;
  std::string error_;
};

}  // namespace fake
