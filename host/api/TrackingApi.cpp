#include "api/TrackingApi.h"

#include <nlohmann/json.hpp>

#include "events/EventParser.h"
#include "executor/ActionRequests.h"
#include "log/Logger.h"
#include "metrics/Metrics.h"
#include "store/Store.h"
#include "util/AsciiUrl.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

// The smallest transparent GIF (43 bytes).
constexpr unsigned char kPixel[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
                                    0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
                                    0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
                                    0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

ServerResponse page(int status, const std::string& title, const std::string& body_html) {
  ServerResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body =
      "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
      "content=\"width=device-width\"><title>" +
      title + "</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\">" + body_html +
      "</body></html>";
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

ServerResponse pixel() {
  ServerResponse r;
  r.content_type = "image/gif";
  r.body.assign(reinterpret_cast<const char*>(kPixel), sizeof kPixel);
  r.headers.emplace_back("Cache-Control", "no-store, max-age=0");
  return r;
}

// The contact a link's key names, as an event's contact object.
json contact_of(const std::string& key) {
  if (key.rfind("email:", 0) == 0) return {{"emails", json::array({{{"address", key.substr(6)}}})}};
  if (key.rfind("phone:", 0) == 0) return {{"phones", json::array({{{"number", key.substr(6)}}})}};
  if (key.rfind("id:", 0) == 0) return {{"id", key.substr(3)}};
  return json::object();
}

const char* event_type_of(const std::string& kind) {
  return kind == "open" ? "message.opened" : kind == "click" ? "message.clicked" : "contact.unsubscribed";
}

}  // namespace

TrackingApi::TrackingApi(Store& store, const TrackingTokens& tokens, Metrics& metrics, std::function<void()> on_stored)
    : store_(store),
      tokens_(tokens),
      on_stored_(std::move(on_stored)),
      opens_(metrics.counter("switchboard_tracking_total", {{"kind", "open"}})),
      clicks_(metrics.counter("switchboard_tracking_total", {{"kind", "click"}})),
      unsubscribes_(metrics.counter("switchboard_tracking_total", {{"kind", "unsubscribe"}})),
      refused_(metrics.counter("switchboard_tracking_refused_total", {})) {}

void TrackingApi::handle(ServerRequest&& request, ServerConnection::Reply reply) {
  // "/t/<letter>/<token>", the token without a query.
  std::string path = request.target.substr(0, request.target.find('?'));
  const std::string_view letter = path.size() > 4 && path[4] == '/' ? std::string_view(path).substr(3, 1) : "";
  const std::string kind(TrackingTokens::kind_of(letter));
  const std::string token = kind.empty() ? "" : path.substr(5);
  const std::optional<TrackedLink> link = kind.empty() ? std::nullopt : tokens_.verify(kind, token);
  if (!link) {
    refused_.add();
    return reply(page(404, "Ссылка недействительна / Not found",
                      "<p lang=\"ru\">Ссылка недействительна.</p><p lang=\"en\">This link is not valid.</p>"));
  }
  const bool post = request.method == "POST";
  if (request.method != "GET" && request.method != "HEAD" && !(post && kind == "unsubscribe")) {
    ServerResponse r = page(405, "Method not allowed", "<p>Method not allowed.</p>");
    r.headers.emplace_back("Allow", kind == "unsubscribe" ? "GET, HEAD, POST" : "GET, HEAD");
    return reply(std::move(r));
  }
  if (kind == "open") {
    opens_.add();
    return store_event(*link, token, pixel(), pixel(), std::move(reply));
  }
  if (kind == "click") {
    clicks_.add();
    ServerResponse redirect;
    redirect.status = 302;
    redirect.content_type = "text/plain";
    // ASCII, as a header carries it: a destination in Russian letters
    // ("https://школа.рф/курсы") is encoded here, and kept as written in the
    // click's event.
    redirect.headers.emplace_back("Location", ascii_url(link->url));
    redirect.headers.emplace_back("Cache-Control", "no-store");
    // The reader gets to the page even when the click could not be stored.
    return store_event(*link, token, redirect, redirect, std::move(reply));
  }
  if (!post) {
    // A GET changes nothing: mail scanners open links. The button POSTs here.
    return reply(page(200, "Отписаться / Unsubscribe",
                      "<p lang=\"ru\">Отписаться от этих писем?</p><p lang=\"en\">Unsubscribe from these "
                      "messages?</p><form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
                      "value=\"One-Click\"><button type=\"submit\">Отписаться / Unsubscribe</button></form>"));
  }
  unsubscribes_.add();
  ServerResponse failed = page(503, "Попробуйте ещё раз / Try again",
                               "<p lang=\"ru\">Не получилось; попробуйте ещё раз через минуту.</p><p "
                               "lang=\"en\">That did not work; please try again in a minute.</p>");
  failed.headers.emplace_back("Retry-After", "60");
  store_event(*link, token,
              page(200, "Вы отписались / Unsubscribed",
                   "<p lang=\"ru\">Вы отписались от этих писем.</p><p lang=\"en\">You are "
                   "unsubscribed.</p>"),
              std::move(failed), std::move(reply));
}

void TrackingApi::store_event(const TrackedLink& link, const std::string& token, ServerResponse answer,
                              ServerResponse failed, ServerConnection::Reply reply) {
  json data{{"message_id", link.message_id}, {"channel", link.channel}};
  if (link.execution_id) data["execution_id"] = link.execution_id;
  if (!link.rule.empty()) data["rule"] = link.rule;
  if (!link.step.empty()) data["step"] = link.step;
  if (!link.event_id.empty()) data["cause"] = link.event_id;
  if (!link.url.empty()) data["url"] = link.url;
  // One open and one click per link: the signature names it, so a second one is a duplicate. Every
  // unsubscribe counts: the contact may have opted back in since the last one.
  const std::string signature = token.substr(token.rfind('.') + 1, 22);
  const std::string id =
      link.kind == "unsubscribe" ? "unsubscribe:" + generate_event_id() : link.kind + ":" + signature;
  json event{{"id", id}, {"type", event_type_of(link.kind)}, {"data", data}};
  json contact = contact_of(link.contact_key);
  if (link.kind == "unsubscribe") {
    data["category"] = "marketing";
    event["data"] = data;
    contact["preferences"] = {{link.channel, {{"marketing", false}}}};
  }
  if (!contact.empty()) event["contact"] = std::move(contact);
  ParsedEvents parsed = parse_event(event, now_ms(), "tracking");
  if (!parsed.problems.empty()) {
    log_warn("tracking", "a tracked event was not valid",
             {{"kind", link.kind}, {"problem", parsed.problems.front().message}});
    return reply(std::move(failed));
  }
  store_.append_events(std::move(parsed.records), [this, answer = std::move(answer), failed = std::move(failed),
                                                   reply = std::move(reply)](AppendResult result) mutable {
    if (!result.ok()) {
      log_warn("tracking", "a tracked event was not stored", {{"error", result.error}});
      return reply(std::move(failed));
    }
    if (result.outcomes.front() == AppendOutcome::kStored && on_stored_) on_stored_();
    reply(std::move(answer));
  });
}

}  // namespace sb
