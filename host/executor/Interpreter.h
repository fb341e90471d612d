// What every step kind means, in one place, for both kinds of run: the
// durable pipeline (pipeline/Pipeline.h: rows in the store) and the routes
// whose caller waits for the result (executor/CompletedRoutes.h: rows in
// memory). Given an execution at a step of its rule version, the interpreter
// runs it (branches decided on the spot, an action dispatched to its plugin,
// a wait turned into a due time) and hands what happened to `record` as an
// ExecutionUpdate: the next state, the next step and a history entry, built
// here and nowhere else. The runner persists (or keeps) the update and runs
// the next step when it is due.
//
//   action       the plugin's call with the key "<event id>:<rule>:<step id>";
//                retries with backoff, dead letters, fallback to the next
//                channel, deferral without an attempt (a channel's limit)
//   wait, wait_until, send_window   a due time
//   wait_for     an arrival key and a timeout
//   if, switch, split, jump         where to go on, recorded with the next step
//   parallel     branches started with the update that makes the parent wait
//   switchboard.* the host's actions: events appended to the store
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "executor/ActionRequests.h"
#include "executor/ArrivalKeys.h"
#include "executor/CallQueue.h"
#include "executor/FrequencyCaps.h"
#include "executor/Transitions.h"
#include "metrics/Metrics.h"
#include "rules/CompiledRule.h"

namespace sb {

// The same series whichever runner ran the execution.
class ExecutionMetrics {
 public:
  explicit ExecutionMetrics(Metrics& metrics);
  void step_started() { started_.add(); }
  void step_ended(const std::string& rule, const std::string& step, std::string_view outcome);
  void step_skipped(const std::string& rule, const std::string& step);
  // A step whose previous run may have reached its provider (a host died mid-step) is sent again.
  void step_resent_in_doubt(const std::string& rule, const std::string& step);
  void execution_ended(const std::string& rule, ExecutionState state);
  // An event the rule would have run for came at the end of a chain too long (a loop).
  void chain_cut(const std::string& rule);
  // An entity moved to a status no pipeline of the config has.
  void unknown_status(const std::string& entity_type);

 private:
  // `labels` is built only for a series not seen before (each call allocated them).
  template <typename MakeLabels>
  Counter& series(const std::string& key, const char* name, const MakeLabels& labels);

  Metrics& metrics_;
  Counter& started_;
  Counter& done_;
  Counter& failed_;
  std::shared_mutex mutex_;
  std::unordered_map<std::string, Counter*> series_;
};

class Interpreter {
 public:
  using Record = std::function<void(ExecutionUpdate)>;

  // `events` takes the events the host's actions produce; `events_added`
  // runs after each (the router has work).
  // `caps` (may be null: none) counts message steps against the frequency caps.
  // Not `durable`: the executions live in memory (a route that answers with
  // the rule's result); they read no stored contact and cannot digest.
  Interpreter(ActionDispatcher& actions, CallQueue& calls, Store& events, ExecutionMetrics& metrics,
              nlohmann::json account, std::function<void()> events_added, FrequencyCaps* caps = nullptr,
              bool durable = true);

  // Runs the step `row` is at in `rule` (its version; null, with `why`,
  // when there is none) and records what it did, exactly once: now, or when
  // the plugin completes (on the plugin's thread).
  // `context`, when given, is the row's context_json already parsed (the
  // router's, for a step it starts): taken instead of parsing the text again.
  // `claimed_ms`: a time before the row was claimed (0: now); a cancel heard
  // after it gives the step's call up (CallQueue).
  void run(const ExecutionRow& row, const CompiledRule* rule, const std::string& why, Record record,
           nlohmann::json* context = nullptr, int64_t claimed_ms = 0);

  // A message sent through a channel that reports nothing of it (email,
  // push, voice) is then announced as a message.sent event, as the channels
  // with delivery reports announce theirs: set when some rule reads it.
  // Called before the first run.
  void announce_sent_messages(bool announce) { announce_sent_ = announce; }

  // The execution whose step's plugin call crashed the host at its last
  // run, and how many times its calls have: taken up in doubt after its
  // second crash, the step fails (a dead letter an operator retries once
  // the plugin is mended) rather than crash every start. An execution is at
  // one step at a time (a parallel branch is an execution of its own).
  // Called before the first run.
  struct CrashedStep {
    int64_t execution_id = 0;
    int crashes = 0;
    std::string where;  // "plugin 'p', instance 'i', signal 11"
  };
  void fail_when_taken_up(CrashedStep crashed) { crashed_ = std::move(crashed); }

 private:
  // A claimed execution with its rule version and the index of its step there.
  struct Claimed {
    ExecutionRow row;
    const CompiledRule* rule = nullptr;
    int index = 0;
    Record record;
    bool records_read = false;  // the context's contact and entity are as stored now
    int64_t claimed_ms = 0;     // a time before this run's claim
  };
  // Puts the stored contact and entity in place of the execution's copies (kept where none is stored).
  // False when the store could not be read.
  bool read_records_now(nlohmann::json& context) const;
  // Where a branch, switch, split or jump at `index` leads; notes the decision.
  int choose_branch(const CompiledRule& rule, const CompiledStep& step, int index, const nlohmann::json& context,
                    nlohmann::json& decisions) const;
  void run_action(const Claimed& at, const CompiledStep& step, const nlohmann::json& context, nlohmann::json decisions);
  // ... once its preferences and frequency caps let it go.
  void start_action(const Claimed& at, const CompiledStep& step, ActionRequest request, const nlohmann::json& context,
                    nlohmann::json decisions);
  // `sent_again_in_doubt`: the call was made again after a host died with it in flight.
  void step_ended(const Claimed& at, const CompiledStep& step, const ActionOutcome& outcome,
                  const nlohmann::json& decisions, bool sent_again_in_doubt = false);
  // message.sent for a message step that ended `done` (announce_sent_messages),
  // stored before the step's end is recorded; then that end.
  void announce_sent(const Claimed& at, const CompiledStep& step, const ActionOutcome& outcome,
                     const nlohmann::json& decisions, bool sent_again_in_doubt);
  // What step_ended records: the next state, step and history entry.
  void record_end(const Claimed& at, const CompiledStep& step, const ActionOutcome& outcome,
                  const nlohmann::json& decisions, bool sent_again_in_doubt);
  // Why a message step must not reach its contact (executor/ContactPreferences.h), if it must not;
  // for a step of a rule that is not critical.
  std::optional<std::string> preferences_refuse(const Claimed& at, const CompiledStep& step,
                                                const ActionRequest& request, const nlohmann::json& context);
  // Not sent, for `why`: recorded, and the execution goes on (to the next channel of a fallback chain).
  void step_skipped(const Claimed& at, const CompiledStep& step, const std::string& why,
                    const nlohmann::json& decisions);
  // The last channel of a fallback chain reached no one (unreachable,
  // skipped): the rule goes on after the chain, unless a channel before
  // failed for good, whose dead letter it then is. `entry` is the last
  // channel's history entry.
  void chain_reached_no_one(const Claimed& at, const CompiledStep& step, const nlohmann::json& entry);
  void produce_event(const Claimed& at, const CompiledStep& step, const ActionRequest& request,
                     const nlohmann::json& context, nlohmann::json decisions);
  // Commits the branches decided on records read now, with the action they lead to due.
  void branch_taken(const Claimed& at, const CompiledStep& step, nlohmann::json decisions);
  void hold_in_doubt(const Claimed& at, const CompiledStep& step, nlohmann::json decisions);
  void fail_crashed(const Claimed& at, const CompiledStep& step, nlohmann::json decisions);
  // A digest step: the first event of its group collects for the window, the others join it and end.
  void digest(const Claimed& at, const CompiledStep& step, const nlohmann::json& context, nlohmann::json decisions);
  void wait_for_event(const Claimed& at, const CompiledStep& step, const nlohmann::json& context,
                      nlohmann::json decisions);

  ActionDispatcher& actions_;
  CallQueue& calls_;
  Store& events_;
  ExecutionMetrics& metrics_;
  const nlohmann::json account_;
  std::function<void()> events_added_;
  FrequencyCaps* const caps_;
  const bool durable_;
  bool announce_sent_ = false;
  CrashedStep crashed_;
};

// The host's key-value namespace for digests in progress.
inline constexpr char kDigestKeys[] = "host:digests";

// The delay before retry `attempt` (1 = the first): base * 2^(attempt-1),
// at most an hour, times a random factor in [0.5, 1.5) so that retries of
// many executions spread out.
int64_t backoff_ms(int64_t base_ms, int attempt, double jitter);

// An A/B split's variant for this contact: the same contact always gets the
// same variant of a split, in the proportions of the weights. A rule's
// splits after its first are drawn apart from it (by their step ids), so
// that two tests in one rule do not pick alike.
std::string split_variant(const CompiledRule& rule, const CompiledStep& split, const nlohmann::json& context);

}  // namespace sb
