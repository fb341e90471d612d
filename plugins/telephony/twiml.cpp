#include "twiml.h"

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

std::string default_voice(const std::string& language) {
  // Twilio's default voice (man) speaks English, Spanish, French and German
  // only: a Russian text needs a voice of its own.
  return language.rfind("ru", 0) == 0 ? "Polly.Tatyana" : "";
}

std::string twiml(const Call& call) {
  const std::string loop = call.repeat > 1 ? " loop=\"" + std::to_string(call.repeat) + "\"" : "";
  std::string body;
  if (!call.says()) {
    body = "<Play" + loop + ">" + xml_escape(call.url) + "</Play>";
  } else {
    const std::string voice = call.voice.empty() ? default_voice(call.language) : call.voice;
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
