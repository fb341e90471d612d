#include "rules/Template.h"

#include <algorithm>
#include <optional>

#include "rules/Condition.h"
#include "util/JsonText.h"
#include "util/Text.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {

struct Placeholder {
  size_t begin = 0;  // offset of "{{"
  size_t end = 0;    // offset just past "}}"
  std::string path;
  std::optional<std::string> fallback;
};

std::string trim(std::string_view s) { return std::string(trim_blanks(s)); }

// Splits `text` into placeholders; returns the syntax error if any.
std::optional<std::string> parse(std::string_view text, std::vector<Placeholder>& out) {
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
    if (bar != std::string_view::npos) p.fallback = trim(inner.substr(bar + 1));
    if (p.path.empty()) return "empty placeholder at offset " + std::to_string(pos);
    if (p.path.front() == '.' || p.path.back() == '.' || p.path.find("..") != std::string::npos)
      return "placeholder '" + p.path + "' has an empty path segment";
    out.push_back(std::move(p));
    pos = close + 2;
  }
  return std::nullopt;
}

std::string as_text(const json& v) { return v.is_string() ? v.get<std::string>() : dump_text(v); }

json render_string(const std::string& text, const json& context) {
  std::vector<Placeholder> placeholders;
  if (auto error = parse(text, placeholders)) throw TemplateError("", "template '" + text + "': " + *error);
  if (placeholders.empty()) return text;
  auto value_of = [&](const Placeholder& p) -> json {
    if (const json* v = lookup_path(context, p.path)) return *v;
    if (p.fallback) return *p.fallback;
    throw TemplateError(p.path, "template variable '" + p.path + "' has no value in this event");
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

}  // namespace

std::string local_zone(const json& context) {
  for (const char* path : {"contact.timezone", "account.timezone"})
    if (const json* zone = lookup_path(context, path);
        zone && zone->is_string() && is_time_zone(zone->get<std::string>()))
      return zone->get<std::string>();
  return "UTC";
}

bool has_placeholder(std::string_view text) { return text.find("{{") != std::string_view::npos; }

json render_template(const json& value, const json& context) {
  if (value.is_string()) return render_string(value.get<std::string>(), context);
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : value.items()) out[k] = render_template(v, context);
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& v : value) out.push_back(render_template(v, context));
    return out;
  }
  return value;
}

std::vector<std::string> unknown_template_variables(const json& value, const std::vector<std::string>& roots,
                                                    const std::vector<std::string>& steps, const std::string& pointer) {
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
    for (const auto& p : placeholders) {
      if (p.fallback) continue;
      const size_t dot = p.path.find('.');
      const std::string root = trim(std::string_view(p.path).substr(0, dot));
      if (!known(roots, root)) {
        out.push_back(pointer + ": unknown variable '" + p.path + "': a variable starts with " + list(roots));
      } else if (root == "steps") {
        const std::string rest = dot == std::string::npos ? "" : p.path.substr(dot + 1);
        const std::string step = trim(std::string_view(rest).substr(0, rest.find('.')));
        if (!known(steps, step))
          out.push_back(pointer + ": unknown step '" + step + "' in '" + p.path + "': this rule's steps are " +
                        list(steps));
      }
    }
  } else if (value.is_object()) {
    for (const auto& [k, v] : value.items()) {
      auto more = unknown_template_variables(v, roots, steps, pointer + "/" + escape_pointer_token(k));
      out.insert(out.end(), more.begin(), more.end());
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      auto more = unknown_template_variables(value[i], roots, steps, pointer + "/" + std::to_string(i));
      out.insert(out.end(), more.begin(), more.end());
    }
  }
  return out;
}

std::vector<std::string> template_syntax_errors(const json& value, const std::string& pointer) {
  std::vector<std::string> out;
  if (value.is_string()) {
    std::vector<Placeholder> placeholders;
    if (auto error = parse(value.get<std::string>(), placeholders)) out.push_back(pointer + ": " + *error);
  } else if (value.is_object()) {
    for (const auto& [k, v] : value.items()) {
      auto more = template_syntax_errors(v, pointer + "/" + escape_pointer_token(k));
      out.insert(out.end(), more.begin(), more.end());
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      auto more = template_syntax_errors(value[i], pointer + "/" + std::to_string(i));
      out.insert(out.end(), more.begin(), more.end());
    }
  }
  return out;
}

}  // namespace sb
