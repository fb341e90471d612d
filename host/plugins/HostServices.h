// What the host offers plugins: the sb_host table of each instance and the
// service tables behind get_service(). Everything a plugin can reach goes
// through here, which is why every function tolerates garbage arguments.
#pragma once

#include <switchboard/plugin.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "plugins/ActionOutcome.h"

namespace sb {

class Counter;
class HttpClient;
class KeyValueStore;
class Metrics;
class Outbox;
class PendingCalls;
class TrackingTokens;
class WebhookRoutes;

// An event a plugin emitted, as the host keeps it.
struct EmittedEvent {
  std::string id;
  std::string type;
  std::string source;  // the emitting instance
  nlohmann::json payload;
  // Rules ran before it (executions.max_chain_depth): one more than the
  // event of the call the instance emitted it during, 0 for one of its
  // own (a webhook, a report from its thread).
  int chain_depth = 0;
};

struct EmitReport {
  sb_status status = SB_OK;
  std::string event_id;
  std::string message;
  nlohmann::json report;  // with SB_EMIT_WAIT_COMPLETED
  uint32_t execution_count = 0;
  uint32_t executions_done = 0;
};

// Implemented by the rule engine.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // SB_OK: `done` runs exactly once. Otherwise it never runs.
  virtual sb_status emit(EmittedEvent event, sb_emit_wait wait, std::function<void(const EmitReport&)> done) = 0;
};

// What an action call is about: its execution's event, contact and entity.
struct CallSubject {
  std::string event_id;
  int chain_depth = 0;
  std::string contact_key;  // "" = none
  std::string entity_type;  // "" = none
  std::string entity_id;
  std::string json;          // sb_action_call.subject_json: the event, contact, entity and account
  int64_t execution_id = 0;  // 0: none stored (a route that keeps its state in memory)
  std::string rule;
  std::string step;  // the step's stable id
};

// An answer of the records service: SB_OK and JSON (or an event id), or a
// status and why.
struct CrmAnswer {
  sb_status status = SB_OK;
  std::string text;
};

// The records the host keeps, for instances granted switchboard.crm/1
// (implemented by crm/CrmService.h).
class CrmRecords {
 public:
  virtual ~CrmRecords() = default;
  virtual CrmAnswer get(const std::string& kind, const std::string& id) = 0;
  virtual CrmAnswer query(const std::string& filter_json, const std::string& after, size_t limit) = 0;
  virtual CrmAnswer query_entities(const std::string& type, const std::string& filter_json, const std::string& after,
                                   size_t limit) = 0;
  // `done` runs exactly once, on any thread.
  virtual void apply(const CallSubject& call, const std::string& instance, const std::string& call_key,
                     const std::string& change_json, std::function<void(CrmAnswer)> done) = 0;
};

struct HostDependencies {
  Metrics* metrics = nullptr;
  HttpClient* http = nullptr;
  KeyValueStore* kv = nullptr;
  Outbox* outbox = nullptr;
  PendingCalls* calls = nullptr;
  WebhookRoutes* routes = nullptr;
  EventSink* events = nullptr;
  std::map<std::string, std::string> secrets;  // every secret, by name
  // What each instance may read through switchboard.secrets/1: only the
  // secrets its own config references (least privilege: never the event or
  // admin tokens, never another instance's credentials).
  std::map<std::string, std::set<std::string>> instance_secrets;
  CrmRecords* crm = nullptr;
  // Signs switchboard.tracking/1's links; null: the host does not track
  // (no "tracking.base_url"), and the service answers SB_ERR_UNAVAILABLE.
  const TrackingTokens* tracking = nullptr;
  // The host services granted to each instance beyond the common ones ("crm").
  std::map<std::string, std::set<std::string>> instance_grants;
};

struct InstanceHost;

// Marks this thread as inside `host`'s invoke for a call about `subject`
// while it lives: an event the instance emits meanwhile is caused by that
// call's event, and counts in its chain (a rule whose action emits the event
// that sets it off again is cut at max_chain_depth, not run for ever).
class InvokingCall {
 public:
  InvokingCall(const InstanceHost* host, const CallSubject& subject);
  ~InvokingCall();
  InvokingCall(const InvokingCall&) = delete;
  InvokingCall& operator=(const InvokingCall&) = delete;
  // The chain depth of the call `host` is invoking on this thread, if any.
  static std::optional<int> depth_in(const InstanceHost* host);

 private:
  const InstanceHost* host_;
  int depth_;
  const InvokingCall* outer_;
};

// The sb_host of one instance. host_data points back at this object.
struct InstanceHost {
  sb_host table{};
  HostDependencies* deps = nullptr;
  std::string plugin;
  std::string instance;
  bool creating = false;  // add_route and declare are allowed only during on_instance_create
  // The event types it may emit: exact, or "prefix.*". Written while it is
  // created (its plugin's trigger names, then what it declares), read after.
  std::vector<std::string> emits;
  bool crm_granted = false;
  // Its actions' outputs that were not JSON, and external ids too long:
  // logged at the first and every 1000th.
  mutable std::atomic<uint64_t> outputs_not_json = 0, external_ids_too_long = 0;
  // Its calls are kept in calls_in_flight (below): it is granted the records
  // service, or it sends messages that the host tracks (switchboard.tracking/1).
  bool keeps_calls = false;
  // Stopped: asynchronous store calls are refused, so that every one
  // accepted is answered (the store is flushed) before it is destroyed.
  std::atomic<bool> stopped = false;
  // The action calls in flight, by idempotency key: what switchboard.crm/1
  // changes and switchboard.tracking/1 links on their behalf are about. A step claimed again while its first
  // call still runs has two calls with one key: the key stays until both end.
  struct CallInFlight {
    CallSubject subject;
    int calls = 0;
  };
  std::mutex calls_mutex;
  std::unordered_map<std::string, CallInFlight> calls_in_flight;
  std::shared_mutex emits_mutex;  // a plugin may emit from its own thread while it is still being created

  // The instance's counters by the name it uses, so that counting takes no
  // lock on the metrics registry.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::shared_mutex counters_mutex;
  std::unordered_map<std::string, Counter*, NameHash, std::equal_to<>> counters;
};

// Whether `type` is one of `declared` (exact, or under a "prefix.*").
bool declares_event_type(const std::vector<std::string>& declared, const std::string& type);

// Builds the table for one instance. `deps` must outlive it.
std::unique_ptr<InstanceHost> make_instance_host(HostDependencies& deps, std::string plugin, std::string instance);

}  // namespace sb
