#include "http_config.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <switchboard/plugin.hpp>

#include "standard_webhooks.h"
#include "url.h"

namespace http_plugin {

namespace {

using nlohmann::json;
using switchboard::ConfigError;
using switchboard_plugins::is_base_url;

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

}  // namespace

bool valid_header_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), is_token_char);
}

bool valid_header_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == value.npos;
}

HttpConfig HttpConfig::parse(std::string_view config_json) {
  const json config = config_json.empty() ? json::object() : json::parse(config_json, nullptr, false);
  if (!config.is_object()) throw ConfigError("the config must be a JSON object");
  HttpConfig out;

  if (auto it = config.find("base_url"); it != config.end()) {
    if (!it->is_string()) throw ConfigError("'base_url' must be a string");
    out.base_url = it->get<std::string>();
    if (!is_base_url(out.base_url))
      throw ConfigError("'base_url' must be an http:// or https:// URL without query or fragment");
  }

  if (auto it = config.find("headers"); it != config.end()) {
    if (!it->is_object()) throw ConfigError("'headers' must be an object of strings");
    for (const auto& [name, value] : it->items()) {
      if (!valid_header_name(name)) throw ConfigError("'headers' has an invalid header name '" + name + "'");
      if (!value.is_string() || !valid_header_value(value.get_ref<const std::string&>()))
        throw ConfigError("'headers/" + name + "' must be a string without CR, LF or NUL");
      out.headers.emplace_back(name, value.get<std::string>());
    }
  }

  if (auto it = config.find("timeout_ms"); it != config.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 600000)
      throw ConfigError("'timeout_ms' must be an integer from 1 to 600000");
    out.timeout_ms = it->get<uint32_t>();
  }

  if (auto it = config.find("signing_secret"); it != config.end()) {
    if (!it->is_string()) throw ConfigError("'signing_secret' must be a string");
    out.signing_key = standard_webhooks::decode_secret(it->get<std::string>());
    if (!out.signing_key) throw ConfigError("'signing_secret' must be 'whsec_' followed by base64, or base64");
  }

  if (auto it = config.find("dry_run"); it != config.end()) {
    if (!it->is_boolean()) throw ConfigError("'dry_run' must be a boolean");
    out.dry_run = it->get<bool>();
  }
  return out;
}

}  // namespace http_plugin
