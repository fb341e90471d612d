// What the gateways' delivery reports are made of: whole numbers in text,
// Unix times, read the same way by each gateway's parser.
#pragma once

#include <charconv>
#include <optional>
#include <string>

#include "utc_time.h"

namespace sms {

// The whole of `text` as a number; nothing when any of it is not one.
template <typename T>
std::optional<T> number(const std::string& text) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

using switchboard_plugins::utc_time;

}  // namespace sms
