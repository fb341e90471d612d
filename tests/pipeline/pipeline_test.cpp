// The durable pipeline over a real SQLite store, with a scripted dispatcher
// standing in for plugins: steps in order, retries with backoff, dead
// letters, waits, status triggers end to end, and a restart that resumes a
// step in flight with the same idempotency key.
#include "pipeline/Pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <future>
#include <set>
#include <sstream>

#include "events/EventParser.h"
#include "executor/HostActions.h"
#include "integration/test_support.h"
#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "pipeline/EmittedEvents.h"
#include "store/SqliteStore.h"
#include "util/Time.h"

namespace sb {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Answers each call with the next scripted outcome (done when the script is
// empty), or holds it when `hold` is set.
class ScriptedActions : public ActionDispatcher {
 public:
  void dispatch(const std::string& instance, const ActionRequest& request, PendingCalls::Callback done) override {
    std::unique_lock lock(mutex_);
    calls.push_back({instance, request});
    changed_.notify_all();
    if (hold) {
      held.push_back(std::move(done));
      return;
    }
    ActionOutcome outcome;
    if (!script.empty()) {
      outcome = script.front();
      script.pop_front();
    }
    lock.unlock();
    done(outcome);
  }
  // Answers the oldest held call; false when none is held.
  bool release_one(ActionOutcome outcome = {}) {
    PendingCalls::Callback done;
    {
      std::lock_guard lock(mutex_);
      if (held.empty()) return false;
      done = std::move(held.front());
      held.erase(held.begin());
    }
    done(outcome);
    return true;
  }
  // Waits until `n` calls were made; returns them.
  std::vector<std::pair<std::string, ActionRequest>> wait_for(size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return calls.size() >= n; });
    return calls;
  }

  std::deque<ActionOutcome> script;
  std::vector<std::pair<std::string, ActionRequest>> calls;
  std::vector<PendingCalls::Callback> held;
  bool hold = false;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
};

CompiledStep action(const std::string& name, int max_attempts = 5, int64_t backoff = 20) {
  CompiledStep s;
  s.name = name;
  s.instance = "sink";
  s.action = "post";
  s.params = json{{"text", "Hello {{contact.name}}"}, {"n", "{{data.n|0}}"}};
  s.max_attempts = max_attempts;
  s.backoff_ms = backoff;
  return s;
}

CompiledStep wait(int64_t ms) {
  CompiledStep s;
  s.name = "wait";
  s.wait_ms = ms;
  return s;
}

CompiledRule rule(const std::string& name, const json& trigger, std::vector<CompiledStep> steps) {
  std::vector<ConditionProblem> problems;
  CompiledRule r;
  r.name = name;
  r.trigger = Trigger::compile(trigger, {{"students", {"A", "B", "C"}}}, problems);
  EXPECT_TRUE(problems.empty());
  r.steps = std::move(steps);
  return r;
}

EventRecord lead_event(const std::string& id, const std::string& type, std::optional<std::string> status) {
  EventRecord e;
  e.id = id;
  e.type = type;
  e.source = "api";
  e.received_at_ms = e.occurred_at_ms = now_ms();
  json body = {
      {"id", id}, {"type", type}, {"contact", {{"name", "Анна"}}}, {"entity", {{"type", "lead"}, {"id", "L1"}}}};
  if (status) body["entity"]["status"] = *status;
  e.body_json = body.dump();
  e.entity = EntityUpdate{"lead", "L1", true, status, "{}"};
  return e;
}

// The pipeline goes before a queue of the test's that it uses, also when an
// assertion fails.
struct StopFirst {
  std::unique_ptr<Pipeline>& pipeline;
  ~StopFirst() {
    if (pipeline) pipeline->stop();
    pipeline.reset();
  }
};

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = std::make_unique<SqliteStore>(SqliteStore::Options{file_}); }
  void offer_waiting_for_an_open(const std::string& message_id);
  void TearDown() override {
    if (pipeline_) pipeline_->stop();
  }
  void run(std::vector<CompiledRule> rules) {
    pipeline_ = std::make_unique<Pipeline>(*store_, std::move(rules), actions_, metrics_, PipelineOptions{100ms, 5});
    pipeline_->start();
  }
  void append(std::vector<EventRecord> events) {
    std::promise<AppendResult> got;
    store_->append_events(std::move(events), [&](AppendResult r) { got.set_value(std::move(r)); });
    ASSERT_TRUE(got.get_future().get().ok());
    if (pipeline_) pipeline_->wake();
  }
  // Waits until every execution is done or failed.
  std::vector<ExecutionRow> settled(size_t expected, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto rows = store_->executions({});
      size_t ended = 0;
      for (const auto& r : rows) ended += r.state == ExecutionState::kDone || r.state == ExecutionState::kFailed;
      if (rows.size() == expected && ended == expected) return rows;
      std::this_thread::sleep_for(5ms);
    }
    return store_->executions({});
  }

  // Stores the events ({"events": [...]}), waits for `executions` to end,
  // and gives the ids of the events they began with.
  std::set<std::string> events_fired(const char* events_json, size_t executions) {
    auto parsed = parse_events(events_json, now_ms(), 100, "api");
    EXPECT_TRUE(parsed.problems.empty());
    append(std::move(parsed.records));
    std::set<std::string> fired;
    for (const auto& r : settled(executions)) fired.insert(r.event_id);
    return fired;
  }

  void run_campaign_and_reset();

  std::filesystem::path file_ = test::make_temp_dir("sb_pipeline") / "switchboard.db";
  std::unique_ptr<SqliteStore> store_;
  ScriptedActions actions_;
  Metrics metrics_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, StepsRunInOrderWithStableIdempotencyKeys) {
  run({rule("welcome", {{"event", "lead.created"}}, {action("first"), action("second")})});
  append({lead_event("e1", "lead.created", "A"), lead_event("e2", "lead.updated", std::nullopt)});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  const json history = json::parse(rows[0].history_json);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]["step"], "first");
  EXPECT_EQ(history[1]["outcome"], "done");
  auto calls = actions_.wait_for(2);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].second.idempotency_key, "e1:welcome:0");
  EXPECT_EQ(calls[1].second.idempotency_key, "e1:welcome:1");
  EXPECT_EQ(calls[0].second.params["text"], "Hello Анна");
}

// The store keeps the implied events the rules read (a trigger, a wait) and
// no other: a campaign to new contacts stored a contact.created for each.
TEST_F(PipelineTest, OnlyTheImpliedEventsThatARuleReadsAreStored) {
  CompiledStep wait_for_tag;
  wait_for_tag.kind = CompiledStep::Kind::kWaitEvent;
  wait_for_tag.name = "tagged?";
  wait_for_tag.wait_events = {"contact.tag_added"};
  wait_for_tag.wait_ms = 3600000;
  run({rule("welcome", {{"event", "contact.created"}}, {action("hello")}),
       rule("watch", {{"event", "lead.created"}}, {wait_for_tag})});
  const auto with_contact = [](const std::string& id, const std::string& key, const std::string& data) {
    EventRecord e = lead_event(id, "lead.created", "A");
    e.contact = ContactUpdate{key, data, {}, {}};
    return e;
  };
  append({with_contact("e1", "id:p1", R"({"name":"Анна","tags":["vip"],"fields":{"city":"Омск"}})"),
          with_contact("e2", "id:p1", R"({"fields":{"city":"Томск"}})")});
  const auto calls = actions_.wait_for(1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].second.idempotency_key, "e1:created:contact:welcome:0");
  std::vector<std::string> types;
  for (const auto& e : store_->events_after(0, 100)) types.push_back(e.record.type);
  // No lead.field_changed, contact.field_changed: nothing reads them.
  EXPECT_EQ(types, (std::vector<std::string>{"lead.created", "contact.created", "contact.tag_added", "lead.created"}));
}

TEST_F(PipelineTest, RetriesBackOffThenSucceed) {
  actions_.script = {ActionOutcome::failure(SB_OUTCOME_RETRY, "HTTP 503"),
                     ActionOutcome::failure(SB_OUTCOME_RETRY, "HTTP 429")};
  run({rule("r", {{"event", "lead.created"}}, {action("send", 5, 30)})});
  const auto start = std::chrono::steady_clock::now();
  append({lead_event("e1", "lead.created", "A")});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  // Two backoffs: at least 30 ms * 0.5 and 60 ms * 0.5.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
  auto calls = actions_.wait_for(3);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2].second.attempt, 3u);
  EXPECT_EQ(calls[2].second.idempotency_key, calls[0].second.idempotency_key);  // the same step, the same key
  EXPECT_EQ(json::parse(rows[0].history_json)[0]["reason"], "HTTP 503");
}

TEST_F(PipelineTest, PermanentFailuresAndExhaustedRetriesAreDeadLetters) {
  run({rule("permanent", {{"event", "lead.created"}}, {action("send"), action("never")}),
       rule("exhausted", {{"event", "lead.updated"}}, {action("send", 2, 10)})});
  actions_.script = {ActionOutcome::failure(SB_OUTCOME_PERMANENT, "invalid number")};
  append({lead_event("e1", "lead.created", "A")});
  ASSERT_EQ(settled(1).size(), 1u);
  actions_.script = {ActionOutcome::failure(SB_OUTCOME_RETRY, "timeout"),
                     ActionOutcome::failure(SB_OUTCOME_RETRY, "timeout")};
  append({lead_event("e2", "lead.updated", std::nullopt)});
  auto rows = settled(2);
  std::map<std::string, ExecutionRow> by_rule;
  for (auto& r : rows) by_rule[r.rule] = r;
  EXPECT_EQ(by_rule["permanent"].state, ExecutionState::kFailed);
  EXPECT_EQ(by_rule["permanent"].error, "permanent: invalid number");
  EXPECT_EQ(by_rule["exhausted"].state, ExecutionState::kFailed);
  EXPECT_EQ(by_rule["exhausted"].error, "gave up after 2 attempts: timeout");
  const json exhausted = json::parse(by_rule["exhausted"].history_json);
  EXPECT_EQ(exhausted[0]["outcome"], "retry");  // the first attempt: another to come
  EXPECT_EQ(exhausted.back()["outcome"], "gave up") << exhausted.dump();
  EXPECT_EQ(store_->executions({ExecutionState::kFailed, "", "", 10}).size(), 2u);
  EXPECT_EQ(actions_.calls.size(), 3u);  // "never" never ran
}

TEST_F(PipelineTest, WaitHoldsNoThreadAndTheNextStepRunsAfterIt) {
  // Long enough that a slow machine still sees the execution waiting.
  run({rule("reminder", {{"event", "lead.created"}}, {action("now"), wait(2000), action("later")})});
  append({lead_event("e1", "lead.created", "A")});
  actions_.wait_for(1);
  std::vector<ExecutionRow> rows;
  for (int i = 0; i < 400; ++i) {  // until the wait is recorded, however slow the machine
    rows = store_->executions({});
    if (!rows.empty() && rows[0].state != ExecutionState::kReady) break;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kWaiting);
  EXPECT_GT(rows[0].due_at_ms.value_or(0), rows[0].updated_at_ms);  // due later than it was recorded
  EXPECT_EQ(actions_.calls.size(), 1u);
  rows = settled(1, 10s);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  ASSERT_EQ(actions_.calls.size(), 2u);
  EXPECT_EQ(actions_.calls[1].second.idempotency_key, "e1:reminder:2");
  // The wait's entry says when it began, as every other does.
  const json history = json::parse(rows[0].history_json);
  ASSERT_GE(history.size(), 2u);
  EXPECT_EQ(history[1]["outcome"], "waiting");
  EXPECT_TRUE(parse_time_ms(history[1].value("at", ""))) << history[1];
}

// HolliHop's examples through ingest, routing and execution.
TEST_F(PipelineTest, StatusRulesFireAsTheReferenceCrmDescribes) {
  run({rule("none", {{"entity", "lead"}, {"status", nullptr}}, {action("task")}),
       rule("a", {{"entity", "lead"}, {"status", "A"}}, {action("task")}),
       rule("b", {{"entity", "lead"}, {"status", "B"}}, {action("task")}),
       rule("range", {{"entity", "lead"}, {"pipeline", "students"}, {"from", nullptr}, {"to", "B"}},
            {action("task")})});
  append({lead_event("1", "lead.created", std::nullopt)});
  append({lead_event("2", "lead.status_changed", "A")});
  append({lead_event("3", "lead.status_changed", "B")});
  append({lead_event("4", "lead.status_changed", "A")});
  auto rows = settled(5);
  std::map<std::string, int> fired;
  for (const auto& r : rows) ++fired[r.rule];
  EXPECT_EQ(fired["none"], 1);
  EXPECT_EQ(fired["a"], 2);  // A, then A again after B
  EXPECT_EQ(fired["b"], 1);
  EXPECT_EQ(fired["range"], 1);  // once per lead
}

// Pipelines may share status names: a range of one pipeline is not set off
// by a lead of another, nor used up by it; a lead that names no pipeline is
// taken to be in the rule's.
TEST_F(PipelineTest, APipelineRangeFiresOnlyForItsPipelinesEntities) {
  run({rule("range", {{"entity", "lead"}, {"pipeline", "students"}, {"from", nullptr}, {"to", "B"}},
            {action("task")})});
  auto parsed = parse_events(R"({"events": [
      {"id": "c1", "type": "lead.created", "entity": {"type": "lead", "id": "L2", "pipeline": "corporate", "status": "A"}},
      {"id": "s1", "type": "lead.created", "entity": {"type": "lead", "id": "L3", "pipeline": "students", "status": "A"}},
      {"id": "n1", "type": "lead.created", "entity": {"type": "lead", "id": "L4", "status": "A"}}]})",
                             now_ms(), 100, "api");
  ASSERT_TRUE(parsed.problems.empty());
  append(std::move(parsed.records));
  auto rows = settled(2);
  std::set<std::string> fired;
  for (const auto& r : rows) fired.insert(r.event_id);
  EXPECT_EQ(fired, (std::set<std::string>{"s1", "n1"}));
  // L2 moves to the students' pipeline: its first entry into the range there.
  parsed = parse_events(
      R"({"id": "c2", "type": "lead.status_changed", "entity": {"type": "lead", "id": "L2", "pipeline": "students", "status": "B"}})",
      now_ms(), 100, "api");
  ASSERT_TRUE(parsed.problems.empty());
  append(std::move(parsed.records));
  rows = settled(3);
  EXPECT_EQ(rows.size(), 3u);
}

// An event that only names a lead the host does not know (a payment that
// carries its id) does not create it with no status: "[none]" does not fire,
// and a range from "[none]" is not used up. The lead's own creation does.
TEST_F(PipelineTest, AnEventThatOnlyNamesAnUnknownRecordCreatesNothing) {
  run({rule("none", {{"entity", "lead"}, {"status", nullptr}}, {action("task")}),
       rule("range", {{"entity", "lead"}, {"pipeline", "students"}, {"from", nullptr}, {"to", "B"}}, {action("task")}),
       rule("welcome", {{"event", "contact.created"}}, {action("send")})});
  auto parsed = parse_events(R"({"events": [
      {"id": "p1", "type": "payment.received", "entity": {"type": "lead", "id": "L1"}, "contact": {"id": "C1"}},
      {"id": "c1", "type": "lead.created", "entity": {"type": "lead", "id": "L1", "status": "A"}},
      {"id": "c2", "type": "lead.created", "entity": {"type": "lead", "id": "L2"}}]})",
                             now_ms(), 100, "api");
  ASSERT_TRUE(parsed.problems.empty());
  append(std::move(parsed.records));
  auto rows = settled(3);
  std::multiset<std::string> fired;
  for (const auto& r : rows) fired.insert(r.rule + " " + r.event_id);
  EXPECT_EQ(fired, (std::multiset<std::string>{"range c1", "none c2", "range c2"}));
  EXPECT_FALSE(store_->contact("id:C1"));
  EXPECT_EQ(store_->entity("lead", "L1")->status, "A");
}

// A status rule that names its pipeline fires for that pipeline's leads
// only, on every entry.
TEST_F(PipelineTest, AStatusRuleOfOnePipelineFiresOnlyForItsLeads) {
  run({rule("studies", {{"entity", "lead"}, {"pipeline", "students"}, {"status", "A"}}, {action("task")})});
  EXPECT_EQ(events_fired(R"({"events": [
      {"id": "c1", "type": "lead.created", "entity": {"type": "lead", "id": "L2", "pipeline": "corporate", "status": "A"}},
      {"id": "s1", "type": "lead.created", "entity": {"type": "lead", "id": "L3", "pipeline": "students", "status": "A"}},
      {"id": "s2", "type": "lead.status_changed", "entity": {"type": "lead", "id": "L3", "status": "B"}},
      {"id": "s3", "type": "lead.status_changed", "entity": {"type": "lead", "id": "L3", "status": "A"}}]})",
                         2),
            (std::set<std::string>{"s1", "s3"}));
}

// An event rule may name a pipeline too ("a deal created in the sales
// pipeline"): a deal of another pipeline does not set it off; one that
// names none is taken to be in it.
TEST_F(PipelineTest, AnEventRuleOfOnePipelineFiresOnlyForItsEntities) {
  run({rule("new student", {{"event", "deal.created"}, {"pipeline", "students"}}, {action("task")})});
  EXPECT_EQ(events_fired(R"({"events": [
      {"id": "d1", "type": "deal.created", "entity": {"type": "deal", "id": "D1", "pipeline": "corporate"}},
      {"id": "d2", "type": "deal.created", "entity": {"type": "deal", "id": "D2", "pipeline": "students"}},
      {"id": "d3", "type": "deal.created", "entity": {"type": "deal", "id": "D3"}}]})",
                         2),
            (std::set<std::string>{"d2", "d3"}));
}

// "Moved to a new stage" whatever event moved it: the store derives the
// status change, and a rule on lead.status_changed takes it once.
TEST_F(PipelineTest, AStatusMovedByAnyEventIsAStatusChangeARuleMayTake) {
  CompiledStep note = action("note");
  note.params = {{"text", "{{data.previous_status}} -> {{data.status}}, {{event.status}}"}};
  run({rule("moves", {{"event", "lead.status_changed"}}, {note})});
  append({lead_event("1", "lead.created", "A")});
  append({lead_event("2", "lead.updated", "B")});
  append({lead_event("3", "lead.updated", "B")});  // no move
  const auto calls = actions_.wait_for(1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].second.params["text"], "A -> B, B");  // as a posted status change reads
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(actions_.wait_for(1).size(), 1u);
}

// The transition as the store saw it reaches filters and templates, not
// what the sender claimed the previous status was.
TEST_F(PipelineTest, AStatusEventCarriesTheTransitionTheStoreSaw) {
  CompiledStep note = action("note");
  note.params = {{"text", "{{event.previous_status|none}} -> {{event.status}}"}};
  run({rule("moves", {{"event", "lead.status_changed"}}, {note})});
  append({lead_event("1", "lead.created", "A")});
  append({lead_event("2", "lead.status_changed", "B")});
  const auto calls = actions_.wait_for(1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].second.params["text"], "A -> B");
}

// The first the host hears of a deal is its move (the CRM had it before the
// host): the transition is the one its sender saw, so a rule on it fires
// and one on "created with it" does not. Once known, the store's word wins.
TEST_F(PipelineTest, AnUnknownEntitysFirstMoveIsTheTransitionItsSenderSaw) {
  CompiledStep note = action("note");
  note.params = {{"text", "{{event.previous_status|none}} -> {{event.status}}"}};
  run({rule("paid", {{"entity", "deal"}, {"status", "Paid"}, {"previous_status", "Invoiced"}}, {note}),
       rule("paid at once", {{"entity", "deal"}, {"status", "Paid"}, {"previous_status", nullptr}}, {action("x")})});
  auto parsed = parse_events(R"({"events": [
      {"id": "p1", "type": "deal.status_changed",
       "entity": {"type": "deal", "id": "D1", "status": "Paid", "previous_status": "Invoiced"}},
      {"id": "p2", "type": "deal.status_changed",
       "entity": {"type": "deal", "id": "D1", "status": "Invoiced", "previous_status": "Draft"}},
      {"id": "p3", "type": "deal.status_changed",
       "entity": {"type": "deal", "id": "D1", "status": "Paid", "previous_status": "Draft"}}]})",
                             now_ms(), 100, "api");
  ASSERT_TRUE(parsed.problems.empty());
  append(std::move(parsed.records));
  auto rows = settled(2);
  std::vector<std::string> fired;
  for (const auto& r : rows) fired.push_back(r.rule + " " + r.event_id);
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(fired, (std::vector<std::string>{"paid p1", "paid p3"}));  // p3: from Invoiced, as the store saw it
  const auto calls = actions_.wait_for(2);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].second.params["text"], "Invoiced -> Paid");
}

TEST_F(PipelineTest, AStepInFlightAtACrashRunsAgainWithTheSameKey) {
  actions_.hold = true;
  run({rule("r", {{"event", "lead.created"}}, {action("send")})});
  append({lead_event("e1", "lead.created", "A")});
  actions_.wait_for(1);
  pipeline_->stop();                                       // gives up on the held call after 100 ms
  for (auto& done : actions_.held) done(ActionOutcome{});  // a late answer: not recorded
  actions_.held.clear();
  pipeline_.reset();
  store_.reset();

  store_ = std::make_unique<SqliteStore>(SqliteStore::Options{file_});
  actions_.hold = false;
  run({rule("r", {{"event", "lead.created"}}, {action("send")})});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  auto calls = actions_.wait_for(2);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].second.idempotency_key, calls[0].second.idempotency_key);
}

// A reminder a second before the booking: waits when the time is ahead, runs
// at once when it has passed, and fails with the reason when it is missing.
TEST_F(PipelineTest, WaitUntilATimeInTheEventWithAnOffset) {
  CompiledStep until;
  until.kind = CompiledStep::Kind::kWait;
  until.name = "until booking";
  until.wait_until = "data.booking_at";
  until.wait_offset_ms = -1000;
  run({rule("remind", {{"event", "booking.created"}}, {until, action("remind")})});
  auto booking = [](const std::string& id, std::optional<int64_t> at) {
    EventRecord e = lead_event(id, "booking.created", std::nullopt);
    json body = {{"contact", {{"name", "Анна"}}}, {"data", json::object()}};
    if (at) body["data"]["booking_at"] = format_time_ms(*at);
    e.body_json = body.dump();
    return e;
  };
  const auto start = std::chrono::steady_clock::now();
  append({booking("soon", now_ms() + 1400), booking("past", now_ms() - 60000), booking("none", std::nullopt)});
  auto first = actions_.wait_for(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].second.idempotency_key, "past:remind:1");  // no wait for a time already gone
  auto rows = settled(3);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 350ms);  // "soon" waited until a second before
  std::map<std::string, ExecutionRow> by_event;
  for (auto& r : rows) by_event[r.event_id] = r;
  EXPECT_EQ(by_event["soon"].state, ExecutionState::kDone);
  EXPECT_EQ(by_event["past"].state, ExecutionState::kDone);
  EXPECT_EQ(by_event["none"].state, ExecutionState::kFailed);
  EXPECT_EQ(by_event["none"].error, "invalid_params: 'data.booking_at' is not a time in this event");
}

// "The day before the booking, at 10:00" on the contact's clock.
TEST_F(PipelineTest, WaitUntilTheDayBeforeAtALocalTime) {
  CompiledStep until;
  until.kind = CompiledStep::Kind::kWait;
  until.name = "day before at 10";
  until.wait_until = "data.booking_at";
  until.wait_offset_ms = -24 * 3600 * 1000;
  until.wait_at_minute = 10 * 60;
  run({rule("remind", {{"event", "booking.created"}}, {until, action("remind")})});
  EventRecord e = lead_event("b1", "booking.created", std::nullopt);
  e.body_json = json{{"contact", {{"name", "Анна"}, {"timezone", "Asia/Omsk"}}},
                     {"data", {{"booking_at", "2030-06-15T15:00:00+06:00"}}}}
                    .dump();
  append({e});
  std::vector<ExecutionRow> rows;
  for (int i = 0; i < 400 && (rows.empty() || rows[0].state != ExecutionState::kWaiting); ++i) {
    rows = store_->executions({});
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].state, ExecutionState::kWaiting);
  EXPECT_EQ(rows[0].due_at_ms, parse_time_ms("2030-06-14T04:00:00Z"));  // 10:00 in Omsk (UTC+6)
}

// Hand-flattened as the config loader does: [if vip: A else: B], then C.
std::vector<CompiledStep> vip_branch() {
  std::vector<ConditionProblem> problems;
  CompiledStep branch;
  branch.kind = CompiledStep::Kind::kIf;
  branch.name = "vip?";
  branch.condition =
      Condition::compile(json{{"field", "contact.tags"}, {"op", "contains"}, {"value", "vip"}}, problems);
  branch.else_step = 3;
  CompiledStep end_of_then;
  end_of_then.kind = CompiledStep::Kind::kJump;
  end_of_then.jump_to = 4;
  return {branch, action("vip offer"), end_of_then, action("regular offer"), action("follow-up")};
}

TEST_F(PipelineTest, IfElseTakesOneBranchAndRecordsTheDecision) {
  run({rule("offer", {{"event", "lead.created"}}, vip_branch())});
  EventRecord vip = lead_event("vip", "lead.created", "A");
  vip.body_json = json{{"contact", {{"name", "Анна"}, {"tags", {"vip"}}}}}.dump();
  append({vip, lead_event("regular", "lead.created", "A")});
  auto rows = settled(2);
  ASSERT_EQ(rows.size(), 2u);
  std::multiset<std::string> keys;
  for (const auto& c : actions_.wait_for(4)) keys.insert(c.second.idempotency_key);
  EXPECT_EQ(keys, (std::multiset<std::string>{"vip:offer:1", "vip:offer:4", "regular:offer:3", "regular:offer:4"}));
  for (const auto& r : rows) {
    const json first = json::parse(r.history_json)[0];
    EXPECT_EQ(first["branches"][0]["branch"], r.event_id == "vip" ? "then" : "else") << r.history_json;
    EXPECT_EQ(r.state, ExecutionState::kDone);
  }
}

// A switch on `path` as the loader flattens it: case "vip" at step 1, "new"
// at 3, the default ("other") at 5.
std::vector<CompiledStep> vip_new_or_other(const std::string& path) {
  CompiledStep sw;
  sw.kind = CompiledStep::Kind::kSwitch;
  sw.name = "switch";
  sw.switch_path = path;
  sw.branches = {{"vip", 1}, {"new", 3}};
  sw.default_step = 5;
  CompiledStep jump;
  jump.kind = CompiledStep::Kind::kJump;
  jump.jump_to = 6;
  return {sw, action("vip"), jump, action("new"), jump, action("other")};
}

TEST_F(PipelineTest, SwitchPicksTheCaseOrTheDefault) {
  run({rule("by-category", {{"event", "lead.created"}}, vip_new_or_other("contact.category"))});
  auto with_category = [](const std::string& id, const std::string& category) {
    EventRecord e = lead_event(id, "lead.created", "A");
    e.body_json = json{{"contact", {{"name", "Анна"}, {"category", category}}}}.dump();
    return e;
  };
  append({with_category("a", "new"), with_category("b", "vip"), with_category("c", "gold")});
  ASSERT_EQ(settled(3).size(), 3u);
  std::set<std::string> keys;
  for (const auto& c : actions_.wait_for(3)) keys.insert(c.second.idempotency_key);
  EXPECT_EQ(keys, (std::set<std::string>{"a:by-category:3", "b:by-category:1", "c:by-category:5"}));
}

// A switch on a list (a contact's tags): its first item that names a case.
TEST_F(PipelineTest, SwitchOnAListTakesItsFirstItemThatNamesACase) {
  run({rule("by-tag", {{"event", "lead.created"}}, vip_new_or_other("contact.tags"))});
  auto tagged = [](const std::string& id, const json& tags) {
    EventRecord e = lead_event(id, "lead.created", "A");
    e.body_json = json{{"contact", {{"name", "Анна"}, {"tags", tags}}}}.dump();
    return e;
  };
  // "new" before "vip" in the tags, though "vip" is the first case: the tags' order decides.
  append({tagged("a", {"newsletter", "new", "vip"}), tagged("b", {"vip"}), tagged("c", {"newsletter"})});
  ASSERT_EQ(settled(3).size(), 3u);
  std::set<std::string> keys;
  for (const auto& c : actions_.wait_for(3)) keys.insert(c.second.idempotency_key);
  EXPECT_EQ(keys, (std::set<std::string>{"a:by-tag:3", "b:by-tag:1", "c:by-tag:5"}));
}

// Push -> WhatsApp -> SMS, then a follow-up, flattened as the loader does.
std::vector<CompiledStep> channels() {
  std::vector<CompiledStep> s = {action("push"), action("whatsapp"), action("sms"), action("follow-up")};
  s[0].fallback_next = 1;
  s[1].fallback_next = 2;
  for (int i = 0; i < 3; ++i) s[i].fallback_end = 3;
  return s;
}

TEST_F(PipelineTest, FallbackMovesOnWhenAChannelCannotDeliver) {
  actions_.script = {ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no device token"),
                     ActionOutcome::failure(SB_OUTCOME_PERMANENT, "not on WhatsApp")};
  run({rule("reach", {{"event", "lead.created"}}, channels())});
  append({lead_event("e1", "lead.created", "A")});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  const json history = json::parse(rows[0].history_json);
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(history[0]["fallback_to"], "whatsapp");
  EXPECT_EQ(history[1]["fallback_to"], "sms");
  EXPECT_EQ(history[2]["step"], "sms");  // the channel that delivered
  EXPECT_EQ(history[2]["outcome"], "done");
  EXPECT_EQ(history[3]["step"], "follow-up");
}

// No channel of the chain can reach the contact: nothing was sent, and the
// rule goes on (the manager's call), as after a message unreachable alone.
// A last channel that fails for good is a dead letter.
TEST_F(PipelineTest, FallbackWhoseLastChannelCannotReachTheContactGoesOn) {
  std::vector<CompiledStep> steps = channels();
  for (int i = 0; i < 3; ++i) steps[i].channel = steps[i].name;
  actions_.script = {ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no device token"),
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no phone"),
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no phone"),
                     ActionOutcome{},
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no device token"),
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no phone"),
                     ActionOutcome::failure(SB_OUTCOME_PERMANENT, "blocked by the operator"),
                     ActionOutcome::failure(SB_OUTCOME_PERMANENT, "the token was revoked"),
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no phone"),
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no phone")};
  run({rule("reach", {{"event", "lead.created"}}, steps)});
  append({lead_event("e1", "lead.created", "A")});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  const json history = json::parse(rows[0].history_json);
  ASSERT_EQ(history.size(), 4u) << history.dump();
  EXPECT_EQ(history[2]["step"], "sms");
  EXPECT_EQ(history[2]["outcome"], "unreachable");
  EXPECT_FALSE(history[2].contains("fallback_to"));
  EXPECT_EQ(history[3]["step"], "follow-up");

  append({lead_event("e2", "lead.created", "A")});
  rows = settled(2);
  ASSERT_EQ(rows.size(), 2u);
  const auto failed = std::find_if(rows.begin(), rows.end(), [](const ExecutionRow& r) { return r.event_id == "e2"; });
  ASSERT_NE(failed, rows.end());
  EXPECT_EQ(failed->state, ExecutionState::kFailed);
  EXPECT_EQ(failed->error, "permanent: blocked by the operator");

  // A channel before failed for good, and the rest could not reach the
  // contact: the dead letter is that channel's, which a retry sends again.
  append({lead_event("e3", "lead.created", "A")});
  rows = settled(3);
  const auto broken = std::find_if(rows.begin(), rows.end(), [](const ExecutionRow& r) { return r.event_id == "e3"; });
  ASSERT_NE(broken, rows.end());
  EXPECT_EQ(broken->state, ExecutionState::kFailed);
  EXPECT_EQ(broken->error, "permanent: the token was revoked");
  EXPECT_EQ(broken->step, "0");
}

// The last channel skipped (the contact opted out of SMS) counts as one
// that could not reach them: after channels that could not either, the rule
// goes on; after one that failed for good, that one is the dead letter.
TEST_F(PipelineTest, AFallbackWhoseLastChannelIsSkippedIsJudgedByTheChannelsBefore) {
  std::vector<CompiledStep> steps = channels();
  for (int i = 0; i < 3; ++i) steps[i].channel = steps[i].name;
  actions_.script = {ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no device token"),
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "not on WhatsApp"),
                     ActionOutcome{},  // the follow-up
                     ActionOutcome::failure(SB_OUTCOME_PERMANENT, "the token was revoked"),
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "not on WhatsApp")};
  run({rule("reach", {{"event", "lead.created"}}, steps)});
  auto no_sms = [](const std::string& id) {
    EventRecord e = lead_event(id, "lead.created", "A");
    e.body_json = json{{"contact", {{"name", "Анна"}, {"preferences", {{"sms", {{"all", false}}}}}}}}.dump();
    return e;
  };
  append({no_sms("e1")});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone) << rows[0].error;
  const json history = json::parse(rows[0].history_json);
  ASSERT_EQ(history.size(), 4u) << history.dump();
  EXPECT_EQ(history[2]["step"], "sms");
  EXPECT_EQ(history[2]["outcome"], "skipped");
  EXPECT_EQ(history[3]["step"], "follow-up");

  append({no_sms("e2")});
  rows = settled(2);
  const auto broken = std::find_if(rows.begin(), rows.end(), [](const ExecutionRow& r) { return r.event_id == "e2"; });
  ASSERT_NE(broken, rows.end());
  EXPECT_EQ(broken->state, ExecutionState::kFailed);
  EXPECT_EQ(broken->error, "permanent: the token was revoked");
  EXPECT_EQ(broken->step, "0");
  EXPECT_EQ(json::parse(broken->history_json).back()["outcome"], "skipped");
  EXPECT_EQ(actions_.wait_for(5).size(), 5u);  // the follow-up of e2 never ran
}

// Two chains one after the other, their channels of the same names: the
// first's refusal is not the second's.
TEST_F(PipelineTest, AFallbackIsJudgedByItsOwnChannelsOnly) {
  std::vector<CompiledStep> steps = {action("push"), action("sms"), action("push"), action("sms"), action("follow-up")};
  for (int i = 0; i < 4; ++i) steps[i].channel = steps[i].name;
  steps[0].fallback_next = 1;
  steps[0].fallback_end = steps[1].fallback_end = 2;
  steps[2].fallback_next = 3;
  steps[2].fallback_end = steps[3].fallback_end = 4;
  actions_.script = {ActionOutcome::failure(SB_OUTCOME_PERMANENT, "the token was revoked"), ActionOutcome{},
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no device token"),
                     ActionOutcome::failure(SB_OUTCOME_UNREACHABLE, "no phone")};
  run({rule("twice", {{"event", "lead.created"}}, steps)});
  append({lead_event("e1", "lead.created", "A")});
  const auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone) << rows[0].error;
  EXPECT_EQ(json::parse(rows[0].history_json).back()["step"], "follow-up");
}

TEST_F(PipelineTest, FallbackStopsAtTheFirstChannelThatDeliversAndRetriesItFirst) {
  actions_.script = {ActionOutcome::failure(SB_OUTCOME_RETRY, "FCM 503")};
  run({rule("reach", {{"event", "lead.created"}}, channels())});
  append({lead_event("e1", "lead.created", "A")});
  ASSERT_EQ(settled(1).at(0).state, ExecutionState::kDone);
  std::vector<std::string> keys;
  for (const auto& c : actions_.wait_for(3)) keys.push_back(c.second.idempotency_key);
  // push failed retryably and was retried, then delivered; then the follow-up.
  EXPECT_EQ(keys, (std::vector<std::string>{"e1:reach:0", "e1:reach:0", "e1:reach:3"}));
}

// A channel that reports nothing of its messages (email, push, voice): the
// host announces each one sent as message.sent, as WhatsApp and the SMS
// gateways report theirs, when a rule reads it. A channel with reports says
// it itself.
TEST_F(PipelineTest, AMessageOfAChannelWithoutReportsIsAnnouncedAsSent) {
  CompiledStep email = action("email");
  email.channel = "email";
  CompiledStep sms = action("sms");
  sms.channel = "sms";
  sms.reports_delivery = true;
  // The rule on message.sent mails too: its own messages are not announced (it would set itself off).
  CompiledStep log = action("log");
  log.channel = "email";
  log.params = {{"id", "{{data.message_id}}"}, {"channel", "{{data.channel}}"}, {"step", "{{data.step}}"}};
  ActionOutcome mailed;
  mailed.external_id = "<m1@shop.example>";
  ActionOutcome texted;
  texted.external_id = "000000-1";
  ActionOutcome logged_mail;
  logged_mail.external_id = "<m2@shop.example>";
  actions_.script = {mailed, texted, logged_mail, logged_mail};
  run({rule("offer", {{"event", "lead.created"}}, {email, sms}), rule("sent", {{"event", "message.sent"}}, {log})});
  append({lead_event("e1", "lead.created", "A")});
  const auto rows = settled(2);
  ASSERT_EQ(rows.size(), 2u);
  const auto calls = actions_.wait_for(3);
  ASSERT_EQ(calls.size(), 3u);
  // The rule on message.sent ran with what it says (in whichever order the SMS went).
  const auto logged =
      std::find_if(calls.begin(), calls.end(), [](const auto& c) { return c.second.params.contains("id"); });
  ASSERT_NE(logged, calls.end());
  json params = logged->second.params;
  params.erase("category");
  EXPECT_EQ(params, json::parse(R"({"id": "<m1@shop.example>", "channel": "email", "step": "email"})"));
  std::vector<std::string> announced;
  for (const auto& e : store_->events_after(0, 100))
    if (e.record.type == "message.sent") announced.push_back(e.record.id);
  EXPECT_EQ(announced, std::vector<std::string>{"e1:offer:0:sent"});  // the email's, not the SMS's
}

TEST_F(PipelineTest, NoMessageIsAnnouncedWhenNoRuleReadsIt) {
  CompiledStep email = action("email");
  email.channel = "email";
  ActionOutcome mailed;
  mailed.external_id = "<m1@shop.example>";
  actions_.script = {mailed};
  run({rule("offer", {{"event", "lead.created"}}, {email})});
  append({lead_event("e1", "lead.created", "A")});
  ASSERT_EQ(settled(1).size(), 1u);
  for (const auto& e : store_->events_after(0, 100)) EXPECT_NE(e.record.type, "message.sent");
}

// The opened-or-remind branch: an offer, then wait for the provider's read
// report of that very message; thanks if it comes, a reminder otherwise.
std::vector<CompiledStep> offer_read_or_remind(int64_t timeout_ms) {
  CompiledStep wait;
  wait.kind = CompiledStep::Kind::kWaitEvent;
  wait.name = "read?";
  wait.wait_events = {"message.read"};
  wait.wait_match = {{"data.message_id", "{{steps.offer.external_id}}"}};
  wait.wait_ms = timeout_ms;
  wait.else_step = 4;
  CompiledStep thanks = action("thanks");
  thanks.params = {{"status", "{{steps.read?.event.data.status}}"}};
  CompiledStep end_of_then;
  end_of_then.kind = CompiledStep::Kind::kJump;
  end_of_then.jump_to = 5;
  return {action("offer"), wait, thanks, end_of_then, action("remind")};
}

EventRecord read_report(const std::string& id, const std::string& message_id) {
  EventRecord e;
  e.id = id;
  e.type = "message.read";
  e.source = "whatsapp";
  e.received_at_ms = e.occurred_at_ms = now_ms();
  e.body_json = json{{"id", id}, {"type", e.type}, {"data", {{"message_id", message_id}, {"status", "read"}}}}.dump();
  return e;
}

ActionOutcome sent(const std::string& message_id) {
  ActionOutcome o;
  o.external_id = message_id;
  return o;
}

std::vector<std::string> step_names(const std::vector<std::pair<std::string, ActionRequest>>& calls) {
  std::vector<std::string> out;
  for (const auto& c : calls) out.push_back(c.second.idempotency_key.substr(c.second.idempotency_key.rfind(':') + 1));
  return out;
}

TEST_F(PipelineTest, WaitForEventTakesThenWhenTheAwaitedEventArrives) {
  actions_.script = {sent("wamid.1")};
  run({rule("offer", {{"event", "lead.created"}}, offer_read_or_remind(60000))});
  append({lead_event("e1", "lead.created", "A")});
  for (int i = 0;
       i < 400 && (store_->executions({}).empty() || store_->executions({}).front().state != ExecutionState::kWaiting);
       ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(store_->executions({}).front().state, ExecutionState::kWaiting);
  append({read_report("r0", "wamid.other")});  // another message's report changes nothing
  append({read_report("r1", "wamid.1")});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  auto calls = actions_.wait_for(2);
  EXPECT_EQ(step_names(calls), (std::vector<std::string>{"0", "2"}));  // offer, thanks
  EXPECT_EQ(calls.at(1).second.params["status"], "read");              // the awaited event's fields
  const json history = json::parse(rows[0].history_json);
  EXPECT_EQ(history[1]["outcome"], "waiting for event");
  EXPECT_TRUE(parse_time_ms(history[1].value("at", ""))) << history[1];
  EXPECT_EQ(history[1]["match"]["data.message_id"], "wamid.1");
  EXPECT_EQ(history[2]["step"], "read?");
  EXPECT_EQ(history[2]["outcome"], "event arrived");
  EXPECT_EQ(history[2]["event"]["event"]["id"], "r1");
}

// The offer sent as `message_id`, its execution waiting for message.opened.
void PipelineTest::offer_waiting_for_an_open(const std::string& message_id) {
  actions_.script = {sent(message_id)};
  std::vector<CompiledStep> steps = offer_read_or_remind(60000);
  steps[1].wait_events = {"message.opened"};
  run({rule("offer", {{"event", "lead.created"}}, steps)});
  append({lead_event("e1", "lead.created", "A")});
  for (int i = 0;
       i < 400 && (store_->executions({}).empty() || store_->executions({}).front().state != ExecutionState::kWaiting);
       ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(store_->executions({}).front().state, ExecutionState::kWaiting);
}

// "Did the client open the message?" asked as message.opened (an email's
// word) after a WhatsApp message: its read report answers it, under the
// key the wait parked with.
TEST_F(PipelineTest, AWaitForAnOpenIsAnsweredByAReadReport) {
  ASSERT_NO_FATAL_FAILURE(offer_waiting_for_an_open("wamid.1"));
  append({read_report("r1", "wamid.1")});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  EXPECT_EQ(step_names(actions_.wait_for(2)), (std::vector<std::string>{"0", "2"}));  // offer, then thanks
}

// A click on a link of an email whose pixel was never loaded (images off)
// answers "did the client open it?" too.
TEST_F(PipelineTest, AWaitForAnOpenIsAnsweredByAClick) {
  ASSERT_NO_FATAL_FAILURE(offer_waiting_for_an_open("msg-1"));
  EventRecord click = read_report("c1", "msg-1");
  click.type = "message.clicked";
  append({click});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone) << rows[0].history_json;
  EXPECT_EQ(step_names(actions_.wait_for(2)), (std::vector<std::string>{"0", "2"}));  // offer, then thanks
}

// A fallback's delivery wait parked by a build from before message.read
// counted (its key names message.delivered alone) still resumes on its
// report after an upgrade.
TEST_F(PipelineTest, ADeliveryWaitParkedBeforeReadCountedResumesOnItsReport) {
  actions_.script = {sent("wamid.1")};
  std::vector<CompiledStep> steps = offer_read_or_remind(60000);
  steps[1].wait_events = {"message.delivered"};
  steps[1].wait_else_on = {"message.failed", "message.undelivered"};
  steps[1].confirms_delivery = true;
  run({rule("offer", {{"event", "lead.created"}}, steps)});
  append({lead_event("e1", "lead.created", "A")});
  for (int i = 0;
       i < 400 && (store_->executions({}).empty() || store_->executions({}).front().state != ExecutionState::kWaiting);
       ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(store_->executions({}).front().state, ExecutionState::kWaiting);
  pipeline_->stop();
  pipeline_.reset();
  steps[1].wait_events = {"message.delivered", "message.read"};  // as this build compiles it
  run({rule("offer", {{"event", "lead.created"}}, steps)});
  EventRecord delivered = read_report("d1", "wamid.1");
  delivered.type = "message.delivered";
  append({delivered});
  auto rows = settled(1, 15s);  // a restarted pipeline takes up what the last one left after a few seconds
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone) << rows[0].history_json;
  EXPECT_EQ(step_names(actions_.wait_for(2)), (std::vector<std::string>{"0", "2"}));  // offer, thanks
}

TEST_F(PipelineTest, WaitForEventTakesElseAfterTheTimeout) {
  actions_.script = {sent("wamid.1")};
  run({rule("offer", {{"event", "lead.created"}}, offer_read_or_remind(150))});
  append({lead_event("e1", "lead.created", "A")});
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  EXPECT_EQ(step_names(actions_.wait_for(2)), (std::vector<std::string>{"0", "4"}));  // offer, remind
  const json history = json::parse(rows[0].history_json);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2]["step"], "remind");
  EXPECT_EQ(history[2]["branches"][0], (json{{"step", "read?"}, {"outcome", "timed out"}}));
  // A report after the timeout changes nothing.
  append({read_report("r1", "wamid.1")});
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(actions_.calls.size(), 2u);
}

TEST_F(PipelineTest, WaitForEventSeesAReportThatOvertookTheSendsResult) {
  actions_.hold = true;
  run({rule("offer", {{"event", "lead.created"}}, offer_read_or_remind(60000))});
  append({lead_event("e1", "lead.created", "A")});
  actions_.wait_for(1);
  append({read_report("r1", "wamid.1")});  // the provider reported before answering the send
  for (int i = 0; i < 400 && store_->routed_up_to() < 2; ++i) std::this_thread::sleep_for(5ms);
  actions_.hold = false;
  actions_.held.at(0)(sent("wamid.1"));
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(step_names(actions_.wait_for(2)), (std::vector<std::string>{"0", "2"}));
}

// An entity that status rules are about moved to a status no pipeline of
// the config has (a CRM's typo, "B " for "B"): no rule can fire on it, so
// the host says so and counts it.
TEST_F(PipelineTest, AStatusNoPipelineHasIsCountedForTheEntityTypeStatusRulesAreAbout) {
  std::ostringstream log;
  Logger::instance().set_stream(&log);
  PipelineOptions options{100ms, 3};
  options.known_statuses = {"A", "B", "C"};
  pipeline_ = std::make_unique<Pipeline>(
      *store_,
      std::vector<CompiledRule>{
          rule("on-B", {{"entity", "lead"}, {"pipeline", "students"}, {"status", "B"}}, {action("0")}),
          rule("won", {{"entity", "deal"}, {"status", "won"}}, {action("0")})},
      actions_, metrics_, options);
  pipeline_->start();
  // A deal's statuses are its CRM's (no rule names a pipeline for deals); a
  // lead's repeated status moved nothing.
  EventRecord deal = lead_event("e3", "deal.moved", "won");
  deal.entity->type = "deal";
  append({lead_event("e1", "lead.created", "A"), lead_event("e2", "lead.moved", "B "),
          lead_event("e4", "lead.updated", "B "), deal});
  for (int i = 0; i < 400 && store_->routed_up_to() < 4; ++i) std::this_thread::sleep_for(5ms);
  pipeline_->stop();
  Logger::instance().set_stream(&std::cerr);
  EXPECT_EQ(metrics_.counter("switchboard_events_unknown_status_total", {{"entity", "lead"}}).value(), 1);
  EXPECT_EQ(metrics_.counter("switchboard_events_unknown_status_total", {{"entity", "deal"}}).value(), 0);
  EXPECT_NE(log.str().find(R"("status":"B ")"), std::string::npos) << log.str();
}

CompiledStep set_status(const std::string& status) {
  CompiledStep s;
  s.name = "to " + status;
  s.instance = kHostInstance;
  s.action = "set_status";
  s.params = {{"status", status}};
  s.schema = find_host_action("set_status")->schema;
  return s;
}

TEST_F(PipelineTest, AStatusSetByARuleIsAnEventThatSetsOffRulesUntilTheChainLimit) {
  std::ostringstream log;
  Logger::instance().set_stream(&log);
  // Two rules that move a lead back and forth: only the chain limit stops them.
  pipeline_ = std::make_unique<Pipeline>(
      *store_,
      std::vector<CompiledRule>{rule("to-B", {{"entity", "lead"}, {"status", "A"}}, {set_status("B")}),
                                rule("to-A", {{"entity", "lead"}, {"status", "B"}}, {set_status("A")})},
      actions_, metrics_, PipelineOptions{100ms, 3});
  pipeline_->start();
  append({lead_event("e1", "lead.created", "A")});
  // e1 (depth 0) -> B (1) -> A (2) -> B (3) -> A (4): no rules for the last.
  for (int i = 0; i < 400 && store_->routed_up_to() < 5; ++i) std::this_thread::sleep_for(5ms);
  auto rows = settled(4);
  pipeline_->stop();
  Logger::instance().set_stream(&std::cerr);
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& r : rows) EXPECT_EQ(r.state, ExecutionState::kDone) << r.history_json;
  const auto events = store_->events_after(0, 100);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[1].record.id, "e1:to-B:0");
  EXPECT_EQ(events[1].record.type, "lead.status_changed");
  EXPECT_EQ(events[1].record.source, "rule:to-B");
  EXPECT_EQ(json::parse(events[1].record.body_json)["contact"]["name"], nullptr);  // no id, email or phone: left out
  EXPECT_EQ(events[1].status_change->previous, "A");
  EXPECT_EQ(events[1].status_change->current, "B");
  EXPECT_EQ(events[4].record.chain_depth, 4);
  EXPECT_EQ(store_->entity("lead", "L1")->status, "A");
  EXPECT_NE(log.str().find("a chain of rules was cut"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find(R"("chain_depth":4)"), std::string::npos);
  EXPECT_NE(log.str().find(R"("produced_by_rule":"to-A")"), std::string::npos);
  // Counted for the rule that would have run again, not the one that ran last.
  EXPECT_EQ(metrics_.counter("switchboard_rule_chains_cut_total", {{"rule", "to-B"}}).value(), 1);
  EXPECT_EQ(metrics_.counter("switchboard_rule_chains_cut_total", {{"rule", "to-A"}}).value(), 0);
}

TEST_F(PipelineTest, AStatusSetByARuleMayBeHeldToTheStatusesTheEntityIsIn) {
  CompiledStep held = set_status("won");
  held.params["if_status"] = {"new", nullptr};
  run({rule("close", {{"event", "lead.changed"}}, {held})});
  const auto output_of = [](const ExecutionRow& r) {
    for (const json& entry : json::parse(r.history_json))
      if (entry.value("step", "") == "to won") return entry;
    return json();
  };
  append({lead_event("e1", "lead.changed", "A")});  // in neither: stays
  auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone) << rows[0].history_json;
  EXPECT_EQ(output_of(rows[0])["output"], (json{{"changed", false}})) << rows[0].history_json;
  EXPECT_FALSE(output_of(rows[0]).contains("external_id"));
  EXPECT_EQ(store_->entity("lead", "L1")->status, "A");
  append({lead_event("e2", "lead.changed", "new")});  // in one of them: moves
  rows = settled(2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(store_->entity("lead", "L1")->status, "won");
  bool moved = false;
  for (const auto& r : rows) moved = moved || output_of(r)["output"] == json{{"changed", true}};
  EXPECT_TRUE(moved);
}

TEST_F(PipelineTest, AHostActionRunAgainAfterACrashStoresItsEventOnce) {
  run({rule("emit", {{"event", "lead.created"}}, {set_status("B")})});
  append({lead_event("e1", "lead.created", "A")});
  ASSERT_EQ(settled(1).size(), 1u);
  // The same step again (as after a crash before its result was recorded).
  ActionRequest request;
  request.action = "set_status";
  request.params = {{"status", "B"}};
  request.idempotency_key = "e1:emit:0";
  const json context = {{"event", {{"id", "e1"}}}, {"entity", {{"type", "lead"}, {"id", "L1"}}}};
  auto again = host_action_event(request, context, "emit", now_ms());
  ASSERT_TRUE(std::holds_alternative<EventRecord>(again));
  std::promise<AppendResult> got;
  store_->append_events({std::get<EventRecord>(again)}, [&](AppendResult r) { got.set_value(std::move(r)); });
  EXPECT_EQ(got.get_future().get().outcomes, std::vector<AppendOutcome>{AppendOutcome::kDuplicate});
}

TEST(HostActions, SayWhyTheyCannotProduceAnEvent) {
  ActionRequest request;
  request.action = "set_status";
  request.params = {{"status", "B"}};
  request.idempotency_key = "e1:r:0";
  auto none = host_action_event(request, {{"event", {{"id", "e1"}}}}, "r", now_ms());
  ASSERT_TRUE(std::holds_alternative<std::string>(none));
  EXPECT_EQ(std::get<std::string>(none),
            "no entity: the event has none, and the parameters name none (\"entity\": {\"type\", \"id\"})");
  request.action = "emit";
  request.params = {{"type", "Not A Type"}};
  auto bad = host_action_event(request, json::object(), "r", now_ms());
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_EQ(std::get<std::string>(bad).rfind("the event it would produce is invalid: /type: ", 0), 0u)
      << std::get<std::string>(bad);
  request.params = {{"type", "deal.upgraded"}, {"data", {{"level", "gold"}}}};
  auto good = host_action_event(request, {{"event", {{"id", "e1"}, {"chain_depth", 2}}}}, "r", now_ms());
  ASSERT_TRUE(std::holds_alternative<EventRecord>(good));
  const EventRecord& e = std::get<EventRecord>(good);
  EXPECT_EQ(e.chain_depth, 3);
  EXPECT_EQ(json::parse(e.body_json)["data"], (json{{"rule", "r"}, {"caused_by", "e1"}, {"level", "gold"}}));
  // A key longer than an event id may be (a long event id, a chain): its start and a hash, the same every time.
  request.idempotency_key = std::string(190, 'x') + ":booking-reminder:MarkReminded";
  auto long_key = host_action_event(request, {{"event", {{"id", "e1"}}}}, "r", now_ms());
  ASSERT_TRUE(std::holds_alternative<EventRecord>(long_key)) << std::get<std::string>(long_key);
  const std::string id = std::get<EventRecord>(long_key).id;
  EXPECT_EQ(id.size(), 200u);
  EXPECT_EQ(id.rfind(std::string(183, 'x'), 0), 0u) << id;
  EXPECT_EQ(std::get<EventRecord>(host_action_event(request, {{"event", {{"id", "e1"}}}}, "r", now_ms())).id, id);
  // Cut on a character's first byte: the id stays UTF-8.
  for (int pad = 0; pad < 3; ++pad) {
    const std::string cut =
        bounded_event_id(std::string(pad, 'x') + std::string(150, 'a') + "ёёёёёёёёёёёёёёёёёёёёёёёёёё");
    EXPECT_LE(cut.size(), 200u);
    EXPECT_NO_THROW((void)json(cut).dump()) << pad;
  }
  request.idempotency_key = "e1:r:0";
  // The person goes along the chain, also one the host keeps segments and
  // counts for (which an event's contact may not carry): named by key.
  const json stored_contact = {{"id", "c1"}, {"segments", {"vip"}}, {"aggregates", {{"orders", 3}}}};
  auto chained = host_action_event(request, {{"event", {{"id", "e1"}}}, {"contact", stored_contact}}, "r", now_ms());
  ASSERT_TRUE(std::holds_alternative<EventRecord>(chained));
  const EventRecord& c = std::get<EventRecord>(chained);
  ASSERT_TRUE(c.contact.has_value());
  EXPECT_EQ(c.contact->key, "id:c1");
  EXPECT_EQ(c.contact->data_json, "");  // names the contact; changes nothing of it
  // A route that answers with the rule's result never stored its contact: the event carries it.
  auto carried = host_action_event(request, {{"event", {{"id", "e1"}}}, {"contact", {{"id", "c2"}, {"name", "Анна"}}}},
                                   "r", now_ms(), /*contact_stored=*/false);
  ASSERT_TRUE(std::holds_alternative<EventRecord>(carried));
  const EventRecord& k = std::get<EventRecord>(carried);
  ASSERT_TRUE(k.contact.has_value());
  EXPECT_EQ(k.contact->key, "id:c2");
  EXPECT_EQ(json::parse(k.contact->data_json)["name"], "Анна");
}

std::string clock(int hour) {
  char text[6];
  std::snprintf(text, sizeof text, "%02d:00", (hour % 24 + 24) % 24);
  return text;
}

TEST_F(PipelineTest, SendWindowIsTheContactsLocalTime) {
  // A window open now in Omsk (UTC+6) and closed now in UTC.
  const int utc_hour = static_cast<int>((now_ms() / 3600000) % 24);
  CompiledStep daytime;
  daytime.kind = CompiledStep::Kind::kWait;
  daytime.name = "daytime";
  daytime.window = SendWindow{SendWindow::parse_clock(clock(utc_hour + 6)).value(),
                              SendWindow::parse_clock(clock(utc_hour + 8)).value(), 0x7f};
  daytime.window_zone = "UTC";  // for contacts without a zone
  run({rule("r", {{"event", "lead.created"}}, {daytime, action("send")})});
  EventRecord in_omsk = lead_event("e1", "lead.created", "A");
  json body = json::parse(in_omsk.body_json);
  body["contact"]["timezone"] = "Asia/Omsk";
  in_omsk.body_json = body.dump();
  append({in_omsk, lead_event("e2", "lead.created", "A")});
  actions_.wait_for(1);
  std::vector<ExecutionRow> rows;
  for (int i = 0; i < 400; ++i) {
    rows = store_->executions({});
    if (rows.size() == 2 && rows[0].state != ExecutionState::kReady && rows[1].state != ExecutionState::kReady) break;
    std::this_thread::sleep_for(5ms);
  }
  std::map<std::string, ExecutionRow> by_event;
  for (auto& r : rows) by_event[r.event_id] = r;
  EXPECT_EQ(by_event["e1"].state, ExecutionState::kDone);  // inside the window in Omsk: sent at once
  const json omsk = json::parse(by_event["e1"].history_json).at(0);
  EXPECT_EQ(omsk["outcome"], "inside the send window");
  EXPECT_EQ(omsk["timezone"], "Asia/Omsk");
  EXPECT_EQ(by_event["e2"].state, ExecutionState::kWaiting);  // no zone of its own: UTC, where it is night
  const json utc = json::parse(by_event["e2"].history_json).at(0);
  EXPECT_EQ(utc["timezone"], "UTC");
  const int64_t opens = parse_time_ms(utc["until"].get<std::string>()).value();
  EXPECT_EQ((opens / 3600000) % 24, (utc_hour + 6) % 24);
  EXPECT_EQ(opens % 3600000, 0);
  EXPECT_EQ(actions_.calls.size(), 1u);
}

// parallel: [[a], [wait, b]], then c — as Config flattens it.
std::vector<CompiledStep> two_branches_then_c(int64_t wait_ms) {
  CompiledStep group;
  group.kind = CompiledStep::Kind::kParallel;
  group.name = "together";
  group.branches = {{"0", 1}, {"1", 3}};
  group.jump_to = 6;
  CompiledStep end_of_branch;
  end_of_branch.kind = CompiledStep::Kind::kJump;
  end_of_branch.jump_to = 6;
  return {group, action("a"), end_of_branch, wait(wait_ms), action("b"), end_of_branch, action("c")};
}

TEST_F(PipelineTest, ParallelBranchesRunAsExecutionsAndTheNextStepWaitsForAll) {
  run({rule("r", {{"event", "lead.created"}}, two_branches_then_c(150))});
  append({lead_event("e1", "lead.created", "A")});
  auto rows = settled(3);
  ASSERT_EQ(rows.size(), 3u);
  std::map<std::string, ExecutionRow> by_event;
  for (auto& r : rows) by_event[r.event_id] = r;
  ASSERT_EQ(by_event.count("e1#0.0"), 1u);
  ASSERT_EQ(by_event.count("e1#0.1"), 1u);
  EXPECT_EQ(by_event["e1#0.0"].parent_id, by_event["e1"].id);
  for (auto& [id, r] : by_event) EXPECT_EQ(r.state, ExecutionState::kDone) << id << ": " << r.history_json;
  std::vector<std::string> keys;
  for (const auto& c : actions_.wait_for(3)) keys.push_back(c.second.idempotency_key);
  // a at once, b after the wait in its own branch, c only after both.
  EXPECT_EQ(keys, (std::vector<std::string>{"e1#0.0:r:1", "e1#0.1:r:4", "e1:r:6"}));
  const json history = json::parse(by_event["e1"].history_json);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0]["outcome"], "branches started");
  EXPECT_EQ(history[1]["step"], "together");
  EXPECT_EQ(history[1]["outcome"], "branches ended");
  EXPECT_EQ(history[1]["branches"].size(), 2u);
  EXPECT_EQ(history[2]["step"], "c");
}

TEST_F(PipelineTest, AFailedBranchIsADeadLetterOfItsOwnAndTheOthersGoOn) {
  actions_.script = {ActionOutcome::failure(SB_OUTCOME_PERMANENT, "invalid number")};  // a
  run({rule("r", {{"event", "lead.created"}}, two_branches_then_c(20))});
  append({lead_event("e1", "lead.created", "A")});
  auto rows = settled(3);
  std::map<std::string, ExecutionRow> by_event;
  for (auto& r : rows) by_event[r.event_id] = r;
  EXPECT_EQ(by_event["e1#0.0"].state, ExecutionState::kFailed);
  EXPECT_EQ(by_event["e1#0.1"].state, ExecutionState::kDone);
  EXPECT_EQ(by_event["e1"].state, ExecutionState::kDone);
  const json ended = json::parse(by_event["e1"].history_json).at(1);
  EXPECT_EQ(ended["outcome"], "branches ended");
  bool failure_named = false;
  for (const auto& b : ended["branches"])
    failure_named |= b["state"] == "failed" && b["error"] == "permanent: invalid number";
  EXPECT_TRUE(failure_named) << ended.dump();
}

TEST(EmittedEvents, AnEventShapedPayloadUpdatesTheContactAndEntityAndOthersAreKeptAsTheyAre) {
  const EmittedEvent report{"wamid.1:read",
                            "message.read",
                            "whatsapp",
                            {{"contact", {{"id", "c-77"}, {"phones", {{{"number", "+79990001122"}}}}}},
                             {"entity", {{"type", "lead"}, {"id", "L1"}}},
                             {"data", {{"message_id", "wamid.1"}}}}};
  const EventRecord r = emitted_record(report, 1000);
  EXPECT_EQ(r.id, "wamid.1:read");
  EXPECT_EQ(r.source, "whatsapp");
  EXPECT_EQ(r.message_id, "wamid.1");  // the sent message it reports on
  ASSERT_TRUE(r.contact);
  EXPECT_EQ(r.contact->key, "id:c-77");
  ASSERT_TRUE(r.entity);
  EXPECT_FALSE(r.entity->sets_status);
  const EmittedEvent hook{"e2", "webhook.received", "inbox", {{"body", {{"contact", 1}}}, {"headers", json::object()}}};
  const EventRecord plain = emitted_record(hook, 1000);
  EXPECT_FALSE(plain.contact);
  EXPECT_EQ(json::parse(plain.body_json), hook.payload);
  // A contact beside the plugin's own members (a webhook mapping its body):
  // the contact is the event's, the members are kept as they came.
  const EmittedEvent mapped{"e4",
                            "webhook.received",
                            "inbox",
                            {{"contact", {{"id", "c-9"}, {"name", "Ivan"}}},
                             {"body", {{"client", {{"id", "c-9"}}}}},
                             {"headers", {{"x-a", "1"}}}}};
  const EventRecord with_contact = emitted_record(mapped, 1000);
  ASSERT_TRUE(with_contact.contact);
  EXPECT_EQ(with_contact.contact->key, "id:c-9");
  const json mapped_body = json::parse(with_contact.body_json);
  EXPECT_EQ(mapped_body["body"], mapped.payload["body"]);
  EXPECT_EQ(mapped_body["headers"], mapped.payload["headers"]);
  EXPECT_EQ(mapped_body["contact"]["name"], "Ivan");
  EXPECT_EQ(mapped_body["id"], "e4");
  // A time beside the plugin's members is the event's; one the host cannot
  // read costs only the time.
  const EmittedEvent timed{"e6", "webhook.received", "inbox", {{"time", "2023-11-14T22:13:20Z"}, {"body", {{"n", 1}}}}};
  EXPECT_EQ(emitted_record(timed, 1000).occurred_at_ms, 1'700'000'000'000);
  EXPECT_EQ(json::parse(emitted_record(timed, 1000).body_json)["body"], timed.payload["body"]);
  const EmittedEvent badly_timed{
      "e7", "webhook.received", "inbox", {{"time", "14.11.2023"}, {"contact", {{"id", "c-9"}}}, {"body", {{"n", 1}}}}};
  const EventRecord kept = emitted_record(badly_timed, 1000);
  EXPECT_EQ(kept.occurred_at_ms, 1000);
  ASSERT_TRUE(kept.contact);
  EXPECT_EQ(kept.contact->key, "id:c-9");
  // Members named as the emit's own (id, type): kept as data, nothing merged.
  EXPECT_FALSE(
      emitted_record({"e5", "webhook.received", "inbox", {{"contact", {{"id", "c-9"}}}, {"type", "x"}}}, 1000).contact);
  // Shaped like an event but not a valid one: kept as it is, nothing merged.
  const EmittedEvent loose{"e3", "message.read", "whatsapp", {{"contact", {{"name", "no id"}}}}};
  EXPECT_FALSE(emitted_record(loose, 1000).contact);
  // A gateway's bare report (not shaped like an event) names its message too;
  // a reply names the message it answers, and a message received none.
  EXPECT_EQ(emitted_record({"s1", "message.delivered", "sms", {{"data", {{"message_id", 12345}}}}}, 1000).message_id,
            "12345");
  EXPECT_EQ(
      emitted_record(
          {"r1", "message.replied", "whatsapp", {{"data", {{"message_id", "wamid.in"}, {"in_reply_to", "wamid.1"}}}}},
          1000)
          .message_id,
      "wamid.1");
  EXPECT_EQ(emitted_record({"i1", "message.received", "sms", {{"data", {{"message_id", "in-1"}}}}}, 1000).message_id,
            "");
  EXPECT_EQ(plain.message_id, "");
}

TEST_F(PipelineTest, RulesReadTheContactAndEntityAsTheStoreKnowsThem) {
  std::vector<ConditionProblem> problems;
  CompiledRule vip = rule("vip-paid", {{"event", "deal.paid"}}, {action("thank")});
  vip.filter = Condition::compile({{"field", "contact.tags"}, {"op", "contains"}, {"value", "vip"}}, problems);
  vip.steps[0].params = {{"text", "{{contact.fields.city}}: {{entity.fields.sum}} ({{entity.status}})"}};
  run({vip});
  // What the CRM said earlier; the payment event repeats only the ids.
  auto parsed = parse_events(R"({"events": [
      {"id": "e1", "type": "contact.updated", "contact": {"id": "c1", "tags": ["vip"], "fields": {"city": "Омск"}}},
      {"id": "e2", "type": "deal.updated", "entity": {"type": "deal", "id": "D1", "status": "won", "fields": {"sum": 900}}},
      {"id": "e3", "type": "deal.paid", "contact": {"id": "c1"}, "entity": {"type": "deal", "id": "D1"}}]})",
                             now_ms(), 100, "api");
  ASSERT_TRUE(parsed.problems.empty());
  append(std::move(parsed.records));
  ASSERT_EQ(settled(1).size(), 1u);
  auto calls = actions_.wait_for(1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].second.params["text"], "Омск: 900 (won)");
}

// An if that takes its then steps while the deal is not paid.
CompiledStep unpaid_branch(int else_step) {
  std::vector<ConditionProblem> problems;
  CompiledStep unpaid;
  unpaid.kind = CompiledStep::Kind::kIf;
  unpaid.name = "unpaid?";
  unpaid.condition = Condition::compile(json{{"field", "entity.status"}, {"op", "!="}, {"value", "paid"}}, problems);
  unpaid.else_step = else_step;
  EXPECT_TRUE(problems.empty());
  return unpaid;
}

// "Three days later, remind unless paid": the condition after the wait sees
// the deal as it is then, and the message the contact's name as it is then.
// The event that started the execution stays as it came.
TEST_F(PipelineTest, StepsAfterAWaitReadTheContactAndDealAsTheyAreThen) {
  const CompiledStep unpaid = unpaid_branch(/*else_step=*/3);
  CompiledStep remind = action("remind");
  remind.params = {{"text", "{{contact.name}}: {{entity.fields.sum}} ({{entity.status}}), {{event.type}}"}};
  run({rule("remind", {{"event", "deal.created"}}, {wait(1000), unpaid, remind})});
  auto parsed = parse_events(R"({"events": [
      {"id": "d1", "type": "deal.created", "contact": {"id": "c1", "name": "Анна"},
       "entity": {"type": "deal", "id": "D1", "status": "new", "fields": {"sum": 900}}},
      {"id": "d2", "type": "deal.created", "contact": {"id": "c2", "name": "Олег"},
       "entity": {"type": "deal", "id": "D2", "status": "new", "fields": {"sum": 500}}}]})",
                             now_ms(), 100, "api");
  ASSERT_TRUE(parsed.problems.empty());
  append(std::move(parsed.records));
  // While both wait: D1 is paid, c2 corrects their name and D2's sum changes.
  for (int i = 0; i < 400; ++i) {
    auto rows = store_->executions({});
    if (rows.size() == 2 && rows[0].state == ExecutionState::kWaiting && rows[1].state == ExecutionState::kWaiting)
      break;
    std::this_thread::sleep_for(5ms);
  }
  parsed = parse_events(R"({"events": [
      {"id": "p1", "type": "deal.updated", "entity": {"type": "deal", "id": "D1", "status": "paid"}},
      {"id": "n2", "type": "contact.updated", "contact": {"id": "c2", "name": "Олег Петров"}},
      {"id": "s2", "type": "deal.updated", "entity": {"type": "deal", "id": "D2", "fields": {"sum": 700}}}]})",
                        now_ms(), 100, "api");
  ASSERT_TRUE(parsed.problems.empty());
  append(std::move(parsed.records));
  auto rows = settled(2, 10s);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) EXPECT_EQ(r.state, ExecutionState::kDone) << r.history_json;
  auto calls = actions_.wait_for(1);
  ASSERT_EQ(calls.size(), 1u);  // D1 was paid: no reminder
  EXPECT_EQ(calls[0].second.idempotency_key, "d2:remind:2");
  EXPECT_EQ(calls[0].second.params["text"], "Олег Петров: 700 (new), deal.created");
}

// A rule's filter counts a date alone in the account's time zone, not UTC.
// Whatever the hour, the date is chosen so that the two disagree: from 10:00
// UTC, tomorrow has begun at UTC+14 (so it is "before now" there); before
// it, today has not yet begun at UTC-11 (so it is "after now").
TEST_F(PipelineTest, ARulesFilterReadsADateAloneOnTheAccountsClock) {
  const int64_t now = now_ms();
  const bool late = (now / 3600000) % 24 >= 10;
  const auto date = [&](int days) { return format_time_ms(now + days * 86400000LL).substr(0, 10); };
  std::vector<ConditionProblem> problems;
  CompiledRule day_begun = rule("booking day", {{"event", "booking.updated"}}, {action("remind")});
  day_begun.filter = Condition::compile(
      {{"field", "entity.fields.day"}, {"op", late ? "before" : "after"}, {"value", "now"}}, problems);
  ASSERT_TRUE(problems.empty());
  PipelineOptions options{100ms, 5};
  options.account = {{"timezone", late ? "Pacific/Kiritimati" : "Pacific/Pago_Pago"}};
  pipeline_ = std::make_unique<Pipeline>(*store_, std::vector<CompiledRule>{day_begun}, actions_, metrics_, options);
  pipeline_->start();
  auto booking = [](const std::string& id, const std::string& day) {
    return json{{"id", id},
                {"type", "booking.updated"},
                {"entity", {{"type", "booking"}, {"id", id}, {"fields", {{"day", day}}}}}};
  };
  const json events{{"events", {booking("b1", date(late ? 1 : 0)), booking("b2", date(late ? 5 : -5))}}};
  auto parsed = parse_events(events.dump(), now, 100, "api");
  ASSERT_TRUE(parsed.problems.empty());
  append(std::move(parsed.records));
  const auto rows = settled(1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event_id, "b1");
  // The stored context is the event's, without the account (the interpreter adds it).
  EXPECT_FALSE(json::parse(rows[0].context_json).contains("account"));
}

TEST_F(PipelineTest, TheRouterMovesAContactInAndOutOfADynamicSegmentAsItChanges) {
  std::vector<ConditionProblem> problems;
  PipelineOptions options{100ms, 5};
  options.dynamic_segments = {
      {"regulars", Condition::compile({{"field", "contact.fields.visits"}, {"op", ">="}, {"value", 10}}, problems),
       std::nullopt}};
  ASSERT_TRUE(problems.empty());
  pipeline_ = std::make_unique<Pipeline>(
      *store_, std::vector<CompiledRule>{rule("welcome", {{"event", "segment.entered"}}, {action("congratulate")})},
      actions_, metrics_, options);
  pipeline_->start();
  const auto visits = [&](const std::string& id, int n) {
    auto parsed = parse_event({{"id", id},
                               {"type", "visit.completed"},
                               {"contact", {{"id", "c1"}, {"name", "Анна"}, {"fields", {{"visits", n}}}}}},
                              now_ms(), "api");
    append(std::move(parsed.records));
  };
  const auto member = [&] {
    const json contact = json::parse(store_->contact("id:c1")->data_json);
    return contact.contains("segments") && contact["segments"] == json::array({"regulars"});
  };
  // Three changes: one move, however the router batches them.
  visits("v9", 9);
  visits("v10", 10);
  visits("v11", 11);
  ASSERT_EQ(settled(1).size(), 1u);
  EXPECT_TRUE(member());
  visits("v0", 0);  // the visits were reset: out again
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (member() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(member());
  std::vector<std::string> moves;
  for (const auto& e : store_->events_after(0, 100))
    if (e.record.type.rfind("segment.", 0) == 0) moves.push_back(e.record.type);
  EXPECT_EQ(moves, (std::vector<std::string>{"segment.entered", "segment.left"}));
  EXPECT_EQ(actions_.calls.size(), 1u);
}

TEST(StepResults, BranchesOfAParallelGroupReportToTheStepsAfterIt) {
  const json history = json::parse(R"([
    {"step": "Offer", "outcome": "done", "external_id": "m1"},
    {"step": "together", "outcome": "branches started"},
    {"step": "together", "outcome": "branches ended", "branches": [
      {"execution": 2, "state": "done", "history": [{"step": "Offer", "outcome": "done", "external_id": "m1"},
                                                  {"step": "sms", "outcome": "done", "external_id": "s9"}]},
      {"execution": 3, "state": "failed", "history": [{"step": "push", "outcome": "permanent"}]}]},
    {"step": "Read", "outcome": "waiting for event"},
    {"step": "Read", "outcome": "event arrived", "event": {"data": {"status": "read"}}}])");
  const json results = step_results(history);
  EXPECT_EQ(results["Offer"]["external_id"], "m1");
  EXPECT_EQ(results["sms"]["external_id"], "s9");
  EXPECT_FALSE(results.contains("push"));  // failed: nothing to read
  EXPECT_EQ(results["Read"]["event"]["data"]["status"], "read");
}

TEST_F(PipelineTest, ADeferredStepWaitsWithoutUsingAnAttempt) {
  // One attempt allowed: a retry would be a dead letter, a deferral is not.
  ActionOutcome over_limit = ActionOutcome::failure(SB_OUTCOME_DEFERRED, "over the instance's sending limit");
  over_limit.retry_after_s = 1;
  actions_.script = {over_limit, over_limit};
  run({rule("r", {{"event", "lead.created"}}, {action("sms", /*max_attempts=*/1)})});
  append({lead_event("e1", "lead.created", "A")});
  actions_.wait_for(1);
  auto rows = settled(1, 5s);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, ExecutionState::kDone);
  EXPECT_EQ(actions_.wait_for(3).size(), 3u);
  // Deferred twice, one entry: a row held at a channel's limit does not grow with each try.
  const json history = json::parse(rows[0].history_json);
  ASSERT_EQ(history.size(), 2u) << history;
  EXPECT_EQ(history[0]["outcome"], "deferred");
  EXPECT_TRUE(history[0].contains("retry_at"));
  EXPECT_EQ(history[1]["outcome"], "done");
  EXPECT_EQ(actions_.calls[2].second.attempt, 1u);  // the third call is still the first attempt
}

TEST(Split, VariantIsStablePerContactAndFollowsTheWeights) {
  CompiledRule promo;
  promo.name = "promo";
  CompiledStep& split = promo.steps.emplace_back();
  split.kind = CompiledStep::Kind::kSplit;
  split.branches = {{"A", 1}, {"B", 3}};
  split.weights = {80, 20};
  std::map<std::string, int> counts;
  for (int i = 0; i < 2000; ++i) {
    const json context = {{"contact", {{"id", "c" + std::to_string(i)}}}};
    const std::string v = split_variant(promo, split, context);
    EXPECT_EQ(split_variant(promo, split, context), v);  // the same person, the same variant
    ++counts[v];
  }
  EXPECT_NEAR(counts["A"], 1600, 100);
  EXPECT_NEAR(counts["B"], 400, 100);
  // A rule's only (or first) split draws the same in every build and host.
  EXPECT_EQ(split_variant(promo, split, {{"contact", {{"id", "c1"}}}}), "B");
  EXPECT_EQ(split_variant(promo, split, {{"contact", {{"id", "c4"}}}}), "A");
  // The contact's email identifies them when there is no id.
  const json by_email = {{"contact", {{"emails", {{{"address", "a@example.com"}}}}}}};
  EXPECT_EQ(split_variant(promo, split, by_email), split_variant(promo, split, by_email));
}

// A rule of two A/B splits (steps "0" and "2"), each of variants A and B at these weights.
CompiledRule two_splits(const std::string& name, int weight_a, int weight_b) {
  CompiledRule rule;
  rule.name = name;
  for (const char* id : {"0", "2"}) {
    CompiledStep& split = rule.steps.emplace_back();
    split.kind = CompiledStep::Kind::kSplit;
    split.id = id;
    split.branches = {{"A", 1}, {"B", 2}};
    split.weights = {weight_a, weight_b};
  }
  return rule;
}

// Two 50/50 tests in one rule (subject line, then send time): a contact's
// variant in the second does not follow from the first.
TEST(Split, TwoSplitsOfOneRuleDrawApart) {
  const CompiledRule rule = two_splits("promo", 50, 50);
  int alike = 0;
  for (int i = 0; i < 2000; ++i) {
    const json context = {{"contact", {{"id", "c" + std::to_string(i)}}}};
    alike += split_variant(rule, rule.steps[0], context) == split_variant(rule, rule.steps[1], context);
  }
  EXPECT_NEAR(alike, 1000, 120);
}

// 1:1 weights (a modulo of 2): two tests of one rule, and one test in two
// rules, draw apart, and ids that differ only in an even last digit split
// evenly.
TEST(Split, EvenWeightsDrawApartAcrossSplitsAndRules) {
  const CompiledRule promo = two_splits("promo", 1, 1), reminder = two_splits("reminder", 1, 1);
  int alike_in_rule = 0, alike_across_rules = 0, first_a = 0;
  for (int i = 0; i < 2000; ++i) {
    const json context = {{"contact", {{"id", "client-" + std::to_string(i * 2)}}}};
    const std::string first = split_variant(promo, promo.steps[0], context);
    alike_in_rule += first == split_variant(promo, promo.steps[1], context);
    alike_across_rules += first == split_variant(reminder, reminder.steps[0], context);
    first_a += first == "A";
  }
  EXPECT_NEAR(alike_in_rule, 1000, 120);
  EXPECT_NEAR(alike_across_rules, 1000, 120);
  EXPECT_NEAR(first_a, 1000, 120);
}

TEST(Backoff, DoublesUpToAnHourWithJitter) {
  EXPECT_EQ(backoff_ms(1000, 1, 1.0), 1000);
  EXPECT_EQ(backoff_ms(1000, 3, 1.0), 4000);
  EXPECT_EQ(backoff_ms(1000, 3, 0.5), 2000);
  EXPECT_EQ(backoff_ms(1000, 40, 1.0), 3600 * 1000);
}

// A send in flight when the host dies: with on_doubt: hold, a step whose
// provider takes no idempotency key waits for an operator; a retry-safe one
// is sent again with its key.
class InDoubtTest : public PipelineTest {
 protected:
  std::vector<CompiledRule> rules() {
    CompiledStep sms = action("sms");
    CompiledStep http = action("http");
    http.retry_safe = true;
    CompiledRule held = rule("held", {{"event", "lead.created"}}, {sms, action("after")});
    held.hold_in_doubt = true;
    CompiledRule safe = rule("safe", {{"event", "lead.updated"}}, {http});
    safe.hold_in_doubt = true;
    return {held, safe};
  }
  // Both steps reach the provider; the host dies before either answer is recorded.
  void crash_with_both_steps_in_flight() {
    actions_.hold = true;
    run(rules());
    append({lead_event("e1", "lead.created", "A"), lead_event("e2", "lead.updated", std::nullopt)});
    ASSERT_EQ(actions_.wait_for(2).size(), 2u);
    restart();
  }
  // The host stops with its held calls unanswered (their answers come too
  // late to be recorded), and starts again on the same file.
  // `meanwhile` runs while no host runs.
  void restart(std::vector<CompiledRule> with = {}, const std::function<void()>& meanwhile = {}) {
    pipeline_->stop();
    while (actions_.release_one()) {
    }
    pipeline_.reset();
    store_.reset();
    store_ = std::make_unique<SqliteStore>(SqliteStore::Options{file_});
    actions_.hold = false;
    if (meanwhile) meanwhile();
    run(with.empty() ? rules() : std::move(with));
  }
  ExecutionRow of_rule(const std::string& name) { return store_->executions({std::nullopt, name, "", 1}).at(0); }
  std::string command(const std::string& rule_name, ExecutionState from, ExecutionState to, Doubt doubt) {
    ExecutionCommand c;
    c.id = of_rule(rule_name).id;
    c.from = {from};
    c.to = to;
    c.due_at_ms = now_ms();
    c.doubt = doubt;
    c.history_entry_json = R"({"admin":"operator"})";
    std::promise<std::string> done;
    Transitions(*store_).command(c, [&](StoreStatus s, std::vector<int64_t>) { done.set_value(s.message); });
    pipeline_->wake();
    return done.get_future().get();
  }
};

TEST_F(InDoubtTest, AStepThatMayHaveBeenSentIsHeldAndARetrySafeOneIsSentAgain) {
  crash_with_both_steps_in_flight();
  for (int i = 0; i < 400 && of_rule("held").state != ExecutionState::kInDoubt; ++i) std::this_thread::sleep_for(5ms);
  const ExecutionRow held = of_rule("held");
  EXPECT_EQ(held.state, ExecutionState::kInDoubt);
  EXPECT_NE(held.error.find("may have been sent"), std::string::npos) << held.error;
  EXPECT_EQ(store_->executions({ExecutionState::kInDoubt, "", "", 10}).size(), 1u);
  for (int i = 0; i < 400 && of_rule("safe").state != ExecutionState::kDone; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(of_rule("safe").state, ExecutionState::kDone);
  std::this_thread::sleep_for(100ms);
  std::vector<std::string> keys;
  for (const auto& c : actions_.wait_for(3)) keys.push_back(c.second.idempotency_key);
  // The SMS went out once; the HTTP call twice, with one key.
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "e1:held:0"), 1);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "e2:safe:0"), 2);
  // The second send is counted and said so in the history.
  const json history = json::parse(of_rule("safe").history_json);
  EXPECT_EQ(history.back().value("sent_again_in_doubt", false), true) << history;
  const std::string metrics = metrics_.prometheus_text();
  const auto counted = metrics.find("switchboard_steps_resent_in_doubt_total{");
  ASSERT_NE(counted, std::string::npos) << metrics;
  const std::string line = metrics.substr(counted, metrics.find('\n', counted) - counted);
  EXPECT_NE(line.find("rule=\"safe\""), std::string::npos) << line;
  EXPECT_EQ(line.substr(line.rfind(' ') + 1), "1") << line;
}

TEST_F(InDoubtTest, AnOperatorMarksTheStepDoneAndTheNextOneRuns) {
  crash_with_both_steps_in_flight();
  for (int i = 0; i < 400 && of_rule("held").state != ExecutionState::kInDoubt; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(command("held", ExecutionState::kInDoubt, ExecutionState::kReady, Doubt::kMarkedDone), "");
  for (int i = 0; i < 400 && of_rule("held").state != ExecutionState::kDone; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(of_rule("held").state, ExecutionState::kDone);
  std::vector<std::string> keys;
  for (const auto& c : actions_.wait_for(4)) keys.push_back(c.second.idempotency_key);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "e1:held:0"), 1);  // not sent again
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "e1:held:1"), 1);  // "after" ran
}

TEST_F(InDoubtTest, AnOperatorSendsTheStepAgainWithItsKey) {
  crash_with_both_steps_in_flight();
  for (int i = 0; i < 400 && of_rule("held").state != ExecutionState::kInDoubt; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(command("held", ExecutionState::kInDoubt, ExecutionState::kReady, Doubt::kNone), "");
  for (int i = 0; i < 400 && of_rule("held").state != ExecutionState::kDone; ++i) std::this_thread::sleep_for(5ms);
  std::vector<std::string> keys;
  for (const auto& c : actions_.wait_for(5)) keys.push_back(c.second.idempotency_key);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "e1:held:0"), 2);
  EXPECT_EQ(of_rule("held").state, ExecutionState::kDone);
}

// "A day later, remind unless paid", and the deal is paid while the
// reminder is in flight and the host dies: the branch taken was committed
// before the reminder went out, so the reminder is what is held in doubt,
// and the other branch (chosen on the deal as it is after the restart) is
// not sent.
TEST_F(InDoubtTest, ABranchTakenBeforeACrashIsNotDecidedAgainOnRecordsChangedSince) {
  const CompiledStep unpaid = unpaid_branch(/*else_step=*/4);
  CompiledStep end_of_then;
  end_of_then.kind = CompiledStep::Kind::kJump;
  end_of_then.jump_to = 5;
  CompiledRule remind = rule("remind", {{"event", "deal.created"}},
                             {wait(200), unpaid, action("reminder"), end_of_then, action("thanks")});
  remind.hold_in_doubt = true;
  run({remind});
  const auto deal = [&](const char* events) {
    auto parsed = parse_events(events, now_ms(), 100, "api");
    ASSERT_TRUE(parsed.problems.empty());
    append(std::move(parsed.records));
  };
  actions_.hold = true;
  deal(R"({"events": [{"id": "d1", "type": "deal.created", "contact": {"id": "c1", "name": "Анна"},
                       "entity": {"type": "deal", "id": "D1", "status": "new"}}]})");
  const auto calls = actions_.wait_for(1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].second.idempotency_key, "d1:remind:2");
  restart({remind}, [&] {
    deal(
        R"({"events": [{"id": "p1", "type": "deal.updated", "entity": {"type": "deal", "id": "D1", "status": "paid"}}]})");
  });
  for (int i = 0; i < 400 && of_rule("remind").state != ExecutionState::kInDoubt; ++i) std::this_thread::sleep_for(5ms);
  const ExecutionRow held = of_rule("remind");
  ASSERT_EQ(held.state, ExecutionState::kInDoubt) << held.history_json;
  EXPECT_EQ(held.step, "2");
  const json history = json::parse(held.history_json);
  EXPECT_EQ(history.back()["step"], "reminder") << history;
  const auto taken = std::find_if(history.begin(), history.end(),
                                  [](const json& e) { return e.value("outcome", "") == "branch taken"; });
  ASSERT_NE(taken, history.end()) << history;
  EXPECT_EQ((*taken)["next"], "reminder");
  EXPECT_EQ((*taken)["branches"][0]["branch"], "then");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(actions_.wait_for(2, 0ms).size(), 1u);  // "thanks" was not sent
}

// A clean stop with calls waiting for their instance's one slot: those were
// never sent, and are given back; after the restart only the one that had
// reached the provider is in doubt.
TEST_F(InDoubtTest, AStopGivesBackTheStepsThatNeverStartedSoOnlyTheOneSentIsHeld) {
  actions_.hold = true;
  CallQueue calls({{"sink", 1}}, [this] {
    if (pipeline_) pipeline_->wake();
  });
  PipelineOptions options{100ms, 5};
  options.calls = &calls;
  pipeline_ = std::make_unique<Pipeline>(*store_, rules(), actions_, metrics_, options);
  pipeline_->start();
  std::vector<EventRecord> events;
  for (int i = 0; i < 5; ++i) events.push_back(lead_event("e" + std::to_string(i), "lead.created", "A"));
  append(std::move(events));
  ASSERT_EQ(actions_.wait_for(1).size(), 1u);
  for (int i = 0; i < 400 && calls.queued() < 4; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(calls.queued(), 4u);  // four wait for the slot
  restart();
  EXPECT_EQ(calls.queued(), 0u);
  std::vector<ExecutionRow> rows;
  for (int i = 0; i < 400; ++i) {
    rows = store_->executions({std::nullopt, "held", "", 10});
    if (std::count_if(rows.begin(), rows.end(),
                      [](const ExecutionRow& r) { return r.state == ExecutionState::kDone; }) == 4)
      break;
    std::this_thread::sleep_for(5ms);
  }
  std::map<ExecutionState, int> states;
  for (const auto& r : rows) ++states[r.state];
  EXPECT_EQ(states[ExecutionState::kInDoubt], 1);
  EXPECT_EQ(states[ExecutionState::kDone], 4);
  // Nothing given back is sent twice: five first sends in all, and each "after" once.
  std::map<std::string, int> keys;
  for (const auto& c : actions_.wait_for(9, 1s)) ++keys[c.second.idempotency_key];
  for (int i = 0; i < 5; ++i) EXPECT_EQ(keys["e" + std::to_string(i) + ":held:0"], 1) << i;
}

// A provider with one slot that holds its calls for longer than a claim's
// lease: the steps waiting for the slot are given back before their leases
// end and claimed again, not taken over as steps that may have run, so each
// is sent once, and in no doubt.
TEST_F(PipelineTest, AStepWaitingForItsInstancesSlotIsGivenBackBeforeItsLeaseEnds) {
  actions_.hold = true;
  CallQueue calls({{"sink", 1}}, [this] {
    if (pipeline_) pipeline_->wake();
  });
  PipelineOptions options{100ms, 5};
  options.calls = &calls;
  options.lease = 1200ms;
  CompiledStep send = action("send");
  send.timeout = 100ms;
  pipeline_ = std::make_unique<Pipeline>(
      *store_, std::vector<CompiledRule>{rule("r", {{"event", "lead.created"}}, {send})}, actions_, metrics_, options);
  StopFirst stop_first{pipeline_};
  pipeline_->start();
  append({lead_event("e0", "lead.created", "A"), lead_event("e1", "lead.created", "A")});
  ASSERT_EQ(actions_.wait_for(1).size(), 1u);
  std::this_thread::sleep_for(3s);  // e1 waits behind e0 for two of its leases
  actions_.hold = false;
  actions_.release_one();
  const auto rows = settled(2, 5s);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) EXPECT_EQ(r.state, ExecutionState::kDone) << r.history_json;
  std::this_thread::sleep_for(200ms);
  std::map<std::string, int> keys;
  for (const auto& c : actions_.wait_for(3, 0ms)) ++keys[c.second.idempotency_key];
  EXPECT_EQ(keys["e1:r:0"], 1);
  // (e0, held past its own timeout, which a real call cannot be, is taken over: not what this is about.)
  for (const auto& r : rows) {
    if (r.event_id != "e1") continue;
    EXPECT_EQ(r.history_json.find("sent_again_in_doubt"), std::string::npos) << r.history_json;
  }
}

// A step that ends after its execution was cancelled, or one held in doubt,
// is not an execution that ended: neither is counted as done or failed.
TEST_F(PipelineTest, AStepEndingAfterItsExecutionWasCancelledIsNotCountedAsAnEnd) {
  actions_.hold = true;
  run({rule("r", {{"event", "lead.created"}}, {action("send")})});
  append({lead_event("e1", "lead.created", "A")});
  ASSERT_EQ(actions_.wait_for(1).size(), 1u);
  std::promise<StoreStatus> cancelled;
  Transitions(*store_).command({store_->executions({}).at(0).id,
                                {ExecutionState::kReady},
                                ExecutionState::kCancelled,
                                std::nullopt,
                                "",
                                Doubt::kNone},
                               [&](StoreStatus s, std::vector<int64_t>) { cancelled.set_value(std::move(s)); });
  ASSERT_TRUE(cancelled.get_future().get().ok());
  actions_.release_one();
  for (int i = 0; i < 400 && !store_->executions({}).at(0).lease_owner.empty(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(store_->executions({}).at(0).lease_owner.empty());  // the step's end was recorded as such
  EXPECT_EQ(store_->executions({}).at(0).state, ExecutionState::kCancelled);
  EXPECT_EQ(metrics_.prometheus_text().find("switchboard_executions_total{"), std::string::npos)
      << metrics_.prometheus_text();
}

// A low-priority campaign and a high-priority password reset; ten steps in
// flight at most, and a provider that holds every call.
void PipelineTest::run_campaign_and_reset() {
  actions_.hold = true;
  CompiledRule reset = rule("reset", {{"event", "password.reset"}}, {action("send-code")});
  reset.priority = kHighestPriority;
  PipelineOptions options{100ms, 5};
  options.max_in_flight = 10;
  pipeline_ = std::make_unique<Pipeline>(
      *store_, std::vector<CompiledRule>{rule("campaign", {{"event", "campaign.send"}}, {action("offer")}), reset},
      actions_, metrics_, options);
  pipeline_->start();
}

TEST_F(PipelineTest, AHighPriorityEventRunsBeforeTheLowPriorityBacklogThatIsDue) {
  // 100,000 campaign sends are due; ten are running, held by a slow provider.
  RouteBatch backlog;
  for (int i = 0; i < 100000; ++i)
    backlog.executions.push_back(
        {"campaign", "c" + std::to_string(i), R"({"contact":{"name":"Анна"}})", std::nullopt, kLowestPriority});
  std::promise<std::string> routed;
  Transitions(*store_).route(std::move(backlog), [&](StoreStatus s) { routed.set_value(s.message); });
  ASSERT_EQ(routed.get_future().get(), "");
  run_campaign_and_reset();
  ASSERT_EQ(actions_.wait_for(10).size(), 10u);
  append({lead_event("p1", "password.reset", std::nullopt)});
  // The reset starts at once, though the campaign fills the steps in flight
  // (the priority lane's reserve), before the 99,990 sends due before it.
  auto calls = actions_.wait_for(11);
  ASSERT_EQ(calls.size(), 11u);
  EXPECT_EQ(calls[10].second.idempotency_key, "p1:reset:0");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(actions_.wait_for(0, 0ms).size(), 11u) << "the campaign stays within max_in_flight";
  // The reset counts among the steps in flight: once two sends end, one
  // slot is free for the campaign again.
  ASSERT_TRUE(actions_.release_one());
  ASSERT_TRUE(actions_.release_one());
  EXPECT_EQ(actions_.wait_for(12).size(), 12u);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(actions_.wait_for(0, 0ms).size(), 12u);
  pipeline_->stop();
  while (actions_.release_one()) {
  }
}

TEST_F(PipelineTest, EventsThatStartAHighPriorityRuleAreTheOnesStoredAsUrgent) {
  run_campaign_and_reset();
  EXPECT_TRUE(pipeline_->starts_high_priority(lead_event("p1", "password.reset", std::nullopt)));
  EXPECT_FALSE(pipeline_->starts_high_priority(lead_event("c1", "campaign.send", std::nullopt)));
  EXPECT_FALSE(pipeline_->starts_high_priority(lead_event("x1", "lead.created", std::nullopt)));
  pipeline_->stop();
}

TEST_F(PipelineTest, AHighPriorityEventBehindEventsNotYetRoutedStartsBeforeTheRouterReachesIt) {
  // 20,000 campaign events are stored and not routed yet; the reset comes last.
  std::vector<EventRecord> campaign;
  for (int i = 0; i < 20000; ++i)
    campaign.push_back(lead_event("c" + std::to_string(i), "campaign.send", std::nullopt));
  append(std::move(campaign));
  append({lead_event("p1", "password.reset", std::nullopt)});
  run_campaign_and_reset();
  // Without the lane the reset would wait for the router to pass 20,000
  // events, and then for a slot that the held campaign never frees.
  bool reset_started = false;
  for (int i = 0; i < 1000 && !reset_started; ++i) {
    for (const auto& call : actions_.wait_for(0, 0ms))
      reset_started = reset_started || call.second.idempotency_key == "p1:reset:0";
    if (!reset_started) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(reset_started);
  // The router, when it gets there, makes no second execution of it.
  const int64_t last = store_->events_after(0, 30000).back().seq;
  for (int i = 0; i < 6000 && store_->routed_up_to() < last; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(store_->routed_up_to(), last);
  EXPECT_EQ(store_->executions({std::nullopt, "reset", "", 10}).size(), 1u);
  pipeline_->stop();
  while (actions_.release_one()) {
  }
}

// Many high-priority events among the last ones (more than the lane reads
// one by one): each starts once, before the router gets there.
TEST_F(PipelineTest, ManyHighPriorityEventsBehindTheBacklogEachStartOnce) {
  std::vector<EventRecord> campaign;
  for (int i = 0; i < 20000; ++i)
    campaign.push_back(lead_event("c" + std::to_string(i), "campaign.send", std::nullopt));
  append(std::move(campaign));
  std::vector<EventRecord> mixed;
  for (int i = 0; i < 40; ++i) {
    mixed.push_back(lead_event("m" + std::to_string(i), "campaign.send", std::nullopt));
    mixed.push_back(lead_event("p" + std::to_string(i), "password.reset", std::nullopt));
  }
  append(std::move(mixed));
  run_campaign_and_reset();
  std::set<std::string> resets;
  for (int i = 0; i < 1000 && resets.size() < 40; ++i) {
    for (const auto& call : actions_.wait_for(0, 0ms))
      if (call.second.idempotency_key.rfind("p", 0) == 0) resets.insert(call.second.idempotency_key);
    if (resets.size() < 40) std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(resets.size(), 40u);
  EXPECT_LT(store_->routed_up_to(), store_->events_after(0, 30000).back().seq);  // the router is not there yet
  pipeline_->stop();
  while (actions_.release_one()) {
  }
  EXPECT_EQ(store_->executions({std::nullopt, "reset", "", 100}).size(), 40u);
}

TEST_F(PipelineTest, AnInstanceHasNoMoreCallsInFlightThanItsMaxInFlight) {
  actions_.hold = true;
  PipelineOptions options{100ms, 5};
  options.instance_max_in_flight = {{"sink", 2}};
  pipeline_ = std::make_unique<Pipeline>(
      *store_, std::vector<CompiledRule>{rule("welcome", {{"event", "lead.created"}}, {action("send")})}, actions_,
      metrics_, options);
  pipeline_->start();
  std::vector<EventRecord> events;
  for (int i = 0; i < 5; ++i) events.push_back(lead_event("e" + std::to_string(i), "lead.created", "A"));
  append(std::move(events));
  ASSERT_EQ(actions_.wait_for(2).size(), 2u);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(actions_.wait_for(3, 0ms).size(), 2u);  // the other three wait their turn
  ASSERT_TRUE(actions_.release_one());
  EXPECT_EQ(actions_.wait_for(3).size(), 3u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(actions_.wait_for(4, 0ms).size(), 3u);
  actions_.hold = false;
  while (actions_.release_one()) {
  }
  auto rows = settled(5);
  for (const auto& r : rows) EXPECT_EQ(r.state, ExecutionState::kDone);
}

TEST_F(PipelineTest, AHighPriorityCallWaitsForItsInstanceAheadOfTheQueuedCampaign) {
  // One SMS instance for both: two calls at most, a campaign queued behind them.
  actions_.hold = true;
  PipelineOptions options{100ms, 5};
  CallQueue calls({{"sink", 2}}, [this] {
    if (pipeline_) pipeline_->wake();
  });
  options.calls = &calls;  // so that the test sees what waits for the instance
  const StopFirst stop_first{pipeline_};
  const auto queued = [&calls](size_t n) {
    for (int i = 0; i < 2000 && calls.queued() < n; ++i) std::this_thread::sleep_for(5ms);
    return calls.queued();
  };
  CompiledRule reset = rule("reset", {{"event", "password.reset"}}, {action("send-code")});
  reset.priority = kHighestPriority;
  pipeline_ = std::make_unique<Pipeline>(
      *store_, std::vector<CompiledRule>{rule("campaign", {{"event", "campaign.send"}}, {action("offer")}), reset},
      actions_, metrics_, options);
  pipeline_->start();
  std::vector<EventRecord> campaign;
  for (int i = 0; i < 6; ++i) campaign.push_back(lead_event("c" + std::to_string(i), "campaign.send", std::nullopt));
  append(std::move(campaign));
  ASSERT_EQ(actions_.wait_for(2).size(), 2u);
  ASSERT_EQ(queued(4), 4u);  // four campaign calls wait for the instance
  append({lead_event("p1", "password.reset", std::nullopt)});
  ASSERT_EQ(queued(5), 5u);
  ASSERT_TRUE(actions_.release_one());
  const auto made = actions_.wait_for(3);
  ASSERT_EQ(made.size(), 3u);
  EXPECT_EQ(made[2].second.idempotency_key, "p1:reset:0");  // the first free slot is the reset's
  pipeline_->stop();
  while (actions_.release_one()) {
  }
}

// An operator cancels an execution whose call waits for a slot of its
// instance (max_in_flight): it is never sent, its step ends at once (no
// lease left), and the next waiting call takes the slot.
TEST_F(PipelineTest, ACancelledExecutionsCallThatWaitsForItsInstanceIsNeverSent) {
  actions_.hold = true;
  PipelineOptions options{100ms, 5};
  CallQueue calls({{"sink", 1}}, [this] {
    if (pipeline_) pipeline_->wake();
  });
  options.calls = &calls;
  const StopFirst stop_first{pipeline_};
  pipeline_ = std::make_unique<Pipeline>(
      *store_, std::vector<CompiledRule>{rule("campaign", {{"event", "campaign.send"}}, {action("offer")})}, actions_,
      metrics_, options);
  pipeline_->start();
  append({lead_event("c0", "campaign.send", std::nullopt), lead_event("c1", "campaign.send", std::nullopt),
          lead_event("c2", "campaign.send", std::nullopt)});
  ASSERT_EQ(actions_.wait_for(1).size(), 1u);
  for (int i = 0; i < 2000 && calls.queued() < 2; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(calls.queued(), 2u);
  const ExecutionRow c1 = store_->executions({std::nullopt, "", "c1", 1}).at(0);
  ASSERT_FALSE(c1.lease_owner.empty());  // claimed: its call waits on this node

  ExecutionCommand cancel;
  cancel.id = c1.id;
  cancel.from = {ExecutionState::kReady, ExecutionState::kWaiting, ExecutionState::kInDoubt};
  cancel.to = ExecutionState::kCancelled;
  cancel.history_entry_json = R"({"admin":"cancel"})";
  std::promise<std::vector<int64_t>> cancelled;
  Transitions(*store_).command(cancel, [&](StoreStatus s, std::vector<int64_t> ids) {
    EXPECT_TRUE(s.ok()) << s.message;
    cancelled.set_value(std::move(ids));
  });
  calls.give_up_executions(cancelled.get_future().get());
  EXPECT_EQ(calls.queued(), 1u);
  ExecutionRow row;
  for (int i = 0; i < 400; ++i) {
    row = *store_->execution(c1.id);
    if (row.lease_owner.empty()) break;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(row.state, ExecutionState::kCancelled);
  EXPECT_TRUE(row.lease_owner.empty()) << "its step still holds a lease";
  EXPECT_FALSE(row.due_at_ms);

  ASSERT_TRUE(actions_.release_one());  // c0 ends: c2 takes the slot, c1 never does
  const auto made = actions_.wait_for(2);
  ASSERT_EQ(made.size(), 2u);
  EXPECT_EQ(made[1].second.idempotency_key, "c2:campaign:0");
  actions_.hold = false;
  while (actions_.release_one()) {
  }
  std::this_thread::sleep_for(50ms);
  for (const auto& [instance, request] : actions_.wait_for(3, 0ms))
    EXPECT_NE(request.idempotency_key, "c1:campaign:0") << "a cancelled execution's call was sent";
  EXPECT_EQ(store_->execution(c1.id)->state, ExecutionState::kCancelled);
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {
// Parameters a template made that the action's schema refuses are named
// with the text they came to (what the event gave), each problem once.
TEST(ActionRequests, ParametersTheSchemaRefusesAreNamedWithTheirText) {
  CompiledStep step = action("task");
  step.params = json{{"deadline", "{{data.when}}"}, {"priority", "{{data.priority}}"}, {"api_key", "{{data.key}}"}};
  const json schema = {
      {"type", "object"},
      {"properties",
       {{"deadline", {{"type", "string"}, {"pattern", "^tomorrow$"}, {"x-switchboard-expected", "a deadline"}}},
        {"priority", {{"enum", {"low", "high"}}}},
        {"api_key", {{"type", "string"}, {"pattern", "^k-"}}}}}};
  step.schema = std::make_shared<const JsonSchema>(schema);
  ExecutionRow row;
  row.event_id = "e1";
  row.rule = "r";
  const auto made = make_action_request(
      step, json{{"data", {{"when", "soon"}, {"priority", "urgent"}, {"key", "sk_live_0123456789"}}}}, row);
  ASSERT_TRUE(std::holds_alternative<ActionOutcome>(made));
  // What may be a credential is not repeated.
  EXPECT_EQ(std::get<ActionOutcome>(made).reason,
            "parameters do not match the action's schema: /api_key: expected a string matching ^k-; /deadline: 'soon' "
            "does not fit: expected a deadline; /priority: 'urgent' does not fit: expected one of \"low\", \"high\"");
}
}  // namespace
}  // namespace sb
