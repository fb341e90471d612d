#include "pipeline/Pipeline.h"

#include <algorithm>
#include <future>

#include "executor/History.h"
#include "executor/HostActions.h"
#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "rules/Template.h"
#include "util/JsonText.h"
#include "util/NodeId.h"
#include "util/Text.h"
#include "util/ThreadName.h"
#include "util/Time.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {
constexpr size_t kRouteBatch = 500;
constexpr size_t kDueBatch = 200;
constexpr std::chrono::milliseconds kPoll{1000};            // the longest sleep, whatever the next due time
constexpr std::chrono::milliseconds kRoutingTurn{50};       // routing's share of a turn while events wait
constexpr size_t kLaneBatch = 2000;                         // events the priority lane reads at once ...
constexpr int kLaneBatches = 10;                            // ... and how many batches between two routing batches
constexpr int kLaneReserve = 100;                           // steps in flight the lane may start beyond max_in_flight
constexpr size_t kLaneWholeReads = 16;                      // events the lane reads one by one, at most
constexpr size_t kLaneEvery = 128;                          // steps started between two turns of the lane
constexpr std::chrono::milliseconds kRecordAgainFirst{50};  // a step's result the store did not take: given again after
constexpr std::chrono::milliseconds kRecordAgainLongest{2000};  // ... doubling up to this
constexpr int kIdleShare = 4;             // a node sharing the store starts what it routes below 1/4 of max_in_flight
constexpr int64_t kVersionLookMs = 1000;  // how often the router of a shared store looks for versions other nodes keep

}  // namespace

Pipeline::Pipeline(Store& store, std::vector<CompiledRule> rules, ActionDispatcher& actions, Metrics& metrics,
                   PipelineOptions options)
    : store_(store),
      transitions_(store),
      rules_(std::move(rules)),
      options_(options),
      segments_(options_.dynamic_segments, options_.account.value("timezone", "UTC")),
      metrics_(metrics),
      owner_(options.owner.empty() ? unique_node_id() : options.owner),
      own_calls_(options.calls ? nullptr
                               : std::make_unique<CallQueue>(options.instance_max_in_flight, [this] { wake(); })),
      calls_(options.calls ? *options.calls : *own_calls_),
      interpreter_(
          actions, calls_, store, metrics_, options.account, [this] { wake(); }, options.frequency_caps) {
  for (CompiledRule& rule : rules_) rule.index_steps();
  interpreter_.announce_sent_messages(some_rule_reads(rules_, "message.sent"));
  interpreter_.fail_when_taken_up(options_.crashed_step);
  // The entity types whose status rules name a pipeline: their statuses
  // are the pipelines' (another type's may be any its CRM has; a task's are its own).
  if (!options_.known_statuses.empty())
    for (const CompiledRule& rule : rules_)
      if (rule.trigger && !rule.trigger->entity().empty() && !rule.trigger->pipeline().empty() &&
          rule.trigger->entity() != "task")
        status_entities_.insert(rule.trigger->entity());
  // A lease outlasts the longest step: a step is never claimed twice while it runs.
  for (const CompiledRule& rule : rules_)
    for (const CompiledStep& step : rule.steps) lease_ms_ = std::max<int64_t>(lease_ms_, step.timeout.count() + 60000);
  if (options_.lease.count() > 0) lease_ms_ = options_.lease.count();
  for (const CompiledRule& rule : rules_) {
    await_events_of(rule);
    has_priority_lane_ = has_priority_lane_ || rule.priority == kHighestPriority;
    if (rule.goal)
      for (const std::string& type : rule.goal->events)
        if (std::string& path = goals_[type]; path.empty()) path = rule.goal->value;
  }
}

bool Pipeline::starts_high_priority(const EventRecord& event) const {
  if (!has_priority_lane_) return false;
  for (const CompiledRule& rule : rules_)
    if (rule.priority == kHighestPriority && rule.trigger &&
        rule.trigger->fires(event.type, event.source, std::nullopt) != Trigger::Fire::kNo)
      return true;
  return false;
}

void Pipeline::await_events_of(const CompiledRule& rule) {
  for (const CompiledStep& step : rule.steps)
    if (step.kind == CompiledStep::Kind::kWaitEvent) {
      std::vector<std::string> paths;
      for (const auto& [path, value] : step.wait_match.items()) paths.push_back(path);
      const std::string awaited = awaited_types(step.wait_events, step.wait_else_on);
      for (const auto& type : step.wait_events) awaited_[type].insert({awaited, paths});
      for (const auto& type : step.wait_else_on) awaited_[type].insert({awaited, paths});
      // "Did the client open the message?" whatever the channel: a chat's
      // message.read is an email's message.opened, and the other way round;
      // a click on one of its links is an open too (the pixel is not loaded
      // where images are off). Under the wait's own key: what it parked
      // under stays its key.
      const auto in = [](const std::vector<std::string>& types, const std::string& type) {
        return std::find(types.begin(), types.end(), type) != types.end();
      };
      if (!step.confirms_delivery && (in(step.wait_events, "message.opened") || in(step.wait_events, "message.read")))
        for (const char* other : {"message.opened", "message.read", "message.clicked"})
          if (!in(step.wait_events, other) && !in(step.wait_else_on, other)) awaited_[other].insert({awaited, paths});
      // A delivery wait parked before message.read counted keeps the key it
      // parked under (session 28's builds): its reports still find it. Such
      // a wait ends at its delivered_within, so this can go in a later
      // release; until then a report on these rules makes two arrivals.
      if (step.confirms_delivery) {
        const std::string before_read = awaited_types({step.wait_events.front()}, step.wait_else_on);
        awaited_[step.wait_events.front()].insert({before_read, paths});
        for (const auto& type : step.wait_else_on) awaited_[type].insert({before_read, paths});
      }
    }
}

void Pipeline::want_implied_events() {
  // A shared store keeps them all: a node stores events another routes, and
  // nodes may run different rules for a while (a deploy).
  if (options_.shared_store) return;
  // The types a trigger or a wait reads. A status trigger reads the status
  // an event set, which an implied event never sets. Every version kept may
  // still have executions that reach a wait (this host saved each before
  // any of its executions began): their waits count too.
  std::set<std::string> read;
  const auto note_waits = [&read](const CompiledRule& rule) {
    for (const CompiledStep& step : rule.steps)
      if (step.kind == CompiledStep::Kind::kWaitEvent) {
        read.insert(step.wait_events.begin(), step.wait_events.end());
        read.insert(step.wait_else_on.begin(), step.wait_else_on.end());
      }
  };
  for (const CompiledRule& rule : rules_) {
    if (rule.trigger && !rule.trigger->event().empty()) read.insert(rule.trigger->event());
    note_waits(rule);
  }
  for (const auto& [type, value] : goals_) read.insert(type);
  for (const RuleVersion& kept : store_.rule_versions()) {
    if (const CompiledRule* current = rule_named(kept.rule); current && current->version == kept.version) continue;
    std::string why;
    auto compiled = options_.compile_version
                        ? options_.compile_version(json::parse(kept.source_json, nullptr, false), why)
                        : std::nullopt;
    if (!compiled) {
      // Its waits are unknown: every implied event is kept.
      log_warn("pipeline", "an earlier rule version cannot be compiled: every change event is stored",
               {{"rule", kept.rule}, {"version", kept.version}, {"reason", why}});
      return;
    }
    note_waits(*compiled);
  }
  store_.derive_only([read = std::move(read)](const std::string& type) { return read.count(type) > 0; });
}

Pipeline::~Pipeline() { stop(); }

void Pipeline::start() {
  // Every version an execution may begin with is kept before any begins.
  std::vector<RuleVersion> versions;
  for (const CompiledRule& rule : rules_)
    if (!rule.version.empty()) versions.push_back({rule.name, rule.version, dump_text(rule.source)});
  if (!versions.empty()) {
    std::promise<StoreStatus> saved;
    store_.save_rule_versions(std::move(versions), [&](StoreStatus status) { saved.set_value(std::move(status)); });
    if (StoreStatus status = saved.get_future().get(); !status.ok())
      throw std::runtime_error("cannot keep the rules' versions in the store: " + status.message);
  }
  lane_position_ = store_.routed_up_to();  // the lane reads only what the router has not routed
  // Executions that wait for an event on a version edited since still get
  // it: compiling the version notes what its waits read.
  for (const RuleVersion& awaited : store_.awaited_rule_versions()) {
    std::string why;
    if (!version_of(awaited.rule, awaited.version, why))
      log_warn("pipeline", "the events that executions of an earlier rule version wait for cannot be routed",
               {{"rule", awaited.rule}, {"version", awaited.version}, {"reason", why}});
  }
  want_implied_events();
  thread_ = std::thread([this] {
    name_this_thread("sb-pipeline");
    run();
  });
}

void Pipeline::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_one();
}

void Pipeline::events_stored() {
  if (!options_.shared_store || routes_) wake();
}

void Pipeline::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  // Calls waiting for a slot of their instance were never sent: given back
  // (recorded as any step's end) rather than left leased, which a restart
  // would take for steps that may have run.
  calls_.give_up_all();
  std::unique_lock lock(mutex_);
  // Results the store did not take are not waited for: still leased, their
  // steps run again after a restart.
  steps_in_flight_ -= static_cast<int>(unrecorded_.size());
  unrecorded_.clear();
  wake_.wait_for(lock, options_.stop_wait, [&] { return steps_in_flight_ == 0; });
  recording_ = false;
}

void Pipeline::run() {
  while (true) {
    // Routing and steps take turns: a burst being routed does not hold back
    // the steps that are due, and routing gets most of each turn, so that an
    // event that arrives during a campaign (a password reset) is routed, and
    // its high-priority step claimed, soon after it is stored.
    bool more_events = false, more_due = false;
    try {
      record_unrecorded();
      calls_.give_up_late(now_ms());
      calls_.start_queued();
      // High-priority executions of events the router has not reached yet
      // start before its turn, and due work (retries, resumed waits,
      // timeouts; highest priority first) before the router's new
      // executions take the room.
      if (route_priority_lane() || due_now()) start_due_steps();
      const auto routing_until = std::chrono::steady_clock::now() + kRoutingTurn;
      while ((more_events = route_new_events()) && std::chrono::steady_clock::now() < routing_until)
        if (route_priority_lane() || due_now()) start_due_steps();
      // On a shared store a claim is a statement per priority, and most
      // turns find nothing due: one read of the earliest due time first.
      if (!options_.shared_store || due_now()) more_due = start_due_steps();
    } catch (const std::exception& e) {
      log_error("pipeline", "cannot read the store", {{"error", e.what()}});
    }
    auto sleep = kPoll;
    bool full = false;
    {
      std::lock_guard lock(mutex_);
      full = steps_in_flight_ >= options_.max_in_flight;
    }
    // Routing goes on whether or not the steps in flight are full: it holds
    // no memory, and its arrivals resume waits. Full: a step that ends wakes
    // the loop.
    if (more_events || (more_due && !full)) {
      sleep = std::chrono::milliseconds(0);
    } else if (!full) {
      try {
        if (auto next = store_.next_due_ms())
          sleep = std::clamp(std::chrono::milliseconds(*next - now_ms()), std::chrono::milliseconds(0), kPoll);
      } catch (const std::exception&) {
        // the store is away (logged above): look again after the poll
      }
    }
    sleep = std::min(sleep, until_record_again());
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, sleep, [&] { return woken_ || stopping_; });
    woken_ = false;
    if (stopping_) return;
  }
}

const CompiledRule* Pipeline::rule_named(const std::string& name) const {
  for (const auto& r : rules_)
    if (r.name == name) return &r;
  return nullptr;
}

bool Pipeline::routes_now() {
  // Of the nodes sharing a store, one routes at a time: the others would
  // read the same events and lose the compare-and-set on the position. The
  // hold is renewed while a third of it is left; a node that died loses it
  // when it runs out, and another routes from where it stopped.
  const int64_t now = now_ms();
  const int64_t hold = options_.router_hold.count();
  if (now < router_held_until_ - hold * 2 / 3) return true;
  // Another node routes: ask again a tenth of a hold later, not at every
  // wake-up (each ask is a write on the shared store).
  if (router_held_until_ == 0 && now < next_router_ask_) return false;
  if (store_.hold("router", owner_, now, now + hold)) {
    router_held_until_ = now + hold;
    routes_ = true;
    return true;
  }
  router_held_until_ = 0;
  routes_ = false;
  next_router_ask_ = now + hold / 10;
  return false;
}

void Pipeline::learn_stored_versions() {
  // Nodes sharing the store may run versions this one never had (a deploy
  // under way), and their executions wait for events that this node
  // routes: every version kept is read, for its waits, soon after it is.
  const int64_t now = now_ms();
  if (!options_.shared_store || now < next_version_look_ms_) return;
  next_version_look_ms_ = now + kVersionLookMs;
  for (const auto& name : store_.rule_version_names()) {
    if (unreadable_versions_.count(name)) continue;
    std::string why;
    if (!version_of(name.first, name.second, why)) {
      unreadable_versions_.insert(name);
      log_warn("pipeline",
               "the events that executions of a rule version kept by another node wait for cannot be routed",
               {{"rule", name.first}, {"version", name.second}, {"reason", why}});
    }
  }
}

bool Pipeline::route_new_events() {
  if (!routes_now()) return false;
  learn_stored_versions();
  for (;;) {
    const int64_t position = store_.routed_up_to();
    router_position_ = position;
    auto events = store_.events_after(position, kRouteBatch);
    if (events.empty()) return false;
    const bool full_batch = events.size() == kRouteBatch;
    RouteBatch batch;
    ParsedContexts contexts;
    batch.from = position;
    batch.routed_up_to = events.back().seq;
    const int64_t batch_end = batch.routed_up_to;
    const int64_t now = now_ms();
    // Before the position moves on: a crash in between checks them again.
    if (!move_segment_members(events, now)) return false;
    for (const StoredEvent& e : events) {
      if (e.status_change && e.status_change->current && e.status_change->enters_status() &&
          status_entities_.count(e.status_change->entity_type) &&
          !options_.known_statuses.count(*e.status_change->current))
        unknown_status(e);
      // Triggers read only the record: the body is parsed only for an event
      // that some rule or wait_for step may take.
      FiredRules fired;
      for (const CompiledRule& rule : rules_)
        if (rule.trigger)
          if (auto fire = rule.trigger->fires(e.record.type, e.record.source, e.status_change);
              fire != Trigger::Fire::kNo)
            fired.emplace_back(&rule, fire);
      const auto awaited = awaited_.find(e.record.type);
      // A goal of some rule, under the contact's key as the store knows it now.
      if (const auto goal = goals_.find(e.record.type); !e.contact_key.empty() && goal != goals_.end())
        batch.goals.push_back({e.contact_key, e.record.type, e.record.occurred_at_ms, worth(e, goal->second)});
      if (fired.empty() && awaited == awaited_.end()) continue;
      json context = context_of(e);
      std::string context_text;
      if (awaited != awaited_.end()) {
        std::set<std::string> keys;
        for (const auto& [awaits, paths] : awaited->second) {
          std::vector<std::pair<std::string, std::string>> matched;
          for (const auto& path : paths)
            if (const json* v = lookup_path(context, path)) matched.emplace_back(path, as_text(*v));
          if (matched.size() == paths.size()) keys.insert(arrival_key(awaits, matched));
        }
        if (!keys.empty()) context_text = dump_text(context);
        for (const auto& key : keys) batch.arrivals.push_back({key, context_text, e.record.received_at_ms});
      }
      if (!fired.empty() && e.record.chain_depth > options_.max_chain_depth) {
        const json data = context.value("data", json::object());
        log_warn("pipeline", "a chain of rules was cut: no rules run for this event",
                 {{"event_id", e.record.id},
                  {"type", e.record.type},
                  {"chain_depth", e.record.chain_depth},
                  {"max_chain_depth", options_.max_chain_depth},
                  {"produced_by_rule", data.value("rule", "")},
                  {"caused_by", data.value("caused_by", "")}});
        // Counted by the rules it would have run: the loop is theirs.
        for (const auto& [rule, fire] : fired)
          if (admits(*rule, context, now)) metrics_.chain_cut(rule->name);
        continue;
      }
      add_executions(e, fired, context, context_text, now, batch.executions, contexts);
    }
    // Synchronous on purpose: the next batch starts from the committed position.
    // As many as there is room for start at once, leased as they are stored.
    // Counted in flight from now: the lane, which runs during the commit,
    // sees the room they take.
    // High-priority executions first: when the campaign fills the room,
    // they start within the priority lane's reserve, as the lane's own do
    // (the router may reach a password reset before the lane does).
    const size_t high = static_cast<size_t>(
        std::distance(batch.executions.begin(),
                      std::stable_partition(batch.executions.begin(), batch.executions.end(),
                                            [](const NewExecution& x) { return x.priority == kHighestPriority; })));
    // On a store shared by several nodes, this one starts the rest only
    // while it is nearly idle: an event then reaches its provider without
    // a claim (a commit and a wake-up less); under load the others claim
    // what they can (SKIP LOCKED spreads it), so that every node's writer works.
    const size_t start_now =
        reserve(std::max(options_.shared_store ? idle_room() : room(), std::min(high, lane_room())));
    std::promise<std::pair<StoreStatus, std::vector<ExecutionRow>>> committed;
    const int64_t claimed_ms = now_ms();
    transitions_.route(std::move(batch), Transitions::Lease{owner_, lease_ms_, start_now},
                       [&](StoreStatus status, std::vector<ExecutionRow> started) {
                         committed.set_value({std::move(status), std::move(started)});
                       });
    // While the batch commits: a high-priority execution of a later event
    // commits with it, rather than one routing batch later.
    route_priority_lane();
    auto [status, started] = committed.get_future().get();
    release(start_now - started.size());
    if (!status.ok()) {
      if (status.code == StoreErrc::kConflict) continue;  // another host routed them: read on from there
      log_error("pipeline", "cannot record routed events", {{"error", status.message}});
      return false;
    }
    start_rows(started, claimed_ms, /*counted=*/true, &contexts);
    lane_position_ = std::max(lane_position_, batch_end);
    return full_batch;
  }
}

std::optional<double> Pipeline::worth(const StoredEvent& e, const std::string& path) {
  if (path.empty()) return std::nullopt;
  const json context = context_of(e);
  const json* value = lookup_path(context, path);
  if (value && value->is_number()) return value->get<double>();
  // A CRM's amount as text ("1500.50", "1 500,50"), read as rules' filters read it.
  if (value && value->is_string()) return number_in_text(value->get_ref<const std::string&>());
  return std::nullopt;
}

bool Pipeline::move_segment_members(const std::vector<StoredEvent>& events, int64_t now) {
  if (segments_.empty()) return true;
  std::vector<EventRecord> moves;
  segments_.check(events, options_.max_chain_depth, now, moves);
  if (moves.empty()) return true;
  std::promise<AppendResult> appended;
  store_.append_events(std::move(moves), [&](AppendResult r) { appended.set_value(std::move(r)); });
  if (const AppendResult r = appended.get_future().get(); !r.ok()) {
    log_error("pipeline", "cannot store the moves of contacts in or out of dynamic segments", {{"error", r.error}});
    return false;
  }
  return true;
}

json Pipeline::context_of(const StoredEvent& e) {
  json context = json::parse(e.record.body_json, nullptr, false);
  if (!context.is_object()) context = json::object();
  // A CRM's own contact.tag_added (tag_removed) reads as the one the host
  // derives: data.tag, the first of the tags its contact adds (removes),
  // and data.tags, all of them, unless it said them.
  for (auto [type, list] :
       {std::pair{"contact.tag_added", "add_tags"}, std::pair{"contact.tag_removed", "remove_tags"}})
    if (e.record.type == type) {
      const json* tags = lookup_path(context, std::string("contact.") + list);
      json& data = context["data"];
      if (data.is_null()) data = json::object();
      if (tags && tags->is_array() && !tags->empty() && data.is_object() && !data.contains("tag")) {
        data["tag"] = tags->front();
        if (!data.contains("tags")) data["tags"] = *tags;
      }
    }
  // Rules read what the host knows of the person and the deal, not only
  // what this event repeated: tags and fields from earlier events count.
  for (const auto& [key, stored] : {std::pair{"contact", &e.contact_json}, std::pair{"entity", &e.entity_json}})
    if (!stored->empty())
      if (json known = json::parse(*stored, nullptr, false); known.is_object()) context[key] = std::move(known);
  // Member by member: an initializer list of pairs cost as much as parsing
  // the event (nlohmann builds and checks an array per pair).
  json event = json::object();
  json::object_t& fields = event.get_ref<json::object_t&>();
  fields.emplace("id", e.record.id);
  fields.emplace("type", e.record.type);
  fields.emplace("source", e.record.source);
  fields.emplace("time", format_time_ms(e.record.occurred_at_ms));
  fields.emplace("chain_depth", e.record.chain_depth);
  // The transition as the store saw it in commit order (not what the
  // sender said the previous status was): filters and messages read it.
  if (e.status_change && e.status_change->enters_status()) {
    const auto text = [](const std::optional<std::string>& s) { return s ? json(*s) : json(); };
    fields.emplace("previous_status", text(e.status_change->previous));
    fields.emplace("status", text(e.status_change->current));
    // A CRM's own (or a rule's) <type>.status_changed reads as the one the
    // host derives: data.previous_status and data.status, unless it said them.
    if (e.record.type.ends_with(".status_changed")) {
      json& data = context["data"];
      if (data.is_null()) data = json::object();
      if (data.is_object()) {
        if (!data.contains("previous_status")) data["previous_status"] = text(e.status_change->previous);
        if (!data.contains("status")) data["status"] = text(e.status_change->current);
      }
    }
  } else if (const auto data = context.find("data"); data != context.end() && data->is_object() &&
                                                     data->contains("caused_by") && data->contains("status") &&
                                                     e.record.type.ends_with(".status_changed")) {
    // A status change the store derived (RecordChanges): the move it saw.
    fields.emplace("previous_status", data->value("previous_status", json()));
    fields.emplace("status", (*data)["status"]);
  }
  context["event"] = std::move(event);
  return context;
}

void Pipeline::unknown_status(const StoredEvent& e) {
  metrics_.unknown_status(e.status_change->entity_type);
  if (const uint64_t n = ++unknown_statuses_; n == 1 || n % 1000 == 0)  // not a line per event of a mistyped import
    log_warn("pipeline", "an entity moved to a status no pipeline of the config has (a typo?)",
             {{"event_id", e.record.id},
              {"entity", e.status_change->entity_type + " " + e.status_change->entity_id},
              {"status", *e.status_change->current},
              {"times", n}});
}

bool Pipeline::admits(const CompiledRule& rule, json& context, int64_t now) const {
  // A rule of one pipeline is not set off by an entity of another (whose
  // status may have the same name); one that names none is taken to be in it.
  if (rule.trigger && !rule.trigger->in_pipeline(context)) return false;
  return !rule.filter || matches_with_account(*rule.filter, context, options_.account, now);
}

void Pipeline::add_executions(const StoredEvent& e, const FiredRules& fired, json& context, std::string& context_text,
                              int64_t now, std::vector<NewExecution>& out, ParsedContexts& contexts) const {
  const size_t before = out.size();
  for (const auto& [rule, fire] : fired) {
    if (!admits(*rule, context, now)) continue;
    if (context_text.empty()) context_text = dump_text(context);
    NewExecution execution{rule->name,
                           e.record.id,
                           context_text,
                           std::nullopt,
                           rule->priority,
                           rule->version,
                           rule->steps.empty() ? std::string() : rule->steps.front().id,
                           e.contact_key};
    if (fire == Trigger::Fire::kIfFirstForEntity)
      execution.once_for_entity = std::make_pair(e.status_change->entity_type, e.status_change->entity_id);
    out.push_back(std::move(execution));
  }
  if (out.size() == before + 1) contexts.emplace(std::make_pair(e.record.id, out.back().rule), std::move(context));
}

bool Pipeline::route_priority_lane() {
  if (!has_priority_lane_ || in_lane_ || router_held_until_ == 0) return false;  // the router's lane
  // It runs in the middle of routing and of starting rows: a store that
  // cannot be read must not unwind those.
  in_lane_ = true;
  bool waiting = false;
  try {
    waiting = lane_turn();
  } catch (const std::exception& e) {
    log_error("pipeline", "the priority lane cannot read the store", {{"error", e.what()}});
  }
  in_lane_ = false;
  return waiting;
}

bool Pipeline::lane_turn() {
  lane_position_ = std::max(lane_position_, router_position_);  // another host may have routed further
  bool waiting = false;
  for (int batches = 0; batches < kLaneBatches; ++batches) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    // Heads only: of a campaign's events the lane routes none, and the
    // router reads them whole anyway.
    auto heads = store_.event_heads_after(lane_position_, kLaneBatch);
    if (heads.empty()) break;
    std::map<int64_t, FiredRules> fired_at;  // by seq
    for (const StoredEvent& head : heads) {
      // The router cuts deep chains and logs it; the lane only leaves them to it.
      if (head.record.chain_depth > options_.max_chain_depth) continue;
      for (const CompiledRule& rule : rules_)
        if (rule.priority == kHighestPriority && rule.trigger)
          if (auto fire = rule.trigger->fires(head.record.type, head.record.source, head.status_change);
              fire != Trigger::Fire::kNo)
            fired_at[head.seq].emplace_back(&rule, fire);
    }
    std::vector<NewExecution> executions;
    ParsedContexts contexts;
    const int64_t now = now_ms();
    for (const StoredEvent& e : whole_events(fired_at)) {
      std::string context_text;
      json context = context_of(e);
      add_executions(e, fired_at.at(e.seq), context, context_text, now, executions, contexts);
    }
    if (!executions.empty()) {
      // They start as they are stored, within max_in_flight and a reserve
      // of its own, so that a campaign that fills the steps in flight does
      // not hold them back (the rest are claimed, highest priority first).
      const Transitions::Lease lease{owner_, lease_ms_, lane_room()};
      const size_t made = executions.size();
      std::promise<std::pair<StoreStatus, std::vector<ExecutionRow>>> committed;
      const int64_t claimed_ms = now_ms();
      transitions_.create(std::move(executions), lease, [&](StoreStatus status, std::vector<ExecutionRow> started) {
        committed.set_value({std::move(status), std::move(started)});
      });
      auto [status, started] = committed.get_future().get();
      if (!status.ok()) {
        log_error("pipeline", "cannot record high-priority executions", {{"error", status.message}});
        return waiting;  // the router makes them when it gets there
      }
      start_rows(started, claimed_ms, /*counted=*/false, &contexts);
      waiting = waiting || started.size() < made;
    }
    lane_position_ = heads.back().seq;
    if (heads.size() < kLaneBatch) break;
  }
  return waiting;
}

std::vector<StoredEvent> Pipeline::whole_events(const std::map<int64_t, FiredRules>& fired_at) {
  if (fired_at.empty()) return {};
  const int64_t first = fired_at.begin()->first, last = fired_at.rbegin()->first;
  std::vector<StoredEvent> out;
  // A few are read one by one; many (a high-priority rule on a common
  // type), with the events between them at once.
  if (fired_at.size() > kLaneWholeReads) {
    for (StoredEvent& e : store_.events_after(first - 1, static_cast<size_t>(last - first + 1)))
      if (fired_at.count(e.seq)) out.push_back(std::move(e));
    return out;
  }
  for (const auto& [seq, fired] : fired_at) {
    auto whole = store_.events_after(seq - 1, 1);
    if (!whole.empty() && whole.front().seq == seq)
      out.push_back(std::move(whole.front()));  // else gone: the router decides
  }
  return out;
}

bool Pipeline::due_now() {
  const auto next = store_.next_due_ms();
  return next && *next <= now_ms();
}

size_t Pipeline::lane_room() {
  std::lock_guard lock(mutex_);
  return stopping_ ? 0 : static_cast<size_t>(std::max(0, options_.max_in_flight + kLaneReserve - steps_in_flight_));
}

size_t Pipeline::idle_room() {
  std::lock_guard lock(mutex_);
  return stopping_ ? 0 : static_cast<size_t>(std::max(0, options_.max_in_flight / kIdleShare - steps_in_flight_));
}

size_t Pipeline::room() {
  std::lock_guard lock(mutex_);
  if (stopping_) return 0;
  return static_cast<size_t>(std::max(0, options_.max_in_flight - steps_in_flight_));
}

bool Pipeline::start_due_steps() {
  const size_t limit = std::min(room(), kDueBatch);
  if (limit == 0) return false;
  const int64_t claimed_ms = now_ms();
  const auto rows = store_.claim_due(DueClaim{owner_, claimed_ms, limit, lease_ms_});
  start_rows(rows, claimed_ms);
  return rows.size() == limit;
}

size_t Pipeline::reserve(size_t steps) {
  std::lock_guard lock(mutex_);
  steps_in_flight_ += static_cast<int>(steps);
  return steps;
}

void Pipeline::release(size_t steps) {
  if (steps == 0) return;
  {
    std::lock_guard lock(mutex_);
    steps_in_flight_ -= static_cast<int>(steps);
  }
  wake_.notify_all();
}

void Pipeline::start_rows(const std::vector<ExecutionRow>& rows, int64_t claimed_ms, bool counted,
                          ParsedContexts* contexts) {
  // Counted at once: the first of them may be recorded before the last starts.
  if (!counted) reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const ExecutionRow& row = rows[i];
    bool stopping = false;
    {
      std::lock_guard lock(mutex_);
      stopping = stopping_;
    }
    if (stopping) {
      // The rest never started: given back, so that the restart takes none for sent.
      for (; i < rows.size(); ++i) record(rows[i].rule, ExecutionUpdate::given_back(rows[i], now_ms()));
      return;
    }
    // A long batch lets the priority lane in now and then.
    if (i % kLaneEvery == kLaneEvery - 1) route_priority_lane();
    try {
      start_step(row, claimed_ms, contexts);
    } catch (const std::exception& e) {
      // A bug or a broken host (no tzdata) fails this execution, not the batch.
      log_error("pipeline", "cannot start a step", {{"execution", row.id}, {"error", e.what()}});
      record(row.rule, ExecutionUpdate::to(row.id, ExecutionState::kFailed, row.step, row.attempt, std::nullopt,
                                           dump_text(history::failed(row.step, e.what(), now_ms())),
                                           std::string("cannot start the step: ") + e.what()));
    }
  }
}

void Pipeline::start_step(const ExecutionRow& row, int64_t claimed_ms, ParsedContexts* contexts) {
  std::string why;
  const CompiledRule* rule = rule_for(row, why);
  nlohmann::json* context = nullptr;
  if (contexts)
    if (auto it = contexts->find(std::make_pair(row.event_id, row.rule)); it != contexts->end()) context = &it->second;
  interpreter_.run(
      row, rule, why,
      [this, name = row.rule, claim = ExecutionUpdate::Claim{row.step, row.due_at_ms}](ExecutionUpdate u) {
        u.claim = claim;
        record(name, std::move(u));
      },
      context, claimed_ms);
}

const CompiledRule* Pipeline::rule_for(const ExecutionRow& row, std::string& why) {
  const CompiledRule* current = rule_named(row.rule);
  if (row.rule_version.empty() || (current && current->version == row.rule_version)) {
    if (!current) why = "no rule '" + row.rule + "'";
    return current;
  }
  // An execution that began before the rule was edited goes on with its own version.
  return version_of(row.rule, row.rule_version, why);
}

std::string Pipeline::current_version(const std::string& rule) const {
  const CompiledRule* current = rule_named(rule);
  return current ? current->version : std::string();
}

std::string Pipeline::step_what(const std::string& rule, const std::string& version, const std::string& step) {
  std::string why;
  const CompiledRule* compiled = version_of(rule, version, why);
  const auto index = compiled ? compiled->index_of(step) : std::nullopt;
  if (!index || *index >= static_cast<int>(compiled->steps.size())) return "";
  const CompiledStep& s = compiled->steps[static_cast<size_t>(*index)];
  return std::to_string(static_cast<int>(s.kind)) + ":" + s.name;
}

const CompiledRule* Pipeline::version_of(const std::string& rule, const std::string& version, std::string& why) {
  if (const CompiledRule* current = rule_named(rule); current && current->version == version) return current;
  std::lock_guard lock(versions_mutex_);
  auto key = std::make_pair(rule, version);
  if (auto it = versions_.find(key); it != versions_.end()) return it->second.get();
  auto stored = store_.rule_version(rule, version);
  if (!stored) {
    why = "version " + version + " of rule '" + rule + "' is not in the store";
    return nullptr;
  }
  if (!options_.compile_version) {
    why = "version " + version + " of rule '" + rule + "' cannot be compiled here";
    return nullptr;
  }
  auto compiled = options_.compile_version(json::parse(stored->source_json, nullptr, false), why);
  if (!compiled) return nullptr;
  compiled->index_steps();
  // Its executions may reach a wait_for the current version no longer has.
  await_events_of(*compiled);
  return versions_.emplace(key, std::make_unique<CompiledRule>(std::move(*compiled))).first->second.get();
}

void Pipeline::record(const std::string& rule, ExecutionUpdate update) {
  {
    std::lock_guard lock(mutex_);
    if (!recording_) return;  // stopped: the step runs again after a restart
  }
  auto state = std::make_shared<ExecutionState>(update.state);
  if (update.decide)  // the state is known once decided, in the unit
    update.decide = [decide = std::move(update.decide), state](ExecutionRows& rows, ExecutionUpdate& u) {
      decide(rows, u);
      *state = u.state;
    };
  update.lease_owner = owner_;  // refused if the lease ran out and another host took the step over
  submit_record({rule, std::move(update), std::move(state)});
}

void Pipeline::submit_record(Unrecorded record) {
  const int64_t id = record.update.id;
  auto rest = std::make_shared<Unrecorded>(std::move(record));  // all but the update, which the store holds meanwhile
  ExecutionUpdate update = std::move(rest->update);
  transitions_.update(std::move(update), [this, id, rest](StoreStatus status, ExecutionUpdate&& given) {
    const std::string& rule = rest->rule;
    const ExecutionState state = *rest->state;
    if (status.code == StoreErrc::kUnavailable) {
      const int64_t now = now_ms();
      if (rest->tries == 0) {
        log_warn("pipeline", "cannot record a step yet: it is recorded once the store is back",
                 {{"execution", id}, {"error", status.message}});
        // Until the claim's lease ends (its due time): the step is anyone's then.
        rest->until_ms = given.claim && given.claim->due_at_ms ? *given.claim->due_at_ms : now + lease_ms_;
      }
      const int64_t pause =
          std::min<int64_t>(kRecordAgainLongest.count(), kRecordAgainFirst.count() << std::min(rest->tries, 8));
      if (now < rest->until_ms &&
          record_later({rule, std::move(given), rest->state, rest->tries + 1, now + pause, rest->until_ms}))
        return;
    }
    if (!status.ok()) log_error("pipeline", "cannot record a step", {{"execution", id}, {"error", status.message}});
    // A cancel is an operator's, not an end the rule reached: not counted,
    // nor is a step's end that found its execution cancelled; a step held
    // in doubt is not an end either (the execution ends after the operator).
    if (status.ok() && given.recorded && state != ExecutionState::kReady && state != ExecutionState::kWaiting &&
        state != ExecutionState::kCancelled && state != ExecutionState::kInDoubt)
      metrics_.execution_ended(rule, state);
    {
      std::lock_guard lock(mutex_);
      --steps_in_flight_;
      woken_ = true;  // its next step may be due now
    }
    wake_.notify_all();
  });
}

bool Pipeline::record_later(Unrecorded unrecorded) {
  {
    std::lock_guard lock(mutex_);
    if (!recording_ || stopping_) return false;
    unrecorded_.push_back(std::move(unrecorded));
    woken_ = true;  // the loop's sleep ends by its time
  }
  wake_.notify_all();
  return true;
}

void Pipeline::record_unrecorded() {
  std::vector<Unrecorded> due;
  {
    std::lock_guard lock(mutex_);
    const int64_t now = now_ms();
    const auto waiting = std::stable_partition(unrecorded_.begin(), unrecorded_.end(),
                                               [&](const Unrecorded& u) { return u.again_at_ms > now; });
    due.assign(std::make_move_iterator(waiting), std::make_move_iterator(unrecorded_.end()));
    unrecorded_.erase(waiting, unrecorded_.end());
  }
  for (Unrecorded& u : due) submit_record(std::move(u));
}

std::chrono::milliseconds Pipeline::until_record_again() {
  std::lock_guard lock(mutex_);
  auto sleep = kPoll;
  const int64_t now = now_ms();
  for (const Unrecorded& u : unrecorded_)
    sleep = std::min(sleep, std::chrono::milliseconds(std::max<int64_t>(0, u.again_at_ms - now)));
  return sleep;
}

}  // namespace sb
