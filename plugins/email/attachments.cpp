#include "attachments.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "url.h"

namespace email {

namespace fs = std::filesystem;

namespace {

bool fail(AttachmentError& error, bool bad_params, std::string message) {
  error = {bad_params, std::move(message)};
  return false;
}

// True when `path` is inside `folder` (both canonical).
bool inside(const fs::path& folder, const fs::path& path) {
  auto f = folder.begin();
  auto p = path.begin();
  for (; f != folder.end(); ++f, ++p)
    if (p == path.end() || *f != *p) return false;
  return p != path.end();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The URL's last path segment, percent-decoded: the name a browser would
// save it under ("%D0%A1%D1%87%D1%91%D1%82.pdf" is "Счёт.pdf").
std::string name_in(const std::string& url) {
  const std::string path = url.substr(0, url.find_first_of("?#"));
  const size_t slash = path.rfind('/');
  const std::string last = slash == std::string::npos || slash < path.find("//") + 2 ? "" : path.substr(slash + 1);
  std::string name;
  for (size_t i = 0; i < last.size(); ++i) {
    const int high = last[i] == '%' && i + 2 < last.size() ? hex_value(last[i + 1]) : -1;
    const int low = high >= 0 ? hex_value(last[i + 2]) : -1;
    if (low >= 0) {
      name += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      name += last[i];
    }
  }
  // A name that is a path, or holds a NUL, is no file name.
  const bool unusable = name.find_first_of(std::string("/\\\0", 3)) != std::string::npos;
  return name.empty() || unusable ? "attachment" : name;
}

// One attachment as the step gave it, where it is, and where its URL is.
struct Item {
  nlohmann::json item;
  std::string where, url_where;
};

bool fetch_later(const Item& one, const std::vector<std::string>& origins, std::vector<Attachment>& out,
                 std::vector<UrlAttachment>& fetch, AttachmentError& error) {
  const nlohmann::json& item = one.item;
  const std::string& where = one.where;
  const nlohmann::json& url = item["url"];
  if (!url.is_string() || !switchboard_plugins::is_absolute_url(url.get<std::string>()))
    return fail(error, true, one.url_where + ": expected an absolute http(s) URL");
  const std::string origin = switchboard_plugins::origin(url.get<std::string>());
  if (std::find(origins.begin(), origins.end(), origin) == origins.end())
    return fail(error, true,
                one.url_where + ": " + switchboard_plugins::shown_origin(url.get<std::string>()) +
                    " is not one of the instance's 'attachment_origins'");
  const std::string name = item.contains("name") && item["name"].is_string() ? item["name"].get<std::string>()
                                                                             : name_in(url.get<std::string>());
  fetch.push_back({url.get<std::string>(), out.size(), where});
  out.push_back({name, content_type_for(name), ""});  // its place, until its bytes come
  return true;
}

bool is_url(const std::string& text) {
  const auto starts = [&](const char* scheme) {
    const size_t n = std::char_traits<char>::length(scheme);
    if (text.size() < n) return false;
    for (size_t i = 0; i < n; ++i)
      if (std::tolower(static_cast<unsigned char>(text[i])) != scheme[i]) return false;
    return true;
  };
  return starts("http://") || starts("https://");
}

// The attachments one by one with where each is in the step's params: a
// string that is a URL is a file at it (a template giving a record's file
// field), and a "url" that is a list (a field holding several files) is a
// file at each of them.
std::vector<Item> one_by_one(const nlohmann::json& list) {
  std::vector<Item> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& item = list[i];
    const std::string where = "/attachments/" + std::to_string(i);
    if (item.is_string() && is_url(item.get<std::string>())) {
      out.push_back({nlohmann::json{{"url", item}}, where, where});
    } else if (item.is_object() && item.contains("url") && item["url"].is_array()) {
      const nlohmann::json& urls = item["url"];
      for (size_t j = 0; j < urls.size(); ++j) {
        nlohmann::json one{{"url", urls[j]}};
        if (urls.size() == 1 && item.contains("name")) one["name"] = item["name"];
        const std::string at = where + "/url/" + std::to_string(j);
        out.push_back({std::move(one), at, at});
      }
    } else {
      out.push_back({item, where, where + "/url"});
    }
  }
  return out;
}

}  // namespace

bool load_attachments(const nlohmann::json& list, const std::string& folder,
                      const std::vector<std::string>& url_origins, uint64_t max_total_bytes,
                      std::vector<Attachment>& out, std::vector<UrlAttachment>& fetch, AttachmentError& error) {
  if (list.is_null()) return true;
  if (!list.is_array()) return fail(error, true, "/attachments: expected an array");
  const auto items = one_by_one(list);
  const bool files = std::any_of(items.begin(), items.end(),
                                 [](const Item& i) { return !i.item.is_object() || !i.item.contains("url"); });
  if (files && folder.empty())
    return fail(error, true, "/attachments: the instance has no 'attachments_dir' to read files from");
  std::error_code ec;
  const fs::path root = fs::canonical(folder.empty() ? "." : folder, ec);
  if (ec && files) return fail(error, false, "the attachments folder '" + folder + "' does not exist");
  uint64_t total = 0;
  for (const Item& one : items) {
    const nlohmann::json& item = one.item;
    const std::string& where = one.where;
    if (item.is_object() && item.contains("url")) {
      if (!fetch_later(one, url_origins, out, fetch, error)) return false;
      continue;
    }
    const std::string file = item.is_string() ? item.get<std::string>()
                             : item.is_object() && item.contains("file") && item["file"].is_string()
                                 ? item["file"].get<std::string>()
                                 : "";
    if (file.empty()) return fail(error, true, where + ": expected a file name or {\"file\", \"name\"}");
    const fs::path relative(file);
    bool climbs = relative.is_absolute();
    for (const auto& part : relative) climbs = climbs || part == "..";
    const fs::path resolved = fs::weakly_canonical(root / relative, ec);
    if (climbs || ec || !inside(root, resolved))
      return fail(error, true, where + ": '" + file + "' is outside the attachments folder");
    if (!fs::is_regular_file(resolved, ec))
      return fail(error, false, where + ": '" + file + "' is not a file in the attachments folder");
    const uint64_t size = fs::file_size(resolved, ec);
    total += size;
    if (ec || total > max_total_bytes)
      return fail(error, true,
                  where + ": the attachments come to more than " + std::to_string(max_total_bytes) + " bytes");
    std::ifstream in(resolved, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return fail(error, false, where + ": '" + file + "' could not be read");
    const std::string name = item.is_object() && item.contains("name") && item["name"].is_string()
                                 ? item["name"].get<std::string>()
                                 : resolved.filename().string();
    out.push_back({name, content_type_for(name), std::move(bytes)});
  }
  return true;
}

}  // namespace email
