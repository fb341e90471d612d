#include "store/SqliteStore.h"

#include <algorithm>
#include <future>

#include "log/Logger.h"
#include "store/Sqlite.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

namespace {

constexpr int kSchemaVersion = 3;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  source TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  body TEXT NOT NULL,
  -- the entity status the event set, with the status before it (router input)
  entity_type TEXT,
  entity_id TEXT,
  entity_created INTEGER,
  previous_status TEXT,
  status TEXT,
  chain_depth INTEGER NOT NULL DEFAULT 0,
  contact_key TEXT
);
CREATE TABLE IF NOT EXISTS contacts (
  key TEXT PRIMARY KEY,
  data TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entities (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  status TEXT,
  data TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (type, id)
);
CREATE TABLE IF NOT EXISTS router (
  name TEXT PRIMARY KEY,
  routed_up_to INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_fired (
  rule TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  PRIMARY KEY (rule, entity_type, entity_id)
);
CREATE TABLE IF NOT EXISTS executions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  rule TEXT NOT NULL,
  event_id TEXT NOT NULL,
  state TEXT NOT NULL,
  step TEXT NOT NULL DEFAULT '',
  attempt INTEGER NOT NULL DEFAULT 0,
  due_at INTEGER,
  context TEXT NOT NULL,
  history TEXT NOT NULL DEFAULT '[]',
  error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  awaiting TEXT,
  resume_step TEXT NOT NULL DEFAULT '',
  parent_id INTEGER,
  end_step TEXT NOT NULL DEFAULT '',
  last_arrival INTEGER NOT NULL DEFAULT 0,
  priority INTEGER NOT NULL DEFAULT 1,
  lease_owner TEXT,
  rule_version TEXT NOT NULL DEFAULT '',
  doubt INTEGER NOT NULL DEFAULT 0,
  UNIQUE (event_id, rule)
);
CREATE TABLE IF NOT EXISTS rule_versions (
  rule TEXT NOT NULL,
  version TEXT NOT NULL,
  source TEXT NOT NULL,
  PRIMARY KEY (rule, version)
);
CREATE TABLE IF NOT EXISTS plugin_kv (
  ns TEXT NOT NULL,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (ns, key)
);
CREATE TABLE IF NOT EXISTS arrivals (
  key TEXT NOT NULL,
  event TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_state ON executions (state, id);
)sql";

// Version 1 had no waits for events, chains of events or parallel branches.
constexpr const char* kUpgradeFrom1 = R"sql(
ALTER TABLE events ADD COLUMN chain_depth INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN contact_key TEXT;
ALTER TABLE executions ADD COLUMN awaiting TEXT;
ALTER TABLE executions ADD COLUMN resume_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN parent_id INTEGER;
ALTER TABLE executions ADD COLUMN end_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN last_arrival INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 2 had leases in memory only, no priorities, and no rule versions
// (steps were indexes; they still are in the rows it left, which have no
// rule_version).
constexpr const char* kUpgradeFrom2 = R"sql(
ALTER TABLE executions ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
ALTER TABLE executions ADD COLUMN lease_owner TEXT;
ALTER TABLE executions ADD COLUMN rule_version TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN doubt INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS executions_due;
)sql";

constexpr const char* kIndexes = R"sql(
-- Due work is found by priority and time, whatever the number of pending
-- executions; a claimed row's due time is its lease's end, so claims skip it.
CREATE INDEX IF NOT EXISTS executions_due ON executions (priority, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS executions_leased ON executions (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS executions_awaiting ON executions (awaiting) WHERE awaiting IS NOT NULL;
CREATE INDEX IF NOT EXISTS executions_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS arrivals_key ON arrivals (key, at);
CREATE INDEX IF NOT EXISTS arrivals_at ON arrivals (at);
)sql";

constexpr const char* kExecutionColumns =
    "id, rule, event_id, state, step, attempt, due_at, context, history, error, created_at, updated_at, "
    "coalesce(awaiting, ''), resume_step, coalesce(parent_id, 0), end_step, priority, coalesce(lease_owner, ''), "
    "rule_version, doubt";

ExecutionRow read_execution(const SqliteStatement& q) {
  ExecutionRow r;
  r.id = q.integer(0);
  r.rule = q.text(1);
  r.event_id = q.text(2);
  r.state = state_named(q.text(3)).value_or(ExecutionState::kFailed);
  r.step = q.text(4);
  r.attempt = static_cast<int>(q.integer(5));
  if (!q.is_null(6)) r.due_at_ms = q.integer(6);
  r.context_json = q.text(7);
  r.history_json = q.text(8);
  r.error = q.text(9);
  r.created_at_ms = q.integer(10);
  r.updated_at_ms = q.integer(11);
  r.awaiting = q.text(12);
  r.resume_step = q.text(13);
  r.parent_id = q.integer(14);
  r.end_step = q.text(15);
  r.priority = static_cast<int>(q.integer(16));
  r.lease_owner = q.text(17);
  r.rule_version = q.text(18);
  r.doubt = static_cast<Doubt>(std::clamp<int64_t>(q.integer(19), 0, 2));
  return r;
}

// What the event says merged into what is stored (RFC 7386 merge patch: what
// the event does not mention is kept, a null removes a field). In C++, so
// that every backend merges the same way.
std::string merge_patch(const std::optional<std::string>& stored, const std::string& patch_json) {
  nlohmann::json data = stored ? nlohmann::json::parse(*stored, nullptr, false) : nlohmann::json::object();
  if (!data.is_object()) data = nlohmann::json::object();
  const nlohmann::json patch = nlohmann::json::parse(patch_json, nullptr, false);
  if (patch.is_discarded()) throw StoreError("malformed JSON: " + patch_json.substr(0, 80), StoreErrc::kInvalid);
  data.merge_patch(patch);
  return dump_text(data);
}

void bind_optional(SqliteStatement& s, int index, const std::optional<std::string>& v) {
  if (v)
    s.bind(index, *v);
  else
    s.bind_null(index);
}

}  // namespace

struct SqliteStore::Writer {
  SqliteDatabase db;
  SqliteStatement insert_event;
  SqliteStatement entity_row;
  SqliteStatement contact_data;
  SqliteStatement put_contact;
  SqliteStatement put_entity;
  SqliteStatement save_router;
  SqliteStatement router_position;
  SqliteStatement fire_once;
  SqliteStatement insert_execution;
  SqliteStatement update_execution;
  SqliteStatement execution_state;
  SqliteStatement end_cancelled_lease;
  SqliteStatement command;
  SqliteStatement early_arrival;
  SqliteStatement resume_waiting;
  SqliteStatement insert_arrival;
  SqliteStatement forget_arrivals;
  SqliteStatement insert_branch;
  SqliteStatement parent_of;
  SqliteStatement branches_running;
  SqliteStatement resume_parent;
  SqliteStatement cancel_branches;
  SqliteStatement due_ids;
  SqliteStatement lease;
  const int64_t arrival_retention_ms;

  explicit Writer(const Options& o)
      : db(o.file, o.synchronous_full),
        insert_event(prepare_schema(db),
                     "INSERT INTO events (id, type, source, occurred_at, received_at, body, entity_type, entity_id, "
                     "entity_created, previous_status, status, chain_depth, contact_key) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (id) DO NOTHING"),
        entity_row(db.handle(), "SELECT status, data FROM entities WHERE type = ? AND id = ?"),
        contact_data(db.handle(), "SELECT data FROM contacts WHERE key = ?"),
        put_contact(db.handle(),
                    "INSERT INTO contacts (key, data, updated_at) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at"),
        put_entity(db.handle(),
                   "INSERT INTO entities (type, id, status, data, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                   "ON CONFLICT (type, id) DO UPDATE SET status = excluded.status, data = excluded.data, "
                   "updated_at = excluded.updated_at"),
        save_router(db.handle(),
                    "INSERT INTO router (name, routed_up_to) VALUES ('rules', ?1) "
                    "ON CONFLICT (name) DO UPDATE SET routed_up_to = max(routed_up_to, excluded.routed_up_to)"),
        router_position(db.handle(), "SELECT routed_up_to FROM router WHERE name = 'rules'"),
        fire_once(db.handle(),
                  "INSERT INTO rule_fired (rule, entity_type, entity_id) VALUES (?, ?, ?) "
                  "ON CONFLICT DO NOTHING"),
        insert_execution(db.handle(),
                         "INSERT INTO executions (rule, event_id, state, step, due_at, context, created_at, "
                         "updated_at, priority, rule_version) VALUES (?1, ?2, 'ready', '', ?3, ?4, ?3, ?3, ?5, ?6) "
                         "ON CONFLICT (event_id, rule) DO NOTHING"),
        update_execution(db.handle(),
                         "UPDATE executions SET state = ?2, step = ?3, attempt = ?4, due_at = ?5, error = ?6, "
                         "updated_at = ?7, history = CASE WHEN ?8 = '' THEN history "
                         "ELSE json_insert(history, '$[#]', json(?8)) END, awaiting = nullif(?9, ''), "
                         "resume_step = ?10, lease_owner = NULL, doubt = 0 WHERE id = ?1 AND state != 'cancelled' "
                         "AND (?11 = '' OR lease_owner = ?11)"),
        execution_state(db.handle(), "SELECT state, coalesce(lease_owner, '') FROM executions WHERE id = ?"),
        end_cancelled_lease(db.handle(),
                            "UPDATE executions SET lease_owner = NULL WHERE id = ?1 AND state = 'cancelled' "
                            "AND (?2 = '' OR lease_owner = ?2)"),
        command(db.handle(),
                "UPDATE executions SET state = ?2, due_at = ?3, attempt = 0, error = '', updated_at = ?4, "
                "history = json_insert(history, '$[#]', json(?5)), awaiting = NULL, doubt = ?6 WHERE id = ?1"),
        // An arrival another wait of this execution took does not count twice.
        early_arrival(db.handle(),
                      "SELECT a.event, a.at, a.rowid FROM arrivals a JOIN executions e ON e.id = ?2 "
                      "WHERE a.key = ?1 AND a.at >= e.created_at AND a.rowid > e.last_arrival "
                      "ORDER BY a.rowid LIMIT 1"),
        // The timeout wins once due: the scheduler may already be running
        // the timeout's step. The arrival is recorded under the wait's name.
        resume_waiting(db.handle(),
                       "UPDATE executions SET state = 'ready', step = resume_step, attempt = 0, due_at = ?3, "
                       "awaiting = NULL, updated_at = ?3, last_arrival = ?6, "
                       "history = json_insert(history, '$[#]', json_object("
                       "'step', json_extract(history, '$[#-1].step'), 'outcome', 'event arrived', "
                       "'at', ?4, 'event', json(?2))) "
                       "WHERE awaiting = ?1 AND state = 'waiting' AND due_at > ?3 AND created_at <= ?5 "
                       "AND lease_owner IS NULL"),
        insert_arrival(db.handle(), "INSERT INTO arrivals (key, event, at) VALUES (?, json(?), ?) RETURNING rowid"),
        forget_arrivals(db.handle(), "DELETE FROM arrivals WHERE at < ?"),
        insert_branch(db.handle(),
                      "INSERT INTO executions (rule, event_id, state, step, due_at, context, history, created_at, "
                      "updated_at, parent_id, end_step, priority, rule_version) SELECT rule, event_id || '#' || ?2, "
                      "'ready', ?3, ?5, context, history, ?5, ?5, id, ?4, priority, rule_version FROM executions "
                      "WHERE id = ?1 "
                      "ON CONFLICT (event_id, rule) DO NOTHING"),
        parent_of(db.handle(), "SELECT coalesce(parent_id, 0) FROM executions WHERE id = ?"),
        branches_running(db.handle(),
                         "SELECT count(*) FROM executions WHERE parent_id = ? "
                         "AND state NOT IN ('done', 'failed', 'cancelled')"),
        resume_parent(db.handle(),
                      "UPDATE executions SET state = 'ready', due_at = ?2, updated_at = ?2, "
                      "history = json_insert(history, '$[#]', json_object("
                      "'step', json_extract(history, '$[#-1].step'), 'outcome', 'branches ended', 'at', ?3, "
                      "'branches', (SELECT json_group_array(json_object('execution', id, 'event_id', event_id, "
                      "'state', state, 'error', error, 'history', json(history))) "
                      "FROM executions WHERE parent_id = ?1))) "
                      "WHERE id = ?1 AND state = 'waiting' AND due_at IS NULL AND awaiting IS NULL"),
        // Cancelling a parallel group's parent cancels its branches, theirs too.
        cancel_branches(db.handle(),
                        "WITH RECURSIVE tree(id) AS (SELECT id FROM executions WHERE parent_id = ?1 "
                        "UNION ALL SELECT e.id FROM executions e JOIN tree t ON e.parent_id = t.id) "
                        "UPDATE executions SET state = 'cancelled', due_at = NULL, awaiting = NULL, updated_at = ?2, "
                        "lease_owner = NULL, "
                        "history = json_insert(history, '$[#]', json_object('outcome', 'cancelled with its parent', "
                        "'at', ?3)) WHERE id IN tree AND state IN ('ready', 'waiting', 'in_doubt')"),
        due_ids(db.handle(),
                "SELECT id FROM executions WHERE priority = ?1 AND due_at IS NOT NULL AND due_at <= ?2 "
                "ORDER BY due_at LIMIT ?3"),
        // The lease moves the due time to its end: claims skip the row by
        // index until then, and take it over if no update came by then.
        // Taking over a lease that ended without an update: its step may have run.
        lease(db.handle(), std::string("UPDATE executions SET lease_owner = ?2, due_at = ?3, "
                                       "doubt = CASE WHEN lease_owner IS NULL OR doubt = 2 THEN doubt ELSE 1 END "
                                       "WHERE id = ?1 RETURNING ") +
                               kExecutionColumns),
        arrival_retention_ms(o.arrival_retention_ms) {}

  // Runs before the statements are prepared: they need the tables.
  static sqlite3* prepare_schema(SqliteDatabase& db) {
    SqliteStatement version(db.handle(), "PRAGMA user_version");
    const int64_t found = version.step() ? version.integer(0) : 0;
    version.reset();
    if (found > kSchemaVersion)
      throw StoreError("the store was written by a newer switchboard (schema " + std::to_string(found) + ")");
    // All or nothing: a crash half-way through an upgrade leaves version 1.
    db.execute("BEGIN IMMEDIATE");
    try {
      db.execute(kSchema);  // a new file gets the current tables
      if (found == 1) db.execute(kUpgradeFrom1);
      if (found >= 1 && found <= 2) db.execute(kUpgradeFrom2);
      db.execute(kIndexes);
      db.execute("PRAGMA user_version = " + std::to_string(kSchemaVersion));
      db.execute("COMMIT");
    } catch (const StoreError&) {
      db.execute("ROLLBACK");
      throw;
    }
    return db.handle();
  }

  void resume(const std::string& key, const std::string& event_json, int64_t arrived_at, int64_t arrival) {
    const int64_t now = now_ms();
    resume_waiting.bind(1, key).bind(2, event_json).bind(3, now).bind(4, format_time_ms(now)).bind(5, arrived_at);
    resume_waiting.bind(6, arrival).run();
  }

  AppendOutcome store(const EventRecord& e) {
    // The status before this event, in commit order: what a status trigger
    // compares with.
    bool created = false;
    std::optional<std::string> previous;
    std::optional<std::string> entity_data;
    if (e.entity) {
      entity_row.bind(1, e.entity->type).bind(2, e.entity->id);
      created = !entity_row.step();
      if (!created && !entity_row.is_null(0)) previous = entity_row.text(0);
      if (!created) entity_data = entity_row.text(1);
      entity_row.reset();
    }
    insert_event.bind(1, e.id).bind(2, e.type).bind(3, e.source);
    insert_event.bind(4, e.occurred_at_ms).bind(5, e.received_at_ms).bind(6, e.body_json);
    insert_event.bind(12, int64_t{e.chain_depth});
    if (e.contact) insert_event.bind(13, e.contact->key);
    if (e.entity) insert_event.bind(7, e.entity->type).bind(8, e.entity->id);
    if (e.entity && e.entity->sets_status) {
      insert_event.bind(9, int64_t{created});
      bind_optional(insert_event, 10, previous);
      bind_optional(insert_event, 11, e.entity->status);
    }
    if (insert_event.run() == 0) return AppendOutcome::kDuplicate;
    if (e.contact) {
      contact_data.bind(1, e.contact->key);
      std::optional<std::string> stored;
      if (contact_data.step()) stored = contact_data.text(0);
      contact_data.reset();
      put_contact.bind(1, e.contact->key).bind(2, merge_patch(stored, e.contact->data_json));
      put_contact.bind(3, e.received_at_ms).run();
    }
    if (e.entity) {
      put_entity.bind(1, e.entity->type).bind(2, e.entity->id);
      bind_optional(put_entity, 3, e.entity->sets_status ? e.entity->status : previous);
      put_entity.bind(4, merge_patch(entity_data, e.entity->data_json)).bind(5, e.received_at_ms).run();
    }
    return AppendOutcome::kStored;
  }

  void route(const RouteBatch& batch) {
    const int64_t position = router_position.step() ? router_position.integer(0) : 0;
    router_position.reset();
    if (position != batch.from)
      throw StoreError("events after " + std::to_string(batch.from) + " were routed already (up to " +
                           std::to_string(position) + ")",
                       StoreErrc::kConflict);
    const int64_t now = now_ms();
    for (const NewExecution& e : batch.executions) {
      if (e.once_for_entity &&
          fire_once.bind(1, e.rule).bind(2, e.once_for_entity->first).bind(3, e.once_for_entity->second).run() == 0)
        continue;  // this rule already fired for this entity
      insert_execution.bind(1, e.rule).bind(2, e.event_id).bind(3, now).bind(4, e.context_json);
      insert_execution.bind(5, int64_t{e.priority}).bind(6, e.rule_version).run();
    }
    for (const Arrival& a : batch.arrivals) {
      insert_arrival.bind(1, a.key).bind(2, a.event_json).bind(3, a.at_ms);
      const int64_t arrival = insert_arrival.step() ? insert_arrival.integer(0) : 0;
      insert_arrival.reset();
      resume(a.key, a.event_json, a.at_ms, arrival);
    }
    if (!batch.arrivals.empty()) forget_arrivals.bind(1, now - arrival_retention_ms).run();
    save_router.bind(1, batch.routed_up_to).run();
  }

  void update(const ExecutionUpdate& u) {
    update_execution.bind(1, u.id).bind(2, std::string(state_name(u.state))).bind(3, u.step);
    update_execution.bind(4, int64_t{u.attempt});
    if (u.due_at_ms)
      update_execution.bind(5, *u.due_at_ms);
    else
      update_execution.bind_null(5);
    update_execution.bind(6, u.error).bind(7, now_ms()).bind(8, u.history_entry_json);
    update_execution.bind(9, u.awaiting).bind(10, u.resume_step).bind(11, u.lease_owner);
    if (update_execution.run() == 1) {
      const int64_t now = now_ms();
      for (const NewBranch& b : u.branches) {
        insert_branch.bind(1, u.id).bind(2, b.suffix).bind(3, b.start_step);
        insert_branch.bind(4, b.end_step).bind(5, now).run();
      }
      if (!u.branches.empty()) resume_if_branches_ended(u.id);  // none could start: go on
      if (u.state == ExecutionState::kDone || u.state == ExecutionState::kFailed) branch_ended(u.id);
      if (u.awaiting.empty()) return;
      early_arrival.bind(1, u.awaiting).bind(2, u.id);
      std::optional<std::tuple<std::string, int64_t, int64_t>> arrived;
      if (early_arrival.step())
        arrived.emplace(early_arrival.text(0), early_arrival.integer(1), early_arrival.integer(2));
      early_arrival.reset();
      if (arrived) resume(u.awaiting, std::get<0>(*arrived), std::get<1>(*arrived), std::get<2>(*arrived));
      return;
    }
    const auto state = state_of(u.id);
    if (!state) throw StoreError("no execution " + std::to_string(u.id), StoreErrc::kNotFound);
    if (*state == ExecutionState::kCancelled) {
      // The step that was running when it was cancelled has ended: its lease too.
      end_cancelled_lease.bind(1, u.id).bind(2, u.lease_owner).run();
      return;
    }
    throw StoreError("execution " + std::to_string(u.id) + "'s lease is no longer " + u.lease_owner + "'s",
                     StoreErrc::kConflict);
  }

  // The last branch of a parallel group to end makes its parent go on.
  void branch_ended(int64_t id) {
    parent_of.bind(1, id);
    const int64_t parent = parent_of.step() ? parent_of.integer(0) : 0;
    parent_of.reset();
    if (parent != 0) resume_if_branches_ended(parent);
  }

  void resume_if_branches_ended(int64_t parent) {
    branches_running.bind(1, parent);
    const int64_t running = branches_running.step() ? branches_running.integer(0) : 1;
    branches_running.reset();
    if (running > 0) return;
    const int64_t now = now_ms();
    resume_parent.bind(1, parent).bind(2, now).bind(3, format_time_ms(now)).run();
  }

  std::vector<ExecutionRow> claim(const DueClaim& c) {
    std::vector<int64_t> ids;
    for (int priority = kHighestPriority; priority >= kLowestPriority && ids.size() < c.limit; --priority) {
      due_ids.bind(1, int64_t{priority}).bind(2, c.now_ms).bind(3, static_cast<int64_t>(c.limit - ids.size()));
      while (due_ids.step()) ids.push_back(due_ids.integer(0));
      due_ids.reset();
    }
    std::vector<ExecutionRow> rows;
    rows.reserve(ids.size());
    const int64_t until = now_ms() + c.lease_ms;
    for (const int64_t id : ids) {
      lease.bind(1, id).bind(2, c.owner).bind(3, until);
      if (lease.step()) rows.push_back(read_execution(lease));
      lease.reset();
    }
    return rows;
  }

  std::optional<ExecutionState> state_of(int64_t id, std::string* lease_owner = nullptr) {
    execution_state.bind(1, id);
    std::optional<ExecutionState> state;
    if (execution_state.step()) {
      state = state_named(execution_state.text(0));
      if (lease_owner) *lease_owner = execution_state.text(1);
    }
    execution_state.reset();
    return state;
  }

  void apply(const ExecutionCommand& c) {
    std::string lease_owner;
    const auto state = state_of(c.id, &lease_owner);
    if (!state) throw StoreError("no execution " + std::to_string(c.id), StoreErrc::kNotFound);
    if (std::find(c.from.begin(), c.from.end(), *state) == c.from.end())
      throw StoreError("execution " + std::to_string(c.id) + " is " + state_name(*state), StoreErrc::kConflict);
    // A cancelled step may still be running: run again only once it ended.
    if (c.to != ExecutionState::kCancelled && !lease_owner.empty())
      throw StoreError("a step of execution " + std::to_string(c.id) + " is still running", StoreErrc::kConflict);
    command.bind(1, c.id).bind(2, std::string(state_name(c.to)));
    if (c.due_at_ms)
      command.bind(3, *c.due_at_ms);
    else
      command.bind_null(3);
    command.bind(4, now_ms()).bind(5, c.history_entry_json).bind(6, static_cast<int64_t>(c.doubt)).run();
    if (c.to == ExecutionState::kCancelled) {
      const int64_t now = now_ms();
      cancel_branches.bind(1, c.id).bind(2, now).bind(3, format_time_ms(now)).run();
      branch_ended(c.id);
    }
  }
};

SqliteStore::SqliteStore(Options options) : options_(std::move(options)) {
  writer_ = std::make_unique<Writer>(options_);
  // One file serves one host: a lease left in it is the previous run's,
  // whose steps ended with it. They are due again now.
  SqliteStatement(writer_->db.handle(),
                  "UPDATE executions SET lease_owner = NULL, due_at = min(due_at, ?1), doubt = 1 "
                  "WHERE lease_owner IS NOT NULL")
      .bind(1, now_ms())
      .run();
  reader_ = std::make_unique<SqliteDatabase>(options_.file, options_.synchronous_full);
  thread_ = std::thread([this] { writer_loop(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void SqliteStore::submit(Write write) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      pending_.push_back(std::move(write));
      wake_.notify_one();
      return;
    }
  }
  write.done({StoreErrc::kUnavailable, "the store is shutting down"});
}

void SqliteStore::append_events(std::vector<EventRecord> batch, AppendCallback done) {
  auto outcomes = std::make_shared<std::vector<AppendOutcome>>();
  auto events = std::make_shared<std::vector<EventRecord>>(std::move(batch));
  submit({[events, outcomes](Writer& w) {
            outcomes->clear();
            for (const EventRecord& e : *events) outcomes->push_back(w.store(e));
          },
          [outcomes, done = std::move(done)](const StoreStatus& status) {
            done(status.ok() ? AppendResult{"", std::move(*outcomes)} : AppendResult{status.message, {}});
          }});
}

void SqliteStore::route(RouteBatch batch, WriteCallback done) {
  auto b = std::make_shared<RouteBatch>(std::move(batch));
  submit({[b](Writer& w) { w.route(*b); }, std::move(done)});
}

void SqliteStore::command_execution(ExecutionCommand command, WriteCallback done) {
  // An admin's command ends no lease: a step of the execution may be running.
  auto c = std::make_shared<ExecutionCommand>(std::move(command));
  submit({[c](Writer& w) { w.apply(*c); }, std::move(done)});
}

void SqliteStore::update_execution(ExecutionUpdate update, WriteCallback done) {
  auto u = std::make_shared<ExecutionUpdate>(std::move(update));
  submit({[u](Writer& w) { w.update(*u); }, std::move(done)});
}

void SqliteStore::flush() {
  std::promise<void> flushed;
  submit({[](Writer&) {}, [&flushed](const StoreStatus&) { flushed.set_value(); }});
  flushed.get_future().wait();
}

uint64_t SqliteStore::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

void SqliteStore::writer_loop() {
  for (;;) {
    std::deque<Write> group;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, and everything committed
      // Everything that arrived while the last commit synced, up to a bound.
      while (!pending_.empty() && group.size() < options_.max_group_writes) {
        group.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    commit_group(group);
  }
}

void SqliteStore::commit_group(std::deque<Write>& group) {
  std::vector<StoreStatus> errors(group.size());
  try {
    writer_->db.execute("BEGIN IMMEDIATE");
    for (size_t i = 0; i < group.size(); ++i) {
      // A savepoint per write: one that fails does not take the others of
      // its group with it.
      writer_->db.execute("SAVEPOINT one");
      try {
        group[i].apply(*writer_);
        writer_->db.execute("RELEASE one");
      } catch (const StoreError& e) {
        writer_->db.execute("ROLLBACK TO one");
        writer_->db.execute("RELEASE one");
        errors[i] = {e.code(), e.what()};
      }
    }
    writer_->db.execute("COMMIT");
    std::lock_guard lock(mutex_);
    ++commits_;
  } catch (const StoreError& e) {
    log_error("store", "commit failed", {{"error", e.what()}});
    try {
      writer_->db.execute("ROLLBACK");
    } catch (const StoreError&) {
      // no transaction left to roll back
    }
    for (auto& error : errors)
      error = {StoreErrc::kUnavailable, std::string("the store could not commit: ") + e.what()};
  }
  for (size_t i = 0; i < group.size(); ++i) {
    try {
      group[i].done(errors[i]);
    } catch (const std::exception& e) {
      log_error("store", "write callback threw", {{"error", e.what()}});
    }
  }
}

std::vector<StoredEvent> SqliteStore::events_after(int64_t seq, size_t limit) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->handle(),
                    "SELECT e.seq, e.id, e.type, e.source, e.occurred_at, e.received_at, e.body, e.entity_type, "
                    "e.entity_id, e.entity_created, e.previous_status, e.status, e.chain_depth, c.data, n.data, "
                    "n.status "
                    "FROM events e LEFT JOIN contacts c ON c.key = e.contact_key "
                    "LEFT JOIN entities n ON n.type = e.entity_type AND n.id = e.entity_id "
                    "WHERE e.seq > ? ORDER BY e.seq LIMIT ?");
  q.bind(1, seq).bind(2, static_cast<int64_t>(limit));
  std::vector<StoredEvent> out;
  while (q.step()) {
    StoredEvent e;
    e.seq = q.integer(0);
    e.record.id = q.text(1);
    e.record.type = q.text(2);
    e.record.source = q.text(3);
    e.record.occurred_at_ms = q.integer(4);
    e.record.received_at_ms = q.integer(5);
    e.record.body_json = q.text(6);
    e.record.chain_depth = static_cast<int>(q.integer(12));
    if (!q.is_null(13)) e.contact_json = q.text(13);
    if (!q.is_null(14)) {
      // The entity as stored, with what identifies it.
      nlohmann::json entity = nlohmann::json::parse(q.text(14), nullptr, false);
      if (!entity.is_object()) entity = nlohmann::json::object();
      entity["type"] = q.text(7);
      entity["id"] = q.text(8);
      entity["status"] = q.is_null(15) ? nlohmann::json() : nlohmann::json(q.text(15));
      e.entity_json = dump_text(entity);
    }
    if (!q.is_null(9)) {
      StatusChange c{q.text(7), q.text(8), q.integer(9) != 0, std::nullopt, std::nullopt};
      if (!q.is_null(10)) c.previous = q.text(10);
      if (!q.is_null(11)) c.current = q.text(11);
      e.status_change = std::move(c);
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<StoredContact> SqliteStore::contact(const std::string& key) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->handle(), "SELECT data FROM contacts WHERE key = ?");
  q.bind(1, key);
  if (!q.step()) return std::nullopt;
  return StoredContact{key, q.text(0)};
}

std::optional<StoredEntity> SqliteStore::entity(const std::string& type, const std::string& id) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->handle(), "SELECT status, data FROM entities WHERE type = ? AND id = ?");
  q.bind(1, type).bind(2, id);
  if (!q.step()) return std::nullopt;
  StoredEntity e{type, id, std::nullopt, q.text(1)};
  if (!q.is_null(0)) e.status = q.text(0);
  return e;
}

int64_t SqliteStore::routed_up_to() {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->handle(), "SELECT routed_up_to FROM router WHERE name = 'rules'");
  return q.step() ? q.integer(0) : 0;
}

std::vector<ExecutionRow> SqliteStore::claim_due(const DueClaim& claim) {
  // A write like any other: the lease is committed before the work starts.
  std::vector<ExecutionRow> rows;
  write_and_wait([&](Writer& w) { rows = w.claim(claim); });
  return rows;
}

std::optional<int64_t> SqliteStore::next_due_ms() {
  std::lock_guard lock(read_mutex_);
  // One index range per priority: min() over the whole index would scan it.
  SqliteStatement q(reader_->handle(), "SELECT min(due_at) FROM executions WHERE priority = ? AND due_at IS NOT NULL");
  std::optional<int64_t> next;
  for (int priority = kLowestPriority; priority <= kHighestPriority; ++priority) {
    q.bind(1, int64_t{priority});
    if (q.step() && !q.is_null(0)) next = std::min(next.value_or(q.integer(0)), q.integer(0));
    q.reset();
  }
  return next;
}

void SqliteStore::save_rule_versions(std::vector<RuleVersion> versions, WriteCallback done) {
  auto v = std::make_shared<std::vector<RuleVersion>>(std::move(versions));
  submit({[v](Writer& w) {
            SqliteStatement insert(w.db.handle(),
                                   "INSERT INTO rule_versions (rule, version, source) VALUES (?, ?, ?) "
                                   "ON CONFLICT DO NOTHING");
            for (const RuleVersion& r : *v) insert.bind(1, r.rule).bind(2, r.version).bind(3, r.source_json).run();
          },
          std::move(done)});
}

std::optional<std::string> SqliteStore::kv_get(const std::string& ns, const std::string& key) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->handle(), "SELECT value FROM plugin_kv WHERE ns = ? AND key = ?");
  q.bind(1, ns).bind(2, key);
  if (!q.step()) return std::nullopt;
  return q.text(0);
}

void SqliteStore::write_and_wait(std::function<void(Writer&)> apply) {
  if (std::this_thread::get_id() == thread_.get_id()) {
    // From a write's callback (a plugin's kv call in on_emitted): waiting
    // for the writer would wait for itself. Between groups, so on its own.
    apply(*writer_);
    return;
  }
  std::promise<StoreStatus> committed;
  submit({std::move(apply), [&](const StoreStatus& s) { committed.set_value(s); }});
  if (StoreStatus s = committed.get_future().get(); !s.ok()) throw StoreError(s.message, s.code);
}

void SqliteStore::kv_put(const std::string& ns, const std::string& key, const std::string& value) {
  write_and_wait([&](Writer& w) {
    SqliteStatement(w.db.handle(),
                    "INSERT INTO plugin_kv (ns, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value")
        .bind(1, ns)
        .bind(2, key)
        .bind(3, value)
        .run();
  });
}

void SqliteStore::kv_remove(const std::string& ns, const std::string& key) {
  write_and_wait([&](Writer& w) {
    SqliteStatement(w.db.handle(), "DELETE FROM plugin_kv WHERE ns = ? AND key = ?").bind(1, ns).bind(2, key).run();
  });
}

std::optional<RuleVersion> SqliteStore::rule_version(const std::string& rule, const std::string& version) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->handle(), "SELECT source FROM rule_versions WHERE rule = ? AND version = ?");
  q.bind(1, rule).bind(2, version);
  if (!q.step()) return std::nullopt;
  return RuleVersion{rule, version, q.text(0)};
}

std::optional<ExecutionRow> SqliteStore::execution(int64_t id) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->handle(), std::string("SELECT ") + kExecutionColumns + " FROM executions WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return read_execution(q);
}

std::vector<ExecutionRow> SqliteStore::executions(const ExecutionQuery& query) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->handle(), std::string("SELECT ") + kExecutionColumns +
                                           " FROM executions WHERE (?1 = '' OR state = ?1) AND (?2 = '' OR rule = ?2) "
                                           "AND (?3 = '' OR event_id = ?3) ORDER BY id DESC LIMIT ?4");
  q.bind(1, query.state ? std::string(state_name(*query.state)) : std::string());
  q.bind(2, query.rule).bind(3, query.event_id).bind(4, static_cast<int64_t>(query.limit));
  std::vector<ExecutionRow> out;
  while (q.step()) out.push_back(read_execution(q));
  return out;
}

}  // namespace sb
