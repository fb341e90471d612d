// Twilio's delivery reports (StatusCallback) and incoming messages: the
// events they become (twilio_signature.h checks who sent them).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "emit_all.h"

namespace sms {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// An event a report or an incoming message becomes: message.queued|sent|
// delivered|..., with id "<MessageSid>:<status>" (a repeated report is a
// duplicate), or message.received and contact.unsubscribed|resubscribed.
using Report = switchboard_plugins::PluginEvent;

// Nothing when the fields are not a message status report.
std::optional<Report> twilio_report(const FormFields& fields);

// An incoming message (Twilio's "a message comes in" webhook): message.received,
// and contact.unsubscribed / resubscribed when it is "STOP" / "START" (or
// "СТОП"). Empty when the fields are not one.
std::vector<Report> twilio_inbound(const FormFields& fields);

}  // namespace sms
