#include "webhook_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>
#include <switchboard/plugin.hpp>

#include "standard_webhooks.h"

namespace webhook {

namespace {

using nlohmann::json;
using switchboard::ConfigError;

// The host validates against schema.json first; these checks only keep a
// host that did not (or a changed schema) from producing undefined behaviour.
std::optional<std::string> optional_string(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (!it->is_string()) throw ConfigError(std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

// Words in lower case joined by dots ("lead.created"), as the host's event
// schema has types: another would be refused where the event is stored.
bool valid_type(const std::string& type) {
  static const std::regex dotted("^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$");
  return type.size() <= 100 && std::regex_match(type, dotted);
}

// A setting that must be a JSON Pointer into the body.
void pointer_setting(const char* key, const std::string& value) {
  try {
    if (value.empty() || value.front() != '/') throw std::invalid_argument("");
    (void)json::json_pointer(value);
  } catch (const std::exception&) {
    throw ConfigError(std::string("'") + key + "' must be a JSON Pointer into the body (\"/event\"), got '" + value +
                      "'");
  }
}

bool is_path_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

}  // namespace

WebhookConfig WebhookConfig::parse(std::string_view config_json, std::string_view instance_name) {
  const json config = config_json.empty() ? json::object() : json::parse(config_json, nullptr, false);
  if (!config.is_object()) throw ConfigError("the config must be a JSON object");

  WebhookConfig out;
  out.path = optional_string(config, "path").value_or(std::string(instance_name));
  if (out.path.empty() || out.path.size() > 128 || !std::all_of(out.path.begin(), out.path.end(), is_path_char))
    throw ConfigError("'path' must match [a-z0-9_-]{1,128}, got '" + out.path + "'");

  if (auto type = optional_string(config, "event_type")) {
    if (!valid_type(*type))
      throw ConfigError("'event_type' must be words in lower case joined by dots (\"lead.created\"), got '" + *type +
                        "'");
    out.event_type = std::move(*type);
  }

  out.bearer_token = optional_string(config, "bearer_token");
  if (out.bearer_token && out.bearer_token->empty()) throw ConfigError("'bearer_token' must not be empty");

  out.signing_secret = optional_string(config, "signing_secret");
  if (out.signing_secret && !standard_webhooks::decode_secret(*out.signing_secret))
    throw ConfigError("'signing_secret' must be 'whsec_' followed by base64, or base64");
  out.signing_public_key = optional_string(config, "signing_public_key");
  if (out.signing_public_key && !standard_webhooks::decode_public_key(*out.signing_public_key))
    throw ConfigError("'signing_public_key' must be 'whpk_' followed by the base64 of a 32-byte Ed25519 public key");
  if (out.signing_secret && out.signing_public_key)
    throw ConfigError("give 'signing_secret' (v1, HMAC) or 'signing_public_key' (v1a, Ed25519), not both");

  if (auto it = config.find("tolerance_s"); it != config.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 86400)
      throw ConfigError("'tolerance_s' must be an integer from 1 to 86400");
    out.tolerance_s = it->get<int64_t>();
  }

  const std::string respond = optional_string(config, "respond").value_or("accepted");
  if (respond != "accepted" && respond != "completed")
    throw ConfigError("'respond' must be \"accepted\" or \"completed\", got \"" + respond + "\"");
  out.respond_when_completed = respond == "completed";
  out.mapping = BodyMapping::parse(config);

  out.event_type_from = optional_string(config, "event_type_from");
  if (const auto types = config.find("event_types"); types != config.end()) {
    if (!types->is_object() || types->empty())
      throw ConfigError("'event_types' must map the body's values to event types");
    for (const auto& [value, type] : types->items()) {
      if (!type.is_string() || !valid_type(type.get<std::string>()))
        throw ConfigError("'event_types." + value +
                          "' must be an event type: words in lower case joined by dots (\"deal.created\")");
      out.event_types.emplace(value, type.get<std::string>());
    }
  }
  if (out.event_type_from.has_value() != !out.event_types.empty())
    throw ConfigError("'event_type_from' (where the body names its kind) and 'event_types' go together");
  if (out.event_type_from) pointer_setting("event_type_from", *out.event_type_from);

  if (const auto token = config.find("body_token"); token != config.end()) {
    if (!token->is_object()) throw ConfigError("'body_token' must be {\"at\": \"/pointer\", \"token\": ...}");
    out.body_token_at = optional_string(*token, "at");
    out.body_token = optional_string(*token, "token");
    if (!out.body_token_at || !out.body_token || out.body_token->empty())
      throw ConfigError("'body_token' needs 'at' (a JSON Pointer into the body) and a non-empty 'token'");
    pointer_setting("body_token.at", *out.body_token_at);
  }
  return out;
}

}  // namespace webhook
