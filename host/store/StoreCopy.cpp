#include "store/StoreCopy.h"

#include "store/Postgres.h"
#include "store/PostgresStore.h"
#include "store/Sqlite.h"
#include "store/SqliteStore.h"
#include "util/Time.h"

namespace sb {

namespace {

// What is copied: every table but the nodes' heartbeats and the holds on
// scheduled work, which belong to the hosts that run, not to the data.
struct Table {
  const char* name;
  std::vector<const char*> columns;
  const char* sequence = nullptr;            // the PostgreSQL sequence numbering `columns[0]`
  int bytes_column = -1;                     // a column copied as bytes (bytea)
  std::vector<const char*> pg_columns = {};  // the columns' PostgreSQL names, where they differ
};

const std::vector<Table> kTables = {
    {"events",
     {"seq", "id", "type", "source", "occurred_at", "received_at", "body", "entity_type", "entity_id", "entity_created",
      "previous_status", "status", "chain_depth", "contact_key", "message_id"},
     "events_seq_seq"},
    {"contacts", {"key", "data", "updated_at"}},
    {"contact_aliases", {"alias", "key"}},
    {"entities", {"type", "id", "status", "data", "updated_at", "created_at", "contact_key"}},
    {"router", {"name", "routed_up_to"}, nullptr, -1, {"name", "up_to"}},
    {"rule_fired", {"rule", "entity_type", "entity_id"}},
    {"rule_versions", {"rule", "version", "source"}},
    {"executions",
     {"id",           "rule",     "event_id",    "state",        "step",     "attempt",     "due_at",    "context",
      "history",      "error",    "created_at",  "updated_at",   "awaiting", "resume_step", "parent_id", "end_step",
      "last_arrival", "priority", "lease_owner", "rule_version", "doubt",    "contact_key"},
     "executions_id_seq"},
    {"arrivals", {"seq", "key", "event", "at"}, "arrivals_seq_seq"},
    {"plugin_kv", {"ns", "key", "value"}, nullptr, 2},
    // A goal's value as text with every digit it has (SQLite's own text of
    // a REAL keeps 15; printf's '!' lets it write 17).
    {"goals",
     {"contact", "type", "at", "CASE WHEN value IS NULL THEN NULL ELSE printf('%!.17g', value) END"},
     nullptr,
     -1,
     {"contact", "type", "at", "value"}},
};

std::string joined(const std::vector<const char*>& columns) {
  std::string out;
  for (const char* c : columns) out += (out.empty() ? "" : ", ") + std::string(c);
  return out;
}

int64_t count(SqliteDatabase& db, const std::string& table) {
  SqliteStatement q(db.handle(), "SELECT count(*) FROM " + table);
  return q.step() ? q.integer(0) : 0;
}

// The next number SQLite would give (AUTOINCREMENT never reuses one), so
// that an arrival or execution number taken before is never given again.
int64_t last_number(SqliteDatabase& db, const Table& t) {
  SqliteStatement q(db.handle(),
                    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0), "
                    "coalesce((SELECT max(" +
                        std::string(t.columns[0]) + ") FROM " + t.name + "), 0))");
  q.bind(1, std::string(t.name));
  return q.step() ? q.integer(0) : 0;
}

// A host that beat within the node timeout may still be running on the
// store: copying under it would miss what it writes next (and opening the
// SQLite store would end its leases).
void refuse_if_running(const std::string& store, const std::optional<std::pair<std::string, int64_t>>& last_beat,
                       std::chrono::milliseconds node_timeout) {
  if (!last_beat) return;
  const int64_t ago = now_ms() - last_beat->second;
  if (ago > node_timeout.count()) return;
  throw StoreError("a host is running on " + store + " (node " + last_beat->first + " beat " +
                       std::to_string(std::max<int64_t>(ago, 0) / 1000) +
                       " s ago): stop every host before moving the store",
                   StoreErrc::kConflict);
}

void refuse_if_not_empty(PgConnection& target) {
  for (const Table& t : kTables)
    if (target.run(std::string("SELECT 1 FROM ") + t.name + " LIMIT 1").rows())
      throw StoreError(std::string("the PostgreSQL store is not empty (table ") + t.name +
                           " has rows): give --force to replace what it holds",
                       StoreErrc::kConflict);
}

}  // namespace

StoreCopySummary copy_sqlite_to_postgres(const StoreCopyOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  if (!std::filesystem::exists(o.sqlite_file))
    throw StoreError("no SQLite store at " + o.sqlite_file.string(), StoreErrc::kNotFound);
  // Everything is checked before the source is opened as a store, which
  // changes it (below): a refused copy leaves it as it was.
  {
    SqliteDatabase source(o.sqlite_file, false);
    SqliteStatement has_nodes(source.handle(), "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'nodes'");
    if (has_nodes.step()) {  // stores older than version 5 had no nodes
      SqliteStatement last(source.handle(), "SELECT id, heartbeat_at FROM nodes ORDER BY heartbeat_at DESC LIMIT 1");
      refuse_if_running(o.sqlite_file.string(),
                        last.step() ? std::optional(std::pair(last.text(0), last.integer(1))) : std::nullopt,
                        o.node_timeout);
    }
  }
  PgConnection target(o.postgres);
  if (target.run("SELECT 1 WHERE to_regclass('nodes') IS NOT NULL").rows()) {  // not before the store's first start
    const PgResult last = target.run("SELECT id, heartbeat_at FROM nodes ORDER BY heartbeat_at DESC LIMIT 1");
    refuse_if_running("the PostgreSQL store",
                      last.rows() ? std::optional(std::pair(last.text(0, 0), last.integer(0, 1))) : std::nullopt,
                      o.node_timeout);
  }
  PostgresStore(PostgresStore::Options{o.postgres}).flush();  // its schema at this binary's version
  if (!o.force) refuse_if_not_empty(target);
  // Opening the SQLite store brings its schema to this binary's version,
  // and releases the leases the host that stopped left in it.
  SqliteStore(SqliteStore::Options{o.sqlite_file}).flush();

  SqliteDatabase source(o.sqlite_file, false);
  target.execute("BEGIN");
  std::string names;
  for (const Table& t : kTables) names += (names.empty() ? "" : ", ") + std::string(t.name);
  if (o.force)
    target.execute("TRUNCATE " + names + ", nodes, holds");
  else
    refuse_if_not_empty(target);  // again, inside the copy's transaction
  // Events appended on PostgreSQL are numbered by their transaction ids
  // (PostgresStore, migration 4): above every copied one.
  const int64_t first_appended =
      target.run("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint * 4194304").integer(0, 0);
  if (const int64_t last = last_number(source, kTables.front()); last >= first_appended)
    throw StoreError("the SQLite store's event numbers reach " + std::to_string(last) +
                         ", past the first position PostgreSQL would give (" + std::to_string(first_appended) + ")",
                     StoreErrc::kConflict);
  StoreCopySummary summary;
  for (const Table& t : kTables) {
    const int64_t total = count(source, t.name);
    std::string placeholders;
    for (size_t i = 1; i <= t.columns.size(); ++i) placeholders += (i > 1 ? ", $" : "$") + std::to_string(i);
    const std::string insert = std::string("INSERT INTO ") + t.name + " (" +
                               joined(t.pg_columns.empty() ? t.columns : t.pg_columns) + ") VALUES (" + placeholders +
                               ")";
    SqliteStatement rows(source.handle(), "SELECT " + joined(t.columns) + " FROM " + t.name);
    int64_t done = 0;
    while (rows.step()) {
      PgParams p;
      for (int c = 0; c < static_cast<int>(t.columns.size()); ++c) {
        if (rows.is_null(c))
          p.null();
        else if (c == t.bytes_column)
          p.bytes(rows.text(c));
        else
          p.text(rows.text(c));
      }
      target.run(insert, p);
      if (++done % 1000 == 0 && o.progress) o.progress(t.name, done, total);
    }
    if (o.progress) o.progress(t.name, done, total);
    if (t.sequence) {
      const int64_t last = last_number(source, t);
      // setval(…, false): the next number is 1 when nothing was ever numbered.
      target.run("SELECT setval($1, $2, $3)",
                 PgParams().text(t.sequence).integer(std::max<int64_t>(last, 1)).text(last > 0 ? "true" : "false"));
    }
    summary.tables.push_back({t.name, done});
  }
  target.execute("COMMIT");
  summary.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  return summary;
}

}  // namespace sb
