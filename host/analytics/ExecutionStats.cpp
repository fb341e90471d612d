#include "analytics/ExecutionStats.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "events/EventParser.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

std::string text_at(const json& entry, const char* key) {
  const auto it = entry.find(key);
  return it != entry.end() && it->is_string() ? it->get<std::string>() : std::string();
}

using Pairs = std::set<std::pair<std::string, std::string>>;
using Sent = std::map<std::pair<std::string, std::string>, int64_t>;  // (step, message id) -> when it was sent

// The (step, outcome) pairs a history reached, the (split step, variant)
// pairs it took and the (step, message id) pairs of the messages it sent; a
// parallel group's branches are in its "branches ended" entry, each with its
// whole history (which repeats the parent's start: a set counts it once).
void collect(const json& history, const std::set<std::string>& channel_steps, Pairs& reached, Pairs& variants,
             Sent& sent) {
  if (!history.is_array()) return;
  for (const json& entry : history) {
    if (!entry.is_object()) continue;
    const std::string step = text_at(entry, "step"), outcome = text_at(entry, "outcome");
    if (!step.empty() && !outcome.empty()) reached.emplace(step, outcome);
    // A message a channel's step sent (other steps' ids are a task's, a request's, ...).
    if (outcome == "done" && (!text_at(entry, "channel").empty() || channel_steps.count(step)))
      if (std::string id = text_at(entry, "external_id"); !step.empty() && !id.empty())
        sent.emplace(std::pair{step, std::move(id)}, parse_time_ms(text_at(entry, "at")).value_or(0));
    // The decisions taken on the way to it: a branch, a case, a variant, a
    // wait that timed out.
    if (const auto branches = entry.find("branches"); branches != entry.end() && branches->is_array())
      for (const json& decision : *branches) {
        if (!decision.is_object()) continue;
        const std::string at = text_at(decision, "step");
        if (decision.contains("variant")) variants.emplace(at, text_at(decision, "variant"));
        for (const char* kind : {"outcome", "branch", "case", "variant"})
          if (const std::string value = text_at(decision, kind); !value.empty())
            reached.emplace(at, std::string(kind) == "outcome" ? value : std::string(kind) + " " + value);
      }
    if (text_at(entry, "outcome") == "branches ended")
      if (const auto ends = entry.find("branches"); ends != entry.end() && ends->is_array())
        for (const json& end : *ends)
          if (end.is_object() && end.contains("history"))
            collect(end["history"], channel_steps, reached, variants, sent);
  }
}

// What providers report of a message, as bits: a report of a later stage
// implies the earlier ones (a message read was delivered; a link clicked was
// opened, though the open's pixel was not loaded).
// kDeliveryReport: the provider itself said it was delivered (an SMS
// gateway's or Meta's status); an email is only known delivered by what its
// reader did.
enum Reported : unsigned {
  kDelivered = 1,
  kOpened = 2,
  kClicked = 4,
  kReplied = 8,
  kFailed = 16,
  kDeliveryReport = 32
};

unsigned reported_by(const std::string& type) {
  if (type == "message.delivered") return kDelivered | kDeliveryReport;
  if (type == "message.read") return kDelivered | kOpened | kDeliveryReport;
  if (type == "message.opened") return kDelivered | kOpened;
  if (type == "message.clicked") return kDelivered | kOpened | kClicked;
  if (type == "message.replied") return kDelivered | kReplied;
  if (type == "message.failed" || type == "message.undelivered" || type == "message.bounced") return kFailed;
  return 0;
}

using Counts = std::map<std::string, std::map<std::string, int64_t>>;  // step -> "sent", "delivered", ... -> messages
using StepNames = std::set<std::string>;

// `delivery_reported`: the steps of whose messages a provider reported a
// delivery. `converted`: with a goal, whether its contact reached it.
void count(Counts& counts, StepNames& delivery_reported, const std::string& step, unsigned reported,
           std::optional<bool> converted) {
  if (reported & kDeliveryReport) delivery_reported.insert(step);
  auto& c = counts[step];
  ++c["sent"];
  if (converted) c["converted"] += *converted;
  // A failure reported after a delivery (a gateway's late status) does not undo it.
  c["failed"] += (reported & kFailed) && !(reported & kDelivered);
  for (const auto& [bit, name] :
       {std::pair{kDelivered, "delivered"}, {kOpened, "opened"}, {kClicked, "clicked"}, {kReplied, "replied"}})
    c[name] += (reported & bit) != 0;
}

// `part` of `whole` in percent with one decimal; null of nothing.
json rate(int64_t part, int64_t whole) {
  if (whole == 0) return nullptr;
  return std::round(1000.0 * static_cast<double>(part) / static_cast<double>(whole)) / 10.0;
}

// The reference CRMs' message metrics, in percent with one decimal: of the
// messages sent, those delivered and those that failed; of those delivered,
// those opened, clicked and replied to; of those opened, those clicked
// (click-to-open). Null where nothing was there to count from. A step whose
// provider reported no delivery (email) has no delivery rate, and its other
// rates count from the messages sent that did not fail. With a goal, the
// messages sent whose contact reached it (conversion).
}  // namespace

json with_rates(const std::map<std::string, int64_t>& figures, bool delivery_reported) {
  const int64_t sent = figures.at("sent"), failed = figures.at("failed"), delivered = figures.at("delivered"),
                opened = figures.at("opened"), clicked = figures.at("clicked");
  const int64_t reached = delivery_reported ? delivered : sent - failed;
  json out = figures;
  out["delivery_rate"] = delivery_reported ? rate(delivered, sent) : json(nullptr);
  out["failure_rate"] = rate(failed, sent);
  out["open_rate"] = rate(opened, reached);
  out["click_rate"] = rate(clicked, reached);
  out["reply_rate"] = rate(figures.at("replied"), reached);
  out["click_to_open_rate"] = rate(clicked, opened);
  if (const auto converted = figures.find("converted"); converted != figures.end())
    out["conversion_rate"] = rate(converted->second, sent);
  return out;
}

namespace {

// Each step's counts with their rates.
json with_step_rates(const Counts& counts, const StepNames& delivery_reported) {
  json out = json::object();
  for (const auto& [step, figures] : counts) out[step] = with_rates(figures, delivery_reported.count(step) != 0);
  return out;
}

// Converted executions, and what the goals they brought were worth:
// "revenue" (the sum of the values there were), "average_check" (of the
// goals with a value; null when none had one). A goal is the revenue of one
// execution only (the last of its contact to begin before it), however many
// converted by it: three reminders before one payment are one payment.
struct Revenue {
  int64_t converted = 0;
  int64_t valued = 0;
  double revenue = 0;
  void credit(const std::optional<double>& value) {
    if (value) ++valued, revenue += *value;
  }
  void put(json& out) const {
    out["revenue"] = std::round(revenue * 100) / 100;
    out["average_check"] = valued ? json(std::round(revenue / static_cast<double>(valued) * 100) / 100) : json();
  }
};

}  // namespace

void ExecutionStats::add(const ExecutionRow& row) {
  ++executions_;
  ++states_[state_name(row.state)];
  // Once per execution: a step retried three times was reached once.
  Pairs reached, variants;
  Sent sent;
  collect(json::parse(row.history_json, nullptr, false), channel_steps_, reached, variants, sent);
  for (const auto& [step, outcome] : reached) ++steps_[step][outcome];
  for (const auto& [split, name] : variants) {
    Variant& variant = splits_[split][name];
    ++variant.executions;
    for (const auto& [step, outcome] : reached) ++variant.steps[step][outcome];
  }
  std::string contact;
  if (goal_) {
    const json context = json::parse(row.context_json, nullptr, false);
    if (const auto c = context.is_object() ? context.find("contact") : context.end(); c != context.end())
      contact = contact_key(*c);
    started_.push_back({contact, row.created_at_ms, {variants.begin(), variants.end()}});
    earliest_ms_ = std::min(earliest_ms_, row.created_at_ms);
  }
  for (const auto& [message, at_ms] : sent) {
    sent_.push_back({message.first, message.second, {variants.begin(), variants.end()}, contact, at_ms});
    if (goal_) earliest_ms_ = std::min(earliest_ms_, at_ms);
  }
}

std::vector<std::string> ExecutionStats::contact_keys() const {
  std::set<std::string> keys;
  for (const Started& s : started_)
    if (!s.contact.empty()) keys.insert(s.contact);
  return {keys.begin(), keys.end()};
}

void ExecutionStats::add_goals(const std::vector<GoalReached>& goals) {
  if (!goal_) return;
  for (const GoalReached& g : goals)
    if (std::find(goal_->events.begin(), goal_->events.end(), g.type) != goal_->events.end())
      goal_times_[g.contact_key].push_back({g.at_ms, g.value});
  // By time; at one time (the store gives them in no set order), the one worth less first.
  for (auto& [contact, times] : goal_times_)
    std::sort(times.begin(), times.end(), [](const Reached& a, const Reached& b) {
      return a.at_ms != b.at_ms ? a.at_ms < b.at_ms : a.value.value_or(-HUGE_VAL) < b.value.value_or(-HUGE_VAL);
    });
}

const ExecutionStats::Reached* ExecutionStats::reached(const std::string& contact, int64_t from_ms) const {
  const auto it = goal_times_.find(contact);
  if (it == goal_times_.end()) return nullptr;
  const auto first = std::lower_bound(it->second.begin(), it->second.end(), Reached{from_ms, std::nullopt});
  return first != it->second.end() && first->at_ms - from_ms <= goal_->within_ms ? &*first : nullptr;
}

std::vector<std::string> ExecutionStats::message_ids() const {
  std::set<std::string> ids;
  for (const SentMessage& m : sent_) ids.insert(m.message_id);
  return {ids.begin(), ids.end()};
}

void ExecutionStats::add_reports(const std::vector<MessageReport>& reports) {
  for (const MessageReport& r : reports) reported_[r.message_id] |= reported_by(r.type);
}

json ExecutionStats::to_json() const {
  Counts messages;
  std::map<std::pair<std::string, std::string>, Counts> variant_messages;
  StepNames delivery_reported;  // a step's, in all and in each variant alike
  for (const SentMessage& m : sent_) {
    const auto it = reported_.find(m.message_id);
    const unsigned reported = it == reported_.end() ? 0 : it->second;
    const std::optional<bool> converted =
        goal_ ? std::optional<bool>(this->converted(m.contact, m.sent_at_ms)) : std::nullopt;
    count(messages, delivery_reported, m.step, reported, converted);
    for (const auto& variant : m.variants)
      count(variant_messages[variant], delivery_reported, m.step, reported, converted);
  }
  // Executions whose contact reached the goal after they began, in all and
  // per variant; with a value, what their goals were worth.
  Revenue all;
  std::map<std::pair<std::string, std::string>, Revenue> variant_converted;
  std::map<const Reached*, const Started*> credited;  // a goal -> the execution it is the revenue of
  for (const Started& s : started_)
    if (const Reached* goal = reached(s.contact, s.at_ms)) {
      ++all.converted;
      for (const auto& variant : s.variants) ++variant_converted[variant].converted;
      if (const Started*& last = credited[goal]; !last || last->at_ms < s.at_ms) last = &s;
    }
  for (const auto& [goal, s] : credited) {
    all.credit(goal->value);
    for (const auto& variant : s->variants) variant_converted[variant].credit(goal->value);
  }
  const int64_t converted_executions = all.converted;
  json splits = json::object();
  for (const auto& [split, variants] : splits_)
    for (const auto& [name, variant] : variants) {
      const auto it = variant_messages.find({split, name});
      json& out = splits[split][name];
      out = {
          {"executions", variant.executions},
          {"steps", variant.steps},
          {"messages", it == variant_messages.end() ? json::object() : with_step_rates(it->second, delivery_reported)}};
      if (goal_) {
        const auto converted = variant_converted.find({split, name});
        const Revenue figures = converted == variant_converted.end() ? Revenue{} : converted->second;
        out["converted"] = figures.converted;
        out["conversion_rate"] = rate(figures.converted, variant.executions);
        if (!goal_->value.empty()) figures.put(out);
      }
    }
  json out = {{"executions", executions_},
              {"states", states_},
              {"steps", steps_},
              {"messages", with_step_rates(messages, delivery_reported)},
              {"splits", splits}};
  if (goal_) {
    out["goal"] = {{"events", goal_->events},
                   {"within_ms", goal_->within_ms},
                   {"converted", converted_executions},
                   {"conversion_rate", rate(converted_executions, executions_)}};
    if (!goal_->value.empty()) {
      out["goal"]["value"] = goal_->value;
      all.put(out["goal"]);
    }
  }
  return out;
}

}  // namespace sb
