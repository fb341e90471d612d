// SMSC.ru's status handler (the URL set in the account's settings): a form
// POST for each change of a message's status, with `id` (the id send.php
// answered), `phone`, `status` (its code), `err` and `ts` (Unix time), signed
// with `md5` = hex(MD5("<id>:<phone>:<status>:<secret>")) (or `sha1` of the
// same), the secret being the one set for the handler in the account. A
// message to one of the account's numbers comes to the same URL as `phone`
// (the sender), `mes`, `to`, signed over "<phone>:<mes>:<to>:<secret>".
#pragma once

#include <string>
#include <vector>

#include "twilio_callback.h"  // FormFields, Report

namespace sms {

// Whether the POST is signed with `secret`: each of `md5` and `sha1` that is
// present matches (constant time, either case), and at least one is.
bool smsc_signature_matches(const FormFields& fields, const std::string& secret);

// The events a signed POST becomes: a status as message.<Twilio's word for
// it> (message.delivered, message.undelivered, ...) with id
// "smsc:<login>:<message id>:<phone>:<status code>" (a repeated report is a
// duplicate, and two accounts' numeric ids never meet), data.message_id the
// id the send step reported, data.status_code and data.error_code SMSC.ru's;
// an incoming message as message.received (and contact.unsubscribed or
// resubscribed for "STOP" or "START"), from and to phone numbers. Empty for
// a status that is no event (-3: not found) or a form that is neither.
std::vector<Report> smsc_reports(const FormFields& fields, const std::string& login);

// SMSC.ru's status code as its reports' word; nothing for -3 (no such
// message) and codes it does not list.
const char* smsc_status_name(int code);

}  // namespace sms
