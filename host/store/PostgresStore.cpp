#include "store/PostgresStore.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "log/Logger.h"
#include "store/ContactAliases.h"
#include "store/EventWrites.h"
#include "store/MessageReports.h"
#include "store/Postgres.h"
#include "util/JsonText.h"
#include "util/ThreadName.h"
#include "util/Time.h"

namespace sb {

namespace {

// Held by a write group with appends from its BEGIN to its commit
// (pg_advisory_xact_lock): alone by one naming many keys, shared by the
// others, which then lock the keys they name (kKeyLocks, a key's hashtext:
// the locks' second number). See AppendLocks.
constexpr int64_t kEventLogLock = 0x5357'4244'4c4f'4701;  // "SWBDLOG", 1
constexpr int64_t kKeyLocks = 0x5342'4b59;                // "SBKY"
// An event's position is its transaction's id times 2^22 (4194304 in the SQL:
// an overflow is an error, where a shift would wrap), plus its number in
// the transaction (migration 4).
constexpr int64_t kEventsPerTransaction = int64_t{1} << 22;
// Transaction ids past this give positions past a bigint.
constexpr int64_t kLastTransactionId = (int64_t{1} << 41) - 1;
// A group of appends naming more keys (ids, contacts, addresses, entities)
// holds the log lock alone: its key locks would crowd PostgreSQL's shared
// lock table, and it would wait for most other appends anyway.
constexpr size_t kMostKeyLocks = 256;
// The longest wait before the listener says "events" again while they are
// held back: a store's own transactions last milliseconds.
constexpr int kLongestRecheckMs = 8;
constexpr int kLongHoldRecheckMs = 250;  // ... once they have been held back for a second
// Events held back this long by an open transaction: logged (hold_back).
constexpr int64_t kLongHoldMs = 5000;
// Held while the schema is created or upgraded: hosts starting together.
constexpr int64_t kSchemaLock = 0x5357'4244'5343'4801;

// Migrations: the schema at version N is every step up to N, applied in one
// transaction on start. Steps are only ever added.
const std::vector<const char*> kMigrations = {
    // 1: everything the store keeps (the SQLite schema's version 4).
    R"sql(
CREATE TABLE events (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  source TEXT NOT NULL,
  occurred_at BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  body TEXT NOT NULL,
  entity_type TEXT,
  entity_id TEXT,
  entity_created BOOLEAN,
  previous_status TEXT,
  status TEXT,
  chain_depth INTEGER NOT NULL DEFAULT 0,
  contact_key TEXT
);
CREATE TABLE contacts (
  key TEXT PRIMARY KEY,
  data TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE entities (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  status TEXT,
  data TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (type, id)
);
CREATE TABLE router (
  name TEXT PRIMARY KEY,
  routed_up_to BIGINT NOT NULL
);
CREATE TABLE rule_fired (
  rule TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  PRIMARY KEY (rule, entity_type, entity_id)
);
CREATE TABLE executions (
  id BIGSERIAL PRIMARY KEY,
  rule TEXT NOT NULL,
  event_id TEXT NOT NULL,
  state TEXT NOT NULL,
  step TEXT NOT NULL DEFAULT '',
  attempt INTEGER NOT NULL DEFAULT 0,
  due_at BIGINT,
  context TEXT NOT NULL,
  history TEXT NOT NULL DEFAULT '[]',
  error TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  awaiting TEXT,
  resume_step TEXT NOT NULL DEFAULT '',
  parent_id BIGINT,
  end_step TEXT NOT NULL DEFAULT '',
  last_arrival BIGINT NOT NULL DEFAULT 0,
  priority INTEGER NOT NULL DEFAULT 1,
  lease_owner TEXT,
  rule_version TEXT NOT NULL DEFAULT '',
  doubt INTEGER NOT NULL DEFAULT 0,
  UNIQUE (event_id, rule)
);
CREATE TABLE rule_versions (
  rule TEXT NOT NULL,
  version TEXT NOT NULL,
  source TEXT NOT NULL,
  PRIMARY KEY (rule, version)
);
CREATE TABLE plugin_kv (
  ns TEXT NOT NULL,
  key TEXT NOT NULL,
  value BYTEA NOT NULL,
  PRIMARY KEY (ns, key)
);
CREATE TABLE arrivals (
  seq BIGSERIAL PRIMARY KEY,
  key TEXT NOT NULL,
  event TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX executions_state ON executions (state, id);
CREATE INDEX executions_due ON executions (priority, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX executions_leased ON executions (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX executions_awaiting ON executions (awaiting) WHERE awaiting IS NOT NULL;
CREATE INDEX executions_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX arrivals_key ON arrivals (key, at);
CREATE INDEX arrivals_at ON arrivals (at);
)sql",
    // 2: the hosts sharing the store, and named leases on scheduled work.
    R"sql(
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  address TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL
);
CREATE TABLE holds (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  until BIGINT NOT NULL
);
)sql",
    // 3: the emails and phones a contact is known by (EventWrites.cpp).
    R"sql(
CREATE TABLE contact_aliases (
  alias TEXT PRIMARY KEY,
  key TEXT NOT NULL
);
)sql",
    // 4: an event's position is its transaction's id and its number in it
    // (Events::writes): hosts append at once, and the router reads up to
    // the oldest transaction still open (events_after). A host of an older
    // binary still running must neither append (its numbers would be out of
    // this order) nor route (it would pass events committed late), nor hold
    // the router's turn (no host would route): with no default position and
    // the router's and the holds' columns renamed, those fail (503s, logged)
    // until it is upgraded.
    R"sql(
ALTER TABLE events ALTER COLUMN seq DROP DEFAULT;
ALTER TABLE router RENAME COLUMN routed_up_to TO up_to;
ALTER TABLE holds RENAME COLUMN until TO held_until;
)sql",
    // 5: the executions in each state but done (ExecutionFilter), which
    // nearly every row ends in.
    R"sql(
DROP INDEX IF EXISTS executions_state;
CREATE INDEX IF NOT EXISTS executions_open ON executions (state, id) WHERE state <> 'done';
)sql",
    // 6: the sent message a report is on (EventRecord::message_id), and a
    // step's reports found by it (message_reports).
    R"sql(
ALTER TABLE events ADD COLUMN IF NOT EXISTS message_id TEXT;
CREATE INDEX IF NOT EXISTS events_message ON events (message_id) WHERE message_id IS NOT NULL;
)sql",
    // 7: the goals contacts reached (a rule's "goal"), for conversions.
    R"sql(
CREATE TABLE IF NOT EXISTS goals (
  contact TEXT NOT NULL,
  type TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS goals_contact ON goals (contact, at);
CREATE INDEX IF NOT EXISTS goals_at ON goals (at);
)sql",
    // 8: what each goal reached was worth (a rule goal's "value").
    R"sql(
ALTER TABLE goals ADD COLUMN IF NOT EXISTS value DOUBLE PRECISION;
)sql",
    // 9: when an entity was first stored (a record's period in the channels
    // report); the best known for one stored before is its last change.
    R"sql(
ALTER TABLE entities ADD COLUMN IF NOT EXISTS created_at BIGINT;
UPDATE entities SET created_at = updated_at WHERE created_at IS NULL;
ALTER TABLE entities ALTER COLUMN created_at SET NOT NULL;
-- A node not yet upgraded inserts without it (a rolling upgrade): then.
ALTER TABLE entities ALTER COLUMN created_at SET DEFAULT (floor(extract(epoch FROM clock_timestamp()) * 1000))::bigint;
)sql",
    // 10: the contact an execution's event named (ExecutionRow::contact_key),
    // and a contact's executions found by it, newest first. Those whose
    // event is still kept learn it from the event, a parallel branch from
    // its parent. A node not yet upgraded inserts none (a rolling upgrade).
    R"sql(
ALTER TABLE executions ADD COLUMN IF NOT EXISTS contact_key TEXT;
UPDATE executions x SET contact_key = e.contact_key FROM events e WHERE e.id = x.event_id AND x.parent_id IS NULL;
DO $$ BEGIN
  LOOP  -- one generation of branches (of branches ...) each time
    UPDATE executions x SET contact_key = p.contact_key FROM executions p
      WHERE p.id = x.parent_id AND x.contact_key IS NULL AND p.contact_key IS NOT NULL;
    EXIT WHEN NOT FOUND;
  END LOOP;
END $$;
CREATE INDEX IF NOT EXISTS executions_contact ON executions (contact_key, id) WHERE contact_key IS NOT NULL;
)sql",
    // 11: the contact an entity is about (EventRows::Entity), learned from
    // the next event that names both (reading the event log for every
    // entity would hold the upgrade for long). A node not yet upgraded
    // leaves it as it was (a rolling upgrade).
    R"sql(
ALTER TABLE entities ADD COLUMN IF NOT EXISTS contact_key TEXT;
)sql",
};

// Indexes a binary may add without a new version (an older one runs on with
// them, so a rollback stays open), made at every start if missing.
// contacts_updated: the contacts changed since a time (special dates read
// them at every check), without reading them all.
constexpr char kIndexes[] = "CREATE INDEX IF NOT EXISTS contacts_updated ON contacts (updated_at)";

// The position below which every event is committed or never will be (see
// migration 4): the oldest transaction this database may still commit, by
// the reader's snapshot, among those for which `counted` (SQL on the
// transaction x, ending in AND) holds. Transactions that cannot append do not
// count: those of other databases on the server, and of processes other than
// clients' (autovacuum's ANALYZE writes statistics), known by
// pg_stat_activity while they run.
std::string horizon_query(const std::string& counted) {
  return "SELECT least(pg_snapshot_xmax(s)::text::bigint, (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) x "
         "WHERE " +
         counted +
         "NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE (a.datname <> current_database() "
         "OR a.backend_type <> 'client backend') "
         "AND a.backend_xid::text::bigint = x::text::bigint % 4294967296))) * 4194304 AS horizon "
         "FROM pg_current_snapshot() s";
}

// Every transaction of the snapshot: one that ended since is counted, which
// only holds routing back a moment.
const std::string kHorizon = horizon_query("");

// Not counting the transactions that have ended since the snapshot
// (pg_xact_status): a read in a later statement, with a later snapshot, sees
// what they committed. Two round trips, so only for a read that kHorizon
// held back, which may be for a transaction of another database that ended
// between its snapshot and its read of pg_stat_activity.
const std::string kSettledHorizon = horizon_query("pg_xact_status(x) = 'in progress' AND ");

// What a notification on the hosts' channel (LISTEN/NOTIFY) says was committed.
constexpr char kEventsCommitted[] = "events";
constexpr char kWorkCommitted[] = "work";
constexpr std::string_view kCancelled = "cancelled:";  // then execution ids, comma-separated
constexpr size_t kMaxNotification = 7900;              // bytes of a payload (the server takes 8,000)

// "cancelled:1,2,3" payloads for `ids`, each within a notification's size.
std::vector<std::string> cancelled_payloads(const std::vector<int64_t>& ids) {
  std::vector<std::string> out;
  for (const int64_t id : ids) {
    const std::string one = std::to_string(id);
    if (out.empty() || out.back().size() + one.size() + 1 > kMaxNotification) out.emplace_back(kCancelled);
    if (out.back().size() > kCancelled.size()) out.back() += ',';
    out.back() += one;
  }
  return out;
}

// The ids of a "cancelled:" payload (what does not parse is skipped).
std::vector<int64_t> cancelled_ids(std::string_view payload) {
  std::vector<int64_t> out;
  payload.remove_prefix(kCancelled.size());
  while (!payload.empty()) {
    const size_t comma = std::min(payload.find(','), payload.size());
    int64_t id = 0;
    const std::string_view one = payload.substr(0, comma);
    const auto [end, error] = std::from_chars(one.data(), one.data() + one.size(), id);
    if (error == std::errc() && end == one.data() + one.size() && id > 0) out.push_back(id);
    payload.remove_prefix(std::min(comma + 1, payload.size()));
  }
  return out;
}

// A write failed after changing rows, or a statement was refused (which
// aborts the transaction), in a group run without savepoints.
struct NeedsSavepoints {};

// An execution row's columns, of table `t` ("e." or "").
std::string execution_columns(const std::string& t = "") {
  return t + "id, " + t + "rule, " + t + "event_id, " + t + "state, " + t + "step, " + t + "attempt, " + t +
         "due_at, " + t + "context, " + t + "history, " + t + "error, " + t + "created_at, " + t + "updated_at, " +
         "coalesce(" + t + "awaiting, ''), " + t + "resume_step, coalesce(" + t + "parent_id, 0), " + t + "end_step, " +
         t + "priority, coalesce(" + t + "lease_owner, ''), " + t + "rule_version, " + t + "doubt, " + t +
         "last_arrival, coalesce(" + t + "contact_key, '')";
}
const std::string kExecutionColumns = execution_columns();

// The row whose columns start at `c` (execution_columns' order).
ExecutionRow read_execution(const PgResult& q, int i, int c = 0) {
  ExecutionRow r;
  r.id = q.integer(i, c + 0);
  r.rule = q.text(i, c + 1);
  r.event_id = q.text(i, c + 2);
  r.state = state_named(q.text(i, c + 3)).value_or(ExecutionState::kFailed);
  r.step = q.text(i, c + 4);
  r.attempt = static_cast<int>(q.integer(i, c + 5));
  if (!q.is_null(i, c + 6)) r.due_at_ms = q.integer(i, c + 6);
  r.context_json = q.text(i, c + 7);
  r.history_json = q.text(i, c + 8);
  r.error = q.text(i, c + 9);
  r.created_at_ms = q.integer(i, c + 10);
  r.updated_at_ms = q.integer(i, c + 11);
  r.awaiting = q.text(i, c + 12);
  r.resume_step = q.text(i, c + 13);
  r.parent_id = q.integer(i, c + 14);
  r.end_step = q.text(i, c + 15);
  r.priority = static_cast<int>(q.integer(i, c + 16));
  r.lease_owner = q.text(i, c + 17);
  r.rule_version = q.text(i, c + 18);
  r.doubt = static_cast<Doubt>(std::clamp<int64_t>(q.integer(i, c + 19), 0, 2));
  r.last_arrival = q.integer(i, c + 20);
  r.contact_key = q.text(i, c + 21);
  return r;
}

// A row's changing fields (ExecutionRows::compare_and_set) as a JSON record
// for json_to_recordset: what a held row's update writes, and part of what
// an insert writes.
nlohmann::json changing_fields(const ExecutionRow& r) {
  return {{"state", state_name(r.state)},
          {"step", r.step},
          {"attempt", r.attempt},
          {"due_at", r.due_at_ms ? nlohmann::json(*r.due_at_ms) : nlohmann::json()},
          {"history", r.history_json},
          {"error", r.error},
          {"updated_at", r.updated_at_ms},
          {"awaiting", r.awaiting},
          {"resume_step", r.resume_step},
          {"lease_owner", r.lease_owner},
          {"doubt", static_cast<int>(r.doubt)},
          {"last_arrival", r.last_arrival},
          {"rule_version", r.rule_version}};
}

std::vector<ExecutionRow> read_executions(const PgResult& q) {
  std::vector<ExecutionRow> out;
  out.reserve(static_cast<size_t>(q.rows()));
  for (int i = 0; i < q.rows(); ++i) out.push_back(read_execution(q, i));
  return out;
}

PgParams& due(PgParams& p, const std::optional<int64_t>& at) { return at ? p.integer(*at) : p.null(); }

// Contacts stored before aliases were kept (schema 2 and older), or whose
// numbers were read in another country: their emails and phones are learned
// now, as their events would have taught them (ContactAliases.h): contacts
// with an id first, then the oldest; an alias another contact has stays its.
// A page at a time: a large store is not read into memory at once.
void learn_stored_aliases(PgConnection& db) {
  constexpr int64_t kPage = 10000;
  for (const char* with_id : {"1", "0"}) {
    int64_t after_at = std::numeric_limits<int64_t>::min();
    std::string after_key;
    for (;;) {
      PgResult contacts = db.run(
          "SELECT key, data, updated_at FROM contacts WHERE (key LIKE 'id:%') = ($1 = '1') "
          "AND (updated_at, key COLLATE \"C\") > ($2, $3) ORDER BY updated_at, key COLLATE \"C\" LIMIT $4",
          PgParams().text(with_id).integer(after_at).text(after_key).integer(kPage));
      if (!contacts.rows()) break;
      nlohmann::json rows = nlohmann::json::array();
      for (int i = 0; i < contacts.rows(); ++i) {
        after_key = contacts.text(i, 0);
        after_at = contacts.integer(i, 2);
        for (auto& [alias, key] : aliases_of_stored(after_key, contacts.text(i, 1)))
          rows.push_back({{"alias", std::move(alias)}, {"key", std::move(key)}});
      }
      if (!rows.empty())
        db.run(
            "INSERT INTO contact_aliases (alias, key) SELECT alias, key FROM json_to_recordset($1::json) AS "
            "x(alias text, key text) ON CONFLICT (alias) DO NOTHING",
            PgParams().text(dump_text(rows)));
    }
  }
}

// Aliases are read in the account's country ("8 999 ..." is +7 999 ... in
// Russia): when it is not the one they were learned in, every contact's
// are learned again, beside the old ones, so that a number written either
// way finds the person it was learned for.
void learn_aliases_in_region(PgConnection& db, bool just_learned) {
  PgResult learned =
      db.run("SELECT value FROM plugin_kv WHERE ns = $1 AND key = 'region'", PgParams().text(kPhoneAliases), true);
  if ((learned.rows() ? learned.text(0, 0) : "") == phone_region()) return;
  if (!just_learned) learn_stored_aliases(db);
  db.run(
      "INSERT INTO plugin_kv (ns, key, value) VALUES ($1, 'region', $2) "
      "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
      PgParams().text(kPhoneAliases).bytes(phone_region()));
}

// Before migration 6 the store did not keep which sent message a report is
// on: the reports stored then learn it now, so that the steps' analytics
// count them.
void learn_reported_messages(PgConnection& db) {
  for (int64_t after = std::numeric_limits<int64_t>::min();;) {
    PgResult q =
        db.run("SELECT seq, type, body FROM events WHERE type LIKE 'message.%' AND seq > $1 ORDER BY seq LIMIT 10000",
               PgParams().integer(after));
    if (!q.rows()) return;
    nlohmann::json rows = nlohmann::json::array();
    for (int i = 0; i < q.rows(); ++i) {
      after = q.integer(i, 0);
      if (std::string id = reported_message_id(q.text(i, 1), nlohmann::json::parse(q.text(i, 2), nullptr, false));
          !id.empty())
        rows.push_back({{"seq", after}, {"id", std::move(id)}});
    }
    if (!rows.empty())
      db.run(
          "UPDATE events e SET message_id = x.id FROM json_to_recordset($1::json) AS x(seq bigint, id text) "
          "WHERE e.seq = x.seq",
          PgParams().text(dump_text(rows)));
  }
}

void migrate(PgConnection& db) {
  const int64_t known = static_cast<int64_t>(kMigrations.size());
  db.execute("BEGIN");
  try {
    db.run("SELECT pg_advisory_xact_lock($1)", PgParams().integer(kSchemaLock));
    db.execute("CREATE TABLE IF NOT EXISTS switchboard_schema (version INTEGER NOT NULL)");
    PgResult found = db.run("SELECT version FROM switchboard_schema");
    const int64_t version = found.rows() ? found.integer(0, 0) : 0;
    if (version > known)
      throw StoreError("the PostgreSQL store has schema version " + std::to_string(version) +
                       ", written by a newer switchboard; this one knows versions up to " + std::to_string(known));
    for (int64_t v = version; v < known; ++v) db.execute(kMigrations[static_cast<size_t>(v)]);
    db.execute(kIndexes);
    const bool aliases_learned = version >= 1 && version < 3;
    if (aliases_learned) learn_stored_aliases(db);
    learn_aliases_in_region(db, aliases_learned);
    if (version >= 1 && version < 6) learn_reported_messages(db);
    if (version == 0)
      db.run("INSERT INTO switchboard_schema (version) VALUES ($1)", PgParams().integer(known));
    else if (version < known)
      db.run("UPDATE switchboard_schema SET version = $1", PgParams().integer(known));
    db.execute("COMMIT");
  } catch (...) {
    try {
      db.execute("ROLLBACK");
    } catch (const StoreError&) {
      // the connection is gone: so is the transaction
    }
    throw;
  }
}

// The host state's keys are locked by name (a transaction-scoped advisory
// lock on its hash), so that a lock holds while the key has no row.
std::string state_lock_name(const std::string& ns, const std::string& key) { return ns + '\n' + key; }

// Locks these names, in the order of their lock ids (every group does, so
// no two wait for each other), until the transaction ends. A statement of
// its own: the reads after it take snapshots that hold what it waited for
// (READ COMMITTED).
void lock_state(PgConnection& db, const std::set<std::string>& names) {
  db.run(
      "SELECT pg_advisory_xact_lock(id) FROM (SELECT DISTINCT hashtextextended(name, 0) AS id "
      "FROM json_array_elements_text($1::json) AS x(name) ORDER BY id) ids",
      PgParams().text(dump_text(nlohmann::json(names))));
}

// One key-value operation; a get's value.
std::optional<std::string> run_kv(PgConnection& db, KeyValueStore::KvOp op, const std::string& ns,
                                  const std::string& key, const std::string& value) {
  switch (op) {
    case KeyValueStore::KvOp::kGet: {
      PgResult q =
          db.run("SELECT value FROM plugin_kv WHERE ns = $1 AND key = $2", PgParams().text(ns).text(key), true);
      if (q.rows()) return q.text(0, 0);
      return std::nullopt;
    }
    case KeyValueStore::KvOp::kPut:
      db.run(
          "INSERT INTO plugin_kv (ns, key, value) VALUES ($1, $2, $3) "
          "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
          PgParams().text(ns).text(key).bytes(value));
      break;
    case KeyValueStore::KvOp::kRemove:
      db.run("DELETE FROM plugin_kv WHERE ns = $1 AND key = $2", PgParams().text(ns).text(key));
      break;
  }
  return std::nullopt;
}

}  // namespace

// What a batch of events names: read before its events are stored, and
// locked (AppendLocks).
struct PostgresStore::Named {
  explicit Named(const std::vector<const EventRecord*>& batch) {
    for (const EventRecord* e : batch) {
      ids.push_back(e->id);
      keys.insert(e->id);
      for (const std::string& id : e->also_known_as) {  // read (and locked) as its own id is
        ids.push_back(id);
        keys.insert(id);
      }
      if (e->contact) {
        contacts.push_back(e->contact->key);
        keys.insert(e->contact->key);
        // Each may name its contact, or be a contact of its own (absorbed).
        for (const std::string& alias : e->contact->aliases) {
          contacts.push_back(alias);
          keys.insert(alias);
        }
        // Looked up as aliases: an email or phone key, and every address
        // named (an id is never an alias: a campaign's batches ask nothing).
        if (!is_id_key(e->contact->key)) aliases.push_back(e->contact->key);
        for (const std::string& alias : e->contact->aliases) aliases.push_back(alias);
      }
      if (e->entity) {
        entities.push_back({{"type", e->entity->type}, {"id", e->entity->id}});
        keys.insert(e->entity->type + '\n' + e->entity->id);
      }
    }
  }
  nlohmann::json ids = nlohmann::json::array(), contacts = nlohmann::json::array(), aliases = nlohmann::json::array(),
                 entities = nlohmann::json::array();
  std::set<std::string> keys;  // every id, contact key, address and entity key
};

// What keeps other hosts from storing the same event ids, or merging into the
// same contacts and entities, until a group of appends commits: the log lock
// shared with a lock per key (its hashtext), taken in one order (hosts wait
// for each other instead of deadlocking) with those of the contacts its
// addresses name now; or, for a group naming many keys, the log lock alone.
// Taken after BEGIN, before the group's first write: its events' position
// (its transaction id) is then later than that of the appends it waited
// for, and the router reads related events in the order they were stored.
class PostgresStore::AppendLocks {
 public:
  explicit AppendLocks(const Named& named) : alone_(alone(named)) {
    if (alone_) {
      statements_.push_back({"SELECT pg_advisory_xact_lock($1)", PgParams().integer(kEventLogLock)});
      return;
    }
    statements_.push_back({"SELECT pg_advisory_xact_lock_shared($1)", PgParams().integer(kEventLogLock)});
    nlohmann::json keys = nlohmann::json::array();
    for (const std::string& key : named.keys) keys.push_back(key);
    statements_.push_back(
        {"SELECT h, pg_advisory_xact_lock($3, h) FROM (SELECT DISTINCT h FROM (SELECT hashtext(x.k) AS h "
         "FROM json_array_elements_text($1::json) AS x(k) UNION ALL SELECT hashtext(a.key) "
         "FROM json_array_elements_text($2::json) AS y(alias) "
         "CROSS JOIN LATERAL (SELECT key FROM contact_aliases WHERE alias = y.alias) a) k ORDER BY h) s",
         PgParams().text(dump_text(keys)).text(dump_text(named.aliases)).integer(kKeyLocks)});
  }

  // To run after BEGIN; the last one's result goes to taken().
  const std::vector<PgStatement>& statements() const { return statements_; }
  static bool alone(const Named& named) { return named.keys.size() > kMostKeyLocks; }
  void taken(const PgResult& last) {
    if (!alone_)
      for (int i = 0; i < last.rows(); ++i) locked_.insert(last.text(i, 0));
  }

  // A contact reached by an address repointed since the locks were taken
  // (another host absorbed the contact) may be written by a host this one
  // did not wait for: the group runs again, locking it. `hash`: the key's hashtext.
  void check(const std::string& hash) const {
    if (!alone_ && !locked_.count(hash))
      throw PgError("a contact's address moved to another contact while its events were stored",
                    StoreErrc::kUnavailable, true);
  }

 private:
  bool alone_;
  std::vector<PgStatement> statements_;
  std::set<std::string> locked_;
};

// The event rows of one append, for store_event, in a few statements however
// many events it holds: the ids, contacts and entities it names are read at
// once before, and its rows written at once after (JSON records, unpacked by
// json_to_recordset). Exact because no other host writes the same event id,
// contact or entity until this one commits (AppendLocks).
class PostgresStore::Events final : public EventRows {
 public:
  // `prelude` runs first, in the same round trip as the reads: BEGIN and
  // the locks, whose last result goes to `locks` when `locks_in_prelude`.
  Events(PgConnection& db, const Named& named, int64_t first_position, AppendLocks& locks,
         std::vector<PgStatement> prelude = {}, bool locks_in_prelude = false)
      : db_(db), first_position_(first_position) {
    const nlohmann::json &ids = named.ids, &contacts = named.contacts, &aliases = named.aliases,
                         &entities = named.entities;
    // An index lookup per key (see connect()).
    std::vector<PgStatement> reads = std::move(prelude);
    const size_t first = reads.size();
    reads.push_back(
        {"SELECT e.id, e.source FROM json_array_elements_text($1::json) AS x(id) "
         "CROSS JOIN LATERAL (SELECT id, source FROM events WHERE id = x.id) e",
         PgParams().text(dump_text(ids))});
    if (!aliases.empty())
      reads.push_back(
          {"SELECT a.alias, a.key, hashtext(a.key) FROM json_array_elements_text($1::json) AS x(alias) "
           "CROSS JOIN LATERAL (SELECT alias, key FROM contact_aliases WHERE alias = x.alias) a",
           PgParams().text(dump_text(aliases))});
    // The contacts named, and those their aliases name, in one read.
    if (!contacts.empty())
      reads.push_back(
          {"SELECT c.key, c.data, hashtext(c.key) FROM (SELECT x.key FROM json_array_elements_text($1::json) AS x(key) "
           "UNION SELECT a.key FROM json_array_elements_text($2::json) AS y(alias) "
           "CROSS JOIN LATERAL (SELECT key FROM contact_aliases WHERE alias = y.alias) a) k "
           "CROSS JOIN LATERAL (SELECT key, data FROM contacts WHERE key = k.key) c",
           PgParams().text(dump_text(contacts)).text(dump_text(aliases))});
    if (!entities.empty())
      reads.push_back(
          {"SELECT n.type, n.id, n.status, n.data, coalesce(n.contact_key, '') FROM json_to_recordset($1::json) "
           "AS x(type text, id text) "
           "CROSS JOIN LATERAL (SELECT * FROM entities e WHERE e.type = x.type AND e.id = x.id) n",
           PgParams().text(dump_text(entities))});
    std::vector<PgResult> read = db_.run_all(reads);
    if (locks_in_prelude) locks.taken(read[first - 1]);
    size_t next = first;
    const PgResult& stored = read[next++];
    for (int i = 0; i < stored.rows(); ++i) seen_.emplace(stored.text(i, 0), stored.text(i, 1));
    if (!aliases.empty()) {
      const PgResult& q = read[next++];
      for (int i = 0; i < q.rows(); ++i) {
        locks.check(q.text(i, 2));
        aliases_[q.text(i, 0)] = q.text(i, 1);
      }
    }
    if (!contacts.empty()) {
      const PgResult& q = read[next++];
      for (int i = 0; i < q.rows(); ++i) {
        locks.check(q.text(i, 2));
        contacts_[q.text(i, 0)] = q.text(i, 1);
      }
    }
    if (!entities.empty()) {
      const PgResult& q = read[next++];
      for (int i = 0; i < q.rows(); ++i)
        entities_[{q.text(i, 0), q.text(i, 1)}] = Stored{
            Entity{q.is_null(i, 2) ? std::nullopt : std::optional(q.text(i, 2)), q.text(i, 3), q.text(i, 4)}, false};
    }
  }

  std::optional<Entity> entity(const std::string& type, const std::string& id) override {
    auto it = entities_.find({type, id});
    if (it == entities_.end()) return std::nullopt;
    return it->second.entity;
  }

  std::optional<std::string> contact(const std::string& key) override {
    auto it = contacts_.find(key);
    if (it == contacts_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<std::string> contact_of(const std::string& alias) override {
    auto it = aliases_.find(alias);
    if (it == aliases_.end()) return std::nullopt;
    return it->second;
  }

  void put_alias(const std::string& alias, const std::string& key) override {
    if (aliases_.count(alias)) return;
    undo_.push_back(restorer(aliases_, alias));
    aliases_[alias] = key;
    alias_writes_.push_back({{"alias", alias}, {"key", key}});
    undo_.push_back([this] { alias_writes_.erase(alias_writes_.end() - 1); });
  }

  void remove_contact(const std::string& key) override {
    undo_.push_back(restorer(contacts_, key));
    undo_.push_back(restorer(changed_contacts_, key));
    contacts_.erase(key);
    changed_contacts_.erase(key);
    removed_contacts_.push_back(key);
    undo_.push_back([this] { removed_contacts_.erase(removed_contacts_.end() - 1); });
  }

  // In the rows read (those the batch may look up again) and, when written,
  // in every row: writes run in order, after the aliases learned before.
  void repoint_aliases(const std::string& from_key, const std::string& to_key) override {
    for (auto& [alias, key] : aliases_)
      if (key == from_key) {
        undo_.push_back(restorer(aliases_, alias));
        key = to_key;
      }
    alias_writes_.push_back({{"from", from_key}, {"key", to_key}});
    undo_.push_back([this] { alias_writes_.erase(alias_writes_.end() - 1); });
  }

  // The position in its transaction that the events of the next Events
  // written in it begin at.
  int64_t next_position() const { return first_position_ + static_cast<int64_t>(events_.size()); }

  // Where an append begins, and undoing what it did since (an append that
  // failed leaves the others of its group as they were).
  size_t mark() const { return undo_.size(); }
  void undo_to(size_t mark) {
    while (undo_.size() > mark) {
      undo_.back()();
      undo_.pop_back();
    }
  }

  bool insert_event(const EventRecord& e, const std::optional<StatusChange>& change) override {
    if (seen_.count(e.id)) return false;
    nlohmann::json row{{"id", e.id},
                       {"type", e.type},
                       {"source", e.source},
                       {"occurred_at", e.occurred_at_ms},
                       {"received_at", e.received_at_ms},
                       {"body", e.body_json},
                       {"chain_depth", e.chain_depth}};
    if (e.entity) {
      row["entity_type"] = e.entity->type;
      row["entity_id"] = e.entity->id;
    }
    if (change) {
      row["entity_created"] = change->created;
      if (change->previous) row["previous_status"] = *change->previous;
      if (change->current) row["status"] = *change->current;
    }
    if (e.contact) row["contact_key"] = e.contact->key;
    if (!e.message_id.empty()) row["message_id"] = e.message_id;
    events_.push_back(std::move(row));
    seen_.emplace(e.id, e.source);
    undo_.push_back([this, id = e.id] {
      seen_.erase(id);
      events_.erase(events_.end() - 1);
    });
    return true;
  }

  std::optional<std::string> event_source(const std::string& id) override {
    auto it = seen_.find(id);
    if (it == seen_.end()) return std::nullopt;
    return it->second;
  }

  void put_contact(const std::string& key, const std::string& data_json, int64_t at_ms) override {
    undo_.push_back(restorer(contacts_, key));
    undo_.push_back(restorer(changed_contacts_, key));
    contacts_[key] = data_json;
    changed_contacts_[key] = at_ms;
  }

  void put_entity(const std::string& type, const std::string& id, const std::optional<std::string>& status,
                  const std::string& data_json, const std::string& contact_key, int64_t at_ms) override {
    undo_.push_back(restorer(entities_, {type, id}));
    // Made earlier in this group: the first put is when it was made.
    const auto earlier = entities_.find({type, id});
    const int64_t made_ms = earlier != entities_.end() && earlier->second.changed ? earlier->second.made_ms : at_ms;
    entities_[{type, id}] = Stored{Entity{status, data_json, contact_key}, true, at_ms, made_ms};
  }

  // The statements that write what the batch changed: events in the order
  // they were stored (their sequence numbers), then the records as they are now.
  std::vector<PgStatement> writes() const {
    if (next_position() >= kEventsPerTransaction)  // its group runs again, an append at a time
      throw StoreError("more events in one transaction than positions for them (4,194,304)", StoreErrc::kInvalid);
    std::vector<PgStatement> out;
    if (!events_.empty())
      out.push_back(
          {"INSERT INTO events (seq, id, type, source, occurred_at, received_at, body, entity_type, entity_id, "
           "entity_created, previous_status, status, chain_depth, contact_key, message_id) "
           "SELECT pg_current_xact_id()::text::bigint * 4194304 + $2 + n, id, type, source, occurred_at, received_at, "
           "body, entity_type, entity_id, entity_created, "
           "previous_status, status, chain_depth, contact_key, message_id FROM ROWS FROM (json_to_recordset($1::json) "
           "AS (id text, type text, source text, occurred_at bigint, received_at bigint, body text, entity_type text, "
           "entity_id text, entity_created boolean, previous_status text, status text, chain_depth integer, "
           "contact_key text, message_id text)) WITH ORDINALITY AS x(id, type, source, occurred_at, received_at, body, "
           "entity_type, entity_id, entity_created, previous_status, status, chain_depth, contact_key, message_id, n) "
           "ORDER BY n ON CONFLICT (id) DO NOTHING",
           PgParams().text(dump_text(events_)).integer(first_position_)});
    if (!changed_contacts_.empty()) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& [key, at] : changed_contacts_)
        rows.push_back({{"key", key}, {"data", contacts_.at(key)}, {"updated_at", at}});
      out.push_back(
          {"INSERT INTO contacts (key, data, updated_at) SELECT key, data, updated_at "
           "FROM json_to_recordset($1::json) AS x(key text, data text, updated_at bigint) "
           "ON CONFLICT (key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
           PgParams().text(dump_text(rows))});
    }
    // Rare (a person's first addresses, an absorbed contact): a statement each, in order.
    for (const nlohmann::json& w : alias_writes_)
      if (w.contains("alias"))
        out.push_back({"INSERT INTO contact_aliases (alias, key) VALUES ($1, $2) ON CONFLICT (alias) DO NOTHING",
                       PgParams().text(w["alias"].get<std::string>()).text(w["key"].get<std::string>())});
      else
        out.push_back({"UPDATE contact_aliases SET key = $2 WHERE key = $1",
                       PgParams().text(w["from"].get<std::string>()).text(w["key"].get<std::string>())});
    if (!removed_contacts_.empty())
      out.push_back({"DELETE FROM contacts WHERE key IN (SELECT json_array_elements_text($1::json))",
                     PgParams().text(dump_text(removed_contacts_))});
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& [key, stored] : entities_)
      if (stored.changed)
        rows.push_back({{"type", key.first},
                        {"id", key.second},
                        {"status", stored.entity.status ? nlohmann::json(*stored.entity.status) : nlohmann::json()},
                        {"data", stored.entity.data_json},
                        {"contact_key", stored.entity.contact_key},
                        {"updated_at", stored.at_ms},
                        {"created_at", stored.made_ms}});
    if (!rows.empty())
      out.push_back(
          {"INSERT INTO entities (type, id, status, data, updated_at, created_at, contact_key) "
           "SELECT type, id, status, data, updated_at, created_at, nullif(contact_key, '') "
           "FROM json_to_recordset($1::json) "
           "AS x(type text, id text, status text, data text, updated_at bigint, created_at bigint, contact_key text) "
           "ON CONFLICT (type, id) DO UPDATE SET status = excluded.status, data = excluded.data, "
           "updated_at = excluded.updated_at, contact_key = excluded.contact_key",
           PgParams().text(dump_text(rows))});
    return out;
  }

  // Runs them (a write of its own, between savepoints).
  void write() {
    for (const PgStatement& w : writes()) db_.run(w.sql, w.params);
  }

 private:
  struct Stored {
    Entity entity;
    bool changed = false;
    int64_t at_ms = 0;
    int64_t made_ms = 0;  // a new entity's created_at (one stored before keeps its own)
  };
  // Puts `key` of `map` back as it is now.
  template <class Map>
  std::function<void()> restorer(Map& map, const typename Map::key_type& key) {
    auto it = map.find(key);
    if (it == map.end()) return [&map, key] { map.erase(key); };
    return [&map, key, was = it->second] { map[key] = was; };
  }
  PgConnection& db_;
  const int64_t first_position_;
  std::vector<std::function<void()>> undo_;
  std::map<std::string, std::string> seen_;  // ids stored before, or earlier in the batch: their sources
  std::map<std::string, std::string> contacts_;
  std::map<std::string, int64_t> changed_contacts_;  // key -> updated_at
  std::map<std::string, std::string> aliases_;       // alias -> contact key, as read and changed
  std::vector<nlohmann::json> alias_writes_;         // {alias, key} learned, {from, key} repointed, in order
  nlohmann::json removed_contacts_ = nlohmann::json::array();
  std::map<std::pair<std::string, std::string>, Stored> entities_;
  nlohmann::json events_ = nlohmann::json::array();
};

// The execution rows a write group found, locked (FOR UPDATE) until it
// commits, and what its units changed in them. A unit's find and
// compare-and-set of a held row cost no round trip: the group reads the rows
// its units declared (Store::transact_on) in one statement, and writes the
// changed ones in one, before any other statement reads or writes executions
// and before COMMIT. A step's result was two round trips per execution; it
// is two per group (docs/performance.md). Not used in a group run with a
// savepoint per write: undoing one write would have to undo its changes here.
class PostgresStore::HeldRows {
 public:
  explicit HeldRows(PgConnection& db) : db_(db) {}

  // Reads and locks these rows, in id order (hosts locking rows in one
  // order wait for each other instead of deadlocking).
  void read(std::vector<int64_t> ids) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::erase_if(ids, [this](int64_t id) { return held_.count(id) > 0; });
    if (ids.empty()) return;
    std::string list = "{";
    for (const int64_t id : ids) list += (list.size() > 1 ? "," : "") + std::to_string(id);
    list += "}";
    for (ExecutionRow& row : read_executions(db_.run(
             "SELECT " + kExecutionColumns + " FROM executions WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
             PgParams().text(list))))
      keep(std::move(row));
  }

  // A row this group locked (found by a statement of its own).
  void keep(ExecutionRow row) {
    const int64_t id = row.id;
    held_.insert_or_assign(id, Held{std::move(row), false});
  }

  const ExecutionRow* find(int64_t id) const {
    auto it = held_.find(id);
    return it == held_.end() ? nullptr : &it->second.row;
  }

  // Compare-and-set on a held row (see ExecutionRows); nullopt when the row
  // is not held.
  std::optional<bool> compare_and_set(const ExecutionRow& r, ExecutionState state, const std::string& lease_owner) {
    auto it = held_.find(r.id);
    if (it == held_.end()) return std::nullopt;
    ExecutionRow& row = it->second.row;
    if (row.state != state || row.lease_owner != lease_owner) return false;
    row.state = r.state;
    row.step = r.step;
    row.attempt = r.attempt;
    row.due_at_ms = r.due_at_ms;
    row.history_json = r.history_json;
    row.error = r.error;
    row.updated_at_ms = r.updated_at_ms;
    row.awaiting = r.awaiting;
    row.resume_step = r.resume_step;
    row.lease_owner = r.lease_owner;
    row.doubt = r.doubt;
    row.last_arrival = r.last_arrival;
    row.rule_version = r.rule_version;
    it->second.changed = true;
    ++changes_;
    return true;
  }

  // Writes the changed rows (they stay held).
  void write() {
    nlohmann::json records = nlohmann::json::array();
    for (auto& [id, held] : held_) {
      if (!held.changed) continue;
      nlohmann::json& record = records.emplace_back(changing_fields(held.row));
      record["id"] = held.row.id;
      held.changed = false;
    }
    if (records.empty()) return;
    const int64_t written =
        db_.run(
               "UPDATE executions e SET state = x.state, step = x.step, attempt = x.attempt, due_at = x.due_at, "
               "history = x.history, error = x.error, updated_at = x.updated_at, awaiting = nullif(x.awaiting, ''), "
               "resume_step = x.resume_step, lease_owner = nullif(x.lease_owner, ''), doubt = x.doubt, "
               "last_arrival = x.last_arrival, rule_version = x.rule_version FROM json_to_recordset($1::json) AS "
               "x(id bigint, state text, step text, attempt integer, due_at bigint, history text, error text, "
               "updated_at bigint, awaiting text, resume_step text, lease_owner text, doubt integer, "
               "last_arrival bigint, rule_version text) "
               "WHERE e.id = x.id",
               PgParams().text(dump_text(records)))
            .affected();
    // Held rows are this transaction's: a row missing would be a bug. The
    // group runs again the slow way, a compare-and-set per write.
    if (written != static_cast<int64_t>(records.size())) throw NeedsSavepoints{};
  }

  // Writes the changed rows and forgets them all: statements of their own
  // (ending a node's leases) change rows behind this copy.
  void write_and_forget() {
    write();
    held_.clear();
  }

  // Compare-and-sets done here so far: a unit that failed after one needs
  // its group run again with savepoints.
  int64_t changes() const { return changes_; }

 private:
  struct Held {
    ExecutionRow row;
    bool changed = false;
  };
  PgConnection& db_;
  std::unordered_map<int64_t, Held> held_;
  int64_t changes_ = 0;
};

// A unit of work's rows: statements on the writer's connection, the group's
// held rows in memory (none in a group run with a savepoint per write).
class PostgresStore::Rows final : public ExecutionRows {
 public:
  // `locked`: the state keys the group locked before its units ran.
  Rows(PgConnection& db, HeldRows* held, const std::set<std::string>& locked) : db_(db), held_(held), locked_(locked) {}

  // The unit left a row due and leased by no one: another host may run it
  // (its commit wakes them).
  bool made_due() const { return made_due_; }

  bool move_router(int64_t from, int64_t to) override {
    if (db_.run("UPDATE router SET up_to = $2 WHERE name = 'rules' AND up_to = $1",
                PgParams().integer(from).integer(to))
            .affected() == 1)
      return true;
    return from == 0 && db_.run(
                               "INSERT INTO router (name, up_to) VALUES ('rules', $1) "
                               "ON CONFLICT (name) DO NOTHING",
                               PgParams().integer(to))
                                .affected() == 1;  // the first batch ever
  }

  bool fire_once(const std::string& rule, const std::string& entity_type, const std::string& entity_id) override {
    return db_.run("INSERT INTO rule_fired (rule, entity_type, entity_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                   PgParams().text(rule).text(entity_type).text(entity_id))
               .affected() == 1;
  }

  int64_t insert(const ExecutionRow& r) override {
    note(r);
    PgParams p;
    p.text(r.rule).text(r.event_id).text(state_name(r.state)).text(r.step);
    due(p, r.due_at_ms).text(r.context_json).text(r.history_json).integer(r.created_at_ms).integer(r.updated_at_ms);
    p.integer(r.parent_id).text(r.end_step).integer(r.priority).text(r.rule_version).text(r.lease_owner);
    p.integer(r.attempt).text(r.error).text(r.awaiting).text(r.resume_step).integer(static_cast<int64_t>(r.doubt));
    p.integer(r.last_arrival).text(r.contact_key);
    // Every column, as SQLite's: the row inserted is the row given.
    PgResult q = db_.run(
        "INSERT INTO executions (rule, event_id, state, step, due_at, context, history, created_at, updated_at, "
        "parent_id, end_step, priority, rule_version, lease_owner, attempt, error, awaiting, resume_step, doubt, "
        "last_arrival, contact_key) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10::bigint, 0), $11, $12, $13, nullif($14, ''), "
        "$15, $16, nullif($17, ''), $18, $19, $20, nullif($21, '')) "
        "ON CONFLICT (event_id, rule) DO NOTHING RETURNING id",
        p);
    return q.rows() ? q.integer(0, 0) : 0;
  }

  // One statement for a router's batch (JSON records; see Events).
  std::vector<int64_t> insert_all(const std::vector<ExecutionRow>& rows) override {
    if (rows.size() < 2) return ExecutionRows::insert_all(rows);
    nlohmann::json records = nlohmann::json::array();
    for (const ExecutionRow& r : rows) {
      note(r);
      nlohmann::json& record = records.emplace_back(changing_fields(r));
      record["rule"] = r.rule;
      record["event_id"] = r.event_id;
      record["context"] = r.context_json;
      record["created_at"] = r.created_at_ms;
      record["parent_id"] = r.parent_id;
      record["end_step"] = r.end_step;
      record["priority"] = r.priority;
      record["contact_key"] = r.contact_key;
    }
    PgResult q = db_.run(
        "INSERT INTO executions (rule, event_id, state, step, due_at, context, history, created_at, updated_at, "
        "parent_id, end_step, priority, rule_version, lease_owner, attempt, error, awaiting, resume_step, doubt, "
        "last_arrival, contact_key) "
        "SELECT rule, event_id, state, step, due_at, context, history, created_at, updated_at, nullif(parent_id, 0), "
        "end_step, priority, rule_version, nullif(lease_owner, ''), attempt, error, nullif(awaiting, ''), "
        "resume_step, doubt, last_arrival, nullif(contact_key, '') FROM ROWS FROM (json_to_recordset($1::json) AS "
        "(rule text, event_id text, state text, step text, due_at bigint, context text, history text, "
        "created_at bigint, updated_at bigint, parent_id bigint, end_step text, priority integer, rule_version text, "
        "lease_owner text, attempt integer, error text, awaiting text, resume_step text, doubt integer, "
        "last_arrival bigint, contact_key text)) WITH ORDINALITY AS x(rule, event_id, state, step, due_at, context, "
        "history, created_at, updated_at, parent_id, end_step, priority, rule_version, lease_owner, attempt, error, "
        "awaiting, resume_step, doubt, last_arrival, contact_key, n) ORDER BY n "
        "ON CONFLICT (event_id, rule) DO NOTHING RETURNING id, event_id, rule",
        PgParams().text(dump_text(records)));
    std::map<std::pair<std::string, std::string>, int64_t> made;
    for (int i = 0; i < q.rows(); ++i) made[{q.text(i, 1), q.text(i, 2)}] = q.integer(i, 0);
    std::vector<int64_t> ids;
    ids.reserve(rows.size());
    for (const ExecutionRow& r : rows) {
      auto it = made.find({r.event_id, r.rule});
      ids.push_back(it == made.end() ? 0 : it->second);
      if (it != made.end()) made.erase(it);  // a pair twice in the batch: the first is the one made
    }
    return ids;
  }

  std::optional<ExecutionRow> find(int64_t id) override {
    if (held_) {
      if (const ExecutionRow* row = held_->find(id)) return *row;
    }
    auto found = read_executions(
        db_.run("SELECT " + kExecutionColumns + " FROM executions WHERE id = $1 FOR UPDATE", PgParams().integer(id)));
    if (found.empty()) return std::nullopt;
    if (held_) held_->keep(found.front());
    return std::move(found.front());
  }

  bool compare_and_set(const ExecutionRow& r, ExecutionState state, const std::string& lease_owner) override {
    note(r);
    if (held_) {
      if (auto set = held_->compare_and_set(r, state, lease_owner)) return *set;
    }
    PgParams p;
    p.integer(r.id).text(state_name(r.state)).text(r.step).integer(r.attempt);
    due(p, r.due_at_ms).text(r.history_json).text(r.error).integer(r.updated_at_ms).text(r.awaiting);
    p.text(r.resume_step).text(r.lease_owner).integer(static_cast<int64_t>(r.doubt)).integer(r.last_arrival);
    p.text(state_name(state)).text(lease_owner).text(r.rule_version);
    return db_.run(
                  "UPDATE executions SET state = $2, step = $3, attempt = $4, due_at = $5, history = $6, "
                  "error = $7, updated_at = $8, awaiting = nullif($9, ''), resume_step = $10, "
                  "lease_owner = nullif($11, ''), doubt = $12, last_arrival = $13, rule_version = $16 "
                  "WHERE id = $1 AND state = $14 AND coalesce(lease_owner, '') = $15",
                  p)
               .affected() == 1;
  }

  // Read by a statement: the held rows' changes are written first.
  std::vector<ExecutionRow> awaiting(const std::string& key) override {
    if (held_) held_->write();
    return read_executions(
        db_.run("SELECT " + kExecutionColumns + " FROM executions WHERE awaiting = $1", PgParams().text(key)));
  }

  std::vector<ExecutionRow> branches(int64_t parent_id) override {
    if (held_) held_->write();
    return read_executions(db_.run("SELECT " + kExecutionColumns + " FROM executions WHERE parent_id = $1 ORDER BY id",
                                   PgParams().integer(parent_id)));
  }

  int64_t keep_arrival(const std::string& key, const std::string& event_json, int64_t at_ms) override {
    PgResult q = db_.run("INSERT INTO arrivals (key, event, at) VALUES ($1, $2, $3) RETURNING seq",
                         PgParams().text(key).text(event_json).integer(at_ms));
    return q.rows() ? q.integer(0, 0) : 0;
  }

  std::optional<StoredArrival> arrival(const std::string& key, int64_t since_ms, int64_t after_seq) override {
    PgResult q =
        db_.run("SELECT seq, event, at FROM arrivals WHERE key = $1 AND at >= $2 AND seq > $3 ORDER BY seq LIMIT 1",
                PgParams().text(key).integer(since_ms).integer(after_seq));
    if (!q.rows()) return std::nullopt;
    return StoredArrival{q.integer(0, 0), key, q.text(0, 1), q.integer(0, 2)};
  }

  void forget_arrivals(int64_t before_ms) override {
    db_.run("DELETE FROM arrivals WHERE at < $1", PgParams().integer(before_ms));
  }

  void keep_goal(const GoalReached& goal) override {
    PgParams params;
    params.text(goal.contact_key).text(goal.type).integer(goal.at_ms);
    if (goal.value)
      params.text(nlohmann::json(*goal.value).dump());
    else
      params.null();
    db_.run("INSERT INTO goals (contact, type, at, value) VALUES ($1, $2, $3, $4::double precision)", params);
  }

  std::optional<std::string> kv_get(const std::string& ns, const std::string& key) override {
    // A key the unit did not declare is locked now: later than the group's
    // others, which another group may wait for (a deadlock PostgreSQL ends
    // by failing one group, which runs again).
    if (const std::string name = state_lock_name(ns, key); !locked_.count(name)) lock_state(db_, {name});
    return run_kv(db_, KvOp::kGet, ns, key, "");
  }

  void kv_put(const std::string& ns, const std::string& key, const std::string& value) override {
    run_kv(db_, KvOp::kPut, ns, key, value);
  }

 private:
  // Due soon: a host looks at the due times again within a second anyway
  // (the pipeline's longest sleep), so a wait of two days wakes no one.
  void note(const ExecutionRow& r) {
    made_due_ = made_due_ || (r.due_at_ms && *r.due_at_ms <= now_ms() + 1000 && r.lease_owner.empty());
  }

  PgConnection& db_;
  HeldRows* held_;
  const std::set<std::string>& locked_;
  bool made_due_ = false;
};

PostgresStore::PostgresStore(Options options) : options_(std::move(options)) {
  if (const std::string password = pg_password(options_.conninfo); !password.empty())
    Logger::instance().add_secret(password);
  migrate(writer());
  if (writer().run("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").integer(0, 0) >= kLastTransactionId)
    throw StoreError("the PostgreSQL server has used more than 2^41 transaction ids: event positions would overflow");
  // The hosts' channel, named after the schema: a channel is the database's,
  // and stores in other schemas of it wake no one here.
  const std::string channel = "switchboard " + writer().run("SELECT current_schema()").text(0, 0);
  char* quoted = PQescapeIdentifier(writer().handle(), channel.c_str(), channel.size());
  if (!quoted) throw StoreError("cannot name the store's notification channel");
  channel_ = quoted;
  PQfreemem(quoted);
  recheck_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] {
    name_this_thread("sb-store");
    writer_loop();
  });
}

PostgresStore::~PostgresStore() {
  queue_.stop();
  thread_.join();
  if (listener_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(stop_listening_, &one, sizeof one);
    listener_.join();
  }
  if (stop_listening_ >= 0) ::close(stop_listening_);
  if (recheck_ >= 0) ::close(recheck_);
}

void PostgresStore::on_changes(std::function<void(Change)> changed) {
  std::lock_guard lock(changed_mutex_);
  changed_ = std::move(changed);
  if (!changed_ || listener_.joinable()) return;
  stop_listening_ = ::eventfd(0, EFD_CLOEXEC);
  if (stop_listening_ < 0) {
    log_error("store", "no listener for other hosts' commits: eventfd failed");  // the pipeline still polls
    return;
  }
  listener_ = std::thread([this] {
    name_this_thread("sb-store-listen");
    listen();
  });
}

void PostgresStore::hold_back(PgConnection& db) {
  int64_t since = 0;
  const int64_t now = now_ms();
  if (!held_since_ms_.compare_exchange_strong(since, now) && now - since > kLongHoldMs && !told_held_.exchange(true)) {
    // The oldest write transaction of the database (a prepared one is not listed).
    nlohmann::json fields{{"waiting_ms", now - since}};
    try {
      PgResult q = db.run(
          "SELECT pid, (extract(epoch FROM now() - xact_start) * 1000)::bigint, state, application_name "
          "FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL "
          "ORDER BY xact_start LIMIT 1");
      if (q.rows())
        fields.update({{"oldest_transaction_pid", q.integer(0, 0)},
                       {"open_ms", q.integer(0, 1)},
                       {"state", q.text(0, 2)},
                       {"application", q.text(0, 3)}});
    } catch (const StoreError& e) {
      fields["error"] = e.what();
    }
    log_warn("store",
             "new events are not routed until an open transaction of the store's database ends (events are "
             "routed in commit order)",
             fields);
  }
  if (recheck_ < 0 || held_back_.exchange(true)) return;
  const uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(recheck_, &one, sizeof one);
}

void PostgresStore::caught_up() {
  recheck_ms_ = 1;
  held_since_ms_ = 0;
  told_held_ = false;
}

void PostgresStore::announce_cancelled(const std::vector<int64_t>& ids) {
  if (ids.empty()) return;
  // After the writer's next group commits, with its other notifications
  // (this host's listener ignores its writer's: its own cancels are given
  // up already). A notification that fails is logged there.
  Write notice{[](PgConnection&) {}, [](const StoreStatus&) {}};
  notice.notices = cancelled_payloads(ids);
  submit(std::move(notice));
}

void PostgresStore::on_cancelled(std::function<void(const std::vector<int64_t>&)> cancelled) {
  std::lock_guard lock(changed_mutex_);
  cancelled_ = std::move(cancelled);
}

void PostgresStore::changed(Change change) {
  // Under the lock: once on_changes({}) returned, no callback runs.
  std::lock_guard lock(changed_mutex_);
  if (changed_) changed_(change);
}

void PostgresStore::listen() {
  std::unique_ptr<PgConnection> db;
  // When to say "events" again, while they are held back (0: they are not), on a steady clock.
  int64_t recheck_at = 0;
  const auto steady_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  for (;;) {
    if (!db) {
      try {
        db = std::make_unique<PgConnection>(options_.conninfo);
        db->execute("LISTEN " + channel_);
        changed(Change::kEvents);  // what was committed while no one listened
        changed(Change::kDueWork);
      } catch (const StoreError&) {
        db.reset();  // the server is away: try again in a second
      }
    }
    pollfd fds[3] = {
        {stop_listening_, POLLIN, 0}, {db ? PQsocket(db->handle()) : -1, POLLIN, 0}, {recheck_, POLLIN, 0}};
    // A deadline, not a timeout: notifications in between do not put it off.
    const int wait_ms = recheck_at ? static_cast<int>(std::max<int64_t>(0, recheck_at - steady_ms())) : db ? -1 : 1000;
    const int ready = ::poll(fds, 3, wait_ms);
    if (ready > 0 && (fds[0].revents & POLLIN)) return;
    if (ready > 0 && (fds[2].revents & POLLIN)) {
      uint64_t calls = 0;
      [[maybe_unused]] const auto read = ::read(recheck_, &calls, sizeof calls);
      if (!recheck_at) recheck_at = steady_ms() + recheck_ms_;
    }
    if (recheck_at && steady_ms() >= recheck_at) {
      recheck_at = 0;
      if (held_back_.exchange(false)) {
        // Soon while the transaction holding them back is a store's (they
        // last milliseconds), seldom once it has been open for a while.
        const int64_t since = held_since_ms_;
        recheck_ms_ =
            since && now_ms() - since > 1000 ? kLongHoldRecheckMs : std::min(recheck_ms_.load() * 2, kLongestRecheckMs);
        changed(Change::kEvents);
      }
    }
    if (!db || ready <= 0 || !(fds[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (!PQconsumeInput(db->handle()) || !db->healthy()) {
      db.reset();
      continue;
    }
    bool events = false, work = false;
    std::vector<int64_t> cancelled;
    while (PGnotify* n = PQnotifies(db->handle())) {
      if (n->be_pid != writer_pid_.load()) {  // this host's own commits wake no one
        const std::string_view what = n->extra;
        const bool unsaid = what.empty();  // from an older switchboard (a rolling upgrade)
        events = events || unsaid || what == kEventsCommitted;
        work = work || unsaid || what == kWorkCommitted;
        if (what.starts_with(kCancelled))
          for (const int64_t id : cancelled_ids(what)) cancelled.push_back(id);
      }
      PQfreemem(n);
    }
    if (events) changed(Change::kEvents);
    if (work) changed(Change::kDueWork);
    if (!cancelled.empty()) {
      std::lock_guard lock(changed_mutex_);
      if (cancelled_) cancelled_(cancelled);
    }
  }
}

template <class Read>
auto PostgresStore::with_reader(Read read, bool run_again) {
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<PgConnection> db;
    {
      std::lock_guard lock(readers_mutex_);
      if (!idle_readers_.empty()) {
        db = std::move(idle_readers_.back());
        idle_readers_.pop_back();
      }
    }
    try {
      if (!db) db = connect();
      auto result = read(*db);
      std::lock_guard lock(readers_mutex_);
      if (idle_readers_.size() < options_.max_readers) idle_readers_.push_back(std::move(db));
      return result;
    } catch (const PgError& e) {
      // A connection that failed is dropped, healthy or not: a new one is
      // cheap. Lost: so are the idle ones, most likely (a server restart).
      {
        std::lock_guard lock(readers_mutex_);
        idle_readers_.clear();
      }
      if (!e.retry() || !run_again || attempt == 1) throw;
    }
  }
}

std::unique_ptr<PgConnection> PostgresStore::connect() const {
  auto db = std::make_unique<PgConnection>(options_.conninfo);
  // Every statement of the store finds its rows by an index. Its tables
  // grow from empty, and until autovacuum analyzes them the planner thinks
  // them small: plans cached then scanned whole tables on every append
  // (measured: 20 ms a batch at 100,000 events). No scan where an index
  // serves, and no hash or merge join, which reads the whole of a table a
  // generic plan made when it was small thought cheaper than probing it
  // once per key (measured: looking up an append's event ids and contacts
  // read 10,000 pages a batch, 59 % of the pages the store read).
  // With scans priced out, plan costs pass the JIT's threshold: compiling
  // took 65 ms for a one-row count.
  db->execute("SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off; SET jit = off");
  return db;
}

PgConnection& PostgresStore::writer() {
  if (!writer_) {
    writer_ = connect();
    writer_pid_ = PQbackendPID(writer_->handle());
  }
  return *writer_;
}

void PostgresStore::submit(Write write, bool urgent) {
  if (!queue_.push(write, urgent)) write.done({StoreErrc::kUnavailable, "the store is shutting down"});
}

void PostgresStore::append_events(std::vector<EventRecord> batch, AppendCallback done) {
  append(std::move(batch), std::move(done), false);
}

void PostgresStore::append_events_urgent(std::vector<EventRecord> batch, AppendCallback done) {
  append(std::move(batch), std::move(done), true);
}

void PostgresStore::derive_only(EventTypeFilter wanted) { derived_.set(std::move(wanted)); }

void PostgresStore::append(std::vector<EventRecord> batch, AppendCallback done, bool urgent) {
  auto events = std::make_shared<Append>(Append{std::move(batch), {}, derived_.get()});
  submit({nullptr,
          [events, done = std::move(done)](const StoreStatus& status) {
            done(status.ok() ? AppendResult{"", std::move(events->outcomes)} : AppendResult{status.message, {}});
          },
          events},
         urgent);
}

std::vector<PgStatement> PostgresStore::store_appends(PgConnection& db, std::deque<Write>& group,
                                                      std::vector<StoreStatus>& errors, bool savepoints, bool begin,
                                                      const Named& named, AppendLocks& locks) {
  std::vector<size_t> appends;
  for (size_t i = 0; i < group.size(); ++i)
    if (group[i].append) appends.push_back(i);
  if (appends.empty()) return {};
  // Each append's events through store_event; one that fails is undone alone.
  auto store = [&](Events& rows, size_t i) {
    Append& a = *group[i].append;
    a.outcomes.clear();
    const size_t mark = rows.mark();
    try {
      for (const EventRecord& e : a.events)
        a.outcomes.push_back(store_event(rows, e, options_.aggregates, a.derived.get()));
    } catch (const StoreError& e) {  // malformed JSON: this append only
      rows.undo_to(mark);
      errors[i] = {e.code(), e.what()};
    } catch (const std::exception& e) {
      rows.undo_to(mark);
      errors[i] = {StoreErrc::kInvalid, e.what()};
    }
  };
  auto events_of = [&](const std::vector<size_t>& which) {
    std::vector<const EventRecord*> all;
    for (const size_t i : which)
      for (const EventRecord& e : group[i].append->events) all.push_back(&e);
    return all;
  };
  if (!savepoints) {
    // All of them in two round trips, the second the commit's.
    try {
      std::vector<PgStatement> prelude;
      if (begin) {
        prelude.push_back({"BEGIN", {}});
        prelude.insert(prelude.end(), locks.statements().begin(), locks.statements().end());
      }
      Events rows(db, named, 0, locks, std::move(prelude), begin);
      for (const size_t i : appends) store(rows, i);
      return rows.writes();
    } catch (const PgError& e) {
      if (e.retry()) throw;
      throw NeedsSavepoints{};  // a value PostgreSQL refused: find whose, one append at a time
    } catch (const StoreError&) {
      throw NeedsSavepoints{};  // too many events for one transaction: the appends that fit are stored
    }
  }
  int64_t position = 0;
  for (const size_t i : appends) {
    db.execute("SAVEPOINT one");
    try {
      Events rows(db, Named(events_of({i})), position, locks);
      store(rows, i);
      rows.write();
      db.execute("RELEASE SAVEPOINT one");
      position = rows.next_position();
    } catch (const StoreError& e) {  // refused by PostgreSQL, or too many events
      if (const auto* pg = dynamic_cast<const PgError*>(&e); pg && pg->retry()) throw;
      db.execute("ROLLBACK TO SAVEPOINT one");
      db.execute("RELEASE SAVEPOINT one");
      errors[i] = {e.code(), e.what()};
    }
  }
  return {};
}

void PostgresStore::transact(Work work, WriteCallback done) { transact_on({}, std::move(work), std::move(done)); }

void PostgresStore::transact_on(Finds finds, Work work, WriteCallback done) {
  submit({nullptr, std::move(done), nullptr, false, std::move(work), std::move(finds)});
}

void PostgresStore::transact_urgent(Work work, WriteCallback done) {
  submit({nullptr, std::move(done), nullptr, false, std::move(work)}, true);
}

void PostgresStore::flush() {
  std::promise<void> flushed;
  submit({[](PgConnection&) {}, [&flushed](const StoreStatus&) { flushed.set_value(); }});
  flushed.get_future().wait();
}

void PostgresStore::writer_loop() {
  for (auto group = queue_.next_group(); !group.empty(); group = queue_.next_group()) commit_group(group);
}

void PostgresStore::commit_group(std::deque<Write>& group) {
  std::vector<const EventRecord*> appended;
  for (const Write& w : group)
    if (w.append)
      for (const EventRecord& e : w.append->events) appended.push_back(&e);
  const Named named(appended);
  // Appends naming many keys hold the log lock alone, from BEGIN: not
  // through the other writes of their group, which commit first, apart.
  if (AppendLocks::alone(named) && !std::all_of(group.begin(), group.end(), [](const Write& w) { return w.append; })) {
    std::deque<Write> others, appends;
    for (Write& w : group) (w.append ? appends : others).push_back(std::move(w));
    commit_writes(others, Named({}));
    commit_writes(appends, named);
    return;
  }
  commit_writes(group, named);
}

void PostgresStore::commit_writes(std::deque<Write>& group, const Named& named) {
  std::vector<StoreStatus> errors(group.size());
  constexpr int kTries = 3;
  bool savepoints = false;
  for (int attempt = 1; attempt <= kTries;) {
    const Outcome outcome = try_group(group, named, errors, attempt == kTries, savepoints);
    if (outcome == Outcome::kDone) break;
    if (outcome == Outcome::kNeedsSavepoints) {
      savepoints = true;  // not a failure of the server: at once, and not counted
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt));
    ++attempt;
  }
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

PostgresStore::Outcome PostgresStore::try_group(std::deque<Write>& group, const Named& named,
                                                std::vector<StoreStatus>& errors, bool last_try, bool savepoints) {
  bool commit_sent = false;
  std::fill(errors.begin(), errors.end(), StoreStatus{});
  // A statement of the held rows refused: the group runs again with savepoints.
  auto refused_means_savepoints = [](auto statements) {
    try {
      statements();
    } catch (const PgError& e) {
      if (e.retry()) throw;
      throw NeedsSavepoints{};
    }
  };
  try {
    PgConnection& db = writer();
    // A group of appends only (most of ingest) begins with its reads.
    const bool appends_only = !savepoints && std::all_of(group.begin(), group.end(), [](const Write& w) {
      return w.append != nullptr && w.finds.state.empty() && w.finds.rows.empty();
    });
    // The appends' locks come first, before any write gives the transaction its id.
    AppendLocks locks(named);
    const bool appends = !named.ids.empty();
    if (!appends_only) {
      std::vector<PgStatement> begin{{"BEGIN", {}}};
      if (appends) begin.insert(begin.end(), locks.statements().begin(), locks.statements().end());
      const std::vector<PgResult> begun = db.run_all(begin);
      if (appends) locks.taken(begun.back());
    }
    bool wakes = false;
    // The host state the units declared, locked first, before any row.
    std::set<std::string> locked;
    for (const Write& w : group)
      for (const auto& [ns, key] : w.finds.state) locked.insert(state_lock_name(ns, key));
    if (!locked.empty()) lock_state(db, locked);
    std::optional<HeldRows> held;
    if (!savepoints) {
      held.emplace(db);
      std::vector<int64_t> reads;
      for (const Write& w : group) reads.insert(reads.end(), w.finds.rows.begin(), w.finds.rows.end());
      refused_means_savepoints([&] { held->read(std::move(reads)); });
    }
    for (size_t i = 0; i < group.size(); ++i) {
      if (group[i].append) continue;  // after the others, all at once
      // Its own statements see what the units before it wrote, and the
      // units after it read what they wrote.
      if (held && group[i].writes_executions) refused_means_savepoints([&] { held->write_and_forget(); });
      // A write that fails must not take the others of its group with it.
      // Most writes succeed, and most that fail (a compare-and-set another
      // host won) fail before they change a row: the group runs without
      // savepoints, two round trips and a subtransaction less per write,
      // and runs again with one per write only when a write failed after
      // changing rows (or in SQL, which aborts the transaction).
      if (savepoints) db.execute("SAVEPOINT one");
      auto changes = [&] { return db.rows_changed() + (held ? held->changes() : 0); };
      const int64_t changed_before = changes();
      auto undo = [&](StoreStatus why) {
        if (savepoints) {
          db.execute("ROLLBACK TO SAVEPOINT one");
          db.execute("RELEASE SAVEPOINT one");
        } else if (changes() != changed_before) {
          throw NeedsSavepoints{};
        }
        errors[i] = std::move(why);
      };
      try {
        if (group[i].unit) {
          Rows rows(db, held ? &*held : nullptr, locked);
          group[i].unit(rows);
          wakes = wakes || rows.made_due();
        } else {
          group[i].apply(db);
          wakes = wakes || group[i].wakes;
        }
        if (savepoints) db.execute("RELEASE SAVEPOINT one");
      } catch (const PgError& e) {
        if (e.retry()) throw;                      // the whole group again
        if (!savepoints) throw NeedsSavepoints{};  // the transaction is aborted
        undo({e.code(), e.what()});
      } catch (const StoreError& e) {
        undo({e.code(), e.what()});
      } catch (const std::exception& e) {  // a unit of work's own failure
        undo({StoreErrc::kUnavailable, e.what()});
      }
    }
    if (held) refused_means_savepoints([&] { held->write(); });
    // Appends last (their locks were taken at BEGIN, or are taken now with
    // their reads when the group is theirs alone).
    std::vector<PgStatement> tail = store_appends(db, group, errors, savepoints, appends_only, named, locks);
    const size_t writes = tail.size();
    // Other hosts look for work when this commits (a notification of each
    // kind per transaction, however many writes it holds): the router for
    // events, every host for rows due that no one holds. A step's end that
    // leaves nothing to do (most of a campaign's) wakes no one. Sent with
    // the appends' writes and COMMIT, in one round trip, but after COMMIT:
    // PostgreSQL commits the transactions that notify one at a time, each
    // holding a lock through its WAL flush, and one that only notifies
    // flushes nothing.
    tail.push_back({"COMMIT", {}});
    if (std::any_of(group.begin(), group.end(), [](const Write& w) { return w.append != nullptr; }))
      tail.push_back({"NOTIFY " + channel_ + ", '" + kEventsCommitted + "'", {}});
    if (wakes) tail.push_back({"NOTIFY " + channel_ + ", '" + kWorkCommitted + "'", {}});
    for (const Write& w : group)
      for (const std::string& notice : w.notices)  // digits, commas and a word: nothing to escape
        tail.push_back({"NOTIFY " + channel_ + ", '" + notice + "'", {}});
    size_t succeeded = 0;
    try {
      db.run_all(tail, &succeeded);
    } catch (const PgError& e) {
      if (succeeded > writes) {  // committed: only a notification is lost (the others look within a second)
        log_warn("store", "committed, but the other hosts could not be told", {{"error", e.what()}});
        writer_.reset();
        return Outcome::kDone;
      }
      // Only a write the server refused proves that COMMIT did not run; with
      // the connection lost, it may have.
      commit_sent = succeeded >= writes || !db.healthy();
      if (commit_sent || e.retry()) throw;
      throw NeedsSavepoints{};  // a value PostgreSQL refused: find whose, one append at a time
    }
    return Outcome::kDone;
  } catch (const NeedsSavepoints&) {
    try {
      writer_->execute("ROLLBACK");
    } catch (const StoreError&) {
      writer_.reset();
    }
    return Outcome::kNeedsSavepoints;
  } catch (const PgError& e) {
    // Lost, or beaten in a deadlock: nothing of the group is committed,
    // unless COMMIT itself went unanswered.
    if (!writer_ || !writer_->healthy())
      writer_.reset();
    else
      try {
        writer_->execute("ROLLBACK");
      } catch (const StoreError&) {
        writer_.reset();
      }
    if (e.retry() && !commit_sent && !last_try) {
      log_warn("store", "write group runs again", {{"error", e.what()}});
      return Outcome::kRunAgain;
    }
    const std::string why = commit_sent ? std::string("the store may not have committed: ") + e.what()
                                        : std::string("the store could not commit: ") + e.what();
    log_error("store", "commit failed", {{"error", e.what()}});
    for (auto& error : errors) error = {StoreErrc::kUnavailable, why};
    return Outcome::kDone;
  } catch (const std::exception& e) {  // no connection could be made, or a bug: the group fails, the host stays
    writer_.reset();
    for (auto& error : errors)
      error = {StoreErrc::kUnavailable, std::string("the store could not commit: ") + e.what()};
    return Outcome::kDone;
  }
}

void PostgresStore::write_and_wait(std::function<void(PgConnection&)> apply) {
  if (std::this_thread::get_id() == thread_.get_id()) {
    // From a write's callback: waiting for the writer would wait for itself.
    apply(writer());
    return;
  }
  std::promise<StoreStatus> committed;
  submit({std::move(apply), [&](const StoreStatus& s) { committed.set_value(s); }});
  if (StoreStatus s = committed.get_future().get(); !s.ok()) throw StoreError(s.message, s.code);
}

std::vector<StoredEvent> PostgresStore::visible_events_after(int64_t seq, size_t limit, const std::string& columns,
                                                             const std::string& joins, const EventRow& read_row) {
  return with_reader([&](PgConnection& db) {
    // Column 0 says whether the row is below the horizon: visible to every
    // later read, with nothing before it still to commit.
    PgResult q = db.run("SELECT e.seq < h.horizon, " + columns + " FROM (" + kHorizon + ") h CROSS JOIN events e " +
                            joins + " WHERE e.seq > $1 ORDER BY e.seq LIMIT $2",
                        PgParams().integer(seq).integer(static_cast<int64_t>(limit)));
    // All held back, perhaps by a transaction that has ended since (see
    // kSettledHorizon): read once more below the settled horizon before
    // leaving it to the listener's rechecks.
    if (q.rows() && q.text(0, 0) != "t") {
      const int64_t horizon = db.run(kSettledHorizon).integer(0, 0);
      q = db.run(
          "SELECT e.seq < $3, " + columns + " FROM events e " + joins + " WHERE e.seq > $1 ORDER BY e.seq LIMIT $2",
          PgParams().integer(seq).integer(static_cast<int64_t>(limit)).integer(horizon));
    }
    std::vector<StoredEvent> out;
    out.reserve(static_cast<size_t>(q.rows()));
    if (!q.rows() || q.text(0, 0) == "t") caught_up();
    for (int i = 0; i < q.rows(); ++i) {
      if (q.text(i, 0) != "t") {
        hold_back(db);
        break;
      }
      out.push_back(read_row(q, i));
    }
    return out;
  });
}

namespace {

// The status change of an event row whose columns from `first` are
// entity_type, entity_id, entity_created, previous_status, status.
std::optional<StatusChange> status_change_at(const PgResult& q, int i, int first) {
  if (q.is_null(i, first + 2)) return std::nullopt;
  StatusChange c{q.text(i, first), q.text(i, first + 1), q.text(i, first + 2) == "t", std::nullopt, std::nullopt};
  if (!q.is_null(i, first + 3)) c.previous = q.text(i, first + 3);
  if (!q.is_null(i, first + 4)) c.current = q.text(i, first + 4);
  return c;
}

}  // namespace

std::vector<StoredEvent> PostgresStore::events_after(int64_t seq, size_t limit) {
  return visible_events_after(
      seq, limit,
      "e.seq, e.id, e.type, e.source, e.occurred_at, e.received_at, e.body, e.entity_type, e.entity_id, "
      "e.entity_created, e.previous_status, e.status, e.chain_depth, c.data, n.data, n.status, "
      "coalesce(a.key, e.contact_key)",
      // The contact as it is known now (one absorbed since is its new key's).
      "LEFT JOIN contact_aliases a ON a.alias = e.contact_key "
      "LEFT JOIN contacts c ON c.key = coalesce(a.key, e.contact_key) "
      "LEFT JOIN entities n ON n.type = e.entity_type AND n.id = e.entity_id",
      [](const PgResult& q, int i) {
        StoredEvent e;
        e.seq = q.integer(i, 1);
        e.record.id = q.text(i, 2);
        e.record.type = q.text(i, 3);
        e.record.source = q.text(i, 4);
        e.record.occurred_at_ms = q.integer(i, 5);
        e.record.received_at_ms = q.integer(i, 6);
        e.record.body_json = q.text(i, 7);
        e.record.chain_depth = static_cast<int>(q.integer(i, 13));
        if (!q.is_null(i, 14)) e.contact_json = q.text(i, 14);
        if (!q.is_null(i, 17)) e.contact_key = q.text(i, 17);
        if (!q.is_null(i, 15)) {
          nlohmann::json entity = nlohmann::json::parse(q.text(i, 15), nullptr, false);
          if (!entity.is_object()) entity = nlohmann::json::object();
          entity["type"] = q.text(i, 8);
          entity["id"] = q.text(i, 9);
          entity["status"] = q.is_null(i, 16) ? nlohmann::json() : nlohmann::json(q.text(i, 16));
          e.entity_json = dump_text(entity);
        }
        e.status_change = status_change_at(q, i, 8);
        return e;
      });
}

std::vector<StoredEvent> PostgresStore::event_heads_after(int64_t seq, size_t limit) {
  return visible_events_after(seq, limit,
                              "e.seq, e.id, e.type, e.source, e.chain_depth, e.entity_type, e.entity_id, "
                              "e.entity_created, e.previous_status, e.status",
                              "", [](const PgResult& q, int i) {
                                StoredEvent e;
                                e.seq = q.integer(i, 1);
                                e.record.id = q.text(i, 2);
                                e.record.type = q.text(i, 3);
                                e.record.source = q.text(i, 4);
                                e.record.chain_depth = static_cast<int>(q.integer(i, 5));
                                e.status_change = status_change_at(q, i, 6);
                                return e;
                              });
}

std::optional<StoredContact> PostgresStore::contact(const std::string& key) {
  return with_reader([&](PgConnection& db) -> std::optional<StoredContact> {
    // By its key, or by an email or phone it is known by.
    PgResult q = db.run(
        "SELECT key, data, updated_at FROM contacts "
        "WHERE key = coalesce((SELECT key FROM contact_aliases WHERE alias = $1), $1)",
        PgParams().text(key));
    if (!q.rows()) return std::nullopt;
    return StoredContact{q.text(0, 0), q.text(0, 1), q.integer(0, 2)};
  });
}

std::optional<StoredEntity> PostgresStore::entity(const std::string& type, const std::string& id) {
  return with_reader([&](PgConnection& db) -> std::optional<StoredEntity> {
    PgResult q = db.run("SELECT status, data, updated_at, created_at FROM entities WHERE type = $1 AND id = $2",
                        PgParams().text(type).text(id));
    if (!q.rows()) return std::nullopt;
    StoredEntity e{type, id, std::nullopt, q.text(0, 1), q.integer(0, 2), q.integer(0, 3)};
    if (!q.is_null(0, 0)) e.status = q.text(0, 0);
    return e;
  });
}

namespace {
PgParams& time_bounds(PgParams& p, const RecordQuery& r) {
  return p.integer(r.updated_after_ms.value_or(std::numeric_limits<int64_t>::min()))
      .integer(r.updated_before_ms.value_or(std::numeric_limits<int64_t>::max()));
}
}  // namespace

std::vector<StoredContact> PostgresStore::contacts_page(const RecordQuery& r) {
  return with_reader([&](PgConnection& db) {
    PgParams p;
    p.text(r.after);
    time_bounds(p, r).integer(static_cast<int64_t>(r.limit));
    // Keys compare byte by byte (COLLATE "C"), as SQLite's do: a page's
    // cursor means the same on every backend.
    PgResult q = db.run(
        "SELECT key, data, updated_at FROM contacts WHERE key COLLATE \"C\" > $1 AND updated_at >= $2 "
        "AND updated_at <= $3 ORDER BY key COLLATE \"C\" LIMIT $4",
        p);
    std::vector<StoredContact> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back({q.text(i, 0), q.text(i, 1), q.integer(i, 2)});
    return out;
  });
}

std::vector<StoredEntity> PostgresStore::entities_page(const RecordQuery& r) {
  const size_t split = r.after.find('\n');
  const std::string after_type = r.after.substr(0, split);
  const std::string after_id = split == std::string::npos ? "" : r.after.substr(split + 1);
  return with_reader([&](PgConnection& db) {
    PgParams p;
    p.text(after_type).text(after_id).text(r.entity_type).integer(r.by_status).optional(r.status);
    time_bounds(p, r).integer(static_cast<int64_t>(r.limit));
    p.integer(r.created_after_ms.value_or(std::numeric_limits<int64_t>::min()))
        .integer(r.created_before_ms.value_or(std::numeric_limits<int64_t>::max()));
    PgResult q = db.run(
        "SELECT type, id, status, data, updated_at, created_at FROM entities "
        "WHERE (type COLLATE \"C\", id COLLATE \"C\") > ($1, $2) AND ($3 = '' OR type = $3) "
        "AND ($4 = 0 OR status IS NOT DISTINCT FROM $5) AND updated_at >= $6 AND updated_at <= $7 "
        "AND created_at >= $9 AND created_at <= $10 "
        "ORDER BY type COLLATE \"C\", id COLLATE \"C\" LIMIT $8",
        p);
    std::vector<StoredEntity> out;
    for (int i = 0; i < q.rows(); ++i) {
      StoredEntity e{q.text(i, 0), q.text(i, 1), std::nullopt, q.text(i, 3), q.integer(i, 4), q.integer(i, 5)};
      if (!q.is_null(i, 2)) e.status = q.text(i, 2);
      out.push_back(std::move(e));
    }
    return out;
  });
}

std::vector<MessageReport> PostgresStore::message_reports(const std::vector<std::string>& message_ids) {
  constexpr size_t kChunk = 5000;  // ids a statement names
  std::vector<MessageReport> out;
  for (const std::string& ids : json_array_texts(message_ids, kChunk))
    with_reader([&](PgConnection& db) {
      PgResult q = db.run(
          "SELECT message_id, type, received_at FROM events "
          "WHERE message_id IN (SELECT json_array_elements_text($1::json))",
          PgParams().text(ids));
      for (int i = 0; i < q.rows(); ++i) out.push_back({q.text(i, 0), q.text(i, 1), q.integer(i, 2)});
      return 0;
    });
  return out;
}

std::vector<GoalReached> PostgresStore::goals_reached(const std::vector<std::string>& contact_keys, int64_t since_ms) {
  constexpr size_t kChunk = 5000;  // contacts a statement names
  std::vector<GoalReached> out;
  for (const std::string& keys : json_array_texts(contact_keys, kChunk))
    with_reader([&](PgConnection& db) {
      PgResult q = db.run(
          // Under the key asked for, or under what that key is an alias of now.
          "WITH asked AS (SELECT json_array_elements_text($1::json) AS k), "
          "names AS (SELECT k, k AS n FROM asked UNION SELECT asked.k, a.key FROM asked "
          "JOIN contact_aliases a ON a.alias = asked.k) "
          "SELECT names.k, g.type, g.at, g.value FROM names JOIN goals g ON g.contact = names.n WHERE g.at >= $2",
          PgParams().text(keys).integer(since_ms));
      for (int i = 0; i < q.rows(); ++i)
        out.push_back({q.text(i, 0), q.text(i, 1), q.integer(i, 2),
                       q.is_null(i, 3) ? std::nullopt : std::optional(q.real(i, 3))});
      return 0;
    });
  return out;
}

int64_t PostgresStore::routed_up_to() {
  return with_reader([](PgConnection& db) {
    PgResult q = db.run("SELECT up_to FROM router WHERE name = 'rules'");
    return q.rows() ? q.integer(0, 0) : int64_t{0};
  });
}

std::vector<ExecutionRow> PostgresStore::claim_due(const DueClaim& c) {
  // In autocommit on a pooled connection: the lease is committed before the
  // work starts, and rows another host is claiming are skipped, not waited for.
  static const std::string sql =
      "WITH due AS (SELECT id, due_at FROM executions WHERE priority = $1 AND due_at IS NOT NULL AND due_at <= $2 "
      "ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
      "UPDATE executions e SET lease_owner = $4, due_at = $5, "
      // Taking over a lease that ended without an update: its step may have run.
      "doubt = CASE WHEN e.lease_owner IS NULL OR e.doubt = 2 THEN e.doubt ELSE 1 END "
      "FROM due WHERE e.id = due.id RETURNING due.due_at, " +
      execution_columns("e.");
  // Kept outside the unit: rows claimed before the connection was lost are
  // leased to this host already, and started, not left to run out their
  // lease and be taken for steps that may have run.
  std::vector<ExecutionRow> rows;
  try {
    with_reader(
        [&](PgConnection& db) {
          const int64_t until = now_ms() + c.lease_ms;
          for (int priority = kHighestPriority; priority >= kLowestPriority && rows.size() < c.limit; --priority) {
            PgResult q = db.run(sql, PgParams()
                                         .integer(priority)
                                         .integer(c.now_ms)
                                         .integer(static_cast<int64_t>(c.limit - rows.size()))
                                         .text(c.owner)
                                         .integer(until));
            // Earliest due first, as they were before the lease moved their due time.
            std::vector<std::pair<int64_t, ExecutionRow>> claimed;
            for (int i = 0; i < q.rows(); ++i) claimed.emplace_back(q.integer(i, 0), read_execution(q, i, 1));
            std::stable_sort(claimed.begin(), claimed.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
            for (auto& [was_due, row] : claimed) rows.push_back(std::move(row));
          }
          return 0;
        },
        /*run_again=*/false);  // rows claimed before the connection was lost are this host's already
  } catch (const std::exception& e) {
    if (rows.empty()) throw;
    log_warn("store", "a claim was cut short: the rows it had leased start now", {{"error", e.what()}});
  }
  return rows;
}

std::optional<int64_t> PostgresStore::next_due_ms() {
  return with_reader([](PgConnection& db) -> std::optional<int64_t> {
    // One index range per priority (min() over the whole index would scan
    // it), in one round trip.
    PgResult q = db.run(
        "SELECT min((SELECT min(due_at) FROM executions WHERE priority = p AND due_at IS NOT NULL)) "
        "FROM generate_series($1::integer, $2::integer) AS p",
        PgParams().integer(kLowestPriority).integer(kHighestPriority));
    if (!q.rows() || q.is_null(0, 0)) return std::nullopt;
    return q.integer(0, 0);
  });
}

void PostgresStore::save_rule_versions(std::vector<RuleVersion> versions, WriteCallback done) {
  auto v = std::make_shared<std::vector<RuleVersion>>(std::move(versions));
  submit({[v](PgConnection& db) {
            for (const RuleVersion& r : *v)
              db.run("INSERT INTO rule_versions (rule, version, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                     PgParams().text(r.rule).text(r.version).text(r.source_json));
          },
          std::move(done)});
}

std::optional<RuleVersion> PostgresStore::rule_version(const std::string& rule, const std::string& version) {
  return with_reader([&](PgConnection& db) -> std::optional<RuleVersion> {
    PgResult q = db.run("SELECT source FROM rule_versions WHERE rule = $1 AND version = $2",
                        PgParams().text(rule).text(version));
    if (!q.rows()) return std::nullopt;
    return RuleVersion{rule, version, q.text(0, 0)};
  });
}

std::vector<RuleVersion> PostgresStore::awaited_rule_versions() {
  return with_reader([](PgConnection& db) {
    PgResult q = db.run(
        "SELECT v.rule, v.version, v.source FROM rule_versions v JOIN (SELECT DISTINCT rule, rule_version "
        "FROM executions WHERE awaiting IS NOT NULL) w ON w.rule = v.rule AND w.rule_version = v.version");
    std::vector<RuleVersion> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back({q.text(i, 0), q.text(i, 1), q.text(i, 2)});
    return out;
  });
}

std::vector<RuleVersion> PostgresStore::rule_versions() {
  return with_reader([](PgConnection& db) {
    PgResult q = db.run("SELECT rule, version, source FROM rule_versions ORDER BY rule, version");
    std::vector<RuleVersion> out;
    for (int i = 0; i < q.rows(); ++i) out.push_back({q.text(i, 0), q.text(i, 1), q.text(i, 2)});
    return out;
  });
}

std::vector<std::pair<std::string, std::string>> PostgresStore::rule_version_names() {
  return with_reader([](PgConnection& db) {
    PgResult q = db.run("SELECT rule, version FROM rule_versions ORDER BY rule, version");
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < q.rows(); ++i) out.emplace_back(q.text(i, 0), q.text(i, 1));
    return out;
  });
}

size_t PostgresStore::forget_events(int64_t before_ms, size_t limit) {
  size_t removed = 0;
  write_and_wait([&](PgConnection& db) {
    removed = static_cast<size_t>(
        db.run("DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT $1) AND received_at < $2 "
               "AND seq <= coalesce((SELECT up_to FROM router WHERE name = 'rules'), 0)",
               PgParams().integer(static_cast<int64_t>(limit)).integer(before_ms))
            .affected());
    db.run("DELETE FROM goals WHERE ctid IN (SELECT ctid FROM goals WHERE at < $2 ORDER BY at LIMIT $1)",
           PgParams().integer(static_cast<int64_t>(limit)).integer(before_ms));
  });
  return removed;
}

Store::ExecutionsLookedAt PostgresStore::forget_executions(const std::vector<ExecutionState>& states, int64_t before_ms,
                                                           int64_t after_id, size_t limit) {
  nlohmann::json names = nlohmann::json::array();
  for (ExecutionState state : states) names.push_back(state_name(state));
  ExecutionsLookedAt out;
  write_and_wait([&](PgConnection& db) {
    out = {};
    PgResult range = db.run("SELECT id, created_at FROM executions WHERE id > $1 ORDER BY id LIMIT $2",
                            PgParams().integer(after_id).integer(static_cast<int64_t>(limit)));
    out.looked_at = static_cast<size_t>(range.rows());
    if (out.looked_at == 0) return;
    out.last_id = range.integer(range.rows() - 1, 0);
    out.last_created_at = range.integer(range.rows() - 1, 1);
    out.removed = static_cast<size_t>(
        db.run("DELETE FROM executions x WHERE id > $1 AND id <= $2 AND updated_at < $3 "
               "AND state IN (SELECT json_array_elements_text($4::json)) AND (parent_id IS NULL OR NOT EXISTS "
               "(SELECT 1 FROM executions p WHERE p.id = x.parent_id))",
               PgParams().integer(after_id).integer(out.last_id).integer(before_ms).text(dump_text(names)))
            .affected());
  });
  return out;
}

size_t PostgresStore::forget_rule_versions(const std::vector<std::pair<std::string, std::string>>& keep) {
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& [rule, version] : keep) kept.push_back({{"rule", rule}, {"version", version}});
  size_t removed = 0;
  write_and_wait([&](PgConnection& db) {
    removed = static_cast<size_t>(
        db.run("DELETE FROM rule_versions v WHERE NOT EXISTS "
               "(SELECT 1 FROM executions e WHERE e.rule = v.rule AND e.rule_version = v.version) AND NOT EXISTS "
               "(SELECT 1 FROM json_to_recordset($1::json) AS k(rule text, version text) "
               "WHERE k.rule = v.rule AND k.version = v.version)",
               PgParams().text(dump_text(kept)))
            .affected());
  });
  return removed;
}

std::optional<ExecutionRow> PostgresStore::execution(int64_t id) {
  return with_reader([&](PgConnection& db) -> std::optional<ExecutionRow> {
    auto rows = read_executions(
        db.run("SELECT " + kExecutionColumns + " FROM executions WHERE id = $1", PgParams().integer(id)));
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
  });
}

std::vector<ExecutionRow> PostgresStore::executions(const ExecutionQuery& query) {
  return with_reader([&](PgConnection& db) {
    const ExecutionFilter filter = execution_filter(query, [](int n) { return "$" + std::to_string(n); });
    PgParams params;
    for (const std::string& value : filter.values) params.text(value);
    params.integer(static_cast<int64_t>(query.limit));
    return read_executions(db.run("SELECT " + kExecutionColumns + " FROM executions" + filter.where +
                                      " ORDER BY id DESC LIMIT $" + std::to_string(filter.values.size() + 1),
                                  params));
  });
}

std::optional<std::string> PostgresStore::kv_get(const std::string& ns, const std::string& key) {
  return with_reader([&](PgConnection& db) { return run_kv(db, KvOp::kGet, ns, key, ""); });
}

void PostgresStore::kv_put(const std::string& ns, const std::string& key, const std::string& value) {
  write_and_wait([&](PgConnection& db) { run_kv(db, KvOp::kPut, ns, key, value); });
}

void PostgresStore::kv_remove(const std::string& ns, const std::string& key) {
  write_and_wait([&](PgConnection& db) { run_kv(db, KvOp::kRemove, ns, key, ""); });
}

void PostgresStore::kv_async(KvOp op, std::string ns, std::string key, std::string value, KvDone done) {
  auto found = std::make_shared<std::optional<std::string>>();
  submit({[op, ns = std::move(ns), key = std::move(key), value = std::move(value), found](PgConnection& db) {
            *found = run_kv(db, op, ns, key, value);
          },
          [found, done = std::move(done)](const StoreStatus& status) { done(status, *found); }});
}

void PostgresStore::beat(const NodeRecord& n, WriteCallback done) {
  StoreStatus status;
  try {
    with_reader([&](PgConnection& db) {
      return db
          .run(
              "INSERT INTO nodes (id, host, address, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5) "
              "ON CONFLICT (id) DO UPDATE SET address = excluded.address, heartbeat_at = excluded.heartbeat_at",
              PgParams().text(n.id).text(n.host).text(n.address).integer(n.started_at_ms).integer(n.heartbeat_at_ms))
          .affected();
    });
  } catch (const StoreError& e) {
    status = {e.code(), e.what()};
  }
  done(status);
}

std::vector<NodeRecord> PostgresStore::nodes() {
  return with_reader([](PgConnection& db) {
    PgResult q = db.run(
        "SELECT id, host, address, started_at, heartbeat_at, "
        "(SELECT count(*) FROM executions WHERE lease_owner = nodes.id) FROM nodes ORDER BY started_at, id");
    std::vector<NodeRecord> out;
    for (int i = 0; i < q.rows(); ++i)
      out.push_back({q.text(i, 0), q.text(i, 1), q.text(i, 2), q.integer(i, 3), q.integer(i, 4), q.integer(i, 5)});
    return out;
  });
}

void PostgresStore::end_leases(const std::string& owner, int64_t now, std::optional<int64_t> last_heartbeat,
                               WriteCallback done) {
  submit({[owner, now, last_heartbeat](PgConnection& db) {
            if (last_heartbeat) {
              if (db.run("DELETE FROM nodes WHERE id = $1 AND heartbeat_at = $2",
                         PgParams().text(owner).integer(*last_heartbeat))
                      .affected() == 0)
                throw StoreError("node " + owner + " has beaten since", StoreErrc::kConflict);
            } else {
              db.run("DELETE FROM nodes WHERE id = $1", PgParams().text(owner));
            }
            // A row with no due time (cancelled, its step still running)
            // stays so: least() would make it due (SQLite's min() keeps NULL).
            db.run("UPDATE executions SET due_at = least(due_at, $2) WHERE lease_owner = $1 AND due_at IS NOT NULL",
                   PgParams().text(owner).integer(now));
            // ... and its lease ends with the node that ran the step.
            db.run("UPDATE executions SET lease_owner = NULL WHERE lease_owner = $1 AND due_at IS NULL",
                   PgParams().text(owner));
            db.run("DELETE FROM holds WHERE owner = $1", PgParams().text(owner));
          },
          std::move(done),
          nullptr,
          true,
          {},
          {},
          /*writes_executions=*/true});
}

bool PostgresStore::hold(const std::string& name, const std::string& owner, int64_t now, int64_t until) {
  return with_reader([&](PgConnection& db) {
    return db.run(
                 "INSERT INTO holds (name, owner, held_until) VALUES ($1, $2, $4) ON CONFLICT (name) DO UPDATE "
                 "SET owner = excluded.owner, held_until = excluded.held_until "
                 "WHERE holds.owner = excluded.owner OR holds.held_until < $3",
                 PgParams().text(name).text(owner).integer(now).integer(until))
               .affected() == 1;
  });
}

}  // namespace sb
