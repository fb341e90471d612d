// Where the events that plugins emit go.
//
//   SB_EMIT_WAIT_ACCEPTED   (a webhook with respond: accepted, a poller) the
//                           store: the plugin hears back once the event is
//                           committed, and the durable pipeline runs its
//                           rules, waits and branches included. A provider's
//                           delivery report resumes the wait_for steps
//                           waiting for it.
//   SB_EMIT_WAIT_COMPLETED  (respond: completed) executor/CompletedRoutes.h:
//                           the same interpreter, with the executions in
//                           memory; the caller waits for the rules' result
//                           and holds the state (it retries if it gets none).
//
// An emitted payload shaped like an events-API event ("time", "entity",
// "contact", "data") updates the stored contact and entity as that event
// would; with a contact, an entity or a time, the plugin's own members (a
// webhook's body, headers, query and route) are kept beside them. A time
// that cannot be read is dropped (the time received counts); a contact or
// entity that is not valid leaves the payload as data only. Any other
// payload is stored as it is.
#pragma once

#include <atomic>
#include <functional>

#include "plugins/HostServices.h"
#include "store/Store.h"

namespace sb {

class EmittedEvents final : public EventSink {
 public:
  // `stored` runs after each commit (it wakes the pipeline).
  EmittedEvents(Store& store, EventSink& in_memory, std::function<void()> stored);

  sb_status emit(EmittedEvent event, sb_emit_wait wait, std::function<void(const EmitReport&)> done) override;
  // From now on emits are refused (SB_ERR_UNAVAILABLE): the host is stopping.
  void close() { closed_ = true; }

 private:
  Store& store_;
  EventSink& in_memory_;
  std::function<void()> stored_;
  std::atomic<bool> closed_{false};
};

// The record the store keeps for an emitted event.
EventRecord emitted_record(const EmittedEvent& event, int64_t now_ms);

}  // namespace sb
