#include "http/WireRequest.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <strings.h>

#include <memory>
#include <unordered_map>

namespace sb {

namespace {

// What an error about a URL curl could not read may show: its scheme. Where
// its host ends is not known (a password may hold an unencoded '/', '?' or
// '#'), and what comes before the host is the user and password.
std::string shown_scheme(const std::string& url) {
  const size_t scheme_end = url.find("://");
  return scheme_end == std::string::npos ? "(not an absolute URL)" : url.substr(0, scheme_end + 3) + "...";
}

struct UrlHandle {
  CURLU* url = curl_url();
  ~UrlHandle() { curl_url_cleanup(url); }
  // One part of the URL, or empty.
  std::string part(CURLUPart what, unsigned flags = 0) const {
    char* value = nullptr;
    if (curl_url_get(url, what, &value, flags) != CURLUE_OK || !value) return {};
    std::string s(value);
    curl_free(value);
    return s;
  }
};

bool is_token(const std::string& s) {
  if (s.empty()) return false;
  for (const char c : s)
    if (c <= ' ' || c >= 127 || std::string_view("\"(),/:;<=>?@[\\]{}").find(c) != std::string_view::npos) return false;
  return true;
}

bool has_line_break(const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; }

std::string base64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// What a request needs of its URL. Parsing one with libcurl cost more than
// the rest of the request's bytes; a provider's URL repeats, so each loop
// keeps the last ones it parsed.
struct ParsedUrl {
  std::string error;
  Origin origin;
  std::string host_header;
  std::string target;
  std::string authorization;  // from user:password in the URL, or empty
};

ParsedUrl parse_url(const std::string& text) {
  ParsedUrl out;
  UrlHandle url;
  if (!url.url || curl_url_set(url.url, CURLUPART_URL, text.c_str(), CURLU_GUESS_SCHEME) != CURLUE_OK) {
    out.error = "URL rejected: " + shown_scheme(text) + " is not a valid URL (check its user, password and host)";
    return out;
  }
  const std::string scheme = url.part(CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https") {
    out.error = "Unsupported protocol: " + scheme;
    return out;
  }
  out.origin.tls = scheme == "https";
  std::string host = url.part(CURLUPART_HOST);
  const std::string port = url.part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  const bool default_port = url.part(CURLUPART_PORT).empty() || port == (out.origin.tls ? "443" : "80");
  out.host_header = default_port ? host : host + ":" + port;
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  out.origin.host = host;
  out.origin.port = static_cast<uint16_t>(std::stoi(port));
  out.target = url.part(CURLUPART_PATH);
  if (out.target.empty()) out.target = "/";
  if (const std::string query = url.part(CURLUPART_QUERY); !query.empty()) out.target += "?" + query;
  if (const std::string user = url.part(CURLUPART_USER, CURLU_URLDECODE); !user.empty())
    out.authorization = "Basic " + base64(user + ":" + url.part(CURLUPART_PASSWORD, CURLU_URLDECODE));
  return out;
}

const ParsedUrl& parsed_url(const std::string& text) {
  constexpr size_t kKept = 256;  // URLs that carry data in their query do not repeat: start over
  thread_local std::unordered_map<std::string, ParsedUrl> kept;
  if (const auto it = kept.find(text); it != kept.end()) return it->second;
  if (kept.size() >= kKept) kept.clear();
  return kept.emplace(text, parse_url(text)).first->second;
}

}  // namespace

WireRequest to_wire(const OutboundRequest& request) {
  WireRequest wire;
  const ParsedUrl& url = parsed_url(request.url);
  if (!url.error.empty()) {
    wire.error = url.error;
    return wire;
  }
  if (!is_token(request.method)) {
    wire.error = "not an HTTP method: " + request.method;
    return wire;
  }
  wire.origin = url.origin;
  wire.head = request.method == "HEAD";
  const bool with_body = request.method != "GET" && !wire.head;

  auto given = [&](const char* name) {
    for (const auto& [n, v] : request.headers)
      if (strcasecmp(n.c_str(), name) == 0) return true;
    return false;
  };
  std::string& b = wire.bytes;
  b.reserve(160 + request.url.size() + request.body.size());
  b.append(request.method).append(" ").append(url.target).append(" HTTP/1.1\r\n");
  if (!given("Host")) b.append("Host: ").append(url.host_header).append("\r\n");
  if (!given("Authorization") && !url.authorization.empty())
    b.append("Authorization: ").append(url.authorization).append("\r\n");
  if (!given("Accept")) b.append("Accept: */*\r\n");
  for (const auto& [name, value] : request.headers) {
    if (value.empty() || strcasecmp(name.c_str(), "Content-Length") == 0 ||
        strcasecmp(name.c_str(), "Transfer-Encoding") == 0)
      continue;
    if (!is_token(name) || has_line_break(value)) {
      wire.error = "header not sent: " + name + " (a header's name is one token and its value one line)";
      wire.bytes.clear();
      return wire;
    }
    b.append(name).append(": ").append(value).append("\r\n");
  }
  if (with_body) {
    if (!given("Content-Type")) b.append("Content-Type: application/x-www-form-urlencoded\r\n");
    b.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n\r\n").append(request.body);
  } else {
    b.append("\r\n");
  }
  return wire;
}

}  // namespace sb
