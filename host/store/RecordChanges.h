// What a stored event changed in its contact and entity, told as events of
// their own so that rules can react to changes nobody posted:
//
//   contact.created, <type>.created            {} (the store learned of the record)
//   contact.tag_added / contact.tag_removed     {"tag": "VIP"}
//   segment.entered / segment.left              {"segment": "vip"}
//   contact.field_changed, <type>.field_changed {"field": "budget", "old": 100, "new": 250}
//   contact.status_changed                      {"previous_status": null, "status": "VIP"} (the client's own)
//
// Every backend stores them with the event that caused them, in the same
// unit, right after it: they are computed here, in C++, from the record as it
// was and as it is, so that backends agree on what changed.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "store/Store.h"

namespace sb {

// The contact after the event's merge patch, with the tags and segments the
// event adds and removes one by one (ContactUpdate::tags, segments).
void apply_list_changes(nlohmann::json& contact, const ContactUpdate& update);

// What `event` adds to the contact's aggregates; false when it counts in none.
bool apply_aggregates(nlohmann::json& contact, const EventRecord& event,
                      const std::vector<ContactAggregate>& aggregates);

// A record as it was before the event (null: unknown until now) and after.
// `created`: the event made the record, and no record known before became it
// (a person first known by an address only, absorbed by the id the CRM named,
// is no new contact).
struct RecordImage {
  const nlohmann::json* before = nullptr;
  const nlohmann::json* after = nullptr;
  bool created = false;
  // An entity's status, when the event set it on an entity known before.
  std::optional<std::pair<std::optional<std::string>, std::optional<std::string>>> status_moved = std::nullopt;
};

// The events `cause` implies, in a stable order: `contact.created` and
// `<type>.created` for a record it created, a tag event for each tag
// that came or went (a new contact's tags come), a segment event for each
// segment entered or left, a field event for each field
// of `fields` whose value changed on a record that existed before, and
// `<type>.status_changed` for an entity's status that moved. Ids are
// "<cause id>:<kind>:<name>"; source, times and chain depth are the cause's,
// and each names the cause's contact and entity (nothing to merge). An event
// of the type the cause itself has is not derived: its sender said so already,
// nor is one of a type `wanted` (when set) does not name.
std::vector<EventRecord> derived_events(const EventRecord& cause, RecordImage contact, RecordImage entity,
                                        const EventTypeFilter* wanted = nullptr);

}  // namespace sb
