// Phone numbers as providers want them: E.164 ("+79990001122"), read with
// libphonenumber; numbers written without '+' are read as in a default
// country ("RU").
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <switchboard/plugin.hpp>
#include <variant>

namespace switchboard_plugins {

// E.164, or nothing when `text` is not a valid number.
std::optional<std::string> to_e164(const std::string& text, const std::string& default_region);

// The E.164 number a step's "to" names: a number as written, or one of the
// contact's phones (the call's subject) chosen by type and order, as
// {"type": "mobile", "pick": "last"} (type "any" and pick "first" by
// default: the contact's first number). Otherwise the result that ends the
// step: invalid_params for a "to" of another kind (the rule is at fault),
// unreachable for a contact without such a number or a number that is not
// valid (a fallback moves on).
std::variant<std::string, switchboard::ActionResult> recipient_number(const nlohmann::json& to,
                                                                      std::string_view subject_json,
                                                                      const std::string& default_region);

// An E.164 number without its '+', as some providers take it: "79990001122".
inline std::string e164_digits(const std::string& e164) {
  const size_t first = e164.find_first_not_of('+');
  return first == std::string::npos ? std::string() : e164.substr(first);
}

}  // namespace switchboard_plugins
