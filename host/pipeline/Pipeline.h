// The durable rule pipeline. It routes stored events to executions and runs
// their steps, keeping every execution's state in the store, so that a crash
// loses nothing and repeats no step needlessly:
//
//   router    events after the routing position -> matching rules -> new
//             executions, committed together with the new position (an event
//             is routed exactly once; a range trigger fires once per entity)
//   scheduler executions due now (found by the due-time index, so waits of
//             days hold no memory or thread) -> their next step
//   steps     an action (through the plugin, with the idempotency key
//             "<event id>:<rule>:<step>"), a wait, or a wait for an event;
//             each result is committed before the next step starts
//   arrivals  routed events that a wait_for step may be waiting for, keyed
//             by type and the matched values, so that the store finds the
//             waiting executions by index
//
// A step in flight when the host dies runs again after the restart, with the
// same idempotency key: providers that honour it do the work once. Retries
// back off exponentially with jitter; permanent failures and exhausted
// retries leave the execution "failed" with the reason (the dead letters).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "executor/CallQueue.h"
#include "executor/Interpreter.h"
#include "rules/SegmentMembership.h"
#include "store/Store.h"

namespace sb {

class Metrics;

struct PipelineOptions {
  std::chrono::milliseconds stop_wait{5000};  // how long stop() waits for steps in flight (config stop_grace)
  // Events that rules' actions produce (executor/HostActions.h) may set off
  // rules that produce more: no rules run for an event deeper than this.
  int max_chain_depth = 5;
  nlohmann::json account = nlohmann::json::object();  // {{account.*}}, and the default time zone
  // Steps claimed and not yet recorded, at most: a backlog of any size is
  // worked through with bounded memory.
  int max_in_flight = 1000;
  std::map<std::string, int> instance_max_in_flight = {};  // calls in flight per instance, where bounded
  // Shared with the other runner so that an instance's bound holds for both;
  // the pipeline makes its own (from instance_max_in_flight) when null.
  CallQueue* calls = nullptr;
  // Compiles an older rule version kept in the store (its source), for the
  // executions that began with it; nullopt with `why` when it cannot be.
  std::function<std::optional<CompiledRule>(const nlohmann::json& source, std::string& why)> compile_version = {};
  // The dynamic segments: the router moves each contact an event changed in
  // or out of them (rules/SegmentMembership.h).
  std::vector<DynamicSegment> dynamic_segments = {};
  FrequencyCaps* frequency_caps = nullptr;     // shared with the other runner; null: no caps
  Interpreter::CrashedStep crashed_step = {};  // the step that crashed the host's last run, if any
  // Every status of the config's pipelines: an entity of a type whose status
  // rules name a pipeline, moved to another (a typo, a status the config
  // does not know), is logged and counted. Empty: no pipelines declared.
  std::set<std::string> known_statuses = {};
  std::string owner = {};  // the leases' owner: this node's id ("" = one of its own)
  // How long this node's turn as the router lasts unless renewed: another
  // node of those sharing the store routes when it ran out (a node died).
  std::chrono::milliseconds router_hold{5000};
  // Several nodes share the store: the router starts only high-priority
  // executions itself and leaves the rest to every node's claims.
  bool shared_store = false;
  // A claim's lease; 0: two minutes, or the longest step's timeout and a
  // minute (a step is never claimed twice while it runs).
  std::chrono::milliseconds lease{0};
};

class Pipeline {
 public:
  Pipeline(Store& store, std::vector<CompiledRule> rules, ActionDispatcher& actions, Metrics& metrics,
           PipelineOptions options = {});
  ~Pipeline();  // stop()

  void start();
  // Stops routing and starting steps, and waits (bounded) for the steps in
  // flight; results that arrive later are not recorded, so those steps run
  // again after a restart.
  void stop();
  // Something may be due or routable now (saves waiting for the next poll).
  void wake();
  // This node stored new events: wakes the loop if this node routes them (on
  // a shared store, another node's router hears of them through the store's
  // notification, and a node that does not route has nothing to do with them).
  void events_stored();
  // This node routes the events (of the nodes sharing a store, one does).
  bool routes() const { return routes_; }
  // The event starts a rule of the highest priority (its status change not
  // considered): it is stored as urgent (Store::append_events_urgent).
  // Thread-safe.
  bool starts_high_priority(const EventRecord& event) const;
  // For an admin's retry on a rule's current version: that version ("" when
  // the config has no such rule), and what the step of an id does in a
  // version (its kind and name; "" when the version or the step is unknown).
  // Thread-safe.
  std::string current_version(const std::string& rule) const;
  std::string step_what(const std::string& rule, const std::string& version, const std::string& step);

 private:
  void run();
  // Each routes or starts one batch; true when there may be more to do now.
  bool routes_now();  // this node is the one that routes now (Store::hold)
  bool route_new_events();
  bool start_due_steps();
  size_t room();       // steps that may start before max_in_flight is reached
  size_t lane_room();  // ... and high-priority ones, within the lane's reserve beyond it
  size_t idle_room();  // ... before a share of max_in_flight (kIdleShare) is reached: the node is nearly idle
  bool due_now();      // some execution's step is due (a retry, a resumed wait, a timeout)
  // Counts steps in flight before they start (returns `steps`), and gives back those that did not.
  size_t reserve(size_t steps);
  void release(size_t steps);
  // The priority lane: the rules of the highest priority read the events
  // ahead of the router, so that a password reset posted behind a million
  // campaign events starts at once. An execution is unique per (event,
  // rule): the router finds the lane's made when it gets there. They start
  // as they are stored; true when some could not (they wait for a claim).
  bool route_priority_lane();
  bool lane_turn();
  // The contexts the router parsed for the executions it made, by event id
  // and rule: a step it starts takes its context from here instead of
  // parsing the stored text again (a tenth of the pipeline thread's time).
  using ParsedContexts = std::map<std::pair<std::string, std::string>, nlohmann::json>;
  static nlohmann::json context_of(const StoredEvent& e);  // what the rules of an event read
  // What a goal event was worth: the number (or number as text) at `path`.
  static std::optional<double> worth(const StoredEvent& e, const std::string& path);
  // Stores the segment moves of the contacts `events` name; false when the store did not take them.
  bool move_segment_members(const std::vector<StoredEvent>& events, int64_t now);
  // Adds the executions of `e` for the rules that `fired` (and whose filter
  // passes); when it is one, its context moves into `contexts`.
  using FiredRules = std::vector<std::pair<const CompiledRule*, Trigger::Fire>>;
  void unknown_status(const StoredEvent& e);  // logged (at times) and counted
  // Whether an event a rule's trigger fires on is in its pipeline and passes its filter.
  bool admits(const CompiledRule& rule, nlohmann::json& context, int64_t now) const;
  void add_executions(const StoredEvent& e, const FiredRules& fired, nlohmann::json& context, std::string& context_text,
                      int64_t now, std::vector<NewExecution>& out, ParsedContexts& contexts) const;
  // The whole events the priority lane fired rules on (by seq), in order.
  std::vector<StoredEvent> whole_events(const std::map<int64_t, FiredRules>& fired_at);
  // Rows leased to this host; `counted`: already reserved in flight.
  // `claimed_ms`: a time before the rows were claimed (or made), for cancels heard since (CallQueue).
  void start_rows(const std::vector<ExecutionRow>& rows, int64_t claimed_ms, bool counted = false,
                  ParsedContexts* contexts = nullptr);
  void start_step(const ExecutionRow& row, int64_t claimed_ms, ParsedContexts* contexts = nullptr);
  // The version of its rule the execution runs; null with `why` when there is none.
  const CompiledRule* rule_for(const ExecutionRow& row, std::string& why);
  const CompiledRule* version_of(const std::string& rule, const std::string& version, std::string& why);
  // Notes the events the rule's wait_for steps wait for, and the paths they match on.
  void await_events_of(const CompiledRule& rule);
  // On a shared store: reads, every second, the versions other nodes keep (their waits).
  void learn_stored_versions();
  // Tells a store of its own which implied events (contact.created ...) to
  // keep: those of the types the rules' triggers and the waits of every
  // version kept read.
  void want_implied_events();
  void record(const std::string& rule, ExecutionUpdate update);
  // A step's result the store could not commit (it was away) is given again
  // after a pause, and stays counted in flight, until it commits, the row
  // has moved on (the result was committed after all: the update names the
  // step it was claimed at), or a lease's time has passed since the first
  // try (an error that does not go away). The step is not sent again once
  // the store is back. record_later is false when stopping (the step then
  // runs again after a restart).
  struct Unrecorded {
    std::string rule;
    ExecutionUpdate update;
    std::shared_ptr<ExecutionState> state;  // the state the update ended in (a deciding one knows it once applied)
    int tries = 0;
    int64_t again_at_ms = 0;
    int64_t until_ms = 0;  // given up after
  };
  void submit_record(Unrecorded record);
  bool record_later(Unrecorded unrecorded);
  void record_unrecorded();                        // gives again those whose pause is over
  std::chrono::milliseconds until_record_again();  // kPoll when none waits
  const CompiledRule* rule_named(const std::string& name) const;

  Store& store_;
  Transitions transitions_;
  std::vector<CompiledRule> rules_;  // the current versions
  std::mutex versions_mutex_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<CompiledRule>> versions_;  // older ones, once read
  // Event type -> what wait_for steps await it with (awaited_types) and the paths they match it on.
  std::map<std::string, std::set<std::pair<std::string, std::vector<std::string>>>> awaited_;
  // The event types the current rules' goals name -> the path to what one
  // was worth ("data.amount"; "" none).
  std::map<std::string, std::string> goals_;
  int64_t next_version_look_ms_ = 0;                                   // learn_stored_versions (pipeline thread only)
  std::set<std::pair<std::string, std::string>> unreadable_versions_;  // ... those it could not compile, told once
  bool has_priority_lane_ = false;                                     // some rule has the highest priority
  bool in_lane_ = false;         // the lane's turn is running (it starts rows too)
  int64_t lane_position_ = 0;    // the lane's reading position; at least the router's (pipeline thread only)
  int64_t router_position_ = 0;  // the router's, as last read (pipeline thread only)
  const PipelineOptions options_;
  const SegmentMembership segments_;
  ExecutionMetrics metrics_;
  uint64_t unknown_statuses_ = 0;          // the router's thread only
  std::set<std::string> status_entities_;  // entity types some status rule names a pipeline for

  std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;
  bool stopping_ = false;
  bool recording_ = true;  // false once stop() gave up waiting for steps in flight
  // Claimed and not yet recorded (stop() waits for them): at most
  // max_in_flight, and the priority lane's reserve beyond it.
  int steps_in_flight_ = 0;
  std::vector<Unrecorded> unrecorded_;  // counted in steps_in_flight_
  const std::string owner_;             // the claimer of due work: unique across hosts and restarts
  int64_t lease_ms_ = 120000;
  int64_t router_held_until_ = 0;         // this node routes until then (0: another node does)
  std::atomic<bool> routes_{false};       // ... read by other threads
  int64_t next_router_ask_ = 0;           // when another node routes: when to ask for the hold again
  std::unique_ptr<CallQueue> own_calls_;  // when the options bring none
  CallQueue& calls_;
  Interpreter interpreter_;
  std::thread thread_;
};

}  // namespace sb
