// Replies by which a contact opts out of a channel, or back in, as carriers
// and Twilio honour them ("STOP", "СТОП", "START"); a channel's inbound
// webhook turns them into the contact's preferences.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace switchboard_plugins {

enum class OptReply { kNone, kOut, kIn };

// What a reply says of the channel: STOP (СТОП, ОТПИСАТЬСЯ, ...) opts out,
// START (СТАРТ) back in. `tapped`: a button's or list row's title, which
// answers its message: only a title that names the opt-out ("STOP",
// "Отписаться") opts out, never "Cancel" or "Yes".
OptReply opt_reply(std::string_view text, bool tapped = false);

// The event a reply on `channel` from the contact `contact` (an event's
// contact object) becomes: contact.unsubscribed (preferences.<channel>.all
// false) or contact.resubscribed (the opt-out forgotten).
nlohmann::json opt_event_payload(OptReply reply, const std::string& channel, nlohmann::json contact,
                                 const std::string& message_id, std::string_view text);
inline const char* opt_event_type(OptReply reply) {
  return reply == OptReply::kOut ? "contact.unsubscribed" : "contact.resubscribed";
}

}  // namespace switchboard_plugins
