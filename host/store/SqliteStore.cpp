#include "store/SqliteStore.h"

#include "log/Logger.h"
#include "store/Sqlite.h"

namespace sb {

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  source TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  body TEXT NOT NULL
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
)sql";

}  // namespace

struct SqliteStore::Writer {
  SqliteDatabase db;
  SqliteStatement insert_event;
  SqliteStatement upsert_contact;
  SqliteStatement upsert_entity;
  SqliteStatement upsert_entity_keep_status;

  explicit Writer(const Options& o)
      : db(o.file, o.synchronous_full),
        insert_event(prepare_schema(db),
                     "INSERT INTO events (id, type, source, occurred_at, received_at, body) VALUES (?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (id) DO NOTHING"),
        // Fields merge as a JSON merge patch: what the event does not mention is kept.
        upsert_contact(db.handle(),
                       "INSERT INTO contacts (key, data, updated_at) VALUES (?1, json(?2), ?3) "
                       "ON CONFLICT (key) DO UPDATE SET data = json_patch(contacts.data, excluded.data), "
                       "updated_at = excluded.updated_at"),
        upsert_entity(db.handle(),
                      "INSERT INTO entities (type, id, status, data, updated_at) VALUES (?1, ?2, ?3, json(?4), ?5) "
                      "ON CONFLICT (type, id) DO UPDATE SET status = excluded.status, "
                      "data = json_patch(entities.data, excluded.data), updated_at = excluded.updated_at"),
        upsert_entity_keep_status(db.handle(),
                                  "INSERT INTO entities (type, id, status, data, updated_at) "
                                  "VALUES (?1, ?2, NULL, json(?3), ?4) "
                                  "ON CONFLICT (type, id) DO UPDATE SET "
                                  "data = json_patch(entities.data, excluded.data), updated_at = excluded.updated_at") {
  }

  // Runs before the statements are prepared: they need the tables.
  static sqlite3* prepare_schema(SqliteDatabase& db) {
    db.execute(kSchema);
    db.execute("PRAGMA user_version = " + std::to_string(kSchemaVersion));
    return db.handle();
  }

  AppendOutcome store(const EventRecord& e) {
    insert_event.bind(1, e.id).bind(2, e.type).bind(3, e.source);
    insert_event.bind(4, e.occurred_at_ms).bind(5, e.received_at_ms).bind(6, e.body_json);
    if (insert_event.run() == 0) return AppendOutcome::kDuplicate;
    if (e.contact) upsert_contact.bind(1, e.contact->key).bind(2, e.contact->data_json).bind(3, e.received_at_ms).run();
    if (e.entity && e.entity->sets_status) {
      upsert_entity.bind(1, e.entity->type).bind(2, e.entity->id);
      if (e.entity->status)
        upsert_entity.bind(3, *e.entity->status);
      else
        upsert_entity.bind_null(3);
      upsert_entity.bind(4, e.entity->data_json).bind(5, e.received_at_ms).run();
    } else if (e.entity) {
      upsert_entity_keep_status.bind(1, e.entity->type).bind(2, e.entity->id);
      upsert_entity_keep_status.bind(3, e.entity->data_json).bind(4, e.received_at_ms).run();
    }
    return AppendOutcome::kStored;
  }
};

SqliteStore::SqliteStore(Options options) : options_(std::move(options)) {
  writer_ = std::make_unique<Writer>(options_);
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

void SqliteStore::append_events(std::vector<EventRecord> batch, AppendCallback done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      pending_.push_back({std::move(batch), std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  done(AppendResult{"the store is shutting down", {}});
}

uint64_t SqliteStore::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

void SqliteStore::writer_loop() {
  for (;;) {
    std::deque<Pending> group;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, and everything committed
      // Everything that arrived while the last commit synced, up to a bound.
      size_t events = 0;
      while (!pending_.empty() &&
             (group.empty() || events + pending_.front().batch.size() <= options_.max_group_events)) {
        events += pending_.front().batch.size();
        group.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    commit_group(group);
  }
}

void SqliteStore::commit_group(std::deque<Pending>& group) {
  std::vector<AppendResult> results(group.size());
  try {
    writer_->db.execute("BEGIN IMMEDIATE");
    for (size_t i = 0; i < group.size(); ++i) {
      // A savepoint per batch: one batch that fails does not take the
      // others of its group with it.
      writer_->db.execute("SAVEPOINT batch");
      try {
        for (const EventRecord& e : group[i].batch) results[i].outcomes.push_back(writer_->store(e));
        writer_->db.execute("RELEASE batch");
      } catch (const StoreError& e) {
        writer_->db.execute("ROLLBACK TO batch");
        writer_->db.execute("RELEASE batch");
        results[i] = AppendResult{e.what(), {}};
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
    for (auto& r : results) r = AppendResult{std::string("the store could not commit: ") + e.what(), {}};
  }
  for (size_t i = 0; i < group.size(); ++i) {
    try {
      group[i].done(std::move(results[i]));
    } catch (const std::exception& e) {
      log_error("store", "append callback threw", {{"error", e.what()}});
    }
  }
}

std::vector<StoredEvent> SqliteStore::events_after(int64_t seq, size_t limit) {
  std::lock_guard lock(read_mutex_);
  SqliteStatement q(reader_->handle(),
                    "SELECT seq, id, type, source, occurred_at, received_at, body FROM events WHERE seq > ? "
                    "ORDER BY seq LIMIT ?");
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

}  // namespace sb
