// Moving a store from SQLite to PostgreSQL (`switchboard migrate-store`),
// while no host runs on either: every table row by row, waiting executions,
// their leases' absence and the sequence numbers included, in one
// PostgreSQL transaction (a copy that fails leaves the target as it was).
// Executions keep their ids, and events their sequence numbers, so the
// router's position and the idempotency keys mean the same afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace sb {

struct CopiedTable {
  std::string name;
  int64_t rows = 0;
};

struct StoreCopyOptions {
  std::filesystem::path sqlite_file;
  std::string postgres;  // the connection string (a secret)
  bool force = false;    // empty a target that has rows, instead of refusing
  // A host that beat this recently on either store may still be running there: refused.
  std::chrono::milliseconds node_timeout{10000};
  // Called as rows are copied: the table, rows of it copied, rows it has.
  std::function<void(const std::string& table, int64_t done, int64_t total)> progress = {};
};

struct StoreCopySummary {
  std::vector<CopiedTable> tables;
  std::chrono::milliseconds took{0};
};

// Throws StoreError: the source cannot be read, a host is running on either
// store, the target has rows (and not `force`), or the copy failed (nothing
// of it is committed).
StoreCopySummary copy_sqlite_to_postgres(const StoreCopyOptions& options);

}  // namespace sb
