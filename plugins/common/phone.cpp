#include "phone.h"

#include <phonenumbers/phonenumberutil.h>

#include "json_fields.h"

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

std::variant<std::string, switchboard::ActionResult> recipient_number(const nlohmann::json& to,
                                                                      std::string_view subject_json,
                                                                      const std::string& default_region) {
  using switchboard::ActionResult;
  std::optional<std::string> chosen;
  if (to.is_string() && !to.get_ref<const std::string&>().empty()) {
    chosen = to.get<std::string>();
  } else if (!to.is_object() && !to.is_null()) {
    return ActionResult::invalid_params(
        "'to' must be a phone number or {\"type\", \"pick\"} naming one of the contact's");
  } else {
    // None given: the contact's first number, whatever its type.
    const std::string type = to.is_object() ? to.value("type", "any") : "any";
    const bool last = to.is_object() && to.value("pick", "first") == "last";
    const nlohmann::json subject = nlohmann::json::parse(subject_json, nullptr, false);
    chosen = contact_item(subject, "phones", "number", type, last);
    if (!chosen)
      return ActionResult::unreachable(
          type == "any" ? "the contact has no phone number" : "the contact has no phone number of type '" + type + "'",
          "no_phone");
  }
  if (auto e164 = to_e164(*chosen, default_region)) return *e164;
  return ActionResult::unreachable("'" + *chosen + "' is not a valid phone number" +
                                       (default_region.empty() ? " (no default_country for numbers without +)" : ""),
                                   "invalid_number");
}

}  // namespace switchboard_plugins
