#include "executor/CompletedRoutes.h"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>

#include "executor/History.h"
#include "log/Logger.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {
std::atomic<int64_t> next_id{1};  // in-memory executions' ids: unique in the process

// `event`'s payload is the filter's context, left as it was.
bool takes(const CompiledRule& rule, EmittedEvent& event, const json& account) {
  // Plugins' events carry no entity status: status triggers wait for the
  // durable pipeline's events.
  if (!rule.trigger || rule.trigger->fires(event.type, event.source, std::nullopt) != Trigger::Fire::kYes ||
      !rule.trigger->in_pipeline(event.payload))
    return false;
  return !rule.filter || matches_with_account(*rule.filter, event.payload, account, now_ms());
}
}  // namespace

// Everything one emitted event set off; reports when the last execution ends.
struct CompletedRoutes::Run {
  std::string key;  // its sender, type and id: a repeat of the same event has the same
  std::string event_id;
  int64_t deadline_ms = 0;  // the route's time: every wait of every execution ends before it
  std::mutex mutex;         // all below, and every join of branches
  std::vector<std::function<void(const EmitReport&)>> waiting;  // callers waiting for the report (a sender's repeats)
  std::vector<json> ends;  // how each execution ended, in the order they started (null while it runs)
  // While it is kept for repeats: the executions that failed at a step, which
  // a repeat runs again from there (they point back at the run: a cycle that
  // forgetting the run ends).
  std::map<size_t, std::shared_ptr<Execution>> failed;
  size_t remaining = 0;
  bool ended = false;
  bool remembered = false;
};

struct CompletedRoutes::Execution {
  ExecutionRow row;
  const CompiledRule* rule = nullptr;
  std::shared_ptr<Run> run;
  size_t slot = 0;               // its place in the run's ends
  bool failed_at_a_step = true;  // false: the host failed it (a wait too long for the route), which a repeat would too
  json history = json::array();
  std::shared_ptr<Execution> parent;                 // a branch of a parallel group
  std::vector<std::shared_ptr<Execution>> branches;  // ... and the group's branches
  size_t branches_running = 0;
};

CompletedRoutes::CompletedRoutes(std::vector<CompiledRule> rules, ActionDispatcher& actions, CallQueue& calls,
                                 Store& events, Metrics& metrics, Schedule schedule, Options options)
    : rules_(std::move(rules)),
      metrics_(metrics),
      interpreter_(actions, calls, events, metrics_, options.account, {}, options.frequency_caps, /*durable=*/false),
      schedule_(std::move(schedule)),
      options_(std::move(options)) {
  for (CompiledRule& rule : rules_) rule.index_steps();
  interpreter_.announce_sent_messages(some_rule_reads(rules_, "message.sent"));
}

CompletedRoutes::~CompletedRoutes() {
  // A kept run and its failed executions point at each other.
  for (auto& [key, run] : recent_) {
    std::lock_guard lock(run->mutex);
    run->failed.clear();
  }
}

sb_status CompletedRoutes::emit(EmittedEvent event, sb_emit_wait wait, std::function<void(const EmitReport&)> done) {
  const bool sender_id = !event.id.empty();
  if (!sender_id) event.id = generate_event_id();
  std::vector<const CompiledRule*> matched;
  for (const auto& rule : rules_)
    if (takes(rule, event, options_.account)) matched.push_back(&rule);
  auto run = std::make_shared<Run>();
  run->key = event.source + '\n' + event.type + '\n' + event.id;
  run->event_id = event.id;
  run->deadline_ms = now_ms() + options_.max_wait.count();
  run->ends.resize(matched.size());
  run->remaining = matched.size();
  json context = std::move(event.payload);
  if (!context.is_object()) context = json{{"data", std::move(context)}};
  context["event"] = {
      {"id", event.id}, {"type", event.type}, {"source", event.source}, {"time", format_time_ms(now_ms())}};
  const std::string context_text = matched.empty() ? "" : dump_text(context);
  // The caller waits in the run before another thread can find it.
  const bool waits = wait == SB_EMIT_WAIT_COMPLETED && !matched.empty();
  if (waits) run->waiting.push_back(std::move(done));
  // A sender's repeat (its retry of a request whose answer it did not get)
  // joins the run, or is answered with its end, or runs again what failed,
  // whatever its rules' filters say now. Looked up and kept in one step:
  // two deliveries at once are one run.
  if (sender_id)
    if (std::shared_ptr<Run> earlier =
            remember_or_find(run, context_text.size() * matched.size(), /*keep=*/!matched.empty())) {
      repeat(earlier, wait, waits ? std::move(run->waiting.back()) : std::move(done));
      return SB_OK;
    }
  if (!waits) done(EmitReport{SB_OK, event.id, "", json{{"executions", json::array()}}});
  if (matched.empty()) return SB_OK;

  std::vector<std::shared_ptr<Execution>> started;
  for (const CompiledRule* rule : matched) {
    auto e = std::make_shared<Execution>();
    e->row.id = next_id++;
    e->row.rule = rule->name;
    e->row.rule_version = rule->version;
    e->row.priority = rule->priority;  // its calls wait for an instance's slot by it
    e->row.event_id = event.id;
    e->row.context_json = context_text;
    e->row.created_at_ms = e->row.updated_at_ms = now_ms();
    e->rule = rule;
    e->run = run;
    e->slot = started.size();
    started.push_back(std::move(e));
  }
  for (const auto& e : started) next(e);
  return SB_OK;
}

std::shared_ptr<CompletedRoutes::Run> CompletedRoutes::remember_or_find(const std::shared_ptr<Run>& run, size_t bytes,
                                                                        bool keep) {
  std::lock_guard lock(recent_mutex_);
  const int64_t now = now_ms();
  forget_old(now);
  if (auto it = recent_.find(run->key); it != recent_.end()) return it->second;
  if (!keep) return nullptr;
  run->remembered = true;  // no one else sees the run yet
  recent_.emplace(run->key, run);
  recent_order_.push_back({now + options_.repeats_kept.count(), run->key, bytes});
  recent_bytes_ += bytes;
  forget_old(now);
  return nullptr;
}

// Under recent_mutex_: the runs kept too long, or beyond how many (or how
// many bytes of their events) are kept.
void CompletedRoutes::forget_old(int64_t now) {
  while (!recent_order_.empty() &&
         (recent_order_.front().forget_at_ms <= now || recent_order_.size() > options_.repeats_kept_at_most ||
          recent_bytes_ > options_.repeats_kept_bytes)) {
    Kept oldest = std::move(recent_order_.front());
    recent_order_.pop_front();
    recent_bytes_ -= oldest.bytes;
    auto it = recent_.find(oldest.key);
    if (it == recent_.end()) continue;
    std::shared_ptr<Run> run = std::move(it->second);
    recent_.erase(it);
    std::lock_guard run_lock(run->mutex);
    run->remembered = false;
    run->failed.clear();  // no cycle left between the run and its executions
  }
}

void CompletedRoutes::repeat(const std::shared_ptr<Run>& run, sb_emit_wait wait,
                             std::function<void(const EmitReport&)> done) {
  std::vector<std::shared_ptr<Execution>> again;
  std::optional<EmitReport> report;
  {
    std::lock_guard lock(run->mutex);
    if (!run->ended) {
      // Still running: told how it ends, with the first caller.
      if (wait == SB_EMIT_WAIT_COMPLETED) return run->waiting.push_back(std::move(done));
    } else if (!run->failed.empty()) {
      // What failed at a step runs again from that step, as an admin's
      // retry of a dead letter does; what was done is not done again.
      for (auto& [slot, e] : run->failed) again.push_back(std::move(e));
      run->failed.clear();
      run->ended = false;
      run->remaining = again.size();
      run->deadline_ms = now_ms() + options_.max_wait.count();
      if (wait == SB_EMIT_WAIT_COMPLETED) run->waiting.push_back(std::move(done));
      for (const auto& e : again) {
        run->ends[e->slot] = nullptr;
        e->history.push_back(
            {{"outcome", "run again"}, {"reason", "the sender repeated the event"}, {"at", format_time_ms(now_ms())}});
        e->row.state = ExecutionState::kReady;
        e->row.attempt = 0;
        e->row.due_at_ms.reset();
        e->row.error.clear();
      }
    } else if (wait == SB_EMIT_WAIT_COMPLETED) {
      report = report_of(*run);
    }
  }
  if (report) return done(*report);
  if (wait == SB_EMIT_WAIT_ACCEPTED) done(EmitReport{SB_OK, run->event_id, "", json{{"executions", json::array()}}});
  for (const auto& e : again) next(e);
}

// Under the run's mutex: how the executions that ended ended.
EmitReport CompletedRoutes::report_of(const Run& run) {
  json executions = json::array();
  uint32_t done = 0;
  for (const json& end : run.ends) {
    if (end.is_null()) continue;
    done += end["status"] == "done";
    executions.push_back(end);
  }
  const auto count = static_cast<uint32_t>(executions.size());
  return EmitReport{SB_OK, run.event_id, "", json{{"executions", std::move(executions)}}, count, done};
}

void CompletedRoutes::next(const std::shared_ptr<Execution>& e) {
  e->row.history_json = dump_text(e->history);
  try {
    interpreter_.run(e->row, e->rule, "", [this, e](ExecutionUpdate update) { apply(e, std::move(update)); });
  } catch (const std::exception& ex) {
    // A bug or a broken host (no tzdata) fails this execution; the caller still gets its answer.
    log_error("executor", "cannot run a step", {{"rule", e->row.rule}, {"error", ex.what()}});
    e->history.push_back(history::failed(e->row.step, ex.what(), now_ms()));
    e->row.state = ExecutionState::kFailed;
    e->row.error = std::string("cannot run the step: ") + ex.what();
    e->failed_at_a_step = false;
    ended(e);
  }
}

void CompletedRoutes::apply(const std::shared_ptr<Execution>& e, ExecutionUpdate u) {
  if (!u.history_entry_json.empty()) e->history.push_back(json::parse(u.history_entry_json, nullptr, false));
  ExecutionRow& row = e->row;
  row.state = u.state;
  row.step = u.step;
  row.attempt = u.attempt;
  row.due_at_ms = u.due_at_ms;
  row.error = u.error;
  row.awaiting = u.awaiting;
  row.resume_step = u.resume_step;
  row.doubt = Doubt::kNone;
  row.updated_at_ms = now_ms();
  if (!u.branches.empty()) {
    // Each branch starts with the parent's history, as in the durable pipeline.
    e->branches_running = u.branches.size();
    for (const NewBranch& b : u.branches) {
      auto branch = std::make_shared<Execution>(*e);
      branch->branches.clear();
      branch->row.id = next_id++;
      branch->row.event_id = row.event_id + "#" + b.suffix;
      branch->row.state = ExecutionState::kReady;
      branch->row.step = b.start_step;
      branch->row.end_step = b.end_step;
      branch->row.parent_id = row.id;
      branch->parent = e;
      e->branches.push_back(branch);
    }
    for (auto branch : std::vector(e->branches)) next(branch);
    return;
  }
  const int64_t now = now_ms();
  const int64_t delay = row.due_at_ms ? *row.due_at_ms - now : 0;
  if (row.state == ExecutionState::kReady && delay <= 0) return next(e);
  if (row.state == ExecutionState::kReady || row.state == ExecutionState::kWaiting) {
    if (now + delay > e->run->deadline_ms) {
      // Named by the step that waits (its entry is the last), not the one after it.
      const json* waited = e->history.empty() ? nullptr : &e->history.back();
      const json step = waited && waited->contains("step") ? (*waited)["step"] : json(row.step);
      const bool retry = waited && waited->value("outcome", "") == "retry";
      const std::string why = std::string(retry ? "a retry in " : "a wait of ") + std::to_string(delay / 1000) +
                              " s (at step '" + as_text(step) +
                              "') does not fit in what is left of a route whose caller waits for the result (" +
                              std::to_string(options_.max_wait.count() / 1000) +
                              " s in all): have the trigger answer before the rules end (respond: accepted)";
      e->history.push_back(history::failed(step, why, now));
      row.state = ExecutionState::kFailed;
      row.error = why;
      e->failed_at_a_step = false;  // its row is past the wait: run again, it would skip it
      return ended(e);
    }
    // A wait for an event goes on at its timeout (see the header).
    return schedule_(std::chrono::milliseconds(std::max<int64_t>(delay, 0)), [this, e] { next(e); });
  }
  ended(e);
}

void CompletedRoutes::ended(const std::shared_ptr<Execution>& e) {
  metrics_.execution_ended(e->row.rule, e->row.state);
  if (e->parent) {
    // The last branch to end makes the group go on, with every branch's end in its history.
    const std::shared_ptr<Execution> parent = e->parent;
    e->parent.reset();  // no cycle between a branch and its group
    {
      std::lock_guard lock(e->run->mutex);
      if (--parent->branches_running > 0) return;
    }
    json ends = json::array();
    for (const auto& b : parent->branches)
      ends.push_back(
          history::branch_end(b->row.id, b->row.event_id, state_name(b->row.state), b->row.error, b->history));
    parent->branches.clear();
    const json& last = parent->history.empty() ? json() : parent->history.back();
    parent->history.push_back(
        history::branches_ended(last.is_object() ? last.value("step", json()) : json(), std::move(ends), now_ms()));
    parent->row.state = ExecutionState::kReady;
    return next(parent);
  }
  std::vector<std::function<void(const EmitReport&)>> waiting;
  EmitReport report;
  {
    Run& run = *e->run;
    std::lock_guard lock(run.mutex);
    run.ends[e->slot] = {
        {"rule", e->row.rule}, {"status", state_name(e->row.state)}, {"steps", e->history}, {"error", e->row.error}};
    if (run.remembered && e->row.state != ExecutionState::kDone && e->failed_at_a_step) run.failed[e->slot] = e;
    if (--run.remaining > 0) return;
    run.ended = true;
    waiting = std::move(run.waiting);
    run.waiting.clear();
    if (!waiting.empty()) report = report_of(run);
  }
  for (const auto& tell : waiting) tell(report);
}

}  // namespace sb
