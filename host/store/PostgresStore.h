// The shared Store: one PostgreSQL database that several hosts use at once.
//
// Writes: one writer thread per host commits every write that arrived while
// the previous commit ran in one transaction (group commit); a write that
// fails undoes only itself (the group runs again with a savepoint per write
// when one failed after changing rows). A lost connection, a deadlock or
// a serialization failure before COMMIT was sent runs the whole group again
// on a new connection (a unit of work may run twice; see Store::transact);
// when COMMIT itself got no answer, the group's writes are told "unavailable"
// (an append is safe to repeat: event ids are idempotency keys).
//
// Event order: hosts append at once. An event's position is its
// transaction's id and its number in it, and events_after returns only
// positions below the oldest transaction of the database still open, so the
// router's cursor never passes an event a slower host commits later. Appends
// lock the ids, contacts and entities they name (or, a large group, the
// whole log) until they commit: no two hosts merge into one record at once.
//
// Reads and claims use a small pool of connections, claims in autocommit
// (SELECT ... FOR UPDATE SKIP LOCKED: hosts never claim the same row).
// A listener connection wakes this host when another one committed work
// (LISTEN/NOTIFY), so latency does not depend on a polling interval.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "store/EventWrites.h"
#include "store/Store.h"
#include "store/WriteQueue.h"

namespace sb {

class PgConnection;
class PgResult;
struct PgStatement;

class PostgresStore final : public Store {
 public:
  struct Options {
    std::string conninfo;  // a libpq connection string or URL (a secret: it may hold the password)
    size_t max_group_writes = 2000;
    std::vector<ContactAggregate> aggregates = {};
    size_t max_readers = 4;  // pooled connections for reads and claims
  };

  // Connects and creates or upgrades the schema. Throws StoreError.
  explicit PostgresStore(Options options);
  ~PostgresStore() override;  // commits what was written, then stops

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
  void transact_on(Finds finds, Work work, WriteCallback done) override;
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
  void on_changes(std::function<void(Change)> changed) override;
  void announce_cancelled(const std::vector<int64_t>& ids) override;
  void on_cancelled(std::function<void(const std::vector<int64_t>&)> cancelled) override;

  void flush() override;
  std::optional<std::string> kv_get(const std::string& ns, const std::string& key) override;
  void kv_put(const std::string& ns, const std::string& key, const std::string& value) override;
  void kv_remove(const std::string& ns, const std::string& key) override;
  void kv_async(KvOp op, std::string ns, std::string key, std::string value, KvDone done) override;

 private:
  class HeldRows;
  class Rows;
  class Events;
  struct Named;
  class AppendLocks;
  // An append's events, and what became of each.
  struct Append {
    std::vector<EventRecord> events;
    std::vector<AppendOutcome> outcomes;
    std::shared_ptr<const EventTypeFilter> derived;  // the implied events it keeps (none: all)
  };
  // One of: statements of its own (`apply`), a unit of work on execution
  // rows (`unit`), or an append.
  struct Write {
    std::function<void(PgConnection&)> apply;
    std::function<void(const StoreStatus&)> done;
    std::shared_ptr<Append> append = {};  // stores events: after the group's other writes, with its appends
    bool wakes = false;                   // `apply`: other hosts may have work once it commits (NOTIFY)
    Work unit = {};
    Finds finds = {};  // rows `unit` finds first, read with the whole group's at once, and state keys it locks
    bool writes_executions = false;         // `apply` changes execution rows (the group's held rows are written first)
    std::vector<std::string> notices = {};  // payloads NOTIFY'd to the other hosts once the group commits
  };
  // Runs `read` on a pooled connection; once more on a new one if the
  // connection was lost (unless `run_again` is false: `read` wrote).
  template <class Read>
  auto with_reader(Read read, bool run_again = true);
  std::unique_ptr<PgConnection> connect() const;
  PgConnection& writer();  // connected, again if it was lost
  void submit(Write write, bool urgent = false);
  void append(std::vector<EventRecord> batch, AppendCallback done, bool urgent);
  void write_and_wait(std::function<void(PgConnection&)> apply);
  void writer_loop();
  void commit_group(std::deque<Write>& group);
  void commit_writes(std::deque<Write>& group, const Named& named);  // `named`: what its appends name
  // One try at the group, with a savepoint per write or without.
  enum class Outcome { kDone, kRunAgain, kNeedsSavepoints };
  Outcome try_group(std::deque<Write>& group, const Named& named, std::vector<StoreStatus>& errors, bool last_try,
                    bool savepoints);
  // The group's appends, in their order: for them all, the reads in one
  // round trip (after BEGIN and `locks`, when `begin`), and the writes
  // returned, to go with the COMMIT; or (savepoints) each in its own
  // statements, run here, when a value was refused. `named`: what they name.
  std::vector<PgStatement> store_appends(PgConnection& db, std::deque<Write>& group, std::vector<StoreStatus>& errors,
                                         bool savepoints, bool begin, const Named& named, AppendLocks& locks);

  // The listener thread: wakes this host on the other hosts' commits, and
  // again while events wait for older transactions (hold_back).
  void listen();
  void changed(Change change);  // runs the on_changes callback, if one is set
  // events_after found events it may not return yet (committed while an
  // older transaction is still open): the listener says "events" again
  // after 1, 2, 4, 8, 8 ... ms, since a transaction that appends nothing ends
  // without a notification. Held back for long, it names the transaction.
  void hold_back(PgConnection& db);
  // events_after's reading: `columns` of `events e` and its `joins`, each
  // row made a StoredEvent by `read_row` (the columns from 1).
  using EventRow = std::function<StoredEvent(const PgResult&, int)>;
  std::vector<StoredEvent> visible_events_after(int64_t seq, size_t limit, const std::string& columns,
                                                const std::string& joins, const EventRow& read_row);
  void caught_up();  // events_after returned the oldest events there are

  Options options_;
  DerivedEventTypes derived_;
  std::unique_ptr<PgConnection> writer_;  // the writer thread's; null after it was lost
  std::atomic<int> writer_pid_{0};        // its server process: notifications from it are this host's own
  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<PgConnection>> idle_readers_;
  WriteQueue<Write> queue_{options_.max_group_writes};
  std::thread thread_;
  std::mutex changed_mutex_;
  std::function<void(Change)> changed_;
  std::function<void(const std::vector<int64_t>&)> cancelled_;  // under changed_mutex_ too
  std::string channel_;                                         // LISTEN/NOTIFY's, quoted
  int stop_listening_ = -1;                                     // an eventfd that ends the listener's poll
  int recheck_ = -1;                                            // an eventfd: hold_back was called
  std::atomic<bool> held_back_{false};
  std::atomic<int> recheck_ms_{1};         // the listener's next wait before it says "events" again
  std::atomic<int64_t> held_since_ms_{0};  // since when events_after returns nothing for an open transaction
  std::atomic<bool> told_held_{false};     // ... and that was logged
  std::thread listener_;
};

}  // namespace sb
