// The "crm" action plugin: changes the contacts and entities the host keeps
// (status, fields, tags, new contacts and deals), each as one change through
// switchboard.crm/1. The plugin knows nothing of how the host stores them:
// a vendor's plugin with the same actions may write to its own CRM instead.
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>

#include "crm_change.h"
#include "crm_schemas.h"

namespace crm_plugin {

using nlohmann::json;
using switchboard::ActionResult;

// One action's change, from its checked parameters.
using ChangeOf = std::function<json(const json& params)>;

json targets(json change, const json& params) {
  for (const char* name : {"contact", "entity"})
    if (params.contains(name)) change[name] = params[name];
  return change;
}

// One manager (by id, or as an object) or a list: a record's managers as a
// list. A CRM's numeric id (amoCRM's) is kept as the text of the number, as
// the event schema has ids.
json managers(const json& given) {
  json list = given.is_array() ? given : json::array({given.is_object() ? given : json{{"id", given}}});
  for (json& m : list)
    if (m.contains("id") && m["id"].is_number_integer()) m["id"] = m["id"].dump();
  return list;
}

json tags_change(const char* op, const json& params) {
  json tags = params.contains("tags") ? params["tags"] : json::array({params["tag"]});
  json change{{"op", op}, {"tags", std::move(tags)}};
  if (params.contains("contact")) change["contact"] = params["contact"];
  return change;
}

const std::map<std::string, ChangeOf, std::less<>>& changes() {
  static const std::map<std::string, ChangeOf, std::less<>> table{
      {"set_status",
       [](const json& p) {
         json change = targets({{"op", "set_status"}, {"status", p["status"]}}, p);
         for (const char* name : {"pipeline", "if_status", "record"})
           if (p.contains(name)) change[name] = p[name];
         return change;
       }},
      {"set_field",
       [](const json& p) {
         std::string field = p["field"].get<std::string>();
         std::string record = p.value("record", "");
         // {{budget_deal}} in a template is the entity's "budget": so is the field here.
         const std::string suffix = "_deal";
         const bool deal_suffix =
             field.size() > suffix.size() && field.compare(field.size() - suffix.size(), suffix.size(), suffix) == 0;
         if (record.empty()) record = deal_suffix ? "entity" : "contact";
         if (record == "entity" && deal_suffix) field.resize(field.size() - suffix.size());
         return targets({{"op", "set_fields"}, {"record", record}, {"fields", {{field, p["value"]}}}}, p);
       }},
      {"set_responsible",
       [](const json& p) {
         return targets({{"op", "set_fields"},
                         {"record", p.value("record", "entity")},
                         {"responsible", managers(p["responsible"])}},
                        p);
       }},
      {"add_tag", [](const json& p) { return tags_change("add_tags", p); }},
      {"remove_tag", [](const json& p) { return tags_change("remove_tags", p); }},
      {"create_contact",
       [](const json& p) {
         return json{{"op", "create_contact"}, {"contact", p["contact"]}};
       }},
      {"create_deal",
       [](const json& p) {
         json entity = p;
         entity["type"] = p.value("type", "deal");
         if (entity.contains("responsible")) entity["responsible"] = managers(entity["responsible"]);
         // The deal's name, as CRMs show it: a field, which {{title_deal}} reads.
         if (entity.contains("title")) {
           entity["fields"]["title"] = entity["title"];
           entity.erase("title");
         }
         json change{{"op", "create_entity"}};
         if (entity.contains("contact")) {
           change["contact"] = entity["contact"];
           entity.erase("contact");
         }
         change["entity"] = std::move(entity);
         return change;
       }},
  };
  return table;
}

class Crm : public switchboard::Plugin {
 public:
  Crm(switchboard::Host& host, std::string_view) : host_(host) {}

  void invoke(const switchboard::ActionCall& call, switchboard::Completion done) override {
    const auto change_of = changes().find(call.action);
    if (change_of == changes().end())
      return done(ActionResult::invalid_params("unknown action '" + std::string(call.action) + "'"));
    json params = json::parse(call.params_json, nullptr, false);
    if (!params.is_object()) return done(ActionResult::invalid_params("parameters are not a JSON object"));
    switchboard_plugins::ids_as_text(params, {"/id", "/contact", "/entity/id"});
    const json change = change_of->second(params);
    // A deal created without an id gets the change's event id: say which.
    const bool names_new_entity = call.action == "create_deal" && !params.contains("id");
    const std::string entity_id = params.value("id", "");
    // A status change held to statuses the entity was not in changed nothing (no event id).
    const bool may_hold = params.contains("if_status");
    const sb_status status =
        host_.crm_apply(call.idempotency_key, change.dump(),
                        [done, names_new_entity, entity_id, may_hold](sb_status applied, std::string_view result) {
                          if (applied == SB_OK) {
                            json output{{"event_id", result}};
                            if (names_new_entity || !entity_id.empty())
                              output["id"] = names_new_entity ? std::string(result) : entity_id;
                            if (may_hold) output["changed"] = !result.empty();
                            return done(ActionResult::done(std::string(result), output.dump()));
                          }
                          done(switchboard_plugins::change_failed(applied, result));
                        });
    if (status != SB_OK) done(switchboard_plugins::change_refused(status));
  }

 private:
  switchboard::Host& host_;
};

switchboard::PluginInfo crm_info() {
  switchboard::PluginInfo info;
  info.name = "crm";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description =
      "Changes the contacts and entities the host keeps: status, fields, tags, new contacts and deals. Each change "
      "is an event that rules react to.";
  info.config_schema_json = std::string(crm_schemas::schema_json);
  const auto action = [&](const char* name, const char* description, std::string_view schema) {
    switchboard::Capability c{name, description, std::string(schema)};
    c.retry_safe = true;  // each change is stored once per step key
    info.actions.push_back(std::move(c));
  };
  action("set_status",
         "Moves the entity, or with record contact the client, to a status (null: no status); <type>.status_changed or "
         "contact.status_changed follows.",
         crm_schemas::actions_set_status_json);
  action("set_field", "Sets or clears a field of the contact or the entity; *.field_changed follows.",
         crm_schemas::actions_set_field_json);
  action("set_responsible", "Hands the entity (or the contact) to other managers; <type>.responsible_changed follows.",
         crm_schemas::actions_set_responsible_json);
  action("add_tag", "Adds tags to the contact; contact.tag_added follows.", crm_schemas::actions_add_tag_json);
  action("remove_tag", "Removes tags from the contact; contact.tag_removed follows.",
         crm_schemas::actions_remove_tag_json);
  action("create_contact", "Creates or updates a contact; contact.created follows.",
         crm_schemas::actions_create_contact_json);
  action("create_deal", "Creates a deal (or another entity) for the contact; <type>.created follows.",
         crm_schemas::actions_create_deal_json);
  return info;
}

}  // namespace crm_plugin

SWITCHBOARD_PLUGIN(crm_plugin::Crm, crm_plugin::crm_info)
