// Twilio's delivery reports (StatusCallback): the X-Twilio-Signature on each
// POST, and the message.* event a report becomes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace sms {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// base64(HMAC-SHA1(auth token, the URL Twilio called + each POST field's
// name and value, sorted by name)).
std::string twilio_signature(const std::string& auth_token, const std::string& url, FormFields fields);

struct Report {
  std::string type;  // message.queued|sent|delivered|undelivered|failed ...
  std::string id;    // "<MessageSid>:<status>": a repeated report is a duplicate
  nlohmann::json payload;
};

// Nothing when the fields are not a message status report.
std::optional<Report> twilio_report(const FormFields& fields);

}  // namespace sms
