#include "executor/ContactPreferences.h"

namespace sb {

using nlohmann::json;

std::optional<std::string> opted_out(const json& contact, const std::string& channel, const std::string& category) {
  if (!contact.is_object()) return std::nullopt;
  const auto preferences = contact.find("preferences");
  if (preferences == contact.end() || !preferences->is_object()) return std::nullopt;
  const auto on_channel = preferences->find(channel);
  if (on_channel == preferences->end() || !on_channel->is_object()) return std::nullopt;
  const auto said = [&](const std::string& name) {
    const auto it = on_channel->find(name);
    return it != on_channel->end() && it->is_boolean() && !it->get<bool>();
  };
  if (said("all")) return "the contact opted out of every " + channel + " message";
  if (said(category)) return "the contact opted out of " + category + " " + channel + " messages";
  return std::nullopt;
}

}  // namespace sb
