// What storing one event means, the same on every backend: the status before
// it (what a status trigger compares with), its contact and entity merged
// (RFC 7386, in C++), the tags, segments and aggregates it changes, and the
// events those changes imply (RecordChanges.h). A backend supplies only the
// row reads and writes, inside the unit that stores the batch.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/Store.h"

namespace sb {

class EventRows {
 public:
  struct Entity {
    std::optional<std::string> status;
    std::string data_json;
    std::string contact_key = {};  // the contact it is about ("" = none known)
  };
  virtual ~EventRows() = default;
  virtual std::optional<Entity> entity(const std::string& type, const std::string& id) = 0;
  virtual std::optional<std::string> contact(const std::string& key) = 0;  // its data
  // The contact an alias ("email:<address>", "phone:<number>") was learned
  // for, if any; and learning one (an alias keeps the contact it has).
  virtual std::optional<std::string> contact_of(const std::string& alias) = 0;
  virtual void put_alias(const std::string& alias, const std::string& key) = 0;
  // A contact absorbed into another: its row goes, its aliases are the other's.
  virtual void remove_contact(const std::string& key) = 0;
  virtual void repoint_aliases(const std::string& from_key, const std::string& to_key) = 0;
  // The event's row alone, with the status change it made (when it created
  // its entity or set its status). False when its id is stored already.
  virtual bool insert_event(const EventRecord& e, const std::optional<StatusChange>& change) = 0;
  // The source of the event stored with `id` (earlier in the batch too), if any.
  virtual std::optional<std::string> event_source(const std::string& id) = 0;
  virtual void put_contact(const std::string& key, const std::string& data_json, int64_t at_ms) = 0;
  virtual void put_entity(const std::string& type, const std::string& id, const std::optional<std::string>& status,
                          const std::string& data_json, const std::string& contact_key, int64_t at_ms) = 0;
};

// The types of implied events a store keeps (Store::derive_only), read by
// each append as it is submitted: every type until set.
class DerivedEventTypes {
 public:
  void set(EventTypeFilter wanted) {
    auto filter = std::make_shared<const EventTypeFilter>(std::move(wanted));
    std::lock_guard lock(mutex_);
    wanted_ = std::move(filter);
  }
  std::shared_ptr<const EventTypeFilter> get() const {
    std::lock_guard lock(mutex_);
    return wanted_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const EventTypeFilter> wanted_;
};

// Stores `e` through `rows`, with the events it implies that `derived`
// (when set) wants. Throws StoreError (kInvalid) on malformed JSON.
AppendOutcome store_event(EventRows& rows, const EventRecord& e, const std::vector<ContactAggregate>& aggregates,
                          const EventTypeFilter* derived = nullptr);

}  // namespace sb
