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

bool fetch_later(const nlohmann::json& item, const std::string& where, const std::vector<std::string>& origins,
                 std::vector<Attachment>& out, std::vector<UrlAttachment>& fetch, AttachmentError& error) {
  const nlohmann::json& url = item["url"];
  if (!url.is_string() || !switchboard_plugins::is_absolute_url(url.get<std::string>()))
    return fail(error, true, where + "/url: expected an absolute http(s) URL");
  const std::string origin = switchboard_plugins::origin(url.get<std::string>());
  if (std::find(origins.begin(), origins.end(), origin) == origins.end())
    return fail(error, true,
                where + "/url: " + switchboard_plugins::shown_origin(url.get<std::string>()) +
                    " is not one of the instance's 'attachment_origins'");
  const std::string name = item.contains("name") && item["name"].is_string() ? item["name"].get<std::string>()
                                                                             : name_in(url.get<std::string>());
  fetch.push_back({url.get<std::string>(), out.size(), where});
  out.push_back({name, content_type_for(name), ""});  // its place, until its bytes come
  return true;
}

}  // namespace

bool load_attachments(const nlohmann::json& list, const std::string& folder,
                      const std::vector<std::string>& url_origins, uint64_t max_total_bytes,
                      std::vector<Attachment>& out, std::vector<UrlAttachment>& fetch, AttachmentError& error) {
  if (list.is_null()) return true;
  if (!list.is_array()) return fail(error, true, "/attachments: expected an array");
  const bool files = std::any_of(list.begin(), list.end(),
                                 [](const nlohmann::json& item) { return !item.is_object() || !item.contains("url"); });
  if (files && folder.empty())
    return fail(error, true, "/attachments: the instance has no 'attachments_dir' to read files from");
  std::error_code ec;
  const fs::path root = fs::canonical(folder.empty() ? "." : folder, ec);
  if (ec && files) return fail(error, false, "the attachments folder '" + folder + "' does not exist");
  uint64_t total = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& item = list[i];
    const std::string where = "/attachments/" + std::to_string(i);
    if (item.is_object() && item.contains("url")) {
      if (!fetch_later(item, where, url_origins, out, fetch, error)) return false;
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
