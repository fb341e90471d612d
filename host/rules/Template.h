// Placeholders in rule parameters: "Hello {{body.name}}", "{{Имя|клиент}}".
//
// A placeholder is {{ path }}, {{ path | default }}, or {{ path | filter |
// filter:"argument" ... }}. The path is a dotted walk into the event context;
// a segment may hold any characters but '.', '|', '{' and '}', so Unicode
// names with spaces ("Название компании") work. Filters:
//   date:"%d.%m.%Y %H:%M"  an RFC 3339 time in the contact's zone (local_zone)
//   phone, phone:"international", phone:"national"  a number via libphonenumber
//   html     HTML-escaped;  raw   not escaped even where the target is HTML
//   default:"text"         when the value is missing
//   or:"path"              when the value is missing or empty, the value at
//                          that path ({{entity.responsible.0.name |
//                          or:"contact.responsible.0.name"}})
// A string that is exactly one placeholder keeps the value's JSON type
// ("{{body.amount}}" stays a number). A missing value without a default is
// an error — never a silent empty string.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sb {

class TemplateError : public std::runtime_error {
 public:
  TemplateError(std::string variable, const std::string& message)
      : std::runtime_error(message), variable_(std::move(variable)) {}
  const std::string& variable() const { return variable_; }

 private:
  std::string variable_;
};

// Renders every string inside `value` (object keys are left alone). Values
// put into the strings at `html_targets` (JSON Pointers into `value`) are
// HTML-escaped. Throws TemplateError.
nlohmann::json render_template(const nlohmann::json& value, const nlohmann::json& context,
                               const std::set<std::string>& html_targets = {});

// Where a parameter schema says a string is HTML ("contentMediaType":
// "text/html"), as JSON Pointers.
std::set<std::string> html_targets(const nlohmann::json& schema);

// A phone number in E.164 ("+79990001122"), "international" or "national"
// style; numbers without '+' are read as in `region` ("RU"). Nothing when it
// is not a valid number (libphonenumber).
std::optional<std::string> format_phone(const std::string& text, const std::string& region,
                                        const std::string& style = "e164");

// Syntax problems in every string inside `value`, as "JSON-Pointer: reason".
// `lint`: also what parses but is surely not meant (a default that reads as
// a misspelt filter, a date conversion strftime does not know): the config's
// check, not a stored version's.
std::vector<std::string> template_syntax_errors(const nlohmann::json& value, const std::string& pointer = "",
                                                bool lint = false);

// Placeholders whose first segment is none of `roots` (a misspelt
// "{{contcat.name}}" would otherwise fail only at run time), or that name a
// step ("{{steps.Offer.external_id}}") that is none of `steps`, as
// "JSON-Pointer: reason"; a default does not hide them. With `account` (the
// config's, fixed before any event), an "{{account.x}}" it lacks and no
// default covers too. With `absent` (root -> why), a variable under one of
// those roots that no default covers: the rule's events never have it (a
// schedule's event names no contact).
std::vector<std::string> unknown_template_variables(const nlohmann::json& value, const std::vector<std::string>& roots,
                                                    const std::vector<std::string>& steps = {},
                                                    const std::string& pointer = "",
                                                    const nlohmann::json* account = nullptr,
                                                    const std::map<std::string, std::string>* absent = nullptr);

bool has_placeholder(std::string_view text);

// Short names, as the reference CRMs write them: "{{Имя}}" is
// "{{contact.name}}". A placeholder that is a single name and none of `roots`
// becomes the path `variables` gives it; a name it does not know is a field
// of the contact ("{{Город}}" -> contact.fields.Город), or of the entity with
// the suffix _deal ("{{address_deal}}" -> entity.fields.address). Applied
// once, when the config is checked; defaults and filters are kept.
nlohmann::json expand_template_variables(const nlohmann::json& value,
                                         const std::map<std::string, std::string>& variables,
                                         const std::vector<std::string>& roots);
// The path a single name stands for, as above (filters read names so too).
std::string short_name_path(const std::string& name, const std::map<std::string, std::string>& variables);
// Имя, Клиент, Телефон (the account's), Название компании, Менеджер (the
// entity's responsible manager, else the contact's), name,
// phone, email; the config's "template_variables" add to and override them.
const std::map<std::string, std::string>& default_template_variables();

// The time zone a person's local times are in: the contact's own
// (contact.timezone), else the account's (account.timezone), else UTC.
std::string local_zone(const nlohmann::json& context);

}  // namespace sb
