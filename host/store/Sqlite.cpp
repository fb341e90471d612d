#include "store/Sqlite.h"

namespace sb {

namespace {
[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw StoreError(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}
}  // namespace

// A binding that failed leaves the statement reset, its bindings cleared: a
// kept statement must not go on pointing at borrowed text, which a later
// use that binds fewer parameters would read.
void SqliteStatement::fail_to_bind(int index) {
  const StoreError error("cannot bind parameter " + std::to_string(index) + ": " + sqlite3_errmsg(db_));
  reset();
  throw error;
}

SqliteStatement::SqliteStatement(sqlite3* db, std::string_view sql) : db_(db) {
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &statement_,
                         nullptr) != SQLITE_OK)
    fail(db, "cannot prepare '" + std::string(sql.substr(0, 60)) + "'");
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(statement_); }

SqliteStatement& SqliteStatement::bind(int index, std::string_view text) {
  if (sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    fail_to_bind(index);
  return *this;
}

SqliteStatement& SqliteStatement::bind_borrowed(int index, std::string_view text) {
  if (sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC) != SQLITE_OK)
    fail_to_bind(index);
  return *this;
}

SqliteStatement& SqliteStatement::bind(int index, int64_t value) {
  if (sqlite3_bind_int64(statement_, index, value) != SQLITE_OK) fail_to_bind(index);
  return *this;
}

SqliteStatement& SqliteStatement::bind(int index, double value) {
  if (sqlite3_bind_double(statement_, index, value) != SQLITE_OK) fail_to_bind(index);
  return *this;
}

SqliteStatement& SqliteStatement::bind_null(int index) {
  if (sqlite3_bind_null(statement_, index) != SQLITE_OK) fail_to_bind(index);
  return *this;
}

bool SqliteStatement::step() {
  const int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string sql = sqlite3_sql(statement_) ? sqlite3_sql(statement_) : "";
  reset();  // bindings too: the next use starts clean
  fail(db_, "statement failed '" + sql.substr(0, 60) + "'");
}

int SqliteStatement::run() {
  while (step()) {
  }
  const int changed = sqlite3_changes(db_);
  reset();
  return changed;
}

int64_t SqliteStatement::insert() { return run() == 1 ? sqlite3_last_insert_rowid(db_) : 0; }

void SqliteStatement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

int64_t SqliteStatement::integer(int column) const { return sqlite3_column_int64(statement_, column); }

double SqliteStatement::real(int column) const { return sqlite3_column_double(statement_, column); }

std::string SqliteStatement::text(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(statement_, column))) : std::string();
}

bool SqliteStatement::is_null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }

SqliteDatabase::SqliteDatabase(const std::filesystem::path& file, bool synchronous_full) : file_(file) {
  // SQLite counts every allocation under one global mutex, for statistics
  // nothing here reads: 12 % of the store writer's time. Only possible
  // before the library's first use, so once, before the first open.
  static const int memory_statistics_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)memory_statistics_off;
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw StoreError("cannot open store " + file.string() + ": " + why);
  }
  // Statements' cells, records and cursors from the connection's own slots
  // (768 KiB) rather than malloc: the default slots ran out with the kept
  // statements' allocations, and a campaign's execution made 60 mallocs in
  // the writer. Measured with callgrind: 7 % of the writer's work; three
  // hundred slots of 1200 bytes gained nothing, 3,000 of 512 no more.
  (void)sqlite3_db_config(db_, SQLITE_DBCONFIG_LOOKASIDE, nullptr, 512, 1500);  // else the default slots
  // Another connection (the KV store, a reader) may hold the write lock for
  // a moment: wait for it rather than fail.
  sqlite3_busy_timeout(db_, 5000);
  execute("PRAGMA journal_mode=WAL");
  execute(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  execute("PRAGMA foreign_keys=ON");
  // Each write of a group commit runs in a savepoint, whose undo journal
  // (the original of every page it touches) spilled to a temporary file
  // beyond 64 KiB: two write syscalls per page, more than the WAL itself.
  execute("PRAGMA temp_store=MEMORY");
}

SqliteDatabase::~SqliteDatabase() { sqlite3_close_v2(db_); }

void SqliteDatabase::execute(std::string_view sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    throw StoreError("store statement failed: " + why);
  }
}

}  // namespace sb
