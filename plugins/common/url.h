// The little URL handling plugins need (the http action, email attachments
// by URL). The host's HTTP client does the real parsing; this only decides
// which URL a call may target.
#pragma once

#include <string>
#include <string_view>

namespace switchboard_plugins {

// "http://..." or "https://..." (the host's client takes lower-case schemes
// only) with a non-empty authority and no whitespace or control characters.
bool is_absolute_url(std::string_view url);

// An absolute URL without query or fragment, so that paths can be appended.
bool is_base_url(std::string_view url);

// "scheme://authority", lower-cased: two URLs with the same origin reach the
// same server. `url` must be absolute.
std::string origin(std::string_view url);

// The origin as an error message may show it: without the user and password
// the authority may carry (they are the instance's credentials).
std::string shown_origin(std::string_view url);

// `path` appended to `base_url` with exactly one '/' between them.
std::string join(std::string_view base_url, std::string_view path);

}  // namespace switchboard_plugins
