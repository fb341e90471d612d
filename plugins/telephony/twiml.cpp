#include "twiml.h"

#include <cctype>
#include <set>

namespace telephony {

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

bool reads_ssml(const std::string& voice) { return voice.rfind("Polly.", 0) == 0 || voice.rfind("Google.", 0) == 0; }

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The languages of Twilio's basic voices (its <Say> reference).
bool man_or_woman_speaks(const std::string& language) {
  static const std::set<std::string> spoken = {"en", "en-us", "en-gb", "es", "es-es", "fr", "fr-fr", "de", "de-de"};
  return spoken.count(lower(language)) > 0;
}

bool alice_speaks(const std::string& language) {
  static const std::set<std::string> spoken = {"da-dk", "de-de", "en-au", "en-ca", "en-gb", "en-in", "en-us",
                                               "ca-es", "es-es", "es-mx", "fi-fi", "fr-ca", "fr-fr", "it-it",
                                               "ja-jp", "ko-kr", "nb-no", "nl-nl", "pl-pl", "pt-br", "pt-pt",
                                               "ru-ru", "sv-se", "zh-cn", "zh-hk", "zh-tw"};
  return spoken.count(lower(language)) > 0;
}

}  // namespace

std::string twilio_voice(const std::string& voice, const std::string& language) {
  // Twilio's default voice (man) and woman speak no Russian: Polly's
  // Russian voices of each kind do.
  if (lower(language).rfind("ru", 0) == 0) {
    if (voice.empty() || voice == "woman") return "Polly.Tatyana";
    if (voice == "man") return "Polly.Maxim";
  }
  return voice;
}

std::optional<std::string> voice_problem(const std::string& voice, const std::string& language) {
  if (language.empty()) return std::nullopt;
  const std::string spoken = twilio_voice(voice, language);
  if ((spoken.empty() || spoken == "man" || spoken == "woman") && !man_or_woman_speaks(language))
    return "Twilio's " + (spoken.empty() ? std::string("default voice (man)") : "voice '" + spoken + "'") +
           " speaks English, Spanish, French and German only, not '" + language +
           "': give a Polly.* or Google.* voice that speaks it";
  if (spoken == "alice" && !alice_speaks(language))
    return "Twilio's voice 'alice' does not speak '" + language + "': give a Polly.* or Google.* voice that does";
  return std::nullopt;
}

std::string twiml(const Call& call) {
  const std::string loop = call.repeat > 1 ? " loop=\"" + std::to_string(call.repeat) + "\"" : "";
  std::string body;
  if (call.connects()) {
    // The client answered: the manager's phone rings, and the two talk.
    body = "<Dial>" + xml_escape(call.connect_e164) + "</Dial>";
  } else if (!call.says()) {
    body = "<Play" + loop + ">" + xml_escape(call.url) + "</Play>";
  } else {
    const std::string voice = twilio_voice(call.voice, call.language);
    std::string attributes = loop;
    if (!voice.empty()) attributes += " voice=\"" + xml_escape(voice) + "\"";
    if (!call.language.empty()) attributes += " language=\"" + xml_escape(call.language) + "\"";
    std::string text = xml_escape(call.text);
    if (reads_ssml(voice) && (call.speed != 100 || call.volume_db != 0)) {
      std::string prosody;
      if (call.speed != 100) prosody += " rate=\"" + std::to_string(call.speed) + "%\"";
      if (call.volume_db != 0)
        prosody += " volume=\"" + std::string(call.volume_db > 0 ? "+" : "") + std::to_string(call.volume_db) + "dB\"";
      text = "<prosody" + prosody + ">" + text + "</prosody>";
    }
    body = "<Say" + attributes + ">" + text + "</Say>";
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>" + body + "</Response>";
}

}  // namespace telephony
