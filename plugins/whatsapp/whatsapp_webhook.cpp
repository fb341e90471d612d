#include "whatsapp_webhook.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <iterator>
#include <map>

#include "hex.h"
#include "opt_out.h"
#include "utc_time.h"

namespace whatsapp {

using nlohmann::json;

std::optional<std::string> signature_problem(std::string_view app_secret, std::string_view body,
                                             std::optional<std::string_view> signature_header) {
  if (!signature_header) return "missing X-Hub-Signature-256 header";
  constexpr std::string_view kPrefix = "sha256=";
  if (signature_header->substr(0, kPrefix.size()) != kPrefix) return "X-Hub-Signature-256 must be sha256=<hex digest>";
  const std::string_view given = signature_header->substr(kPrefix.size());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), app_secret.data(), static_cast<int>(app_secret.size()),
            reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length))
    return "cannot compute the signature";
  if (!switchboard_plugins::hex_matches(
          switchboard_plugins::hex(std::string_view(reinterpret_cast<const char*>(digest), length)), given))
    return "the signature does not match the body";
  return std::nullopt;
}

namespace {

std::string text(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json contact_for(const std::string& wa_id, const std::string& name = "") {
  json contact{{"phones", json::array({{{"number", "+" + wa_id}, {"type", "mobile"}}})}};
  if (!name.empty()) contact["name"] = name;
  return contact;
}

// When Meta says a status or message happened ("timestamp": Unix seconds as
// a string): the event's time, not when the delivery came (Meta delivers
// again for days after an outage). Nothing when it cannot be read.
void with_time(const json& object, json& payload) {
  const std::string seconds = text(object, "timestamp");
  if (seconds.empty() || seconds.size() > 12 || seconds.find_first_not_of("0123456789") != std::string::npos) return;
  if (std::string time = switchboard_plugins::utc_time(std::stoll(seconds)); !time.empty())
    payload["time"] = std::move(time);
}

// Whether every message of a change (that names its sender) is from one sender.
bool one_sender(const json& value) {
  std::string first;
  for (const json& m : value["messages"]) {
    const std::string from = text(m, "from");
    if (first.empty()) first = from;
    if (!from.empty() && from != first) return false;
  }
  return true;
}

// An error's code, title and details as a rule reads them: data.error_code,
// data.error_title, data.error_details.
void with_error(const json& error, json& data) {
  if (!error.is_object()) return;
  if (const auto code = error.find("code"); code != error.end() && code->is_number_integer())
    data["error_code"] = *code;
  std::string title = text(error, "title");
  if (title.empty()) title = text(error, "message");
  if (!title.empty()) data["error_title"] = title;
  if (const auto more = error.find("error_data"); more != error.end() && more->is_object())
    if (std::string details = text(*more, "details"); !details.empty()) data["error_details"] = std::move(details);
}

// What an inbound message that is not text carries: a photo's or file's media
// id (fetched with the access token from the Graph API), its type and caption;
// a location's coordinates; a reaction's emoji and the message it is on.
void with_content(const json& message, const std::string& type, json& data) {
  static constexpr const char* kMedia[] = {"image", "audio", "video", "document", "sticker"};
  const auto object = message.find(type);
  if (object == message.end() || !object->is_object()) return;
  if (std::find(std::begin(kMedia), std::end(kMedia), type) != std::end(kMedia)) {
    data["media"] = *object;
    if (std::string caption = text(*object, "caption"); !caption.empty()) data["text"] = std::move(caption);
  } else if (type == "location") {
    data["location"] = *object;
  } else if (type == "reaction") {
    data["reaction"] = text(*object, "emoji");
  }
}

void read_value(const json& value, std::vector<InboundEvent>& out) {
  // Errors of the account or the app, not of one message (Meta's "errors"
  // messages webhook). They carry no id: each delivery is an event of its own.
  if (value.contains("errors") && value["errors"].is_array())
    for (const json& e : value["errors"]) {
      json data = json::object();
      with_error(e, data);
      if (data.empty()) continue;
      data["error"] = e;
      out.push_back({"whatsapp.error", "", {{"data", std::move(data)}}});
    }
  if (value.contains("statuses") && value["statuses"].is_array())
    for (const json& s : value["statuses"]) {
      const std::string id = text(s, "id"), status = text(s, "status"), recipient = text(s, "recipient_id");
      if (id.empty() || status.empty()) continue;
      json data{
          {"message_id", id}, {"status", status}, {"recipient_id", recipient}, {"timestamp", text(s, "timestamp")}};
      if (s.contains("errors") && s["errors"].is_array()) {
        data["errors"] = s["errors"];
        // The first error's code is what a rule branches on (131026: the
        // number is not on WhatsApp; 131047: outside the 24-hour window).
        if (!s["errors"].empty()) with_error(s["errors"][0], data);
      }
      json payload{{"data", std::move(data)}};
      if (!recipient.empty()) payload["contact"] = contact_for(recipient);
      with_time(s, payload);
      out.push_back({"message." + status, id + ":" + status, std::move(payload)});
    }
  if (value.contains("messages") && value["messages"].is_array()) {
    // One entry per sender: a batch may carry several people's messages.
    std::map<std::string, std::string> names;
    if (value.contains("contacts") && value["contacts"].is_array())
      for (const json& c : value["contacts"])
        if (c.is_object() && c.contains("profile") && c["profile"].is_object())
          names.emplace(text(c, "wa_id"), text(c["profile"], "name"));
    const bool lone_sender = one_sender(value);
    for (const json& m : value["messages"]) {
      const std::string id = text(m, "id"), from = text(m, "from");
      if (id.empty() || from.empty()) continue;
      // By the sender's wa_id; a lone entry is the sender's whatever its
      // form when every message is from one sender.
      const auto named = names.find(from);
      const std::string name = named != names.end()               ? named->second
                               : names.size() == 1 && lone_sender ? names.begin()->second
                                                                  : "";
      json data{{"message_id", id}, {"from", from}, {"type", text(m, "type")}, {"timestamp", text(m, "timestamp")}};
      if (m.contains("text") && m["text"].is_object()) data["text"] = text(m["text"], "body");
      with_content(m, text(m, "type"), data);
      // A template's quick reply tapped: its text, and the payload the step gave it.
      if (m.contains("button") && m["button"].is_object()) {
        data["text"] = text(m["button"], "text");
        if (const std::string payload = text(m["button"], "payload"); !payload.empty()) data["reply_id"] = payload;
      }
      // A tapped reply button or list row: its title is what the person said.
      if (m.contains("interactive") && m["interactive"].is_object())
        for (const char* kind : {"button_reply", "list_reply"})
          if (const auto reply = m["interactive"].find(kind); reply != m["interactive"].end() && reply->is_object()) {
            data["text"] = text(*reply, "title");
            data["reply_id"] = text(*reply, "id");
          }
      // A reply to one of ours names it (a reaction, the message it is on):
      // tie it to the execution that sent it.
      std::string in_reply_to = m.contains("context") && m["context"].is_object() ? text(m["context"], "id") : "";
      if (const auto reaction = m.find("reaction");
          in_reply_to.empty() && reaction != m.end() && reaction->is_object()) {
        // A reaction taken back comes without its emoji: nothing was said.
        if (text(*reaction, "emoji").empty()) continue;
        in_reply_to = text(*reaction, "message_id");
      }
      if (!in_reply_to.empty()) data["in_reply_to"] = in_reply_to;
      // A tapped button or list row titled "Cancel" or "Yes" answers the
      // message it is on (a booking cancelled): only one titled as the
      // opt-out ("STOP", "Отписаться") opts out; words typed as ever.
      const std::string said = data.value("text", "");
      const std::string type = text(m, "type");
      json payload{{"contact", contact_for(from, name)}, {"data", std::move(data)}};
      with_time(m, payload);
      out.push_back({in_reply_to.empty() ? "message.received" : "message.replied", id, std::move(payload)});
      if (const auto reply = switchboard_plugins::opt_reply(said, type == "button" || type == "interactive");
          (type == "text" || type == "button" || type == "interactive") &&
          reply != switchboard_plugins::OptReply::kNone)
        out.push_back({switchboard_plugins::opt_event_type(reply), "opt:" + id,
                       switchboard_plugins::opt_event_payload(reply, "whatsapp", contact_for(from, name), id, said)});
    }
  }
}

}  // namespace

std::vector<InboundEvent> events_from_payload(const json& payload) {
  std::vector<InboundEvent> out;
  if (!payload.is_object() || !payload.contains("entry") || !payload["entry"].is_array()) return out;
  for (const json& entry : payload["entry"]) {
    if (!entry.is_object() || !entry.contains("changes") || !entry["changes"].is_array()) continue;
    for (const json& change : entry["changes"]) {
      if (!change.is_object() || !change.contains("value") || !change["value"].is_object()) continue;
      // Messages and their statuses come as "messages"; other fields (calls,
      // whose statuses are RINGING or ACCEPTED, template reviews) are not
      // messages, whatever their values hold.
      if (const auto field = change.find("field"); field != change.end() && *field != "messages") continue;
      read_value(change["value"], out);
    }
  }
  return out;
}

}  // namespace whatsapp
