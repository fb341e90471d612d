// One action invocation through the plugin ABI versus a direct C++ call.
//
//   DirectVirtualCall   a virtual call in the same binary (the floor)
//   AbiCallC            descriptor->on_action_invoke on a plain-C plugin that
//                       completes through sb_host.complete: the ABI itself
//   AbiCallCppWrapper   the same on a plugin written with plugin.hpp: the ABI
//                       plus the wrapper's shared, exactly-once Completion
//   HostInvoke          PluginInstance::invoke: the whole host path with
//                       deadline registry, JSON serialisation and id handles
#include <benchmark/benchmark.h>
#include <switchboard/plugin.h>

#include "http/WebhookRoutes.h"
#include "metrics/Metrics.h"
#include "plugins/PendingCalls.h"
#include "plugins/PluginInstance.h"

namespace {

struct Result {
  int outcome;
  const char* id;
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual Result send(const char* action, size_t len) = 0;
};

class EchoChannel : public Channel {
 public:
  Result send(const char* action, size_t len) override { return {len > 0 ? 0 : 1, action}; }
};

void DirectVirtualCall(benchmark::State& state) {
  std::unique_ptr<Channel> channel = std::make_unique<EchoChannel>();
  Channel* volatile target = channel.get();  // keeps the call virtual
  for (auto _ : state) {
    Result r = target->send("echo", 4);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(DirectVirtualCall);

// A host table whose complete() only records the outcome.
int g_last_outcome = -1;
void record_complete(const sb_host*, sb_completion*, const sb_action_result* r) { g_last_outcome = r->outcome; }
const void* no_service(const sb_host*, const char*) { return nullptr; }

void AbiCall(benchmark::State& state, const char* plugin) {
  auto lib = sb::PluginLibrary::load(plugin);
  sb_host host{};
  host.struct_size = sizeof host;
  host.abi_version = {SB_ABI_VERSION_MAJOR, SB_ABI_VERSION_MINOR, 0};
  host.get_service = no_service;
  host.complete = record_complete;
  sb_instance* instance = nullptr;
  if (lib->entry().create(&host, {"{}", 2}, &instance, nullptr) != SB_OK) state.SkipWithError("create failed");
  const sb_action_call call{sizeof(sb_action_call), {"echo", 4}, {"{}", 2}, {"evt:rule:0", 10}, 1, 0, {"{}", 2}};
  for (auto _ : state) {
    sb_status s = lib->entry().invoke(instance, &call, reinterpret_cast<sb_completion*>(1), nullptr);
    benchmark::DoNotOptimize(s);
  }
  if (g_last_outcome != SB_OUTCOME_DONE) state.SkipWithError("plugin did not complete");
  lib->entry().destroy(instance);
}
BENCHMARK_CAPTURE(AbiCall, C, SB_BENCH_C_PLUGIN);
BENCHMARK_CAPTURE(AbiCall, CppWrapper, SB_BENCH_PLUGIN);

void HostInvoke(benchmark::State& state) {
  sb::Metrics metrics;
  sb::PendingCalls calls;
  sb::WebhookRoutes routes;
  sb::HostDependencies deps;
  deps.metrics = &metrics;
  deps.calls = &calls;
  deps.routes = &routes;
  sb::PluginInstance instance(sb::PluginLibrary::load(SB_BENCH_PLUGIN), "bench", deps, nlohmann::json::object());
  sb::ActionRequest request;
  request.action = "echo";
  request.params = {{"to", "+79990001122"}, {"text", "Hello"}};
  request.idempotency_key = "evt:rule:0";
  int done = 0;
  for (auto _ : state) instance.invoke(request, [&](sb::ActionOutcome o) { done += o.ok(); });
  if (done != static_cast<int>(state.iterations())) state.SkipWithError("calls did not complete");
}
BENCHMARK(HostInvoke);

}  // namespace

BENCHMARK_MAIN();
