// Frequency caps per contact, channel and category ("at most 1 marketing
// SMS a day"): the config's "frequency_caps". A message step takes its place
// under every cap that applies before it is first attempted; over one, the step is
// skipped or deferred (its rule's "over_cap").
//
// The sends are kept in the host's key-value state (host:frequency, one
// record per contact and channel, pruned to the longest period), so caps
// hold across restarts (executor/KvState.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "executor/KvState.h"

namespace sb {

struct FrequencyCap {
  std::string channel;   // "sms"
  std::string category;  // "marketing"; "" = every category
  int limit = 1;
  int64_t period_ms = 86'400'000;
  std::string period_text;  // "1d", as the config wrote it
};

class FrequencyCaps {
 public:
  FrequencyCaps(std::vector<FrequencyCap> caps, KeyValueStore& kv);

  struct Verdict {
    std::string over;        // why the message may not go now ("" = it may, and is counted)
    int64_t free_at_ms = 0;  // when it may
  };
  // Counts one message to the contact unless a cap forbids it; a message
  // (its idempotency key) counted before is allowed again without counting,
  // so a retry is not refused by its own first attempt. Thread-safe.
  Verdict take(const std::string& contact_key, const std::string& channel, const std::string& category,
               const std::string& message_key, int64_t now_ms);

  bool empty() const { return caps_.empty(); }

 private:
  const std::vector<FrequencyCap> caps_;
  KvState state_;
};

inline constexpr char kFrequencyKeys[] = "host:frequency";

}  // namespace sb
