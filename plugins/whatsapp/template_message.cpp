#include "template_message.h"

#include <regex>
#include <set>

namespace whatsapp {

using nlohmann::json;

namespace {

bool is_text(const json& params, const char* key) {
  const auto it = params.find(key);
  return it != params.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

// The body's values: a list fills {{1}}, {{2}} ...; an object fills named
// parameters ({{first_name}}: lower-case letters, digits and underscores).
std::string body_component(const json& values, json& components) {
  json parameters = json::array();
  if (values.is_array()) {
    for (const json& v : values) {
      if (!v.is_string()) return "'body_parameters' must be strings";
      parameters.push_back({{"type", "text"}, {"text", v}});
    }
  } else if (values.is_object()) {
    static const std::regex kName("^[a-z0-9_]+$");
    for (const auto& [name, v] : values.items()) {
      if (!std::regex_match(name, kName))
        return "'body_parameters' name '" + name +
               "': lower-case letters, digits and underscores, as the template has it";
      if (!v.is_string()) return "'body_parameters' must be strings";
      parameters.push_back({{"type", "text"}, {"parameter_name", name}, {"text", v}});
    }
  } else {
    return "'body_parameters' must be a list of values, or an object of named values";
  }
  if (!parameters.empty()) components.push_back({{"type", "body"}, {"parameters", std::move(parameters)}});
  return "";
}

// The header's one value: {"text"}, {"image"|"video"|"document": {"url"|"media_id", "filename"?}},
// or {"location": {"latitude", "longitude", "name"?, "address"?}}.
std::string header_component(const json& header, json& components) {
  if (!header.is_object() || header.size() != 1)
    return "'header' must name one value: text, image, video, document or location";
  // (Not a structured binding of items(): its proxy is a temporary.)
  const auto only = header.begin();
  const std::string kind = only.key();
  const json& value = only.value();
  json parameter{{"type", kind}};
  if (kind == "text") {
    if (!value.is_string() || value.get_ref<const std::string&>().empty())
      return "'header.text' must be a non-empty string";
    parameter["text"] = value;
  } else if (kind == "image" || kind == "video" || kind == "document") {
    if (!value.is_object() || is_text(value, "url") == is_text(value, "media_id"))
      return "'header." + kind + "' needs its 'url' or its uploaded 'media_id', one of them";
    json media{{is_text(value, "url") ? "link" : "id", is_text(value, "url") ? value["url"] : value["media_id"]}};
    if (value.contains("filename")) {
      if (kind != "document" || !is_text(value, "filename"))
        return "'header." + kind + ".filename' goes with a document";
      media["filename"] = value["filename"];
    }
    parameter[kind] = std::move(media);
  } else if (kind == "location") {
    if (!value.is_object() || !value.contains("latitude") || !value.contains("longitude") ||
        !value["latitude"].is_number() || !value["longitude"].is_number())
      return "'header.location' needs its 'latitude' and 'longitude' (numbers)";
    const double latitude = value["latitude"], longitude = value["longitude"];
    if (latitude < -90 || latitude > 90 || longitude < -180 || longitude > 180)
      return "'header.location': latitude within ±90, longitude within ±180";
    json location{{"latitude", latitude}, {"longitude", longitude}};
    for (const char* key : {"name", "address"})
      if (is_text(value, key)) location[key] = value[key];
    parameter["location"] = std::move(location);
  } else {
    return "'header' must name one value: text, image, video, document or location";
  }
  components.push_back({{"type", "header"}, {"parameters", json::array({std::move(parameter)})}});
  return "";
}

// A button's value, at its place in the template (index 0 to 9): a quick
// reply's payload (what the tap sends back), a URL button's suffix, a
// copy-code button's coupon code (at most 15 characters).
std::string button_components(const json& buttons, json& components) {
  if (!buttons.is_array()) return "'buttons' must be a list";
  std::set<int> indexes;
  for (const json& b : buttons) {
    if (!b.is_object() || !b.contains("index") || !b["index"].is_number_integer() || b["index"] < 0 || b["index"] > 9)
      return "each of 'buttons' needs its 'index' in the template, 0 to 9";
    const int index = b["index"];
    if (!indexes.insert(index).second) return "'buttons': index " + std::to_string(index) + " is given twice";
    const std::string type = b.value("type", "");
    json parameter;
    if (type == "quick_reply" && is_text(b, "payload")) {
      parameter = {{"type", "payload"}, {"payload", b["payload"]}};
    } else if (type == "url" && is_text(b, "text")) {
      parameter = {{"type", "text"}, {"text", b["text"]}};
    } else if (type == "copy_code" && is_text(b, "coupon_code")) {
      size_t characters = 0;
      for (const unsigned char c : b["coupon_code"].get_ref<const std::string&>()) characters += (c & 0xC0) != 0x80;
      if (characters > 15) return "'buttons': a coupon code has at most 15 characters";
      parameter = {{"type", "coupon_code"}, {"coupon_code", b["coupon_code"]}};
    } else {
      return "'buttons' " + std::to_string(index) +
             ": a quick_reply with its 'payload', a url with its 'text' (the link's end), or a copy_code with its "
             "'coupon_code'";
    }
    components.push_back({{"type", "button"},
                          {"sub_type", type},
                          {"index", std::to_string(index)},
                          {"parameters", json::array({std::move(parameter)})}});
  }
  return "";
}

}  // namespace

std::string template_object(const json& params, json& out) {
  if (!is_text(params, "template") || !is_text(params, "language")) return "'template' and 'language' must be strings";
  json components = json::array();
  if (params.contains("header"))
    if (auto problem = header_component(params["header"], components); !problem.empty()) return problem;
  if (params.contains("body_parameters"))
    if (auto problem = body_component(params["body_parameters"], components); !problem.empty()) return problem;
  if (params.contains("buttons"))
    if (auto problem = button_components(params["buttons"], components); !problem.empty()) return problem;
  out = {{"name", params["template"]}, {"language", {{"code", params["language"]}}}};
  if (!components.empty()) out["components"] = std::move(components);
  return "";
}

}  // namespace whatsapp
