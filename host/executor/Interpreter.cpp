#include "executor/Interpreter.h"

#include <algorithm>
#include <map>
#include <random>
#include <shared_mutex>

#include "events/EventParser.h"
#include "executor/ContactPreferences.h"
#include "executor/History.h"
#include "executor/HostActions.h"
#include "log/Logger.h"
#include "rules/Template.h"
#include "util/JsonText.h"
#include "util/Text.h"
#include "util/Time.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {
double jitter() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.5, 1.5)(gen);
}
}  // namespace

std::string split_variant(const CompiledRule& rule, const CompiledStep& split, const json& context) {
  // The person, however the event names them; the event itself otherwise.
  std::string who;
  for (const char* path : {"contact.id", "contact.emails.0.address", "contact.phones.0.number", "event.id"})
    if (const json* v = lookup_path(context, path); v && v->is_string()) {
      who = v->get<std::string>();
      break;
    }
  // The first split hashes as every split did before there could be two.
  const auto first = std::find_if(rule.steps.begin(), rule.steps.end(),
                                  [](const CompiledStep& s) { return s.kind == CompiledStep::Kind::kSplit; });
  const std::string salt = first != rule.steps.end() && &*first != &split ? "\n" + split.id : "";
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a: stable across builds and hosts
  for (char c : rule.name + "\n" + who + salt) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  // FNV-1a's low bits follow only the low bits of each byte: modulo 2 (a
  // 1:1 test) the variant was the parity of the text's bytes, so a second
  // split, or another rule, gave every contact the variant the first did.
  // Mixed (MurmurHash3's finaliser), every bit counts.
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ULL;
  hash ^= hash >> 33;
  int total = 0;
  for (int w : split.weights) total += w;
  if (total <= 0) return split.branches.empty() ? "" : split.branches.front().first;
  int pick = static_cast<int>(hash % static_cast<uint64_t>(total));
  for (size_t i = 0; i < split.branches.size(); ++i) {
    if (pick < split.weights[i]) return split.branches[i].first;
    pick -= split.weights[i];
  }
  return split.branches.back().first;
}

int64_t backoff_ms(int64_t base_ms, int attempt, double jitter) {
  constexpr int64_t kMax = 3600 * 1000;
  int64_t delay = base_ms;
  for (int i = 1; i < attempt && delay < kMax; ++i) delay *= 2;
  return static_cast<int64_t>(static_cast<double>(std::min(delay, kMax)) * jitter);
}

Interpreter::Interpreter(ActionDispatcher& actions, CallQueue& calls, Store& events, ExecutionMetrics& metrics,
                         nlohmann::json account, std::function<void()> events_added, FrequencyCaps* caps, bool durable)
    : actions_(actions),
      calls_(calls),
      events_(events),
      metrics_(metrics),
      account_(std::move(account)),
      events_added_(std::move(events_added)),
      caps_(caps),
      durable_(durable) {}

bool Interpreter::read_records_now(json& context) const {
  try {
    if (const auto contact = context.find("contact"); contact != context.end()) {
      if (const std::string key = contact_key(*contact); !key.empty())
        if (auto stored = events_.contact(key))
          if (json now = json::parse(stored->data_json, nullptr, false); now.is_object()) *contact = std::move(now);
    }
    if (const auto entity = context.find("entity"); entity != context.end() && entity->is_object()) {
      const json* type = lookup_path(*entity, "type");
      const json* id = lookup_path(*entity, "id");
      if (type && type->is_string() && id && id->is_string())
        if (auto stored = events_.entity(type->get<std::string>(), id->get<std::string>())) {
          // As the router reads it: what is stored, with what identifies it and its status.
          json now = json::parse(stored->data_json, nullptr, false);
          if (!now.is_object()) now = json::object();
          now["type"] = stored->type;
          now["id"] = stored->id;
          now["status"] = stored->status ? json(*stored->status) : json();
          *entity = std::move(now);
        }
    }
  } catch (const std::exception& e) {
    log_warn("pipeline", "the contact or the deal could not be read again; the execution's copy is used",
             {{"error", e.what()}});
    return false;
  }
  return true;
}

namespace {
// The time a call waiting for its instance's slot keeps, beyond its step's
// timeout, before its lease ends (see start_action): at most this, and a
// quarter of the lease.
constexpr int64_t kCallStartMarginMs = 30000;

// The step whose result a wait's match could not read (the variable
// "steps.Offer.external_id") when it sent nothing in this execution
// (skipped, or the contact unreachable on its channel), with why; none
// when the variable is another's, or that step sent.
std::optional<std::pair<std::string, std::string>> step_that_sent_nothing(const std::string& variable,
                                                                          const std::string& history_json) {
  if (variable.rfind("steps.", 0) != 0) return std::nullopt;
  const json history = json::parse(history_json, nullptr, false);
  if (!history.is_array()) return std::nullopt;
  for (const json& entry : history) {
    if (!entry.is_object()) continue;
    if (const std::string outcome = entry.value("outcome", ""); outcome != "skipped" && outcome != "unreachable")
      continue;
    const std::string read = "steps." + entry.value("step", "");
    if (variable == read || variable.rfind(read + ".", 0) == 0)
      return std::make_pair(entry.value("step", ""), entry.value("reason", ""));
  }
  return std::nullopt;
}

// The first channel of the fallback chain that ends at step `last` which
// failed for good (a provider's refusal, retries given up) rather than not
// reaching the contact: its index and why, read from the chain's
// hand-overs at the end of the history; none when every channel before was
// unreachable or skipped.
std::optional<std::pair<int, std::string>> channel_that_failed(const CompiledRule& rule, int last,
                                                               const std::string& history_json) {
  // The chain's steps by name: its channels (each hands over to the next
  // by fallback_next) and their delivery waits. Walked back from the end,
  // their indexes only go down: an entry of the same name before them is
  // another chain's (unnamed channels share their action's name).
  std::map<std::string, int> chain;
  for (int at = last; at >= 0;) {
    chain.emplace(rule.steps[static_cast<size_t>(at)].name, at);
    const int wait = rule.steps[static_cast<size_t>(at)].fallback_end;
    if (wait >= 0 && wait < static_cast<int>(rule.steps.size()) &&
        rule.steps[static_cast<size_t>(wait)].confirms_delivery)
      chain.emplace(rule.steps[static_cast<size_t>(wait)].name, wait);
    int before = -1;
    for (int i = at - 1; i >= 0 && before < 0; --i)
      if (rule.steps[static_cast<size_t>(i)].fallback_next == at) before = i;
    at = before;
  }
  const json history = json::parse(history_json, nullptr, false);
  if (!history.is_array()) return std::nullopt;
  std::optional<std::pair<int, std::string>> failed;
  int below = last + 1;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    const auto step = it->is_object() ? chain.find(it->value("step", "")) : chain.end();
    if (step == chain.end() || step->second > below) break;  // before the chain
    below = step->second;
    const std::string outcome = it->value("outcome", "");
    if (it->contains("fallback_to") && outcome != "unreachable" && outcome != "skipped")
      failed = std::make_pair(step->second, outcome + ": " + it->value("reason", ""));
  }
  return failed;
}

// Whether a message step's call surely sent nothing: the contact unreachable
// on the channel, the parameters or the provider refused it. (A retry goes
// again; a last one given up may have reached the provider: a timeout.)
bool nothing_sent(const ActionOutcome& outcome) {
  switch (outcome.outcome) {
    case SB_OUTCOME_UNREACHABLE:
    case SB_OUTCOME_INVALID_PARAMS:
    case SB_OUTCOME_PERMANENT:
      return !outcome.cancelled;
    default:
      return false;
  }
}

// How a wait_until comes to run: for the first time, again when its time
// came (the history's last entry is its wait), or retried by an operator
// after a cancel (its wait, then the operator's entries), which waits no more.
enum class WaitRun { kFirst, kTimeCame, kRetried };
WaitRun wait_run(const std::string& history_json, const std::string& step_name) {
  const json history = json::parse(history_json, nullptr, false);
  if (!history.is_array()) return WaitRun::kFirst;
  bool retried = false;
  for (auto entry = history.rbegin(); entry != history.rend(); ++entry) {
    if (!entry->is_object()) return WaitRun::kFirst;
    // An operator's entries, and a branch's cancel with its parent's.
    if (entry->contains("admin") || entry->value("outcome", "") == "cancelled with its parent") {
      retried = retried || entry->value("admin", "") == "retry";
      continue;
    }
    if (entry->value("step", "") != step_name || entry->value("outcome", "") != "waiting") return WaitRun::kFirst;
    return retried ? WaitRun::kRetried : WaitRun::kTimeCame;
  }
  return WaitRun::kFirst;
}

// Where a step id of this execution is in its rule version. Rows from before
// versions were kept name steps by index.
std::optional<int> position(const CompiledRule& rule, const ExecutionRow& row, const std::string& id) {
  // A row written before versions (no rule_version) holds a flattened index,
  // which a path id of the same digits would misread.
  if (row.rule_version.empty() && !id.empty() && id.find_first_not_of("0123456789") == std::string::npos &&
      id.size() < 9)
    return std::stoi(id);
  return rule.index_of(id);
}
}  // namespace

void Interpreter::run(const ExecutionRow& row, const CompiledRule* rule, const std::string& why, Record record,
                      json* parsed_context, int64_t claimed_ms) {
  if (claimed_ms == 0) claimed_ms = now_ms();
  const auto index = rule ? position(*rule, row, row.step) : std::nullopt;
  const int steps = rule ? static_cast<int>(rule->steps.size()) : 0;
  if (!rule || !index || *index > steps) {
    // Nothing to run it with (a rule removed from the config, a version lost).
    return record(ExecutionUpdate::to(
        row.id, ExecutionState::kFailed, row.step, row.attempt, std::nullopt,
        dump_text(json{{"at", format_time_ms(now_ms())}, {"outcome", "permanent"}}),
        rule ? "rule '" + row.rule + "' has no step '" + row.step + "' in this execution's version" : why));
  }
  json context = parsed_context ? std::move(*parsed_context) : json::parse(row.context_json, nullptr, false);
  if (!context.is_object()) context = json::object();
  // An execution that has done something (waited, sent, retried) reads the
  // contact and the deal as they are now: "wait 3 days, then remind unless
  // paid" sees a payment that came meanwhile, and a message a name
  // corrected since. The event itself stays as it came.
  const bool fresh = *index == 0 && row.parent_id == 0 && row.history_json.size() <= 2;
  // A plain wait and a parallel group read neither (the step after them will).
  const CompiledStep* next_step = *index < steps ? &rule->steps[*index] : nullptr;
  const bool reads_records =
      next_step &&
      !(next_step->kind == CompiledStep::Kind::kParallel ||
        (next_step->kind == CompiledStep::Kind::kWait && !next_step->window && next_step->wait_until.empty()));
  const bool records_read = durable_ && !fresh && reads_records && read_records_now(context);
  context["steps"] = step_results(json::parse(row.history_json, nullptr, false));
  context["account"] = account_;
  // Branches decide where to go without a commit of their own: the decisions
  // are recorded with the step they lead to. One taken on records read now
  // is committed before the action it leads to (below).
  Claimed at{row, rule, *index, record, records_read, claimed_ms};
  json decisions = json::array();
  // Still marked as waiting for an event when it became due: the wait timed out.
  if (!row.awaiting.empty())
    if (auto resume = position(*rule, row, row.resume_step); resume && *resume > 0 && *resume <= steps)
      decisions.push_back({{"step", rule->steps[*resume - 1].name}, {"outcome", "timed out"}});
  auto is_control = [](CompiledStep::Kind k) {
    return k != CompiledStep::Kind::kAction && k != CompiledStep::Kind::kWait && k != CompiledStep::Kind::kWaitEvent &&
           k != CompiledStep::Kind::kParallel && k != CompiledStep::Kind::kDigest;
  };
  // A branch of a parallel group is over at its end step.
  int end = steps;
  if (row.parent_id != 0 && !row.end_step.empty())
    if (auto e = position(*rule, row, row.end_step); e && *e > 0) end = std::min(*e, steps);
  bool decided_on_data = false;  // an if or a switch: what it chose may change with the records
  for (int hops = 0; at.index < end && is_control(rule->steps[at.index].kind) && hops <= steps; ++hops) {
    const CompiledStep::Kind kind = rule->steps[at.index].kind;
    decided_on_data |= kind == CompiledStep::Kind::kIf || kind == CompiledStep::Kind::kSwitch;
    at.index = choose_branch(*rule, rule->steps[at.index], at.index, context, decisions);
  }
  if (at.index >= end) {
    json entry{{"outcome", "done"}, {"at", format_time_ms(now_ms())}};
    if (!decisions.empty()) entry["branches"] = decisions;
    return record(ExecutionUpdate::to(row.id, ExecutionState::kDone, kEndId, 0, std::nullopt, dump_text(entry), ""));
  }
  const CompiledStep& step = rule->steps[at.index];
  // A branch taken on the contact and the deal as they are now is committed
  // before its action is sent: after a crash the action that may have been
  // sent is the one taken up again (in doubt), not the one a record changed
  // since would choose. It costs a write where records were read again.
  if (step.kind == CompiledStep::Kind::kAction && at.records_read && decided_on_data)
    return branch_taken(at, step, std::move(decisions));
  if (step.kind == CompiledStep::Kind::kAction && row.doubt != Doubt::kNone) {
    if (row.doubt == Doubt::kMarkedDone) return step_ended(at, step, ActionOutcome{}, decisions);
    if (row.id == crashed_.execution_id && crashed_.crashes >= 2) return fail_crashed(at, step, decisions);
    if (!step.retry_safe && rule->hold_in_doubt) return hold_in_doubt(at, step, decisions);
  }
  if (step.kind == CompiledStep::Kind::kWaitEvent) return wait_for_event(at, step, context, decisions);
  if (step.kind == CompiledStep::Kind::kDigest) return digest(at, step, context, std::move(decisions));
  if (step.kind == CompiledStep::Kind::kParallel) {
    // Each branch is an execution of its own; this one waits, with no due
    // time, until the store sees the last branch end.
    json entry{{"step", step.name}, {"outcome", "branches started"}};
    if (!decisions.empty()) entry["branches"] = decisions;
    ExecutionUpdate waiting = ExecutionUpdate::to(row.id, ExecutionState::kWaiting, rule->id_at(step.jump_to), 0,
                                                  std::nullopt, dump_text(entry), "");
    for (const auto& [name, start] : step.branches)
      waiting.branches.push_back({step.id + "." + name, rule->id_at(start), rule->id_at(step.jump_to)});
    return record(std::move(waiting));
  }
  const std::string& next = rule->id_at(at.index + 1);
  if (step.window) {
    // The contact's own zone first: quiet hours are theirs.
    const json* own = lookup_path(context, "contact.timezone");
    const bool own_zone = own && own->is_string() && is_time_zone(own->get<std::string>());
    const std::string zone = own_zone || step.window_zone.empty() ? local_zone(context) : step.window_zone;
    const int64_t now = now_ms();
    const int64_t until = next_window_start(now, zone, *step.window);
    json entry{{"step", step.name},
               {"outcome", until > now ? "waiting" : "inside the send window"},
               {"until", format_time_ms(until)},
               {"timezone", zone},
               {"at", format_time_ms(now)}};
    if (!decisions.empty()) entry["branches"] = decisions;
    return record(ExecutionUpdate::to(row.id, until > now ? ExecutionState::kWaiting : ExecutionState::kReady, next, 0,
                                      until, dump_text(entry), ""));
  }
  if (step.wait_ms || !step.wait_until.empty()) {
    const int64_t now = now_ms();
    int64_t until = now + step.wait_ms.value_or(0);
    // A time a record holds is read again when it comes: the wait ends
    // with this step run once more, on the record as it is then, so a
    // booking moved later since waits for its new time.
    const WaitRun run = step.wait_until.empty() ? WaitRun::kFirst : wait_run(row.history_json, step.name);
    const bool came = run != WaitRun::kFirst;
    if (!step.wait_until.empty()) {
      const json* value = lookup_path(context, step.wait_until);
      const auto time = value && value->is_string()
                            ? parse_local_time_ms(value->get<std::string>(), local_zone(context))
                            : std::nullopt;
      if (!time && run != WaitRun::kRetried) {
        const std::string why_not =
            "invalid_params: '" + step.wait_until + "' is not a time in this event" +
            (value && !value->is_null()
                 ? " (it is " + utf8_prefix(dump_text(*value), 100) +
                       "; expected such as 2026-12-10T16:00:00+03:00, 2026-12-10 16:00 or 10.12.2026 16:00)"
                 : "");
        json entry{{"step", step.name}, {"outcome", "invalid_params"}, {"reason", why_not}};
        return record(
            ExecutionUpdate::to(row.id, ExecutionState::kFailed, step.id, 0, std::nullopt, dump_text(entry), why_not));
      }
      // "The day before at 10:00": that day, at that time on the person's clock.
      if (time)
        until = step.wait_at_minute
                    ? at_local_time(*time, step.wait_offset_ms, local_zone(context), *step.wait_at_minute)
                    : *time + step.wait_offset_ms;
      // An operator who retried a cancelled wait meant it to go on.
      if (run == WaitRun::kRetried) until = now;
    }
    // A time already past (a reminder for a booking made late) does not
    // wait: the next step runs now.
    const bool waits = until > now;
    json entry{{"step", step.name},
               {"outcome", waits                      ? "waiting"
                           : run == WaitRun::kRetried ? "not waiting: an operator retried it"
                           : came                     ? "the time came"
                                                      : "not waiting: the time has passed"},
               {"until", format_time_ms(until)},
               {"at", format_time_ms(now)}};
    if (!decisions.empty()) entry["branches"] = decisions;
    const std::string& after = waits && !step.wait_until.empty() ? step.id : next;
    return record(ExecutionUpdate::to(row.id, waits ? ExecutionState::kWaiting : ExecutionState::kReady, after, 0,
                                      std::max(until, now), dump_text(entry), ""));
  }
  run_action(at, step, context, std::move(decisions));
}

void Interpreter::digest(const Claimed& at, const CompiledStep& step, const json& context, json decisions) {
  const ExecutionRow& row = at.row;
  if (!durable_)
    return step_ended(at, step,
                      ActionOutcome::failure(SB_OUTCOME_INVALID_PARAMS,
                                             "a digest collects over time: it needs a stored execution, not a route "
                                             "that answers with the rule's result"),
                      decisions);
  std::string group, item;
  try {
    const auto contact = context.find("contact");
    group = !step.digest_key.is_null() ? as_text(render_template(step.digest_key, context))
            : contact != context.end() ? contact_key(*contact)
                                       : "";
    item = as_text(render_template(step.digest_item, context));
  } catch (const TemplateError& e) {
    return step_ended(at, step, ActionOutcome::failure(SB_OUTCOME_INVALID_PARAMS, e.what()), decisions);
  }
  const std::string key = row.rule + "|" + step.id + "|" + group;
  const int64_t now = now_ms();
  json entry{{"step", step.name}, {"at", format_time_ms(now)}};
  if (!decisions.empty()) entry["branches"] = decisions;
  const int next = at.index + 1;
  const bool last = next >= static_cast<int>(at.rule->steps.size());
  // Which execution leads the group is decided where the update is applied,
  // under the lock on the group's state: two hosts running steps of one
  // group decide one after the other (a lock held only by this host would
  // let each open a digest of its own).
  ExecutionUpdate update;
  update.id = row.id;
  update.decide = [key, closed_key = key + "|closed", id = row.id, event_id = row.event_id, item = std::move(item),
                   entry = std::move(entry), now, window_ms = step.wait_ms.value_or(0),
                   next_step = at.rule->id_at(next), last](ExecutionRows& rows, ExecutionUpdate& out) {
    json noted = entry;  // this run's history entry (a unit may run again)
    auto read = [&](const std::string& k) {
      const auto stored = rows.kv_get(kDigestKeys, k);
      json value = stored ? json::parse(*stored, nullptr, false) : json();
      return value.is_object() ? value : json();
    };
    auto decide = [&](ExecutionState state, std::string step_id, std::optional<int64_t> due) {
      out.state = state;
      out.step = std::move(step_id);
      out.attempt = 0;
      out.due_at_ms = due;
      out.history_entry_json = dump_text(noted);
    };
    auto collecting = [&](int64_t until) {
      noted["outcome"] = "collecting";
      noted["until"] = format_time_ms(until);
      decide(ExecutionState::kWaiting, out.step, until);
    };
    json open = read(key);
    json closed = read(closed_key);
    const bool leads_open = open.is_object() && open.value("leader", int64_t{0}) == id;
    // This execution leads: wait out the window, then go on with every event that joined. The
    // closed digest stays (one per group) so that this step decides the same if it runs again
    // after a crash.
    if (leads_open && now < open.value("until", int64_t{0})) return collecting(open.value("until", int64_t{0}));
    if (leads_open) {
      closed = open;
      rows.kv_put(kDigestKeys, closed_key, dump_text(closed));
      rows.kv_put(kDigestKeys, key, "null");
    }
    if (closed.is_object() && closed.value("leader", int64_t{0}) == id) {
      std::string list;
      for (const json& line : closed["items"]) list += (list.empty() ? "" : "\n") + as_text(line);
      noted["outcome"] = "done";
      noted["output"] = {
          {"count", closed["items"].size()}, {"items", closed["items"]}, {"list", list}, {"events", closed["events"]}};
      return decide(last ? ExecutionState::kDone : ExecutionState::kReady, next_step,
                    last ? std::nullopt : std::optional<int64_t>(now));
    }
    // A leader that an operator cancelled (or that is gone) does not hold the group, nor does one
    // that has not closed its window long after it ended (its host down): this execution takes
    // over, with what was collected, so that no event that joined is left without its message.
    const int64_t grace = std::max<int64_t>(window_ms, 3'600'000);
    const auto leader_runs = [&] {
      const auto leader = rows.find(open.value("leader", int64_t{0}));
      return leader && (leader->state == ExecutionState::kWaiting || leader->state == ExecutionState::kReady ||
                        leader->state == ExecutionState::kInDoubt);
    };
    const bool live = open.is_object() && now < open.value("until", int64_t{0}) + grace && leader_runs();
    if (live) {
      // Another execution collects this group: this event joins it once, and this execution ends here.
      bool listed = false;
      for (const json& joined : open["events"]) listed = listed || joined == event_id;
      if (!listed) {
        open["items"].push_back(item);
        open["events"].push_back(event_id);
        rows.kv_put(kDigestKeys, key, dump_text(open));
      }
      noted["outcome"] = "digested";
      noted["into"] = open["leader"];
      return decide(ExecutionState::kDone, kEndId, std::nullopt);
    }
    json items = open.is_object() ? open["items"] : json::array();
    json events = open.is_object() ? open["events"] : json::array();
    items.push_back(item);
    events.push_back(event_id);
    const int64_t until = now + window_ms;
    rows.kv_put(
        kDigestKeys, key,
        dump_text(json{{"leader", id}, {"until", until}, {"items", std::move(items)}, {"events", std::move(events)}}));
    collecting(until);
  };
  update.decides_from = {{kDigestKeys, key}, {kDigestKeys, key + "|closed"}};
  update.step = step.id;  // where a collecting execution stays
  at.record(std::move(update));
}

void Interpreter::branch_taken(const Claimed& at, const CompiledStep& step, json decisions) {
  json entry{{"outcome", "branch taken"}, {"next", step.name}, {"branches", std::move(decisions)}};
  entry["at"] = format_time_ms(now_ms());
  ExecutionUpdate update =
      ExecutionUpdate::to(at.row.id, ExecutionState::kReady, step.id, 0, now_ms(), dump_text(entry), "");
  // A dead host's doubt stays with the step: it may have run the action from
  // the branch (a host of an older version did not commit it first).
  update.keeps_doubt = true;
  at.record(std::move(update));
}

void Interpreter::hold_in_doubt(const Claimed& at, const CompiledStep& step, json decisions) {
  const std::string why =
      "in doubt: the host stopped while this step was in flight, and '" + step.instance + "." + step.action +
      "' takes no idempotency key, so it may have been sent; an operator marks it done or sends it again";
  json entry{{"step", step.name}, {"outcome", "in doubt"}, {"reason", why}, {"at", format_time_ms(now_ms())}};
  if (!decisions.empty()) entry["branches"] = decisions;
  log_warn("pipeline", "a step is in doubt",
           {{"rule", at.row.rule}, {"event_id", at.row.event_id}, {"step", step.name}});
  at.record(ExecutionUpdate::to(at.row.id, ExecutionState::kInDoubt, step.id, at.row.attempt, std::nullopt,
                                dump_text(entry), why));
}

void Interpreter::fail_crashed(const Claimed& at, const CompiledStep& step, json decisions) {
  const std::string why = "the host crashed in this execution's plugin calls " + std::to_string(crashed_.crashes) +
                          " times, the last in this step's (" + crashed_.where +
                          "): not run again; retry it once the plugin is mended";
  json entry{{"step", step.name}, {"outcome", "failed"}, {"reason", why}, {"at", format_time_ms(now_ms())}};
  if (!decisions.empty()) entry["branches"] = decisions;
  log_error("pipeline", "a step that crashed the host is not run again",
            {{"rule", at.row.rule}, {"event_id", at.row.event_id}, {"step", step.name}, {"reason", why}});
  at.record(ExecutionUpdate::to(at.row.id, ExecutionState::kFailed, step.id, at.row.attempt, std::nullopt,
                                dump_text(entry), why));
}

void Interpreter::wait_for_event(const Claimed& at, const CompiledStep& step, const json& context, json decisions) {
  std::vector<std::pair<std::string, std::string>> matched;
  json match = json::object();
  try {
    for (const auto& [path, value] : step.wait_match.items()) {
      matched.emplace_back(path, as_text(render_template(value, context)));
      match[path] = matched.back().second;
    }
  } catch (const TemplateError& e) {
    // Waiting for what a step that sent nothing would have sent (the
    // contact opted out or has no address; a frequency cap): nothing can
    // come, so the wait's else runs now.
    if (const auto skipped = step_that_sent_nothing(e.variable(), at.row.history_json)) {
      json entry{{"step", step.name},
                 {"outcome", "not waiting: step '" + skipped->first + "' sent nothing"},
                 {"reason", skipped->second},
                 {"at", format_time_ms(now_ms())}};
      if (!decisions.empty()) entry["branches"] = decisions;
      return at.record(ExecutionUpdate::to(at.row.id, ExecutionState::kReady, at.rule->id_at(step.else_step), 0,
                                           now_ms(), dump_text(entry), ""));
    }
    const std::string why = std::string("invalid_params: ") + e.what();
    json entry{{"step", step.name}, {"outcome", "invalid_params"}, {"reason", why}};
    return at.record(
        ExecutionUpdate::to(at.row.id, ExecutionState::kFailed, step.id, 0, std::nullopt, dump_text(entry), why));
  }
  // A channel's delivery is taken as its action said when no report can be
  // waited for: a route whose caller holds the line cannot wait for one,
  // and a message without an id (a step an operator marked done) has none
  // to come.
  if (step.confirms_delivery) {
    const bool no_id = std::any_of(matched.begin(), matched.end(), [](const auto& m) { return m.second.empty(); });
    if (!durable_ || no_id) {
      json entry{{"step", step.name},
                 {"outcome", "delivered"},
                 {"reason", !durable_ ? "a route that answers with the rule's result does not wait for delivery reports"
                                      : "the channel gave no message id to match a delivery report with"},
                 {"at", format_time_ms(now_ms())}};
      if (!decisions.empty()) entry["branches"] = decisions;
      return at.record(ExecutionUpdate::to(at.row.id, ExecutionState::kReady, at.rule->id_at(at.index + 1), 0, now_ms(),
                                           dump_text(entry), ""));
    }
  }
  const int64_t now = now_ms(), until = now + step.wait_ms.value_or(0);
  json entry{{"step", step.name}, {"outcome", "waiting for event"}, {"event", step.wait_events.front()},
             {"match", match},    {"until", format_time_ms(until)}, {"at", format_time_ms(now)}};
  if (step.wait_events.size() > 1) entry["events"] = step.wait_events;  // "event" is the first, as before lists
  if (!step.wait_else_on.empty()) entry["else_on"] = step.wait_else_on;
  if (!decisions.empty()) entry["branches"] = decisions;
  ExecutionUpdate waiting = ExecutionUpdate::to(at.row.id, ExecutionState::kWaiting, at.rule->id_at(step.else_step), 0,
                                                until, dump_text(entry), "");
  waiting.awaiting = arrival_key(awaited_types(step.wait_events, step.wait_else_on), matched);
  waiting.resume_step = at.rule->id_at(at.index + 1);
  at.record(std::move(waiting));
}

int Interpreter::choose_branch(const CompiledRule& rule, const CompiledStep& step, int index, const json& context,
                               json& decisions) const {
  switch (step.kind) {
    case CompiledStep::Kind::kJump:
      return step.jump_to;
    case CompiledStep::Kind::kIf: {
      const bool yes = step.condition && step.condition->matches(context, now_ms());
      decisions.push_back({{"step", step.name}, {"branch", yes ? "then" : "else"}});
      return yes ? index + 1 : step.else_step;
    }
    case CompiledStep::Kind::kSwitch: {
      const json* value = lookup_path(context, step.switch_path);
      const auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : dump_text(v); };
      // A list (tags): its first item that names a case.
      const json one = value && !value->is_array() ? *value : json();
      for (const json& item : value && value->is_array() ? *value : json::array({one}))
        for (const auto& [name, target] : step.branches)
          if (value && name == text(item)) {
            decisions.push_back({{"step", step.name}, {"case", name}});
            return target;
          }
      decisions.push_back({{"step", step.name}, {"case", "default"}});
      return step.default_step;
    }
    case CompiledStep::Kind::kSplit: {
      const std::string variant = split_variant(rule, step, context);
      for (const auto& [name, target] : step.branches)
        if (name == variant) {
          decisions.push_back({{"step", step.name}, {"variant", name}});
          return target;
        }
      return step.default_step;
    }
    case CompiledStep::Kind::kAction:
    case CompiledStep::Kind::kWait:
    case CompiledStep::Kind::kWaitEvent:
    case CompiledStep::Kind::kParallel:
    case CompiledStep::Kind::kDigest:
      break;
  }
  return index;
}

void Interpreter::run_action(const Claimed& at, const CompiledStep& step, const json& context, json decisions) {
  auto request = make_action_request(step, context, at.row);
  if (auto* refused = std::get_if<ActionOutcome>(&request)) return step_ended(at, step, *refused, decisions);
  if (!durable_) std::get<ActionRequest>(request).subject.execution_id = 0;  // not a stored execution
  // A message step without a category of its own has its rule's, which the channel sees too.
  if (auto& params = std::get<ActionRequest>(request).params; !step.channel.empty() && !params.contains("category"))
    params["category"] = at.rule->category;
  if (!step.channel.empty() && !at.rule->critical) {
    const ActionRequest& message = std::get<ActionRequest>(request);
    if (auto why = preferences_refuse(at, step, message, context)) return step_skipped(at, step, *why, decisions);
    if (caps_) {
      const auto found = message.params.find("category");
      const std::string category = found != message.params.end() && found->is_string() ? found->get<std::string>() : "";
      const std::string contact = message.subject.contact_key, key = message.idempotency_key;
      // Counted in a unit of work of the store (hosts sharing it count one
      // after the other): the step goes on once that commits.
      return caps_->take(
          contact, step.channel, category, key, now_ms(),
          [this, at, &step, context, decisions = std::move(decisions),
           request = std::move(std::get<ActionRequest>(request))](const StoreStatus& status,
                                                                  const FrequencyCaps::Verdict& verdict) mutable {
            if (!status.ok()) {  // not attempted: no attempt used up
              ActionOutcome later = ActionOutcome::failure(
                  SB_OUTCOME_DEFERRED, "cannot count the message against the frequency caps: " + status.message);
              later.retry_after_s = 1;
              return step_ended(at, step, later, decisions);
            }
            if (!verdict.over.empty() && !at.rule->defer_over_cap)
              return step_skipped(at, step, verdict.over, decisions);
            if (!verdict.over.empty()) {
              ActionOutcome later = ActionOutcome::failure(SB_OUTCOME_DEFERRED, verdict.over);
              later.retry_after_s =
                  static_cast<uint32_t>(std::max<int64_t>(1, (verdict.free_at_ms - now_ms() + 999) / 1000));
              return step_ended(at, step, later, decisions);
            }
            start_action(at, step, std::move(request), context, std::move(decisions));
          });
    }
  }
  start_action(at, step, std::move(std::get<ActionRequest>(request)), context, std::move(decisions));
}

void Interpreter::start_action(const Claimed& at, const CompiledStep& step, ActionRequest request, const json& context,
                               json decisions) {
  metrics_.step_started();
  if (step.instance == kHostInstance) return produce_event(at, step, request, context, std::move(decisions));
  struct Started {
    Claimed at;
    json decisions;
  };
  auto started = std::make_shared<const Started>(Started{at, std::move(decisions)});
  // A call that waits for its instance's slot must start early enough to end
  // within its step's lease (the claim's due time): else it is given back,
  // unsent, to be claimed again, rather than be taken over while it waits.
  int64_t start_by = 0;
  if (durable_ && at.row.due_at_ms) {
    const int64_t lease_left = *at.row.due_at_ms - now_ms();
    start_by = *at.row.due_at_ms - step.timeout.count() - std::min(kCallStartMarginMs, lease_left / 4);
    if (start_by <= now_ms())
      start_by = 0;  // a lease too short for the step: never given back at once, again and again
  }
  calls_.submit(
      step.instance, at.row.priority,
      [this, started, &step, start_by, request = std::move(request)](CallQueue::Release release) {
        if (start_by != 0 && now_ms() > start_by) {
          release();
          return started->at.record(ExecutionUpdate::given_back(started->at.row, now_ms()));
        }
        // Sent again with the same key after a host died with it in flight
        // (on_doubt: resend, or a retry-safe provider): counted, and said so
        // in its history, so that repeats a provider saw can be told apart.
        const bool again = started->at.row.doubt == Doubt::kMayHaveRun;
        if (again) metrics_.step_resent_in_doubt(started->at.row.rule, step.name);
        // A message counted against the frequency caps (run_action) that is
        // not sent after all gives its place back.
        const bool capped = caps_ && !step.channel.empty() && !started->at.rule->critical;
        actions_.dispatch(step.instance, request,
                          [this, started, &step, again, release = std::move(release),
                           contact = capped ? request.subject.contact_key : std::string(),
                           key = capped ? request.idempotency_key : std::string()](ActionOutcome outcome) {
                            release();
                            // Only a first attempt: one before may have reached the provider.
                            if (!key.empty() && !again && started->at.row.attempt == 0 && nothing_sent(outcome))
                              caps_->give_back(contact, step.channel, key);
                            step_ended(started->at, step, outcome, started->decisions, again);
                          });
      },
      // Given up while it waits for a slot, never sent: for a cancel, ended
      // as a call in flight given up for it is (PendingCalls); when the host
      // stops, given back to be claimed after the restart, not taken for sent. A
      // route's rows are in memory only: no operator names them, and its
      // caller is answered at once.
      durable_ ? at.row.id : 0,
      [this, started, &step](CallQueue::GiveUpReason why) {
        if (why == CallQueue::GiveUpReason::kCancelled)
          return step_ended(started->at, step, ActionOutcome::given_up_for_cancel(), started->decisions);
        if (durable_) return started->at.record(ExecutionUpdate::given_back(started->at.row, now_ms()));
        step_ended(started->at, step, ActionOutcome::failure(SB_OUTCOME_PERMANENT, "not sent: the host is stopping"),
                   started->decisions);
      },
      start_by, at.claimed_ms);
}

void Interpreter::produce_event(const Claimed& at, const CompiledStep& step, const ActionRequest& request,
                                const json& context, json decisions) {
  auto made = host_action_event(request, context, at.row.rule, now_ms(), durable_);
  if (auto* why = std::get_if<std::string>(&made))
    return step_ended(at, step, ActionOutcome::failure(SB_OUTCOME_INVALID_PARAMS, *why), decisions);
  std::vector<EventRecord> batch;
  batch.push_back(std::move(std::get<EventRecord>(made)));
  std::string id = batch.front().id;  // the step's key, or its bounded form
  // Run again after a crash, the step produces a duplicate: the event is stored once.
  const bool may_hold = request.params.contains("if_status");
  events_.append_events(std::move(batch), [this, at, &step, decisions = std::move(decisions), id = std::move(id),
                                           may_hold](AppendResult result) {
    if (result.ok() && !result.outcomes.empty() && result.outcomes.front() == AppendOutcome::kIdTaken)
      return step_ended(at, step, ActionOutcome::failure(SB_OUTCOME_PERMANENT, id_taken_problem(id)), decisions);
    ActionOutcome outcome = result.ok()
                                ? ActionOutcome{}
                                : ActionOutcome::failure(SB_OUTCOME_RETRY, "cannot store the event: " + result.error);
    // A status change held to statuses the entity was no longer in changed nothing: no event, no id.
    const bool unchanged =
        result.ok() && !result.outcomes.empty() && result.outcomes.front() == AppendOutcome::kUnchanged;
    if (!unchanged) outcome.external_id = id;
    if (may_hold && result.ok()) outcome.output = {{"changed", !unchanged}};
    step_ended(at, step, outcome, decisions);
    if (events_added_) events_added_();  // the router has a new event
  });
}

void Interpreter::announce_sent(const Claimed& at, const CompiledStep& step, const ActionOutcome& outcome,
                                const json& decisions, bool sent_again_in_doubt) {
  const json context = json::parse(at.row.context_json, nullptr, false);
  const json& event = context.is_object() ? context.value("event", json::object()) : json::object();
  // A rule that runs on message.sent announces nothing of its own messages:
  // it would set itself off again.
  if (event.is_object() && event.value("type", "") == "message.sent")
    return record_end(at, step, outcome, decisions, sent_again_in_doubt);
  ActionRequest request;
  request.action = "emit";
  request.idempotency_key = at.row.event_id + ":" + at.row.rule + ":" + step.id + ":sent";
  json data{{"message_id", outcome.external_id}, {"channel", step.channel}, {"step", step.name}};
  if (durable_) data["execution_id"] = at.row.id;  // a route's executions are in memory only
  request.params = {{"type", "message.sent"}, {"data", std::move(data)}};
  // The contact by its key, as a durable execution's is: a route's caller's
  // contact is not stored for it.
  auto made = host_action_event(request, context.is_object() ? context : json::object(), at.row.rule, now_ms(),
                                /*contact_stored=*/true);
  if (auto* why = std::get_if<std::string>(&made)) {
    log_warn("pipeline", "a sent message could not be announced", {{"rule", at.row.rule}, {"reason", *why}});
    return record_end(at, step, outcome, decisions, sent_again_in_doubt);
  }
  std::vector<EventRecord> batch;
  batch.push_back(std::move(std::get<EventRecord>(made)));
  // Stored before the step's end: a step run again after a crash announces a
  // duplicate, which changes nothing. Not stored, the message was still sent.
  events_.append_events(std::move(batch),
                        [this, at, &step, outcome, decisions, sent_again_in_doubt](AppendResult result) {
                          if (!result.ok())
                            log_warn("pipeline", "a sent message could not be announced",
                                     {{"rule", at.row.rule}, {"step", step.name}, {"reason", result.error}});
                          record_end(at, step, outcome, decisions, sent_again_in_doubt);
                          if (result.ok() && events_added_) events_added_();  // the router has a new event
                        });
}

std::optional<std::string> Interpreter::preferences_refuse(const Claimed& at, const CompiledStep& step,
                                                           const ActionRequest& request, const json& context) {
  const auto given = request.params.find("category");
  const std::string category =
      given != request.params.end() && given->is_string() ? given->get<std::string>() : at.rule->category;
  // The contact as stored now: an unsubscribe may have come while this execution waited. A route
  // that keeps its state in memory (no row) reads the request's own contact instead of the disk.
  json contact = context.value("contact", json());
  if (durable_ && !at.records_read && !request.subject.contact_key.empty()) try {
      if (auto stored = events_.contact(request.subject.contact_key))
        contact = json::parse(stored->data_json, nullptr, false);
    } catch (const std::exception& e) {
      log_warn("pipeline", "the contact's preferences could not be read; the execution's copy decides",
               {{"rule", at.row.rule}, {"error", e.what()}});
    }
  return opted_out(contact, step.channel, category);
}

void Interpreter::step_skipped(const Claimed& at, const CompiledStep& step, const std::string& why,
                               const json& decisions) {
  metrics_.step_skipped(at.row.rule, step.name);
  json entry{{"step", step.name}, {"outcome", "skipped"}, {"reason", why}, {"at", format_time_ms(now_ms())}};
  if (!decisions.empty()) entry["branches"] = decisions;
  // In a fallback chain the next channel is tried; anywhere else the rule goes on.
  if (step.fallback_next < 0 && step.fallback_end >= 0) return chain_reached_no_one(at, step, entry);
  const int next = step.fallback_next >= 0 ? step.fallback_next : at.index + 1;
  const bool last = next >= static_cast<int>(at.rule->steps.size());
  at.record(ExecutionUpdate::to(at.row.id, last ? ExecutionState::kDone : ExecutionState::kReady, at.rule->id_at(next),
                                0, last ? std::nullopt : std::optional<int64_t>(now_ms()), dump_text(entry), ""));
}

void Interpreter::chain_reached_no_one(const Claimed& at, const CompiledStep& step, const json& entry) {
  const ExecutionRow& row = at.row;
  const auto failed = channel_that_failed(*at.rule, at.index, row.history_json);
  if (!failed) {
    // None could reach the contact: the rule goes on to its other actions
    // (the manager's task), as after a skipped message.
    const int next = step.fallback_end;
    const bool last = next >= static_cast<int>(at.rule->steps.size());
    return at.record(ExecutionUpdate::to(row.id, last ? ExecutionState::kDone : ExecutionState::kReady,
                                         at.rule->id_at(next), 0,
                                         last ? std::nullopt : std::optional<int64_t>(now_ms()), dump_text(entry), ""));
  }
  // A channel before failed for good (a revoked token): the dead letter is
  // that channel's, which a retry sends again once it is mended.
  log_warn("pipeline", "execution failed",
           {{"rule", row.rule},
            {"event_id", row.event_id},
            {"step", at.rule->steps[failed->first].name},
            {"reason", failed->second}});
  at.record(ExecutionUpdate::to(row.id, ExecutionState::kFailed, at.rule->id_at(failed->first), 0, std::nullopt,
                                dump_text(entry), failed->second));
}

void Interpreter::step_ended(const Claimed& at, const CompiledStep& step, const ActionOutcome& outcome,
                             const json& decisions, bool sent_again_in_doubt) {
  const ExecutionRow& row = at.row;
  // Given up for an operator's cancel: the row is cancelled already, and
  // this only ends the step's lease.
  if (outcome.cancelled)
    return at.record(ExecutionUpdate::to(row.id, ExecutionState::kCancelled, step.id, row.attempt, std::nullopt));
  if (announce_sent_ && outcome.ok() && !step.channel.empty() && !step.reports_delivery && !outcome.external_id.empty())
    return announce_sent(at, step, outcome, decisions, sent_again_in_doubt);
  record_end(at, step, outcome, decisions, sent_again_in_doubt);
}

void Interpreter::record_end(const Claimed& at, const CompiledStep& step, const ActionOutcome& outcome,
                             const json& decisions, bool sent_again_in_doubt) {
  const ExecutionRow& row = at.row;
  // The last attempt that asked for another: given up, not one more retry
  // (what a dashboard of failed actions and the stats count).
  const bool gave_up = outcome.outcome == SB_OUTCOME_RETRY && row.attempt + 1 >= step.max_attempts;
  metrics_.step_ended(row.rule, step.name, gave_up ? std::string_view("gave_up") : outcome_name(outcome.outcome));
  json entry = outcome.to_json();
  if (gave_up) entry["outcome"] = "gave up";
  if (!decisions.empty()) entry["branches"] = decisions;
  entry["step"] = step.name;
  if (!step.channel.empty()) entry["channel"] = step.channel;  // a message: the step's analytics count it
  entry["attempt"] = row.attempt + 1;
  if (sent_again_in_doubt) entry["sent_again_in_doubt"] = true;  // it may have reached the provider before
  entry["at"] = format_time_ms(now_ms());
  const int steps = static_cast<int>(at.rule->steps.size());
  // The step is over: on to `next`, or the execution is done.
  const auto go_on = [&](int next) {
    const bool last = next >= steps;
    at.record(ExecutionUpdate::to(row.id, last ? ExecutionState::kDone : ExecutionState::kReady, at.rule->id_at(next),
                                  0, last ? std::nullopt : std::optional<int64_t>(now_ms()), dump_text(entry), ""));
  };
  // A channel of a fallback chain delivered: the others are skipped.
  if (outcome.ok()) return go_on(step.fallback_end >= 0 ? step.fallback_end : at.index + 1);
  // Not attempted (a channel over its sending limit): later, without counting an attempt.
  if (outcome.outcome == SB_OUTCOME_DEFERRED) {
    const int64_t when = now_ms() + std::max<int64_t>(int64_t{outcome.retry_after_s} * 1000, 1000);
    entry["retry_at"] = format_time_ms(when);
    // Deferred again at the same step: the first deferral's entry stands (the
    // row's due time is the next try). A campaign held at a channel's limit
    // would add an entry to every waiting row each minute, rewriting it whole.
    const json last = history::last_entry(row.history_json);
    const bool again =
        decisions.empty() && last.value("outcome", "") == "deferred" && last.value("step", "") == step.name;
    return at.record(ExecutionUpdate::to(row.id, ExecutionState::kWaiting, step.id, row.attempt, when,
                                         again ? "" : dump_text(entry)));
  }
  const int attempts = row.attempt + 1;
  if (outcome.outcome == SB_OUTCOME_RETRY && attempts < step.max_attempts) {
    int64_t delay = backoff_ms(step.backoff_ms, attempts, jitter());
    if (outcome.retry_after_s) delay = std::max<int64_t>(delay, int64_t{outcome.retry_after_s} * 1000);
    entry["retry_at"] = format_time_ms(now_ms() + delay);
    return at.record(
        ExecutionUpdate::to(row.id, ExecutionState::kReady, step.id, attempts, now_ms() + delay, dump_text(entry), ""));
  }
  std::string why = std::string(outcome_name(outcome.outcome)) + ": " + outcome.reason;
  if (outcome.outcome == SB_OUTCOME_RETRY)
    why = "gave up after " + std::to_string(attempts) + (attempts == 1 ? " attempt: " : " attempts: ") + outcome.reason;
  if (step.fallback_next >= 0) {
    // Unreachable here, or failed for good: the next channel of the chain.
    entry["fallback_to"] = at.rule->steps[step.fallback_next].name;
    return at.record(ExecutionUpdate::to(row.id, ExecutionState::kReady, at.rule->id_at(step.fallback_next), 0,
                                         now_ms(), dump_text(entry), ""));
  }
  if (outcome.outcome == SB_OUTCOME_UNREACHABLE && !step.channel.empty()) {
    // A message the contact cannot get on this channel (no address of the
    // kind, a number that is not one): nothing to send, and the rule goes
    // on to its other actions, as after a skipped message. Counted as
    // unreachable.
    if (step.fallback_end < 0) return go_on(at.index + 1);
    return chain_reached_no_one(at, step, entry);
  }
  log_warn("pipeline", "execution failed",
           {{"rule", row.rule}, {"event_id", row.event_id}, {"step", step.name}, {"reason", why}});
  at.record(
      ExecutionUpdate::to(row.id, ExecutionState::kFailed, step.id, attempts, std::nullopt, dump_text(entry), why));
}

ExecutionMetrics::ExecutionMetrics(Metrics& metrics)
    : metrics_(metrics),
      started_(metrics.counter("switchboard_pipeline_steps_started_total", {})),
      done_(metrics.counter("switchboard_pipeline_executions_total", {{"state", "done"}})),
      failed_(metrics.counter("switchboard_pipeline_executions_total", {{"state", "failed"}})) {}

template <typename MakeLabels>
Counter& ExecutionMetrics::series(const std::string& key, const char* name, const MakeLabels& labels) {
  {
    std::shared_lock lock(mutex_);
    if (auto it = series_.find(key); it != series_.end()) return *it->second;
  }
  Counter& c = metrics_.counter(name, labels());
  std::unique_lock lock(mutex_);
  series_.emplace(key, &c);
  return c;
}

void ExecutionMetrics::step_ended(const std::string& rule, const std::string& step, std::string_view outcome) {
  const std::string name(outcome);
  series("a\n" + rule + "\n" + step + "\n" + name, "switchboard_actions_total", [&] {
    return Labels{{"rule", rule}, {"step", step}, {"outcome", name}};
  }).add();
}

void ExecutionMetrics::step_resent_in_doubt(const std::string& rule, const std::string& step) {
  series("d\n" + rule + "\n" + step, "switchboard_steps_resent_in_doubt_total", [&] {
    return Labels{{"rule", rule}, {"step", step}};
  }).add();
}

void ExecutionMetrics::step_skipped(const std::string& rule, const std::string& step) {
  series("a\n" + rule + "\n" + step + "\nskipped", "switchboard_actions_total", [&] {
    return Labels{{"rule", rule}, {"step", step}, {"outcome", "skipped"}};
  }).add();
}

void ExecutionMetrics::execution_ended(const std::string& rule, ExecutionState state) {
  if (state == ExecutionState::kDone) done_.add();
  if (state == ExecutionState::kFailed) failed_.add();
  const std::string name = state_name(state);
  series("e\n" + rule + "\n" + name, "switchboard_executions_total", [&] {
    return Labels{{"rule", rule}, {"status", name}};
  }).add();
}

void ExecutionMetrics::unknown_status(const std::string& entity_type) {
  series("u\n" + entity_type, "switchboard_events_unknown_status_total", [&] {
    return Labels{{"entity", entity_type}};
  }).add();
}

void ExecutionMetrics::chain_cut(const std::string& rule) {
  series("c\n" + rule, "switchboard_rule_chains_cut_total", [&] { return Labels{{"rule", rule}}; }).add();
}

}  // namespace sb
