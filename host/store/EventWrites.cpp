#include "store/EventWrites.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "store/ContactAliases.h"
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

// An event whose id is stored already: a repeat of it from its own source,
// else another source's event that happens to carry the same id.
AppendOutcome repeated(const std::string& stored_source, const EventRecord& e) {
  return stored_source == e.source ? AppendOutcome::kDuplicate : AppendOutcome::kIdTaken;
}

// The contact an event means: the one its id names; else the one that its
// key or another email or phone it names (in that order) was learned for;
// else a new one, known by its key.
std::string resolved_key(EventRows& rows, const ContactUpdate& c) {
  if (is_id_key(c.key)) return c.key;
  if (auto owner = rows.contact_of(c.key)) return *owner;
  for (const std::string& alias : c.aliases)
    if (auto owner = rows.contact_of(alias)) return *owner;
  return c.key;
}

// An event that reached a contact through an email or phone adds to what is
// known rather than replacing it: its addresses and numbers join the
// contact's, and its name counts only when the contact has none (a WhatsApp
// profile name does not replace the CRM's, a delivery report's one number
// does not replace the list).
std::string added_through_alias(const std::optional<nlohmann::json>& contact, const std::string& patch_json) {
  nlohmann::json patch = parse_object(patch_json);
  if (!contact) return dump_text(patch);
  for (const auto& [list, field, alias_of] :
       {std::tuple{"emails", "address", &email_alias}, std::tuple{"phones", "number", &phone_alias}}) {
    const auto added = patch.find(list);
    const auto known = contact->find(list);
    if (added == patch.end() || !added->is_array() || known == contact->end() || !known->is_array()) continue;
    nlohmann::json joined = *known;
    const auto alias = [&](const nlohmann::json& item) {
      const auto v = item.is_object() ? item.find(field) : item.end();
      return item.is_object() && v != item.end() && v->is_string() ? alias_of(v->get<std::string>()) : std::string();
    };
    // Each read once: a number's alias is a parse in the account's country.
    std::set<std::string> listed;
    for (const nlohmann::json& item : joined) listed.insert(alias(item));
    for (const nlohmann::json& item : *added)
      if (listed.insert(alias(item)).second) joined.push_back(item);
    *added = std::move(joined);
  }
  if (contact->contains("name")) patch.erase("name");
  return dump_text(patch);
}

// Who the event's emails and phones belong to from now on. Each one no
// contact has is learned for `key`. A person known so far only by one of
// them (an opt-out sent from that phone before the CRM named them) is one
// the CRM names now: what was learned of them is merged under what this
// event says, their row goes, and their aliases are `key`'s.
struct Learned {
  std::vector<std::string> aliases;   // to learn for `key`
  std::vector<std::string> absorbed;  // contacts known only by an alias, now `key`
};

Learned learned_aliases(EventRows& rows, const ContactUpdate& c, const std::string& key, nlohmann::json& contact) {
  Learned out;
  // A contact without an id is known by its key: an event naming it
  // among other addresses later finds it.
  if (!is_id_key(key) && !rows.contact_of(key)) out.aliases.push_back(key);
  for (const std::string& alias : c.aliases) {
    if (alias == key) continue;
    const auto owner = rows.contact_of(alias);
    if (owner && *owner != alias) continue;                     // another person's
    const bool keyless_contact = owner || rows.contact(alias);  // a row from before aliases were kept has no alias
    if (keyless_contact && !is_id_key(key)) continue;           // two people without ids stay two
    if (keyless_contact) {
      nlohmann::json absorbed = parse_object(rows.contact(alias).value_or("{}"));
      absorbed.merge_patch(contact);
      contact = std::move(absorbed);
      out.absorbed.push_back(alias);
    }
    if (!owner) out.aliases.push_back(alias);
  }
  return out;
}

}  // namespace

AppendOutcome store_event(EventRows& rows, const EventRecord& event, const std::vector<ContactAggregate>& aggregates,
                          const EventTypeFilter* derived) {
  // Stored with the contact it means, when an alias named it.
  std::optional<EventRecord> renamed;
  if (event.contact) {
    if (std::string key = resolved_key(rows, *event.contact); key != event.contact->key) {
      renamed = event;
      renamed->contact->key = std::move(key);
    }
  } else if (event.entity) {
    // One that names its entity alone (a CRM's stage webhook with the deal's
    // id) is about the contact the last event naming both named: stored so,
    // as of now, whatever names the deal later. Only a label: it changes
    // nothing of the contact (no aggregate counts it), which this append
    // neither read nor locked. An address absorbed since names its owner.
    if (auto stored = rows.entity(event.entity->type, event.entity->id); stored && !stored->contact_key.empty()) {
      renamed = event;
      std::string key = rows.contact_of(stored->contact_key).value_or(std::move(stored->contact_key));
      renamed->contact = ContactUpdate{.key = std::move(key), .data_json = ""};
    }
  }
  const EventRecord& e = renamed ? *renamed : event;
  const bool names_contact = event.contact.has_value();  // itself, not through its entity
  for (const std::string& id : e.also_known_as)
    if (auto stored = rows.event_source(id); stored && *stored == e.source) return AppendOutcome::kDuplicate;
  // A change held to the record's state, stored already (its step run
  // again), is a duplicate: its own change is why the state no longer holds.
  const bool conditional = (e.entity && e.entity->only_from) || (e.contact && e.contact->only_if_it_changes);
  if (conditional)
    if (auto stored = rows.event_source(e.id)) return repeated(*stored, e);
  // The status before this event, in commit order. An entity seen for the
  // first time without a status was created with none.
  bool created = false;
  std::optional<std::string> previous;
  std::optional<std::string> entity_data;
  const bool changes_entity = e.entity && (e.entity->sets_status || !e.entity->data_json.empty());
  const bool counts = names_contact && std::any_of(aggregates.begin(), aggregates.end(),
                                                   [&](const ContactAggregate& a) { return a.event_type == e.type; });
  const bool changes_contact =
      names_contact && (!e.contact->data_json.empty() || !e.contact->tags.empty() || !e.contact->segments.empty() ||
                        !e.contact->manual_segments.empty() || !e.contact->excluded_segments.empty() || counts);
  if (changes_entity) {
    auto stored = rows.entity(e.entity->type, e.entity->id);
    if (const auto& from = e.entity->only_from) {
      const std::optional<std::string> now = stored ? stored->status : std::nullopt;
      if (std::find(from->begin(), from->end(), now) == from->end()) return AppendOutcome::kUnchanged;
    }
    created = !stored;
    if (stored) {
      previous = stored->status;
      entity_data = std::move(stored->data_json);
    } else if (e.entity->stated_previous) {
      previous = *e.entity->stated_previous;  // the first the host hears of it is a move the sender saw
    }
  }
  std::optional<nlohmann::json> contact_before, contact_after, entity_before, entity_after;
  Learned learned;
  if (changes_contact) {
    if (auto data = rows.contact(e.contact->key)) contact_before = parse_object(*data);
    contact_after = merged(contact_before,
                           renamed ? added_through_alias(contact_before, e.contact->data_json) : e.contact->data_json);
    apply_list_changes(*contact_after, *e.contact);
    // A contact met by its id alone (with tags, or counted) keeps it:
    // templates and matches read contact.id from what the host knows.
    if (is_id_key(e.contact->key) && !contact_after->contains("id")) (*contact_after)["id"] = e.contact->key.substr(3);
    learned = learned_aliases(rows, *e.contact, e.contact->key, *contact_after);
    if (e.contact->only_if_it_changes && contact_before == contact_after) return AppendOutcome::kUnchanged;
    if (counts) apply_aggregates(*contact_after, e, aggregates);
  }
  if (!insert(rows, e, created, previous)) return repeated(rows.event_source(e.id).value_or(e.source), e);
  if (changes_contact) {
    rows.put_contact(e.contact->key, dump_text(*contact_after), e.received_at_ms);
    for (const std::string& alias : learned.aliases) rows.put_alias(alias, e.contact->key);
    for (const std::string& gone : learned.absorbed) {
      rows.remove_contact(gone);
      rows.repoint_aliases(gone, e.contact->key);
    }
  }
  if (changes_entity) {
    if (entity_data) entity_before = parse_object(*entity_data);
    entity_after = merged(entity_before, e.entity->data_json);
    rows.put_entity(e.entity->type, e.entity->id, e.entity->sets_status ? e.entity->status : previous,
                    dump_text(*entity_after), e.contact ? e.contact->key : "", e.received_at_ms);
  }
  const auto image = [](const std::optional<nlohmann::json>& before, const std::optional<nlohmann::json>& after,
                        bool created) {
    return RecordImage{before ? &*before : nullptr, after ? &*after : nullptr, created};
  };
  const bool new_contact = changes_contact && !contact_before && learned.absorbed.empty();
  RecordImage entity_image = image(entity_before, entity_after, created);
  if (changes_entity && !created && e.entity->sets_status) entity_image.status_moved = {{previous, e.entity->status}};
  for (const EventRecord& implied :
       derived_events(e, image(contact_before, contact_after, new_contact), entity_image, derived))
    insert(rows, implied, false, std::nullopt);
  return AppendOutcome::kStored;
}

}  // namespace sb
