#include "store/EventWrites.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "store/RecordChanges.h"
#include "util/JsonText.h"

namespace sb {

namespace {

nlohmann::json parse_object(const std::string& text) {
  nlohmann::json data = nlohmann::json::parse(text, nullptr, false);
  return data.is_object() ? data : nlohmann::json::object();
}

// What the event says merged into what is stored (RFC 7386 merge patch: what
// the event does not mention is kept, a null removes a field).
nlohmann::json merged(const std::optional<nlohmann::json>& stored, const std::string& patch_json) {
  nlohmann::json data = stored ? *stored : nlohmann::json::object();
  const nlohmann::json patch = nlohmann::json::parse(patch_json.empty() ? "{}" : patch_json, nullptr, false);
  if (patch.is_discarded()) throw StoreError("malformed JSON: " + patch_json.substr(0, 80), StoreErrc::kInvalid);
  data.merge_patch(patch);
  return data;
}

// The event's row: the status fields only when it created its entity or set its status.
bool insert(EventRows& rows, const EventRecord& e, bool created, const std::optional<std::string>& previous) {
  if (!e.entity || !(e.entity->sets_status || created)) return rows.insert_event(e, std::nullopt);
  return rows.insert_event(e, StatusChange{e.entity->type, e.entity->id, created, previous,
                                           e.entity->sets_status ? e.entity->status : previous});
}

// The contact an event means: the one its id names; else the one that an
// email or phone it names (its key first) was learned for; else a new one.
std::string resolved_key(EventRows& rows, const ContactUpdate& c) {
  if (c.key.rfind("id:", 0) == 0) return c.key;
  if (auto owner = rows.contact_of(c.key)) return *owner;
  for (const std::string& alias : c.aliases)
    if (auto owner = rows.contact_of(alias)) return *owner;
  return c.key;
}

// The aliases of the event's contact that no contact has yet: they become
// `key`'s. A contact known so far only by one of them (an opt-out sent from
// that phone before the CRM named the person) is absorbed: what was learned
// of them stays, under what this event says.
std::vector<std::string> new_aliases(EventRows& rows, const ContactUpdate& c, const std::string& key,
                                     nlohmann::json& contact) {
  std::vector<std::string> out;
  for (const std::string& alias : c.aliases) {
    if (alias == key || rows.contact_of(alias)) continue;
    if (auto known = rows.contact(alias)) {
      nlohmann::json absorbed = parse_object(*known);
      absorbed.merge_patch(contact);
      contact = std::move(absorbed);
    }
    out.push_back(alias);
  }
  return out;
}

}  // namespace

AppendOutcome store_event(EventRows& rows, const EventRecord& event, const std::vector<ContactAggregate>& aggregates) {
  // Stored with the contact it means, when an alias named it.
  std::optional<EventRecord> renamed;
  if (event.contact)
    if (std::string key = resolved_key(rows, *event.contact); key != event.contact->key) {
      renamed = event;
      renamed->contact->key = std::move(key);
    }
  const EventRecord& e = renamed ? *renamed : event;
  // The status before this event, in commit order. An entity seen for the
  // first time without a status was created with none.
  bool created = false;
  std::optional<std::string> previous;
  std::optional<std::string> entity_data;
  const bool changes_entity = e.entity && (e.entity->sets_status || !e.entity->data_json.empty());
  const bool counts = e.contact && std::any_of(aggregates.begin(), aggregates.end(),
                                               [&](const ContactAggregate& a) { return a.event_type == e.type; });
  const bool changes_contact = e.contact && (!e.contact->data_json.empty() || !e.contact->tags.empty() ||
                                             !e.contact->segments.empty() || counts);
  if (changes_entity) {
    auto stored = rows.entity(e.entity->type, e.entity->id);
    created = !stored;
    if (stored) {
      previous = stored->status;
      entity_data = std::move(stored->data_json);
    }
  }
  std::optional<nlohmann::json> contact_before, contact_after, entity_before, entity_after;
  std::vector<std::string> aliases;
  if (changes_contact) {
    if (auto data = rows.contact(e.contact->key)) contact_before = parse_object(*data);
    contact_after = merged(contact_before, e.contact->data_json);
    apply_list_changes(*contact_after, *e.contact);
    aliases = new_aliases(rows, *e.contact, e.contact->key, *contact_after);
    if (e.contact->only_if_it_changes && contact_before == contact_after) return AppendOutcome::kUnchanged;
    if (counts) apply_aggregates(*contact_after, e, aggregates);
  }
  if (!insert(rows, e, created, previous)) return AppendOutcome::kDuplicate;
  if (changes_contact) {
    rows.put_contact(e.contact->key, dump_text(*contact_after), e.received_at_ms);
    for (const std::string& alias : aliases) rows.put_alias(alias, e.contact->key);
  }
  if (changes_entity) {
    if (entity_data) entity_before = parse_object(*entity_data);
    entity_after = merged(entity_before, e.entity->data_json);
    rows.put_entity(e.entity->type, e.entity->id, e.entity->sets_status ? e.entity->status : previous,
                    dump_text(*entity_after), e.received_at_ms);
  }
  const auto image = [](const std::optional<nlohmann::json>& before, const std::optional<nlohmann::json>& after) {
    return RecordImage{before ? &*before : nullptr, after ? &*after : nullptr};
  };
  for (const EventRecord& derived :
       derived_events(e, image(contact_before, contact_after), image(entity_before, entity_after)))
    insert(rows, derived, false, std::nullopt);
  return AppendOutcome::kStored;
}

}  // namespace sb
