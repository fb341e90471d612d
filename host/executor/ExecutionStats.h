// What a rule's executions did, counted from their histories: the admin's
// action analytics and A/B results (GET /api/v1/executions/stats). Each
// execution counts once per step and outcome it reached ("Offer": done;
// "Opened?": waiting for event, then event arrived or timed out; "VIP?":
// branch then; "subject": variant A), in all
// and under each split variant it took, so that variants compare. The
// messages its steps sent are counted by what their providers reported:
// delivered, opened, clicked, replied, failed (add_reports).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/Store.h"

namespace sb {

class ExecutionStats {
 public:
  // `channel_steps`: the rule's steps that send messages, by name, for
  // histories written before their entries said their channel.
  explicit ExecutionStats(std::set<std::string> channel_steps = {}) : channel_steps_(std::move(channel_steps)) {}
  void add(const ExecutionRow& row);
  // The ids of the messages the added executions' steps sent (their
  // external_ids), to look their reports up by (Store::message_reports).
  std::vector<std::string> message_ids() const;
  void add_reports(const std::vector<MessageReport>& reports);
  // {"executions": n, "states": {...}, "steps": {step: {outcome: n}},
  //  "messages": {step: {"sent": n, "delivered": n, "opened": n, "clicked": n, "replied": n, "failed": n}},
  //  "splits": {split step: {variant: {"executions": n, "steps": {...}, "messages": {...}}}}}
  nlohmann::json to_json() const;

 private:
  using Steps = std::map<std::string, std::map<std::string, int64_t>>;  // step -> outcome -> executions
  using Variants = std::vector<std::pair<std::string, std::string>>;    // (split step, variant)
  struct Variant {
    int64_t executions = 0;
    Steps steps;
  };
  // A message a step sent, with the split variants its execution took.
  struct SentMessage {
    std::string step;
    std::string message_id;
    Variants variants;
  };

  const std::set<std::string> channel_steps_;
  int64_t executions_ = 0;
  std::map<std::string, int64_t> states_;
  Steps steps_;
  std::map<std::string, std::map<std::string, Variant>> splits_;
  std::vector<SentMessage> sent_;
  std::map<std::string, unsigned> reported_;  // message id -> what was reported of it (bits)
};

}  // namespace sb
