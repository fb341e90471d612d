// The "webhook" trigger plugin: every authentic POST of a JSON object to
// /webhooks/<path> becomes one event; the sender learns whether the host took
// it (respond = accepted) or how the rules it triggered ended (completed).
#include <openssl/crypto.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <switchboard/plugin.hpp>

#include "form_body.h"
#include "json_check.h"
#include "json_fields.h"
#include "standard_webhooks.h"
#include "webhook_config.h"
#include "webhook_schemas.h"

namespace webhook {

namespace {

using nlohmann::json;
using switchboard::EmitResult;
using switchboard::InboundRequest;
using switchboard::Responder;

constexpr std::string_view kJson = "application/json";

// Bodies deeper than this are refused: nlohmann::json serialises recursively,
// so an unbounded depth would let a sender exhaust an I/O thread's stack.
// The host takes 64 levels, and the body is one level inside the event.
constexpr int kMaxDepth = 63;

// Credentials never reach the event payload, where rules and logs could see them.
constexpr std::string_view kHiddenHeaders[] = {"authorization",     "proxy-authorization", "cookie",
                                               "webhook-signature", "svix-signature",      "x-hub-signature-256"};

// Headers, query and bodies come from outside and may hold invalid UTF-8:
// replace it instead of letting dump() throw.
using switchboard_plugins::dump;

std::string error_body(std::string_view code, std::string_view message) {
  return dump(json{{"error", {{"code", code}, {"message", message}}}});
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Leaks the token's length at most, never its bytes.
bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

json payload_headers(const InboundRequest& request) {
  json out = json::object();
  for (const auto& [key, value] : request.headers) {
    std::string name = lowercase(key);
    if (std::find(std::begin(kHiddenHeaders), std::end(kHiddenHeaders), name) != std::end(kHiddenHeaders)) continue;
    // A repeated header means the same as one with the values comma-joined (RFC 9110 5.3).
    auto it = out.find(name);
    if (it == out.end())
      out[name] = std::string(value);
    else
      it->get_ref<std::string&>().append(", ").append(value);
  }
  return out;
}

// Why the body cannot be an event's payload, or nothing.
std::optional<std::string> body_problem(std::string_view body) {
  const switchboard_plugins::JsonCheck check = switchboard_plugins::check_json(body, kMaxDepth);
  if (check.too_deep) return "nested deeper than " + std::to_string(kMaxDepth) + " levels";
  if (!check.valid) return check.error;
  if (!check.is_object) return std::string("expected a JSON object");
  return std::nullopt;
}

// The body without a UTF-8 byte order mark, which senders on Windows (1C,
// .NET's default encoder) put before JSON or a form: RFC 8259 lets a reader
// ignore it, and nothing else may start with those bytes.
std::string_view without_bom(std::string_view body) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  return body.substr(0, kBom.size()) == kBom ? body.substr(kBom.size()) : body;
}

// A Content-Type under which a JSON body may come: JSON's own, a
// "+json" type, text (curl --data-binary, navigator.sendBeacon), or none.
bool may_be_json(std::string_view content_type) {
  std::string type = lowercase(trim(content_type.substr(0, content_type.find(';'))));
  return type.empty() || type == kJson || type == "text/json" || type == "text/plain" ||
         (type.size() > 5 && type.ends_with("+json"));
}

// A refused request: the HTTP status, the {"error": ...} it answers with, and
// the header that tells the client what would be accepted.
struct Rejection {
  int status;
  std::string code;
  std::string message;
  Responder::Headers headers = {};
};

// The host refuses the event itself only for its id, which an event of
// another source holds: the sender's to change, not to retry (409). Anything
// else is the host's passing trouble (503).
void answer_not_taken(Responder& responder, const EmitResult& result) {
  const std::string message = result.message.empty() ? "the host did not take the event" : std::string(result.message);
  if (result.status == SB_ERR_INVALID_ARGUMENT) return responder.respond(409, kJson, error_body("id_taken", message));
  responder.respond(503, kJson, error_body("unavailable", message), {{"Retry-After", "1"}});
}

void answer_accepted(Responder& responder, const EmitResult& result) {
  if (result.status != SB_OK) return answer_not_taken(responder, result);
  responder.respond(202, kJson, dump(json{{"event_id", result.event_id}}));
}

// True for "{" followed by at least one member.
bool is_nonempty_object(std::string_view text) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return false;
  const size_t first = text.find_first_not_of(" \t\r\n", 1);
  return first != std::string_view::npos && text[first] != '}';
}

// 200 only when every execution the event started is "done": a sender that
// waits for completion wants to know that its event had its effect. The body
// is the host's report, passed on as it is, with the event id in front.
void answer_completed(Responder& responder, const EmitResult& result) {
  if (result.status != SB_OK) return answer_not_taken(responder, result);
  std::string body = R"({"event_id":)" + dump(json(result.event_id)) + ",";
  const std::string_view report = result.report_json;
  if (is_nonempty_object(report))
    body.append(report.substr(1));
  else
    body.append(R"("executions":[]})");
  responder.respond(result.all_done() ? 200 : 502, kJson, body);
}

}  // namespace

class WebhookTrigger : public switchboard::Plugin {
 public:
  WebhookTrigger(switchboard::Host& host, std::string_view config_json)
      : host_(host), config_(WebhookConfig::parse(config_json, host.instance_name())) {
    // The instance's own event types, beyond the trigger's "webhook.received".
    std::set<std::string> types{config_.event_type};
    for (const auto& [value, type] : config_.event_types) types.insert(type);
    for (const std::string& type : types)
      if (!host_.declare_event_type(type))
        throw switchboard::ConfigError("cannot declare the event type '" + type + "'");
    const std::string route = "/webhooks/" + config_.path;
    // Last in the constructor: nothing may throw once the route points at us.
    if (!host_.add_route(route, [this](const InboundRequest& request, Responder responder) {
          handle(request, std::move(responder));
        }))
      throw switchboard::ConfigError("cannot register route " + route +
                                     ": the path is taken by another instance or invalid");
  }

 private:
  void handle(const InboundRequest& request, Responder responder) {
    host_.count("webhook_requests_total");
    if (auto rejection = check(request)) return reject(*rejection, request, responder);
    // A form is read into the object it stands for; JSON is taken as it came.
    const std::string_view text = without_bom(request.body);
    const std::string_view content_type = request.header("content-type").value_or("");
    std::optional<json> body;
    if (is_form(content_type) && !json_sent_as_form(text)) {
      std::string why;
      body = form_object(text, why);
      if (!body) return reject({400, "invalid_form", std::move(why)}, request, responder);
    } else if (auto problem = body_problem(text)) {
      // Neither JSON nor a form, and not said to be: the type is what is wrong (XML, a multipart upload).
      if (!may_be_json(content_type))
        return reject({415,
                       "unsupported_media_type",
                       "Content-Type '" + std::string(trim(content_type)) +
                           "' is not taken: send a JSON object (application/json) or a form "
                           "(application/x-www-form-urlencoded)",
                       {{"Accept-Post", "application/json, application/x-www-form-urlencoded"}}},
                      request, responder);
      return reject({400, "invalid_json", std::move(*problem)}, request, responder);
    }
    // A token in the body is a credential: checked before the rest of the request.
    if (config_.body_token) {
      if (!body) body = json::parse(text);
      if (auto reason = body_token_failure(*body))
        return reject({401, "unauthorized", std::move(*reason)}, request, responder);
    }
    if (auto problem = id_problem(event_id_of(request)))
      return reject({400, "invalid_id", *problem}, request, responder);
    const std::string* type = &config_.event_type;  // not copied: a request's cost is counted
    if (config_.event_type_from) {
      if (!body) body = json::parse(text);
      type = &type_of(*body);
    }
    emit(request, text, body, *type, std::move(responder));
  }

  // A JSON object sent with a form's Content-Type (curl -d without -H
  // 'Content-Type: application/json' sends that): read as the JSON it is,
  // not as a form whose one key is the whole text. No form starts with '{'.
  static bool json_sent_as_form(std::string_view body) {
    const size_t first = body.find_first_not_of(" \t\r\n");
    return first != std::string::npos && body[first] == '{' && !body_problem(body);
  }

  // The sender's token in the body, compared in constant time, then taken
  // out with the object that holds it (Bitrix24's "auth" carries the
  // portal's OAuth tokens beside it): none of it reaches the event.
  std::optional<std::string> body_token_failure(json& body) const {
    const json::json_pointer at(*config_.body_token_at);
    const json* given = value_at(body, at);
    if (!given || !given->is_string()) return "the body carries no token at " + *config_.body_token_at;
    if (!equal_constant_time(given->get_ref<const std::string&>(), *config_.body_token)) return "invalid token";
    // The token goes, and so do the credentials beside it.
    json& holder = body.at(at.parent_pointer());
    if (holder.is_array()) {
      holder.erase(static_cast<size_t>(std::stoull(at.back())));  // an index the lookup went through
      return std::nullopt;
    }
    holder.erase(at.back());
    // (At the top, the body's own fields stay: a device_token a rule reads.)
    if (!at.parent_pointer().empty())
      for (auto it = holder.begin(); it != holder.end();)
        it = is_credential(it.key()) ? holder.erase(it) : std::next(it);
    return std::nullopt;
  }

  // A member named as a credential is ("access_token", "refresh_token",
  // "secret", "password"): Bitrix24's auth carries the portal's OAuth tokens.
  static bool is_credential(const std::string& name) {
    const std::string lower = lowercase(name);
    const auto ends_with = [&](std::string_view end) {
      return lower.size() >= end.size() && lower.compare(lower.size() - end.size(), end.size(), end) == 0;
    };
    return ends_with("token") || ends_with("secret") || ends_with("password");
  }

  // The value at `at`, or nothing (an index past a list's end or too large
  // to be one is nothing there too).
  static const json* value_at(const json& body, const json::json_pointer& at) {
    try {
      return body.contains(at) ? &body.at(at) : nullptr;
    } catch (const json::exception&) {
      return nullptr;
    }
  }

  // The event type the body's value at event_type_from names, else the
  // instance's own.
  const std::string& type_of(const json& body) const {
    const json* found = value_at(body, json::json_pointer(*config_.event_type_from));
    if (!found) return config_.event_type;
    const json& value = *found;
    const std::string key = value.is_string() ? value.get<std::string>() : value.is_number() ? value.dump() : "";
    const auto it = config_.event_types.find(key);
    return it != config_.event_types.end() ? it->second : config_.event_type;
  }

  // A Standard Webhooks header ("id", "timestamp", "signature"), of one
  // set: webhook-* when the request has all three, else svix-* (the names
  // Svix, the standard's origin, sends them under) when it has any of those.
  static std::string_view standard_header(const InboundRequest& request, std::string_view name) {
    const auto has = [&](const char* prefix) {
      for (const char* header : {"id", "timestamp", "signature"})
        if (request.header(std::string(prefix) + header)) return true;
      return false;
    };
    const bool all_standard =
        request.header("webhook-id") && request.header("webhook-timestamp") && request.header("webhook-signature");
    const char* prefix = !all_standard && has("svix-") ? "svix-" : "webhook-";
    return request.header(prefix + std::string(name)).value_or("");
  }

  // The sender's own id makes its retries idempotent; without one the host assigns an id.
  static std::string_view event_id_of(const InboundRequest& request) {
    std::string_view id = standard_header(request, "id");
    return id.empty() ? request.header("idempotency-key").value_or("") : id;
  }

  // An id the host would refuse is the sender's fault, said as such: not a
  // 503 that it would retry for ever. The events API's bounds.
  static std::optional<std::string> id_problem(std::string_view id) {
    // At most 200 characters are at most 800 bytes; longer is refused unread.
    if (id.size() > 800) return "the webhook-id (or Idempotency-Key) header is longer than 200 characters";
    for (unsigned char c : id)
      if (c < 0x20 || c == 0x7f) return "the webhook-id (or Idempotency-Key) header holds a control character";
    try {
      // UTF-8 as strictly as the host reads it (no overlong forms, no surrogates).
      (void)json(std::string(id)).dump();
    } catch (const json::exception&) {
      return "the webhook-id (or Idempotency-Key) header is not UTF-8 text";
    }
    size_t characters = 0;
    for (unsigned char c : id) characters += (c & 0xC0) != 0x80;
    if (characters > 200) return "the webhook-id (or Idempotency-Key) header is longer than 200 characters";
    return std::nullopt;
  }

  // Method first, then the credentials: an unauthenticated sender learns
  // nothing about the body's handling.
  std::optional<Rejection> check(const InboundRequest& request) const {
    if (request.method != "POST")
      return Rejection{405, "method_not_allowed", "only POST is accepted", {{"Allow", "POST"}}};
    if (config_.bearer_token) {
      if (auto reason = bearer_failure(request))
        return Rejection{401, "unauthorized", std::move(*reason), {{"WWW-Authenticate", "Bearer"}}};
    }
    if (config_.signing_secret) {
      const int64_t now_s = host_.now_unix_ms() / 1000;
      auto reason = standard_webhooks::verify(*config_.signing_secret, standard_header(request, "id"),
                                              standard_header(request, "timestamp"), request.body,
                                              standard_header(request, "signature"), now_s, config_.tolerance_s);
      if (reason) return Rejection{401, "invalid_signature", std::move(*reason)};
    }
    if (config_.signing_public_key) {
      auto reason = standard_webhooks::verify_asymmetric(
          *config_.signing_public_key, standard_header(request, "id"), standard_header(request, "timestamp"),
          request.body, standard_header(request, "signature"), host_.now_unix_ms() / 1000, config_.tolerance_s);
      if (reason) return Rejection{401, "invalid_signature", std::move(*reason)};
    }
    return std::nullopt;
  }

  std::optional<std::string> bearer_failure(const InboundRequest& request) const {
    const std::optional<std::string_view> header = request.header("authorization");
    if (!header) return "missing Authorization header";
    constexpr std::string_view kScheme = "bearer ";
    const std::string_view value = trim(*header);
    if (value.size() < kScheme.size() || !equals_ignore_case(value.substr(0, kScheme.size()), kScheme))
      return "expected 'Authorization: Bearer <token>'";
    if (!equal_constant_time(trim(value.substr(kScheme.size())), *config_.bearer_token)) return "invalid bearer token";
    return std::nullopt;
  }

  void reject(const Rejection& rejection, const InboundRequest& request, Responder& responder) const {
    host_.count("webhook_rejected_total");
    host_.log(
        SB_LOG_DEBUG, "webhook request rejected",
        dump(json{
            {"status", rejection.status}, {"reason", rejection.message}, {"remote_address", request.remote_address}}));
    responder.respond(rejection.status, kJson, error_body(rejection.code, rejection.message), rejection.headers);
  }

  // The payload {"body","headers","query","route"} is written as text around
  // the body as it came (checked above): parsing it into a tree only to write
  // it out again cost more than the rest of the request.
  // `body`: the body read into an object (a form, or JSON a setting had to
  // read); otherwise `text` (the body, checked to be JSON) is spliced in as it came.
  void emit(const InboundRequest& request, std::string_view text, const std::optional<json>& body,
            const std::string& type, Responder responder) {
    std::string payload = R"({"body":)";
    payload.append(body ? dump(*body) : std::string(text));
    payload.append(R"(,"headers":)").append(dump(payload_headers(request)));
    payload.append(R"(,"query":)").append(dump(json(request.query)));
    payload.append(R"(,"route":)").append(route_json_);
    // The person and record the body names, beside it (checked above: it parses).
    if (config_.mapping) {
      const json members = config_.mapping->apply(body ? *body : json::parse(text));
      for (auto it = members.begin(); it != members.end(); ++it)
        payload.append(",").append(dump(json(it.key()))).append(":").append(dump(it.value()));
    }
    payload.append("}");
    const std::string_view event_id = event_id_of(request);

    const bool completed = config_.respond_when_completed;
    // The callback captures nothing of `this`: it needs only the responder.
    const sb_status status =
        host_.emit(type, event_id, payload, completed ? SB_EMIT_WAIT_COMPLETED : SB_EMIT_WAIT_ACCEPTED,
                   [responder, completed](const EmitResult& result) mutable {
                     completed ? answer_completed(responder, result) : answer_accepted(responder, result);
                   });
    if (status != SB_OK) {
      host_.count("webhook_unavailable_total");
      responder.respond(503, kJson, error_body("unavailable", "the host did not take the event"),
                        {{"Retry-After", "1"}});
    }
  }

  switchboard::Host& host_;
  const WebhookConfig config_;
  const std::string route_json_ = dump(json(config_.path));
};

switchboard::PluginInfo webhook_info() {
  switchboard::PluginInfo info;
  info.name = "webhook";
  info.version = "1.0.0";
  info.vendor = "Switchboard";
  info.description =
      "Receives JSON POSTs on /webhooks/<path> (bearer token and Standard Webhooks signatures) and "
      "emits them as events.";
  info.config_schema_json = std::string(webhook_schemas::schema_json);
  info.triggers.push_back({"webhook.received",
                           "One authentic POST of a JSON object; the event type is configurable (event_type).",
                           std::string(webhook_schemas::triggers_received_json)});
  return info;
}

}  // namespace webhook

SWITCHBOARD_PLUGIN(webhook::WebhookTrigger, webhook::webhook_info)
