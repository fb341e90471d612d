// The smallest useful action plugin: "greet" writes "<greeting>, <name>!" to
// the outbox. The parsing below is deliberately naive to stay dependency-free;
// a real plugin would use a JSON library.
#include <switchboard/plugin.hpp>

#include "hello_schemas.h"

namespace {

std::string string_field(std::string_view json, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":\"";
  const size_t at = json.find(needle);
  if (at == std::string_view::npos) return {};
  const size_t start = at + needle.size();
  return std::string(json.substr(start, json.find('"', start) - start));
}

class Hello : public switchboard::Plugin {
 public:
  Hello(switchboard::Host& host, std::string_view config) : host_(host) {
    greeting_ = string_field(config, "greeting");
    if (greeting_.empty()) greeting_ = "Hello";
  }

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    const std::string text = greeting_ + ", " + string_field(call.params_json, "name") + "!";
    if (!host_.outbox(R"({"channel":"hello","text":")" + text + "\"}"))
      return done(switchboard::ActionResult::retry("outbox unavailable"));
    host_.info("greeted");
    done(switchboard::ActionResult::done(std::string(call.idempotency_key)));
  }

 private:
  switchboard::Host& host_;
  std::string greeting_;
};

switchboard::PluginInfo info() {
  return {"hello",
          "1.0.0",
          "Switchboard examples",
          "Greets people in the outbox",
          std::string(hello_schemas::schema_json),
          {{"greet", "write a greeting to the outbox", std::string(hello_schemas::actions_greet_json)}},
          {}};
}

}  // namespace

SWITCHBOARD_PLUGIN(Hello, info)
