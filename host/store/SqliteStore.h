// The embedded Store: one SQLite file in WAL mode. One writer thread commits
// every batch that arrived while the previous commit was syncing in a single
// transaction (group commit), so durability costs one fsync per group, not
// per request. Reads use a connection of their own.
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "store/Store.h"

namespace sb {

class SqliteDatabase;
class SqliteStatement;

class SqliteStore final : public Store {
 public:
  struct Options {
    std::filesystem::path file;
    // FULL: a commit survives power loss; NORMAL: process crashes only.
    bool synchronous_full = true;
    size_t max_group_events = 10000;  // events per transaction, at most
  };

  // Creates or upgrades the schema. Throws StoreError.
  explicit SqliteStore(Options options);
  ~SqliteStore() override;  // commits what was appended, then stops

  void append_events(std::vector<EventRecord> batch, AppendCallback done) override;
  std::vector<StoredEvent> events_after(int64_t seq, size_t limit) override;
  std::optional<StoredContact> contact(const std::string& key) override;
  std::optional<StoredEntity> entity(const std::string& type, const std::string& id) override;

  // Transactions committed so far (each holds one or more batches).
  uint64_t commits() const;

 private:
  struct Pending {
    std::vector<EventRecord> batch;
    AppendCallback done;
  };
  struct Writer;  // the writer connection and its prepared statements
  void writer_loop();
  void commit_group(std::deque<Pending>& group);

  Options options_;
  std::unique_ptr<Writer> writer_;
  std::mutex read_mutex_;
  std::unique_ptr<SqliteDatabase> reader_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  uint64_t commits_ = 0;
  std::thread thread_;
};

}  // namespace sb
