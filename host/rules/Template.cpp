#include "rules/Template.h"

#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <optional>

#include "rules/Condition.h"
#include "util/JsonText.h"
#include "util/Text.h"
#include "util/Time.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {

// A filter after the path: {{path | name}} or {{path | name:"argument"}}.
struct Filter {
  std::string name;
  std::string argument;
};
constexpr const char* kFilterNames[] = {"date", "phone", "html", "raw", "default", "first_name", "last_name", "or"};

struct Placeholder {
  size_t begin = 0;  // offset of "{{"
  size_t end = 0;    // offset just past "}}"
  std::string path;
  std::optional<std::string> fallback;
  std::vector<Filter> filters;
  bool escapes_itself() const {
    return std::any_of(filters.begin(), filters.end(),
                       [](const Filter& f) { return f.name == "html" || f.name == "raw"; });
  }
};

std::string trim(std::string_view s) { return std::string(trim_blanks(s)); }

// `text` as a filter, if it is one.
std::optional<Filter> parse_filter(const std::string& text) {
  for (const char* name : kFilterNames) {
    const std::string_view n(name);
    if (text.compare(0, n.size(), n) != 0) continue;
    const std::string rest = trim(std::string_view(text).substr(n.size()));
    if (rest.empty()) return Filter{name, ""};
    if (rest.front() != ':') continue;
    const std::string argument = trim(std::string_view(rest).substr(1));
    if (argument.size() >= 2 && argument.front() == '"' && argument.back() == '"')
      return Filter{name, argument.substr(1, argument.size() - 2)};
  }
  return std::nullopt;
}

// Where in a date format a conversion strftime does not know begins ("%Q"),
// or npos.
size_t unknown_conversion(const std::string& format) {
  static constexpr std::string_view kKnown = "aAbBcCdDeFgGhHIjmMnprRStTuUVwWxXyYzZ%";
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') continue;
    size_t at = i + 1;
    if (at < format.size() && (format[at] == 'E' || format[at] == 'O')) ++at;  // the locale's alternatives
    if (at >= format.size() || kKnown.find(format[at]) == std::string_view::npos) return i;
    i = at;
  }
  return std::string::npos;
}

// A default written as is that reads as a filter: one with an argument
// (`name:"..."`), or a name one edit from a filter's (two for the longer
// names): `{{contact.name|frist_name}}` would print the whole name, and
// `|date:"..."` misspelt a date's number. Why, if so.
std::optional<std::string> misspelt_filter(const std::string& first, std::string_view inner) {
  const size_t name_end = first.find_first_not_of("abcdefghijklmnopqrstuvwxyz_");
  if (name_end == 0) return std::nullopt;
  const std::string name = first.substr(0, name_end);
  const std::string rest = trim(std::string_view(first).substr(std::min(name_end, first.size())));
  const bool with_argument = !rest.empty() && rest.front() == ':' && rest.find('"') != std::string::npos;
  if (!rest.empty() && !with_argument) return std::nullopt;
  std::string closest;
  for (const char* known : kFilterNames) {
    const std::string k = known;
    if (edit_distance(name, k) <= (k.size() >= 6 ? 2u : 1u) && k.size() >= 4) closest = k;
  }
  if (!with_argument && closest.empty()) return std::nullopt;
  return "unknown filter '" + name + "' in '{{" + std::string(inner) + "}}'" +
         (closest.empty() ? "" : " (did you mean '" + closest + "'?)") +
         ": filters are date, phone, html, raw, first_name, last_name, or and default; a default text that reads "
         "as a filter's name is written default:\"" +
         name + "\"";
}

// Splits `text` into placeholders; returns the syntax error if any.
// `lint`: also what is valid but surely not meant (a misspelt filter taken
// for a default, a date conversion strftime does not know), which the
// config's check refuses and a render, or a stored version, lets be.
std::optional<std::string> parse(std::string_view text, std::vector<Placeholder>& out, bool lint = false) {
  size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string_view::npos) {
    const size_t close = text.find("}}", pos + 2);
    if (close == std::string_view::npos) return "unclosed '{{' at offset " + std::to_string(pos);
    std::string_view inner = text.substr(pos + 2, close - pos - 2);
    if (inner.find("{{") != std::string_view::npos) return "nested '{{' at offset " + std::to_string(pos);
    Placeholder p;
    p.begin = pos;
    p.end = close + 2;
    const size_t bar = inner.find('|');
    p.path = trim(inner.substr(0, bar));
    if (bar != std::string_view::npos) {
      // After the path: filters, or (when the first is none) a default
      // written as is ("{{Имя|клиент}}").
      const std::string rest = std::string(inner.substr(bar + 1));
      // Split at each '|' outside double quotes: default:"a|b" is one filter.
      std::vector<std::string> parts(1);
      bool quoted = false;
      for (const char c : rest) {
        if (c == '"') quoted = !quoted;
        if (c == '|' && !quoted)
          parts.emplace_back();
        else
          parts.back() += c;
      }
      for (std::string& part : parts) part = trim(part);
      if (!parse_filter(parts.front())) {
        if (lint)
          if (auto why = misspelt_filter(parts.front(), inner)) return why;
        p.fallback = trim(rest);
      } else {
        for (const auto& part : parts) {
          auto filter = parse_filter(part);
          if (!filter)
            return "unknown filter '" + part + "' in '{{" + std::string(inner) +
                   "}}': filters are date, phone, html, raw, first_name, last_name, or and default (with an argument "
                   "in double quotes: date:\"%d.%m.%Y\", or:\"contact.responsible.0.name\")";
          if (lint && filter->name == "date")
            if (const size_t bad = unknown_conversion(filter->argument); bad != std::string::npos)
              return "'" + filter->argument.substr(bad, 2) + "' in '{{" + std::string(inner) +
                     "}}' is not a date conversion (%d.%m.%Y %H:%M, %A, %B, %e, %j ...): it would print as is";
          if (filter->name == "default") p.fallback = filter->argument;
          if (filter->name == "or") filter->argument = trim(filter->argument);
          if (filter->name == "or" && filter->argument.empty())
            return "'or' in '{{" + std::string(inner) + "}}' needs the path to read instead, in double quotes";
          p.filters.push_back(std::move(*filter));
        }
      }
    }
    if (p.path.empty()) return "empty placeholder at offset " + std::to_string(pos);
    if (p.path.front() == '.' || p.path.back() == '.' || p.path.find("..") != std::string::npos)
      return "placeholder '" + p.path + "' has an empty path segment";
    out.push_back(std::move(p));
    pos = close + 2;
  }
  return std::nullopt;
}

std::string as_text(const json& v) { return v.is_string() ? v.get<std::string>() : dump_text(v); }

json apply_filter(const Filter& f, const Placeholder& p, const json& value, const json& context) {
  if (f.name == "date") {
    // A date alone is that day on the person's clock, shown without a time.
    const std::string zone = local_zone(context);
    const std::string text = value.is_string() ? value.get<std::string>() : "";
    const auto ms = parse_local_time_ms(text, zone);
    if (!ms)
      throw TemplateError(p.path, "template variable '" + p.path + "': " + as_text(value) +
                                      " is not a time (the date filter expects RFC 3339, a date alone, or a "
                                      "date and time on the person's clock)");
    const char* standard = is_date_only(text) ? "%d.%m.%Y" : "%d.%m.%Y %H:%M";
    return format_in_zone(*ms, zone, f.argument.empty() ? standard : f.argument);
  }
  if (f.name == "phone") {
    const json* country = lookup_path(context, "account.country");
    const std::string region = country && country->is_string() ? country->get<std::string>() : "";
    auto formatted = format_phone(as_text(value), region, f.argument.empty() ? "e164" : f.argument);
    if (!formatted)
      throw TemplateError(p.path, "template variable '" + p.path + "': '" + as_text(value) +
                                      "' is not a valid phone number" +
                                      (region.empty() ? " (no account.country for numbers without +)" : ""));
    return *formatted;
  }
  if (f.name == "html") return escape_html(as_text(value));
  if (f.name == "first_name" || f.name == "last_name") {
    // A name as one text ("Анна Петрова"): its first word, or the rest.
    const std::string name = trim(as_text(value));
    const size_t space = name.find(' ');
    if (f.name == "first_name") return name.substr(0, space);
    return space == std::string::npos ? std::string() : trim(std::string_view(name).substr(space));
  }
  return value;  // raw, default, or: nothing to do here
}

json render_string(const std::string& text, const json& context, bool html_target) {
  std::vector<Placeholder> placeholders;
  if (auto error = parse(text, placeholders)) throw TemplateError("", "template '" + text + "': " + *error);
  if (placeholders.empty()) return text;
  auto value_of = [&](const Placeholder& p) -> json {
    const auto fallback = [&] {
      return html_target && !p.escapes_itself() ? json(escape_html(*p.fallback)) : json(*p.fallback);
    };
    const auto blank = [](const json& v) { return v.is_string() && trim(v.get_ref<const std::string&>()).empty(); };
    const json* found = lookup_path(context, p.path);
    // Missing or empty: the paths its "or" filters name, in turn.
    for (const Filter& f : p.filters)
      if (f.name == "or" && (!found || found->is_null() || blank(*found)))
        if (const json* other = lookup_path(context, f.argument); other && !other->is_null()) found = other;
    if (!found || found->is_null()) {
      if (!p.fallback) throw TemplateError(p.path, "template variable '" + p.path + "' has no value in this event");
      return fallback();
    }
    // A default covers an empty value too (a CRM sends "" for a name it
    // lacks), before filters that would refuse it and after those that
    // make one ({{firstName|друг}} of a one-word name's last part).
    if (p.fallback && blank(*found)) return fallback();
    json value = *found;
    for (const Filter& f : p.filters) value = apply_filter(f, p, value, context);
    if (p.fallback && blank(value)) return fallback();
    // Where the target is HTML, what the event says is text, never markup.
    if (html_target && !p.escapes_itself() && !value.is_number() && !value.is_boolean())
      value = escape_html(as_text(value));
    return value;
  };
  if (placeholders.size() == 1 && placeholders[0].begin == 0 && placeholders[0].end == text.size())
    return value_of(placeholders[0]);
  std::string out;
  size_t last = 0;
  for (const auto& p : placeholders) {
    out.append(text, last, p.begin - last);
    out += as_text(value_of(p));
    last = p.end;
  }
  out.append(text, last, std::string::npos);
  return out;
}

json render(const json& value, const json& context, const std::set<std::string>& html_targets,
            const std::string& pointer) {
  if (value.is_string()) {
    try {
      return render_string(value.get<std::string>(), context, html_targets.count(pointer) > 0);
    } catch (const TemplateError& e) {
      // Said where it is: "/subject: template variable 'contact.name' has no value in this event".
      if (pointer.empty()) throw;
      throw TemplateError(e.variable(), pointer + ": " + e.what());
    }
  }
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : value.items())
      out[k] = render(v, context, html_targets, pointer + "/" + escape_pointer_token(k));
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (size_t i = 0; i < value.size(); ++i)
      out.push_back(render(value[i], context, html_targets, pointer + "/" + std::to_string(i)));
    return out;
  }
  return value;
}

void collect_html_targets(const json& schema, const std::string& pointer, std::set<std::string>& out) {
  if (!schema.is_object()) return;
  if (schema.value("contentMediaType", "") == "text/html") out.insert(pointer);
  if (schema.contains("properties") && schema["properties"].is_object())
    for (const auto& [name, sub] : schema["properties"].items())
      collect_html_targets(sub, pointer + "/" + escape_pointer_token(name), out);
}

}  // namespace

std::string local_zone(const json& context) {
  for (const char* path : {"contact.timezone", "account.timezone"})
    if (const json* zone = lookup_path(context, path);
        zone && zone->is_string() && is_time_zone(zone->get<std::string>()))
      return zone->get<std::string>();
  return "UTC";
}

bool has_placeholder(std::string_view text) { return text.find("{{") != std::string_view::npos; }

const std::map<std::string, std::string>& default_template_variables() {
  static const std::map<std::string, std::string> defaults = {
      {"Имя", "contact.name"},
      {"Клиент", "contact.name"},
      {"Телефон", "account.phone"},
      {"Название компании", "account.name"},
      {"Менеджер", "entity.responsible.0.name|or:\"contact.responsible.0.name\""},
      // A booking's time ("запись завтра в {{Время}}"), else the event's
      // ("зарегистрировался {{Дата}}"), in the contact's zone.
      {"Дата", "entity.fields.starts_at|or:\"event.time\"|date:\"%d.%m.%Y\""},
      {"Время", "entity.fields.starts_at|or:\"event.time\"|date:\"%H:%M\""},
      // The booking's, else a field of the contact's own by that name (what
      // these names read before they were built in).
      {"Услуга", "entity.fields.service|or:\"contact.fields.Услуга\""},
      {"Специалист", "entity.fields.specialist|or:\"entity.responsible.0.name\"|or:\"contact.fields.Специалист\""},
      {"name", "contact.name"},
      {"phone", "contact.phones.0.number"},
      {"email", "contact.emails.0.address"},
      {"firstName", "contact.name|first_name"},
      {"lastName", "contact.name|last_name"}};
  return defaults;
}

std::string short_name_path(const std::string& name, const std::map<std::string, std::string>& variables) {
  if (auto it = variables.find(name); it != variables.end()) return it->second;
  if (name.size() > 5 && name.compare(name.size() - 5, 5, "_deal") == 0)
    return "entity.fields." + name.substr(0, name.size() - 5);
  return "contact.fields." + name;
}

json expand_template_variables(const json& value, const std::map<std::string, std::string>& variables,
                               const std::vector<std::string>& roots) {
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : value.items()) out[k] = expand_template_variables(v, variables, roots);
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& v : value) out.push_back(expand_template_variables(v, variables, roots));
    return out;
  }
  if (!value.is_string()) return value;
  const std::string text = value.get<std::string>();
  std::vector<Placeholder> placeholders;
  if (parse(text, placeholders)) return value;  // a syntax error, reported as such
  std::string out;
  size_t last = 0;
  for (const auto& p : placeholders) {
    if (p.path.find('.') != std::string::npos || std::find(roots.begin(), roots.end(), p.path) != roots.end()) continue;
    const std::string path = short_name_path(p.path, variables);
    const std::string inner = text.substr(p.begin + 2, p.end - p.begin - 4);
    const size_t bar = inner.find('|');
    std::string after = bar == std::string::npos ? "" : inner.substr(bar);
    // A name whose path has filters of its own ({{firstName}}): a plain
    // default after it ({{firstName|клиент}}, the whole rest as for any
    // name) is written as the filter; filters after it stay filters.
    if (path.find('|') != std::string::npos && !after.empty() &&
        !parse_filter(trim(std::string_view(after).substr(1, after.find('|', 1) - 1))))
      after = "|default:\"" + trim(std::string_view(after).substr(1)) + "\"";
    out.append(text, last, p.begin - last);
    out += "{{" + path + after + "}}";
    last = p.end;
  }
  out.append(text, last, std::string::npos);
  return out;
}

json render_template(const json& value, const json& context, const std::set<std::string>& html_targets) {
  return render(value, context, html_targets, "");
}

std::set<std::string> html_targets(const json& schema) {
  std::set<std::string> out;
  collect_html_targets(schema, "", out);
  return out;
}

std::optional<std::string> format_phone(const std::string& text, const std::string& region, const std::string& style) {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (util.Parse(text, region.empty() ? "ZZ" : region, &number) != PhoneNumberUtil::NO_PARSING_ERROR ||
      !util.IsValidNumber(number))
    return std::nullopt;
  const auto format = style == "national"        ? PhoneNumberUtil::NATIONAL
                      : style == "international" ? PhoneNumberUtil::INTERNATIONAL
                                                 : PhoneNumberUtil::E164;
  std::string out;
  util.Format(number, format, &out);
  return out;
}

std::vector<std::string> unknown_template_variables(const json& value, const std::vector<std::string>& roots,
                                                    const std::vector<std::string>& steps, const std::string& pointer,
                                                    const json* account,
                                                    const std::map<std::string, std::string>* absent) {
  auto list = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? std::string("none") : out;
  };
  auto known = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  std::vector<std::string> out;
  if (value.is_string()) {
    std::vector<Placeholder> placeholders;
    if (parse(value.get<std::string>(), placeholders)) return out;  // a syntax error, reported as such
    // A default covers a missing value, not a misspelt path: checked too,
    // as is each path an "or" reads instead.
    // A path of a root that is absent here is covered by a default, or by
    // another of its placeholder's paths ({{Менеджер}}: the entity's
    // manager, or the contact's) that is not.
    const auto absent_here = [&](const std::string& path) {
      return absent && absent->count(trim(std::string_view(path).substr(0, path.find('.'))));
    };
    bool covered = false;
    const auto check = [&](const std::string& path, bool has_default) {
      const size_t dot = path.find('.');
      const std::string root = trim(std::string_view(path).substr(0, dot));
      const auto never = absent ? absent->find(root) : std::map<std::string, std::string>::const_iterator();
      if (!known(roots, root)) {
        out.push_back(pointer + ": unknown variable '" + path + "': a variable starts with " + list(roots));
      } else if (absent && never != absent->end() && !has_default && !covered) {
        out.push_back(pointer + ": '" + path + "' never has a value here: " + never->second + " (give a default: {{" +
                      path + "|...}})");
      } else if (root == "account" && account && !has_default) {
        const std::string rest = dot == std::string::npos ? "" : trim(std::string_view(path).substr(dot + 1));
        if (!rest.empty() && !lookup_path(*account, rest))
          out.push_back(pointer + ": '" + path +
                        "' is not in the config's \"account\": give it there, or a default ({{" + path + "|...}})");
      } else if (root == "steps") {
        const std::string rest = dot == std::string::npos ? "" : path.substr(dot + 1);
        const std::string step = trim(std::string_view(rest).substr(0, rest.find('.')));
        if (!known(steps, step)) {
          // An unnamed step goes by its action ("sms.send"), which a path
          // cannot spell: only names without a dot are offered.
          std::vector<std::string> readable;
          for (const auto& name : steps)
            if (name.find('.') == std::string::npos) readable.push_back(name);
          out.push_back(pointer + ": unknown step '" + step + "' in '" + path + "': " +
                        (readable.empty() ? std::string("this rule names none of its steps")
                                          : "this rule's named steps are " + list(readable)) +
                        " (a step's \"name\": \"Offer\" is read as steps.Offer.external_id)");
        }
      }
    };
    for (const auto& p : placeholders) {
      covered = !absent_here(p.path);
      for (const Filter& f : p.filters) covered = covered || (f.name == "or" && !absent_here(f.argument));
      check(p.path, p.fallback.has_value());
      for (const Filter& f : p.filters)
        if (f.name == "or") {
          if (f.argument.front() == '.' || f.argument.back() == '.' || f.argument.find("..") != std::string::npos)
            out.push_back(pointer + ": '" + f.argument + "' (after or) has an empty path segment");
          else
            check(f.argument, p.fallback.has_value());
        }
    }
  } else if (value.is_object()) {
    for (const auto& [k, v] : value.items()) {
      auto more = unknown_template_variables(v, roots, steps, pointer + "/" + escape_pointer_token(k), account, absent);
      out.insert(out.end(), more.begin(), more.end());
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      auto more =
          unknown_template_variables(value[i], roots, steps, pointer + "/" + std::to_string(i), account, absent);
      out.insert(out.end(), more.begin(), more.end());
    }
  }
  return out;
}

std::vector<std::string> template_syntax_errors(const json& value, const std::string& pointer, bool lint) {
  std::vector<std::string> out;
  if (value.is_string()) {
    std::vector<Placeholder> placeholders;
    if (auto error = parse(value.get<std::string>(), placeholders, lint)) out.push_back(pointer + ": " + *error);
  } else if (value.is_object()) {
    for (const auto& [k, v] : value.items()) {
      auto more = template_syntax_errors(v, pointer + "/" + escape_pointer_token(k), lint);
      out.insert(out.end(), more.begin(), more.end());
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      auto more = template_syntax_errors(value[i], pointer + "/" + std::to_string(i), lint);
      out.insert(out.end(), more.begin(), more.end());
    }
  }
  return out;
}

}  // namespace sb
