// A thin RAII layer over the SQLite C API: a connection and prepared
// statements that are reset after each use. Errors throw StoreError with
// SQLite's message. Not thread-safe: one connection per thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "store/Store.h"

namespace sb {

class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, std::string_view sql);
  ~SqliteStatement();
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // Parameters are 1-based, as in SQLite. Text is copied by SQLite.
  SqliteStatement& bind(int index, std::string_view text);
  // Text SQLite reads in place: it must stay alive and unchanged until the
  // statement is reset (its run() or insert() returns). The copies were a
  // twentieth of the store writer's work.
  SqliteStatement& bind_borrowed(int index, std::string_view text);
  SqliteStatement& bind_borrowed(int index, std::string&& text) = delete;  // a temporary dies first
  SqliteStatement& bind_borrowed(int index, const char* text) { return bind_borrowed(index, std::string_view(text)); }
  SqliteStatement& bind(int index, int64_t value);
  SqliteStatement& bind(int index, double value);
  SqliteStatement& bind_null(int index);

  // True while a row is available (read it with the column functions).
  bool step();
  // Runs to completion and resets; the number of rows changed.
  int run();
  // Runs an INSERT of one row into a rowid table and resets; the row's
  // rowid, or 0 when it inserted none (ON CONFLICT DO NOTHING). Cheaper than
  // RETURNING, which SQLite runs through a table of the returned rows (half
  // of an execution's insert).
  int64_t insert();
  void reset();

  int64_t integer(int column) const;
  double real(int column) const;
  std::string text(int column) const;
  bool is_null(int column) const;

 private:
  [[noreturn]] void fail_to_bind(int index);

  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
};

// A kept statement's use: it is reset when the use ends, however it ends.
// A statement left in the middle of its rows keeps its read transaction open,
// and the WAL cannot be checkpointed past it.
class StatementUse {
 public:
  explicit StatementUse(SqliteStatement& statement) : statement_(statement) {}
  ~StatementUse() { statement_.reset(); }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;
  SqliteStatement& statement() const { return statement_; }

 private:
  SqliteStatement& statement_;
};

class SqliteDatabase {
 public:
  // Opens (creating the file and its folder) in WAL mode. `synchronous_full`
  // makes every commit durable across power loss, not just process crashes.
  SqliteDatabase(const std::filesystem::path& file, bool synchronous_full);
  ~SqliteDatabase();
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  void execute(std::string_view sql);  // one or more statements, no results
  sqlite3* handle() { return db_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
};

}  // namespace sb
