#include "body_mapping.h"

#include <string>
#include <switchboard/plugin.hpp>

#include "utc_time.h"

namespace webhook {

namespace {

using nlohmann::json;
using switchboard::ConfigError;

bool is_pointer(const std::string& source) { return !source.empty() && source.front() == '/'; }

// Every value of a section, its "fields" included, is a pointer or a text.
void check_sources(const json& section, const std::string& where) {
  for (const auto& [key, value] : section.items()) {
    const std::string at = where + "." + key;
    if (key == "fields" && value.is_object()) {
      check_sources(value, at);
      continue;
    }
    if (!value.is_string() || value.get_ref<const std::string&>().empty())
      throw ConfigError("'" + at + "' must be a JSON Pointer into the body (\"/client/phone\") or a text");
    if (const std::string& source = value.get_ref<const std::string&>(); is_pointer(source)) try {
        (void)json::json_pointer(source);
      } catch (const json::exception&) {
        throw ConfigError("'" + at + "' is not a valid JSON Pointer: '" + source + "'");
      }
  }
}

const json* section(const json& config, const char* name, std::initializer_list<const char*> names_one_of) {
  const auto it = config.find(name);
  if (it == config.end()) return nullptr;
  if (!it->is_object()) throw ConfigError(std::string("'") + name + "' must be an object");
  bool named = false;
  std::string wanted;
  for (const char* key : names_one_of) {
    named = named || it->contains(key);
    wanted += std::string(wanted.empty() ? "'" : " or '") + key + "'";
  }
  if (!named) throw ConfigError(std::string("'") + name + "' must name " + wanted);
  check_sources(*it, name);
  return &*it;
}

// The value a setting names: the body's at its pointer (nothing when the
// body has none there), or the setting's text.
std::optional<json> resolve(const json& source, const json& body) {
  const std::string& text = source.get_ref<const std::string&>();
  if (!is_pointer(text)) return json(text);
  try {
    const json::json_pointer pointer(text);
    if (body.contains(pointer)) return body.at(pointer);
  } catch (const json::exception&) {
    // an index into an array that is not a number: not there
  }
  return std::nullopt;
}

// A text the event schema takes: a non-empty string, or a number's digits
// (CRMs send their ids, and some their phone numbers, as numbers).
std::optional<std::string> text_of(const std::optional<json>& value, bool numbers = true) {
  if (!value) return std::nullopt;
  if (value->is_string() && !value->get_ref<const std::string&>().empty()) return value->get<std::string>();
  if (numbers && value->is_number_integer()) return value->dump();
  return std::nullopt;
}

void copy_text(const json& settings, const char* key, const json& body, json& out) {
  if (const auto it = settings.find(key); it != settings.end())
    if (auto text = text_of(resolve(*it, body))) out[key] = std::move(*text);
}

// One address or number, or a list of them, each under `member`.
void copy_list(const json& settings, const char* key, const char* list, const char* member, bool numbers,
               const json& body, json& out) {
  const auto it = settings.find(key);
  if (it == settings.end()) return;
  const std::optional<json> value = resolve(*it, body);
  if (!value) return;
  for (const json& item : value->is_array() ? *value : json::array({*value}))
    if (auto text = text_of(item, numbers)) out[list].push_back({{member, std::move(*text)}});
}

void copy_fields(const json& settings, const json& body, json& out) {
  const auto it = settings.find("fields");
  if (it == settings.end()) return;
  for (const auto& [name, source] : it->items())
    if (auto value = resolve(source, body)) out["fields"][name] = std::move(*value);
}

// RFC 3339 for the event's time: a text as it is (the host drops one it
// cannot read), a number, or a text of digits, as Unix seconds.
std::optional<std::string> time_of(const std::optional<json>& value) {
  if (!value) return std::nullopt;
  long long seconds = 0;
  if (value->is_string()) {
    const std::string& text = value->get_ref<const std::string&>();
    if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos) return text;
    seconds = std::stoll(text);
  } else if (value->is_number_integer()) {
    // Beyond a long long (an unsigned 2^64 - 1) wraps to a negative time: not a time.
    if (value->is_number_unsigned() && value->get<unsigned long long>() > 253402300799ULL) return std::nullopt;
    seconds = value->get<long long>();
  } else {
    return std::nullopt;
  }
  std::string time = switchboard_plugins::utc_time(seconds);
  if (time.empty()) return std::nullopt;
  return time;
}

}  // namespace

std::optional<BodyMapping> BodyMapping::parse(const json& config) {
  BodyMapping mapping;
  if (const json* contact = section(config, "contact", {"id", "email", "phone"})) mapping.contact_ = *contact;
  if (const json* entity = section(config, "entity", {"id"})) {
    if (!entity->contains("type")) throw ConfigError("'entity' must name its 'type' (\"lead\", or a pointer)");
    mapping.entity_ = *entity;
  }
  if (const auto it = config.find("time"); it != config.end()) {
    if (!it->is_string() || !is_pointer(it->get<std::string>()))
      throw ConfigError("'time' must be a JSON Pointer into the body (\"/created_at\")");
    check_sources(json{{"time", *it}}, "webhook");
    mapping.time_ = *it;
  }
  if (mapping.contact_.is_null() && mapping.entity_.is_null() && mapping.time_.is_null()) return std::nullopt;
  return mapping;
}

json BodyMapping::apply(const json& body) const {
  json out = json::object();
  if (!contact_.is_null()) {
    json contact = json::object();
    for (const char* key : {"id", "name", "timezone"}) copy_text(contact_, key, body, contact);
    copy_list(contact_, "email", "emails", "address", /*numbers=*/false, body, contact);
    copy_list(contact_, "phone", "phones", "number", /*numbers=*/true, body, contact);
    copy_fields(contact_, body, contact);
    // A person the host can know again: by an id, an email or a phone.
    if (contact.contains("id") || contact.contains("emails") || contact.contains("phones"))
      out["contact"] = std::move(contact);
  }
  if (!entity_.is_null()) {
    json entity = json::object();
    for (const char* key : {"type", "id", "pipeline"}) copy_text(entity_, key, body, entity);
    // A null status is "no status", which a status trigger takes; an absent one changes nothing.
    if (const auto it = entity_.find("status"); it != entity_.end())
      if (const std::optional<json> status = resolve(*it, body); status && status->is_null())
        entity["status"] = nullptr;
    copy_text(entity_, "status", body, entity);
    copy_fields(entity_, body, entity);
    if (entity.contains("type") && entity.contains("id")) out["entity"] = std::move(entity);
  }
  if (!time_.is_null())
    if (auto time = time_of(resolve(time_, body))) out["time"] = std::move(*time);
  return out;
}

}  // namespace webhook
