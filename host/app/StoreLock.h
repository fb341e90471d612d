// One host on an embedded store: two processes on one SQLite file would
// each run the same due steps (the leases are this node's alone, not shared
// through PostgreSQL's node table), so a second host on the same file stops
// at start-up, naming the one that holds it.
#pragma once

#include <filesystem>

namespace sb {

class StoreLock {
 public:
  // Takes the lock `<store file>.lock` (created beside it) for this
  // process's life; throws std::runtime_error naming the holder's pid when
  // another process has it. The descriptor is close-on-exec: a child (a
  // text-to-speech engine) never keeps it after the host is gone.
  explicit StoreLock(const std::filesystem::path& store_file);
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace sb
