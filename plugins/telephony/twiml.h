// TwiML for a call that says a text (<Say>, speed and volume as SSML
// <prosody>) or plays a recording (<Play>).
#pragma once

#include <optional>
#include <string>

#include "call.h"

namespace telephony {

// Only Amazon Polly and Google voices read SSML: for Twilio's basic voices
// (man, woman, alice) speed and volume are left out.
bool reads_ssml(const std::string& voice);

// The voice Twilio is asked for: the call's, or, when it names none or a
// basic one that does not speak Russian, a Polly voice that does ("" leaves
// Twilio's default, man).
std::string twilio_voice(const std::string& voice, const std::string& language);

// Why Twilio's voice for the call cannot say it in its language (Twilio
// connects the call and says nothing: its <Say> fails), if it cannot.
std::optional<std::string> voice_problem(const std::string& voice, const std::string& language);

std::string twiml(const Call& call);

std::string xml_escape(const std::string& text);

}  // namespace telephony
