// Frequency caps per contact, channel and category ("at most 1 marketing
// SMS a day"): the config's "frequency_caps". A message step takes its place
// under every cap that applies before it is first attempted; over one, the step is
// skipped or deferred (its rule's "over_cap").
//
// The sends are kept in the host's key-value state (host:frequency, one
// record per contact and channel, pruned to the longest period), so caps
// hold across restarts; each message is counted in a unit of work that
// locks its record, so hosts sharing a store count one after the other.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/Store.h"

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
  FrequencyCaps(std::vector<FrequencyCap> caps, Store& store);

  struct Verdict {
    std::string over;        // why the message may not go now ("" = it may, and is counted)
    int64_t free_at_ms = 0;  // when it may
  };
  using Decided = std::function<void(const StoreStatus&, const Verdict&)>;
  // Counts one message to the contact unless a cap forbids it; a message
  // (its idempotency key) counted before is allowed again without counting,
  // so a retry is not refused by its own first attempt. `done` runs once:
  // when the count is committed, on a store thread, or at once, on this
  // thread, when no cap counts the message. A status that is not ok: it may
  // not have been counted (or was, if the commit's answer was lost: the
  // message's key then lets it through next time). Thread-safe; the count
  // may outlive this object (it holds what it needs).
  void take(const std::string& contact_key, const std::string& channel, const std::string& category,
            const std::string& message_key, int64_t now_ms, Decided done);

  // A message counted by take() that was surely not sent (the contact
  // unreachable on the channel, the provider's refusal):
  // its place is given back, so that the next message may go. Not waited
  // for; a failure to write is logged (the place then stays taken).
  void give_back(const std::string& contact_key, const std::string& channel, const std::string& message_key);

  bool empty() const { return caps_->empty(); }

 private:
  static Verdict decide(const std::vector<FrequencyCap>& caps, ExecutionRows& rows, const std::string& key,
                        const std::string& channel, const std::string& category, const std::string& message_key,
                        int64_t now_ms, int64_t keep_ms);

  const std::shared_ptr<const std::vector<FrequencyCap>> caps_;
  Store& store_;
};

inline constexpr char kFrequencyKeys[] = "host:frequency";

}  // namespace sb
