// The "segments" action plugin: puts contacts into the static segments the
// host config declares and takes them out, through switchboard.crm/1. Each
// change is an event; segment.entered and segment.left follow it.
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>

#include "crm_change.h"
#include "segments_schemas.h"

namespace segments_plugin {

using nlohmann::json;
using switchboard::ActionResult;

class Segments : public switchboard::Plugin {
 public:
  Segments(switchboard::Host& host, std::string_view) : host_(host) {}

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    if (call.action != "add" && call.action != "remove")
      return done(ActionResult::invalid_params("unknown action '" + std::string(call.action) + "'"));
    json params = json::parse(call.params_json, nullptr, false);
    if (!params.is_object()) return done(ActionResult::invalid_params("parameters are not a JSON object"));
    switchboard_plugins::ids_as_text(params, {"/contact"});
    json change{{"op", call.action == "add" ? "add_to_segments" : "remove_from_segments"},
                {"segments", params.contains("segments") ? params["segments"] : json::array({params["segment"]})}};
    if (params.contains("contact")) change["contact"] = params["contact"];
    const sb_status status =
        host_.crm_apply(call.idempotency_key, change.dump(), [done](sb_status applied, std::string_view result) {
          if (applied == SB_OK) return done(ActionResult::done(std::string(result)));
          done(switchboard_plugins::change_failed(applied, result));
        });
    if (status != SB_OK) done(switchboard_plugins::change_refused(status));
  }

 private:
  switchboard::Host& host_;
};

switchboard::PluginInfo segments_info() {
  switchboard::PluginInfo info;
  info.name = "segments";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description =
      "Static segments of contacts declared in the host config: add and remove; segment.entered and segment.left "
      "follow.";
  info.config_schema_json = std::string(segments_schemas::schema_json);
  for (const auto& [name, description, schema] :
       {std::tuple{"add", "Puts the contact into segments.", segments_schemas::actions_add_json},
        std::tuple{"remove", "Takes the contact out of segments.", segments_schemas::actions_remove_json}}) {
    switchboard::Capability c{name, description, std::string(schema)};
    c.retry_safe = true;  // each change is stored once per step key
    info.actions.push_back(std::move(c));
  }
  return info;
}

}  // namespace segments_plugin

SWITCHBOARD_PLUGIN(segments_plugin::Segments, segments_plugin::segments_info)
