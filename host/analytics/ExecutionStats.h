// What a rule's executions did, counted from their histories: the admin's
// action analytics and A/B results (GET /api/v1/executions/stats). Each
// execution counts once per step and outcome it reached ("Offer": done;
// "Opened?": waiting for event, then event arrived or timed out; "VIP?":
// branch then; "subject": variant A), in all
// and under each split variant it took, so that variants compare. The
// messages its steps sent are counted by what their providers reported:
// delivered, opened, clicked, replied, failed (add_reports); with the rule's
// goal, each message and execution whose contact reached it within its time
// counts as converted (add_goals).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "rules/CompiledRule.h"
#include "store/Store.h"

namespace sb {

// A message step's counts ("sent", "delivered", "failed", "opened",
// "clicked", "replied", and "converted" with a goal) with the reference
// CRMs' rates beside them, in percent with one decimal: of the messages
// sent, those delivered and failed; of those delivered (or, where the
// provider reports no delivery, of those sent that did not fail), those
// opened, clicked and replied to; of those opened, those clicked; of those
// sent, those converted. Null where nothing was there to count from.
nlohmann::json with_rates(const std::map<std::string, int64_t>& figures, bool delivery_reported);

class ExecutionStats {
 public:
  // `channel_steps`: the rule's steps that send messages, by name, for
  // histories written before their entries said their channel.
  explicit ExecutionStats(std::set<std::string> channel_steps = {}, std::optional<RuleGoal> goal = {})
      : channel_steps_(std::move(channel_steps)), goal_(std::move(goal)) {}
  void add(const ExecutionRow& row);
  // The ids of the messages the added executions' steps sent (their
  // external_ids), to look their reports up by (Store::message_reports).
  std::vector<std::string> message_ids() const;
  void add_reports(const std::vector<MessageReport>& reports);
  // With a goal: the added executions' contacts, and the earliest time one
  // of them could have reached it (to look their goals up by:
  // Store::goals_reached); then what they reached.
  std::vector<std::string> contact_keys() const;
  int64_t goals_since_ms() const { return earliest_ms_; }
  void add_goals(const std::vector<GoalReached>& goals);
  // {"executions": n, "states": {...}, "steps": {step: {outcome: n}},
  //  "messages": {step: {"sent": n, "delivered": n, "opened": n, "clicked": n, "replied": n, "failed": n}},
  //  "splits": {split step: {variant: {"executions": n, "steps": {...}, "messages": {...}}}}}
  // With a goal, "goal": {"events", "within_ms", "converted", "conversion_rate"},
  // and "converted" and "conversion_rate" in each message step and variant;
  // with a goal's value, "revenue" and "average_check" (of the goals with a
  // value, each the revenue of the last execution of its contact to begin
  // before it) in "goal" and each variant.
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
    std::string contact;  // with a goal: its contact's key and when it was sent
    int64_t sent_at_ms = 0;
  };
  // With a goal: whose execution began when, and its variants.
  struct Started {
    std::string contact;
    int64_t at_ms = 0;
    Variants variants;
  };
  struct Reached {
    int64_t at_ms = 0;
    std::optional<double> value;
    bool operator<(const Reached& other) const { return at_ms < other.at_ms; }
  };
  // The goal the contact reached first from `from_ms`, within the goal's time of it; null when none.
  const Reached* reached(const std::string& contact, int64_t from_ms) const;
  bool converted(const std::string& contact, int64_t from_ms) const { return reached(contact, from_ms) != nullptr; }

  const std::set<std::string> channel_steps_;
  const std::optional<RuleGoal> goal_;
  std::vector<Started> started_;
  int64_t earliest_ms_ = INT64_MAX;
  std::map<std::string, std::vector<Reached>> goal_times_;  // contact -> when it reached the goal, in order
  int64_t executions_ = 0;
  std::map<std::string, int64_t> states_;
  Steps steps_;
  std::map<std::string, std::map<std::string, Variant>> splits_;
  std::vector<SentMessage> sent_;
  std::map<std::string, unsigned> reported_;  // message id -> what was reported of it (bits)
};

}  // namespace sb
