#include "smsc_callback.h"

#include <iconv.h>
#include <openssl/evp.h>

#include <memory>
#include <optional>

#include "form.h"
#include "hex.h"
#include "opt_out.h"
#include "report_fields.h"

namespace sms {

namespace {

using switchboard_plugins::form_field;

}  // namespace

// SMSC.ru's status codes as the words Twilio's reports use, so that one rule
// reads message.delivered or message.undelivered whichever gateway sent.
const char* smsc_status_name(int code) {
  switch (code) {
    case -2:  // stopped before it was sent
      return "canceled";
    case -1:  // waiting to be sent
      return "queued";
    case 0:  // handed to the operator
      return "sent";
    case 1:
      return "delivered";
    case 2:
      return "read";
    case 4:  // the recipient followed a link in it
      return "clicked";
    case 3:   // its lifetime ran out
    case 20:  // cannot be delivered
    case 25:  // the number is not reachable
      return "undelivered";
    case 22:  // wrong number
    case 23:  // prohibited
    case 24:  // not enough money
      return "failed";
    default:  // -3: no such message
      return nullptr;
  }
}

namespace {

bool all_digits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

// SMSC.ru writes numbers as digits without '+'.
nlohmann::json contact_of(const std::string& phone) {
  return {{"phones", {{{"number", all_digits(phone) ? "+" + phone : phone}, {"type", "mobile"}}}}};
}

// Both kinds sign three fields joined by ':': a report's fields sent back as
// an incoming message's (id as phone, phone as text, status as number) would
// pass. Each kind takes only what its fields can be: a message comes from
// and to phone numbers (a status code is never one); a report has a status
// code and no text.
bool is_phone_number(const std::string& text) { return all_digits(text) && text.size() >= 7 && text.size() <= 15; }

// `text` read in `charset`, as UTF-8; nothing when it is not valid there.
std::optional<std::string> as_utf8(const std::string& text, const char* charset) {
  const std::unique_ptr<void, int (*)(iconv_t)> converter(iconv_open("UTF-8", charset), iconv_close);
  if (converter.get() == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
  std::string out(text.size() * 3, '\0');  // a windows-1251 character is at most 3 bytes of UTF-8
  char* in = const_cast<char*>(text.data());
  char* to = out.data();
  size_t in_left = text.size(), out_left = out.size();
  if (iconv(converter.get(), &in, &in_left, &to, &out_left) == static_cast<size_t>(-1)) return std::nullopt;
  out.resize(out.size() - out_left);
  return out;
}

// SMSC.ru posts a reply's text in windows-1251 unless the handler's URL in
// the account asks for charset=utf-8. Russian text in windows-1251 is not
// valid UTF-8, so the bytes tell which it is.
std::string reply_text(const std::string& mes) {
  if (as_utf8(mes, "UTF-8")) return mes;
  return as_utf8(mes, "CP1251").value_or(mes);
}

}  // namespace

bool smsc_signature_matches(const FormFields& fields, const std::string& secret) {
  auto field = [&](const char* name) { return form_field(fields, name).value_or(""); };
  const std::string text = form_field(fields, "mes")
                               ? field("phone") + ":" + field("mes") + ":" + field("to") + ":" + secret
                               : field("id") + ":" + field("phone") + ":" + field("status") + ":" + secret;
  const auto md5 = form_field(fields, "md5"), sha1 = form_field(fields, "sha1");
  if (secret.empty() || (!md5 && !sha1)) return false;
  if (md5 && !switchboard_plugins::hex_matches(switchboard_plugins::digest_hex(EVP_md5(), text), *md5)) return false;
  if (sha1 && !switchboard_plugins::hex_matches(switchboard_plugins::digest_hex(EVP_sha1(), text), *sha1)) return false;
  return true;
}

std::vector<Report> smsc_reports(const FormFields& fields, const std::string& login) {
  auto field = [&](const char* name) { return form_field(fields, name).value_or(""); };
  const std::string id = field("id"), phone = field("phone");
  if (const auto mes = form_field(fields, "mes")) {
    if (!is_phone_number(phone) || !is_phone_number(field("to")) || form_field(fields, "status")) return {};
    const std::string text = reply_text(*mes);
    // An incoming message has no id of its own in every account: its sender, time and signature are.
    const std::string message_id = !id.empty() ? id : phone + ":" + field("ts") + ":" + field("md5") + field("sha1");
    const nlohmann::json contact = contact_of(phone);
    std::vector<Report> out;
    out.push_back({"message.received",
                   "smsc:" + login + ":in:" + message_id,
                   {{"contact", contact},
                    {"data",
                     {{"message_id", message_id},
                      {"from", contact["phones"][0]["number"]},
                      {"to", field("to")},
                      {"text", text}}}}});
    if (const auto reply = switchboard_plugins::opt_reply(text); reply != switchboard_plugins::OptReply::kNone)
      out.push_back({switchboard_plugins::opt_event_type(reply), "smsc:" + login + ":opt:" + message_id,
                     switchboard_plugins::opt_event_payload(reply, "sms", contact, message_id, text)});
    return out;
  }
  const auto code = number<long long>(field("status"));
  const char* status = code && *code >= -3 && *code <= 99 ? smsc_status_name(static_cast<int>(*code)) : nullptr;
  if (id.empty() || !status) return {};
  nlohmann::json data{{"message_id", id}, {"status", status}, {"status_code", *code}};
  if (const auto err = number<long long>(field("err")); err && *err != 0) data["error_code"] = *err;
  nlohmann::json payload{{"data", std::move(data)}};
  if (!phone.empty()) payload["contact"] = contact_of(phone);
  if (const auto at = number<long long>(field("ts")); at && *at > 0)
    if (std::string time = utc_time(*at); !time.empty()) payload["time"] = std::move(time);
  // By code: codes that share a word (20, then 25) are reports of their own.
  return {{std::string("message.") + status, "smsc:" + login + ":" + id + ":" + phone + ":" + std::to_string(*code),
           std::move(payload)}};
}

}  // namespace sms
