// Reading providers' answers without trusting their shape: a field of the
// wrong type reads as the fallback instead of throwing (nlohmann's value()
// throws type_error, which in an HTTP callback would leave a step hanging).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <switchboard/plugin.hpp>

namespace switchboard_plugins {

inline std::string string_at(const nlohmann::json& object, const char* key, std::string fallback = "") {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

inline int64_t integer_at(const nlohmann::json& object, const char* key, int64_t fallback = 0) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

// The element, or null when `value` is not an array or too short.
inline const nlohmann::json& element_at(const nlohmann::json& value, size_t index) {
  static const nlohmann::json kNull;
  return value.is_array() && index < value.size() ? value[index] : kNull;
}

inline const nlohmann::json& field_at(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// One of the contact's (a call's subject) emails or phones, as Bitrix24
// picks one: the first or last item of `list` whose "type" is `type` ("any":
// every item), its `field` ("address", "number"); nothing when none has it.
inline std::optional<std::string> contact_item(const nlohmann::json& subject, const char* list, const char* field,
                                               const std::string& type, bool last) {
  const nlohmann::json& items = field_at(field_at(subject, "contact"), list);
  std::optional<std::string> chosen;
  if (items.is_array())
    for (const nlohmann::json& item : items) {
      std::string value = string_at(item, field);
      if (value.empty() || (type != "any" && string_at(item, "type") != type)) continue;
      chosen = std::move(value);
      if (!last) break;
    }
  return chosen;
}

// JSON text for records and outputs; invalid UTF-8 from a provider becomes U+FFFD instead of throwing.
inline std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// An instance's config, which must be a JSON object.
inline nlohmann::json config_object(std::string_view text) {
  nlohmann::json config = nlohmann::json::parse(text, nullptr, false);
  if (!config.is_object()) throw switchboard::ConfigError("the config must be a JSON object");
  return config;
}

}  // namespace switchboard_plugins
