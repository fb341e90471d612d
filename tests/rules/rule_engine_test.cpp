// The foundation's rule path: trigger type + equality filters + ordered
// action steps with templated parameters.
#include <gtest/gtest.h>

#include "metrics/Metrics.h"
#include "rules/RuleEngine.h"

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

class RuleEngineTest : public ::testing::Test {
 protected:
  EmitReport emit(EmittedEvent ev, sb_emit_wait wait = SB_EMIT_WAIT_COMPLETED) {
    EmitReport report;
    EXPECT_EQ(engine.emit(std::move(ev), wait, [&](const EmitReport& r) { report = r; }), SB_OK);
    return report;
  }
  RecordingDispatcher dispatcher;
  Metrics metrics;
  RuleEngine engine{{forward_new()}, dispatcher, metrics};
};

TEST_F(RuleEngineTest, MatchingEventRunsStepsInOrderWithRenderedParams) {
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

TEST_F(RuleEngineTest, FilterMismatchRunsNothing) {
  EmitReport report = emit(event("old"));
  EXPECT_TRUE(dispatcher.calls.empty());
  EXPECT_EQ(report.report["executions"], json::array());
}

TEST_F(RuleEngineTest, OtherEventTypeRunsNothing) {
  EmittedEvent ev = event("new");
  ev.type = "lead.created";
  emit(std::move(ev));
  EXPECT_TRUE(dispatcher.calls.empty());
}

TEST_F(RuleEngineTest, FailedStepStopsTheExecutionWithItsReason) {
  dispatcher.fail_action = "post";
  EmitReport report = emit(event("new"));
  EXPECT_EQ(dispatcher.calls.size(), 1u);
  const json& execution = report.report["executions"][0];
  EXPECT_EQ(execution["status"], "failed");
  EXPECT_EQ(execution["steps"][0]["outcome"], "permanent");
  EXPECT_EQ(execution["steps"][0]["reason"], "rejected");
}

TEST_F(RuleEngineTest, MissingTemplateVariableFailsTheStepWithoutCallingThePlugin) {
  EmittedEvent ev = event("new");
  ev.payload["body"].erase("name");
  EmitReport report = emit(std::move(ev));
  EXPECT_TRUE(dispatcher.calls.empty());
  EXPECT_EQ(report.report["executions"][0]["steps"][0]["outcome"], "invalid_params");
  EXPECT_EQ(report.report["executions"][0]["steps"][0]["reason"],
            "template variable 'body.name' has no value in this event");
}

TEST_F(RuleEngineTest, AcceptedModeReportsBeforeStepsFinish) {
  EmitReport report = emit(event("new"), SB_EMIT_WAIT_ACCEPTED);
  EXPECT_EQ(report.status, SB_OK);
  EXPECT_EQ(report.event_id, "evt_7");
  EXPECT_EQ(report.report["executions"], json::array());
}

TEST_F(RuleEngineTest, EventWithoutIdGetsAGeneratedOne) {
  EmittedEvent ev = event("new");
  ev.id.clear();
  EmitReport report = emit(std::move(ev));
  EXPECT_EQ(report.event_id.rfind("evt_", 0), 0u);
  EXPECT_EQ(dispatcher.calls[0].request.idempotency_key, report.event_id + ":forward-new:0");
}

TEST(RuleEngineContext, LaterStepsReadTheAccountAndWhatEarlierStepsReported) {
  RecordingDispatcher dispatcher;
  Metrics metrics;
  CompiledRule rule = forward_new();
  rule.steps[1].params = json{{"from", "{{account.name}}"}, {"id", "{{steps.send.external_id}}"}};
  RuleEngine engine({rule}, dispatcher, metrics, json{{"name", "Школа №1"}});
  EmitReport report;
  ASSERT_EQ(engine.emit(event("new"), SB_EMIT_WAIT_COMPLETED, [&](const EmitReport& r) { report = r; }), SB_OK);
  ASSERT_EQ(dispatcher.calls.size(), 2u);
  EXPECT_EQ(dispatcher.calls[1].request.params, (json{{"from", "Школа №1"}, {"id", ""}}));
}

}  // namespace
}  // namespace sb
