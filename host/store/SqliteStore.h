// The embedded Store: one SQLite file in WAL mode. One writer thread commits
// every write that arrived while the previous commit was syncing in a single
// transaction (group commit), so durability costs one fsync per group, not
// per request; each write keeps its own all-or-nothing savepoint. Reads use a
// connection of their own. One file serves one host: leases left by a host
// that died are released when the file is opened again.
#pragma once

#include <atomic>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "store/EventWrites.h"
#include "store/Store.h"
#include "store/WriteQueue.h"

namespace sb {

class SqliteDatabase;

class SqliteStore final : public Store {
 public:
  struct Options {
    std::filesystem::path file;
    // FULL: a commit survives power loss; NORMAL: process crashes only.
    bool synchronous_full = true;
    size_t max_group_writes = 2000;                 // writes per transaction, at most
    std::vector<ContactAggregate> aggregates = {};  // kept per contact as events come
  };

  // Creates or upgrades the schema. Throws StoreError.
  explicit SqliteStore(Options options);
  ~SqliteStore() override;  // commits what was written, then stops

  void append_events(std::vector<EventRecord> batch, AppendCallback done) override;
  void derive_only(EventTypeFilter wanted) override;
  std::vector<StoredEvent> events_after(int64_t seq, size_t limit) override;
  std::vector<StoredEvent> event_heads_after(int64_t seq, size_t limit) override;
  std::optional<StoredContact> contact(const std::string& key) override;
  std::optional<StoredEntity> entity(const std::string& type, const std::string& id) override;
  std::vector<StoredContact> contacts_page(const RecordQuery& query) override;
  std::vector<StoredEntity> entities_page(const RecordQuery& query) override;
  std::vector<MessageReport> message_reports(const std::vector<std::string>& message_ids) override;
  std::vector<GoalReached> goals_reached(const std::vector<std::string>& contact_keys, int64_t since_ms) override;

  int64_t routed_up_to() override;
  void transact(Work work, WriteCallback done) override;
  void transact_urgent(Work work, WriteCallback done) override;
  void append_events_urgent(std::vector<EventRecord> batch, AppendCallback done) override;
  std::vector<ExecutionRow> claim_due(const DueClaim& claim) override;
  std::optional<int64_t> next_due_ms() override;
  std::optional<ExecutionRow> execution(int64_t id) override;
  void save_rule_versions(std::vector<RuleVersion> versions, WriteCallback done) override;
  std::optional<RuleVersion> rule_version(const std::string& rule, const std::string& version) override;
  std::vector<RuleVersion> awaited_rule_versions() override;
  std::vector<RuleVersion> rule_versions() override;
  std::vector<std::pair<std::string, std::string>> rule_version_names() override;
  size_t forget_events(int64_t before_ms, size_t limit) override;
  ExecutionsLookedAt forget_executions(const std::vector<ExecutionState>& states, int64_t before_ms, int64_t after_id,
                                       size_t limit) override;
  size_t forget_rule_versions(const std::vector<std::pair<std::string, std::string>>& keep) override;
  std::vector<ExecutionRow> executions(const ExecutionQuery& query) override;
  void beat(const NodeRecord& node, WriteCallback done) override;
  std::vector<NodeRecord> nodes() override;
  void end_leases(const std::string& owner, int64_t now_ms, std::optional<int64_t> last_heartbeat_ms,
                  WriteCallback done) override;
  bool hold(const std::string& name, const std::string& owner, int64_t now_ms, int64_t until_ms) override;

  void flush() override;
  std::optional<std::string> kv_get(const std::string& ns, const std::string& key) override;
  void kv_put(const std::string& ns, const std::string& key, const std::string& value) override;
  void kv_remove(const std::string& ns, const std::string& key) override;
  void kv_async(KvOp op, std::string ns, std::string key, std::string value, KvDone done) override;

  // Transactions committed so far (each holds one or more writes).
  uint64_t commits() const;

 private:
  struct Writer;  // the writer connection and its prepared statements
  struct Reader;  // the reading connection and the statements read at every turn
  class Rows;     // a unit of work's view of them
  // One write: applied inside the group's transaction (throws StoreError to
  // undo just itself), then told the outcome once the group committed.
  struct Write {
    std::function<void(Writer&)> apply;
    std::function<void(const StoreStatus&)> done;
  };
  void submit(Write write, bool urgent = false);
  void append(std::vector<EventRecord> batch, AppendCallback done, bool urgent);
  static Write unit_of(Work work, WriteCallback done);  // a unit of work as a write
  // Submits and returns once committed; throws StoreError when it was not.
  void write_and_wait(std::function<void(Writer&)> apply);
  void writer_loop();
  void commit_group(std::deque<Write>& group);
  // One try at it; false when a write failed without savepoints (nothing committed).
  bool run_group(std::deque<Write>& group, std::vector<StoreStatus>& errors, bool savepoints);

  Options options_;
  DerivedEventTypes derived_;
  std::unique_ptr<Writer> writer_;
  std::mutex read_mutex_;
  std::unique_ptr<Reader> reader_;
  WriteQueue<Write> queue_{options_.max_group_writes};
  std::atomic<uint64_t> commits_{0};
  std::thread thread_;
};

}  // namespace sb
