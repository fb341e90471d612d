#include "post_request.h"

#include <algorithm>
#include <switchboard/plugin.hpp>

#include "standard_webhooks.h"
#include "url.h"

namespace http_plugin {

namespace {

using nlohmann::json;
using switchboard_plugins::is_absolute_url;
using switchboard_plugins::join;
using switchboard_plugins::origin;
using switchboard_plugins::shown_origin;

constexpr std::string_view kMethods[] = {"POST", "PUT", "PATCH", "DELETE", "GET"};

bool equals_ignore_case(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

// Replaces every header of the same name (in any case) so that exactly one is sent.
void set_header(std::vector<PostRequest::Header>& headers, PostRequest::Header header) {
  std::erase_if(headers, [&](const PostRequest::Header& h) { return equals_ignore_case(h.name, header.name); });
  headers.push_back(std::move(header));
}

bool has_header(const std::vector<PostRequest::Header>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const PostRequest::Header& h) { return equals_ignore_case(h.name, name); });
}

const json* find(const json& params, const char* key) {
  auto it = params.find(key);
  return it == params.end() ? nullptr : &*it;
}

// The instance's base_url confines its headers (often credentials) to one
// origin: parameters may be rendered from event data, and must not be able to
// send them elsewhere.
std::string resolve_url(const HttpConfig& config, const json* url_param) {
  if (url_param && !url_param->is_string()) throw InvalidParams("'url' must be a string");
  const std::string url = url_param ? url_param->get<std::string>() : std::string();
  if (config.base_url.empty()) {
    if (url.empty()) throw InvalidParams("'url' is required: the instance has no base_url");
    if (!is_absolute_url(url))
      throw InvalidParams("'url' must be an absolute http(s) URL: the instance has no base_url");
    return url;
  }
  if (url.empty()) return config.base_url;
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    if (!is_absolute_url(url)) throw InvalidParams("'url' is not a valid http(s) URL");
    if (origin(url) != origin(config.base_url))
      throw InvalidParams("'url' must be on the origin of the instance's base_url (" + shown_origin(config.base_url) +
                          ")");
    return url;
  }
  const std::string joined = join(config.base_url, url);
  if (!is_absolute_url(joined)) throw InvalidParams("'url' must not contain spaces or control characters");
  return joined;
}

}  // namespace

PostRequest PostRequest::from_params(const HttpConfig& config, std::string_view params_json,
                                     std::string_view idempotency_key) {
  const json params = json::parse(params_json, nullptr, false);
  if (params.is_discarded()) throw InvalidParams("the parameters are not valid JSON");
  if (!params.is_object()) throw InvalidParams("the parameters must be a JSON object");

  PostRequest out;
  out.url = resolve_url(config, find(params, "url"));

  if (const json* method = find(params, "method")) {
    if (!method->is_string() ||
        std::find(std::begin(kMethods), std::end(kMethods), method->get<std::string>()) == std::end(kMethods))
      throw InvalidParams("'method' must be one of POST, PUT, PATCH, DELETE, GET");
    out.method = method->get<std::string>();
  }

  out.timeout_ms = config.timeout_ms;
  if (const json* timeout = find(params, "timeout_ms")) {
    if (!timeout->is_number_integer() || timeout->get<int64_t>() < 1 || timeout->get<int64_t>() > 600000)
      throw InvalidParams("'timeout_ms' must be an integer from 1 to 600000");
    out.timeout_ms = timeout->get<uint32_t>();
  }

  for (const auto& [name, value] : config.headers) set_header(out.headers, {name, value, true});
  if (const json* headers = find(params, "headers")) {
    if (!headers->is_object()) throw InvalidParams("'headers' must be an object of strings");
    for (const auto& [name, value] : headers->items()) {
      if (!valid_header_name(name)) throw InvalidParams("'headers' has an invalid header name '" + name + "'");
      // The request's own framing and target are the host's to write: a
      // Host would send the instance's credentials to another virtual host.
      for (const char* framing : {"host", "content-length", "transfer-encoding", "connection"})
        if (equals_ignore_case(name, framing))
          throw InvalidParams("'headers' may not set '" + name + "': the host writes it");
      if (!value.is_string() || !valid_header_value(value.get_ref<const std::string&>()))
        throw InvalidParams("'headers/" + name + "' must be a string without CR, LF or NUL");
      set_header(out.headers, {name, value.get<std::string>(), false});
    }
  }

  if (const json* body = find(params, "body"); body && !body->is_null()) {
    // A GET carries no body (RFC 9110 gives it no meaning, and the host's
    // client sends none): said now rather than dropped.
    if (out.method == "GET") throw InvalidParams("'body' goes with POST, PUT, PATCH or DELETE, not GET");
    out.body = *body;
    if (!has_header(out.headers, "Content-Type")) set_header(out.headers, {"Content-Type", "application/json", false});
  }

  // The key is stable across retries of this step: the receiver can drop
  // duplicates. It replaces any key the config or parameters set.
  out.idempotency_key = std::string(idempotency_key);
  if (!out.idempotency_key.empty()) set_header(out.headers, {"Idempotency-Key", out.idempotency_key, false});
  return out;
}

// The body's bytes as they are sent (and signed).
std::string PostRequest::body_text() const {
  return body ? body->dump(-1, ' ', false, json::error_handler_t::replace) : std::string();
}

void PostRequest::sign(std::string_view key, int64_t now_s) {
  const std::string timestamp = std::to_string(now_s);
  set_header(headers, {"webhook-id", idempotency_key, false});
  set_header(headers, {"webhook-timestamp", timestamp, false});
  set_header(headers,
             {"webhook-signature", standard_webhooks::sign(key, idempotency_key, timestamp, body_text()), false});
}

switchboard::HttpRequest PostRequest::to_http_request() const {
  switchboard::HttpRequest request;
  request.method = method;
  request.url = url;
  for (const Header& h : headers) request.headers.emplace_back(h.name, h.value);
  if (body) request.body = body_text();
  request.timeout_ms = timeout_ms;
  return request;
}

json PostRequest::to_outbox_record() const {
  json record_headers = json::object();
  for (const Header& h : headers) record_headers[h.name] = h.from_config ? std::string("[redacted]") : h.value;
  return json{{"channel", "http"},
              {"action", "post"},
              {"method", method},
              {"url", url},
              {"headers", std::move(record_headers)},
              {"body", body.value_or(json())},
              {"idempotency_key", idempotency_key}};
}

}  // namespace http_plugin
