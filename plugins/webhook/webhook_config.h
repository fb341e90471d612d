// The settings of one webhook instance, read from its config JSON (see
// schema.json, which the host has already checked it against).
#pragma once

#include <cstdint>
#include <map>
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
  // The event's type by a value of the body ("event_type_from", a JSON
  // Pointer): its type in `event_types`, else `event_type`.
  std::optional<std::string> event_type_from;
  std::map<std::string, std::string> event_types;
  // A token the sender puts in the body itself (Bitrix24's
  // auth[application_token]): where (a JSON Pointer), and its value.
  std::optional<std::string> body_token_at, body_token;

  // Applies the defaults (path = the instance name). Throws
  // switchboard::ConfigError naming the key at fault; the message never
  // contains a secret's value.
  static WebhookConfig parse(std::string_view config_json, std::string_view instance_name);
};

}  // namespace webhook
