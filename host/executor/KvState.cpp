#include "executor/KvState.h"

#include "store/Store.h"

namespace sb {

KvState::KvState(KeyValueStore& kv, std::string ns) : kv_(kv), ns_(std::move(ns)) {}

std::optional<std::string> KvState::get(const std::string& key) {
  {
    std::lock_guard lock(pending_->mutex);
    if (auto it = pending_->by_key.find(key); it != pending_->by_key.end()) return it->second.value;
  }
  return kv_.kv_get(ns_, key);
}

void KvState::put(const std::string& key, std::string value) {
  {
    std::lock_guard lock(pending_->mutex);
    Pending::Write& write = pending_->by_key[key];
    write.value = value;
    ++write.writes;
  }
  // Not under the lock: a store that is stopping answers at once, on this thread.
  kv_.kv_async(KeyValueStore::KvOp::kPut, ns_, key, std::move(value),
               [pending = pending_, key](const StoreStatus&, const std::optional<std::string>&) {
                 std::lock_guard lock(pending->mutex);
                 if (auto it = pending->by_key.find(key); it != pending->by_key.end() && --it->second.writes == 0)
                   pending->by_key.erase(it);
               });
}

}  // namespace sb
