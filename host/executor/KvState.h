// The host's own state in one key-value namespace of the store, for the
// executor's decisions that span executions (frequency caps, digests):
// reads see every write made through this object, even those still on their
// way to disk, and writes reach the store in the order they were made. No
// call waits for a commit. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sb {

class KeyValueStore;

class KvState {
 public:
  KvState(KeyValueStore& kv, std::string ns);

  std::optional<std::string> get(const std::string& key);
  void put(const std::string& key, std::string value);

  // Held across a read and the write that depends on it, so that two
  // threads do not both decide from the same state.
  std::mutex& decision_mutex() { return decide_; }

 private:
  KeyValueStore& kv_;
  const std::string ns_;
  std::mutex decide_;
  // Written, not yet on disk; shared with the store's callbacks, which may
  // run after this object is gone.
  struct Pending {
    std::mutex mutex;
    struct Write {
      std::string value;
      int writes = 0;
    };
    std::unordered_map<std::string, Write> by_key;
  };
  const std::shared_ptr<Pending> pending_ = std::make_shared<Pending>();
};

}  // namespace sb
