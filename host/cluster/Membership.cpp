#include "cluster/Membership.h"

#include <future>

#include "log/Logger.h"
#include "util/ThreadName.h"
#include "util/Time.h"

namespace sb {

Membership::Membership(Store& store, NodeRecord self, Options options, std::function<void()> taken_over)
    : store_(store), self_(std::move(self)), options_(options), taken_over_(std::move(taken_over)) {}

Membership::~Membership() { stop(); }

void Membership::start() {
  if (thread_.joinable()) return;
  // The first heartbeat before the node says it is listening: it is listed from then on.
  try {
    beat(now_ms());
  } catch (const std::exception& e) {
    log_warn("cluster", "heartbeat failed", {{"error", e.what()}});
  }
  thread_ = std::thread([this] {
    name_this_thread("sb-cluster");
    loop();
  });
}

void Membership::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Membership::loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, options_.heartbeat, [&] { return stopping_; })) {
    lock.unlock();
    try {
      beat(now_ms());
    } catch (const std::exception& e) {  // the store is away: the next beat tries again
      log_warn("cluster", "heartbeat failed", {{"error", e.what()}});
    }
    lock.lock();
  }
}

namespace {
StoreStatus wait(const std::function<void(Store::WriteCallback)>& write) {
  std::promise<StoreStatus> done;
  write([&](StoreStatus s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}
}  // namespace

void Membership::beat(int64_t now) {
  try {
    beat_and_take_over(now);
  } catch (const std::exception&) {
    failing_ = true;
    throw;
  }
}

void Membership::beat_and_take_over(int64_t now) {
  NodeRecord beat = self_;
  beat.heartbeat_at_ms = now;
  if (StoreStatus s = wait([&](auto done) { store_.beat(beat, done); }); !s.ok()) throw StoreError(s.message, s.code);
  // Back from a store that was away: the other nodes could not beat either.
  // They are judged once they have had a node_timeout to beat again (from
  // this first beat that worked: a failed one may have hung that long), or
  // every node would take over every other's steps and send them twice.
  if (failing_) {
    failing_ = false;
    back_at_ms_ = now;
  }
  if (back_at_ms_ && now - *back_at_ms_ < options_.node_timeout.count()) return;
  bool took_over = false;
  for (const NodeRecord& node : store_.nodes()) {
    if (node.id == self_.id || alive(node, now)) continue;
    // Only if it has not beaten since it was read: a node slow for a
    // moment, not dead, keeps its leases.
    const StoreStatus s = wait([&](auto done) { store_.end_leases(node.id, now, node.heartbeat_at_ms, done); });
    if (s.code == StoreErrc::kConflict) continue;
    if (!s.ok()) throw StoreError(s.message, s.code);
    log_warn("cluster", "node stopped beating: its steps are taken over",
             {{"node", node.id}, {"last_heartbeat", format_time_ms(node.heartbeat_at_ms)}, {"leases", node.claims}});
    took_over = took_over || node.claims > 0;
  }
  if (took_over && taken_over_) taken_over_();
}

}  // namespace sb
