#include "executor/FrequencyCaps.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "log/Logger.h"
#include "util/JsonText.h"

namespace sb {

using nlohmann::json;

FrequencyCaps::FrequencyCaps(std::vector<FrequencyCap> caps, Store& store)
    : caps_(std::make_shared<const std::vector<FrequencyCap>>(std::move(caps))), store_(store) {}

void FrequencyCaps::take(const std::string& contact_key, const std::string& channel, const std::string& category,
                         const std::string& message_key, int64_t now_ms, Decided done) {
  int64_t keep_ms = 0;
  bool applies = false;
  for (const FrequencyCap& cap : *caps_)
    if (cap.channel == channel) {
      keep_ms = std::max(keep_ms, cap.period_ms);
      applies = applies || cap.category.empty() || cap.category == category;
    }
  if (!applies || contact_key.empty()) return done({}, {});
  auto verdict = std::make_shared<Verdict>();
  const std::string key = contact_key + "|" + channel;
  store_.transact_on(
      {{}, {{kFrequencyKeys, key}}},
      [caps = caps_, verdict, key, channel, category, message_key, now_ms, keep_ms](ExecutionRows& rows) {
        *verdict = decide(*caps, rows, key, channel, category, message_key, now_ms, keep_ms);
      },
      [verdict, done = std::move(done)](StoreStatus status) { done(status, *verdict); });
}

void FrequencyCaps::give_back(const std::string& contact_key, const std::string& channel,
                              const std::string& message_key) {
  // None of the channel's caps counted it: nothing to give back, no write.
  const bool capped =
      std::any_of(caps_->begin(), caps_->end(), [&](const FrequencyCap& c) { return c.channel == channel; });
  if (contact_key.empty() || !capped) return;
  const std::string key = contact_key + "|" + channel;
  store_.transact_on(
      {{}, {{kFrequencyKeys, key}}},
      [key, message_key](ExecutionRows& rows) {
        const std::optional<std::string> stored = rows.kv_get(kFrequencyKeys, key);
        json sends = stored ? json::parse(*stored, nullptr, false) : json();
        if (!sends.is_object()) return;
        bool found = false;
        for (auto& [name, times] : sends.items()) {
          if (!times.is_array()) continue;
          for (auto sent = times.begin(); sent != times.end();) {
            if (sent->is_array() && sent->size() == 2 && (*sent)[1] == message_key) {
              sent = times.erase(sent);
              found = true;
            } else {
              ++sent;
            }
          }
        }
        if (found) rows.kv_put(kFrequencyKeys, key, dump_text(sends));
      },
      [key](StoreStatus status) {
        if (!status.ok())
          log_warn("pipeline", "a message not sent still counts against the frequency caps",
                   {{"caps", key}, {"error", status.message}});
      });
}

FrequencyCaps::Verdict FrequencyCaps::decide(const std::vector<FrequencyCap>& caps, ExecutionRows& rows,
                                             const std::string& key, const std::string& channel,
                                             const std::string& category, const std::string& message_key,
                                             int64_t now_ms, int64_t keep_ms) {
  const std::optional<std::string> stored = rows.kv_get(kFrequencyKeys, key);
  // {"marketing": [[sent_at_ms, message key], ...], ...}, only what a period still covers.
  json sends = stored ? json::parse(*stored, nullptr, false) : json::object();
  if (!sends.is_object()) sends = json::object();
  for (auto& [name, times] : sends.items()) {
    json kept = json::array();
    if (times.is_array())
      for (const json& sent : times)
        if (sent.is_array() && sent.size() == 2 && sent[0].is_number_integer() &&
            sent[0].get<int64_t>() > now_ms - keep_ms) {
          // The same message again (a retry, a step run again after a crash) counts once.
          if (sent[1] == message_key) return {};
          kept.push_back(sent);
        }
    times = std::move(kept);
  }
  for (const FrequencyCap& cap : caps) {
    if (cap.channel != channel || (!cap.category.empty() && cap.category != category)) continue;
    std::vector<int64_t> within;
    for (const auto& [name, times] : sends.items())
      if (cap.category.empty() || name == cap.category)
        for (const json& sent : times)
          if (sent[0].get<int64_t>() > now_ms - cap.period_ms) within.push_back(sent[0].get<int64_t>());
    if (static_cast<int>(within.size()) < cap.limit) continue;
    std::sort(within.begin(), within.end());
    // Free when enough of them have left the period.
    const int64_t free_at = within[within.size() - static_cast<size_t>(cap.limit)] + cap.period_ms;
    return {"over the frequency cap: at most " + std::to_string(cap.limit) + " " +
                (cap.category.empty() ? "" : cap.category + " ") + channel + " message" + (cap.limit == 1 ? "" : "s") +
                " per " + cap.period_text + " to this contact",
            free_at};
  }
  sends[category].push_back(json::array({now_ms, message_key}));
  rows.kv_put(kFrequencyKeys, key, dump_text(sends));
  return {};
}

}  // namespace sb
