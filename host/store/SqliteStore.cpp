#include "store/SqliteStore.h"

#include <algorithm>
#include <future>
#include <limits>
#include <unordered_map>

#include "log/Logger.h"
#include "store/ContactAliases.h"
#include "store/EventWrites.h"
#include "store/MessageReports.h"
#include "store/Sqlite.h"
#include "util/JsonText.h"
#include "util/ThreadName.h"
#include "util/Time.h"

namespace sb {

namespace {

constexpr int kSchemaVersion = 14;

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
  contact_key TEXT,
  message_id TEXT  -- version 9: the sent message a report is on (EventRecord::message_id)
);
-- Records are kept in key order (WITHOUT ROWID): a page of them in that
-- order is one read of neighbouring rows, not a lookup per row.
CREATE TABLE IF NOT EXISTS contacts (
  key TEXT PRIMARY KEY,
  data TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entities (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  status TEXT,
  data TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL DEFAULT 0, -- version 12: when it was first stored
  contact_key TEXT, -- version 14: the contact the last event naming both named (EventRows::Entity)
  PRIMARY KEY (type, id)
) WITHOUT ROWID;
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
  contact_key TEXT, -- version 13: the contact its event named (ExecutionRow::contact_key)
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
  seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: executions remember the last they took
  key TEXT NOT NULL,
  event TEXT NOT NULL,
  at INTEGER NOT NULL
);
-- Version 5: the hosts sharing the store, and named leases on scheduled work.
CREATE TABLE IF NOT EXISTS nodes (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  address TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS holds (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  until INTEGER NOT NULL
);
-- Version 6: the emails and phones a contact is known by (EventWrites.cpp).
CREATE TABLE IF NOT EXISTS contact_aliases (
  alias TEXT PRIMARY KEY,
  key TEXT NOT NULL
) WITHOUT ROWID;
-- Version 10: the goals contacts reached (a rule's "goal"), for conversions;
-- version 11: what each was worth (the goal's "value").
CREATE TABLE IF NOT EXISTS goals (
  contact TEXT NOT NULL,
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  value REAL
);
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

// Version 3's arrivals were numbered by a rowid that an emptied table
// reuses, which would make an execution that took a high one ignore new
// ones: numbered from AUTOINCREMENT now, above every number taken.
constexpr const char* kUpgradeFrom3 = R"sql(
CREATE TABLE arrivals_v4 (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL,
  event TEXT NOT NULL,
  at INTEGER NOT NULL
);
INSERT INTO arrivals_v4 (seq, key, event, at) SELECT rowid, key, event, at FROM arrivals;
DROP TABLE arrivals;
ALTER TABLE arrivals_v4 RENAME TO arrivals;
INSERT INTO sqlite_sequence (name, seq) SELECT 'arrivals', 0
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'arrivals');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(last_arrival), 0) FROM executions))
  WHERE name = 'arrivals';
)sql";

// Stores made before steps had names (versions 1 and 2, and version 3 before
// its step columns became TEXT) declared them INTEGER, and a table keeps its
// columns' affinity through upgrades: a step named "01" or "1.0" would have
// been stored as the number 1 and read back as "1". Version 8 rebuilds such
// a table with TEXT columns (kSchema makes the new one), ids and their
// sequence kept: an id is never given twice. The old indexes go with the
// old table; kIndexes makes them again.
constexpr const char* kIntegerStepsQuery =
    "SELECT count(*) FROM pragma_table_info('executions') "
    "WHERE name IN ('step', 'resume_step', 'end_step') AND type <> 'TEXT'";
constexpr const char* kExecutionsKept = R"sql(
INSERT INTO executions (id, rule, event_id, state, step, attempt, due_at, context, history, error, created_at,
                        updated_at, awaiting, resume_step, parent_id, end_step, last_arrival, priority, lease_owner,
                        rule_version, doubt)
  SELECT id, rule, event_id, state, CAST(step AS TEXT), attempt, due_at, context, history, error, created_at,
         updated_at, awaiting, CAST(resume_step AS TEXT), parent_id, CAST(end_step AS TEXT), last_arrival, priority,
         lease_owner, rule_version, doubt
  FROM executions_v7;
INSERT INTO sqlite_sequence (name, seq) SELECT 'executions', 0
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'executions');
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'executions_v7'), 0))
  WHERE name = 'executions';
DROP TABLE executions_v7;
)sql";

constexpr const char* kIndexes = R"sql(
-- Version 7: the executions in each state but done (ExecutionFilter);
-- version 6 indexed done too, which nearly every row ends in.
DROP INDEX IF EXISTS executions_state;
CREATE INDEX IF NOT EXISTS executions_open ON executions (state, id) WHERE state <> 'done';
-- Due work is found by priority and time, whatever the number of pending
-- executions; a claimed row's due time is its lease's end, so claims skip it.
CREATE INDEX IF NOT EXISTS executions_due ON executions (priority, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS executions_leased ON executions (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS executions_awaiting ON executions (awaiting) WHERE awaiting IS NOT NULL;
CREATE INDEX IF NOT EXISTS executions_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;
-- A contact's executions, newest first (the executions API's contact).
CREATE INDEX IF NOT EXISTS executions_contact ON executions (contact_key, id) WHERE contact_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS arrivals_key ON arrivals (key, at);
CREATE INDEX IF NOT EXISTS arrivals_at ON arrivals (at);
-- The contacts changed since a time (special dates read them at every
-- check; the admin API's updated_after), without reading them all.
CREATE INDEX IF NOT EXISTS contacts_updated ON contacts (updated_at);
-- A step's reports, by the id of the message it sent (message_reports).
CREATE INDEX IF NOT EXISTS events_message ON events (message_id) WHERE message_id IS NOT NULL;
-- A contact's goals since a time (goals_reached), and the oldest (retention).
CREATE INDEX IF NOT EXISTS goals_contact ON goals (contact, at);
CREATE INDEX IF NOT EXISTS goals_at ON goals (at);
)sql";

// The status change of an event row whose columns from `first` are
// entity_type, entity_id, entity_created, previous_status, status.
std::optional<StatusChange> status_change_at(const SqliteStatement& q, int first) {
  if (q.is_null(first + 2)) return std::nullopt;
  StatusChange c{q.text(first), q.text(first + 1), q.integer(first + 2) != 0, std::nullopt, std::nullopt};
  if (!q.is_null(first + 3)) c.previous = q.text(first + 3);
  if (!q.is_null(first + 4)) c.current = q.text(first + 4);
  return c;
}

// The events after `seq` that `statement` (seq, limit) selects, each row
// made a StoredEvent by `read_row`.
template <class ReadRow>
std::vector<StoredEvent> read_events(SqliteStatement& statement, int64_t seq, size_t limit, const ReadRow& read_row) {
  const StatementUse use(statement);
  SqliteStatement& q = use.statement();
  q.bind(1, seq).bind(2, static_cast<int64_t>(limit));
  std::vector<StoredEvent> out;
  while (q.step()) out.push_back(read_row(q));
  return out;
}

constexpr const char* kExecutionColumns =
    "id, rule, event_id, state, step, attempt, due_at, context, history, error, created_at, updated_at, "
    "coalesce(awaiting, ''), resume_step, coalesce(parent_id, 0), end_step, priority, coalesce(lease_owner, ''), "
    "rule_version, doubt, last_arrival, coalesce(contact_key, '')";

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
  r.last_arrival = q.integer(20);
  r.contact_key = q.text(21);
  return r;
}

void bind_optional(SqliteStatement& s, int index, const std::optional<std::string>& v) {
  if (v)
    s.bind(index, *v);
  else
    s.bind_null(index);
}

}  // namespace

// Execution rows as the writer last wrote them, for the steps in flight: a
// step's result reads its row before the compare-and-set, and that read
// cost a tenth of the writer's work in a campaign. Exact because the writer
// makes every change to the table: a row it cannot mirror (a claim's lease,
// an update of many rows) is forgotten, and so is every row when a write
// is rolled back. Rows without a lease wait for a claim, which reads them.
class WrittenRows {
 public:
  void keep(const ExecutionRow& row) {
    if (row.lease_owner.empty()) return forget(row.id);
    if (rows_.size() >= kMost) rows_.clear();  // more than ever run at once: start over
    rows_.insert_or_assign(row.id, row);
  }
  std::optional<ExecutionRow> take(int64_t id) {
    const auto it = rows_.find(id);
    if (it == rows_.end()) return std::nullopt;
    ExecutionRow row = std::move(it->second);
    rows_.erase(it);
    return row;
  }
  void forget(int64_t id) { rows_.erase(id); }
  void forget_all() { rows_.clear(); }

 private:
  static constexpr size_t kMost = 16384;
  std::unordered_map<int64_t, ExecutionRow> rows_;
};

struct SqliteStore::Writer {
  const std::vector<ContactAggregate> aggregates;
  SqliteDatabase db;
  SqliteStatement insert_event;
  SqliteStatement entity_row;
  SqliteStatement contact_data;
  SqliteStatement alias_owner;
  SqliteStatement put_alias;
  SqliteStatement repoint_aliases;
  SqliteStatement remove_contact;
  SqliteStatement put_contact;
  SqliteStatement put_entity;
  SqliteStatement fire_once;
  SqliteStatement move_router;
  SqliteStatement first_router;
  SqliteStatement insert_execution;
  SqliteStatement find_execution;
  SqliteStatement set_execution;
  SqliteStatement awaiting;
  SqliteStatement branches;
  SqliteStatement insert_arrival;
  SqliteStatement arrival_after;
  SqliteStatement forget_arrivals;
  SqliteStatement insert_goal;
  SqliteStatement due_ids;
  SqliteStatement lease;
  // Each write's savepoint, prepared once: parsing them took a few percent
  // of the writer's time.
  SqliteStatement savepoint{db.handle(), "SAVEPOINT one"};
  SqliteStatement release{db.handle(), "RELEASE one"};
  SqliteStatement rollback_to{db.handle(), "ROLLBACK TO one"};
  SqliteStatement event_source{db.handle(), "SELECT source FROM events WHERE id = ?"};
  WrittenRows written;

  explicit Writer(const Options& o)
      : aggregates(o.aggregates),
        db(o.file, o.synchronous_full),
        insert_event(prepare_schema(db),
                     "INSERT INTO events (id, type, source, occurred_at, received_at, body, entity_type, entity_id, "
                     "entity_created, previous_status, status, chain_depth, contact_key, message_id) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (id) DO NOTHING"),
        entity_row(db.handle(),
                   "SELECT status, data, coalesce(contact_key, '') FROM entities WHERE type = ? AND id = ?"),
        contact_data(db.handle(), "SELECT data FROM contacts WHERE key = ?"),
        alias_owner(db.handle(), "SELECT key FROM contact_aliases WHERE alias = ?"),
        put_alias(db.handle(), "INSERT INTO contact_aliases (alias, key) VALUES (?, ?) ON CONFLICT DO NOTHING"),
        repoint_aliases(db.handle(), "UPDATE contact_aliases SET key = ?2 WHERE key = ?1"),
        remove_contact(db.handle(), "DELETE FROM contacts WHERE key = ?"),
        put_contact(db.handle(),
                    "INSERT INTO contacts (key, data, updated_at) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at"),
        put_entity(db.handle(),
                   "INSERT INTO entities (type, id, status, data, updated_at, created_at, contact_key) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?5, nullif(?6, '')) "
                   "ON CONFLICT (type, id) DO UPDATE SET status = excluded.status, data = excluded.data, "
                   "updated_at = excluded.updated_at, contact_key = excluded.contact_key"),
        fire_once(db.handle(),
                  "INSERT INTO rule_fired (rule, entity_type, entity_id) VALUES (?, ?, ?) "
                  "ON CONFLICT DO NOTHING"),
        move_router(db.handle(), "UPDATE router SET routed_up_to = ?2 WHERE name = 'rules' AND routed_up_to = ?1"),
        first_router(db.handle(),
                     "INSERT INTO router (name, routed_up_to) VALUES ('rules', ?1) ON CONFLICT (name) DO NOTHING"),
        insert_execution(db.handle(),
                         // Every column: the row kept (WrittenRows) is the row written.
                         "INSERT INTO executions (rule, event_id, state, step, due_at, context, history, created_at, "
                         "updated_at, parent_id, end_step, priority, rule_version, lease_owner, attempt, error, "
                         "awaiting, resume_step, doubt, last_arrival, contact_key) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, nullif(?10, 0), ?11, ?12, ?13, nullif(?14, ''), "
                         "?15, ?16, nullif(?17, ''), ?18, ?19, ?20, nullif(?21, '')) "
                         "ON CONFLICT (event_id, rule) DO NOTHING"),
        find_execution(db.handle(), std::string("SELECT ") + kExecutionColumns + " FROM executions WHERE id = ?"),
        set_execution(db.handle(),
                      "UPDATE executions SET state = ?2, step = ?3, attempt = ?4, due_at = ?5, history = ?6, "
                      "error = ?7, updated_at = ?8, awaiting = nullif(?9, ''), resume_step = ?10, "
                      "lease_owner = nullif(?11, ''), doubt = ?12, last_arrival = ?13, rule_version = ?16 "
                      "WHERE id = ?1 AND state = ?14 AND coalesce(lease_owner, '') = ?15"),
        awaiting(db.handle(), std::string("SELECT ") + kExecutionColumns + " FROM executions WHERE awaiting = ?"),
        branches(db.handle(),
                 std::string("SELECT ") + kExecutionColumns + " FROM executions WHERE parent_id = ? ORDER BY id"),
        insert_arrival(db.handle(), "INSERT INTO arrivals (key, event, at) VALUES (?, ?, ?)"),
        arrival_after(db.handle(),
                      "SELECT seq, event, at FROM arrivals WHERE key = ?1 AND at >= ?2 AND seq > ?3 "
                      "ORDER BY seq LIMIT 1"),
        forget_arrivals(db.handle(), "DELETE FROM arrivals WHERE at < ?"),
        insert_goal(db.handle(), "INSERT INTO goals (contact, type, at, value) VALUES (?, ?, ?, ?)"),
        due_ids(db.handle(),
                "SELECT id FROM executions WHERE priority = ?1 AND due_at IS NOT NULL AND due_at <= ?2 "
                "ORDER BY due_at LIMIT ?3"),
        // The lease moves the due time to its end: claims skip the row by
        // index until then, and take it over if no update came by then.
        // Taking over a lease that ended without an update: its step may have run.
        // Read back with find_execution: RETURNING costs more than the read.
        lease(db.handle(),
              "UPDATE executions SET lease_owner = ?2, due_at = ?3, "
              "doubt = CASE WHEN lease_owner IS NULL OR doubt = 2 THEN doubt ELSE 1 END "
              "WHERE id = ?1") {}

  // Contacts stored before aliases were kept (schema 5 and older), or whose
  // numbers were read in another country: their emails and phones are
  // learned now, as their events would have taught them (ContactAliases.h):
  // contacts with an id first, then the oldest; an alias another contact
  // has stays its.
  static void learn_stored_aliases(SqliteDatabase& db) {
    SqliteStatement contacts(db.handle(),
                             "SELECT key, data FROM contacts ORDER BY key NOT LIKE 'id:%', updated_at, key");
    SqliteStatement learn(db.handle(), "INSERT INTO contact_aliases (alias, key) VALUES (?, ?) ON CONFLICT DO NOTHING");
    while (contacts.step())
      for (const auto& [alias, key] : aliases_of_stored(contacts.text(0), contacts.text(1)))
        learn.bind(1, alias).bind(2, key).run();
  }

  static void give_steps_text_affinity(SqliteDatabase& db) {
    {
      SqliteStatement integer_columns(db.handle(), kIntegerStepsQuery);
      if (!integer_columns.step() || integer_columns.integer(0) == 0) return;
    }  // finalized: a table is not dropped under a running statement
    db.execute("ALTER TABLE executions RENAME TO executions_v7");
    db.execute(kSchema);
    db.execute(kExecutionsKept);
  }

  // Version 12 did not keep an execution's contact: those whose event is
  // still kept learn it from the event, a parallel branch (of a branch ...)
  // from its parent. (A version lowered by hand, as the tests do, or a table
  // rebuilt from today's schema, give_steps_text_affinity, has the column.)
  static void name_executions_contacts(SqliteDatabase& db) {
    bool has_column = false;
    {
      SqliteStatement has(db.handle(),
                          "SELECT count(*) FROM pragma_table_info('executions') WHERE name = 'contact_key'");
      has_column = has.step() && has.integer(0) != 0;
    }  // finalized: the table is not altered under a running statement
    if (!has_column) db.execute("ALTER TABLE executions ADD COLUMN contact_key TEXT");
    db.execute(
        "UPDATE executions SET contact_key = (SELECT contact_key FROM events WHERE events.id = executions.event_id) "
        "WHERE parent_id IS NULL AND contact_key IS NULL");
    // One generation of branches each time, until none learns more.
    SqliteStatement branches(
        db.handle(),
        "UPDATE executions SET contact_key = (SELECT p.contact_key FROM executions p "
        "WHERE p.id = executions.parent_id) WHERE parent_id IS NOT NULL AND contact_key IS NULL "
        "AND (SELECT p.contact_key FROM executions p WHERE p.id = executions.parent_id) IS NOT NULL");
    while (branches.run() > 0) {
    }  // run() resets the statement for the next pass
  }

  // Version 13 did not keep an entity's contact: each learns it from the
  // next event that names both (reading the event log for every entity
  // would keep a large store closed for long). (A version lowered by hand,
  // as the tests do, may have the column.)
  static void link_entities_to_contacts(SqliteDatabase& db) {
    {
      SqliteStatement has(db.handle(), "SELECT count(*) FROM pragma_table_info('entities') WHERE name = 'contact_key'");
      if (has.step() && has.integer(0) != 0) return;
    }  // finalized: the table is not altered under a running statement
    db.execute("ALTER TABLE entities ADD COLUMN contact_key TEXT");
  }

  // Version 8 did not keep which sent message a report is on: the reports
  // it stored learn it now, so that the steps' analytics count them. (A
  // version lowered by hand, as the tests do, may have the column already.)
  static void keep_reported_messages(SqliteDatabase& db) {
    {
      SqliteStatement has(db.handle(), "SELECT count(*) FROM pragma_table_info('events') WHERE name = 'message_id'");
      if (has.step() && has.integer(0) != 0) return;
    }  // finalized: the table is not altered under a running statement
    db.execute("ALTER TABLE events ADD COLUMN message_id TEXT");
    SqliteStatement reports(db.handle(),
                            "SELECT seq, type, body FROM events WHERE type LIKE 'message.%' AND seq > ? "
                            "ORDER BY seq LIMIT 10000");
    SqliteStatement learn(db.handle(), "UPDATE events SET message_id = ?2 WHERE seq = ?1");
    for (int64_t after = 0;;) {
      // A page read whole before it is written: no row changes under the read.
      std::vector<std::pair<int64_t, std::string>> page;
      bool any = false;
      reports.bind(1, after);
      while (reports.step()) {
        any = true;
        after = reports.integer(0);
        if (std::string id =
                reported_message_id(reports.text(1), nlohmann::json::parse(reports.text(2), nullptr, false));
            !id.empty())
          page.emplace_back(after, std::move(id));
      }
      reports.reset();
      if (!any) return;
      for (const auto& [seq, id] : page) learn.bind(1, seq).bind(2, id).run();
    }
  }

  // Version 11 did not keep when an entity was first stored: the best
  // known is its last change. (A version lowered by hand, as the tests do,
  // may have the column already.)
  static void date_stored_entities(SqliteDatabase& db) {
    {
      SqliteStatement has(db.handle(), "SELECT count(*) FROM pragma_table_info('entities') WHERE name = 'created_at'");
      if (has.step() && has.integer(0) != 0) return;
    }  // finalized: the table is not altered under a running statement
    db.execute("ALTER TABLE entities ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0");
    db.execute("UPDATE entities SET created_at = updated_at");
  }

  // Aliases are read in the account's country ("8 999 ..." is +7 999 ...
  // in Russia): when it is not the one they were learned in, every
  // contact's are learned again, beside the old ones, so that a number
  // written either way finds the person it was learned for.
  static void learn_aliases_in_region(SqliteDatabase& db, bool just_learned) {
    SqliteStatement learned(db.handle(), "SELECT value FROM plugin_kv WHERE ns = ? AND key = 'region'");
    learned.bind(1, std::string(kPhoneAliases));
    const std::string before = learned.step() ? learned.text(0) : "";
    learned.reset();
    if (before == phone_region()) return;
    if (!just_learned) learn_stored_aliases(db);
    SqliteStatement remember(db.handle(),
                             "INSERT INTO plugin_kv (ns, key, value) VALUES (?, 'region', ?) "
                             "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value");
    remember.bind(1, std::string(kPhoneAliases)).bind(2, phone_region()).run();
  }

  // Runs before the statements are prepared: they need the tables.
  static sqlite3* prepare_schema(SqliteDatabase& db) {
    SqliteStatement version(db.handle(), "PRAGMA user_version");
    const int64_t found = version.step() ? version.integer(0) : 0;
    version.reset();
    if (found > kSchemaVersion)
      throw StoreError("the store " + db.file().string() + " has schema version " + std::to_string(found) +
                       ", written by a newer switchboard; this one knows versions up to " +
                       std::to_string(kSchemaVersion));
    // All or nothing: a crash half-way through an upgrade leaves version 1.
    db.execute("BEGIN IMMEDIATE");
    try {
      db.execute(kSchema);  // a new file gets the current tables
      if (found == 1) db.execute(kUpgradeFrom1);
      if (found >= 1 && found <= 2) db.execute(kUpgradeFrom2);
      if (found >= 1 && found <= 3) db.execute(kUpgradeFrom3);
      const bool aliases_learned = found >= 1 && found <= 5;
      if (aliases_learned) learn_stored_aliases(db);
      if (found >= 1 && found <= 7) give_steps_text_affinity(db);
      if (found >= 1 && found <= 8) keep_reported_messages(db);
      if (found == 10) db.execute("ALTER TABLE goals ADD COLUMN value REAL");
      if (found >= 1 && found <= 11) date_stored_entities(db);
      if (found >= 1 && found <= 12) name_executions_contacts(db);
      if (found >= 1 && found <= 13) link_entities_to_contacts(db);
      learn_aliases_in_region(db, aliases_learned);
      db.execute(kIndexes);
      db.execute("PRAGMA user_version = " + std::to_string(kSchemaVersion));
      db.execute("COMMIT");
    } catch (const StoreError&) {
      db.execute("ROLLBACK");
      throw;
    }
    return db.handle();
  }

  AppendOutcome store(const EventRecord& e, const EventTypeFilter* derived) {
    Events rows(*this);
    return store_event(rows, e, aggregates, derived);
  }

  // The event rows of the writer's connection.
  class Events final : public EventRows {
   public:
    explicit Events(Writer& w) : w_(w) {}
    std::optional<Entity> entity(const std::string& type, const std::string& id) override {
      SqliteStatement& q = w_.entity_row.bind(1, type).bind(2, id);
      std::optional<Entity> found;
      if (q.step()) found = Entity{q.is_null(0) ? std::nullopt : std::optional(q.text(0)), q.text(1), q.text(2)};
      q.reset();
      return found;
    }
    std::optional<std::string> contact(const std::string& key) override {
      SqliteStatement& q = w_.contact_data.bind(1, key);
      std::optional<std::string> found;
      if (q.step()) found = q.text(0);
      q.reset();
      return found;
    }
    std::optional<std::string> contact_of(const std::string& alias) override {
      SqliteStatement& q = w_.alias_owner.bind(1, alias);
      std::optional<std::string> found;
      if (q.step()) found = q.text(0);
      q.reset();
      return found;
    }
    std::optional<std::string> event_source(const std::string& id) override {
      SqliteStatement& q = w_.event_source.bind(1, id);
      std::optional<std::string> found;
      if (q.step()) found = q.text(0);
      q.reset();
      return found;
    }
    void put_alias(const std::string& alias, const std::string& key) override {
      w_.put_alias.bind(1, alias).bind(2, key).run();
    }
    void remove_contact(const std::string& key) override { w_.remove_contact.bind(1, key).run(); }
    void repoint_aliases(const std::string& from_key, const std::string& to_key) override {
      w_.repoint_aliases.bind(1, from_key).bind(2, to_key).run();
    }
    bool insert_event(const EventRecord& e, const std::optional<StatusChange>& change) override {
      SqliteStatement& q = w_.insert_event;
      q.bind_borrowed(1, e.id).bind_borrowed(2, e.type).bind_borrowed(3, e.source);
      q.bind(4, e.occurred_at_ms).bind(5, e.received_at_ms).bind_borrowed(6, e.body_json);
      q.bind(12, int64_t{e.chain_depth});
      if (e.contact) q.bind_borrowed(13, e.contact->key);
      if (!e.message_id.empty()) q.bind_borrowed(14, e.message_id);
      if (e.entity) q.bind_borrowed(7, e.entity->type).bind_borrowed(8, e.entity->id);
      if (change) {
        q.bind(9, int64_t{change->created});
        bind_optional(q, 10, change->previous);
        bind_optional(q, 11, change->current);
      }
      return q.run() != 0;
    }
    void put_contact(const std::string& key, const std::string& data_json, int64_t at_ms) override {
      w_.put_contact.bind_borrowed(1, key).bind_borrowed(2, data_json).bind(3, at_ms).run();
    }
    void put_entity(const std::string& type, const std::string& id, const std::optional<std::string>& status,
                    const std::string& data_json, const std::string& contact_key, int64_t at_ms) override {
      w_.put_entity.bind(1, type).bind(2, id);
      bind_optional(w_.put_entity, 3, status);
      w_.put_entity.bind(4, data_json).bind(5, at_ms).bind(6, contact_key).run();
    }

   private:
    Writer& w_;
  };

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
      written.forget(id);
      if (lease.bind(1, id).bind(2, c.owner).bind(3, until).run() != 1) continue;
      const StatementUse read(find_execution.bind(1, id));
      if (find_execution.step()) {
        rows.push_back(read_execution(find_execution));
        written.keep(rows.back());
      }
    }
    return rows;
  }
};

namespace {

// One key-value operation on the writer's connection; a get's value.
std::optional<std::string> run_kv(SqliteDatabase& db, KeyValueStore::KvOp op, const std::string& ns,
                                  const std::string& key, const std::string& value) {
  switch (op) {
    case KeyValueStore::KvOp::kGet: {
      SqliteStatement q(db.handle(), "SELECT value FROM plugin_kv WHERE ns = ? AND key = ?");
      q.bind(1, ns).bind(2, key);
      if (q.step()) return q.text(0);
      return std::nullopt;
    }
    case KeyValueStore::KvOp::kPut:
      SqliteStatement(db.handle(),
                      "INSERT INTO plugin_kv (ns, key, value) VALUES (?, ?, ?) "
                      "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value")
          .bind(1, ns)
          .bind(2, key)
          .bind(3, value)
          .run();
      break;
    case KeyValueStore::KvOp::kRemove:
      SqliteStatement(db.handle(), "DELETE FROM plugin_kv WHERE ns = ? AND key = ?").bind(1, ns).bind(2, key).run();
      break;
  }
  return std::nullopt;
}

}  // namespace

// A unit of work's rows: statements of the writer connection, inside its
// group's transaction (and a savepoint of its own when the group runs again
// because a write failed).
class SqliteStore::Rows final : public ExecutionRows {
 public:
  explicit Rows(Writer& w) : w_(w) {}

  bool move_router(int64_t from, int64_t to) override {
    if (w_.move_router.bind(1, from).bind(2, to).run() == 1) return true;
    return from == 0 && w_.first_router.bind(1, to).run() == 1;  // the first batch ever
  }

  bool fire_once(const std::string& rule, const std::string& entity_type, const std::string& entity_id) override {
    return w_.fire_once.bind(1, rule).bind(2, entity_type).bind(3, entity_id).run() == 1;
  }

  int64_t insert(const ExecutionRow& r) override {
    SqliteStatement& q = w_.insert_execution;
    q.bind_borrowed(1, r.rule).bind_borrowed(2, r.event_id).bind_borrowed(3, state_name(r.state));
    q.bind_borrowed(4, r.step);
    bind_due(q, 5, r.due_at_ms);
    q.bind_borrowed(6, r.context_json).bind_borrowed(7, r.history_json);
    q.bind(8, r.created_at_ms).bind(9, r.updated_at_ms);
    q.bind(10, r.parent_id).bind_borrowed(11, r.end_step).bind(12, int64_t{r.priority});
    q.bind_borrowed(13, r.rule_version).bind_borrowed(14, r.lease_owner);
    q.bind(15, int64_t{r.attempt}).bind_borrowed(16, r.error).bind_borrowed(17, r.awaiting);
    q.bind_borrowed(18, r.resume_step).bind(19, static_cast<int64_t>(r.doubt)).bind(20, r.last_arrival);
    q.bind_borrowed(21, r.contact_key);
    const int64_t id = q.insert();
    if (id != 0) {
      ExecutionRow kept = r;
      kept.id = id;
      w_.written.keep(kept);
    }
    return id;
  }

  std::optional<ExecutionRow> find(int64_t id) override {
    if (auto kept = w_.written.take(id)) return kept;
    auto found = read_rows(w_.find_execution.bind(1, id));
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }

  bool compare_and_set(const ExecutionRow& r, ExecutionState state, const std::string& lease_owner) override {
    SqliteStatement& q = w_.set_execution;
    q.bind(1, r.id).bind_borrowed(2, state_name(r.state)).bind_borrowed(3, r.step).bind(4, int64_t{r.attempt});
    bind_due(q, 5, r.due_at_ms);
    q.bind_borrowed(6, r.history_json).bind_borrowed(7, r.error).bind(8, r.updated_at_ms);
    q.bind_borrowed(9, r.awaiting).bind_borrowed(10, r.resume_step);
    q.bind_borrowed(11, r.lease_owner).bind(12, static_cast<int64_t>(r.doubt)).bind(13, r.last_arrival);
    q.bind_borrowed(14, state_name(state)).bind_borrowed(15, lease_owner).bind_borrowed(16, r.rule_version);
    if (q.run() != 1) {
      w_.written.forget(r.id);
      return false;
    }
    w_.written.keep(r);
    return true;
  }

  std::vector<ExecutionRow> awaiting(const std::string& key) override { return read_rows(w_.awaiting.bind(1, key)); }

  std::vector<ExecutionRow> branches(int64_t parent_id) override { return read_rows(w_.branches.bind(1, parent_id)); }

  int64_t keep_arrival(const std::string& key, const std::string& event_json, int64_t at_ms) override {
    return w_.insert_arrival.bind(1, key).bind(2, event_json).bind(3, at_ms).insert();
  }

  std::optional<StoredArrival> arrival(const std::string& key, int64_t since_ms, int64_t after_seq) override {
    SqliteStatement& q = w_.arrival_after.bind(1, key).bind(2, since_ms).bind(3, after_seq);
    std::optional<StoredArrival> found;
    if (q.step()) found = StoredArrival{q.integer(0), key, q.text(1), q.integer(2)};
    q.reset();
    return found;
  }

  void forget_arrivals(int64_t before_ms) override { w_.forget_arrivals.bind(1, before_ms).run(); }

  void keep_goal(const GoalReached& goal) override {
    w_.insert_goal.bind(1, goal.contact_key).bind(2, goal.type).bind(3, goal.at_ms);
    if (goal.value)
      w_.insert_goal.bind(4, *goal.value);
    else
      w_.insert_goal.bind_null(4);
    w_.insert_goal.run();
  }

  // One writer: nothing else decides between this unit's read and its commit.
  std::optional<std::string> kv_get(const std::string& ns, const std::string& key) override {
    return run_kv(w_.db, KvOp::kGet, ns, key, "");
  }

  void kv_put(const std::string& ns, const std::string& key, const std::string& value) override {
    run_kv(w_.db, KvOp::kPut, ns, key, value);
  }

 private:
  static void bind_due(SqliteStatement& q, int index, const std::optional<int64_t>& due) {
    if (due)
      q.bind(index, *due);
    else
      q.bind_null(index);
  }

  static std::vector<ExecutionRow> read_rows(SqliteStatement& q) {
    std::vector<ExecutionRow> out;
    while (q.step()) out.push_back(read_execution(q));
    q.reset();
    return out;
  }

  Writer& w_;
};

// The statements the pipeline runs at every turn, prepared once: preparing
// events_after took 6 % of the pipeline thread's time in a campaign.
struct SqliteStore::Reader {
  SqliteDatabase db;
  SqliteStatement events_after;
  SqliteStatement event_heads_after;
  SqliteStatement routed_up_to;
  SqliteStatement next_due;
  SqliteStatement contact;  // an execution's steps after its first read the contact and the entity again
  SqliteStatement entity;

  explicit Reader(const Options& o)
      : db(o.file, o.synchronous_full),
        events_after(db.handle(),
                     "SELECT e.seq, e.id, e.type, e.source, e.occurred_at, e.received_at, e.body, e.entity_type, "
                     "e.entity_id, e.entity_created, e.previous_status, e.status, e.chain_depth, c.data, n.data, "
                     "n.status, coalesce(a.key, e.contact_key) "
                     // The contact as it is known now (one absorbed since is its new key's).
                     "FROM events e LEFT JOIN contact_aliases a ON a.alias = e.contact_key "
                     "LEFT JOIN contacts c ON c.key = coalesce(a.key, e.contact_key) "
                     "LEFT JOIN entities n ON n.type = e.entity_type AND n.id = e.entity_id "
                     "WHERE e.seq > ? ORDER BY e.seq LIMIT ?"),
        event_heads_after(db.handle(),
                          "SELECT seq, id, type, source, chain_depth, entity_type, entity_id, entity_created, "
                          "previous_status, status FROM events WHERE seq > ? ORDER BY seq LIMIT ?"),
        routed_up_to(db.handle(), "SELECT routed_up_to FROM router WHERE name = 'rules'"),
        // One index range per priority: min() over the whole index would scan it.
        next_due(db.handle(), "SELECT min(due_at) FROM executions WHERE priority = ? AND due_at IS NOT NULL"),
        // By its key, or by an email or phone it is known by.
        contact(db.handle(),
                "SELECT key, data, updated_at FROM contacts "
                "WHERE key = coalesce((SELECT key FROM contact_aliases WHERE alias = ?1), ?1)"),
        entity(db.handle(), "SELECT status, data, updated_at, created_at FROM entities WHERE type = ? AND id = ?") {}
};

SqliteStore::SqliteStore(Options options) : options_(std::move(options)) {
  writer_ = std::make_unique<Writer>(options_);
  // One file serves one host: a lease left in it is the previous run's,
  // whose steps ended with it. They are due again now.
  SqliteStatement(writer_->db.handle(),
                  "UPDATE executions SET lease_owner = NULL, due_at = min(due_at, ?1), "
                  "doubt = CASE WHEN doubt = 2 THEN 2 ELSE 1 END "
                  "WHERE lease_owner IS NOT NULL")
      .bind(1, now_ms())
      .run();
  writer_->db.execute("DELETE FROM holds");  // and so are its turns at scheduled work
  reader_ = std::make_unique<Reader>(options_);
  thread_ = std::thread([this] {
    name_this_thread("sb-store");
    writer_loop();
  });
}

SqliteStore::~SqliteStore() {
  queue_.stop();
  thread_.join();
}

void SqliteStore::submit(Write write, bool urgent) {
  if (!queue_.push(write, urgent)) write.done({StoreErrc::kUnavailable, "the store is shutting down"});
}

void SqliteStore::append_events(std::vector<EventRecord> batch, AppendCallback done) {
  append(std::move(batch), std::move(done), false);
}

void SqliteStore::derive_only(EventTypeFilter wanted) { derived_.set(std::move(wanted)); }

void SqliteStore::append_events_urgent(std::vector<EventRecord> batch, AppendCallback done) {
  append(std::move(batch), std::move(done), true);
}

void SqliteStore::append(std::vector<EventRecord> batch, AppendCallback done, bool urgent) {
  auto outcomes = std::make_shared<std::vector<AppendOutcome>>();
  auto events = std::make_shared<std::vector<EventRecord>>(std::move(batch));
  submit({[events, outcomes, derived = derived_.get()](Writer& w) {
            outcomes->clear();
            for (const EventRecord& e : *events) outcomes->push_back(w.store(e, derived.get()));
          },
          [outcomes, done = std::move(done)](const StoreStatus& status) {
            done(status.ok() ? AppendResult{"", std::move(*outcomes)} : AppendResult{status.message, {}});
          }},
         urgent);
}

void SqliteStore::transact(Work work, WriteCallback done) { submit(unit_of(std::move(work), std::move(done))); }

void SqliteStore::transact_urgent(Work work, WriteCallback done) {
  submit(unit_of(std::move(work), std::move(done)), true);
}

SqliteStore::Write SqliteStore::unit_of(Work work, WriteCallback done) {
  return {[work = std::move(work)](Writer& w) {
            Rows rows(w);
            work(rows);
          },
          std::move(done)};
}

void SqliteStore::flush() {
  std::promise<void> flushed;
  submit({[](Writer&) {}, [&flushed](const StoreStatus&) { flushed.set_value(); }});
  flushed.get_future().wait();
}

uint64_t SqliteStore::commits() const { return commits_; }

void SqliteStore::writer_loop() {
  for (auto group = queue_.next_group(); !group.empty(); group = queue_.next_group()) commit_group(group);
}

void SqliteStore::commit_group(std::deque<Write>& group) {
  std::vector<StoreStatus> errors(group.size());
  // Most groups have no failing write, and run without a savepoint per write
  // (whose undo journal copies each page a write first touches). One that
  // fails rolls its group back, which runs again with them, so that the
  // failing write is undone alone (a unit of work may run again).
  if (!run_group(group, errors, false)) run_group(group, errors, true);
  for (size_t i = 0; i < group.size(); ++i) {
    try {
      group[i].done(errors[i]);
    } catch (const std::exception& e) {
      log_error("store", "write callback threw", {{"error", e.what()}});
    } catch (...) {  // a plugin's C callback (key-value, emit) that threw across the ABI
      log_error("store", "write callback threw an unknown exception");
    }
  }
}

bool SqliteStore::run_group(std::deque<Write>& group, std::vector<StoreStatus>& errors, bool savepoints) {
  try {
    writer_->db.execute("BEGIN IMMEDIATE");
    for (size_t i = 0; i < group.size(); ++i) {
      if (savepoints) writer_->savepoint.run();
      StoreStatus failed;
      try {
        group[i].apply(*writer_);
      } catch (const StoreError& e) {
        failed = {e.code(), e.what()};
      } catch (const std::exception& e) {  // a unit of work's own failure
        failed = {StoreErrc::kUnavailable, e.what()};
      }
      if (failed.ok()) {
        if (savepoints) writer_->release.run();
        continue;
      }
      writer_->written.forget_all();  // some of them were not kept
      if (!savepoints) {
        try {
          writer_->db.execute("ROLLBACK");
        } catch (const StoreError&) {
          // SQLite rolled it back itself (a full disk, an I/O error)
        }
        return false;  // again with savepoints, which say what failed
      }
      writer_->rollback_to.run();
      writer_->release.run();
      errors[i] = std::move(failed);
    }
    writer_->db.execute("COMMIT");
    ++commits_;
  } catch (const StoreError& e) {
    writer_->written.forget_all();
    log_error("store", "commit failed", {{"error", e.what()}});
    try {
      writer_->db.execute("ROLLBACK");
    } catch (const StoreError&) {
      // no transaction left to roll back
    }
    for (auto& error : errors)
      error = {StoreErrc::kUnavailable, std::string("the store could not commit: ") + e.what()};
  }
  return true;
}

std::vector<StoredEvent> SqliteStore::events_after(int64_t seq, size_t limit) {
  std::lock_guard lock(read_mutex_);
  return read_events(reader_->events_after, seq, limit, [](const SqliteStatement& q) {
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
    if (!q.is_null(16)) e.contact_key = q.text(16);
    if (!q.is_null(14)) {
      // The entity as stored, with what identifies it.
      nlohmann::json entity = nlohmann::json::parse(q.text(14), nullptr, false);
      if (!entity.is_object()) entity = nlohmann::json::object();
      entity["type"] = q.text(7);
      entity["id"] = q.text(8);
      entity["status"] = q.is_null(15) ? nlohmann::json() : nlohmann::json(q.text(15));
      e.entity_json = dump_text(entity);
    }
    e.status_change = status_change_at(q, 7);
    return e;
  });
}

std::vector<StoredEvent> SqliteStore::event_heads_after(int64_t seq, size_t limit) {
  std::lock_guard lock(read_mutex_);
  return read_events(reader_->event_heads_after, seq, limit, [](const SqliteStatement& q) {
    StoredEvent e;
    e.seq = q.integer(0);
    e.record.id = q.text(1);
    e.record.type = q.text(2);
    e.record.source = q.text(3);
    e.record.chain_depth = static_cast<int>(q.integer(4));
    e.status_change = status_change_at(q, 5);
    return e;
  });
}

std::optional<StoredContact> SqliteStore::contact(const std::string& key) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement& q = reader_->contact;
  const StatementUse use(q.bind(1, key));
  if (!q.step()) return std::nullopt;
  return StoredContact{q.text(0), q.text(1), q.integer(2)};
}

std::optional<StoredEntity> SqliteStore::entity(const std::string& type, const std::string& id) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement& q = reader_->entity;
  const StatementUse use(q.bind(1, type).bind(2, id));
  if (!q.step()) return std::nullopt;
  StoredEntity e{type, id, std::nullopt, q.text(1), q.integer(2), q.integer(3)};
  if (!q.is_null(0)) e.status = q.text(0);
  return e;
}

namespace {
void bind_time_bounds(SqliteStatement& q, int first, const RecordQuery& r) {
  q.bind(first, r.updated_after_ms.value_or(std::numeric_limits<int64_t>::min()));
  q.bind(first + 1, r.updated_before_ms.value_or(std::numeric_limits<int64_t>::max()));
}
}  // namespace

std::vector<StoredContact> SqliteStore::contacts_page(const RecordQuery& r) {
  std::lock_guard lock(read_mutex_);
  // Few in the bounds (the changes of the last minute): found by the
  // updated_at index, then put in key order. Else in key order, the bounds
  // checked on each (a page stops at its limit).
  SqliteStatement q(reader_->db.handle(),
                    r.few_in_bounds ? "SELECT key, data, updated_at FROM contacts INDEXED BY contacts_updated WHERE "
                                      "key > ?1 AND updated_at >= ?2 AND updated_at <= ?3 ORDER BY key LIMIT ?4"
                                    : "SELECT key, data, updated_at FROM contacts WHERE key > ?1 AND updated_at >= ?2 "
                                      "AND updated_at <= ?3 ORDER BY key LIMIT ?4");
  q.bind(1, r.after);
  bind_time_bounds(q, 2, r);
  q.bind(4, static_cast<int64_t>(r.limit));
  std::vector<StoredContact> out;
  while (q.step()) out.push_back({q.text(0), q.text(1), q.integer(2)});
  return out;
}

std::vector<StoredEntity> SqliteStore::entities_page(const RecordQuery& r) {
  const size_t split = r.after.find('\n');
  const std::string after_type = r.after.substr(0, split);
  const std::string after_id = split == std::string::npos ? "" : r.after.substr(split + 1);
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->db.handle(),
                    "SELECT type, id, status, data, updated_at, created_at FROM entities "
                    "WHERE (type, id) > (?1, ?2) AND (?3 = '' OR type = ?3) "
                    "AND (?4 = 0 OR status IS ?5) AND updated_at >= ?6 AND updated_at <= ?7 "
                    "AND created_at >= ?9 AND created_at <= ?10 "
                    "ORDER BY type, id LIMIT ?8");
  q.bind(1, after_type).bind(2, after_id).bind(3, r.entity_type).bind(4, int64_t{r.by_status});
  if (r.status)
    q.bind(5, *r.status);
  else
    q.bind_null(5);
  bind_time_bounds(q, 6, r);
  q.bind(8, static_cast<int64_t>(r.limit));
  q.bind(9, r.created_after_ms.value_or(std::numeric_limits<int64_t>::min()));
  q.bind(10, r.created_before_ms.value_or(std::numeric_limits<int64_t>::max()));
  std::vector<StoredEntity> out;
  while (q.step()) {
    StoredEntity e{q.text(0), q.text(1), std::nullopt, q.text(3), q.integer(4), q.integer(5)};
    if (!q.is_null(2)) e.status = q.text(2);
    out.push_back(std::move(e));
  }
  return out;
}

int64_t SqliteStore::routed_up_to() {
  std::lock_guard lock(read_mutex_);
  const StatementUse use(reader_->routed_up_to);
  SqliteStatement& q = use.statement();
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
  const StatementUse use(reader_->next_due);
  SqliteStatement& q = use.statement();
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
  SqliteStatement q(reader_->db.handle(), "SELECT value FROM plugin_kv WHERE ns = ? AND key = ?");
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
  write_and_wait([&](Writer& w) { run_kv(w.db, KvOp::kPut, ns, key, value); });
}

void SqliteStore::kv_remove(const std::string& ns, const std::string& key) {
  write_and_wait([&](Writer& w) { run_kv(w.db, KvOp::kRemove, ns, key, ""); });
}

void SqliteStore::kv_async(KvOp op, std::string ns, std::string key, std::string value, KvDone done) {
  auto found = std::make_shared<std::optional<std::string>>();
  submit({[op, ns = std::move(ns), key = std::move(key), value = std::move(value), found](Writer& w) {
            *found = run_kv(w.db, op, ns, key, value);
          },
          [found, done = std::move(done)](const StoreStatus& status) { done(status, *found); }});
}

std::optional<RuleVersion> SqliteStore::rule_version(const std::string& rule, const std::string& version) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->db.handle(), "SELECT source FROM rule_versions WHERE rule = ? AND version = ?");
  q.bind(1, rule).bind(2, version);
  if (!q.step()) return std::nullopt;
  return RuleVersion{rule, version, q.text(0)};
}

std::vector<RuleVersion> SqliteStore::awaited_rule_versions() {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->db.handle(),
                    "SELECT v.rule, v.version, v.source FROM rule_versions v JOIN (SELECT DISTINCT rule, rule_version "
                    "FROM executions WHERE awaiting IS NOT NULL) w ON w.rule = v.rule AND w.rule_version = v.version");
  std::vector<RuleVersion> out;
  while (q.step()) out.push_back({q.text(0), q.text(1), q.text(2)});
  return out;
}

std::vector<RuleVersion> SqliteStore::rule_versions() {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->db.handle(), "SELECT rule, version, source FROM rule_versions ORDER BY rule, version");
  std::vector<RuleVersion> out;
  while (q.step()) out.push_back({q.text(0), q.text(1), q.text(2)});
  return out;
}

std::vector<std::pair<std::string, std::string>> SqliteStore::rule_version_names() {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->db.handle(), "SELECT rule, version FROM rule_versions ORDER BY rule, version");
  std::vector<std::pair<std::string, std::string>> out;
  while (q.step()) out.emplace_back(q.text(0), q.text(1));
  return out;
}

std::vector<MessageReport> SqliteStore::message_reports(const std::vector<std::string>& message_ids) {
  constexpr size_t kChunk = 500;  // ids a statement names (SQLite takes up to 32,766 parameters)
  std::vector<MessageReport> out;
  for (size_t from = 0; from < message_ids.size(); from += kChunk) {
    // A chunk at a time: the router reads through the same connection.
    std::lock_guard lock(read_mutex_);
    const size_t n = std::min(kChunk, message_ids.size() - from);
    std::string marks;
    for (size_t i = 0; i < n; ++i) marks += i ? ", ?" : "?";
    SqliteStatement q(reader_->db.handle(),
                      "SELECT message_id, type, received_at FROM events WHERE message_id IN (" + marks + ")");
    for (size_t i = 0; i < n; ++i) q.bind(static_cast<int>(i + 1), message_ids[from + i]);
    while (q.step()) out.push_back({q.text(0), q.text(1), q.integer(2)});
  }
  return out;
}

// A contact's goals under the key asked for, or under what that key is an
// alias of now (a lead sent a message by phone, known by its id since).
constexpr const char* kGoalsOfContacts =
    "WITH asked(k) AS (SELECT value FROM json_each(?1)), "
    "names(k, n) AS (SELECT k, k FROM asked UNION SELECT asked.k, a.key FROM asked "
    "JOIN contact_aliases a ON a.alias = asked.k) "
    "SELECT names.k, g.type, g.at, g.value FROM names JOIN goals AS g INDEXED BY goals_contact ON g.contact = names.n "
    "WHERE g.at >= ?2";

std::vector<GoalReached> SqliteStore::goals_reached(const std::vector<std::string>& contact_keys, int64_t since_ms) {
  constexpr size_t kChunk = 5000;  // contacts a statement names
  std::vector<GoalReached> out;
  for (const std::string& keys : json_array_texts(contact_keys, kChunk)) {
    std::lock_guard lock(read_mutex_);  // a chunk at a time: the router reads through the same connection
    SqliteStatement q(reader_->db.handle(), kGoalsOfContacts);
    q.bind(1, keys).bind(2, since_ms);
    while (q.step())
      out.push_back({q.text(0), q.text(1), q.integer(2), q.is_null(3) ? std::nullopt : std::optional(q.real(3))});
  }
  return out;
}

// The oldest first, by position: one index range, however long the history.
size_t SqliteStore::forget_events(int64_t before_ms, size_t limit) {
  size_t removed = 0;
  write_and_wait([&](Writer& w) {
    SqliteStatement q(
        w.db.handle(),
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?1) "
        "AND received_at < ?2 AND seq <= coalesce((SELECT routed_up_to FROM router WHERE name = 'rules'), 0)");
    removed = static_cast<size_t>(q.bind(1, static_cast<int64_t>(limit)).bind(2, before_ms).run());
    SqliteStatement goals(
        w.db.handle(), "DELETE FROM goals WHERE rowid IN (SELECT rowid FROM goals WHERE at < ?2 ORDER BY at LIMIT ?1)");
    goals.bind(1, static_cast<int64_t>(limit)).bind(2, before_ms).run();
  });
  return removed;
}

Store::ExecutionsLookedAt SqliteStore::forget_executions(const std::vector<ExecutionState>& states, int64_t before_ms,
                                                         int64_t after_id, size_t limit) {
  ExecutionsLookedAt out;
  write_and_wait([&](Writer& w) {
    out = {};
    SqliteStatement range(w.db.handle(), "SELECT id, created_at FROM executions WHERE id > ? ORDER BY id LIMIT ?");
    range.bind(1, after_id).bind(2, static_cast<int64_t>(limit));
    for (; range.step(); ++out.looked_at) {
      out.last_id = range.integer(0);
      out.last_created_at = range.integer(1);
    }
    if (out.looked_at == 0) return;
    std::string in;
    for (size_t i = 0; i < states.size(); ++i) in += (i ? ", ?" : "?") + std::to_string(i + 4);
    SqliteStatement remove(w.db.handle(),
                           "DELETE FROM executions WHERE id > ?1 AND id <= ?2 AND updated_at < ?3 AND state IN (" + in +
                               ") AND (parent_id IS NULL OR NOT EXISTS "
                               "(SELECT 1 FROM executions p WHERE p.id = executions.parent_id))");
    remove.bind(1, after_id).bind(2, out.last_id).bind(3, before_ms);
    for (size_t i = 0; i < states.size(); ++i) remove.bind(static_cast<int>(i + 4), std::string(state_name(states[i])));
    out.removed = states.empty() ? 0 : static_cast<size_t>(remove.run());
  });
  return out;
}

size_t SqliteStore::forget_rule_versions(const std::vector<std::pair<std::string, std::string>>& keep) {
  size_t removed = 0;
  write_and_wait([&](Writer& w) {
    removed = 0;
    // The kept ones are passed over before any execution is read: no index
    // leads from a version to its executions (one would cost every insert),
    // and one with none left is a scan.
    SqliteStatement versions(w.db.handle(), "SELECT rule, version FROM rule_versions");
    SqliteStatement runs(w.db.handle(), "SELECT 1 FROM executions WHERE rule = ? AND rule_version = ? LIMIT 1");
    SqliteStatement remove(w.db.handle(), "DELETE FROM rule_versions WHERE rule = ? AND version = ?");
    std::vector<std::pair<std::string, std::string>> others;
    while (versions.step())
      if (std::pair name{versions.text(0), versions.text(1)}; std::find(keep.begin(), keep.end(), name) == keep.end())
        others.push_back(std::move(name));
    for (const auto& [rule, version] : others) {
      const bool used = runs.bind(1, rule).bind(2, version).step();
      runs.reset();
      if (!used) removed += remove.bind(1, rule).bind(2, version).run();
    }
  });
  return removed;
}

std::optional<ExecutionRow> SqliteStore::execution(int64_t id) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->db.handle(), std::string("SELECT ") + kExecutionColumns + " FROM executions WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return read_execution(q);
}

std::vector<ExecutionRow> SqliteStore::executions(const ExecutionQuery& query) {
  std::lock_guard lock(read_mutex_);
  const ExecutionFilter filter = execution_filter(query, [](int n) { return "?" + std::to_string(n); });
  SqliteStatement q(reader_->db.handle(), std::string("SELECT ") + kExecutionColumns + " FROM executions" +
                                              filter.where + " ORDER BY id DESC LIMIT ?" +
                                              std::to_string(filter.values.size() + 1));
  int n = 0;
  for (const std::string& value : filter.values) q.bind(++n, value);
  q.bind(n + 1, static_cast<int64_t>(query.limit));
  std::vector<ExecutionRow> out;
  while (q.step()) out.push_back(read_execution(q));
  return out;
}

void SqliteStore::beat(const NodeRecord& n, WriteCallback done) {
  submit({[n](Writer& w) {
            SqliteStatement(w.db.handle(),
                            "INSERT INTO nodes (id, host, address, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?) "
                            "ON CONFLICT (id) DO UPDATE SET address = excluded.address, "
                            "heartbeat_at = excluded.heartbeat_at")
                .bind(1, n.id)
                .bind(2, n.host)
                .bind(3, n.address)
                .bind(4, n.started_at_ms)
                .bind(5, n.heartbeat_at_ms)
                .run();
          },
          std::move(done)});
}

std::vector<NodeRecord> SqliteStore::nodes() {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(
      reader_->db.handle(),
      "SELECT id, host, address, started_at, heartbeat_at, "
      "(SELECT count(*) FROM executions WHERE lease_owner = nodes.id) FROM nodes ORDER BY started_at, id");
  std::vector<NodeRecord> out;
  while (q.step()) out.push_back({q.text(0), q.text(1), q.text(2), q.integer(3), q.integer(4), q.integer(5)});
  return out;
}

void SqliteStore::end_leases(const std::string& owner, int64_t now, std::optional<int64_t> last_heartbeat,
                             WriteCallback done) {
  submit({[owner, now, last_heartbeat](Writer& w) {
            w.written.forget_all();  // the node's leased rows change below
            if (last_heartbeat) {
              SqliteStatement(w.db.handle(), "DELETE FROM nodes WHERE id = ?1 AND heartbeat_at = ?2")
                  .bind(1, owner)
                  .bind(2, *last_heartbeat)
                  .run();
              if (sqlite3_changes(w.db.handle()) == 0)
                throw StoreError("node " + owner + " has beaten since", StoreErrc::kConflict);
            } else {
              SqliteStatement(w.db.handle(), "DELETE FROM nodes WHERE id = ?").bind(1, owner).run();
            }
            SqliteStatement(w.db.handle(), "UPDATE executions SET due_at = min(due_at, ?2) WHERE lease_owner = ?1")
                .bind(1, owner)
                .bind(2, now)
                .run();
            // A row with nothing due kept the lease only while its step ran
            // (cancelled meanwhile): it ran on the node that ended.
            SqliteStatement(w.db.handle(),
                            "UPDATE executions SET lease_owner = NULL WHERE lease_owner = ? AND due_at IS NULL")
                .bind(1, owner)
                .run();
            SqliteStatement(w.db.handle(), "DELETE FROM holds WHERE owner = ?").bind(1, owner).run();
          },
          std::move(done)});
}

bool SqliteStore::hold(const std::string& name, const std::string& owner, int64_t now, int64_t until) {
  bool held = false;
  write_and_wait([&](Writer& w) {
    held = SqliteStatement(w.db.handle(),
                           "INSERT INTO holds (name, owner, until) VALUES (?1, ?2, ?4) ON CONFLICT (name) DO UPDATE "
                           "SET owner = excluded.owner, until = excluded.until "
                           "WHERE holds.owner = excluded.owner OR holds.until < ?3")
               .bind(1, name)
               .bind(2, owner)
               .bind(3, now)
               .bind(4, until)
               .run() == 1;
  });
  return held;
}

}  // namespace sb
