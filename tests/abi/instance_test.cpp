// Calls into plugins through PluginInstance: whatever a plugin does — throw,
// refuse, answer garbage, complete twice or never — fails that one call with
// a reason, and the host goes on.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "app/PluginWatchdog.h"
#include "http/WebhookRoutes.h"
#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "plugins/PendingCalls.h"
#include "plugins/PluginInstance.h"

namespace sb {
namespace {

using namespace std::chrono_literals;

// The counters a fixture that make() loaded exports: what the plugin itself
// saw of the host's calls. Read through a reference to its library.
class FixtureCounters {
 public:
  explicit FixtureCounters(const std::string& fixture)
      : library_(dlopen((std::string(SB_FIXTURE_DIR) + "/" + fixture + ".so").c_str(), RTLD_NOW | RTLD_NOLOAD)) {}
  ~FixtureCounters() {
    if (library_) dlclose(library_);
  }
  FixtureCounters(const FixtureCounters&) = delete;
  FixtureCounters& operator=(const FixtureCounters&) = delete;
  // Null when the fixture is not loaded or exports no such counter.
  const int* operator[](const char* name) const {
    return library_ ? static_cast<const int*>(dlsym(library_, name)) : nullptr;
  }

 private:
  void* library_;
};

class InstanceTest : public ::testing::Test {
 protected:
  InstanceTest() {
    deps_.metrics = &metrics_;
    deps_.calls = &calls_;
    deps_.routes = &routes_;
  }

  std::unique_ptr<PluginInstance> make(const std::string& fixture) {
    return std::make_unique<PluginInstance>(PluginLibrary::load(std::string(SB_FIXTURE_DIR) + "/" + fixture + ".so"),
                                            "test", deps_, nlohmann::json::object());
  }

  ActionOutcome call(PluginInstance& instance, const std::string& action, std::chrono::milliseconds timeout = 5s,
                     nlohmann::json params = {{"x", 1}}) {
    std::promise<ActionOutcome> result;
    ActionRequest request;
    request.action = action;
    request.params = std::move(params);
    request.idempotency_key = "evt_1:rule:0";
    request.timeout = timeout;
    instance.invoke(request, [&](ActionOutcome o) { result.set_value(std::move(o)); });
    auto future = result.get_future();
    EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
    return future.get();
  }

  Metrics metrics_;
  PendingCalls calls_;
  WebhookRoutes routes_;
  HostDependencies deps_;
};

// The instance an outcome comes from, as what is logged about it names it.
const InstanceHost& plugin_host() {
  static const InstanceHost* host = [] {
    auto* h = new InstanceHost;
    h->plugin = "acme";
    h->instance = "acme_1";
    return h;
  }();
  return *host;
}

sb_action_result result_of(sb_outcome outcome, const char* code) {
  sb_action_result r{};
  r.struct_size = sizeof r;
  r.outcome = outcome;
  r.provider_code = {code, std::char_traits<char>::length(code)};
  r.retry_after_s = 20;
  return r;
}

TEST(ActionOutcomes, ADeferralSaidTheOneOrTheOtherWayMeansTheSame) {
  const sb_action_result from_1_0 = result_of(SB_OUTCOME_RETRY, SB_PROVIDER_CODE_DEFERRED);
  const sb_action_result from_1_1 = result_of(SB_OUTCOME_DEFERRED, "");
  for (const sb_action_result* r : {&from_1_0, &from_1_1}) {
    const ActionOutcome o = ActionOutcome::from_plugin(r, plugin_host());
    EXPECT_EQ(o.outcome, SB_OUTCOME_DEFERRED);
    EXPECT_EQ(o.retry_after_s, 20u);
    EXPECT_EQ(o.to_json()["outcome"], "deferred");
  }
  EXPECT_EQ(ActionOutcome::from_plugin(&from_1_0, plugin_host()).provider_code,
            SB_PROVIDER_CODE_DEFERRED);  // kept for the history
  const sb_action_result throttled = result_of(SB_OUTCOME_RETRY, "429");
  EXPECT_EQ(ActionOutcome::from_plugin(&throttled, plugin_host()).outcome, SB_OUTCOME_RETRY);
}

// A provider's Retry-After is honoured up to a day: an answer asking for a
// century (a broken or hostile server) does not park the step for one.
TEST(ActionOutcomes, APluginsPauseIsHonouredUpToADay) {
  for (const sb_outcome outcome : {SB_OUTCOME_RETRY, SB_OUTCOME_DEFERRED}) {
    sb_action_result r = result_of(outcome, "");
    r.retry_after_s = 4'000'000'000u;
    EXPECT_EQ(ActionOutcome::from_plugin(&r, plugin_host()).retry_after_s, 86'400u);
    r.retry_after_s = 3600;
    EXPECT_EQ(ActionOutcome::from_plugin(&r, plugin_host()).retry_after_s, 3600u);
  }
}

// What a plugin reports is kept in the execution's history and shown by the
// admin API: a provider that echoes the token it was sent leaks nothing.
TEST(ActionOutcomes, WhatAPluginReportsIsRedactedAsALogLineIs) {
  Logger::instance().add_secret("pass-1234");
  Logger::instance().add_secret("xyz-pass-1234-abc");  // holds the other: masked whole
  const std::string reason = "Malformed access token xyz-pass-1234-abc (pass-1234)";
  const std::string output = R"({"echo": {"Authorization": "Bearer xyz-pass-1234-abc", "xyz-pass-1234-abc": 1}})";
  sb_action_result r = result_of(SB_OUTCOME_PERMANENT, "pass-1234");
  r.reason = {reason.data(), reason.size()};
  r.output_json = {output.data(), output.size()};
  const ActionOutcome o = ActionOutcome::from_plugin(&r, plugin_host());
  EXPECT_EQ(o.reason, "Malformed access token [redacted] ([redacted])");
  EXPECT_EQ(o.provider_code, "[redacted]");
  EXPECT_EQ(o.output["echo"]["Authorization"], "Bearer [redacted]");
  EXPECT_EQ(o.output["echo"]["[redacted]"], 1);  // a key too
  EXPECT_FALSE(o.output["echo"].contains("xyz-pass-1234-abc"));
  // A secret that looks like a number masks strings only: the output stays JSON.
  Logger::instance().add_secret("987654321");
  const std::string numbers = R"({"n": 9876543210, "pin": "x987654321"})";
  r.output_json = {numbers.data(), numbers.size()};
  const ActionOutcome n = ActionOutcome::from_plugin(&r, plugin_host());
  EXPECT_EQ(n.output["n"], 9876543210);
  EXPECT_EQ(n.output["pin"], "x[redacted]");
  // Written with escapes, the text does not hold the secret; the string does.
  Logger::instance().add_secret("пароль-1");
  const std::string escaped = R"({"t": "\u043f\u0430\u0440\u043e\u043b\u044c-1"})";
  r.output_json = {escaped.data(), escaped.size()};
  EXPECT_EQ(ActionOutcome::from_plugin(&r, plugin_host()).output["t"], "[redacted]");
  // A '/' written "\/" (PHP's JSON): in the output, and in a reason that quotes the body.
  Logger::instance().add_secret("Bearer ab/cd");
  const std::string slashed = R"({"echo": "Bearer ab\/cd"})";
  r.output_json = {slashed.data(), slashed.size()};
  r.reason = {slashed.data(), slashed.size()};
  const ActionOutcome s = ActionOutcome::from_plugin(&r, plugin_host());
  EXPECT_EQ(s.output["echo"], "[redacted]");
  EXPECT_EQ(s.reason, R"({"echo": "[redacted]"})");
}

// An external id is shown by the admin API too: masked, and one over 1 KiB
// (no provider's id) is not kept; a reason longer than a page is cut, saying
// so; an outcome out of range is named as the plugin wrote it.
TEST(ActionOutcomes, ExternalIdsAreMaskedAndLongReasonsCut) {
  Logger::instance().add_secret("sk_live_EXT");
  const std::string id = "ext-sk_live_EXT";
  sb_action_result r = result_of(SB_OUTCOME_DONE, "");
  r.external_id = {id.data(), id.size()};
  EXPECT_EQ(ActionOutcome::from_plugin(&r, plugin_host()).external_id, "ext-[redacted]");
  const std::string long_id(2000, 'x');
  r.external_id = {long_id.data(), long_id.size()};
  EXPECT_EQ(ActionOutcome::from_plugin(&r, plugin_host()).external_id, "");
  // Cut at a character's start: 8191 ASCII bytes, then two-byte letters.
  std::string cyrillic = std::string(8191, 'a');
  for (int i = 0; i < 1000; ++i) cyrillic += "я";
  r = result_of(SB_OUTCOME_PERMANENT, "");
  r.reason = {cyrillic.data(), cyrillic.size()};
  const std::string cut = ActionOutcome::from_plugin(&r, plugin_host()).reason;
  EXPECT_EQ(cut, std::string(8191, 'a') + "... (cut: the plugin's text was 10191 bytes)");
  std::underlying_type_t<sb_outcome> minus_seven = static_cast<std::underlying_type_t<sb_outcome>>(-7);
  std::memcpy(&r.outcome, &minus_seven, sizeof minus_seven);
  EXPECT_EQ(ActionOutcome::from_plugin(&r, plugin_host()).reason, "plugin returned an unknown outcome -7");
}

// An output nested a million levels deep is kept as the plugin's text, not
// made a tree that copying it into the history would overflow the stack with.
TEST(ActionOutcomes, AnOutputNestedTooDeepIsKeptAsText) {
  const std::string deep = std::string(300000, '[') + std::string(300000, ']');
  sb_action_result r = result_of(SB_OUTCOME_DONE, "");
  r.output_json = {deep.data(), deep.size()};
  const ActionOutcome o = ActionOutcome::from_plugin(&r, plugin_host());
  ASSERT_TRUE(o.output.is_string());
  const nlohmann::json copied = o.to_json();  // what the history keeps
  EXPECT_EQ(copied["output"].get_ref<const std::string&>().size(), deep.size());
  // Over a megabyte: said, not cut into text that is no longer JSON.
  const std::string huge = "[\"" + std::string(2 << 20, 'x') + "\"]";
  r.output_json = {huge.data(), huge.size()};
  EXPECT_EQ(ActionOutcome::from_plugin(&r, plugin_host()).output, "(an output of 2097156 bytes, over the 1 MiB kept)");
}

TEST_F(InstanceTest, OlderDescriptorPluginRunsItsAction) {
  auto instance = make("older_descriptor");
  instance->start();  // no on_instance_start in its descriptor: nothing to call
  ActionOutcome o = call(*instance, "echo");
  EXPECT_EQ(o.outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(o.external_id, "evt_1:rule:0");
  EXPECT_EQ(o.output, (nlohmann::json{{"x", 1}}));
}

TEST_F(InstanceTest, ExceptionInsideAWrapperPluginBecomesAPermanentFailure) {
  auto instance = make("throws_in_action");
  ActionOutcome o = call(*instance, "boom");
  EXPECT_EQ(o.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(o.reason, "plugin threw: provider client exploded");
  // The instance still works for the next call.
  EXPECT_EQ(call(*instance, "boom").outcome, SB_OUTCOME_PERMANENT);
}

TEST_F(InstanceTest, ACompletionBeforeTheExceptionIsKept) {
  auto instance = make("throws_in_action");
  ActionOutcome o = call(*instance, "done_then_throw");
  EXPECT_EQ(o.outcome, SB_OUTCOME_DONE);
  EXPECT_EQ(o.external_id, "sent-1");
  EXPECT_EQ(calls_.size(), 0u);
}

TEST_F(InstanceTest, ExceptionEscapingTheCAbiIsContained) {
  auto instance = make("raw_throw");
  Logger::instance().add_secret("tok-9f2e");
  ActionOutcome o = call(*instance, "boom");
  EXPECT_EQ(o.outcome, SB_OUTCOME_PERMANENT);
  // What it said, not "internal error"; a secret in it masked.
  EXPECT_EQ(o.reason, "plugin threw: escaped the C ABI ([redacted])");
  try {
    PluginInstance(PluginLibrary::load(std::string(SB_FIXTURE_DIR) + "/raw_throw.so"), "test", deps_,
                   nlohmann::json{{"throw", true}});
    ADD_FAILURE() << "created";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()), "instance 'test' (plugin 'raw_throw'): cannot create: threw: config read wrong");
  }
}

TEST_F(InstanceTest, UnknownOutcomeIsAFailureAndASecondCompletionIsIgnored) {
  auto instance = make("garbage_result");
  ActionOutcome o = call(*instance, "echo");
  EXPECT_EQ(o.outcome, SB_OUTCOME_PERMANENT);
  EXPECT_EQ(o.reason, "plugin returned an unknown outcome 77");
  EXPECT_EQ(calls_.size(), 0u);
  // An error that claims more than the buffer holds, and more than was
  // written: what was written, no trailing zeros.
  const ActionOutcome refused = call(*instance, "echo", 5s, {{"claim", true}});
  EXPECT_EQ(refused.outcome, SB_OUTCOME_INVALID_PARAMS);
  EXPECT_EQ(refused.reason, "plugin refused the call: no route");
}

TEST_F(InstanceTest, MissingCompletionFailsRetryablyAtTheDeadlineAndThePluginHearsIt) {
  auto instance = make("never_completes");
  const FixtureCounters counters("never_completes");
  const int* given_up = counters["fixture_given_up"];
  ASSERT_NE(given_up, nullptr);
  const auto started = std::chrono::steady_clock::now();
  ActionOutcome o = call(*instance, "echo", 200ms);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
  EXPECT_EQ(o.outcome, SB_OUTCOME_RETRY);
  EXPECT_NE(o.reason.find("no completion"), std::string::npos) << o.reason;
  // on_action_cancel follows (its late completion is ignored); a call the host
  // shuts down on is given up too.
  for (int i = 0; i < 100 && __atomic_load_n(given_up, __ATOMIC_SEQ_CST) < 1; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(__atomic_load_n(given_up, __ATOMIC_SEQ_CST), 1);
  std::promise<ActionOutcome> pending;
  ActionRequest request;
  request.action = "echo";
  request.params = nlohmann::json::object();
  request.idempotency_key = "k2";
  request.timeout = std::chrono::hours(1);
  instance->invoke(request, [&](ActionOutcome outcome) { pending.set_value(std::move(outcome)); });
  calls_.close();
  EXPECT_EQ(pending.get_future().get().reason, "host shutting down");
  EXPECT_EQ(__atomic_load_n(given_up, __ATOMIC_SEQ_CST), 2);
}

// An operator cancelled the executions of two calls in flight: those calls
// end at once, marked as given up for the cancel (not a provider's answer),
// and their plugin hears it; the call of another execution goes on.
TEST_F(InstanceTest, CallsOfCancelledExecutionsAreGivenUpAndThePluginHearsIt) {
  auto instance = make("never_completes");
  const FixtureCounters counters("never_completes");
  const int* given_up = counters["fixture_given_up"];
  ASSERT_NE(given_up, nullptr);
  const int before = __atomic_load_n(given_up, __ATOMIC_SEQ_CST);
  std::map<int64_t, std::promise<ActionOutcome>> outcomes;
  for (const int64_t execution : {7, 8, 9}) outcomes[execution];
  for (const int64_t execution : {7, 8, 9}) {
    ActionRequest request;
    request.action = "echo";
    request.params = nlohmann::json::object();
    request.idempotency_key = "evt_" + std::to_string(execution) + ":rule:echo";
    request.timeout = std::chrono::hours(1);
    request.subject.execution_id = execution;
    instance->invoke(request, [&outcomes, execution](ActionOutcome o) { outcomes[execution].set_value(std::move(o)); });
  }
  ASSERT_EQ(calls_.size(), 3u);
  calls_.give_up_executions({7, 9, 12});
  for (const int64_t execution : {7, 9}) {
    auto outcome = outcomes[execution].get_future();
    ASSERT_EQ(outcome.wait_for(5s), std::future_status::ready) << execution;
    const ActionOutcome o = outcome.get();
    EXPECT_TRUE(o.cancelled);
    EXPECT_EQ(o.reason, "the execution was cancelled");
  }
  for (int i = 0; i < 100 && __atomic_load_n(given_up, __ATOMIC_SEQ_CST) < before + 2; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(__atomic_load_n(given_up, __ATOMIC_SEQ_CST), before + 2);
  EXPECT_EQ(calls_.size(), 1u);  // execution 8's call goes on
  calls_.close();
  const ActionOutcome shut = outcomes[8].get_future().get();
  EXPECT_EQ(shut.reason, "host shutting down");
  EXPECT_FALSE(shut.cancelled);
}

// A deadline that passes while on_action_invoke still runs: the call fails
// at its deadline, and the plugin hears the cancel once invoke has returned
// SB_OK, never during it; a call it refused is never cancelled.
TEST_F(InstanceTest, ACallGivenUpWhileInvokeRunsIsCancelledAfterInvokeReturns) {
  auto instance = make("slow_invoke");
  const FixtureCounters counters("slow_invoke");
  const int* given_up = counters["fixture_given_up"];
  const int* during = counters["fixture_cancelled_during_invoke"];
  ASSERT_TRUE(given_up && during);
  const ActionOutcome o = call(*instance, "echo", 50ms);  // invoke takes 300 ms
  EXPECT_EQ(o.outcome, SB_OUTCOME_RETRY);
  EXPECT_NE(o.reason.find("no completion"), std::string::npos) << o.reason;
  EXPECT_EQ(__atomic_load_n(given_up, __ATOMIC_SEQ_CST), 1);  // told as invoke returned
  EXPECT_EQ(__atomic_load_n(during, __ATOMIC_SEQ_CST), 0);

  std::promise<ActionOutcome> refused;
  ActionRequest request;
  request.action = "echo";
  request.params = {{"refuse", true}};
  request.idempotency_key = "evt_2:rule:echo";
  request.timeout = 50ms;
  instance->invoke(request, [&](ActionOutcome outcome) { refused.set_value(std::move(outcome)); });
  EXPECT_NE(refused.get_future().get().reason.find("no completion"), std::string::npos);
  EXPECT_EQ(__atomic_load_n(given_up, __ATOMIC_SEQ_CST), 1);  // it never took the call
}

// A plugin blocked in on_action_invoke holds up the steps behind it: while
// it is, /healthz's body names the call, and it is logged and counted once.
TEST_F(InstanceTest, ACallThatDoesNotReturnIsReportedWhileItBlocks) {
  std::ostringstream log;
  Logger::instance().set_stream(&log);
  auto instance = make("slow_invoke");  // 300 ms in invoke
  Metrics metrics;
  auto watchdog = std::make_unique<PluginWatchdog>(metrics, 50ms);
  EXPECT_EQ(watchdog->degraded(), std::nullopt);
  std::promise<ActionOutcome> done;
  ActionRequest request;
  request.action = "echo";
  request.idempotency_key = "evt_3:rule:echo";
  request.timeout = 50ms;
  request.subject.execution_id = 42;
  request.subject.rule = "reminders";
  request.subject.step = "send";
  std::thread caller([&] { instance->invoke(request, [&](ActionOutcome o) { done.set_value(std::move(o)); }); });
  std::optional<nlohmann::json> seen;
  for (int i = 0; i < 100 && !seen; ++i) {
    std::this_thread::sleep_for(5ms);
    seen = watchdog->degraded();
  }
  caller.join();
  ASSERT_TRUE(seen) << "not seen blocked";
  EXPECT_EQ((*seen)["status"], "degraded");
  const nlohmann::json& call = (*seen)["blocked_plugin_calls"][0];
  EXPECT_EQ(call["plugin"], "slow_invoke");
  EXPECT_EQ(call["instance"], "test");
  EXPECT_EQ(call["call"], "echo");
  EXPECT_EQ(call["rule"], "reminders");
  EXPECT_EQ(call["step"], "send");
  EXPECT_EQ(call["execution_id"], 42);
  EXPECT_EQ(watchdog->degraded(), std::nullopt);  // returned: healthy again
  watchdog.reset();                               // its thread has looked at least once meanwhile
  Logger::instance().set_stream(&std::cerr);
  EXPECT_EQ(metrics.counter("switchboard_plugin_calls_blocked_total", {{"instance", "test"}}).value(), 1);
  EXPECT_NE(log.str().find("a plugin's call has not returned"), std::string::npos) << log.str();
  done.get_future().get();
}

// The C++ wrapper: a plugin class that defines cancel() hears, with the call
// it started, that the host gave up on it; one without gets no cancel hook
// (and the host no per-call closure for it).
TEST_F(InstanceTest, ACppPluginsCancelHearsTheCallTheHostGaveUpOn) {
  auto instance = make("never_completes_cpp");
  const FixtureCounters counters("never_completes_cpp");
  const int* given_up = counters["fixture_given_up"];
  const int* unknown = counters["fixture_unknown_cancels"];
  ASSERT_TRUE(given_up && unknown);
  ActionOutcome o = call(*instance, "echo", 100ms);
  EXPECT_EQ(o.outcome, SB_OUTCOME_RETRY);
  EXPECT_NE(o.reason.find("no completion"), std::string::npos) << o.reason;  // not the late "too late"
  for (int i = 0; i < 100 && __atomic_load_n(given_up, __ATOMIC_SEQ_CST) < 1; ++i) std::this_thread::sleep_for(5ms);
  // The count rises inside cancel(): close() waits for it to return, as the
  // host's shutdown does, before the instance (and its code) goes.
  calls_.close();
  EXPECT_EQ(__atomic_load_n(given_up, __ATOMIC_SEQ_CST), 1);
  EXPECT_EQ(__atomic_load_n(unknown, __ATOMIC_SEQ_CST), 0);

  using Entry = const sb_plugin_descriptor* (*)();
  for (const auto& [fixture, has_cancel] : {std::pair{"never_completes_cpp", true}, {"throws_in_action", false}}) {
    void* so = dlopen((std::string(SB_FIXTURE_DIR) + "/" + fixture + ".so").c_str(), RTLD_NOW);
    ASSERT_NE(so, nullptr) << fixture;
    const auto entry = reinterpret_cast<Entry>(dlsym(so, "switchboard_plugin_entry"));
    ASSERT_NE(entry, nullptr) << fixture;
    EXPECT_EQ(entry()->on_action_cancel != nullptr, has_cancel) << fixture;
    dlclose(so);
  }
}

TEST_F(InstanceTest, CreateFailureCarriesThePluginsReason) {
  try {
    make("init_fails");
    FAIL() << "expected PluginError";
  } catch (const PluginError& e) {
    EXPECT_STREQ(e.what(),
                 "instance 'test' (plugin 'init_fails'): cannot create: cannot reach the provider: bad credentials");
  }
}

TEST_F(InstanceTest, ForgedCompletionHandleIsIgnored) {
  auto instance = make("older_descriptor");
  // Nothing is pending under id 12345: completing it must not touch memory.
  EXPECT_FALSE(calls_.complete(12345, nullptr, ActionOutcome{}));
}

}  // namespace
}  // namespace sb
