#include "executor/HostActions.h"

#include <map>

#include "events/EventParser.h"

namespace sb {

using nlohmann::json;

namespace {

CapabilityInfo capability(std::string name, std::string description, json schema) {
  auto compiled = std::make_shared<const JsonSchema>(schema);
  return {std::move(name), std::move(description), std::move(schema), std::move(compiled)};
}

const std::map<std::string, CapabilityInfo, std::less<>>& host_actions() {
  static const std::map<std::string, CapabilityInfo, std::less<>> actions{
      {"set_status",
       capability("set_status", "moves an entity to a status; produces <type>.status_changed", json::parse(R"({
                    "type": "object", "additionalProperties": false, "required": ["status"],
                    "properties": {
                      "status": {"type": ["string", "null"], "minLength": 1},
                      "if_status": {"type": "array", "minItems": 1,
                                    "items": {"type": ["string", "null"], "minLength": 1}},
                      "entity": {"type": "object", "additionalProperties": false, "required": ["type", "id"],
                                 "properties": {"type": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,49}$"},
                                                "id": {"type": "string", "minLength": 1, "maxLength": 200},
                                                "pipeline": {"type": "string"}}}}})"))},
      {"emit", capability("emit", "produces an event of the given type", json::parse(R"({
                    "type": "object", "additionalProperties": false, "required": ["type"],
                    "properties": {"type": {"type": "string", "maxLength": 100,
                                            "pattern": "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$"},
                                   "data": {"type": "object"}}})"))},
  };
  return actions;
}

}  // namespace

std::vector<const CapabilityInfo*> all_host_actions() {
  std::vector<const CapabilityInfo*> out;
  for (const auto& [name, action] : host_actions()) out.push_back(&action);
  return out;
}

const CapabilityInfo* find_host_action(std::string_view name) {
  auto it = host_actions().find(name);
  return it == host_actions().end() ? nullptr : &it->second;
}

std::string host_action_names() {
  std::string out;
  for (const auto& [name, info] : host_actions()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::variant<EventRecord, std::string> host_action_event(const ActionRequest& request, const json& context,
                                                         const std::string& rule, int64_t now_ms, bool contact_stored) {
  const json& params = request.params;
  json event{{"id", bounded_event_id(request.idempotency_key)}};
  const json cause = context.value("event", json::object());
  event["data"] = {{"rule", rule}, {"caused_by", cause.value("id", "")}};
  if (request.action == "set_status") {
    json entity = params.contains("entity") ? params["entity"] : context.value("entity", json());
    if (!entity.is_object() || !entity.contains("type") || !entity.contains("id"))
      return std::string(
          "no entity: the event has none, and the parameters name none (\"entity\": {\"type\", \"id\"})");
    event["entity"] = {{"type", entity["type"]}, {"id", entity["id"]}, {"status", params["status"]}};
    if (entity.contains("pipeline")) event["entity"]["pipeline"] = entity["pipeline"];
    event["type"] = entity["type"].is_string() ? entity["type"].get<std::string>() + ".status_changed" : "";
  } else if (request.action == "emit") {
    event["type"] = params["type"];
    if (params.contains("data")) event["data"].update(params["data"]);
  } else {
    return "no host action '" + request.action + "' (there are " + host_action_names() + ")";
  }
  const auto contact = context.find("contact");
  const bool has_contact = contact != context.end() && contact->is_object();
  ParsedEvents parsed;
  if (has_contact && !contact_stored) {
    // Carried: a webhook's loose contact that the event schema refuses is left out.
    json with_contact = event;
    with_contact["contact"] = *contact;
    parsed = parse_event(with_contact, now_ms, "rule:" + rule);
  }
  if (parsed.records.empty()) parsed = parse_event(event, now_ms, "rule:" + rule);
  if (!parsed.problems.empty()) {
    std::string why = "the event it would produce is invalid:";
    for (const auto& p : parsed.problems) why += " " + (p.pointer.empty() ? "/" : p.pointer) + ": " + p.message + ";";
    return why;
  }
  EventRecord record = std::move(parsed.records.front());
  record.chain_depth = cause.value("chain_depth", 0) + 1;
  // The person stays the same along a chain, so that the next rule can reach
  // them: named by their key, read as stored when the event is routed. (Their
  // stored data, with the segments and counts the host keeps, is not an
  // event's contact, which the events API's schema would refuse.)
  if (has_contact && contact_stored)
    if (std::string key = contact_key(*contact); !key.empty()) record.contact = ContactUpdate{std::move(key), ""};
  // Held to the statuses named: stored only while the entity is in one of them (checked as it is stored).
  if (const auto held = params.find("if_status"); held != params.end() && held->is_array() && record.entity) {
    record.entity->only_from.emplace();
    for (const json& s : *held)
      record.entity->only_from->push_back(s.is_string() ? std::optional(s.get<std::string>()) : std::nullopt);
  }
  return record;
}

}  // namespace sb
