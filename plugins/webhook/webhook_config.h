// The settings of one webhook instance, read from its config JSON (see
// schema.json, which the host has already checked it against).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "body_mapping.h"

namespace webhook {

struct WebhookConfig {
  std::string path;  // the route is /webhooks/<path>
  std::string event_type = "webhook.received";
  std::optional<std::string> bearer_token;
  std::optional<std::string> signing_secret;
  std::optional<std::string> signing_public_key;  // Standard Webhooks' asymmetric "whpk_" key
  int64_t tolerance_s = 300;
  bool respond_when_completed = false;  // "respond": "completed"
  std::optional<BodyMapping> mapping;   // the body's contact, entity and time

  // Applies the defaults (path = the instance name). Throws
  // switchboard::ConfigError naming the key at fault; the message never
  // contains a secret's value.
  static WebhookConfig parse(std::string_view config_json, std::string_view instance_name);
};

}  // namespace webhook
