// Routes whose caller waits for the result (a webhook's respond: completed):
// the interpreter with executions in memory. Trigger, filter, ordered
// actions with templated parameters, and the steps the durable pipeline
// has too: branches, short waits and parallel groups.
#include <gtest/gtest.h>

#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "executor/CompletedRoutes.h"
#include "integration/test_support.h"
#include "metrics/Metrics.h"
#include "store/SqliteStore.h"

namespace sb {
namespace {

using nlohmann::json;

// Records every dispatched action and answers from a script.
class RecordingDispatcher : public ActionDispatcher {
 public:
  struct Call {
    std::string instance;
    ActionRequest request;
  };
  void dispatch(const std::string& instance, const ActionRequest& request, PendingCalls::Callback done) override {
    calls.push_back({instance, request});
    done(fail_action == request.action ? ActionOutcome::failure(SB_OUTCOME_PERMANENT, "rejected") : ActionOutcome{});
  }
  std::vector<Call> calls;
  std::string fail_action;
};

CompiledRule forward_new() {
  CompiledRule rule;
  rule.name = "forward-new";
  std::vector<ConditionProblem> problems;
  rule.trigger = Trigger::compile(json{{"event", "webhook.received"}}, {}, problems);
  rule.filter = Condition::compile(json{{"body.status", "new"}}, problems);
  CompiledStep send;
  send.name = "send";
  send.instance = "sink";
  send.action = "post";
  send.params = json{{"to", "{{body.phone}}"}, {"text", "Hello {{body.name}}"}};
  CompiledStep log;
  log.name = "log";
  log.instance = "sink";
  log.action = "log";
  log.params = json{{"event", "{{event.id}}"}};
  rule.steps = {send, log};
  return rule;
}

EmittedEvent event(const std::string& status) {
  return EmittedEvent{"evt_7", "webhook.received", "hooks",
                      json{{"body", {{"phone", "+79990001122"}, {"name", "Иван"}, {"status", status}}}}};
}

// Runs each task on a thread of its own after its delay.
void after(std::chrono::milliseconds delay, std::function<void()> task) {
  std::thread([delay, task = std::move(task)] {
    std::this_thread::sleep_for(delay);
    task();
  }).detach();
}

class CompletedRoutesTest : public ::testing::Test {
 protected:
  explicit CompletedRoutesTest(std::vector<CompiledRule> rules = {forward_new()}, json account = json::object())
      : engine(std::move(rules), dispatcher, calls, store, metrics, after,
               {std::move(account), std::chrono::seconds(2)}) {}
  EmitReport emit(EmittedEvent ev, sb_emit_wait wait = SB_EMIT_WAIT_COMPLETED) {
    std::promise<EmitReport> report;
    EXPECT_EQ(engine.emit(std::move(ev), wait, [&](const EmitReport& r) { report.set_value(r); }), SB_OK);
    auto got = report.get_future();
    EXPECT_EQ(got.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    return got.get();
  }
  RecordingDispatcher dispatcher;
  Metrics metrics;
  CallQueue calls{{}, [] {}};
  SqliteStore store{{test::make_temp_dir("sb_completed") / "switchboard.db"}};
  CompletedRoutes engine;
};

TEST_F(CompletedRoutesTest, MatchingEventRunsStepsInOrderWithRenderedParams) {
  EmitReport report = emit(event("new"));
  ASSERT_EQ(dispatcher.calls.size(), 2u);
  EXPECT_EQ(dispatcher.calls[0].instance, "sink");
  EXPECT_EQ(dispatcher.calls[0].request.params, (json{{"to", "+79990001122"}, {"text", "Hello Иван"}}));
  EXPECT_EQ(dispatcher.calls[0].request.idempotency_key, "evt_7:forward-new:0");
  EXPECT_EQ(dispatcher.calls[1].request.params, (json{{"event", "evt_7"}}));
  EXPECT_EQ(dispatcher.calls[1].request.idempotency_key, "evt_7:forward-new:1");
  EXPECT_EQ(report.event_id, "evt_7");
  EXPECT_EQ(report.report["executions"][0]["status"], "done");
  EXPECT_EQ(report.report["executions"][0]["steps"].size(), 2u);
}

// The sender's retry of a request (the same webhook-id): what was done is
// not done again, and what failed runs again from where it failed.
TEST_F(CompletedRoutesTest, ASendersRepeatIsAnsweredWithTheEndOrRunsAgainOnlyWhatFailed) {
  dispatcher.fail_action = "log";
  EmitReport first = emit(event("new"));
  EXPECT_EQ(first.report["executions"][0]["status"], "failed");
  ASSERT_EQ(dispatcher.calls.size(), 2u);
  dispatcher.fail_action.clear();
  EmitReport second = emit(event("new"));
  EXPECT_EQ(second.report["executions"][0]["status"], "done") << second.report.dump();
  ASSERT_EQ(dispatcher.calls.size(), 3u);  // the message was not sent again
  EXPECT_EQ(dispatcher.calls[2].request.action, "log");
  EXPECT_EQ(dispatcher.calls[2].request.idempotency_key, "evt_7:forward-new:1");
  EXPECT_EQ(second.execution_count, 1u);
  EXPECT_EQ(second.executions_done, 1u);
  EmitReport third = emit(event("new"));
  EXPECT_EQ(third.report, second.report);
  EXPECT_EQ(dispatcher.calls.size(), 3u);
  // A repeat is the same event, whatever the filters say of it now.
  EmitReport changed = emit(event("old"));
  EXPECT_EQ(changed.report, second.report);
  EXPECT_EQ(dispatcher.calls.size(), 3u);
  // Another sender's event with the same id is another event.
  EmittedEvent other = event("new");
  other.source = "other-hooks";
  emit(other);
  EXPECT_EQ(dispatcher.calls.size(), 5u);
  // An event the host named (no id of the sender's) is another event each time.
  EmittedEvent unnamed = event("new");
  unnamed.id.clear();
  emit(unnamed);
  emit(unnamed);
  EXPECT_EQ(dispatcher.calls.size(), 9u);
}

TEST_F(CompletedRoutesTest, FilterMismatchRunsNothing) {
  EmitReport report = emit(event("old"));
  EXPECT_TRUE(dispatcher.calls.empty());
  EXPECT_EQ(report.report["executions"], json::array());
}

TEST_F(CompletedRoutesTest, OtherEventTypeRunsNothing) {
  EmittedEvent ev = event("new");
  ev.type = "lead.created";
  emit(std::move(ev));
  EXPECT_TRUE(dispatcher.calls.empty());
}

TEST_F(CompletedRoutesTest, FailedStepStopsTheExecutionWithItsReason) {
  dispatcher.fail_action = "post";
  EmitReport report = emit(event("new"));
  EXPECT_EQ(dispatcher.calls.size(), 1u);
  const json& execution = report.report["executions"][0];
  EXPECT_EQ(execution["status"], "failed");
  EXPECT_EQ(execution["steps"][0]["outcome"], "permanent");
  EXPECT_EQ(execution["steps"][0]["reason"], "rejected");
}

TEST_F(CompletedRoutesTest, MissingTemplateVariableFailsTheStepWithoutCallingThePlugin) {
  EmittedEvent ev = event("new");
  ev.payload["body"].erase("name");
  EmitReport report = emit(std::move(ev));
  EXPECT_TRUE(dispatcher.calls.empty());
  EXPECT_EQ(report.report["executions"][0]["steps"][0]["outcome"], "invalid_params");
  EXPECT_EQ(report.report["executions"][0]["steps"][0]["reason"],
            "/text: template variable 'body.name' has no value in this event");
}

TEST_F(CompletedRoutesTest, AcceptedModeReportsBeforeStepsFinish) {
  EmitReport report = emit(event("new"), SB_EMIT_WAIT_ACCEPTED);
  EXPECT_EQ(report.status, SB_OK);
  EXPECT_EQ(report.event_id, "evt_7");
  EXPECT_EQ(report.report["executions"], json::array());
}

TEST_F(CompletedRoutesTest, EventWithoutIdGetsAGeneratedOne) {
  EmittedEvent ev = event("new");
  ev.id.clear();
  EmitReport report = emit(std::move(ev));
  EXPECT_EQ(report.event_id.rfind("evt_", 0), 0u);
  EXPECT_EQ(dispatcher.calls[0].request.idempotency_key, report.event_id + ":forward-new:0");
}

CompiledRule rule_with(std::vector<CompiledStep> steps) {
  CompiledRule rule = forward_new();
  rule.steps = std::move(steps);
  return rule;
}

CompiledStep sink_post(const std::string& name, json params = json::object()) {
  CompiledStep s;
  s.name = name;
  s.instance = "sink";
  s.action = "post";
  s.params = std::move(params);
  return s;
}

class LaterStepsTest : public CompletedRoutesTest {
 protected:
  LaterStepsTest()
      : CompletedRoutesTest({rule_with({sink_post("send"), sink_post("log", {{"from", "{{account.name}}"},
                                                                             {"id", "{{steps.send.external_id}}"}})})},
                            json{{"name", "Школа №1"}}) {}
};

TEST_F(LaterStepsTest, ReadTheAccountAndWhatEarlierStepsReported) {
  emit(event("new"));
  ASSERT_EQ(dispatcher.calls.size(), 2u);
  EXPECT_EQ(dispatcher.calls[1].request.params, (json{{"from", "Школа №1"}, {"id", ""}}));
}

// A rule of one pipeline answers for its entities only, on this path too.
class PipelineRuleTest : public CompletedRoutesTest {
 protected:
  PipelineRuleTest() : CompletedRoutesTest({sales_rule()}) {}
  static CompiledRule sales_rule() {
    CompiledRule rule = forward_new();
    std::vector<ConditionProblem> problems;
    rule.trigger = Trigger::compile(json{{"event", "webhook.received"}, {"pipeline", "Продажи"}}, {}, problems);
    return rule;
  }
};

TEST_F(PipelineRuleTest, AnEntityOfAnotherPipelineRunsNothing) {
  EmittedEvent other = event("new");
  other.payload["entity"] = {{"type", "deal"}, {"id", "D1"}, {"pipeline", "Аренда"}};
  emit(std::move(other));
  EXPECT_TRUE(dispatcher.calls.empty());
  EmittedEvent sales = event("new");
  sales.id = "evt_8";
  sales.payload["entity"] = {{"type", "deal"}, {"id", "D2"}, {"pipeline", "Продажи"}};
  emit(std::move(sales));
  EXPECT_EQ(dispatcher.calls.size(), 2u);
}

// if/else, then a short wait, then an action: every step kind the durable
// pipeline has, through the same interpreter.
CompiledRule branch_and_wait() {
  CompiledStep decide;
  decide.kind = CompiledStep::Kind::kIf;
  decide.name = "new?";
  std::vector<ConditionProblem> problems;
  decide.condition = Condition::compile(json{{"body.status", "new"}}, problems);
  decide.else_step = 3;
  CompiledStep end_of_then;
  end_of_then.kind = CompiledStep::Kind::kJump;
  end_of_then.jump_to = 4;
  CompiledStep pause;
  pause.name = "pause";
  pause.kind = CompiledStep::Kind::kWait;
  pause.wait_ms = 150;
  CompiledRule rule = forward_new();
  rule.filter = nullptr;
  rule.steps = {decide, sink_post("welcome"), end_of_then, sink_post("regular"), pause, sink_post("after the pause")};
  return rule;
}

class BranchAndWaitTest : public CompletedRoutesTest {
 protected:
  BranchAndWaitTest() : CompletedRoutesTest({branch_and_wait()}) {}
};

TEST_F(BranchAndWaitTest, ABranchAndAShortWaitRunBeforeTheCallerGetsTheResult) {
  const auto start = std::chrono::steady_clock::now();
  EmitReport report = emit(event("new"));
  // The wait is 150 ms on the wall clock, read in whole milliseconds: up to one short on the steady one.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(149));
  ASSERT_EQ(dispatcher.calls.size(), 2u);
  EXPECT_EQ(dispatcher.calls[0].request.idempotency_key, "evt_7:forward-new:1");  // "welcome", not "regular"
  EXPECT_EQ(dispatcher.calls[1].request.idempotency_key, "evt_7:forward-new:5");
  const json& execution = report.report["executions"][0];
  EXPECT_EQ(execution["status"], "done");
  EXPECT_EQ(execution["steps"][0]["branches"][0], (json{{"step", "new?"}, {"branch", "then"}}));
  EXPECT_EQ(execution["steps"][1]["step"], "pause");
  EXPECT_EQ(report.executions_done, 1u);
  // Counted as the durable pipeline counts.
  const std::string text = metrics.prometheus_text();
  EXPECT_NE(text.find("switchboard_executions_total{rule=\"forward-new\",status=\"done\"} 1"), std::string::npos);
  EXPECT_NE(text.find("switchboard_pipeline_steps_started_total 2"), std::string::npos) << text;
}

TEST_F(BranchAndWaitTest, TheOtherBranchRunsForTheOtherCase) {
  emit(event("old"));
  ASSERT_EQ(dispatcher.calls.size(), 2u);
  EXPECT_EQ(dispatcher.calls[0].request.idempotency_key, "evt_7:forward-new:3");
}

CompiledRule long_wait() {
  CompiledStep pause;
  pause.kind = CompiledStep::Kind::kWait;
  pause.name = "a day";
  pause.wait_ms = 24 * 3600 * 1000;
  return rule_with({pause, sink_post("tomorrow")});
}

class LongWaitTest : public CompletedRoutesTest {
 protected:
  LongWaitTest() : CompletedRoutesTest({long_wait()}) {}
};

TEST_F(LongWaitTest, AWaitLongerThanTheRouteFailsAndSaysWhatToDo) {
  EmitReport report = emit(event("new"));
  EXPECT_TRUE(dispatcher.calls.empty());
  const json& execution = report.report["executions"][0];
  EXPECT_EQ(execution["status"], "failed");
  EXPECT_NE(execution["error"].get<std::string>().find("respond: accepted"), std::string::npos) << execution;
  // Named by the step that waits, not by the one after it.
  // (86,399 s when a slow build took a moment before the wait was weighed.)
  const std::string error = execution["error"].get<std::string>();
  EXPECT_EQ(error.rfind("a wait of 86", 0), 0u) << execution;
  EXPECT_NE(error.find(" s (at step 'a day')"), std::string::npos) << execution;
  EXPECT_EQ(execution["steps"].back()["step"], "a day") << execution;
  EXPECT_EQ(execution["steps"].back()["outcome"], "permanent") << execution;
  // The sender's repeat does not run it again past the wait it could not make.
  EmitReport again = emit(event("new"));
  EXPECT_TRUE(dispatcher.calls.empty());
  EXPECT_EQ(again.report, report.report);
}

CompiledRule two_waits() {
  CompiledStep first, second;
  first.kind = second.kind = CompiledStep::Kind::kWait;
  first.name = "first pause";
  second.name = "second pause";
  first.wait_ms = second.wait_ms = 1200;  // each fits in the route's 2 s, both do not
  return rule_with({first, sink_post("between"), second, sink_post("after")});
}

class TwoWaitsTest : public CompletedRoutesTest {
 protected:
  TwoWaitsTest() : CompletedRoutesTest({two_waits()}) {}
};

TEST_F(TwoWaitsTest, WaitsThatTogetherOutlastTheRouteFailBeforeTheCallerGivesUp) {
  const auto start = std::chrono::steady_clock::now();
  EmitReport report = emit(event("new"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));  // answered within the route's time
  ASSERT_EQ(dispatcher.calls.size(), 1u);
  EXPECT_EQ(dispatcher.calls[0].request.idempotency_key, "evt_7:forward-new:1");
  const json& execution = report.report["executions"][0];
  EXPECT_EQ(execution["status"], "failed");
  EXPECT_NE(execution["error"].get<std::string>().find("respond: accepted"), std::string::npos) << execution;
}

CompiledRule together() {
  CompiledStep group;
  group.kind = CompiledStep::Kind::kParallel;
  group.name = "together";
  group.branches = {{"0", 1}, {"1", 3}};
  group.jump_to = 5;
  CompiledStep end0, end1;
  end0.kind = end1.kind = CompiledStep::Kind::kJump;
  end0.jump_to = end1.jump_to = 5;
  return rule_with({group, sink_post("sms"), end0, sink_post("email"), end1,
                    sink_post("after", {{"sms", "{{steps.sms.external_id}}"}})});
}

class ParallelTest : public CompletedRoutesTest {
 protected:
  ParallelTest() : CompletedRoutesTest({together()}) {}
};

TEST_F(ParallelTest, BranchesRunAndJoinBeforeTheNextStep) {
  EmitReport report = emit(event("new"));
  ASSERT_EQ(dispatcher.calls.size(), 3u);
  EXPECT_EQ(dispatcher.calls[0].request.idempotency_key, "evt_7#0.0:forward-new:1");
  EXPECT_EQ(dispatcher.calls[1].request.idempotency_key, "evt_7#0.1:forward-new:3");
  EXPECT_EQ(dispatcher.calls[2].request.idempotency_key, "evt_7:forward-new:5");
  const json& execution = report.report["executions"][0];
  EXPECT_EQ(execution["status"], "done");
  EXPECT_EQ(execution["steps"][1]["outcome"], "branches ended");
  EXPECT_EQ(execution["steps"][1]["branches"].size(), 2u);
  // What a plugin keeps of the cause (a CRM change's caused_by) is the event, not the branch's row.
  EXPECT_EQ(dispatcher.calls[0].request.subject.event_id, "evt_7");
}

// Holds every call until released, first in first out.
class HoldingDispatcher : public ActionDispatcher {
 public:
  void dispatch(const std::string&, const ActionRequest& request, PendingCalls::Callback done) override {
    std::lock_guard lock(mutex);
    keys.push_back(request.idempotency_key);
    held.push_back(std::move(done));
  }
  void release_first() {
    PendingCalls::Callback done;
    {
      std::lock_guard lock(mutex);
      done = std::move(held.front());
      held.pop_front();
    }
    done(ActionOutcome{});
  }
  std::mutex mutex;
  std::vector<std::string> keys;
  std::deque<PendingCalls::Callback> held;
};

CompiledRule one_post(const std::string& name, const std::string& event, int priority) {
  CompiledRule rule;
  rule.name = name;
  rule.priority = priority;
  std::vector<ConditionProblem> problems;
  rule.trigger = Trigger::compile(json{{"event", event}}, {}, problems);
  rule.steps = {sink_post("send")};
  return rule;
}

TEST(CompletedRoutesPriority, AHighPriorityRulesCallWaitsForItsInstanceAheadOfNormalOnes) {
  HoldingDispatcher dispatcher;
  Metrics metrics;
  CallQueue calls({{"sink", 1}}, [] {});
  SqliteStore store{{test::make_temp_dir("sb_completed_priority") / "switchboard.db"}};
  CompletedRoutes engine(
      {one_post("campaign", "campaign.send", kNormalPriority), one_post("reset", "password.reset", kHighestPriority)},
      dispatcher, calls, store, metrics, after, {json::object(), std::chrono::seconds(5)});
  const auto emit = [&](const std::string& id, const std::string& type) {
    std::promise<void> accepted;
    ASSERT_EQ(engine.emit(EmittedEvent{id, type, "hooks", json::object()}, SB_EMIT_WAIT_ACCEPTED,
                          [&](const EmitReport&) { accepted.set_value(); }),
              SB_OK);
    accepted.get_future().wait();
  };
  emit("c1", "campaign.send");   // takes the instance's one slot
  emit("c2", "campaign.send");   // waits
  emit("r1", "password.reset");  // waits too, posted later
  ASSERT_EQ(calls.queued(), 2u);
  dispatcher.release_first();
  calls.start_queued();
  ASSERT_EQ(dispatcher.keys.size(), 2u);
  EXPECT_EQ(dispatcher.keys[1], "r1:reset:0");
  dispatcher.release_first();
  calls.start_queued();
  dispatcher.release_first();
}

}  // namespace
}  // namespace sb
