// Phone numbers as providers want them: E.164 ("+79990001122"), read with
// libphonenumber; numbers written without '+' are read as in a default
// country ("RU").
#pragma once

#include <optional>
#include <string>

namespace switchboard_plugins {

// E.164, or nothing when `text` is not a valid number.
std::optional<std::string> to_e164(const std::string& text, const std::string& default_region);

}  // namespace switchboard_plugins
