// A webhook delivery that becomes several events: each is emitted and
// waited for until the host committed it, and the delivery is answered once,
// when every event is settled (a provider delivers it again on a failure;
// the events' ids make a repeat a duplicate).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <switchboard/plugin.hpp>
#include <vector>

#include "json_fields.h"

namespace switchboard_plugins {

struct PluginEvent {
  std::string type;
  std::string id;
  nlohmann::json payload;
};

// `answer(all_committed)` runs exactly once; `events` must not be empty.
inline void emit_all(const switchboard::Host& host, const std::vector<PluginEvent>& events,
                     std::function<void(bool all_committed)> answer) {
  struct Delivery {
    Delivery(size_t n, std::function<void(bool)> a) : remaining(n), answer(std::move(a)) {}
    std::atomic<size_t> remaining;
    std::atomic<bool> failed{false};
    std::function<void(bool)> answer;
    void one_done(bool ok) {
      if (!ok) failed = true;
      if (--remaining == 0) answer(!failed);
    }
  };
  auto delivery = std::make_shared<Delivery>(events.size(), std::move(answer));
  for (const PluginEvent& e : events)
    if (host.emit(e.type, e.id, dump(e.payload), SB_EMIT_WAIT_ACCEPTED,
                  [delivery](const switchboard::EmitResult& result) { delivery->one_done(result.status == SB_OK); }) !=
        SB_OK)
      delivery->one_done(false);
}

}  // namespace switchboard_plugins
