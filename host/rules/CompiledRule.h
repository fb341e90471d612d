// A rule as the executor runs it: its trigger, its filter, and its steps
// flattened into one list (a branch is a step that picks where to go on;
// each branch ends with a jump past the others). Compiled by
// rules/RuleCompiler.h, which is the only place that knows the rule syntax.
//
// Every step has a stable id: its `name` where the rule names it (and no other
// step has that name), otherwise its path in the rule ("2", "1/then/0",
// "3/parallel/1/0"). An execution records the rule's version (a hash of
// what the rule was compiled from) and the id of its next step, so that an
// edited rule changes neither where a waiting execution goes on nor its
// idempotency keys.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rules/Condition.h"
#include "rules/TimeTrigger.h"
#include "rules/Trigger.h"
#include "util/Zones.h"

namespace sb {

class JsonSchema;

struct CompiledStep {
  enum class Kind { kAction, kWait, kWaitEvent, kIf, kSwitch, kSplit, kParallel, kJump, kDigest };
  Kind kind = Kind::kAction;
  std::string id;    // stable: see above
  std::string name;  // what the history and `steps.<name>` call it
  std::string instance;
  std::string action;
  nlohmann::json params;
  std::shared_ptr<const JsonSchema> schema;  // the action's parameter schema
  std::set<std::string> html_params;         // parameters that are HTML: values rendered into them are escaped
  std::chrono::milliseconds timeout{30000};
  std::optional<int64_t> wait_ms;  // a wait step ...
  std::string wait_until;          // ... or a wait until the time at this path, plus the offset
  int64_t wait_offset_ms = 0;
  std::optional<int>
      wait_at_minute;                // ... then at this local time of that day (the contact's zone, else the account's)
  std::optional<SendWindow> window;  // ... or a wait for the send window, in the contact's zone or this one
  std::string window_zone;
  std::vector<std::string> wait_events;   // kWaitEvent: the types that take the then steps, and ...
  nlohmann::json wait_match;              // ... {"path": "template"} to match them on; wait_ms is the timeout
  std::vector<std::string> wait_else_on;  // kWaitEvent: types that end the wait with the else steps
  nlohmann::json digest_item;             // kDigest: what each event adds (a template); wait_ms is the window ...
  nlohmann::json digest_key;              // ... and whose digest it joins (a template; null: the contact's)
  int max_attempts = 5;
  int64_t backoff_ms = 10000;
  std::shared_ptr<const Condition> condition;  // kIf
  int else_step = 0;                           // kIf: the condition failed; kWaitEvent: the timeout
  std::string switch_path;
  std::vector<std::pair<std::string, int>> branches;  // switch cases, split variants, parallel branches
  std::vector<int> weights;                           // kSplit, one per branch
  int default_step = 0;                               // kSwitch: no case matched
  int jump_to = 0;                                    // kJump; kParallel: where the branches end
  int fallback_next = -1;                             // in a fallback chain: the next channel ...
  int fallback_end = -1;                              // ... and where the chain ends once one delivered
  // kWaitEvent: a fallback channel's wait for its delivery report
  // ("delivered_within"); the channel's action is the step before it.
  bool confirms_delivery = false;
  bool retry_safe = false;  // an action whose provider does the work once per idempotency key
  std::string channel;      // a message channel ("email", "sms"): its action schema's "x-switchboard-channel"
  // Its plugin reports what became of the message (x-switchboard-delivery-reports):
  // message.sent among them. Else the host says it was sent (Interpreter).
  bool reports_delivery = false;
};

// A rule's "goal": what a contact does after its messages that counts as
// their conversion (a booking, a payment), within a time of each message.
struct RuleGoal {
  std::vector<std::string> events;  // event types
  int64_t within_ms = 0;
  std::string value = {};  // the goal event's path to what it was worth ("data.amount"); "" none
};

struct CompiledRule {
  std::string name;
  std::string version;                      // a hash of what it was compiled from
  std::optional<Trigger> trigger;           // null: invalid, never fires
  std::optional<TimeTrigger> time_trigger;  // the host produces the trigger's events (schedules, dates, overdue)
  std::shared_ptr<const Condition> filter;  // null: every event the trigger takes
  std::vector<CompiledStep> steps;
  int priority = 1;  // store/Store.h: 0 low, 1 normal, 2 high
  // on_doubt: hold. A step that may have reached a provider that is not
  // retry-safe before its host died waits for an operator instead of
  // being sent again.
  bool hold_in_doubt = false;
  std::string category = "marketing";  // its messages' category unless a step's "category" parameter says otherwise
  bool critical = false;               // sent whatever the contact's preferences and the frequency caps
  bool defer_over_cap = false;         // over a frequency cap: the step waits (over_cap: defer), else it is skipped
  std::optional<RuleGoal> goal;        // what the executions' analytics count as a conversion
  nlohmann::json source;               // what it was compiled from (rules/RuleCompiler.h rule_source)

  // The id of the step at `index`; kEndId past the last.
  const std::string& id_at(int index) const;
  // The index of the step with this id (steps.size() for kEndId, 0 for ""
  // = the first); nullopt when this version has no such step.
  std::optional<int> index_of(const std::string& id) const;
  // Gives steps without an id their index as id (rules built in code), and
  // indexes them. The compiler calls it; so must anyone who builds a rule.
  void index_steps();

 private:
  std::unordered_map<std::string, int> index_;
};

inline constexpr char kEndId[] = "$end";

// Whether a rule starts on events of `type` or one of its steps waits for them.
bool some_rule_reads(const std::vector<CompiledRule>& rules, const std::string& type);

}  // namespace sb
