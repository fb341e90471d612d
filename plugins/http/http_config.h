// The settings of one http instance, read from its config JSON (see
// schema.json, which the host has already checked it against).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace http_plugin {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpConfig {
  std::string base_url;  // empty: every call names an absolute URL
  HeaderList headers;    // sent with every request; values may be secrets
  uint32_t timeout_ms = 10000;
  bool dry_run = false;
  // The key bytes of "signing_secret": the instance sends Standard Webhooks.
  std::optional<std::string> signing_key;

  // Applies the defaults. Throws switchboard::ConfigError naming the key at
  // fault; the message never contains a header value.
  static HttpConfig parse(std::string_view config_json);
};

// Header rules shared by the config and the call parameters: an RFC 9110
// token as the name, and no CR, LF or NUL in the value (header injection).
bool valid_header_name(std::string_view name);
bool valid_header_value(std::string_view value);

}  // namespace http_plugin
