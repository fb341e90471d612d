// The host's durable state behind one narrow interface: events (appended in
// groups, one fsync for many requests), and the contacts and entities they
// describe. SQLite is the embedded backend (SqliteStore); a PostgreSQL backend
// shared by several hosts implements the same interface.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sb {

// What an event says about the person it concerns; merged into the stored
// contact (JSON merge patch: a null field removes it).
struct ContactUpdate {
  std::string key;        // "id:<id>", "email:<address>" or "phone:<number>"
  std::string data_json;  // the event's contact object
};

// What an event says about the lead, deal, booking or task it concerns.
struct EntityUpdate {
  std::string type;
  std::string id;
  bool sets_status = false;           // the event says which status it is in now
  std::optional<std::string> status;  // that status; none = "no status"
  std::string data_json;              // the event's entity object, merged like a contact
};

struct EventRecord {
  std::string id;      // the idempotency key: a repeated id is a duplicate
  std::string type;    // "lead.status_changed"
  std::string source;  // "api" or the emitting plugin instance
  int64_t occurred_at_ms = 0;
  int64_t received_at_ms = 0;
  std::string body_json;  // the whole event as accepted
  std::optional<ContactUpdate> contact;
  std::optional<EntityUpdate> entity;
};

enum class AppendOutcome { kStored, kDuplicate };

struct AppendResult {
  std::string error;                    // empty when the batch is committed
  std::vector<AppendOutcome> outcomes;  // one per event of the batch, in order
  bool ok() const { return error.empty(); }
};

struct StoredEvent {
  int64_t seq = 0;  // commit order
  EventRecord record;
};

struct StoredContact {
  std::string key;
  std::string data_json;
};

struct StoredEntity {
  std::string type, id;
  std::optional<std::string> status;
  std::string data_json;
};

class Store {
 public:
  using AppendCallback = std::function<void(AppendResult)>;
  virtual ~Store() = default;

  // Stores a batch all or nothing: new events with their contact and entity
  // updates; events whose id is already stored (or repeated in the batch) are
  // duplicates and change nothing. `done` runs once the batch is durably
  // committed (or failed), on a store thread; it must not block.
  virtual void append_events(std::vector<EventRecord> batch, AppendCallback done) = 0;

  // Events in commit order, after `seq`.
  virtual std::vector<StoredEvent> events_after(int64_t seq, size_t limit) = 0;
  virtual std::optional<StoredContact> contact(const std::string& key) = 0;
  virtual std::optional<StoredEntity> entity(const std::string& type, const std::string& id) = 0;
};

}  // namespace sb
