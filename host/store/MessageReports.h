// Which sent message a provider's report is on (EventRecord::message_id):
// set where events are made, and for the reports stored before the store
// kept it, when a store is upgraded.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace sb {

// Longer ids are no provider's (a wamid is about 60 characters): not kept.
constexpr size_t kMostMessageIdBytes = 256;

// A message.* event's data.message_id (a number as its digits), a reply's
// data.in_reply_to (its own id is the reply's); empty for other events, and
// for an id that is empty, too long or holds a NUL.
std::string reported_message_id(const std::string& type, const nlohmann::json& event);

}  // namespace sb
