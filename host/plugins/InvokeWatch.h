// Which plugin call each thread is inside, for what the host must say when
// a plugin misbehaves where it cannot be stopped: one that blocks in
// on_action_invoke holds up every step queued behind it, and one that
// crashes the process would crash it again, at its next start, when its
// step is taken up in doubt.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb {

struct CallSubject;

namespace invoke_watch {

// A call into a plugin, as a thread is in it.
struct Call {
  std::string plugin, instance, entry;  // entry: the action, or "on_instance_create" ...
  std::string rule, step;
  int64_t execution_id = 0;
  int64_t running_ms = 0;  // for how long (a steady clock's)
  std::string identity;    // the same for one call however often it is seen
};

// Marks this thread inside a call into a plugin while it lives. Not nested:
// a plugin that calls the host back is still in its own call.
class Scope {
 public:
  // A call of `kMayTakeItsTime` ([control]: on_instance_create, start) is
  // noted if it crashes, but never taken for blocked.
  enum Kind { kMustReturnAtOnce, kMayTakeItsTime };
  Scope(std::string_view plugin, std::string_view instance, std::string_view entry,
        const CallSubject* subject = nullptr, Kind kind = kMustReturnAtOnce);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  bool outermost_;
};

// The calls that must return at once and have been running for longer than `over_ms`.
std::vector<Call> longer_than(int64_t over_ms);

// From now on a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT)
// writes the call the crashing thread was in, if any, as a JSON object to
// `note` (when not empty) and as a log line to stderr, then ends the process
// as the signal would have.
void note_crashes_in(const std::filesystem::path& note);

// The note a crash left, removed; none when the host last stopped without one.
std::optional<nlohmann::json> take_crash_note(const std::filesystem::path& note);

}  // namespace invoke_watch
}  // namespace sb
