// Header-only C++17 wrapper over the Switchboard plugin ABI (plugin.h).
//
// A plugin is a class derived from switchboard::Plugin plus one macro:
//
//   class Hello : public switchboard::Plugin {
//    public:
//     Hello(switchboard::Host& host, std::string_view config_json);
//     void invoke(const switchboard::ActionCall& call,
//                 switchboard::Completion done) override {
//       done(switchboard::ActionResult::done("id-1"));
//     }
//   };
//   SWITCHBOARD_PLUGIN(Hello, hello_info)   // hello_info() -> PluginInfo
//
// Every exception thrown by plugin code is caught here and becomes an error
// code or a failed action: nothing unwinds into the host.
#ifndef SWITCHBOARD_PLUGIN_HPP
#define SWITCHBOARD_PLUGIN_HPP

#include <switchboard/plugin.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace switchboard {

inline std::string_view view(sb_str s) { return s.len ? std::string_view(s.ptr, s.len) : std::string_view(); }
inline sb_str str(std::string_view s) { return sb_str{s.data(), s.size()}; }

// Thrown from a plugin constructor when its config is unusable: the host
// reports it as an invalid config rather than an internal error.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline void write_error(const sb_error_buffer* error, std::string_view message) noexcept {
  if (!error || !error->data || !error->length) return;
  size_t n = message.size() < error->capacity ? message.size() : error->capacity;
  std::memcpy(error->data, message.data(), n);
  *error->length = n;
}

// ------------------------------------------------------------ action results

struct ActionResult {
  sb_outcome outcome = SB_OUTCOME_DONE;
  std::string external_id;
  std::string reason;
  std::string provider_code;
  uint32_t retry_after_s = 0;
  std::string output_json;

  static ActionResult done(std::string external_id = {}, std::string output_json = {}) {
    ActionResult r;
    r.external_id = std::move(external_id);
    r.output_json = std::move(output_json);
    return r;
  }
  static ActionResult retry(std::string reason, uint32_t after_s = 0, std::string code = {}) {
    return make(SB_OUTCOME_RETRY, std::move(reason), std::move(code), after_s);
  }
  static ActionResult unreachable(std::string reason, std::string code = {}) {
    return make(SB_OUTCOME_UNREACHABLE, std::move(reason), std::move(code));
  }
  static ActionResult permanent(std::string reason, std::string code = {}) {
    return make(SB_OUTCOME_PERMANENT, std::move(reason), std::move(code));
  }
  static ActionResult invalid_params(std::string reason) {
    return make(SB_OUTCOME_INVALID_PARAMS, std::move(reason), {});
  }
  // Nothing attempted (over the instance's own limit): again after `after_s`, no attempt counted.
  static ActionResult deferred(std::string reason, uint32_t after_s) {
    return make(SB_OUTCOME_DEFERRED, std::move(reason), {}, after_s);
  }

 private:
  static ActionResult make(sb_outcome o, std::string reason, std::string code, uint32_t after = 0) {
    ActionResult r;
    r.outcome = o;
    r.reason = std::move(reason);
    r.provider_code = std::move(code);
    r.retry_after_s = after;
    return r;
  }
};

struct ActionCall {
  std::string_view action;
  std::string_view params_json;
  std::string_view idempotency_key;
  uint32_t attempt = 1;
  int64_t deadline_unix_ms = 0;
  std::string_view subject_json;  // ABI 1.1: what the call is about; empty from an older host
};

namespace detail {
inline void report(const sb_host* host, sb_completion* handle, const ActionResult& r) noexcept {
  sb_action_result out{};
  out.struct_size = sizeof(out);
  out.outcome = r.outcome;
  out.external_id = str(r.external_id);
  out.reason = str(r.reason);
  out.provider_code = str(r.provider_code);
  out.retry_after_s = r.retry_after_s;
  out.output_json = str(r.output_json);
  host->complete(host, handle, &out);
}
}  // namespace detail

// Reports the end of one action, from any thread, now or later. Cheap to copy
// (no allocation: it is the host's handle). The host keeps the first report
// of a call and ignores (and logs) later ones; a call never reported fails at
// its deadline with "no completion". Copies of one call's Completion are
// equal and share an id(), so a plugin can find the call cancel() names.
class Completion {
 public:
  Completion(const sb_host* host, sb_completion* handle) : host_(host), handle_(handle) {}
  void operator()(const ActionResult& result) const { detail::report(host_, handle_, result); }
  uintptr_t id() const { return reinterpret_cast<uintptr_t>(handle_); }
  bool operator==(const Completion& other) const { return handle_ == other.handle_; }

 private:
  const sb_host* host_;
  sb_completion* handle_;
};

// ------------------------------------------------------------ host services

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint32_t timeout_ms = 0;
};

using HeaderViews = std::vector<std::pair<std::string_view, std::string_view>>;

// The first header named `name` (compared case-insensitively).
inline std::optional<std::string_view> find_header(const HeaderViews& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return v;
  return std::nullopt;
}

struct HttpResponse {
  int status = 0;
  HeaderViews headers;
  std::string_view body;
  std::string_view transport_error;

  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
};

struct InboundRequest {
  std::string_view method, path, query, body, remote_address;
  HeaderViews headers;

  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
};

struct EmitResult {
  sb_status status = SB_OK;
  std::string_view event_id, message, report_json;
  uint32_t execution_count = 0, executions_done = 0;
  bool all_done() const { return status == SB_OK && executions_done == execution_count; }
};

// Answers one inbound request, from any thread. Copies share one request: the
// first answer wins; if every copy is dropped unanswered, the request gets 500.
class Responder {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  Responder(const sb_host* host, const sb_host_webhooks_v1* api, sb_responder* r)
      : state_(std::make_shared<State>(host, api, r)) {}

  void respond(int status, std::string_view content_type, std::string_view body, const Headers& headers = {}) {
    state_->respond(status, content_type, body, headers);
  }

 private:
  struct State {
    State(const sb_host* h, const sb_host_webhooks_v1* a, sb_responder* r) : host(h), api(a), responder(r) {}
    ~State() { respond(500, "application/json", R"({"error":{"code":"plugin_error","message":"no response"}})", {}); }
    void respond(int status, std::string_view content_type, std::string_view body, const Headers& headers) {
      sb_responder* r = responder.exchange(nullptr);
      if (!r) return;
      std::vector<sb_header> views;
      for (const auto& [k, v] : headers) views.push_back({str(k), str(v)});
      sb_outbound_response out{sizeof(out), status, str(content_type), str(body), views.data(), views.size()};
      api->respond(host, r, &out);
    }
    const sb_host* host;
    const sb_host_webhooks_v1* api;
    std::atomic<sb_responder*> responder;
  };
  std::shared_ptr<State> state_;
};

// The host as seen by one plugin instance. Every service is optional at the
// ABI level; a missing one makes the corresponding call fail softly.
class Host {
 public:
  using ResponseHandler = std::function<void(const HttpResponse&)>;
  using EmitHandler = std::function<void(const EmitResult&)>;
  using RouteHandler = std::function<void(const InboundRequest&, Responder)>;

  explicit Host(const sb_host* host) : host_(host) {
    log_ = service<sb_host_log_v1>(SB_SERVICE_LOG);
    metrics_ = service<sb_host_metrics_v1>(SB_SERVICE_METRICS);
    http_ = service<sb_host_http_client_v1>(SB_SERVICE_HTTP_CLIENT);
    kv_ = service<sb_host_kv_v1>(SB_SERVICE_KV);
    secrets_ = service<sb_host_secrets_v1>(SB_SERVICE_SECRETS);
    clock_ = service<sb_host_clock_v1>(SB_SERVICE_CLOCK);
    outbox_ = service<sb_host_outbox_v1>(SB_SERVICE_OUTBOX);
    events_ = service<sb_host_events_v1>(SB_SERVICE_EVENTS);
    webhooks_ = service<sb_host_webhooks_v1>(SB_SERVICE_WEBHOOKS);
    crm_ = service<sb_host_crm_v1>(SB_SERVICE_CRM);
    tracking_ = service<sb_host_tracking_v1>(SB_SERVICE_TRACKING);
  }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const sb_host* raw() const { return host_; }
  std::string_view instance_name() const { return view(host_->instance_name); }

  void log(sb_log_level level, std::string_view message, std::string_view fields_json = {}) const {
    if (log_) log_->log(host_, level, str(message), str(fields_json));
  }
  void info(std::string_view m, std::string_view f = {}) const { log(SB_LOG_INFO, m, f); }
  void warn(std::string_view m, std::string_view f = {}) const { log(SB_LOG_WARN, m, f); }
  void error(std::string_view m, std::string_view f = {}) const { log(SB_LOG_ERROR, m, f); }

  void count(std::string_view name, double v = 1) const {
    if (metrics_) metrics_->counter_add(host_, str(name), v);
  }
  void observe(std::string_view name, double v) const {
    if (metrics_) metrics_->histogram_observe(host_, str(name), v);
  }

  int64_t now_unix_ms() const { return clock_ ? clock_->now_unix_ms(host_) : 0; }

  std::optional<std::string> secret(std::string_view name) const {
    return secrets_ ? read(secrets_->get, name) : std::nullopt;
  }
  std::optional<std::string> kv_get(std::string_view key) const { return kv_ ? read(kv_->get, key) : std::nullopt; }
  bool kv_put(std::string_view key, std::string_view value) const {
    return kv_ && kv_->put(host_, str(key), str(value)) == SB_OK;
  }
  bool kv_remove(std::string_view key) const { return kv_ && kv_->remove(host_, str(key)) == SB_OK; }

  // The same without blocking (a 1.1 host), for on_action_invoke and [io]
  // threads: the handler runs once, on the host's store thread, unless this
  // returns something other than SB_OK. A get's answer is SB_OK with the
  // value or SB_ERR_NOT_FOUND.
  using KvHandler = std::function<void(sb_status, std::string_view value)>;
  bool has_kv_async() const { return kv_ && SB_HAS_FIELD(kv_, sb_host_kv_v1, remove_async); }
  sb_status kv_get_async(std::string_view key, KvHandler on_value) const {
    if (!has_kv_async()) return SB_ERR_UNSUPPORTED;
    auto handler = std::make_unique<KvHandler>(std::move(on_value));
    const sb_status status = kv_->get_async(host_, str(key), &Host::on_kv_value, handler.get());
    if (status == SB_OK) handler.release();  // freed by on_kv_value
    return status;
  }
  sb_status kv_put_async(std::string_view key, std::string_view value, KvHandler on_done) const {
    if (!has_kv_async()) return SB_ERR_UNSUPPORTED;
    auto handler = std::make_unique<KvHandler>(std::move(on_done));
    const sb_status status = kv_->put_async(host_, str(key), str(value), &Host::on_kv_done, handler.get());
    if (status == SB_OK) handler.release();  // freed by on_kv_done
    return status;
  }
  sb_status kv_remove_async(std::string_view key, KvHandler on_done) const {
    if (!has_kv_async()) return SB_ERR_UNSUPPORTED;
    auto handler = std::make_unique<KvHandler>(std::move(on_done));
    const sb_status status = kv_->remove_async(host_, str(key), &Host::on_kv_done, handler.get());
    if (status == SB_OK) handler.release();  // freed by on_kv_done
    return status;
  }

  bool outbox(std::string_view record_json) const {
    return outbox_ && outbox_->write(host_, str(record_json)) == SB_OK;
  }

  // Sends a request; `on_response` runs once on a host I/O thread unless this
  // returns something other than SB_OK.
  sb_status http(const HttpRequest& request, ResponseHandler on_response) const {
    if (!http_) return SB_ERR_UNSUPPORTED;
    std::vector<sb_header> headers;
    for (const auto& [k, v] : request.headers) headers.push_back({str(k), str(v)});
    sb_http_request r{sizeof(r),      str(request.method), str(request.url),  headers.data(),
                      headers.size(), str(request.body),   request.timeout_ms};
    auto handler = std::make_unique<ResponseHandler>(std::move(on_response));
    const sb_status status = http_->request(host_, &r, &Host::on_http_response, handler.get());
    if (status == SB_OK) handler.release();  // freed by on_http_response
    return status;
  }

  // Emits an event; `on_emitted` runs once unless this returns something
  // other than SB_OK.
  sb_status emit(std::string_view type, std::string_view id, std::string_view payload_json, sb_emit_wait wait,
                 EmitHandler on_emitted) const {
    if (!events_) return SB_ERR_UNSUPPORTED;
    sb_event ev{sizeof(ev), str(type), str(id), str(payload_json)};
    auto handler = std::make_unique<EmitHandler>(std::move(on_emitted));
    const sb_status status = events_->emit(host_, &ev, wait, &Host::on_emitted, handler.get());
    if (status == SB_OK) handler.release();  // freed by on_emitted
    return status;
  }

  // Adds an event type (or "prefix.*") this instance may emit beyond its
  // plugin's trigger names. Call from the plugin's constructor.
  // True also on a host older than 1.1, which restricts no type.
  bool declare_event_type(std::string_view type) const {
    if (!events_ || !SB_HAS_FIELD(events_, sb_host_events_v1, declare)) return true;
    return events_->declare(host_, str(type)) == SB_OK;
  }

  // switchboard.crm/1: the records the host keeps, if this instance is
  // granted them (ABI 1.1).
  bool has_crm() const { return crm_ != nullptr; }
  // A tracked link for the call in flight with this key (see
  // sb_host_tracking_v1): "open", "click" (to `url`) or "unsubscribe".
  // Nothing when the host does not track or knows no such call.
  std::optional<std::string> tracking_link(std::string_view call_key, std::string_view kind, std::string_view channel,
                                           std::string_view message_id, std::string_view url = {}) const {
    if (!tracking_) return std::nullopt;
    std::optional<std::string> out;
    auto sink = [](void* user, sb_str v) { static_cast<std::optional<std::string>*>(user)->emplace(view(v)); };
    if (tracking_->link(host_, str(call_key), str(kind), str(channel), str(message_id), str(url), sink, &out) != SB_OK)
      return std::nullopt;
    return out;
  }
  // A contact ("contact", its id or key) or an entity (its type, its id) as
  // JSON; nothing when there is none or no grant.
  std::optional<std::string> crm_get(std::string_view kind, std::string_view id) const {
    std::string out;
    if (crm_get(kind, id, out) != SB_OK) return std::nullopt;
    return out;
  }
  // The same, with the host's answer: SB_OK and the JSON in `out`;
  // SB_ERR_NOT_FOUND when there is none; another status when it could not be
  // read (try again later) or there is no grant.
  sb_status crm_get(std::string_view kind, std::string_view id, std::string& out) const {
    if (!crm_) return SB_ERR_UNSUPPORTED;
    auto sink = [](void* user, sb_str v) { static_cast<std::string*>(user)->assign(view(v)); };
    return crm_->get(host_, str(kind), str(id), sink, &out);
  }
  // {"items": [...], "next": ...} for the contacts the filter matches.
  std::optional<std::string> crm_query(std::string_view filter_json, std::string_view after, uint32_t limit) const {
    if (!crm_) return std::nullopt;
    std::optional<std::string> out;
    auto sink = [](void* user, sb_str v) { static_cast<std::optional<std::string>*>(user)->emplace(view(v)); };
    if (crm_->query(host_, str(filter_json), str(after), limit, sink, &out) != SB_OK) return std::nullopt;
    return out;
  }
  // {"items": [...], "next": ...} for the entities of `type` the filter
  // matches; nothing without a grant or from a host older than ABI 1.2.
  std::optional<std::string> crm_query_entities(std::string_view type, std::string_view filter_json,
                                                std::string_view after, uint32_t limit) const {
    if (!crm_ || !SB_HAS_FIELD(crm_, sb_host_crm_v1, query_entities)) return std::nullopt;
    std::optional<std::string> out;
    auto sink = [](void* user, sb_str v) { static_cast<std::optional<std::string>*>(user)->emplace(view(v)); };
    if (crm_->query_entities(host_, str(type), str(filter_json), str(after), limit, sink, &out) != SB_OK)
      return std::nullopt;
    return out;
  }
  // Applies a change for the call in flight with this key; `on_applied`
  // runs once (status, and the event's id or why not) unless this returns
  // something other than SB_OK.
  using CrmHandler = std::function<void(sb_status, std::string_view)>;
  sb_status crm_apply(std::string_view call_key, std::string_view change_json, CrmHandler on_applied) const {
    if (!crm_) return SB_ERR_UNSUPPORTED;
    auto handler = std::make_unique<CrmHandler>(std::move(on_applied));
    const sb_status status = crm_->apply(host_, str(call_key), str(change_json), &Host::on_crm_applied, handler.get());
    if (status == SB_OK) handler.release();  // freed by on_crm_applied
    return status;
  }

  // Routes `path` to `handler` for the life of the instance. Call from the
  // plugin's constructor, last: once routed, requests may arrive.
  bool add_route(std::string_view path, RouteHandler handler) {
    if (!webhooks_) return false;
    auto& stored = routes_.emplace_back(Route{this, std::move(handler)});
    if (webhooks_->add_route(host_, str(path), &Host::on_request, &stored) == SB_OK) return true;
    routes_.pop_back();
    return false;
  }

 private:
  struct Route {
    Host* host;
    RouteHandler handler;
  };

  template <class T>
  const T* service(const char* id) const {
    auto* s = static_cast<const T*>(host_->get_service ? host_->get_service(host_, id) : nullptr);
    return s && s->struct_size >= sizeof(T) ? s : nullptr;
  }

  template <class Get>
  std::optional<std::string> read(Get get, std::string_view key) const {
    std::optional<std::string> out;
    auto sink = [](void* user, sb_str v) { static_cast<std::optional<std::string>*>(user)->emplace(view(v)); };
    if (get(host_, str(key), sink, &out) != SB_OK) return std::nullopt;
    return out;
  }

  template <class H>
  static std::vector<std::pair<std::string_view, std::string_view>> pairs(const H* h, size_t n) {
    std::vector<std::pair<std::string_view, std::string_view>> out;
    for (size_t i = 0; i < n; ++i) out.emplace_back(view(h[i].name), view(h[i].value));
    return out;
  }

  static void on_http_response(void* user, const sb_http_response* r) {
    std::unique_ptr<ResponseHandler> handler(static_cast<ResponseHandler*>(user));
    HttpResponse resp;
    resp.status = r->status;
    resp.headers = pairs(r->headers, r->header_count);
    resp.body = view(r->body);
    resp.transport_error = view(r->transport_error);
    try {
      (*handler)(resp);
    } catch (...) {
      // An I/O thread must never see an exception. An action whose handler
      // threw before completing fails at its deadline ("no completion").
    }
  }

  static void on_emitted(void* user, const sb_emit_result* r) {
    std::unique_ptr<EmitHandler> handler(static_cast<EmitHandler*>(user));
    try {
      EmitResult result{r->status, view(r->event_id), view(r->message), view(r->report_json)};
      if (SB_HAS_FIELD(r, sb_emit_result, executions_done)) {
        result.execution_count = r->execution_count;
        result.executions_done = r->executions_done;
      } else {
        result.execution_count = 1;  // a host that does not say: nothing proves success
      }
      (*handler)(result);
    } catch (...) {
    }
  }

  static void on_kv_value(void* user, sb_status status, sb_str value) {
    std::unique_ptr<KvHandler> handler(static_cast<KvHandler*>(user));
    try {
      (*handler)(status, view(value));
    } catch (...) {  // nothing crosses into the host
    }
  }
  static void on_kv_done(void* user, sb_status status) { on_kv_value(user, status, {}); }
  static void on_crm_applied(void* user, sb_status status, sb_str result) {
    std::unique_ptr<CrmHandler> handler(static_cast<CrmHandler*>(user));
    try {
      (*handler)(status, view(result));
    } catch (...) {
    }
  }

  static void on_request(void* user, const sb_inbound_request* r, sb_responder* responder) {
    auto* route = static_cast<Route*>(user);
    InboundRequest req{view(r->method), view(r->path),           view(r->query),
                       view(r->body),   view(r->remote_address), pairs(r->headers, r->header_count)};
    Responder resp(route->host->host_, route->host->webhooks_, responder);
    try {
      route->handler(req, resp);
    } catch (const std::exception& e) {
      route->host->error(std::string("webhook handler threw: ") + e.what());
    } catch (...) {
      route->host->error("webhook handler threw an unknown exception");
    }
  }

  const sb_host* host_;
  const sb_host_log_v1* log_ = nullptr;
  const sb_host_metrics_v1* metrics_ = nullptr;
  const sb_host_http_client_v1* http_ = nullptr;
  const sb_host_kv_v1* kv_ = nullptr;
  const sb_host_secrets_v1* secrets_ = nullptr;
  const sb_host_clock_v1* clock_ = nullptr;
  const sb_host_outbox_v1* outbox_ = nullptr;
  const sb_host_events_v1* events_ = nullptr;
  const sb_host_webhooks_v1* webhooks_ = nullptr;
  const sb_host_crm_v1* crm_ = nullptr;
  const sb_host_tracking_v1* tracking_ = nullptr;
  std::list<Route> routes_;  // stable addresses: the host holds pointers to them
};

// ------------------------------------------------------------ plugin base

// One configured instance of a plugin. Construct from (Host&, config JSON);
// throw ConfigError for a config the schema could not catch.
//
// A plugin class that also defines `void cancel(Completion call)` hears when
// the host gave up on a call in flight (on_action_cancel, ABI 1.1): its
// deadline passed, and the step will run again, or the host is shutting
// down. Stop the work if you can (abort the provider request) and free what
// belongs to the call; completing it is ignored. At most once per call, after
// invoke() returned, from any thread; must not block. A class without one
// costs the host nothing per call.
class Plugin {
 public:
  virtual ~Plugin() = default;
  // Starts an action; must not block. Call `done` once, now or later.
  virtual void invoke(const ActionCall& call, Completion done) {
    done(ActionResult::invalid_params("unknown action '" + std::string(call.action) + "'"));
  }
  virtual void start() {}
  virtual void stop() {}
};

struct Capability {
  std::string name;
  std::string description;
  std::string schema_json;
  // Actions only: the provider does the work once per idempotency key
  // (SB_CAPABILITY_RETRY_SAFE).
  bool retry_safe = false;
};

struct PluginInfo {
  std::string name;
  std::string version;
  std::string vendor;
  std::string description;
  std::string config_schema_json;
  std::vector<Capability> actions;
  std::vector<Capability> triggers;
};

namespace detail {

template <class P>
struct Adapter {
  static_assert(std::is_base_of_v<Plugin, P>, "a plugin class must derive from switchboard::Plugin");
  static_assert(std::is_constructible_v<P, Host&, std::string_view>,
                "a plugin class needs a constructor P(switchboard::Host&, std::string_view config_json)");

  // The Host outlives the plugin: members are destroyed in reverse order.
  struct Instance {
    explicit Instance(const sb_host* h) : host(h) {}
    Host host;
    std::unique_ptr<P> plugin;
  };
  static Instance* self(sb_instance* i) { return reinterpret_cast<Instance*>(i); }

  static sb_status create(const sb_host* host, sb_str config, sb_instance** out,
                          const sb_error_buffer* error) noexcept {
    try {
      auto instance = std::make_unique<Instance>(host);
      instance->plugin = std::make_unique<P>(instance->host, view(config));
      *out = reinterpret_cast<sb_instance*>(instance.release());
      return SB_OK;
    } catch (const ConfigError& e) {
      write_error(error, e.what());
      return SB_ERR_INVALID_ARGUMENT;
    } catch (const std::exception& e) {
      write_error(error, e.what());
      return SB_ERR_INTERNAL;
    } catch (...) {
      write_error(error, "unknown exception");
      return SB_ERR_INTERNAL;
    }
  }

  static void destroy(sb_instance* instance) noexcept {
    try {
      delete self(instance);
    } catch (...) {
    }
  }

  static sb_status invoke(sb_instance* instance, const sb_action_call* call, sb_completion* completion,
                          const sb_error_buffer*) noexcept {
    Instance* in = self(instance);
    // After an exception the trampoline reports it; if the plugin had
    // completed before throwing, the host keeps that first report.
    try {
      ActionCall c{view(call->action), view(call->params_json), view(call->idempotency_key),
                   call->attempt,      call->deadline_unix_ms,  {}};
      if (SB_HAS_FIELD(call, sb_action_call, subject_json)) c.subject_json = view(call->subject_json);
      in->plugin->invoke(c, Completion(in->host.raw(), completion));
    } catch (const std::exception& e) {
      report(in->host.raw(), completion, ActionResult::permanent(std::string("plugin threw: ") + e.what()));
    } catch (...) {
      report(in->host.raw(), completion, ActionResult::permanent("plugin threw an unknown exception"));
    }
    return SB_OK;
  }

  // Instantiated only for a plugin class that defines cancel().
  static void cancel(sb_instance* instance, sb_completion* completion) noexcept {
    Instance* in = self(instance);
    try {
      in->plugin->cancel(Completion(in->host.raw(), completion));
    } catch (...) {
    }
  }

  static sb_status start(sb_instance* instance, const sb_error_buffer* error) noexcept {
    try {
      self(instance)->plugin->start();
      return SB_OK;
    } catch (const std::exception& e) {
      write_error(error, e.what());
    } catch (...) {
      write_error(error, "unknown exception");
    }
    return SB_ERR_INTERNAL;
  }

  static void stop(sb_instance* instance) noexcept {
    try {
      self(instance)->plugin->stop();
    } catch (...) {
    }
  }
};

// Whether a plugin class defines cancel(Completion) (C++17: the SDK's floor).
template <class P, class = void>
struct HasCancel : std::false_type {};
template <class P>
struct HasCancel<P, std::void_t<decltype(std::declval<P&>().cancel(std::declval<Completion>()))>> : std::true_type {};

// Owns the storage behind the descriptor's views for the library's lifetime.
struct DescriptorStorage {
  PluginInfo info;
  std::vector<sb_capability> actions, triggers;
  std::vector<const sb_capability*> action_ptrs, trigger_ptrs;
  sb_plugin_descriptor descriptor{};

  static void fill(const std::vector<Capability>& in, std::vector<sb_capability>& caps,
                   std::vector<const sb_capability*>& ptrs) {
    for (const auto& c : in)
      caps.push_back({sizeof(sb_capability), str(c.name), str(c.description), str(c.schema_json),
                      c.retry_safe ? SB_CAPABILITY_RETRY_SAFE : 0u});
    for (const auto& c : caps) ptrs.push_back(&c);
  }

  template <class P>
  explicit DescriptorStorage(PluginInfo i, P*) : info(std::move(i)) {
    fill(info.actions, actions, action_ptrs);
    fill(info.triggers, triggers, trigger_ptrs);
    sb_plugin_descriptor& d = descriptor;
    d.struct_size = sizeof(d);
    d.abi_version = {SB_ABI_VERSION_MAJOR, SB_ABI_VERSION_MINOR, SB_ABI_VERSION_PATCH};
    d.name = str(info.name);
    d.version = str(info.version);
    d.vendor = str(info.vendor);
    d.description = str(info.description);
    d.config_schema_json = str(info.config_schema_json);
    d.actions = action_ptrs.data();
    d.action_count = action_ptrs.size();
    d.triggers = trigger_ptrs.data();
    d.trigger_count = trigger_ptrs.size();
    d.on_instance_create = &Adapter<P>::create;
    d.on_instance_destroy = &Adapter<P>::destroy;
    d.on_action_invoke = &Adapter<P>::invoke;
    d.on_instance_start = &Adapter<P>::start;
    d.on_instance_stop = &Adapter<P>::stop;
    if constexpr (HasCancel<P>::value) d.on_action_cancel = &Adapter<P>::cancel;
  }
};

}  // namespace detail
}  // namespace switchboard

// Exports PluginClass through the ABI entry point. `info_function` returns a
// switchboard::PluginInfo; it runs once, on the first lookup.
#define SWITCHBOARD_PLUGIN(PluginClass, info_function)                                                   \
  extern "C" SB_EXPORT const sb_plugin_descriptor* switchboard_plugin_entry(void) {                      \
    try {                                                                                                \
      static const ::switchboard::detail::DescriptorStorage storage(info_function(),                     \
                                                                    static_cast<PluginClass*>(nullptr)); \
      return &storage.descriptor;                                                                        \
    } catch (...) {                                                                                      \
      return nullptr; /* the host reports "no descriptor" */                                             \
    }                                                                                                    \
  }

#endif  // SWITCHBOARD_PLUGIN_HPP
