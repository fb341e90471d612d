#include "store/ContactAliases.h"

#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <cctype>

namespace sb {

using nlohmann::json;

std::string email_alias(std::string_view address) {
  std::string out = "email:";
  for (char c : address) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

namespace {
std::string& region_of_numbers() {
  static std::string region;
  return region;
}
}  // namespace

void set_phone_region(std::string region) { region_of_numbers() = std::move(region); }
const std::string& phone_region() { return region_of_numbers(); }

std::string phone_alias(std::string_view number) {
  std::string digits;
  for (char c : number)
    if ((c >= '0' && c <= '9') || (c == '+' && digits.empty())) digits += c;
  // A national form ("8 999 ...", or the country's code without its "+") is
  // the international number it dials: the CRM, an SMS reply and a form
  // write one person's number in different ways.
  if (!digits.empty() && digits[0] != '+' && !phone_region().empty()) {
    using i18n::phonenumbers::PhoneNumber;
    using i18n::phonenumbers::PhoneNumberUtil;
    const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
    PhoneNumber parsed;
    if (util.Parse(digits, phone_region(), &parsed) == PhoneNumberUtil::NO_PARSING_ERROR &&
        util.IsValidNumber(parsed)) {
      std::string e164;
      util.Format(parsed, PhoneNumberUtil::E164, &e164);
      return "phone:" + e164;
    }
  }
  return "phone:" + digits;
}

std::string normalized_alias(const std::string& key) {
  constexpr std::string_view kEmail = "email:", kPhone = "phone:";
  if (key.size() > kEmail.size() && key.compare(0, kEmail.size(), kEmail) == 0)
    return email_alias(std::string_view(key).substr(kEmail.size()));
  if (key.size() > kPhone.size() && key.compare(0, kPhone.size(), kPhone) == 0)
    return phone_alias(std::string_view(key).substr(kPhone.size()));
  return key;
}

std::vector<std::string> contact_aliases(const json& contact) {
  std::vector<std::string> out;
  if (!contact.is_object()) return out;
  const auto add = [&out](std::string alias) {
    if (std::find(out.begin(), out.end(), alias) == out.end()) out.push_back(std::move(alias));
  };
  for (const auto& [list, field, as_alias] :
       {std::tuple{"emails", "address", &email_alias}, {"phones", "number", &phone_alias}}) {
    const auto items = contact.find(list);
    if (items == contact.end() || !items->is_array()) continue;
    for (const json& item : *items)
      if (const auto value = item.is_object() ? item.find(field) : item.end();
          item.is_object() && value != item.end() && value->is_string())
        add(as_alias(value->get<std::string>()));
  }
  return out;
}

bool is_id_key(const std::string& key) { return key.rfind("id:", 0) == 0; }

std::vector<std::pair<std::string, std::string>> aliases_of_stored(const std::string& key,
                                                                   const std::string& data_json) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!is_id_key(key)) out.emplace_back(key, key);
  for (std::string& alias : contact_aliases(json::parse(data_json, nullptr, false)))
    if (alias != key) out.emplace_back(std::move(alias), key);
  return out;
}

}  // namespace sb
