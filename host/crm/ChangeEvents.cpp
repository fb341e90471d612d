#include "crm/ChangeEvents.h"

#include <algorithm>
#include <functional>
#include <map>
#include <regex>

#include "events/EventParser.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

using Result = std::variant<EventRecord, std::string>;

// What every change's event has: its id, time, cause and chain depth.
class EventDraft {
 public:
  EventDraft(const ChangeRequest& r, const json& change) : request_(r) {
    id_ = r.call_key;
    if (const auto key = change.find("key"); key != change.end())
      id_ += ":" + (key->is_string() ? key->get<std::string>() : dump_text(*key));
    id_ = bounded_event_id(id_);
    body_ = {{"id", id_},
             {"time", format_time_ms(r.now_ms)},
             {"data", {{"op", change.value("op", "")}, {"rule", r.call.rule}, {"caused_by", r.call.event_id}}}};
  }
  json& body() { return body_; }
  const std::string& id() const { return id_; }

  // The event `body` (with its type) says, parsed and checked as the events API would.
  Result parse(const std::string& type) {
    body_["type"] = type;
    json checked = body_;
    checked["id"] = "change";  // a step's key may be longer than a posted id may be
    ParsedEvents parsed = parse_event(checked, request_.now_ms, request_.source);
    if (!parsed.problems.empty()) {
      std::string why = "the change makes an invalid event:";
      for (const auto& p : parsed.problems) why += " " + (p.pointer.empty() ? "/" : p.pointer) + ": " + p.message + ";";
      return why;
    }
    EventRecord e = std::move(parsed.records.front());
    e.id = id_;
    e.body_json = dump_text(body_);
    return finish(std::move(e));
  }
  // A record built here (a patch the events API has no words for).
  Result record(const std::string& type, std::optional<ContactUpdate> contact, std::optional<EntityUpdate> entity) {
    body_["type"] = type;
    EventRecord e;
    e.id = id_;
    e.type = type;
    e.source = request_.source;
    e.occurred_at_ms = e.received_at_ms = request_.now_ms;
    e.body_json = dump_text(body_);
    e.contact = std::move(contact);
    e.entity = std::move(entity);
    return finish(std::move(e));
  }
  // The call's contact, untouched, so that rules on the event reach the person.
  std::optional<ContactUpdate> call_contact() const {
    if (request_.call.contact_key.empty()) return std::nullopt;
    return ContactUpdate{request_.call.contact_key, ""};
  }
  // Another contact than the call's (one an earlier step made) for the event.
  void about_contact(std::string key) { contact_key_ = std::move(key); }

 private:
  Result finish(EventRecord e) {
    e.chain_depth = request_.call.chain_depth + 1;
    if (!e.contact && !contact_key_.empty()) e.contact = ContactUpdate{contact_key_, ""};
    if (!e.contact) e.contact = call_contact();
    return e;
  }
  const ChangeRequest& request_;
  std::string id_;
  json body_;
  std::string contact_key_;
};

struct Target {
  std::string type, id;
};

bool is_entity_type(const std::string& type) {
  static const std::regex form("^[a-z][a-z0-9_]{0,49}$");
  return std::regex_match(type, form);
}

bool is_record_id(const std::string& id) {
  return !id.empty() && id.size() <= 200 && id.find_first_of("\r\n") == std::string::npos;
}

// The entity a change is about: the one it names, else the call's.
std::variant<Target, std::string> entity_target(const ChangeRequest& r, const json& change) {
  if (const auto named = change.find("entity"); named != change.end()) {
    if (!named->is_object() || !named->contains("type") || !named->contains("id") || !(*named)["type"].is_string() ||
        !(*named)["id"].is_string() || !is_entity_type((*named)["type"].get<std::string>()) ||
        !is_record_id((*named)["id"].get<std::string>()))
      return std::string(
          "/entity: expected {\"type\": \"deal\", \"id\": \"...\"} (a type in lower case, an id of 1-200 "
          "characters)");
    return Target{(*named)["type"].get<std::string>(), (*named)["id"].get<std::string>()};
  }
  if (r.call.entity_type.empty())
    return std::string("/entity: the call's event has no entity, and the change names none");
  return Target{r.call.entity_type, r.call.entity_id};
}

// The contact a change is about (its key): the one it names, else the call's.
struct ContactTarget {
  std::string key;
  std::string error;  // why there is none
};

ContactTarget contact_target(const ChangeRequest& r, const json& change) {
  if (const auto named = change.find("contact"); named != change.end()) {
    if (!named->is_string() || !is_record_id(named->get<std::string>()))
      return {"", "/contact: expected the contact's id"};
    return {contact_key_of(named->get<std::string>()), ""};
  }
  if (r.call.contact_key.empty()) return {"", "/contact: the call's event has no contact, and the change names none"};
  return {r.call.contact_key, ""};
}

Result set_contact_status(const ChangeRequest& r, const json& change, const RecordRules& rules);

Result set_status(const ChangeRequest& r, const json& change, const RecordRules& rules) {
  const std::string record = change.value("record", "entity");
  if (record == "contact") return set_contact_status(r, change, rules);
  if (record != "entity") return std::string("/record: expected \"entity\" or \"contact\"");
  if (change.contains("contact"))
    return std::string("/contact: names the contact whose own status moves, with \"record\": \"contact\"");
  auto target = entity_target(r, change);
  if (auto* why = std::get_if<std::string>(&target)) return *why;
  const auto& [type, id] = std::get<Target>(target);
  const auto status = change.find("status");
  if (status == change.end() || !(status->is_null() || (status->is_string() && !status->get<std::string>().empty())))
    return std::string("/status: expected the status to move to, or null for no status");
  json entity{{"type", type}, {"id", id}, {"status", *status}};
  // A status the pipeline named does not have is a mistake (a template's value, or a
  // plugin's), not a status to move to or from.
  std::string not_in_pipeline;
  const auto in_pipeline = [&](const std::string& name) {
    const auto pipeline = change.find("pipeline");
    if (pipeline == change.end()) return true;
    const auto& statuses = rules.pipelines.at(pipeline->get<std::string>());
    if (std::find(statuses.begin(), statuses.end(), name) != statuses.end()) return true;
    not_in_pipeline = "'" + name + "' is not a status of pipeline '" + pipeline->get<std::string>() + "'";
    return false;
  };
  if (const auto pipeline = change.find("pipeline"); pipeline != change.end()) {
    if (!pipeline->is_string()) return std::string("/pipeline: expected a pipeline's name");
    if (!rules.pipelines.count(pipeline->get<std::string>()))
      return "/pipeline: no pipeline '" + pipeline->get<std::string>() + "' in the config";
    if (status->is_string() && !in_pipeline(status->get<std::string>())) return "/status: " + not_in_pipeline;
    entity["pipeline"] = *pipeline;
  }
  // Fields set with the status, in the same event (a task's completed_at).
  if (const auto fields = change.find("fields"); fields != change.end()) {
    if (!fields->is_object()) return std::string("/fields: expected the fields set with the status, by name");
    entity["fields"] = *fields;
  }
  std::optional<std::vector<std::optional<std::string>>> only_from;
  if (const auto from = change.find("if_status"); from != change.end()) {
    if (!from->is_array() || from->empty())
      return std::string("/if_status: expected the statuses the entity may be in for the change (null: none)");
    only_from.emplace();
    for (size_t i = 0; i < from->size(); ++i) {
      const json& s = (*from)[i];
      const std::string at = "/if_status/" + std::to_string(i);
      if (!s.is_null() && !(s.is_string() && !s.get<std::string>().empty()))
        return at + ": expected a status (a string) or null";
      if (s.is_string() && !in_pipeline(s.get<std::string>())) return at + ": " + not_in_pipeline;
      only_from->push_back(s.is_null() ? std::nullopt : std::optional<std::string>(s.get<std::string>()));
    }
  }
  EventDraft draft(r, change);
  draft.body()["entity"] = entity;
  Result made = draft.parse(type + ".status_changed");
  if (auto* event = std::get_if<EventRecord>(&made); event && event->entity) event->entity->only_from = only_from;
  return made;
}

// The client's own status (new, active, VIP, inactive, blocked), kept on the
// contact ("status"); contact.status_changed follows when it moved.
Result set_contact_status(const ChangeRequest& r, const json& change, const RecordRules& rules) {
  const auto status = change.find("status");
  if (status == change.end() || !(status->is_null() || (status->is_string() && !status->get<std::string>().empty())))
    return std::string("/status: expected the status to move to, or null for no status");
  if (change.contains("if_status"))
    return std::string("/if_status: holds a change to an entity's status; a contact's is set as it is");
  if (change.contains("entity")) return std::string("/entity: a contact's status names the contact, not an entity");
  if (change.contains("fields"))
    return std::string("/fields: set with an entity's status; a contact's fields are set by set_fields");
  if (const auto pipeline = change.find("pipeline"); pipeline != change.end()) {
    if (!pipeline->is_string() || !rules.pipelines.count(pipeline->get<std::string>()))
      return "/pipeline: no pipeline '" + (pipeline->is_string() ? pipeline->get<std::string>() : pipeline->dump()) +
             "' in the config";
    const auto& statuses = rules.pipelines.at(pipeline->get<std::string>());
    if (status->is_string() &&
        std::find(statuses.begin(), statuses.end(), status->get<std::string>()) == statuses.end())
      return "/status: '" + status->get<std::string>() + "' is not a status of pipeline '" +
             pipeline->get<std::string>() + "'";
  }
  const ContactTarget target = contact_target(r, change);
  if (!target.error.empty()) return target.error;
  EventDraft draft(r, change);
  draft.body()["data"]["status"] = *status;
  return draft.record("contact.updated", ContactUpdate{target.key, dump_text(json{{"status", *status}})}, std::nullopt);
}

// A record's managers, as the event schema has them: each with an id.
bool is_manager_list(const json& managers) {
  return managers.is_array() && std::all_of(managers.begin(), managers.end(), [](const json& m) {
           const auto id = m.find("id");
           return m.is_object() && id != m.end() && id->is_string() && !id->get_ref<const std::string&>().empty();
         });
}

Result set_fields(const ChangeRequest& r, const json& change, const RecordRules&) {
  // The record's managers (a deal handed to another, a task given to
  // another): the list as a whole, with the fields or alone.
  const auto responsible = change.find("responsible");
  if (responsible != change.end() && !is_manager_list(*responsible))
    return std::string("/responsible: the record's managers, as a list of {\"id\", \"name\"?, \"email\"?, \"phone\"?}");
  const bool sets_managers = responsible != change.end();
  const auto fields = change.find("fields");
  const bool has_fields = fields != change.end() && fields->is_object() && !fields->empty();
  if (!has_fields && !(sets_managers && (fields == change.end() || fields->is_object())))
    return std::string("/fields: expected an object of fields to set (null removes one)");
  const std::string record = change.value("record", "contact");
  EventDraft draft(r, change);
  json patch_doc = json::object();
  if (has_fields) {
    draft.body()["data"]["fields"] = *fields;
    patch_doc["fields"] = *fields;
  }
  if (sets_managers) {
    draft.body()["data"]["responsible"] = *responsible;
    patch_doc["responsible"] = *responsible;
  }
  const std::string patch = dump_text(patch_doc);
  if (record == "entity") {
    auto target = entity_target(r, change);
    if (auto* why = std::get_if<std::string>(&target)) return *why;
    const auto& [type, id] = std::get<Target>(target);
    draft.body()["entity"] = {{"type", type}, {"id", id}};
    return draft.record(type + ".updated", draft.call_contact(), EntityUpdate{type, id, false, std::nullopt, patch});
  }
  if (record != "contact") return std::string("/record: expected \"contact\" or \"entity\"");
  const ContactTarget target = contact_target(r, change);
  if (!target.error.empty()) return target.error;
  return draft.record("contact.updated", ContactUpdate{target.key, patch, {}, {}}, std::nullopt);
}

Result change_tags(const ChangeRequest& r, const json& change, bool add) {
  const auto tags = change.find("tags");
  std::vector<std::string> list;
  if (tags != change.end() && tags->is_array())
    for (const json& t : *tags)
      if (t.is_string() && !t.get<std::string>().empty() && t.get<std::string>().size() <= 100)
        list.push_back(t.get<std::string>());
  if (tags == change.end() || !tags->is_array() || list.empty() || list.size() != tags->size())
    return std::string("/tags: expected a list of tags (each 1-100 characters)");
  const ContactTarget target = contact_target(r, change);
  if (!target.error.empty()) return target.error;
  EventDraft draft(r, change);
  draft.body()["data"]["tags"] = list;
  ContactUpdate update{target.key, ""};
  (add ? update.tags.add : update.tags.remove) = std::move(list);
  return draft.record("contact.updated", std::move(update), std::nullopt);
}

Result change_segments(const ChangeRequest& r, const json& change, const RecordRules& rules, bool add) {
  const auto names = change.find("segments");
  std::vector<std::string> list;
  if (names != change.end() && names->is_array())
    for (const json& n : *names)
      if (n.is_string()) list.push_back(n.get<std::string>());
  if (names == change.end() || !names->is_array() || list.empty() || list.size() != names->size())
    return std::string("/segments: expected a list of segment names");
  for (const auto& name : list)
    if (rules.dynamic_segments.count(name)) {
      return "/segments: segment '" + name +
             "' is dynamic: its filter decides who is in it (a rule puts contacts in static segments only)";
    } else if (!rules.segments.count(name)) {
      std::string known;
      for (const auto& s : rules.segments) known += (known.empty() ? "" : ", ") + s;
      return "/segments: no segment '" + name + "' in the config (" +
             (known.empty() ? std::string("none is declared") : "there are " + known) + ")";
    }
  const ContactTarget target = contact_target(r, change);
  if (!target.error.empty()) return target.error;
  EventDraft draft(r, change);
  draft.body()["data"]["segments"] = list;
  ContactUpdate update{target.key, ""};
  (add ? update.segments.add : update.segments.remove) = std::move(list);
  return draft.record("contact.updated", std::move(update), std::nullopt);
}

Result create_contact(const ChangeRequest& r, const json& change, const RecordRules&) {
  const auto contact = change.find("contact");
  if (contact == change.end() || !contact->is_object())
    return std::string("/contact: expected the new contact (an id, an email or a phone, and its fields)");
  EventDraft draft(r, change);
  draft.body()["contact"] = *contact;
  return draft.parse("contact.created");
}

Result create_entity(const ChangeRequest& r, const json& change, const RecordRules& rules) {
  const auto entity = change.find("entity");
  if (entity == change.end() || !entity->is_object() || !entity->contains("type") || !(*entity)["type"].is_string())
    return std::string("/entity: expected the new entity ({\"type\": \"deal\", ...})");
  EventDraft draft(r, change);
  // Its contact: one the change names (a contact an earlier step made from
  // a form), else the call's.
  if (change.contains("contact")) {
    const ContactTarget contact = contact_target(r, change);
    if (!contact.error.empty()) return contact.error;
    draft.about_contact(contact.key);
  }
  json e = *entity;
  if (!e.contains("id")) e["id"] = draft.id();  // the same on every retry of the step
  if (const auto pipeline = e.find("pipeline"); pipeline != e.end() && pipeline->is_string()) {
    const auto known = rules.pipelines.find(pipeline->get<std::string>());
    if (known == rules.pipelines.end())
      return "/entity/pipeline: no pipeline '" + pipeline->get<std::string>() + "' in the config";
    if (e.contains("status") && e["status"].is_string() &&
        std::find(known->second.begin(), known->second.end(), e["status"].get<std::string>()) == known->second.end())
      return "/entity/status: '" + e["status"].get<std::string>() + "' is not a status of pipeline '" + known->first +
             "'";
  }
  draft.body()["entity"] = e;
  return draft.parse(e["type"].get<std::string>() + ".created");
}

using Handler = std::function<Result(const ChangeRequest&, const json&, const RecordRules&)>;

const std::map<std::string, Handler>& handlers() {
  static const std::map<std::string, Handler> table{
      {"set_status", set_status},
      {"set_fields", set_fields},
      {"add_tags", [](const ChangeRequest& r, const json& c, const RecordRules&) { return change_tags(r, c, true); }},
      {"remove_tags",
       [](const ChangeRequest& r, const json& c, const RecordRules&) { return change_tags(r, c, false); }},
      {"add_to_segments", [](const ChangeRequest& r, const json& c,
                             const RecordRules& rules) { return change_segments(r, c, rules, true); }},
      {"remove_from_segments", [](const ChangeRequest& r, const json& c,
                                  const RecordRules& rules) { return change_segments(r, c, rules, false); }},
      {"create_contact", create_contact},
      {"create_entity", create_entity},
  };
  return table;
}

std::string op_names() {
  std::string out;
  for (const auto& [name, handler] : handlers()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

Result change_event(const ChangeRequest& request, const json& change, const RecordRules& rules) {
  if (!change.is_object() || !change.contains("op") || !change["op"].is_string())
    return std::string(
        "/op: expected one of set_status, set_fields, add_tags, remove_tags, create_contact, "
        "create_entity");
  const auto handler = handlers().find(change["op"].get<std::string>());
  if (handler == handlers().end())
    return "/op: no change '" + change["op"].get<std::string>() + "' (there are " + op_names() + ")";
  return handler->second(request, change, rules);
}

}  // namespace sb
