// SMS.ru's delivery reports ("callback" handlers, registered in the account
// or with /callback/add): a form POST of `data[0]` ... `data[N]`, each entry
// lines "sms_status\n<sms_id>\n<status code>\n<unix time>", and `hash` =
// hex(SHA-256(api_id + data[0] + data[1] + ...)). The handler answers "100".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "twilio_callback.h"  // FormFields, Report

namespace sms {

// The `data[N]` entries in the order of N; nothing when a field named so has
// no number, or a number repeats (a form that is not SMS.ru's).
std::optional<std::vector<std::string>> smsru_entries(const FormFields& fields);

// Whether `given` is hex(SHA-256(api_id + every entry)), compared in constant
// time (either case of hex digits).
bool smsru_hash_matches(const std::string& api_id, const std::vector<std::string>& entries, const std::string& given);

// A status entry as an event: message.<status> with id "<sms_id>:<status>"
// (a repeated report is a duplicate), data.message_id the id the send step
// reported, data.status_code SMS.ru's code. Nothing for other entries (a
// "test" heartbeat, a call check's status).
std::optional<Report> smsru_report(const std::string& entry);

// SMS.ru's status code as its reports' word ("delivered", "undelivered",
// ...); nothing for a code that is not a message's status.
const char* smsru_status_name(int code);

}  // namespace sms
