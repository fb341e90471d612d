// Where, in a webhook's body, the sender names the person and the record the
// event is about: an instance's "contact", "entity" and "time" settings. The
// event then carries them as the events API's do, so that the host keeps the
// contact and the entity's status, and rules read them ({{contact.name}}, a
// status trigger, an SMS without "to").
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

namespace webhook {

class BodyMapping {
 public:
  // From the instance's config; nothing when it maps nothing. Each value is
  // a JSON Pointer into the body ("/client/phone") or, not starting with
  // "/", the value itself ("lead"). Throws switchboard::ConfigError naming
  // the key at fault.
  static std::optional<BodyMapping> parse(const nlohmann::json& config);

  // The event's members the body gives: "contact" (when it names an id, an
  // email or a phone), "entity" (when it names its type and id), "time".
  nlohmann::json apply(const nlohmann::json& body) const;

 private:
  nlohmann::json contact_, entity_, time_;  // the settings as given, checked
};

}  // namespace webhook
