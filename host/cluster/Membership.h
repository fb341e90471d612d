// This node among the others sharing the store. A thread writes its
// heartbeat every `heartbeat`, and ends the leases of any node whose
// heartbeat is older than `node_timeout`: a node that died mid-step has its
// steps taken over by the others, with the same idempotency keys, as soon as
// it is known dead rather than when each lease runs out. A node only late
// (a long pause) finds its leases gone: its results are refused, and the
// step may run twice (at least once; see docs/architecture.md).
//
// Heartbeats are compared with this node's clock: the nodes' clocks must
// agree to well within `node_timeout`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "store/Store.h"

namespace sb {

class Membership {
 public:
  struct Options {
    std::chrono::milliseconds heartbeat{1000};
    std::chrono::milliseconds node_timeout{10000};
  };
  // `taken_over` runs when a dead node's leases were ended (its steps are due).
  Membership(Store& store, NodeRecord self, Options options, std::function<void()> taken_over);
  ~Membership();  // stop()

  void start();
  void stop();
  // One heartbeat at `now_ms`, and the dead nodes' leases ended (tests call
  // it). Throws when the store is away.
  void beat(int64_t now_ms);

  const NodeRecord& self() const { return self_; }
  bool alive(const NodeRecord& node, int64_t now_ms) const {
    return now_ms - node.heartbeat_at_ms <= options_.node_timeout.count();
  }

 private:
  void loop();
  void beat_and_take_over(int64_t now_ms);

  Store& store_;
  NodeRecord self_;
  const Options options_;
  std::function<void()> taken_over_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  // Beats are on one thread at a time (start, then the loop's).
  bool failing_ = false;               // the last beat failed
  std::optional<int64_t> back_at_ms_;  // the first beat that worked after one that failed
  std::thread thread_;
};

}  // namespace sb
