// application/x-www-form-urlencoded bodies, as SMS gateways and OAuth token
// endpoints take them.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace switchboard_plugins {

std::string form_urlencode(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace switchboard_plugins
