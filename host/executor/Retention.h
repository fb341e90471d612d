// How long the store keeps what the host no longer needs, and the thread
// that forgets it, a chunk at a time between other writes:
//
//   events       routed, and received longer ago than `events`: an event id
//                is a duplicate for that long (a sender's retry after it is
//                a new event)
//   executions   done, failed or cancelled longer ago than `executions`; a
//                waiting or in-doubt one is kept however old (a parallel
//                branch goes after its parent, whose join reads it)
//   versions     the rule versions no execution runs any more, but those
//                the config has now (on a store of its own: of several
//                nodes, another may be starting a version it never ran)
//
// Of several nodes sharing the store, one forgets at a time (Store::hold).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/Store.h"

namespace sb {

class Retention {
 public:
  struct Options {
    int64_t events_ms = 0;      // 0: kept for ever
    int64_t executions_ms = 0;  // 0: kept for ever
    std::chrono::milliseconds every{std::chrono::minutes(10)};
    std::string owner = "";  // this node's id, for the hold
    // The versions the config runs now, which are never forgotten; with
    // `forget_versions` false (a shared store) none is.
    std::vector<std::pair<std::string, std::string>> current_versions = {};
    bool forget_versions = true;
    size_t chunk = 1000;  // rows per store call
  };
  struct Forgotten {
    size_t events = 0;
    size_t executions = 0;
    size_t versions = 0;
  };

  Retention(Store& store, Options options);
  ~Retention();
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  bool enabled() const { return options_.events_ms > 0 || options_.executions_ms > 0; }
  void start();  // nothing when not enabled
  void stop();
  // One pass at `now_ms`: everything due, forgotten (tests call it).
  Forgotten forget(int64_t now_ms);

 private:
  void loop();
  bool stopping();

  Store& store_;
  const Options options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sb
