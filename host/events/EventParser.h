// Reads the body of POST /api/v1/events — one event, or {"events": [...]} —
// into records for the store, strictly: every problem names the field at
// fault (a JSON Pointer into the body) and what was expected.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "store/Store.h"

namespace sb {

struct EventProblem {
  std::string pointer;  // "/events/3/contact/emails/0/address"
  std::string message;
};

struct ParsedEvents {
  std::vector<EventRecord> records;
  bool batch = false;                  // the body was {"events": [...]}
  std::vector<EventProblem> problems;  // when not empty, nothing may be stored
  bool not_json = false;               // the body itself is not JSON (problems say where)
};

// The id of an event the host makes from a step's key (a CRM change, a
// host action): as it is when it fits the events' 200 characters, else its
// start and a hash of the whole (FNV-1a), the same on every retry. A key
// grows along a chain of rules and in parallel branches.
constexpr size_t kMaxEventIdBytes = 200;
std::string bounded_event_id(const std::string& id);

// `now_ms` stamps each record's receipt (and its time when it has none);
// `source` is who sent them ("api").
ParsedEvents parse_events(std::string_view body, int64_t now_ms, size_t max_batch, const std::string& source);

// Whether `type` is an event type the events API takes: dotted lower case,
// as the schema's pattern ^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$ says.
bool is_event_type(const std::string& type);

// How the store knows a contact: "id:<id>", else "email:<first address>",
// else its first number's phone_alias; "" when it has none of them.
std::string contact_key(const nlohmann::json& contact);

// The key of a contact named by an admin or a rule: "id:.." as it is,
// "email:.." and "phone:.." as the store keeps them (store/ContactAliases.h),
// anything else is an id.
std::string contact_key_of(const std::string& named);

// One event built by the host itself, held to the same rules.
ParsedEvents parse_event(const nlohmann::json& event, int64_t now_ms, const std::string& source);

}  // namespace sb
