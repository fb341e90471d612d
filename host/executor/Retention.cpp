#include "executor/Retention.h"

#include "log/Logger.h"
#include "util/ThreadName.h"
#include "util/Time.h"

namespace sb {

namespace {

// What an execution ends in: it runs no more steps, and nothing resumes it.
const std::vector<ExecutionState> kEnded{ExecutionState::kDone, ExecutionState::kFailed, ExecutionState::kCancelled};

}  // namespace

Retention::Retention(Store& store, Options options) : store_(store), options_(std::move(options)) {}

Retention::~Retention() { stop(); }

void Retention::start() {
  if (!enabled()) return;
  thread_ = std::thread([this] {
    name_this_thread("sb-retention");
    loop();
  });
}

void Retention::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Retention::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void Retention::loop() {
  std::unique_lock lock(mutex_);
  // Not at once: a host starting up has other work first.
  while (!wake_.wait_for(lock, options_.every, [this] { return stopping_; })) {
    lock.unlock();
    try {
      // Held for three passes, so that a late pass keeps it.
      const int64_t now = now_ms();
      if (options_.owner.empty() || store_.hold("retention", options_.owner, now, now + 3 * options_.every.count())) {
        const Forgotten f = forget(now);
        if (f.events || f.executions || f.versions)
          log_info("store", "forgot what the retention no longer keeps",
                   {{"events", f.events}, {"executions", f.executions}, {"rule_versions", f.versions}});
      }
    } catch (const std::exception& e) {
      log_error("store", "forgetting old events and executions failed; the next pass tries again",
                {{"error", e.what()}});
    }
    lock.lock();
  }
}

Retention::Forgotten Retention::forget(int64_t now_ms) {
  Forgotten out;
  if (options_.events_ms > 0)
    // Until a chunk of the oldest has none to forget: one newer event among
    // them (a clock behind) holds back only itself.
    for (size_t n = options_.chunk; n > 0 && !stopping();) {
      n = store_.forget_events(now_ms - options_.events_ms, options_.chunk);
      out.events += n;
    }
  if (options_.executions_ms > 0) {
    // From the first every time: an execution that waited long (skipped
    // before) may have ended since. Later ids began later: once one began
    // after the limit, none after it ended before.
    const int64_t before = now_ms - options_.executions_ms;
    for (Store::ExecutionsLookedAt seen{.last_id = 0}; !stopping();) {
      seen = store_.forget_executions(kEnded, before, seen.last_id, options_.chunk);
      out.executions += seen.removed;
      if (seen.looked_at < options_.chunk || seen.last_created_at >= before) break;
    }
  }
  if (options_.forget_versions && out.executions > 0)
    out.versions = store_.forget_rule_versions(options_.current_versions);
  return out;
}

}  // namespace sb
