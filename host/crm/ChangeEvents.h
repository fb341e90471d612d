// What a change asked for through switchboard.crm/1 is: an event, built
// here, that the store applies to the contact or entity like any other
// event (so that every change is routed, chains rules under the loop guard,
// and derives contact.tag_added, deal.field_changed ...).
//
//   set_status      -> <type>.status_changed   the entity's status (null = no status)
//   set_fields      -> contact.updated / <type>.updated   fields set, or removed with null
//   add_tags, remove_tags -> contact.updated   one tag at a time
//   add_to_segments, remove_from_segments -> contact.updated   static segments declared in the config
//   create_contact  -> contact.created
//   create_entity   -> <type>.created          an id from the call's key unless given
//
// Targets are the call's own contact and entity unless the change names
// others. The event's id is the call's key (with the change's "key"; a hash
// ends one longer than 200 characters), so a step run again stores nothing
// twice; an entity created without an id gets the event's.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <variant>

#include "plugins/HostServices.h"
#include "rules/Trigger.h"
#include "store/Store.h"

namespace sb {

struct ChangeRequest {
  const CallSubject& call;
  std::string call_key;
  std::string source;  // the instance that asked
  int64_t now_ms = 0;
};

// What the config says records may be.
struct RecordRules {
  Pipelines pipelines;                     // the statuses of each pipeline
  std::set<std::string> segments;          // the static segments declared (a rule puts contacts in them)
  std::set<std::string> dynamic_segments;  // ... and the dynamic ones (their filter does)
};

// The event, or what is wrong with the change (naming the field).
std::variant<EventRecord, std::string> change_event(const ChangeRequest& request, const nlohmann::json& change,
                                                    const RecordRules& rules);

}  // namespace sb
