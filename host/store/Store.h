// The host's durable state behind one narrow interface: events (appended in
// groups, one fsync for many requests), and the contacts and entities they
// describe. SQLite is the embedded backend (SqliteStore); a PostgreSQL backend
// shared by several hosts implements the same interface.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sb {

// What an event says about the person it concerns; merged into the stored
// contact (JSON merge patch: a null field removes it).
// An update with no data (and no tags, no status) only names its record:
// the event is about it (rules see it) but changes nothing in it.
// Items added to and removed from one of a contact's lists after the merge
// (a merge patch replaces a whole list): what a rule's add_tag does.
struct ListChange {
  std::vector<std::string> add = {};
  std::vector<std::string> remove = {};
  bool empty() const { return add.empty() && remove.empty(); }
};

struct ContactUpdate {
  std::string key;           // "id:<id>", "email:<address>" or "phone:<number>"
  std::string data_json;     // the event's contact object ("" = names it only)
  ListChange tags = {};      // "tags"
  ListChange segments = {};  // "segments": the segments it is a member of
  // Compare-and-set: the event is kept only if it changes the contact, so
  // that of two checks that saw the same change, the second tells nothing.
  bool only_if_it_changes = false;
  // "email:<address>" and "phone:<number>" for every address and number the
  // event names: the same person, whichever of them a later event names
  // alone (an SMS reply knows only the number). Learned by the store.
  std::vector<std::string> aliases = {};
  // A manager's own choice on dynamic segments (the admin API), which their
  // filters do not overrule: "manual_segments" keeps the contact in, and
  // "excluded_segments" out, until it is reset.
  ListChange manual_segments = {};
  ListChange excluded_segments = {};
};

// A figure kept per contact from the events about them (config
// "aggregates"): every event of `event_type` that names the contact counts,
// and the number at `value` (a dotted path in the event, "data.amount") adds
// to the sum. The contact shows it as "aggregates": {"<name>": {"count",
// "sum", "average", "min", "max", "first_at", "last_at"}}: a visit count, an
// average check, the last visit.
struct ContactAggregate {
  std::string name;
  std::string event_type;
  std::string value;  // "" = counted only
};

// What an event says about the lead, deal, booking or task it concerns.
struct EntityUpdate {
  std::string type;
  std::string id;
  bool sets_status = false;           // the event says which status it is in now
  std::optional<std::string> status;  // that status; none = "no status"
  std::string data_json;              // the event's entity object, merged like a contact ("" = names it only)
  // Stored only while the entity's status is one of these (none: no status),
  // read as the event is stored; otherwise the event is kUnchanged.
  std::optional<std::vector<std::optional<std::string>>> only_from = {};
  // The status the sender says it left ("previous_status"; none: no
  // status): taken only for an entity the host does not know yet, whose
  // move it would otherwise read as a creation from no status.
  std::optional<std::optional<std::string>> stated_previous = {};
};

struct EventRecord {
  std::string id;      // the idempotency key: a repeated id (from the same source) is a duplicate
  std::string type;    // "lead.status_changed"
  std::string source;  // "api" or the emitting plugin instance
  int64_t occurred_at_ms = 0;
  int64_t received_at_ms = 0;
  std::string body_json;  // the whole event as accepted
  std::optional<ContactUpdate> contact;
  std::optional<EntityUpdate> entity;
  int chain_depth = 0;  // 0 from outside; an event a rule's action produced: one more than its cause
  // A provider's report on a message a step sent (message.delivered, ...):
  // the id that step was given (its external_id). Empty for other events.
  std::string message_id;
  // Ids the same occurrence may have been stored under before (a special
  // date under a key its contact had before it was merged): one of them
  // stored from the same source makes this a duplicate.
  std::vector<std::string> also_known_as = {};
};

// One report on a sent message, as stored with its event (message_reports).
struct MessageReport {
  std::string message_id;
  std::string type;  // "message.delivered", "message.opened", ...
  int64_t received_at_ms = 0;
};

// A contact reaching a rule's goal (an event of a type some rule's "goal"
// names: a booking after a campaign's message), kept as long as events are,
// for the conversion of the messages and executions before it.
struct GoalReached {
  std::string contact_key;
  std::string type;
  int64_t at_ms = 0;
  std::optional<double> value = {};  // what it was worth (a payment's amount), when a rule's goal reads it
};

// What an event did to its entity's status, as the store saw it in commit
// order (the router's status triggers need the state before the event).
struct StatusChange {
  std::string entity_type;
  std::string entity_id;
  bool created = false;                 // the entity was unknown before this event
  std::optional<std::string> previous;  // none: "no status"
  std::optional<std::string> current;
  bool enters_status() const { return created || previous != current; }
};

// Whether an event type is wanted (Store::derive_only).
using EventTypeFilter = std::function<bool(const std::string& type)>;

// kUnchanged: an event kept only if it changed its contact, that did not.
// kIdTaken: its id is stored for an event of another source (two senders
// that number their events alike): not a repeat, and not stored either, so
// that the sender hears of it rather than losing the event to a dedupe.
enum class AppendOutcome { kStored, kDuplicate, kUnchanged, kIdTaken };

struct AppendResult {
  std::string error;                    // empty when the batch is committed
  std::vector<AppendOutcome> outcomes;  // one per event of the batch, in order
  bool ok() const { return error.empty(); }
};

struct StoredEvent {
  int64_t seq = 0;  // commit order
  EventRecord record;
  std::optional<StatusChange> status_change;  // when the event set its entity's status
  // The event's contact and entity as the store knows them now (every
  // event's fields merged, this one's included); empty when it names none.
  std::string contact_json;
  std::string entity_json;
  std::string contact_key;  // the contact it names ("" = none)
};

// ---- executions: a rule run for one event, persisted as a state machine.

// kInDoubt: a step that was in flight when its host died, whose provider
// takes no idempotency key, held for an operator (a rule's on_doubt: hold).
enum class ExecutionState { kReady, kWaiting, kDone, kFailed, kCancelled, kInDoubt };

// Whether the step an execution is at may already have run.
enum class Doubt {
  kNone,
  kMayHaveRun,  // its lease ended without an update (a host died mid-step)
  kMarkedDone,  // an operator says the in-doubt step did run: it counts as done
};
const char* state_name(ExecutionState s);
// What every caller says of an append's kIdTaken.
std::string id_taken_problem(const std::string& id);
std::optional<ExecutionState> state_named(const std::string& s);

// Due work of a higher priority is claimed first (a password reset is not
// queued behind a campaign); a parallel branch has its parent's.
inline constexpr int kLowestPriority = 0;
inline constexpr int kNormalPriority = 1;
inline constexpr int kHighestPriority = 2;

// Steps are named by their rule version's stable ids (rules/CompiledRule.h):
// "" is the first step, "$end" past the last.
struct ExecutionRow {
  int64_t id = 0;
  std::string rule = {};
  std::string rule_version = {};  // "": written before versions were kept (steps were indexes then)
  std::string event_id = {};
  ExecutionState state = ExecutionState::kReady;
  std::string step = {};  // the next step to run
  int attempt = 0;        // failed attempts of that step so far
  std::optional<int64_t> due_at_ms = {};
  std::string context_json = {};
  std::string history_json = {};  // [{"step":..,"outcome":..,...}, ...]
  std::string error = {};         // why it failed (dead letter)
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::string awaiting = {};     // the arrival key it waits for ("" = none); `step` is then where a timeout leads
  std::string resume_step = {};  // ... and where the arrival leads
  int64_t parent_id = 0;         // a branch of a parallel group: the execution that waits for it (0 = none) ...
  std::string end_step = {};     // ... and the step at which the branch is over
  int priority = kNormalPriority;
  std::string lease_owner = {};  // who runs its step now ("" = no one); due_at is then the lease's end
  Doubt doubt = Doubt::kNone;    // every update ends it
  int64_t last_arrival = 0;      // the last kept arrival it took (StoredArrival::seq): none counts twice
  std::string contact_key = {};  // the contact its event named, under the key the store knew them by then ("" = none)
};

// An awaited event, kept a while for an execution that starts waiting for it
// only after it arrived (a delivery report that overtook the send's result).
struct StoredArrival {
  int64_t seq = 0;  // increases with every arrival kept
  std::string key;
  std::string event_json;
  int64_t at_ms = 0;
};

// Due work, leased to `owner` (unique across hosts and restarts): the rows
// claimed are theirs until `lease_ms` from now, or until their update is
// committed. The lease is written into the row (owner, and the due time
// moved to the lease's end), so other claims skip it by index, and take it
// over once the lease ends (a host that died mid-step): the lease must
// outlast the longest step. Highest priority first, then earliest due.
// PostgreSQL: UPDATE executions SET lease_owner, due_at WHERE id IN (SELECT
// id ... WHERE priority = p AND due_at <= now ORDER BY due_at LIMIT n FOR
// UPDATE SKIP LOCKED) RETURNING ...
struct DueClaim {
  std::string owner;
  int64_t now_ms = 0;
  size_t limit = 100;
  int64_t lease_ms = 60000;
};

struct ExecutionQuery {
  std::optional<ExecutionState> state;
  std::string rule;  // empty = any
  std::string event_id;
  size_t limit = 100;
  int64_t before_id = 0;                       // the next page: ids below this one (0: from the newest)
  std::vector<std::string> contact_keys = {};  // any of these (a contact's key and an alias it had); empty = any
};

// The WHERE clause of an executions listing with only the filters given, so
// that an index serves them: `executions_open` (every state but done: the
// one nearly every row ends in, and the one not worth an index) and the
// (event_id, rule) key. Its parameters are `values`, numbered from 1;
// `mark(n)` writes parameter n as the backend's SQL does ("?1", "$1").
struct ExecutionFilter {
  std::string where;  // empty, or " WHERE ..."
  std::vector<std::string> values;
};
ExecutionFilter execution_filter(const ExecutionQuery& query, std::string (*mark)(int));

// What a rule version was compiled from (rules/RuleCompiler.h rule_source),
// kept while executions may still run it: after an edit, they go on with
// the version they began with.
struct RuleVersion {
  std::string rule;
  std::string version;
  std::string source_json;
};

struct StoredContact {
  std::string key;
  std::string data_json;
  int64_t updated_at_ms = 0;
};

struct StoredEntity {
  std::string type, id;
  std::optional<std::string> status;
  std::string data_json;
  int64_t updated_at_ms = 0;
  int64_t created_at_ms = 0;  // when the host first stored it (a store from before version 12: its last change then)
};

// A page of contacts or entities in key order (the admin API's lists), with
// the filters that are plain columns; JSON fields are the caller's to read.
struct RecordQuery {
  std::string after;  // the last key of the previous page ("" = from the start); entities: entity_cursor_key
  size_t limit = 100;
  std::string entity_type;  // entities: "" = any
  bool by_status = false;   // entities: only those whose status is `status` (none = no status)
  std::optional<std::string> status;
  std::optional<int64_t> updated_after_ms, updated_before_ms;  // inclusive bounds
  std::optional<int64_t> created_after_ms, created_before_ms;  // entities: inclusive bounds on created_at_ms
  // Contacts: the bounds hold few of them (the changes of the last minute),
  // so they are found by time, then put in key order.
  bool few_in_bounds = false;
};

// An entity's place in key order: its type, then its id.
inline std::string entity_cursor_key(const std::string& type, const std::string& id) { return type + '\n' + id; }

// How a write ended.
enum class StoreErrc {
  kOk,
  kConflict,     // a compare-and-set failed: another writer was first, or the row is not in the expected state
  kNotFound,     // no such row
  kInvalid,      // a value the store will not keep (malformed JSON)
  kUnavailable,  // the store could not commit (disk, connection, shutdown)
};

struct StoreStatus {
  StoreErrc code = StoreErrc::kOk;
  std::string message;  // what went wrong, for logs and the admin; empty when ok
  bool ok() const { return code == StoreErrc::kOk; }
};

// Plugins' durable state (sb_host_kv_v1), namespaced by instance. Calls
// wait for the disk: not for I/O threads. Writes throw StoreError.
class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;
  virtual std::optional<std::string> kv_get(const std::string& ns, const std::string& key) = 0;
  virtual void kv_put(const std::string& ns, const std::string& key, const std::string& value) = 0;
  virtual void kv_remove(const std::string& ns, const std::string& key) = 0;

  // The same without waiting, for threads that must not block: `done` runs
  // once, on the store's own thread, after every write submitted before
  // (a get reads what an earlier put wrote). The value is set for a get
  // that found one.
  enum class KvOp { kGet, kPut, kRemove };
  using KvDone = std::function<void(const StoreStatus&, const std::optional<std::string>& value)>;
  virtual void kv_async(KvOp op, std::string ns, std::string key, std::string value, KvDone done) = 0;
};

// The host keeps state of its own there too, in namespaces no instance can
// have (their names have no ':'): each dynamic segment's size at each refresh.
inline constexpr char kSegmentSizes[] = "host:segment_sizes";
inline constexpr char kSegmentRefreshes[] = "host:segment_refreshes";  // a segment's last full refresh
inline constexpr char kHostCrashes[] = "host:crashes";      // by execution id: the host's crashes in its plugin calls
inline constexpr char kSchedulesSeen[] = "host:schedules";  // each schedule rule's, as last run
// ... and the key tracked links are signed with, when the config names none.
inline constexpr char kTrackingKeys[] = "host:tracking";
// ... and the country its contacts' phone aliases were read in
// (set_phone_region): when the config names another, they are learned again.
inline constexpr char kPhoneAliases[] = "host:phone_aliases";

// Thrown by the store and by a unit of work to say how a write ended.
class StoreError : public std::runtime_error {
 public:
  explicit StoreError(const std::string& what, StoreErrc code = StoreErrc::kUnavailable)
      : std::runtime_error(what), code_(code) {}
  StoreErrc code() const { return code_; }

 private:
  StoreErrc code_;
};

// The execution rows one unit of work reads and writes (Store::transact).
// Plain row operations and compare-and-set: what a change means (a wait
// resumed by an arrival, a parallel group joined, a cancel reaching the
// branches) is decided in C++ by the executor (executor/Transitions.h), so
// every backend behaves alike. Rows come back with their history.
class ExecutionRows {
 public:
  virtual ~ExecutionRows() = default;
  // Moves the router's position from `from` (where the caller read it) to
  // `to`; false when it is not at `from` (another router was first).
  virtual bool move_router(int64_t from, int64_t to) = 0;
  // Notes that `rule` fired for this entity; false when it had already.
  virtual bool fire_once(const std::string& rule, const std::string& entity_type, const std::string& entity_id) = 0;
  // A new row, every field as given (the store picks its id, returned),
  // leased to its lease_owner if it names one; 0 when a row for the same
  // (event_id, rule) exists, which is left as it is.
  virtual int64_t insert(const ExecutionRow& row) = 0;
  // The same for many rows, their ids in order (0 where one existed): a
  // backend may store them in one statement.
  virtual std::vector<int64_t> insert_all(const std::vector<ExecutionRow>& rows) {
    std::vector<int64_t> ids;
    ids.reserve(rows.size());
    for (const ExecutionRow& row : rows) ids.push_back(insert(row));
    return ids;
  }
  // The row, locked until the unit commits where several writers share the
  // store (PostgreSQL: FOR UPDATE), so that two units deciding from the same
  // row (two branches joining their parent) go one after the other.
  virtual std::optional<ExecutionRow> find(int64_t id) = 0;
  // Writes the row's changing fields (state, step, attempt, due time,
  // history, error, updated_at, awaiting, resume_step, lease_owner, doubt,
  // last_arrival, rule_version: an admin's retry on the rule's current
  // version) if the stored row is still in `state` and leased by
  // `lease_owner` ("" = by no one); false, writing nothing, otherwise. The
  // row's other fields must be the stored row's (the row found, changed):
  // a backend may keep the row given as the row stored.
  virtual bool compare_and_set(const ExecutionRow& row, ExecutionState state, const std::string& lease_owner) = 0;
  virtual std::vector<ExecutionRow> awaiting(const std::string& key) = 0;  // rows whose `awaiting` is `key`
  virtual std::vector<ExecutionRow> branches(int64_t parent_id) = 0;       // rows whose `parent_id` is this
  virtual int64_t keep_arrival(const std::string& key, const std::string& event_json, int64_t at_ms) = 0;  // its seq
  // The first kept arrival for `key` at or after `since_ms` with a seq above `after_seq`.
  virtual std::optional<StoredArrival> arrival(const std::string& key, int64_t since_ms, int64_t after_seq) = 0;
  virtual void forget_arrivals(int64_t before_ms) = 0;
  virtual void keep_goal(const GoalReached& goal) = 0;
  // The host's own state under `key` in a key-value namespace (the same the
  // KeyValueStore calls read), for decisions that span executions (a
  // digest's leader, a contact's messages under a frequency cap). The key
  // is locked, found or not, until the unit commits (PostgreSQL: until its
  // write group commits) where several writers share the store: two units
  // deciding from it go one after the other. A unit declares the keys it
  // reads (Store::transact_on), which are then locked before it runs.
  virtual std::optional<std::string> kv_get(const std::string& ns, const std::string& key) = 0;
  // ... and its new value, committed with the unit.
  virtual void kv_put(const std::string& ns, const std::string& key, const std::string& value) = 0;
};

// A host sharing the store (GET /api/v1/cluster). Its id is its lease owner.
struct NodeRecord {
  std::string id;       // unique across machines and restarts
  std::string host;     // the machine's name
  std::string address;  // where it serves HTTP
  int64_t started_at_ms = 0;
  int64_t heartbeat_at_ms = 0;
  int64_t claims = 0;  // executions it holds a lease on now (nodes() counts them)
};

class Store : public KeyValueStore {
 public:
  using AppendCallback = std::function<void(AppendResult)>;
  virtual ~Store() = default;

  // Stores a batch all or nothing: new events with their contact and entity
  // updates; events whose id is already stored (or repeated in the batch) are
  // duplicates and change nothing. `done` runs once the batch is durably
  // committed (or failed), on a store thread; it must not block.
  virtual void append_events(std::vector<EventRecord> batch, AppendCallback done) = 0;
  // Which of the events a change implies (RecordChanges.h: contact.created,
  // contact.tag_added ...) are stored from now on: those of the types
  // `wanted` names, because a rule's trigger or a wait reads them. Another
  // is routed to nothing, and storing it cost as much as storing its cause
  // (a campaign to new contacts stored a contact.created for each). Every
  // type until this is called.
  virtual void derive_only(EventTypeFilter wanted) = 0;
  // The same for events that start a high-priority rule (a password reset
  // while a campaign is being stored): a backend that commits in groups
  // commits them in a group of their own, not behind everything else queued.
  virtual void append_events_urgent(std::vector<EventRecord> batch, AppendCallback done) {
    append_events(std::move(batch), std::move(done));
  }

  // Events after `seq`, in `seq` order, that a later call can never see
  // preceded by an event it did not return: the router walks this cursor and
  // must skip none. One writer (SQLite) commits in seq order; a backend with
  // several writers returns only events below the oldest position that may
  // still be committed (PostgreSQL: positions from transaction ids, read up
  // to the oldest open transaction), so a gap is waited for, never skipped:
  // an event committed may come back a moment later than its commit
  // (on_changes says when to look again).
  virtual std::vector<StoredEvent> events_after(int64_t seq, size_t limit) = 0;
  // The same events as events_after, with only what a trigger reads: seq,
  // id, type, source, chain depth and status change (no body, no contact or
  // entity). The priority lane looks at every event and routes few of them.
  virtual std::vector<StoredEvent> event_heads_after(int64_t seq, size_t limit) = 0;
  virtual std::optional<StoredContact> contact(const std::string& key) = 0;
  virtual std::optional<StoredEntity> entity(const std::string& type, const std::string& id) = 0;
  virtual std::vector<StoredContact> contacts_page(const RecordQuery& query) = 0;
  virtual std::vector<StoredEntity> entities_page(const RecordQuery& query) = 0;
  // The stored reports on these messages (events whose message_id is one of
  // them), as long as their events are kept; in no particular order.
  virtual std::vector<MessageReport> message_reports(const std::vector<std::string>& message_ids) = 0;
  // The goals these contacts reached at or after `since_ms` (ExecutionRows::
  // keep_goal), as long as events are kept; in no particular order.
  virtual std::vector<GoalReached> goals_reached(const std::vector<std::string>& contact_keys, int64_t since_ms) = 0;

  using WriteCallback = std::function<void(StoreStatus)>;
  // The router's position: every event up to it has its executions.
  virtual int64_t routed_up_to() = 0;
  // Runs `work` as one unit: everything it wrote commits, or nothing does
  // (it threw: a StoreError's code, kUnavailable for anything else, reaches
  // `done`). `work` runs on a store thread, may run again when a backend
  // retries the unit (a lost connection), and must not block on anything
  // but the rows.
  using Work = std::function<void(ExecutionRows&)>;
  virtual void transact(Work work, WriteCallback done) = 0;
  // What a unit of work begins by finding: execution rows, and keys of the
  // host's state (ExecutionRows::kv_get) as namespace and key.
  struct Finds {
    std::vector<int64_t> rows;
    std::vector<std::pair<std::string, std::string>> state;
  };
  // The same for a unit that declares what it finds: a backend that commits
  // units in groups may read and lock a whole group's at once, in one order,
  // so that two groups never each hold what the other waits for.
  virtual void transact_on(Finds finds, Work work, WriteCallback done) {
    (void)finds;
    transact(std::move(work), std::move(done));
  }
  // The same for a unit that starts a high-priority rule's executions: a
  // backend that commits in groups does not queue it behind a group of
  // everything else (see append_events_urgent).
  virtual void transact_urgent(Work work, WriteCallback done) { transact(std::move(work), std::move(done)); }
  // Ready or waiting executions due by the claim's time and leased by no one
  // else, earliest first (index on due time); see DueClaim.
  virtual std::vector<ExecutionRow> claim_due(const DueClaim& claim) = 0;
  // The earliest due time of any ready or waiting execution.
  virtual std::optional<int64_t> next_due_ms() = 0;
  virtual std::optional<ExecutionRow> execution(int64_t id) = 0;
  // Keeps these versions (a version already kept is left as it is).
  virtual void save_rule_versions(std::vector<RuleVersion> versions, WriteCallback done) = 0;
  virtual std::optional<RuleVersion> rule_version(const std::string& rule, const std::string& version) = 0;
  // The versions that executions waiting for an event run: the router must
  // still read those events after the rule was edited.
  virtual std::vector<RuleVersion> awaited_rule_versions() = 0;
  // Every version kept, in (rule, version) order.
  virtual std::vector<RuleVersion> rule_versions() = 0;
  // The (rule, version) of every version kept, in that order, without their
  // sources: what a router of a shared store looks at every second.
  virtual std::vector<std::pair<std::string, std::string>> rule_version_names() = 0;
  // Retention (executor/Retention.h decides what goes, and when). Each call
  // removes a bounded number of rows, so that a long history is forgotten a
  // chunk at a time between other writes.
  //
  // Of the `limit` oldest events (by position), those received before
  // `before_ms` and routed already; how many went. A forgotten id may be
  // stored again. The goals reached before `before_ms` go too.
  virtual size_t forget_events(int64_t before_ms, size_t limit) = 0;
  // Looks at up to `limit` executions after `after_id` (by id) and removes
  // those in one of `states`, last updated before `before_ms`, with no parent
  // row (a branch goes after its parent, which outlives it).
  struct ExecutionsLookedAt {
    size_t removed = 0;
    size_t looked_at = 0;
    int64_t last_id = 0;          // the last looked at: where the next call goes on
    int64_t last_created_at = 0;  // ... and when it began
  };
  virtual ExecutionsLookedAt forget_executions(const std::vector<ExecutionState>& states, int64_t before_ms,
                                               int64_t after_id, size_t limit) = 0;
  // Removes the versions that no execution refers to, but those in `keep`;
  // how many went.
  virtual size_t forget_rule_versions(const std::vector<std::pair<std::string, std::string>>& keep) = 0;
  // Returns once every write submitted before it is committed and its
  // callback has run.
  virtual void flush() = 0;
  virtual std::vector<ExecutionRow> executions(const ExecutionQuery& query) = 0;

  // ---- the hosts sharing the store.
  // Writes the node's row (its heartbeat).
  virtual void beat(const NodeRecord& node, WriteCallback done) = 0;
  // Every node written, with the leases each holds now.
  virtual std::vector<NodeRecord> nodes() = 0;
  // Ends the leases `owner` holds now (a node that stopped beating, or this
  // one stopping): they are taken over by the next claim as if they had run
  // out; its holds end, and the node's row is forgotten. With
  // `last_heartbeat_ms` (the node was seen dead with that heartbeat), only
  // if it has not beaten since: otherwise kConflict, and nothing changes.
  virtual void end_leases(const std::string& owner, int64_t now_ms, std::optional<int64_t> last_heartbeat_ms,
                          WriteCallback done) = 0;
  // A named lease on work one host at a time must do (time triggers):
  // compare-and-set, true when `owner` holds it until `until_ms` (it was
  // free, its holder's time ran out, or it was `owner`'s already).
  virtual bool hold(const std::string& name, const std::string& owner, int64_t now_ms, int64_t until_ms) = 0;
  // What another host committed: events (for the router), or executions
  // due that no one holds (for every host's claims).
  enum class Change { kEvents, kDueWork };
  // `changed` runs (on a store thread) when another host committed events or
  // work: a backend shared by several hosts wakes the idle ones with it.
  // An empty function stops the calls; none runs after this returns.
  virtual void on_changes(std::function<void(Change)> changed) { (void)changed; }
  // Tells the other hosts sharing the store that an operator cancelled
  // these executions (committed), so that each gives up its calls in flight
  // for them: their `on_cancelled` callback runs, on a store thread, once
  // on_changes made them listen. A store of one host's own has no one to
  // tell.
  virtual void announce_cancelled(const std::vector<int64_t>& ids) { (void)ids; }
  virtual void on_cancelled(std::function<void(const std::vector<int64_t>&)> cancelled) { (void)cancelled; }
};

}  // namespace sb
