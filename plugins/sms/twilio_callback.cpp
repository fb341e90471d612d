#include "twilio_callback.h"

#include <charconv>

#include "form.h"
#include "opt_out.h"

namespace sms {

using switchboard_plugins::form_field;

std::vector<Report> twilio_inbound(const FormFields& fields) {
  const std::string sid = form_field(fields, "MessageSid").value_or(""), from = form_field(fields, "From").value_or("");
  const auto body = form_field(fields, "Body");
  const std::string status = form_field(fields, "MessageStatus").value_or(form_field(fields, "SmsStatus").value_or(""));
  if (sid.empty() || from.empty() || !body || (!status.empty() && status != "received")) return {};
  const nlohmann::json contact{{"phones", {{{"number", from}, {"type", "mobile"}}}}};
  std::vector<Report> out;
  out.push_back(
      {"message.received",
       sid,
       {{"contact", contact},
        {"data",
         {{"message_id", sid}, {"from", from}, {"to", form_field(fields, "To").value_or("")}, {"text", *body}}}}});
  if (const auto reply = switchboard_plugins::opt_reply(*body); reply != switchboard_plugins::OptReply::kNone)
    out.push_back({switchboard_plugins::opt_event_type(reply), "opt:" + sid,
                   switchboard_plugins::opt_event_payload(reply, "sms", contact, sid, *body)});
  return out;
}

std::optional<Report> twilio_report(const FormFields& fields) {
  auto field = [&](const char* name) { return form_field(fields, name).value_or(""); };
  const std::string sid = field("MessageSid"), status = field("MessageStatus");
  // "received" (and "receiving") is an incoming message's own status, not a
  // report on one sent: the message and its words are the inbound's to read.
  if (sid.empty() || status.empty() || status == "received" || status == "receiving") return std::nullopt;
  nlohmann::json data{{"message_id", sid}, {"status", status}, {"recipient_id", field("To")}};
  if (const std::string code = field("ErrorCode"); !code.empty()) {
    data["errors"] = {{{"code", code}, {"title", field("ErrorMessage")}}};
    // As the other channels' reports say it (SMSC.ru, WhatsApp): a rule reads data.error_code as a number.
    long long number = 0;
    const auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), number);
    data["error_code"] =
        ec == std::errc() && end == code.data() + code.size() ? nlohmann::json(number) : nlohmann::json(code);
    if (!field("ErrorMessage").empty()) data["error_title"] = field("ErrorMessage");
  }
  nlohmann::json payload{{"data", std::move(data)}};
  if (!field("To").empty()) payload["contact"] = {{"phones", {{{"number", field("To")}, {"type", "mobile"}}}}};
  return Report{"message." + status, sid + ":" + status, std::move(payload)};
}

}  // namespace sms
