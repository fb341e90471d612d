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

// `answer(all_settled)` runs exactly once; `events` must not be empty.
inline void emit_all(const switchboard::Host& host, const std::vector<PluginEvent>& events,
                     std::function<void(bool all_settled)> answer) {
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
  // An event refused for good (its id is another source's event's: the host
  // said so in its log) is settled too: a delivery sent again would be
  // refused again, for as long as the host keeps that id.
  const auto settled = [](sb_status status) { return status == SB_OK || status == SB_ERR_INVALID_ARGUMENT; };
  for (const PluginEvent& e : events)
    if (host.emit(e.type, e.id, dump(e.payload), SB_EMIT_WAIT_ACCEPTED,
                  [delivery, settled](const switchboard::EmitResult& result) {
                    delivery->one_done(settled(result.status));
                  }) != SB_OK)
      delivery->one_done(false);
}

}  // namespace switchboard_plugins
