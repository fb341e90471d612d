// Reading providers' answers without trusting their shape: a field of the
// wrong type reads as the fallback instead of throwing (nlohmann's value()
// throws type_error, which in an HTTP callback would leave a step hanging).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
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
