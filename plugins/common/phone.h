// Phone numbers as providers want them: E.164 ("+79990001122"), read with
// libphonenumber; numbers written without '+' are read as in a default
// country ("RU").
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace switchboard_plugins {

// E.164, or nothing when `text` is not a valid number.
std::optional<std::string> to_e164(const std::string& text, const std::string& default_region);

// The number a step's "to" names: a number as written, or one of the
// contact's phones (the call's subject) chosen by type and order, as
// {"type": "mobile", "pick": "last"} (type "any" and pick "first" by
// default: the contact's first number). Nothing, with the reason in
// `error`, when the contact has no number of that type; `to` of another
// kind is `invalid` (the rule is at fault, not the contact).
std::optional<std::string> phone_named(const nlohmann::json& to, const nlohmann::json& subject, std::string& error,
                                       bool& invalid);

// An E.164 number without its '+', as some providers take it: "79990001122".
inline std::string e164_digits(const std::string& e164) {
  const size_t first = e164.find_first_not_of('+');
  return first == std::string::npos ? std::string() : e164.substr(first);
}

}  // namespace switchboard_plugins
