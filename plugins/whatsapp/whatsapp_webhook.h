// Meta's webhook for WhatsApp: the signature on every POST, and the events
// its payload carries (status reports and inbound messages).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emit_all.h"

namespace whatsapp {

// Why `signature_header` ("sha256=<hex HMAC-SHA256 of the raw body with the
// app secret>") does not vouch for `body`, or nothing when it does. The
// comparison takes constant time; the reason never holds the secret.
std::optional<std::string> signature_problem(std::string_view app_secret, std::string_view body,
                                             std::optional<std::string_view> signature_header);

// An event of a webhook delivery: message.sent|delivered|read|failed,
// message.replied, message.received, contact.unsubscribed|resubscribed (a
// "STOP" or "START" reply); its id is "<wamid>:<status>" or the inbound wamid,
// so a repeated delivery is a duplicate; the payload is shaped like an
// events-API event ({"contact", "data"}).
using InboundEvent = switchboard_plugins::PluginEvent;

// The events in one webhook payload; what it does not understand is skipped.
std::vector<InboundEvent> events_from_payload(const nlohmann::json& payload);

}  // namespace whatsapp
