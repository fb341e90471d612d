// What the gateways' delivery reports are made of: whole numbers in text,
// Unix times, read the same way by each gateway's parser.
#pragma once

#include <charconv>
#include <ctime>
#include <optional>
#include <string>

namespace sms {

// The whole of `text` as a number; nothing when any of it is not one.
template <typename T>
std::optional<T> number(const std::string& text) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// RFC 3339 in UTC ("2026-06-26T10:31:33Z"); empty when it cannot be written.
inline std::string utc_time(long long unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char text[32];
  if (!gmtime_r(&t, &tm) || !std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm)) return "";
  return text;
}

}  // namespace sms
