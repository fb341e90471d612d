// Reading providers' answers without trusting their shape: a field of the
// wrong type reads as the fallback instead of throwing (nlohmann's value()
// throws type_error, which in an HTTP callback would leave a step hanging).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

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

}  // namespace switchboard_plugins
