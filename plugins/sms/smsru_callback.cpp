#include "smsru_callback.h"

#include <openssl/evp.h>

#include <map>
#include <sstream>

#include "hex.h"
#include "report_fields.h"

namespace sms {

// SMS.ru's codes (its status table) as the words Twilio's reports use, so a
// rule reads message.delivered or message.undelivered whichever gateway sent.
const char* smsru_status_name(int code) {
  switch (code) {
    case 100:
      return "queued";
    case 101:
      return "sending";
    case 102:
      return "sent";
    case 103:
      return "delivered";
    case 104:  // its lifetime ran out
    case 106:  // the phone failed
    case 107:  // unknown reason
      return "undelivered";
    case 105:  // deleted by the operator
    case 108:  // rejected
    case 150:  // no route to the number
      return "failed";
    case 110:
      return "read";
    default:
      return nullptr;
  }
}

namespace {

std::vector<std::string> lines_of(const std::string& entry) {
  std::vector<std::string> lines;
  std::istringstream in(entry);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

}  // namespace

std::optional<std::vector<std::string>> smsru_entries(const FormFields& fields) {
  // data[0], data[1] ... in their numbers' order; or data[] repeated (as a
  // form encoder writes a list), in the order they came. Not both.
  std::map<unsigned, std::string> numbered;
  std::vector<std::string> listed;
  for (const auto& [name, value] : fields) {
    if (name.rfind("data[", 0) != 0) continue;
    if (name == "data[]") {
      listed.push_back(value);
      continue;
    }
    if (name.size() < 7 || name.back() != ']') return std::nullopt;
    const auto n = number<unsigned>(name.substr(5, name.size() - 6));
    if (!n || !numbered.emplace(*n, value).second) return std::nullopt;
  }
  if (!listed.empty()) return numbered.empty() ? std::optional(std::move(listed)) : std::nullopt;
  std::vector<std::string> entries;
  for (auto& [n, value] : numbered) entries.push_back(std::move(value));
  return entries;
}

bool smsru_hash_matches(const std::string& api_id, const std::vector<std::string>& entries, const std::string& given) {
  std::string signed_text = api_id;
  for (const std::string& entry : entries) signed_text += entry;
  return switchboard_plugins::hex_matches(switchboard_plugins::digest_hex(EVP_sha256(), signed_text), given);
}

std::optional<Report> smsru_report(const std::string& entry) {
  const std::vector<std::string> lines = lines_of(entry);
  if (lines.size() < 3 || lines[0] != "sms_status" || lines[1].empty()) return std::nullopt;
  const auto code = number<int>(lines[2]);
  const char* status = code ? smsru_status_name(*code) : nullptr;
  if (!status) return std::nullopt;
  const std::string& sms_id = lines[1];
  nlohmann::json payload{{"data", {{"message_id", sms_id}, {"status", status}, {"status_code", *code}}}};
  if (lines.size() > 3)
    if (const auto at = number<long long>(lines[3]); at && *at > 0)
      if (std::string time = utc_time(*at); !time.empty()) payload["time"] = std::move(time);
  return Report{std::string("message.") + status, sms_id + ":" + status, std::move(payload)};
}

}  // namespace sms
