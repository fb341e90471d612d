#include "url.h"

#include <algorithm>

namespace switchboard_plugins {

namespace {

std::string_view scheme_of(std::string_view url) {
  for (std::string_view scheme : {"http://", "https://"})
    if (url.substr(0, scheme.size()) == scheme) return scheme;
  return {};
}

std::string_view authority_of(std::string_view url) {
  url.remove_prefix(scheme_of(url).size());
  return url.substr(0, url.find_first_of("/?#"));
}

bool is_printable(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }

}  // namespace

bool is_absolute_url(std::string_view url) {
  return !scheme_of(url).empty() && !authority_of(url).empty() && std::all_of(url.begin(), url.end(), is_printable);
}

bool is_base_url(std::string_view url) { return is_absolute_url(url) && url.find_first_of("?#") == url.npos; }

std::string origin(std::string_view url) {
  std::string out(scheme_of(url));
  out.append(authority_of(url));
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

std::string shown_origin(std::string_view url) {
  const std::string_view scheme = scheme_of(url);
  std::string_view authority = authority_of(url);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  } else if (authority.find(':') != std::string_view::npos &&
             url.substr(0, url.find_first_of("?#")).find('@', scheme.size()) != std::string_view::npos) {
    // "user:pa/ss@host" or "host:8443/@me": which is the host is not sure; the user's password may be in it.
    return std::string(scheme) + "...";
  }
  return origin(std::string(scheme).append(authority));
}

std::string join(std::string_view base_url, std::string_view path) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::string out(base_url);
  out.append("/").append(path);
  return out;
}

}  // namespace switchboard_plugins
