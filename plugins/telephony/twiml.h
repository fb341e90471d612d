// TwiML for a call that says a text (<Say>, speed and volume as SSML
// <prosody>) or plays a recording (<Play>).
#pragma once

#include <string>

#include "call.h"

namespace telephony {

// Only Amazon Polly and Google voices read SSML: for Twilio's basic voices
// (man, woman, alice) speed and volume are left out.
bool reads_ssml(const std::string& voice);

// The voice Twilio is asked for when the call names none: one that speaks
// the language ("" leaves Twilio's default).
std::string default_voice(const std::string& language);

std::string twiml(const Call& call);

std::string xml_escape(const std::string& text);

}  // namespace telephony
