#include "executor/Transitions.h"

#include <algorithm>
#include <memory>

#include "executor/ArrivalKeys.h"
#include "executor/History.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

bool has_ended(ExecutionState s) {
  return s == ExecutionState::kDone || s == ExecutionState::kFailed || s == ExecutionState::kCancelled;
}

// Writes `row` over what was read as `before`; another writer in between
// (a second host) makes the whole unit fail, to be tried again.
void write(ExecutionRows& rows, const ExecutionRow& row, const ExecutionRow& before) {
  if (!rows.compare_and_set(row, before.state, before.lease_owner))
    throw StoreError("execution " + std::to_string(row.id) + " changed while it was being written",
                     StoreErrc::kConflict);
}

void append(ExecutionRow& row, const json& entry) {
  row.history_json = history::appended(row.history_json, dump_text(entry));
}

// An awaited event resumes the wait at the step after it, or at its else
// steps when its type is one of the wait's else_on. The timeout wins once
// due (the scheduler may be running the timeout's step: the row is then
// leased), and an event from before the execution began counts not.
void resume(ExecutionRows& rows, const ExecutionRow& waiting, const StoredArrival& arrival) {
  const int64_t now = now_ms();
  if (waiting.state != ExecutionState::kWaiting || waiting.awaiting != arrival.key || !waiting.due_at_ms ||
      *waiting.due_at_ms <= now || !waiting.lease_owner.empty() || waiting.created_at_ms > arrival.at_ms ||
      arrival.seq <= waiting.last_arrival)
    return;
  json event = json::parse(arrival.event_json, nullptr, false);
  const json* type = event.is_object() && event.contains("event") ? &event["event"] : nullptr;
  const bool to_else = type && type->is_object() && takes_else(waiting.awaiting, type->value("type", ""));
  ExecutionRow row = waiting;
  row.state = ExecutionState::kReady;
  row.step = to_else ? waiting.step : waiting.resume_step;  // a waiting row's step is its timeout's (else)
  row.attempt = 0;
  row.due_at_ms = now;
  row.awaiting.clear();
  row.updated_at_ms = now;
  row.last_arrival = arrival.seq;
  append(row, history::event_arrived(history::last_step(waiting.history_json), std::move(event), now, to_else));
  write(rows, row, waiting);
}

// The last branch of a parallel group to end makes its parent go on, with
// every branch's end in its history.
void join_if_ended(ExecutionRows& rows, int64_t parent_id) {
  // The parent before its branches: a row found is the unit's until it
  // commits (ExecutionRows::find), so of two branches that end at once on
  // two hosts, the second to find it sees the first one ended.
  const auto parent = rows.find(parent_id);
  if (!parent || parent->state != ExecutionState::kWaiting || parent->due_at_ms || !parent->awaiting.empty()) return;
  const auto branches = rows.branches(parent_id);
  if (std::any_of(branches.begin(), branches.end(), [](const ExecutionRow& b) { return !has_ended(b.state); })) return;
  json ends = json::array();
  for (const ExecutionRow& b : branches)
    ends.push_back(history::branch_end(b.id, b.event_id, state_name(b.state), b.error,
                                       json::parse(b.history_json, nullptr, false)));
  const int64_t now = now_ms();
  ExecutionRow row = *parent;
  row.state = ExecutionState::kReady;
  row.due_at_ms = now;
  row.updated_at_ms = now;
  append(row, history::branches_ended(history::last_step(parent->history_json), std::move(ends), now));
  write(rows, row, *parent);
}

// Cancelling a parallel group's parent cancels its branches, theirs too.
void cancel_branches(ExecutionRows& rows, int64_t parent_id, std::vector<int64_t>& cancelled) {
  for (const ExecutionRow& branch : rows.branches(parent_id)) {
    cancel_branches(rows, branch.id, cancelled);
    if (branch.state != ExecutionState::kReady && branch.state != ExecutionState::kWaiting &&
        branch.state != ExecutionState::kInDoubt)
      continue;
    ExecutionRow row = branch;
    row.state = ExecutionState::kCancelled;
    row.due_at_ms.reset();
    row.awaiting.clear();  // its lease stays: a step of it may be running (a retry waits for its end)
    row.updated_at_ms = now_ms();
    append(row, history::cancelled_with_parent(row.updated_at_ms));
    write(rows, row, branch);
    cancelled.push_back(branch.id);
  }
}

// New executions, due now; the first `lease.start_now` of them leased to
// `lease.owner` instead (and copied to `started`).
void insert_new(ExecutionRows& rows, const std::vector<NewExecution>& executions, int64_t now,
                const Transitions::Lease& lease, std::vector<ExecutionRow>* started) {
  std::vector<ExecutionRow> made;
  made.reserve(executions.size());
  for (const NewExecution& e : executions) {
    if (e.once_for_entity && !rows.fire_once(e.rule, e.once_for_entity->first, e.once_for_entity->second))
      continue;  // this rule already fired for this entity
    const bool start = started && made.size() < lease.start_now;
    made.push_back(ExecutionRow{.rule = e.rule,
                                .rule_version = e.rule_version,
                                .event_id = e.event_id,
                                .step = e.first_step,
                                .due_at_ms = start ? now + lease.lease_ms : now,  // leased: due again if its lease ends
                                .context_json = e.context_json,
                                .history_json = "[]",
                                .created_at_ms = now,
                                .updated_at_ms = now,
                                .priority = e.priority,
                                .lease_owner = start ? lease.owner : "",
                                .contact_key = e.contact_key});
  }
  const std::vector<int64_t> ids = rows.insert_all(made);
  for (size_t i = 0; i < made.size(); ++i) {
    made[i].id = ids[i];
    if (started && !made[i].lease_owner.empty() && made[i].id != 0) started->push_back(std::move(made[i]));
  }
}

void route_batch(ExecutionRows& rows, const RouteBatch& batch, int64_t arrival_retention_ms,
                 const Transitions::Lease& lease, std::vector<ExecutionRow>& started) {
  if (!rows.move_router(batch.from, batch.routed_up_to))
    throw StoreError("events after " + std::to_string(batch.from) + " were routed already", StoreErrc::kConflict);
  const int64_t now = now_ms();
  insert_new(rows, batch.executions, now, lease, &started);
  for (const Arrival& a : batch.arrivals) {
    const StoredArrival kept{rows.keep_arrival(a.key, a.event_json, a.at_ms), a.key, a.event_json, a.at_ms};
    for (const ExecutionRow& waiting : rows.awaiting(a.key)) resume(rows, waiting, kept);
  }
  if (!batch.arrivals.empty()) rows.forget_arrivals(now - arrival_retention_ms);
  for (const GoalReached& goal : batch.goals) rows.keep_goal(goal);
}

// False when the execution was cancelled meanwhile: only the step's lease ended.
bool apply_update(ExecutionRows& rows, const ExecutionUpdate& given) {
  const auto before = rows.find(given.id);
  if (!before) throw StoreError("no execution " + std::to_string(given.id), StoreErrc::kNotFound);
  if (before->state == ExecutionState::kCancelled) {
    // The step that was running when it was cancelled has ended: its lease
    // too (a cancel clears the due time, so only the step tells the claim).
    if (!before->lease_owner.empty() && (given.lease_owner.empty() || given.lease_owner == before->lease_owner) &&
        (!given.claim || given.claim->step == before->step)) {
      ExecutionRow row = *before;
      row.lease_owner.clear();
      write(rows, row, *before);
    }
    return false;
  }
  // A step given up for a cancel of a row no longer cancelled (retried
  // since): refused, its lease runs out and the step runs again.
  if (given.state == ExecutionState::kCancelled)
    throw StoreError("execution " + std::to_string(given.id) + " is no longer cancelled", StoreErrc::kConflict);
  if (!given.lease_owner.empty() && before->lease_owner != given.lease_owner)
    throw StoreError("execution " + std::to_string(given.id) + "'s lease is no longer " + given.lease_owner + "'s",
                     StoreErrc::kConflict);
  if (given.claim && (before->step != given.claim->step || before->due_at_ms != given.claim->due_at_ms))
    throw StoreError("execution " + std::to_string(given.id) + " went on, or was claimed again, since step '" +
                         given.claim->step + "' was claimed",
                     StoreErrc::kConflict);
  // A step that decides from shared state decides now, with the row locked
  // (and the state, by the rows it reads), and only if the update applies.
  std::optional<ExecutionUpdate> decided;
  if (given.decide) given.decide(rows, decided.emplace(given));
  const ExecutionUpdate& u = decided ? *decided : given;
  const int64_t now = now_ms();
  ExecutionRow row = *before;
  row.state = u.state;
  row.step = u.step;
  row.attempt = u.attempt;
  row.due_at_ms = u.due_at_ms;
  row.error = u.error;
  row.updated_at_ms = now;
  if (!u.history_entry_json.empty()) row.history_json = history::appended(row.history_json, u.history_entry_json);
  row.awaiting = u.awaiting;
  row.resume_step = u.resume_step;
  row.lease_owner.clear();
  row.doubt = u.keeps_doubt ? before->doubt : Doubt::kNone;
  write(rows, row, *before);
  for (const NewBranch& b : u.branches) {
    rows.insert(ExecutionRow{.rule = row.rule,
                             .rule_version = row.rule_version,
                             .event_id = row.event_id + "#" + b.suffix,
                             .step = b.start_step,
                             .due_at_ms = now,
                             .context_json = row.context_json,
                             .history_json = row.history_json,  // a branch reads what came before its group
                             .created_at_ms = now,
                             .updated_at_ms = now,
                             .parent_id = row.id,
                             .end_step = b.end_step,
                             .priority = row.priority,
                             .contact_key = row.contact_key});
  }
  if (!u.branches.empty()) join_if_ended(rows, row.id);  // none could start: go on
  if ((u.state == ExecutionState::kDone || u.state == ExecutionState::kFailed) && row.parent_id != 0)
    join_if_ended(rows, row.parent_id);
  if (!u.awaiting.empty())
    if (auto early = rows.arrival(u.awaiting, row.created_at_ms, row.last_arrival)) resume(rows, row, *early);
  return true;
}

void apply_command(ExecutionRows& rows, const ExecutionCommand& c, std::vector<int64_t>& cancelled) {
  const auto before = rows.find(c.id);
  if (!before) throw StoreError("no execution " + std::to_string(c.id), StoreErrc::kNotFound);
  if (std::find(c.from.begin(), c.from.end(), before->state) == c.from.end())
    throw StoreError("execution " + std::to_string(c.id) + " is " + state_name(before->state), StoreErrc::kConflict);
  // A cancelled step may still be running: run again only once it ended.
  if (c.to != ExecutionState::kCancelled && !before->lease_owner.empty())
    throw StoreError("a step of execution " + std::to_string(c.id) + " is still running", StoreErrc::kConflict);
  ExecutionRow row = *before;
  row.state = c.to;
  // A cancelled row is never due: only its running step's lease is left.
  row.due_at_ms = c.to == ExecutionState::kCancelled ? std::nullopt : c.due_at_ms;
  row.attempt = 0;
  row.error.clear();
  row.updated_at_ms = now_ms();
  if (!c.history_entry_json.empty()) row.history_json = history::appended(row.history_json, c.history_entry_json);
  row.awaiting.clear();
  row.doubt = c.doubt;
  if (!c.rule_version.empty()) row.rule_version = c.rule_version;
  write(rows, row, *before);  // the lease stays: a step of it may be running
  if (c.to == ExecutionState::kCancelled) {
    cancelled.push_back(c.id);
    cancel_branches(rows, c.id, cancelled);
    if (row.parent_id != 0) join_if_ended(rows, row.parent_id);
  }
}

}  // namespace

namespace {

// Routing keeps an event under a key while a step that starts waiting for
// it reads whether it came: both lock the key's name, so that on a store
// several nodes write, neither reads before the other commits (each would
// miss the other's write, and the wait would last until its timeout).
// The keys share 256 locks (by a hash every node computes alike): a routing
// batch of many events takes a bounded number of PostgreSQL's lock slots.
constexpr char kArrivalLocks[] = "host:arrivals";
std::pair<std::string, std::string> arrival_lock(const std::string& key) {
  uint32_t hash = 2166136261u;  // FNV-1a
  for (unsigned char c : key) hash = (hash ^ c) * 16777619u;
  return {kArrivalLocks, std::to_string(hash % 256)};
}

// A unit of work that makes executions, and hands back those it leased.
void transact_creating(Store& store, std::function<void(ExecutionRows&, std::vector<ExecutionRow>&)> make,
                       Transitions::Created done, bool urgent = false, Store::Finds finds = {}) {
  auto started = std::make_shared<std::vector<ExecutionRow>>();
  Store::Work work = [started, make = std::move(make)](ExecutionRows& rows) {
    started->clear();  // a unit may run again
    make(rows, *started);
  };
  Store::WriteCallback committed = [started, done = std::move(done)](StoreStatus status) {
    if (!status.ok()) started->clear();
    done(std::move(status), std::move(*started));
  };
  if (!finds.state.empty())
    store.transact_on(std::move(finds), std::move(work), std::move(committed));
  else if (urgent)
    store.transact_urgent(std::move(work), std::move(committed));
  else
    store.transact(std::move(work), std::move(committed));
}

}  // namespace

void Transitions::route(RouteBatch batch, Store::WriteCallback done) {
  route(std::move(batch), Lease{},
        [done = std::move(done)](StoreStatus status, std::vector<ExecutionRow>) { done(std::move(status)); });
}

void Transitions::route(RouteBatch batch, Lease lease, Created done) {
  auto b = std::make_shared<RouteBatch>(std::move(batch));
  Store::Finds finds;
  for (const Arrival& a : b->arrivals) finds.state.push_back(arrival_lock(a.key));
  transact_creating(
      store_,
      [b, lease = std::move(lease), retention = arrival_retention_ms_](ExecutionRows& rows,
                                                                       std::vector<ExecutionRow>& started) {
        route_batch(rows, *b, retention, lease, started);
      },
      std::move(done), /*urgent=*/false, std::move(finds));
}

void Transitions::create(std::vector<NewExecution> executions, Lease lease, Created done) {
  auto e = std::make_shared<std::vector<NewExecution>>(std::move(executions));
  transact_creating(
      store_,
      [e, lease = std::move(lease)](ExecutionRows& rows, std::vector<ExecutionRow>& started) {
        insert_new(rows, *e, now_ms(), lease, &started);
      },
      std::move(done), /*urgent=*/true);
}

void Transitions::update(ExecutionUpdate update, Updated done) {
  auto u = std::make_shared<ExecutionUpdate>(std::move(update));
  Store::Finds finds{{u->id}, u->decides_from};
  if (!u->awaiting.empty()) finds.state.push_back(arrival_lock(u->awaiting));
  store_.transact_on(
      std::move(finds), [u](ExecutionRows& rows) { u->recorded = apply_update(rows, *u); },
      [u, done = std::move(done)](StoreStatus status) { done(std::move(status), std::move(*u)); });
}

void Transitions::update(ExecutionUpdate update, Store::WriteCallback done) {
  this->update(std::move(update),
               [done = std::move(done)](StoreStatus status, ExecutionUpdate&&) { done(std::move(status)); });
}

void Transitions::command(ExecutionCommand command, Commanded done) {
  auto c = std::make_shared<ExecutionCommand>(std::move(command));
  auto cancelled = std::make_shared<std::vector<int64_t>>();
  store_.transact_on(
      {{c->id}, {}},
      [c, cancelled](ExecutionRows& rows) {
        cancelled->clear();  // a unit may run again
        apply_command(rows, *c, *cancelled);
      },
      [cancelled, done = std::move(done)](StoreStatus status) {
        if (!status.ok()) cancelled->clear();
        done(std::move(status), std::move(*cancelled));
      });
}

}  // namespace sb
