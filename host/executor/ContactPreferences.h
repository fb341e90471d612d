// Whether a message step may go to its contact: the contact's preferences
// ("preferences": {"email": {"marketing": false}, "sms": {"all": false}}),
// which an email unsubscribe, an SMS STOP, a WhatsApp opt-out or the API set.
// A rule marked `critical` is sent whatever they say.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace sb {

// Why a message of `category` on `channel` must not be sent, given the
// contact's stored record; nullopt when it may be.
std::optional<std::string> opted_out(const nlohmann::json& contact, const std::string& channel,
                                     const std::string& category);

}  // namespace sb
