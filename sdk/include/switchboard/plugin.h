/*
 * Switchboard plugin ABI, version 1.2 (SB_ABI_VERSION_*; 1.0 and 1.1 plugins load unchanged).
 *
 * A plugin is a shared library that exports one C function,
 * `switchboard_plugin_entry`, returning a constant descriptor. The host reads
 * the descriptor's head (`struct_size`, `abi_version`) before anything else and
 * refuses a plugin whose major version differs from its own, or whose minor
 * version is newer than its own.
 *
 * Versioning promise
 *   - Within a major version, structs only grow at the end. Every struct that
 *     crosses the boundary starts with `uint32_t struct_size`; a reader checks
 *     SB_HAS_FIELD(ptr, type, field) before touching a field added after 1.0.
 *   - A function table whose shape must change gets a new service id
 *     ("switchboard.kv/2"); the old one stays.
 *   - The descriptor head (struct_size, abi_version) never changes, in any
 *     major version, so that every host can explain why it refuses a plugin.
 *
 * Conventions
 *   - Strings are UTF-8 views `sb_str {ptr, len}`, not NUL-terminated.
 *   - Names: `sb_on_*` is implemented by the plugin, `sb_host_*` by the host.
 *   - Whatever can fail returns `sb_status`; results go through out-parameters
 *     or callbacks. No exception, C++ type or allocation crosses the boundary:
 *     each side frees only what it allocated.
 *   - OWNERSHIP lines say who owns each pointer and for how long it is valid.
 *
 * Threads
 *   [control]  the host's control thread: load, create, start, stop, destroy.
 *              Never called concurrently with itself.
 *   [any]      any host thread, possibly several at once for one instance.
 *   [io]       a host I/O thread; the callee must return quickly and never
 *              block (no sleeping, no synchronous network or disk I/O).
 *   [step]     (1.1) where an action starts: the pipeline's thread, the
 *              store's writer (the step after one just recorded), an HTTP
 *              client I/O thread (a call that waited for its instance's
 *              max_in_flight starts as another ends) or an HTTP server I/O
 *              thread (a webhook route that answers with the rule's result).
 *              So it is [io]: never block there. Use the *_async calls of
 *              SB_SERVICE_KV and SB_SERVICE_HTTP_CLIENT, or a thread of the
 *              plugin's own.
 */
#ifndef SWITCHBOARD_PLUGIN_H
#define SWITCHBOARD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_ABI_VERSION_MAJOR 1
#define SB_ABI_VERSION_MINOR 2
#define SB_ABI_VERSION_PATCH 0

/* The one symbol the host looks up in every plugin library. */
#define SB_PLUGIN_ENTRY_SYMBOL "switchboard_plugin_entry"

#if defined(_WIN32)
#define SB_EXPORT __declspec(dllexport)
#else
#define SB_EXPORT __attribute__((visibility("default")))
#endif

/* True when the struct at `ptr` is large enough to contain `field`. */
#define SB_HAS_FIELD(ptr, type, field) ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

/* ---------------------------------------------------------------- basics -- */

/* A UTF-8 string view. OWNERSHIP: borrowed; valid for the duration of the call
 * that received it unless the comment of that call says otherwise. */
typedef struct sb_str {
  const char* ptr;
  size_t len;
} sb_str;

typedef struct sb_version {
  uint32_t major;
  uint32_t minor;
  uint32_t patch;
} sb_version;

typedef enum sb_status {
  SB_OK = 0,
  SB_ERR_INVALID_ARGUMENT = 1, /* a parameter or the config is wrong */
  SB_ERR_NOT_FOUND = 2,        /* unknown key, route, action or service */
  SB_ERR_UNSUPPORTED = 3,      /* not offered by this side or this version */
  SB_ERR_UNAVAILABLE = 4,      /* temporarily impossible (shutting down, full) */
  SB_ERR_INTERNAL = 5          /* a bug or an unexpected failure */
} sb_status;

/* Opaque handles. Each is created and freed by one side only. */
typedef struct sb_instance sb_instance;     /* plugin-owned */
typedef struct sb_completion sb_completion; /* host-owned */
typedef struct sb_responder sb_responder;   /* host-owned */

/* A caller-supplied buffer for an error message. The callee writes at most
 * `capacity` bytes (UTF-8, no terminator needed) and sets `*length`.
 * OWNERSHIP: owned by the caller; valid for the duration of the call. */
typedef struct sb_error_buffer {
  uint32_t struct_size;
  char* data;
  size_t capacity;
  size_t* length;
} sb_error_buffer;

typedef struct sb_header {
  sb_str name;
  sb_str value;
} sb_header;

/* ---------------------------------------------------------------- actions -- */

/* How an action ended. The same words appear in the execution history. */
typedef enum sb_outcome {
  SB_OUTCOME_DONE = 0,           /* sent/done; external_id may be set */
  SB_OUTCOME_RETRY = 1,          /* transient; retry_after_s may be set */
  SB_OUTCOME_UNREACHABLE = 2,    /* the contact cannot be reached on this channel */
  SB_OUTCOME_PERMANENT = 3,      /* will never succeed; reason is kept */
  SB_OUTCOME_INVALID_PARAMS = 4, /* the rule rendered parameters the action rejects */
  /* ---- ABI 1.1 ---- */
  SB_OUTCOME_DEFERRED = 5 /* nothing was attempted (the instance is over its own
                           * sending limit): the host runs the step again after
                           * retry_after_s (at most a day, as for a retry)
                           * without counting an attempt, so a step waits
                           * instead of failing */
} sb_outcome;

/* How a 1.0 plugin says SB_OUTCOME_DEFERRED: SB_OUTCOME_RETRY with this
 * provider_code. The host still honours it. */
#define SB_PROVIDER_CODE_DEFERRED "deferred"

/* One invocation of an action.
 * OWNERSHIP: host-owned; every view is valid only until on_action_invoke
 * returns. Copy what an asynchronous completion needs. */
typedef struct sb_action_call {
  uint32_t struct_size;
  sb_str action;            /* the action's name as declared by the plugin */
  sb_str params_json;       /* a JSON object, already valid against the action's schema */
  sb_str idempotency_key;   /* stable for this step across retries; pass it on */
  uint32_t attempt;         /* 1 for the first try */
  int64_t deadline_unix_ms; /* complete before this or the host fails the step */
  /* ---- ABI 1.1; check SB_HAS_FIELD(call, sb_action_call, subject_json) ---- */
  /* What the call is about, as the host knew it when the execution started:
   * {"event": {"id", "type", "chain_depth"}, "contact": {...}, "entity":
   * {...}, "account": {...}}, each present when known. An email plugin picks
   * the recipient among the contact's addresses from it; a task plugin the
   * entity's responsible managers. */
  sb_str subject_json;
} sb_action_call;

/* OWNERSHIP: owned by the plugin; the host copies it before sb_host.complete
 * returns. */
typedef struct sb_action_result {
  uint32_t struct_size;
  sb_outcome outcome;
  sb_str external_id;     /* e.g. a provider message id; may be empty */
  sb_str reason;          /* human-readable cause for anything but DONE; never a secret */
  sb_str provider_code;   /* the provider's own error code, if any */
  uint32_t retry_after_s; /* with RETRY: earliest retry, 0 = host decides; at most a day is honoured */
  sb_str output_json;     /* optional JSON value for later steps and responses */
} sb_action_result;

/* sb_capability.flags (ABI 1.1). */
/* The action hands the call's idempotency key to a provider that does the
 * work once per key, so the host may repeat a call that was in flight when
 * it died (an HTTP API that honours Idempotency-Key). Without it the host
 * follows the rule's on_doubt for such a call (resend, or hold for an
 * operator). */
#define SB_CAPABILITY_RETRY_SAFE 1u

/* Something a plugin can do (action) or observe (trigger). The schema is JSON
 * Schema (draft 7) text for the action's parameters, or for the event
 * payload a trigger emits. OWNERSHIP: plugin-owned, static: valid as long as
 * the library is loaded. */
typedef struct sb_capability {
  uint32_t struct_size;
  sb_str name; /* [a-z0-9_.]+, unique within the plugin */
  sb_str description;
  sb_str schema_json;
  /* ---- ABI 1.1; a 1.0 capability ends before it (read as 0) ---- */
  uint32_t flags; /* SB_CAPABILITY_* */
} sb_capability;

/* ----------------------------------------------------------- host side -- */

typedef struct sb_host sb_host;

/* The table the host passes to every plugin instance. Further services are
 * looked up by id (see the service structs below).
 * OWNERSHIP: host-owned; valid from on_instance_create until
 * on_instance_destroy returns. */
struct sb_host {
  uint32_t struct_size;
  sb_version abi_version; /* the host's ABI version */
  sb_str host_version;    /* the switchboard release, e.g. "0.1.0" */
  sb_str instance_name;   /* the name the admin gave this instance */
  void* host_data;        /* opaque to the plugin */

  /* Returns the function table for `id` (e.g. SB_SERVICE_LOG), or NULL when
   * the host does not offer it. The table stays valid as long as the host.
   * Threads: [any]. */
  const void* (*get_service)(const sb_host* host, const char* id);

  /* Completes an action call exactly once, from any thread, possibly before
   * on_action_invoke returned. After this call the plugin must not use
   * `completion` again; a second completion is ignored and logged.
   * Threads: [any]. */
  void (*complete)(const sb_host* host, sb_completion* completion, const sb_action_result* result);
};

typedef enum sb_log_level { SB_LOG_DEBUG = 0, SB_LOG_INFO = 1, SB_LOG_WARN = 2, SB_LOG_ERROR = 3 } sb_log_level;

#define SB_SERVICE_LOG "switchboard.log/1"
/* Structured logging. `fields_json` is a JSON object or empty. The host
 * removes known secret values from both. Threads: [any]. */
typedef struct sb_host_log_v1 {
  uint32_t struct_size;
  void (*log)(const sb_host* host, sb_log_level level, sb_str message, sb_str fields_json);
} sb_host_log_v1;

#define SB_SERVICE_METRICS "switchboard.metrics/1"
/* Counters and histograms, exported by the host on GET /metrics as
 * switchboard_plugin_<name> with the labels {plugin, instance}. Names are
 * [a-z_][a-z0-9_]*; others are dropped. Threads: [any]. */
typedef struct sb_host_metrics_v1 {
  uint32_t struct_size;
  void (*counter_add)(const sb_host* host, sb_str name, double value);
  void (*histogram_observe)(const sb_host* host, sb_str name, double value);
} sb_host_metrics_v1;

/* OWNERSHIP: owned by the caller; copied by the host before request returns. */
typedef struct sb_http_request {
  uint32_t struct_size;
  sb_str method; /* "GET", "POST", ... */
  sb_str url;    /* absolute URL; the scheme must be http or https */
  const sb_header* headers;
  size_t header_count;
  sb_str body;
  uint32_t timeout_ms; /* whole request; 0 = host default */
} sb_http_request;

/* OWNERSHIP: host-owned; valid only during the callback that receives it. */
typedef struct sb_http_response {
  uint32_t struct_size;
  int32_t status; /* HTTP status, or 0 when no response arrived */
  const sb_header* headers;
  size_t header_count;
  sb_str body;
  sb_str transport_error; /* non-empty when status is 0 (timeout, refused...) */
} sb_http_response;

/* Threads: [io]. Called exactly once per accepted request. */
typedef void (*sb_on_http_response)(void* user_data, const sb_http_response* response);

#define SB_SERVICE_HTTP_CLIENT "switchboard.http_client/1"
/* Asynchronous outbound HTTP(S) with connection reuse; in-flight requests do
 * not hold a thread each. TLS certificates and host names are verified.
 * Threads: [any]. */
typedef struct sb_host_http_client_v1 {
  uint32_t struct_size;
  /* SB_OK: `on_response` will be called exactly once. Any other status: it
   * will not be called. */
  sb_status (*request)(const sb_host* host, const sb_http_request* request, sb_on_http_response on_response,
                       void* user_data);
} sb_host_http_client_v1;

/* Threads: same thread as the call that receives it, before that call returns.
 * OWNERSHIP: `value` is host-owned and valid only during the callback. */
typedef void (*sb_on_value)(void* user_data, sb_str value);

#define SB_SERVICE_KV "switchboard.kv/1"
/* Durable key-value state, private to the instance (keyed by its name), kept
 * across restarts. get, put and remove may touch disk: not for [io] or
 * [step] threads; the *_async calls (1.1) never block and suit every thread.
 * Threads: [control] or [any]. */

/* ABI 1.1. An async get's answer: SB_OK with the value, SB_ERR_NOT_FOUND
 * (value empty) or SB_ERR_INTERNAL. Threads: the host's store thread (or the
 * caller's, before the call returns). Called exactly once. Must not block.
 * OWNERSHIP: `value` is host-owned and valid only during the callback. */
typedef void (*sb_on_kv_value)(void* user_data, sb_status status, sb_str value);
/* ABI 1.1. An async put's or remove's end: SB_OK once it is on disk, or
 * SB_ERR_INTERNAL. Threads and calls as sb_on_kv_value. */
typedef void (*sb_on_kv_done)(void* user_data, sb_status status);

typedef struct sb_host_kv_v1 {
  uint32_t struct_size;
  /* SB_OK after calling on_value once, SB_ERR_NOT_FOUND without calling it. */
  sb_status (*get)(const sb_host* host, sb_str key, sb_on_value on_value, void* user_data);
  sb_status (*put)(const sb_host* host, sb_str key, sb_str value);
  sb_status (*remove)(const sb_host* host, sb_str key);
  /* ---- ABI 1.1; check SB_HAS_FIELD(kv, sb_host_kv_v1, get_async) ---- */
  /* The same without waiting: SB_OK when the callback will be called (a get
   * sees every put and remove the instance made before it with *_async).
   * SB_ERR_UNAVAILABLE after on_instance_stop. Any status but SB_OK: it
   * will not be called. */
  sb_status (*get_async)(const sb_host* host, sb_str key, sb_on_kv_value done, void* user_data);
  sb_status (*put_async)(const sb_host* host, sb_str key, sb_str value, sb_on_kv_done done, void* user_data);
  sb_status (*remove_async)(const sb_host* host, sb_str key, sb_on_kv_done done, void* user_data);
} sb_host_kv_v1;

#define SB_SERVICE_SECRETS "switchboard.secrets/1"
/* Secrets declared in the host config ("secrets": {name: {env|file}}). A
 * plugin must never log a secret; the host also redacts known values.
 * Threads: [any]. */
typedef struct sb_host_secrets_v1 {
  uint32_t struct_size;
  /* SB_OK after calling on_value once, SB_ERR_NOT_FOUND without calling it. */
  sb_status (*get)(const sb_host* host, sb_str name, sb_on_value on_value, void* user_data);
} sb_host_secrets_v1;

#define SB_SERVICE_CLOCK "switchboard.clock/1"
/* The host's clock (tests may move it). Threads: [any]. */
typedef struct sb_host_clock_v1 {
  uint32_t struct_size;
  int64_t (*now_unix_ms)(const sb_host* host);
  int64_t (*monotonic_ns)(const sb_host* host);
} sb_host_clock_v1;

#define SB_SERVICE_OUTBOX "switchboard.outbox/1"
/* Dry-run channels write what they would send here instead of sending it.
 * `record_json` is a JSON object. Threads: [any]. */
typedef struct sb_host_outbox_v1 {
  uint32_t struct_size;
  sb_status (*write)(const sb_host* host, sb_str record_json);
} sb_host_outbox_v1;

/* An event a trigger plugin emits.
 * OWNERSHIP: caller-owned; copied by the host before emit returns. */
typedef struct sb_event {
  uint32_t struct_size;
  sb_str type;         /* e.g. "webhook.received", "message.delivered" */
  sb_str id;           /* idempotency key; empty: the host assigns one */
  sb_str payload_json; /* a JSON object */
} sb_event;

typedef enum sb_emit_wait {
  SB_EMIT_WAIT_ACCEPTED = 0, /* report once the host has taken the event */
  SB_EMIT_WAIT_COMPLETED = 1 /* report once every rule it triggered finished */
} sb_emit_wait;

/* OWNERSHIP: host-owned; valid only during the callback. */
typedef struct sb_emit_result {
  uint32_t struct_size;
  /* SB_OK: taken (and, when waited for, processed); SB_ERR_INVALID_ARGUMENT:
   * refused for good, its id being that of an event from another source
   * (sending it again is refused again); anything else: not taken, for now. */
  sb_status status;
  sb_str event_id;
  sb_str message;     /* why not, when status is not SB_OK */
  sb_str report_json; /* with SB_EMIT_WAIT_COMPLETED: {"executions":[...]} */
  /* With SB_EMIT_WAIT_COMPLETED: how many executions the event started, and
   * how many of them ended "done" (the report need not be parsed to know). */
  uint32_t execution_count;
  uint32_t executions_done;
} sb_emit_result;

/* Threads: [any] (possibly before emit returns). Called exactly once. */
typedef void (*sb_on_emitted)(void* user_data, const sb_emit_result* result);

#define SB_SERVICE_EVENTS "switchboard.events/1"
typedef struct sb_host_events_v1 {
  uint32_t struct_size;
  /* SB_OK: on_emitted will be called exactly once. Any other status: it will
   * not be called and the event was not taken. Threads: [any]. */
  sb_status (*emit)(const sb_host* host, const sb_event* event, sb_emit_wait wait, sb_on_emitted on_emitted,
                    void* user_data);
  /* ---- ABI 1.1: check SB_HAS_FIELD(events, sb_host_events_v1, declare) ---- */
  /* An instance emits only the event types it declares: its plugin's trigger
   * names, and what it adds here, each an exact type ("lead.created") or a
   * prefix ("message.*": "message.read", "message.sent", ...). An event of
   * any other type is refused (SB_ERR_INVALID_ARGUMENT) and logged.
   * Threads: [create] (only during on_instance_create). */
  sb_status (*declare)(const sb_host* host, sb_str type);
} sb_host_events_v1;

/* An inbound HTTP request routed to a plugin.
 * OWNERSHIP: host-owned; valid until the handler returns. */
typedef struct sb_inbound_request {
  uint32_t struct_size;
  sb_str method;
  sb_str path;  /* the full path, e.g. "/webhooks/orders" */
  sb_str query; /* raw query string without '?', may be empty */
  const sb_header* headers;
  size_t header_count;
  sb_str body; /* raw bytes, exactly as received (for signatures) */
  sb_str remote_address;
} sb_inbound_request;

/* OWNERSHIP: caller-owned; copied by the host before respond returns. */
typedef struct sb_outbound_response {
  uint32_t struct_size;
  int32_t status;
  sb_str content_type;
  sb_str body;
  const sb_header* headers; /* extra headers, e.g. WWW-Authenticate, Retry-After */
  size_t header_count;
} sb_outbound_response;

/* Handles one request. The plugin must answer through
 * sb_host_webhooks_v1.respond exactly once, from any thread; the host answers
 * 504 if it has not done so by the route's timeout. Threads: [io] (the
 * connection's event-loop thread, which serves other connections too): hand
 * slow work to SB_SERVICE_EVENTS, SB_SERVICE_HTTP_CLIENT or a thread of the
 * plugin's own, and answer later. */
typedef void (*sb_on_http_request)(void* user_data, const sb_inbound_request* request, sb_responder* responder);

#define SB_SERVICE_WEBHOOKS "switchboard.webhooks/1"
typedef struct sb_host_webhooks_v1 {
  uint32_t struct_size;
  /* Routes `path` (must start with "/webhooks/") to `handler` until the
   * instance is destroyed. SB_ERR_INVALID_ARGUMENT for a bad or taken path.
   * If on_instance_create fails afterwards, the host drops the route.
   * Threads: [control], during on_instance_create. */
  sb_status (*add_route)(const sb_host* host, sb_str path, sb_on_http_request handler, void* user_data);
  /* Answers a request. After this the plugin must not use `responder`.
   * Threads: [any]. */
  void (*respond)(const sb_host* host, sb_responder* responder, const sb_outbound_response* response);
} sb_host_webhooks_v1;

#define SB_SERVICE_CRM "switchboard.crm/1"
/* ABI 1.1. The records the host keeps: contacts, and entities of every type
 * (lead, deal, booking, ...). Granted per instance (the instance's "grants"
 * in the host config); get_service returns NULL to an instance without it.
 *
 * Reads answer with JSON through on_value (called once, during the call).
 * A change is made as part of an action call in flight on this instance:
 * it becomes an event, stored once per (call_key, change key) and routed
 * like any other, so rules react to it and to what it changed
 * (contact.tag_added, deal.field_changed, ...), one chain step deeper than
 * the call's own event. */

/* Threads: [any] (possibly before apply returns). Called exactly once.
 * `result`: with SB_OK the stored event's id, otherwise why not (for a
 * step's reason; never a secret). OWNERSHIP: valid only during the call. */
typedef void (*sb_on_crm_applied)(void* user_data, sb_status status, sb_str result);

typedef struct sb_host_crm_v1 {
  uint32_t struct_size;
  /* One record as JSON: kind "contact" (id: the contact's id, or its key
   * "email:<address>" / "phone:<digits>") or an entity type ("deal").
   * SB_OK after calling on_value, SB_ERR_NOT_FOUND without.
   * Threads: [any] but not [io] (it reads the store). */
  sb_status (*get)(const sb_host* host, sb_str kind, sb_str id, sb_on_value on_value, void* user_data);
  /* Contacts that match `filter_json` (the rules' filter language over
   * "contact.*": {"field": "contact.fields.city", "op": "=", "value": "Omsk"}),
   * in key order after the key `after` ("" = from the start), at most
   * `limit` (1-1000): on_value gets {"items": [...], "next": key or null}.
   * SB_ERR_INVALID_ARGUMENT for a filter that does not compile.
   * Threads: [any] but not [io]. */
  sb_status (*query)(const sb_host* host, sb_str filter_json, sb_str after, uint32_t limit, sb_on_value on_value,
                     void* user_data);
  /* Applies one change (a JSON object, "op" first; see the crm plugin's
   * README) for the action call whose idempotency key is `call_key`: its
   * contact and entity are the change's unless the change names others.
   *   {"op": "set_status", "status": "VIP" | null, "entity": {"type", "id"}?,
   *    "fields": {...}? (set in the same event)}; with "record": "contact"
   *    (and "contact": "<id>"?) the client's own status, kept on the contact
   *    (no entity, fields or if_status)
   *   {"op": "set_fields", "record": "contact" | "entity", "fields": {...},
   *    "responsible": [{"id", ...}]? (an entity's managers, replaced whole)}
   *   {"op": "add_tags" | "remove_tags", "tags": [...], "contact": "<id>"?}
   *   {"op": "add_to_segments" | "remove_from_segments", "segments": [...], "contact": "<id>"?}
   *   {"op": "create_contact", "contact": {...}}
   *   {"op": "create_entity", "entity": {"type", "id"?, "status"?, ...}}
   * An optional "key" tells several changes of one call apart;
   * "must_exist": true refuses a change to an entity the host does not know
   * (instead of creating it). "if_status": [status | null, ...] on
   * set_status applies it only while the entity is in one of those statuses,
   * checked as it is stored (a change made meanwhile is not overwritten).
   * SB_OK: `done` runs exactly once: SB_OK with the event's id (empty when
   * "if_status" held it back),
   * SB_ERR_INVALID_ARGUMENT with what is wrong with the change, or
   * SB_ERR_UNAVAILABLE when the store could not commit (retry later). Any
   * other status (no call in flight on this instance with that key, no
   * `done`): it will not run. Threads: [any]; never blocks. */
  sb_status (*apply)(const sb_host* host, sb_str call_key, sb_str change_json, sb_on_crm_applied done, void* user_data);
  /* ---- ABI 1.2; check SB_HAS_FIELD(crm, sb_host_crm_v1, query_entities) ---- */
  /* Entities of `type` ("task", "deal") that match `filter_json` (the rules'
   * filter language over "entity.*": {"field": "entity.fields.about.id",
   * "op": "=", "value": "D1"}), in id order after the id `after` ("" = from
   * the start), at most `limit` (1-1000): on_value gets {"items": [...],
   * "next": id or null}; a page may hold fewer items than `limit` and still
   * have a next one (each call reads a bounded number of records).
   * SB_ERR_INVALID_ARGUMENT for an empty type or a filter that does not
   * compile. Threads: [any] but not [io]. */
  sb_status (*query_entities)(const sb_host* host, sb_str type, sb_str filter_json, sb_str after, uint32_t limit,
                              sb_on_value on_value, void* user_data);
} sb_host_crm_v1;

#define SB_SERVICE_TRACKING "switchboard.tracking/1"
/* ABI 1.1. Links the host serves under /t/ for a message that an action call
 * sends, sealed by the host (AES-GCM) so they cannot be read, forged or pointed
 * elsewhere. An open or a click becomes a message.opened / message.clicked
 * event with the message id, the call's execution and step and its contact;
 * an unsubscribe records the contact's opt-out of the channel's marketing
 * messages. */
typedef struct sb_host_tracking_v1 {
  uint32_t struct_size;
  /* A URL for the action call in flight with idempotency key `call_key`:
   *   kind "open":        a 1x1 image (`url` is ignored);
   *   kind "click":       redirects to `url` (http or https) and only there;
   *   kind "unsubscribe": the one-click unsubscribe page (RFC 8058).
   * `channel` is the plugin's channel ("email"), `message_id` what the step
   * reports as its external id. SB_OK after calling on_value with the URL;
   * SB_ERR_NOT_FOUND without a call in flight with that key, and for an
   * unsubscribe link of a call about no contact (no one to opt out);
   * SB_ERR_UNAVAILABLE when the host has no public address for tracking
   * (its config "tracking": {"base_url"}); SB_ERR_INVALID_ARGUMENT for
   * another kind or a click URL that is not http(s). Threads: [any]. */
  sb_status (*link)(const sb_host* host, sb_str call_key, sb_str kind, sb_str channel, sb_str message_id, sb_str url,
                    sb_on_value on_value, void* user_data);
} sb_host_tracking_v1;

/* ----------------------------------------------------------- plugin side -- */

/* Creates an instance from its config (a JSON object already validated against
 * config_schema, with secrets resolved). On failure returns non-SB_OK and
 * writes the reason to `error`. OWNERSHIP: `host` is valid until
 * on_instance_destroy returns; `*out_instance` is owned by the plugin and freed
 * in on_instance_destroy. Threads: [control]. */
typedef sb_status (*sb_on_instance_create)(const sb_host* host, sb_str config_json, sb_instance** out_instance,
                                           const sb_error_buffer* error);

/* Frees an instance. No call for it is running or will run, and no callback
 * the instance registered (HTTP response, emit result, inbound request) will
 * run: the host delivers or cancels all of them before this call.
 * Threads: [control]. */
typedef void (*sb_on_instance_destroy)(sb_instance* instance);

/* Starts one action. Returns SB_OK when the plugin will call sb_host.complete
 * exactly once (possibly already did); any other status means it will not,
 * and the step fails with `error` (a completion made before such a status
 * stands: the host cannot tell what it sent). Must not block: do I/O through
 * SB_SERVICE_HTTP_CLIENT, the KV's *_async calls or a thread of the
 * plugin's own.
 * Threads: [step] (1.0 said [any]: the same threads). */
typedef sb_status (*sb_on_action_invoke)(sb_instance* instance, const sb_action_call* call, sb_completion* completion,
                                         const sb_error_buffer* error);

/* Optional (ABI 1.1). The host gave up waiting for a call in flight: its
 * deadline passed (the step fails with RETRY and runs again), an operator
 * cancelled its execution, or the host is shutting down. Stop the work if you can (abort the provider request) and
 * free what belongs to the call. `completion` is dead: completing it is
 * ignored. At most once per call, only after on_action_invoke returned
 * SB_OK, and before on_instance_destroy. A completion that raced with the
 * deadline was ignored, and this call follows it: free the call's state
 * once, whichever comes second. Threads: [any]; must not block. */
typedef void (*sb_on_action_cancel)(sb_instance* instance, sb_completion* completion);

/* Optional. Called after every instance is created and the host is serving;
 * a trigger may begin emitting. Threads: [control]. */
typedef sb_status (*sb_on_instance_start)(sb_instance* instance, const sb_error_buffer* error);

/* Optional. Stop emitting; the host is shutting down. Threads: [control]. */
typedef void (*sb_on_instance_stop)(sb_instance* instance);

/* What a plugin is. OWNERSHIP: plugin-owned and constant; valid as long as the
 * library is loaded.
 *
 * Fields up to and including on_action_invoke are required. Later fields are
 * optional: a descriptor may end before them (struct_size says so), and a
 * NULL function pointer means "not implemented". */
typedef struct sb_plugin_descriptor {
  uint32_t struct_size;   /* sizeof(sb_plugin_descriptor) when built */
  sb_version abi_version; /* SB_ABI_VERSION_* the plugin was built against */

  sb_str name;    /* [a-z0-9_]+, how configs refer to the plugin */
  sb_str version; /* the plugin's own version */
  sb_str vendor;
  sb_str description;
  sb_str config_schema_json; /* JSON Schema for one instance's config */

  const sb_capability* const* actions;
  size_t action_count;
  const sb_capability* const* triggers;
  size_t trigger_count;

  sb_on_instance_create on_instance_create;
  sb_on_instance_destroy on_instance_destroy;
  sb_on_action_invoke on_action_invoke; /* may be NULL if action_count is 0 */

  /* ---- optional from here on ---- */
  sb_on_instance_start on_instance_start;
  sb_on_instance_stop on_instance_stop;
  /* ---- ABI 1.1; a 1.0 descriptor ends before it ---- */
  sb_on_action_cancel on_action_cancel;
} sb_plugin_descriptor;

/* The smallest descriptor a 1.x host accepts. */
#define SB_PLUGIN_DESCRIPTOR_MIN_SIZE (offsetof(sb_plugin_descriptor, on_action_invoke) + sizeof(sb_on_action_invoke))

/* The exported entry point. Must return the same pointer on every call and
 * have no side effects. Threads: [control]. */
typedef const sb_plugin_descriptor* (*sb_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SWITCHBOARD_PLUGIN_H */
