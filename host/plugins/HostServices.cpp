#include "plugins/HostServices.h"

#include <chrono>
#include <cmath>
#include <cstring>

#include "http/HttpClient.h"
#include "http/WebhookRoutes.h"
#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "plugins/PendingCalls.h"
#include "store/Outbox.h"
#include "store/Store.h"
#include "util/JsonText.h"
#include "util/TrackingTokens.h"

namespace sb {

using nlohmann::json;

namespace {

constexpr size_t kMaxText = 16 << 20;

// A view from a plugin: an empty string for null/absurd input.
std::string text(sb_str s) {
  if (!s.ptr || s.len == 0 || s.len > kMaxText) return {};
  return std::string(s.ptr, s.len);
}
sb_str view(const std::string& s) { return sb_str{s.data(), s.size()}; }

InstanceHost* self(const sb_host* host) { return host ? static_cast<InstanceHost*>(host->host_data) : nullptr; }

Labels labels(const InstanceHost& h) { return {{"plugin", h.plugin}, {"instance", h.instance}}; }

json fields_of(const InstanceHost& h, sb_str fields_json) {
  json fields = json::object();
  const std::string raw = text(fields_json);
  if (!raw.empty()) {
    json parsed = parse_bounded(raw);
    if (parsed.is_object())
      fields = std::move(parsed);
    else
      fields["fields"] = raw;
  }
  fields["plugin"] = h.plugin;
  fields["instance"] = h.instance;
  return fields;
}

// ---- log
void log_fn(const sb_host* host, sb_log_level level, sb_str message, sb_str fields_json) {
  InstanceHost* h = self(host);
  if (!h) return;
  int raw;  // the bytes, not the enum: a plugin may pass any value
  static_assert(sizeof raw == sizeof level);
  std::memcpy(&raw, &level, sizeof raw);
  const LogLevel l = raw <= 0 ? LogLevel::debug : raw >= 3 ? LogLevel::error : static_cast<LogLevel>(raw);
  if (!Logger::instance().enabled(l)) return;
  Logger::instance().log(l, "plugin", text(message), fields_of(*h, fields_json));
}
const sb_host_log_v1 kLog{sizeof(sb_host_log_v1), log_fn};

// ---- metrics
// A plugin's figures that the exposition format cannot carry are dropped:
// a counter that does not only grow (negative, NaN, infinite), a NaN or
// infinite observation, a name already used for the other kind.
void counter_fn(const sb_host* host, sb_str name, double value) {
  InstanceHost* h = self(host);
  if (!h || !name.ptr || name.len == 0 || name.len > 128) return;  // valid names are shorter
  if (!std::isfinite(value) || value < 0) return;
  const std::string_view key(name.ptr, name.len);
  {
    std::shared_lock lock(h->counters_mutex);
    auto it = h->counters.find(key);
    if (it != h->counters.end()) return it->second->add(value);
  }
  const std::string n = text(name);
  if (!Metrics::valid_name(n) || h->deps->metrics->is_histogram("switchboard_plugin_" + n)) return;
  Counter& counter = h->deps->metrics->counter("switchboard_plugin_" + n, labels(*h));
  {
    std::unique_lock lock(h->counters_mutex);
    h->counters.emplace(n, &counter);
  }
  counter.add(value);
}
void histogram_fn(const sb_host* host, sb_str name, double value) {
  InstanceHost* h = self(host);
  const std::string n = text(name);
  if (!h || !std::isfinite(value) || !Metrics::valid_name(n) || h->deps->metrics->is_counter("switchboard_plugin_" + n))
    return;
  h->deps->metrics->observe("switchboard_plugin_" + n, labels(*h), value);
}
const sb_host_metrics_v1 kMetrics{sizeof(sb_host_metrics_v1), counter_fn, histogram_fn};

// ---- http client
sb_status http_request_fn(const sb_host* host, const sb_http_request* request, sb_on_http_response on_response,
                          void* user_data) {
  InstanceHost* h = self(host);
  if (!h || !request || !on_response || request->struct_size < offsetof(sb_http_request, timeout_ms))
    return SB_ERR_INVALID_ARGUMENT;
  if (!h->deps->http) return SB_ERR_UNAVAILABLE;  // `switchboard validate` creates instances that send nothing
  OutboundRequest out;
  out.method = text(request->method);
  out.url = text(request->url);
  if (out.method.empty()) out.method = "GET";
  if (out.url.rfind("http://", 0) != 0 && out.url.rfind("https://", 0) != 0) return SB_ERR_INVALID_ARGUMENT;
  if (request->header_count > 0 && !request->headers) return SB_ERR_INVALID_ARGUMENT;
  if (request->body.len > kMaxText || request->url.len > kMaxText) return SB_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < request->header_count && i < 256; ++i)
    out.headers.emplace_back(text(request->headers[i].name), text(request->headers[i].value));
  out.body = text(request->body);
  if (SB_HAS_FIELD(request, sb_http_request, timeout_ms)) out.timeout = std::chrono::milliseconds(request->timeout_ms);
  const bool sent = h->deps->http->send(std::move(out), [on_response, user_data](OutboundResponse&& r) {
    std::vector<sb_header> headers;
    headers.reserve(r.headers.size());
    for (const auto& [k, v] : r.headers) headers.push_back({view(k), view(v)});
    sb_http_response resp{sizeof(sb_http_response), r.status,     headers.data(),
                          headers.size(),           view(r.body), view(r.transport_error)};
    on_response(user_data, &resp);
  });
  return sent ? SB_OK : SB_ERR_UNAVAILABLE;
}
const sb_host_http_client_v1 kHttp{sizeof(sb_host_http_client_v1), http_request_fn};

// ---- kv
sb_status kv_get_fn(const sb_host* host, sb_str key, sb_on_value on_value, void* user_data) {
  InstanceHost* h = self(host);
  if (!h || !on_value || !h->deps->kv) return SB_ERR_INVALID_ARGUMENT;
  try {
    auto value = h->deps->kv->kv_get(h->instance, text(key));
    if (!value) return SB_ERR_NOT_FOUND;
    on_value(user_data, view(*value));
    return SB_OK;
  } catch (const std::exception& e) {
    log_error("kv", "get failed", {{"instance", h->instance}, {"error", e.what()}});
    return SB_ERR_INTERNAL;
  }
}
sb_status kv_put_fn(const sb_host* host, sb_str key, sb_str value) {
  InstanceHost* h = self(host);
  if (!h || !h->deps->kv || key.len == 0) return SB_ERR_INVALID_ARGUMENT;
  try {
    h->deps->kv->kv_put(h->instance, text(key), text(value));
    return SB_OK;
  } catch (const std::exception& e) {
    log_error("kv", "put failed", {{"instance", h->instance}, {"error", e.what()}});
    return SB_ERR_INTERNAL;
  }
}
sb_status kv_remove_fn(const sb_host* host, sb_str key) {
  InstanceHost* h = self(host);
  if (!h || !h->deps->kv) return SB_ERR_INVALID_ARGUMENT;
  try {
    h->deps->kv->kv_remove(h->instance, text(key));
    return SB_OK;
  } catch (const std::exception& e) {
    log_error("kv", "remove failed", {{"instance", h->instance}, {"error", e.what()}});
    return SB_ERR_INTERNAL;
  }
}
// The async calls run on the store's thread. Runtime::stop stops the
// instances (no more are accepted), flushes the store (every one accepted is
// answered), and only then destroys them.
sb_status kv_async(const sb_host* host, KeyValueStore::KvOp op, sb_str key, sb_str value,
                   std::function<void(sb_status, const std::optional<std::string>&)> done) {
  InstanceHost* h = self(host);
  if (!h || !h->deps->kv || (op != KeyValueStore::KvOp::kGet && key.len == 0)) return SB_ERR_INVALID_ARGUMENT;
  if (h->stopped) return SB_ERR_UNAVAILABLE;
  try {
    h->deps->kv->kv_async(op, h->instance, text(key), text(value),
                          [h, done = std::move(done)](const StoreStatus& s, const std::optional<std::string>& found) {
                            if (!s.ok())
                              log_error("kv", "async call failed", {{"instance", h->instance}, {"error", s.message}});
                            done(s.ok() ? SB_OK : SB_ERR_INTERNAL, found);
                          });
    return SB_OK;
  } catch (const std::exception& e) {
    log_error("kv", "async call refused", {{"instance", h->instance}, {"error", e.what()}});
    return SB_ERR_INTERNAL;
  }
}
sb_status kv_get_async_fn(const sb_host* host, sb_str key, sb_on_kv_value done, void* user_data) {
  if (!done) return SB_ERR_INVALID_ARGUMENT;
  return kv_async(host, KeyValueStore::KvOp::kGet, key, {}, [done, user_data](sb_status s, const auto& found) {
    if (s == SB_OK && !found) s = SB_ERR_NOT_FOUND;
    done(user_data, s, found ? view(*found) : sb_str{});
  });
}
sb_status kv_put_async_fn(const sb_host* host, sb_str key, sb_str value, sb_on_kv_done done, void* user_data) {
  return kv_async(host, KeyValueStore::KvOp::kPut, key, value, [done, user_data](sb_status s, const auto&) {
    if (done) done(user_data, s);
  });
}
sb_status kv_remove_async_fn(const sb_host* host, sb_str key, sb_on_kv_done done, void* user_data) {
  return kv_async(host, KeyValueStore::KvOp::kRemove, key, {}, [done, user_data](sb_status s, const auto&) {
    if (done) done(user_data, s);
  });
}
const sb_host_kv_v1 kKv{sizeof(sb_host_kv_v1), kv_get_fn,       kv_put_fn,         kv_remove_fn,
                        kv_get_async_fn,       kv_put_async_fn, kv_remove_async_fn};

// ---- secrets
sb_status secret_get_fn(const sb_host* host, sb_str name, sb_on_value on_value, void* user_data) {
  InstanceHost* h = self(host);
  if (!h || !on_value) return SB_ERR_INVALID_ARGUMENT;
  const std::string wanted = text(name);
  const auto allowed = h->deps->instance_secrets.find(h->instance);
  if (allowed == h->deps->instance_secrets.end() || !allowed->second.count(wanted)) {
    // Not found either way, so that a plugin cannot probe which secrets exist.
    log_warn("secrets", "an instance asked for a secret its config does not reference",
             {{"instance", h->instance}, {"secret", wanted}});
    return SB_ERR_NOT_FOUND;
  }
  auto it = h->deps->secrets.find(wanted);
  if (it == h->deps->secrets.end()) return SB_ERR_NOT_FOUND;
  on_value(user_data, view(it->second));
  return SB_OK;
}
const sb_host_secrets_v1 kSecrets{sizeof(sb_host_secrets_v1), secret_get_fn};

// ---- clock
int64_t now_fn(const sb_host*) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
int64_t monotonic_fn(const sb_host*) {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}
const sb_host_clock_v1 kClock{sizeof(sb_host_clock_v1), now_fn, monotonic_fn};

// ---- outbox
sb_status outbox_write_fn(const sb_host* host, sb_str record_json) {
  InstanceHost* h = self(host);
  if (!h || !h->deps->outbox) return SB_ERR_UNSUPPORTED;
  json record = parse_bounded(text(record_json));
  if (!record.is_object()) return SB_ERR_INVALID_ARGUMENT;
  try {
    h->deps->outbox->write(h->plugin, h->instance, std::move(record));
    return SB_OK;
  } catch (const std::exception& e) {
    log_error("outbox", "write failed", {{"instance", h->instance}, {"error", e.what()}});
    return SB_ERR_INTERNAL;
  }
}
const sb_host_outbox_v1 kOutbox{sizeof(sb_host_outbox_v1), outbox_write_fn};

// ---- events
thread_local const InvokingCall* tls_invoking = nullptr;
}  // namespace

InvokingCall::InvokingCall(const InstanceHost* host, const CallSubject& subject)
    : host_(host), depth_(subject.chain_depth), outer_(tls_invoking) {
  tls_invoking = this;
}
InvokingCall::~InvokingCall() { tls_invoking = outer_; }
std::optional<int> InvokingCall::depth_in(const InstanceHost* host) {
  for (const InvokingCall* call = tls_invoking; call; call = call->outer_)
    if (call->host_ == host) return call->depth_;
  return std::nullopt;
}

namespace {
sb_status emit_fn(const sb_host* host, const sb_event* event, sb_emit_wait wait, sb_on_emitted on_emitted,
                  void* user_data) {
  InstanceHost* h = self(host);
  // An event of ABI 1.0's size is whole: fields appended later are read only when present.
  constexpr size_t kEvent10 = offsetof(sb_event, payload_json) + sizeof(sb_str);
  if (!h || !event || !on_emitted || event->struct_size < kEvent10) return SB_ERR_INVALID_ARGUMENT;
  if (!h->deps->events) return SB_ERR_UNAVAILABLE;
  int raw_wait;  // the bytes, not the enum: a plugin may pass any value
  static_assert(sizeof raw_wait == sizeof wait);
  std::memcpy(&raw_wait, &wait, sizeof raw_wait);
  if (raw_wait != SB_EMIT_WAIT_ACCEPTED && raw_wait != SB_EMIT_WAIT_COMPLETED) return SB_ERR_INVALID_ARGUMENT;
  EmittedEvent ev;
  ev.type = text(event->type);
  ev.id = text(event->id);
  ev.source = h->instance;
  // Stored as JSON text and read back as it: bytes that are not UTF-8 would
  // read back otherwise than they were emitted.
  if (ev.type.empty() || !is_utf8(ev.type) || !is_utf8(ev.id)) return SB_ERR_INVALID_ARGUMENT;
  bool declared = false;
  {
    std::shared_lock lock(h->emits_mutex);
    declared = declares_event_type(h->emits, ev.type);
  }
  if (!declared) {
    log_warn("events", "an instance emitted an event type it does not declare; refused",
             {{"instance", h->instance}, {"plugin", h->plugin}, {"type", ev.type}});
    return SB_ERR_INVALID_ARGUMENT;
  }
  ev.payload = parse_bounded(text(event->payload_json));
  if (!ev.payload.is_object()) return SB_ERR_INVALID_ARGUMENT;
  if (const auto depth = InvokingCall::depth_in(h)) ev.chain_depth = *depth + 1;
  return h->deps->events->emit(std::move(ev), wait, [on_emitted, user_data](const EmitReport& r) {
    const std::string report = r.report.is_null() ? std::string() : dump_text(r.report);
    sb_emit_result result{sizeof(sb_emit_result), r.status,          view(r.event_id), view(r.message),
                          view(report),           r.execution_count, r.executions_done};
    on_emitted(user_data, &result);
  });
}
sb_status declare_fn(const sb_host* host, sb_str type) {
  InstanceHost* h = self(host);
  const std::string t = text(type);
  if (!h || t.empty() || t.find_first_of(" \t\r\n") != std::string::npos || !is_utf8(t)) return SB_ERR_INVALID_ARGUMENT;
  if (!h->creating) {
    log_error("events", "declare called outside on_instance_create", {{"instance", h->instance}, {"type", t}});
    return SB_ERR_INVALID_ARGUMENT;
  }
  std::unique_lock lock(h->emits_mutex);
  h->emits.push_back(t);
  return SB_OK;
}
const sb_host_events_v1 kEvents{sizeof(sb_host_events_v1), emit_fn, declare_fn};

// ---- webhooks
sb_status add_route_fn(const sb_host* host, sb_str path, sb_on_http_request handler, void* user_data) {
  InstanceHost* h = self(host);
  const std::string p = text(path);
  if (!h || !handler) return SB_ERR_INVALID_ARGUMENT;
  if (!h->creating) {
    log_error("webhooks", "add_route called outside on_instance_create", {{"instance", h->instance}});
    return SB_ERR_INVALID_ARGUMENT;
  }
  const std::string prefix = "/webhooks/";
  if (p.size() <= prefix.size() || p.rfind(prefix, 0) != 0 || p.find_first_of("?# ") != std::string::npos)
    return SB_ERR_INVALID_ARGUMENT;
  return h->deps->routes->add(p, WebhookRoute{h->instance, h, handler, user_data}) ? SB_OK : SB_ERR_INVALID_ARGUMENT;
}
void respond_fn(const sb_host* host, sb_responder* responder, const sb_outbound_response* response) {
  InstanceHost* h = self(host);
  if (!h) return;
  WebhookResponse r;
  constexpr size_t kMinSize = offsetof(sb_outbound_response, body) + sizeof(sb_str);
  // 1xx would leave the client waiting for a final answer; CR/LF in the
  // content type would split the response.
  const char* invalid = !response                                          ? "no response"
                        : response->struct_size < kMinSize                 ? "a response struct smaller than ABI 1.0's"
                        : response->status < 200 || response->status > 599 ? "a status outside 200-599"
                        : response->content_type.len > 256                 ? "a content type over 256 bytes"
                        : response->body.len > kMaxText                    ? "a body over 1 MiB"
                        : text(response->content_type).find_first_of("\r\n") != std::string::npos
                            ? "a line break in the content type"
                            : nullptr;
  if (invalid) {
    r.status = 500;
    r.content_type = "application/json";
    r.body = R"({"error":{"code":"plugin_error","message":"the plugin gave an invalid response"}})";
    nlohmann::json fields{{"plugin", h->plugin}, {"instance", h->instance}, {"problem", invalid}};
    if (response && response->struct_size >= kMinSize) fields["status"] = response->status;
    log_error("webhooks", "plugin gave an invalid response", std::move(fields));
  } else {
    r.status = response->status;
    r.content_type = text(response->content_type);
    r.body = text(response->body);
    if (SB_HAS_FIELD(response, sb_outbound_response, header_count) && response->headers)
      for (size_t i = 0; i < response->header_count && i < 64; ++i) {
        std::string name = text(response->headers[i].name), value = text(response->headers[i].value);
        // A CR or LF would let a plugin split the response.
        if (name.empty() || (name + value).find_first_of("\r\n") != std::string::npos) continue;
        r.headers.emplace_back(std::move(name), std::move(value));
      }
  }
  const auto id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(responder));
  if (!h->deps->routes->respond(id, h, std::move(r)))
    log_warn("webhooks", "response for a request that already timed out or was answered", {{"instance", h->instance}});
}
const sb_host_webhooks_v1 kWebhooks{sizeof(sb_host_webhooks_v1), add_route_fn, respond_fn};

// ---- crm
// Nothing the records service throws (a store error, a malformed change)
// may unwind into a plugin.
template <class Body>
sb_status guarded(const InstanceHost& h, const char* what, Body body) {
  try {
    return body();
  } catch (const std::exception& e) {
    log_error("crm", what, {{"instance", h.instance}, {"error", e.what()}});
    return SB_ERR_INTERNAL;
  }
}
sb_status answer(const CrmAnswer& a, sb_on_value on_value, void* user_data) {
  if (a.status == SB_OK) on_value(user_data, view(a.text));
  return a.status;
}
sb_status crm_get_fn(const sb_host* host, sb_str kind, sb_str id, sb_on_value on_value, void* user_data) {
  InstanceHost* h = self(host);
  if (!h || !h->crm_granted || !on_value) return SB_ERR_INVALID_ARGUMENT;
  return guarded(*h, "a read failed",
                 [&] { return answer(h->deps->crm->get(text(kind), text(id)), on_value, user_data); });
}
sb_status crm_query_fn(const sb_host* host, sb_str filter_json, sb_str after, uint32_t limit, sb_on_value on_value,
                       void* user_data) {
  InstanceHost* h = self(host);
  if (!h || !h->crm_granted || !on_value || limit == 0 || limit > 1000) return SB_ERR_INVALID_ARGUMENT;
  return guarded(*h, "a query failed", [&] {
    return answer(h->deps->crm->query(text(filter_json), text(after), limit), on_value, user_data);
  });
}
sb_status crm_query_entities_fn(const sb_host* host, sb_str type, sb_str filter_json, sb_str after, uint32_t limit,
                                sb_on_value on_value, void* user_data) {
  InstanceHost* h = self(host);
  if (!h || !h->crm_granted || !on_value || limit == 0 || limit > 1000) return SB_ERR_INVALID_ARGUMENT;
  return guarded(*h, "a query failed", [&] {
    return answer(h->deps->crm->query_entities(text(type), text(filter_json), text(after), limit), on_value, user_data);
  });
}
sb_status crm_apply_fn(const sb_host* host, sb_str call_key, sb_str change_json, sb_on_crm_applied done,
                       void* user_data) {
  InstanceHost* h = self(host);
  if (!h || !h->crm_granted || !done) return SB_ERR_INVALID_ARGUMENT;
  if (h->stopped) return SB_ERR_UNAVAILABLE;  // it could be answered after the instance is gone
  const std::string key = text(call_key);
  CallSubject call;
  {
    std::lock_guard lock(h->calls_mutex);
    const auto it = h->calls_in_flight.find(key);
    if (it == h->calls_in_flight.end()) {
      log_warn("crm", "a change for no action call in flight on this instance was refused",
               {{"instance", h->instance}});
      return SB_ERR_INVALID_ARGUMENT;
    }
    call = it->second.subject;
  }
  return guarded(*h, "a change failed", [&] {
    h->deps->crm->apply(call, h->instance, key, text(change_json),
                        [done, user_data](const CrmAnswer& a) { done(user_data, a.status, view(a.text)); });
    return SB_OK;
  });
}
const sb_host_crm_v1 kCrm{sizeof(sb_host_crm_v1), crm_get_fn, crm_query_fn, crm_apply_fn, crm_query_entities_fn};

// ---- tracking
bool web_url(const std::string& url) {
  return (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) && url.size() <= 4096 &&
         url.find_first_of(" \r\n\t\"<>") == std::string::npos;
}
sb_status tracking_link_fn(const sb_host* host, sb_str call_key, sb_str kind, sb_str channel, sb_str message_id,
                           sb_str url, sb_on_value on_value, void* user_data) {
  InstanceHost* h = self(host);
  if (!h || !on_value) return SB_ERR_INVALID_ARGUMENT;
  if (!h->deps->tracking) return SB_ERR_UNAVAILABLE;
  TrackedLink link;
  link.kind = text(kind);
  link.channel = text(channel);
  link.message_id = text(message_id);
  if (TrackingTokens::letter_of(link.kind).empty() || link.channel.empty() || link.channel.size() > 32 ||
      link.message_id.empty() || link.message_id.size() > 256)
    return SB_ERR_INVALID_ARGUMENT;
  if (link.kind == "click") {
    link.url = text(url);
    if (!web_url(link.url)) return SB_ERR_INVALID_ARGUMENT;
  }
  {
    std::lock_guard lock(h->calls_mutex);
    const auto it = h->calls_in_flight.find(text(call_key));
    if (it == h->calls_in_flight.end()) return SB_ERR_NOT_FOUND;
    const CallSubject& call = it->second.subject;
    link.contact_key = call.contact_key;
    link.event_id = call.event_id;
    link.rule = call.rule;
    link.step = call.step;
    link.execution_id = call.execution_id;
  }
  // Its POST opts the call's contact out: without one it could only fail.
  if (link.kind == "unsubscribe" && link.contact_key.empty()) return SB_ERR_NOT_FOUND;
  on_value(user_data, view(h->deps->tracking->url_for(link)));
  return SB_OK;
}
const sb_host_tracking_v1 kTracking{sizeof(sb_host_tracking_v1), tracking_link_fn};

// ---- core
const void* get_service_fn(const sb_host* host, const char* id) {
  InstanceHost* h = self(host);
  if (!h || !id) return nullptr;
  if (std::string_view(id) == SB_SERVICE_CRM) return h->crm_granted ? &kCrm : nullptr;
  static const std::map<std::string, const void*> kServices = {
      {SB_SERVICE_LOG, &kLog},           {SB_SERVICE_METRICS, &kMetrics},
      {SB_SERVICE_HTTP_CLIENT, &kHttp},  {SB_SERVICE_KV, &kKv},
      {SB_SERVICE_SECRETS, &kSecrets},   {SB_SERVICE_CLOCK, &kClock},
      {SB_SERVICE_OUTBOX, &kOutbox},     {SB_SERVICE_EVENTS, &kEvents},
      {SB_SERVICE_WEBHOOKS, &kWebhooks}, {SB_SERVICE_TRACKING, &kTracking}};
  auto it = kServices.find(id);
  return it == kServices.end() ? nullptr : it->second;
}

void complete_fn(const sb_host* host, sb_completion* completion, const sb_action_result* result) {
  InstanceHost* h = self(host);
  if (!h) return;
  const auto id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(completion));
  if (!h->deps->calls->complete(id, h, ActionOutcome::from_plugin(result, *h)))
    log_warn("actions", "completion ignored: the call already completed or expired",
             {{"plugin", h->plugin}, {"instance", h->instance}});
}

}  // namespace

bool declares_event_type(const std::vector<std::string>& declared, const std::string& type) {
  for (const std::string& d : declared) {
    if (d == type) return true;
    // "message.*": "message.read", not "message" nor "messages.x".
    if (d.size() > 2 && d.compare(d.size() - 2, 2, ".*") == 0 && type.size() > d.size() - 1 &&
        type.compare(0, d.size() - 1, d, 0, d.size() - 1) == 0)
      return true;
  }
  return false;
}

std::unique_ptr<InstanceHost> make_instance_host(HostDependencies& deps, std::string plugin, std::string instance) {
  auto h = std::make_unique<InstanceHost>();
  h->deps = &deps;
  h->plugin = std::move(plugin);
  h->instance = std::move(instance);
  const auto grants = deps.instance_grants.find(h->instance);
  h->crm_granted = deps.crm && grants != deps.instance_grants.end() && grants->second.count("crm");
  static const std::string kVersion = "0.1.0";
  h->table.struct_size = sizeof(sb_host);
  h->table.abi_version = {SB_ABI_VERSION_MAJOR, SB_ABI_VERSION_MINOR, SB_ABI_VERSION_PATCH};
  h->table.host_version = view(kVersion);
  h->table.instance_name = view(h->instance);
  h->table.host_data = h.get();
  h->table.get_service = get_service_fn;
  h->table.complete = complete_fn;
  return h;
}

}  // namespace sb
