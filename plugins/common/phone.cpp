#include "phone.h"

#include <phonenumbers/phonenumberutil.h>

namespace switchboard_plugins {

std::optional<std::string> to_e164(const std::string& text, const std::string& default_region) {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (util.Parse(text, default_region.empty() ? "ZZ" : default_region, &number) != PhoneNumberUtil::NO_PARSING_ERROR ||
      !util.IsValidNumber(number))
    return std::nullopt;
  std::string out;
  util.Format(number, PhoneNumberUtil::E164, &out);
  return out;
}

std::optional<std::string> phone_named(const nlohmann::json& to, const nlohmann::json& subject, std::string& error,
                                       bool& invalid) {
  invalid = false;
  if (to.is_string() && !to.get_ref<const std::string&>().empty()) return to.get<std::string>();
  if (!to.is_object()) {
    invalid = true;
    error = "'to' must be a phone number or {\"type\", \"pick\"} naming one of the contact's";
    return std::nullopt;
  }
  const std::string type = to.value("type", "any");
  const bool last = to.value("pick", "first") == "last";
  const auto contact = subject.is_object() ? subject.find("contact") : subject.end();
  const nlohmann::json* phones = nullptr;
  if (contact != subject.end() && contact->is_object())
    if (const auto found = contact->find("phones"); found != contact->end() && found->is_array()) phones = &*found;
  std::optional<std::string> chosen;
  if (phones)
    for (const nlohmann::json& phone : *phones) {
      if (!phone.is_object() || !phone.contains("number") || !phone["number"].is_string()) continue;
      if (type != "any" && phone.value("type", "") != type) continue;
      chosen = phone["number"].get<std::string>();
      if (!last) break;
    }
  if (!chosen)
    error =
        type == "any" ? "the contact has no phone number" : "the contact has no phone number of type '" + type + "'";
  return chosen;
}

}  // namespace switchboard_plugins
