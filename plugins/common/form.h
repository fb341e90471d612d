// application/x-www-form-urlencoded bodies, as SMS gateways and OAuth token
// endpoints take them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard_plugins {

// Every byte but the unreserved ones (RFC 3986: A-Z a-z 0-9 - _ . ~) as %XX.
std::string percent_encode(std::string_view text);

std::string form_urlencode(const std::vector<std::pair<std::string, std::string>>& fields);

// The fields of a form body or query string, in order, percent- and
// '+'-decoded.
std::vector<std::pair<std::string, std::string>> form_decode(std::string_view text);

// The first value of field `name` in decoded fields; nothing when absent.
inline std::optional<std::string> form_field(const std::vector<std::pair<std::string, std::string>>& fields,
                                             std::string_view name) {
  for (const auto& [k, v] : fields)
    if (k == name) return v;
  return std::nullopt;
}

}  // namespace switchboard_plugins
