#include "interactive.h"

#include <cstddef>
#include <set>
#include <tuple>

namespace whatsapp {

using nlohmann::json;

namespace {

// Meta counts characters, not bytes.
size_t characters(const std::string& s) {
  size_t n = 0;
  for (const unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// A problem with the string at `name` in `params` (absent: "" when optional).
std::string text_problem(const json& params, const char* name, size_t most, bool required) {
  if (!params.contains(name)) return required ? "'" + std::string(name) + "' is required" : "";
  const json& v = params[name];
  if (!v.is_string() || v.get<std::string>().empty()) return "'" + std::string(name) + "' must be a non-empty string";
  if (characters(v.get<std::string>()) > most)
    return "'" + std::string(name) + "' is longer than WhatsApp shows (" + std::to_string(most) + " characters)";
  return "";
}

// The body, header and footer every interactive message has.
std::string frame(const json& params, size_t body_most, json& out) {
  for (const auto& [name, most, required] :
       {std::tuple{"text", body_most, true}, {"header", size_t{60}, false}, {"footer", size_t{60}, false}})
    if (std::string problem = text_problem(params, name, most, required); !problem.empty()) return problem;
  out["body"] = {{"text", params["text"]}};
  if (params.contains("header")) out["header"] = {{"type", "text"}, {"text", params["header"]}};
  if (params.contains("footer")) out["footer"] = {{"text", params["footer"]}};
  return "";
}

// An id Meta takes: not empty, within `most`, no spaces around it.
std::string id_problem(const std::string& id, const std::string& what, size_t most) {
  if (id.empty()) return what + ": the id is empty";
  if (characters(id) > most) return what + ": the id is longer than " + std::to_string(most) + " characters";
  if (id.front() == ' ' || id.back() == ' ') return what + ": the id has spaces around it";
  return "";
}

}  // namespace

std::string reply_buttons(const json& params, json& out) {
  json interactive{{"type", "button"}};
  if (std::string problem = frame(params, 1024, interactive); !problem.empty()) return problem;
  const json& buttons = params.value("buttons", json());
  if (!buttons.is_array() || buttons.empty() || buttons.size() > 3) return "'buttons' must list 1 to 3 buttons";
  json replies = json::array();
  std::set<std::string> ids, titles;
  for (size_t i = 0; i < buttons.size(); ++i) {
    const json& b = buttons[i];
    const std::string what = "button " + std::to_string(i + 1);
    const json& title = b.is_object() ? b.value("title", json()) : b;
    if (!title.is_string() || title.get<std::string>().empty()) return what + ": a title is required";
    if (characters(title.get<std::string>()) > 20) return what + ": the title is longer than 20 characters";
    // Without an id, the title is what comes back when it is tapped.
    const json& id = b.is_object() && b.contains("id") ? b["id"] : title;
    if (!id.is_string()) return what + ": the id must be a string";
    if (std::string problem = id_problem(id.get<std::string>(), what, 256); !problem.empty()) return problem;
    if (!titles.insert(title.get<std::string>()).second) return what + ": two buttons have this title";
    if (!ids.insert(id.get<std::string>()).second) return what + ": two buttons have this id";
    replies.push_back({{"type", "reply"}, {"reply", {{"id", id}, {"title", title}}}});
  }
  interactive["action"] = {{"buttons", std::move(replies)}};
  out = std::move(interactive);
  return "";
}

std::string list_of_rows(const json& params, json& out) {
  json interactive{{"type", "list"}};
  if (std::string problem = frame(params, 4096, interactive); !problem.empty()) return problem;
  if (std::string problem = text_problem(params, "button", 20, true); !problem.empty()) return problem;
  if (params.contains("rows") == params.contains("sections"))
    return "give the list's 'rows' or its 'sections', one of them";
  // Rows alone are one section without a title.
  const json sections = params.contains("rows") ? json::array({{{"rows", params["rows"]}}}) : params["sections"];
  if (!sections.is_array() || sections.empty() || sections.size() > 10) return "'sections' must list 1 to 10 sections";
  json built = json::array();
  std::set<std::string> ids;
  size_t rows_in_all = 0;
  for (size_t s = 0; s < sections.size(); ++s) {
    const json& section = sections[s];
    const std::string where = "section " + std::to_string(s + 1);
    if (!section.is_object() || !section.contains("rows") || !section["rows"].is_array() || section["rows"].empty())
      return where + ": 'rows' must list its rows";
    json out_section = json::object();
    if (section.contains("title")) {
      if (std::string problem = text_problem(section, "title", 24, true); !problem.empty())
        return where + ": " + problem;
      out_section["title"] = section["title"];
    } else if (sections.size() > 1) {
      return where + ": a list of several sections needs a title for each";
    }
    json rows = json::array();
    for (size_t r = 0; r < section["rows"].size(); ++r) {
      const json& row = section["rows"][r];
      const std::string what = where + ", row " + std::to_string(r + 1);
      const json& title = row.is_object() ? row.value("title", json()) : row;
      if (!title.is_string() || title.get<std::string>().empty()) return what + ": a title is required";
      if (characters(title.get<std::string>()) > 24) return what + ": the title is longer than 24 characters";
      const json& id = row.is_object() && row.contains("id") ? row["id"] : title;
      if (!id.is_string()) return what + ": the id must be a string";
      if (std::string problem = id_problem(id.get<std::string>(), what, 200); !problem.empty()) return problem;
      if (!ids.insert(id.get<std::string>()).second) return what + ": two rows have this id";
      json out_row{{"id", id}, {"title", title}};
      if (row.is_object() && row.contains("description")) {
        if (std::string problem = text_problem(row, "description", 72, true); !problem.empty())
          return what + ": " + problem;
        out_row["description"] = row["description"];
      }
      rows.push_back(std::move(out_row));
    }
    rows_in_all += rows.size();
    out_section["rows"] = std::move(rows);
    built.push_back(std::move(out_section));
  }
  if (rows_in_all > 10) return "a list shows at most 10 rows in all its sections";
  interactive["action"] = {{"button", params["button"]}, {"sections", std::move(built)}};
  out = std::move(interactive);
  return "";
}

}  // namespace whatsapp
