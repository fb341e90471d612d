// The cheapest possible action: completes with done before returning.
#include <switchboard/plugin.hpp>

class BenchEcho : public switchboard::Plugin {
 public:
  BenchEcho(switchboard::Host&, std::string_view) {}
  void invoke(const switchboard::ActionCall&, switchboard::Completion done) override {
    done(switchboard::ActionResult::done());
  }
};

static switchboard::PluginInfo info() {
  return {"bench_echo",
          "1.0.0",
          "bench",
          "completes every action at once",
          R"({"type":"object"})",
          {{"echo", "", R"({"type":"object"})"}},
          {}};
}

SWITCHBOARD_PLUGIN(BenchEcho, info)
