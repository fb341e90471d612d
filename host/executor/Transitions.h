// What happens to stored executions between their steps, decided here and
// written through the store's plain row operations (Store::transact): new
// executions for routed events, a step's result, an awaited event resuming
// its waits ("the timeout wins" once due), the last branch of a parallel
// group making its parent go on, and an admin's command (a cancel reaches
// the branches). Each is one unit of work: all of it commits or none.
// The in-memory runner (executor/CompletedRoutes.h) joins its groups with the
// same history entries (executor/History.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/Store.h"

namespace sb {

struct NewExecution {
  std::string rule;
  std::string event_id;
  std::string context_json;  // what the rule's templates and conditions read
  // Range triggers fire once per entity: the execution is created only if
  // this (rule, entity) has not fired before.
  std::optional<std::pair<std::string, std::string>> once_for_entity;  // type, id
  int priority = kNormalPriority;
  std::string rule_version = {};  // the version it runs to the end, whatever later edits (see RuleVersion)
  std::string first_step = {};    // that version's first step: where the execution stands until it runs
  std::string contact_key = {};   // the contact its event named, as the store knows them ("" = none)
};

// An event that a waiting execution may be waiting for. `key` is the event
// type with the values the wait matches on (see Pipeline): it resumes every
// execution waiting for that key, and is kept for a while in case an
// execution starts waiting for it just after (a delivery report that
// overtook the send's own result).
struct Arrival {
  std::string key;
  std::string event_json;  // what the resumed execution's later steps read
  int64_t at_ms = 0;
};

// Executions found for events up to `routed_up_to` (inclusive), stored
// together with the new position, so that no event is routed twice.
// `from` is the position the events were read after: another router (a host
// sharing the store) that moved it first makes the batch fail with kConflict,
// and the events are read again.
struct RouteBatch {
  int64_t from = 0;
  int64_t routed_up_to = 0;
  std::vector<NewExecution> executions;
  std::vector<Arrival> arrivals;
  std::vector<GoalReached> goals;  // of the events, those a rule's "goal" names
};

// A branch of a parallel group, started with the update that makes its
// parent wait: an execution of its own (event id "<parent's>#<suffix>") that
// runs from `start_step` until `end_step`, beginning with the parent's
// history. When the last branch of a parent is done, failed or cancelled,
// the parent is ready again, with the branches' ends in its history.
struct NewBranch {
  std::string suffix;
  std::string start_step;
  std::string end_step;
};

// What a step did: the execution's next state, and a history record.
// A cancelled execution stays cancelled: a step that was in flight when it
// was cancelled records nothing (it only ends its lease: a retry waits for
// that).
struct ExecutionUpdate {
  int64_t id = 0;
  ExecutionState state = ExecutionState::kReady;
  std::string step;
  int attempt = 0;
  std::optional<int64_t> due_at_ms;
  std::string history_entry_json;  // appended to the history; empty = none
  std::string error;
  // Waiting for an event: an arrival for this key (even one kept from a
  // moment before) makes it ready at `resume_step`; `due_at_ms` is the timeout.
  std::string awaiting;
  std::string resume_step;
  std::vector<NewBranch> branches;  // a parallel group: started together with this update
  // The claimer: applied only while the row's lease is still theirs (else
  // kConflict: the lease ran out and another took the step over).
  std::string lease_owner;
  // Decided where it is applied, for a step whose outcome depends on host
  // state that other executions share (a digest: whether this execution
  // leads its group): reads and writes that state through the unit's rows,
  // under their lock, and sets the fields above. May run more than once.
  std::function<void(ExecutionRows&, ExecutionUpdate&)> decide;
  std::vector<std::pair<std::string, std::string>> decides_from;  // the state keys `decide` reads (Store::Finds)
  // The claim it ends: the row's step, and its due time as the claim left
  // it (the lease's end, which nothing but a claim sets while the row is
  // leased). Applied only while the row is still so (else kConflict): a
  // result given again after the store was away must not move a row that
  // went on, or was claimed again, since.
  struct Claim {
    std::string step;
    std::optional<int64_t> due_at_ms;
  };
  std::optional<Claim> claim;
  // A claimed step given back unstarted (the host stops): the row's doubt
  // (a step a dead host may have sent) still holds; any other update ends it.
  bool keeps_doubt = false;
  // Set where it is applied: false when the execution was cancelled
  // meanwhile (nothing recorded but the end of the step's lease).
  bool recorded = true;

  // A claimed row given back as it was, due now and leased to no one: its
  // step never started here, so this claim adds no doubt (a dead host's stays).
  static ExecutionUpdate given_back(const ExecutionRow& row, int64_t now_ms) {
    ExecutionUpdate u = to(row.id, row.state, row.step, row.attempt, now_ms);
    u.awaiting = row.awaiting;
    u.resume_step = row.resume_step;
    u.claim = Claim{row.step, row.due_at_ms};
    u.keeps_doubt = true;
    return u;
  }

  // The usual update: a state, a position and a history entry.
  static ExecutionUpdate to(int64_t id, ExecutionState state, std::string step, int attempt,
                            std::optional<int64_t> due_at_ms, std::string history_entry_json = "",
                            std::string error = "") {
    ExecutionUpdate u;
    u.id = id;
    u.state = state;
    u.step = std::move(step);
    u.attempt = attempt;
    u.due_at_ms = due_at_ms;
    u.history_entry_json = std::move(history_entry_json);
    u.error = std::move(error);
    return u;
  }
};

// An admin's command: applied only when the execution is in one of `from`
// (else kConflict; kNotFound when there is no such execution), and, unless
// it cancels, only when none of its steps is running.
struct ExecutionCommand {
  int64_t id = 0;
  std::vector<ExecutionState> from;
  ExecutionState to = ExecutionState::kReady;
  std::optional<int64_t> due_at_ms;
  std::string history_entry_json;
  Doubt doubt = Doubt::kNone;
  std::string rule_version = {};  // "": the one it runs; else the version it goes on with (at the same step)
};

class Transitions {
 public:
  // `arrival_retention_ms`: how long an awaited event is kept for an
  // execution that starts waiting for it only after it arrived.
  explicit Transitions(Store& store, int64_t arrival_retention_ms = 3600 * 1000)
      : store_(store), arrival_retention_ms_(arrival_retention_ms) {}

  // The first `lease.start_now` executions made are leased to `lease.owner`
  // as they are stored and handed back in `started`, to run at once: no
  // claim (one write less per execution) and no wait for the next one.
  struct Lease {
    std::string owner;
    int64_t lease_ms = 0;
    size_t start_now = 0;
  };
  using Created = std::function<void(StoreStatus status, std::vector<ExecutionRow> started)>;
  void route(RouteBatch batch, Store::WriteCallback done);
  void route(RouteBatch batch, Lease lease, Created done);
  // Executions made ahead of the router (the pipeline's priority lane); the
  // position stays where it is, and the router's own try later changes nothing.
  // Urgent (Store::transact_urgent): their first steps wait for the commit.
  void create(std::vector<NewExecution> executions, Lease lease, Created done);
  // `done` gets the update back: one the store could not commit
  // (kUnavailable: a connection lost, a full disk) may be given again as it
  // is, since it applies only while the lease is still its claimer's.
  using Updated = std::function<void(StoreStatus status, ExecutionUpdate&& update)>;
  void update(ExecutionUpdate update, Updated done);
  void update(ExecutionUpdate update, Store::WriteCallback done);
  // `cancelled`: the executions a cancel cancelled, the one named and the
  // branches of a parallel group under it (their steps may be running).
  using Commanded = std::function<void(StoreStatus status, std::vector<int64_t> cancelled)>;
  void command(ExecutionCommand command, Commanded done);

 private:
  Store& store_;
  const int64_t arrival_retention_ms_;
};

}  // namespace sb
