#include "api/RecordsApi.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <variant>

#include "api/QueryParameters.h"
#include "events/EventParser.h"
#include "executor/ActionRequests.h"
#include "rules/Condition.h"
#include "rules/Trigger.h"
#include "store/Store.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

constexpr size_t kMaxLimit = 1000;
constexpr size_t kScanBudget = 5000;  // rows a page reads at most, whatever its filters skip

// Cursors are opaque to callers: the last key read, hex-encoded.
std::string encode_cursor(const std::string& key) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : key) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> decode_cursor(const std::string& cursor) {
  if (cursor.size() % 2) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < cursor.size(); i += 2) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(cursor.data() + i, cursor.data() + i + 2, value, 16);
    if (ec != std::errc() || end != cursor.data() + i + 2) return std::nullopt;
    out += static_cast<char>(value);
  }
  return out;
}

// What a list asks for beyond the store's own filters.
struct RecordFilter {
  RecordQuery query;
  size_t limit = 100;
  std::vector<std::string> tags;                            // every one of them
  std::string segment;                                      // a member of it ("" = any)
  std::vector<std::pair<std::string, std::string>> fields;  // dotted path, value as text
  // Tasks: by their deadline (RFC 3339, inclusive), and whether one open or
  // in progress is past it at `now_ms`.
  std::optional<int64_t> deadline_after_ms, deadline_before_ms;
  std::optional<bool> overdue;
  int64_t now_ms = 0;
};

bool has_tag(const json& data, const std::string& tag) {
  // A contact's tags, or a task's (among its fields).
  const json* tags = lookup_path(data, "tags");
  if (!tags) tags = lookup_path(data, "fields.tags");
  if (!tags || !tags->is_array()) return false;
  for (const json& t : *tags)
    if (t.is_string() && t.get<std::string>() == tag) return true;
  return false;
}

// Whether the value at the dotted `path` from `node` is `value`; through an
// array, any item's (a task's assignees.id is any of its managers').
bool value_at_is(const json& node, std::string_view path, const std::string& value) {
  // A path through a list matches any of its items: its objects' members,
  // or the items themselves at the path's end (`field.tags=vip`).
  if (node.is_array() && (path.empty() || !std::isdigit(static_cast<unsigned char>(path.front()))))
    return std::any_of(node.begin(), node.end(), [&](const json& item) { return value_at_is(item, path, value); });
  if (path.empty()) return as_text(node) == value;
  const size_t dot = path.find('.');
  const std::string part(path.substr(0, dot));
  const std::string_view rest = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  if (node.is_object()) {
    const auto child = node.find(part);
    return child != node.end() && value_at_is(*child, rest, value);
  }
  if (node.is_array()) {
    size_t index = 0;
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), index);
    return error == std::errc() && end == part.data() + part.size() && index < node.size() &&
           value_at_is(node[index], rest, value);
  }
  return false;
}

// A record's field by its path in `fields`, else in the record ("status").
bool field_is(const json& data, const std::string& path, const std::string& value) {
  const auto fields = data.find("fields");
  const bool in_fields =
      fields != data.end() && fields->is_object() && fields->contains(path.substr(0, path.find('.')));
  return value_at_is(in_fields ? *fields : data, path, value);
}

// A request body that is not JSON (or nests too deep): said as the events
// API says it, apart from one that is JSON of the wrong shape.
bool refused_as_not_json(const json& body, ServerConnection::Reply& reply) {
  if (!body.is_discarded()) return false;
  reply(error_response(400, "invalid_json", "the body is not JSON"));
  return true;
}

bool in_segment(const json& data, const std::string& segment) {
  const json* segments = lookup_path(data, "segments");
  if (!segments || !segments->is_array()) return false;
  return std::find(segments->begin(), segments->end(), json(segment)) != segments->end();
}

bool matches(const RecordFilter& f, const json& data) {
  if (f.tags.empty() && f.fields.empty() && f.segment.empty()) return true;
  if (!data.is_object()) return false;
  if (!f.segment.empty() && !in_segment(data, f.segment)) return false;
  for (const auto& tag : f.tags)
    if (!has_tag(data, tag)) return false;
  for (const auto& [path, value] : f.fields)
    if (!field_is(data, path, value)) return false;
  return true;
}

bool matches(const RecordFilter& f, const StoredContact&, const json& data) { return matches(f, data); }

// An entity's filters, and a task's by its deadline (a task without one
// is overdue never and within no deadline bounds).
bool matches(const RecordFilter& f, const StoredEntity& e, const json& data) {
  if (!matches(f, data)) return false;
  if (!f.overdue && !f.deadline_after_ms && !f.deadline_before_ms) return true;
  const json* due = lookup_path(data, "fields.deadline");
  const std::optional<int64_t> read = due && due->is_string() ? parse_time_ms(due->get<std::string>()) : std::nullopt;
  const bool dated = read.has_value();
  const int64_t deadline = read.value_or(0);
  if ((f.deadline_after_ms || f.deadline_before_ms) && (!dated || deadline < f.deadline_after_ms.value_or(deadline) ||
                                                        deadline > f.deadline_before_ms.value_or(deadline)))
    return false;
  const bool working = e.status == "open" || e.status == "in_progress";
  return !f.overdue || *f.overdue == (working && dated && deadline < f.now_ms);
}

// Reads the query string into `f`; the reason when it cannot be.
enum class ListOf { kContacts, kEntities, kTasks };

std::optional<std::string> read_filter(const ServerRequest& request, ListOf list, RecordFilter& f) {
  const bool entities = list != ListOf::kContacts;
  const QueryParameters read = read_query(request.target, {"tag", "field."});
  if (read.refusal) return read.refusal;
  for (const auto& [key, value] : read.parameters) {
    if (key == "limit") {
      size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n == 0 || n > kMaxLimit)
        return "limit: expected 1 to " + std::to_string(kMaxLimit) + ", got '" + value + "'";
      f.limit = n;
    } else if (key == "cursor") {
      auto after = decode_cursor(value);
      if (!after) return "cursor: not one this API gave";
      f.query.after = std::move(*after);
    } else if (key == "tag") {
      f.tags.push_back(value);
    } else if (key.rfind("field.", 0) == 0 && key.size() > 6) {
      f.fields.emplace_back(key.substr(6), value);
    } else if (key == "updated_after" || key == "updated_before") {
      const auto at = parse_time_ms(value);
      if (!at) return key + ": " + expected_rfc3339_time(value);
      (key == "updated_after" ? f.query.updated_after_ms : f.query.updated_before_ms) = *at;
    } else if (list == ListOf::kTasks && (key == "deadline_after" || key == "deadline_before")) {
      const auto at = parse_time_ms(value);
      if (!at) return key + ": " + expected_rfc3339_time(value);
      (key == "deadline_after" ? f.deadline_after_ms : f.deadline_before_ms) = *at;
    } else if (list == ListOf::kTasks && key == "overdue") {
      if (value != "true" && value != "false") return "overdue: expected true or false, got '" + value + "'";
      f.overdue = value == "true";
      f.now_ms = now_ms();
    } else if (list == ListOf::kEntities && key == "type") {
      f.query.entity_type = value;
    } else if (list == ListOf::kTasks && key == "status" &&
               std::find(kTaskStatuses.begin(), kTaskStatuses.end(), value) == kTaskStatuses.end()) {
      return "status: '" + value + "' is not a task status (open, in_progress, done, cancelled)";
    } else if (entities && key == "status") {
      f.query.by_status = true;
      if (!value.empty()) f.query.status = value;  // empty: entities with no status
    } else {
      return "unknown parameter '" + key + "'" +
             (list == ListOf::kEntities ? "; expected type, status, tag, field.<path>, updated_after, "
                                          "updated_before, limit, cursor"
              : entities ? "; expected status, overdue, deadline_after, deadline_before, tag, field.<path>, "
                           "updated_after, updated_before, limit, cursor"
                         : "; expected tag, field.<path>, updated_after, updated_before, limit, cursor");
    }
  }
  if (f.query.updated_after_ms && f.query.updated_before_ms && *f.query.updated_after_ms > *f.query.updated_before_ms)
    return std::string("updated_after is later than updated_before");
  if (f.deadline_after_ms && f.deadline_before_ms && *f.deadline_after_ms > *f.deadline_before_ms)
    return std::string("deadline_after is later than deadline_before");
  return std::nullopt;
}

json data_of(const std::string& data_json) {
  json data = json::parse(data_json, nullptr, false);
  return data.is_discarded() ? json::object() : data;
}

// Reads pages from the store until `limit` items matched or the scan budget
// is spent; `next` is where the following page starts (null at the end).
template <class Row, class ReadPage, class KeyOf, class ToJson>
json list(RecordFilter f, ReadPage read_page, KeyOf key_of, ToJson to_json) {
  json items = json::array();
  json next = nullptr;
  size_t scanned = 0;
  f.query.limit = std::min<size_t>(std::max<size_t>(f.limit * 2, 100), kMaxLimit);
  for (;;) {
    const std::vector<Row> rows = read_page(f.query);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& row = rows[i];
      ++scanned;
      f.query.after = key_of(row);
      if (json data = data_of(row.data_json); matches(f, row, data)) items.push_back(to_json(row, std::move(data)));
      const bool last_of_store = i + 1 == rows.size() && rows.size() < f.query.limit;
      if (items.size() == f.limit || scanned >= kScanBudget) {
        if (!last_of_store) next = encode_cursor(f.query.after);
        return {{"items", std::move(items)}, {"next", std::move(next)}};
      }
    }
    if (rows.size() < f.query.limit) return {{"items", std::move(items)}, {"next", nullptr}};
  }
}

// A page of contacts, as the contacts list and a segment's members show them.
json list_contacts(Store& store, RecordFilter filter) {
  return list<StoredContact>(
      std::move(filter), [&](const RecordQuery& q) { return store.contacts_page(q); },
      [](const StoredContact& c) { return c.key; },
      [](const StoredContact& c, json data) {
        return json{{"key", c.key}, {"data", std::move(data)}, {"updated_at", format_time_ms(c.updated_at_ms)}};
      });
}

// The list's filter; nothing once `reply` was given a refusal.
std::optional<RecordFilter> admit(const BearerTokens& tokens, const ServerRequest& request, ListOf list,
                                  ServerConnection::Reply& reply) {
  if (auto refusal = tokens.refuse(request)) {
    reply(std::move(*refusal));
    return std::nullopt;
  }
  if (request.method != "GET") {
    reply(method_not_allowed("GET"));
    return std::nullopt;
  }
  RecordFilter filter;
  if (auto why = read_filter(request, list, filter)) {
    reply(error_response(400, "bad_request", *why));
    return std::nullopt;
  }
  return filter;
}

// An entity (a deal, a lead, a booking ...) as the API shows it.
json entity_json(const StoredEntity& e, json data) {
  return json{{"type", e.type},
              {"id", e.id},
              {"status", e.status ? json(*e.status) : json()},
              {"data", std::move(data)},
              {"updated_at", format_time_ms(e.updated_at_ms)}};
}

// A task as the API shows it: its fields at the top, with its id and status.
json task_json(const StoredEntity& e, json data) {
  json task = data.contains("fields") && data["fields"].is_object() ? data["fields"] : json::object();
  task["id"] = e.id;
  task["status"] = e.status ? json(*e.status) : json();
  if (data.contains("responsible")) task["responsible"] = data["responsible"];
  task["updated_at"] = format_time_ms(e.updated_at_ms);
  return task;
}

}  // namespace

RecordsApi::RecordsApi(Store& store, std::vector<std::string> admin_tokens,
                       std::map<std::string, SegmentConfig> segments, std::function<void()> stored)
    : store_(store),
      tokens_(std::move(admin_tokens), "api.admin_tokens"),
      segments_(std::move(segments)),
      stored_(std::move(stored)) {}

void RecordsApi::segments(ServerRequest&& request, ServerConnection::Reply reply) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  constexpr std::string_view kAll = "/api/v1/segments";
  if (path == kAll || path == std::string(kAll) + "/") {
    if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
    if (request.method != "GET") return reply(method_not_allowed("GET"));
    // Whole in one page: a cursor or a filter would be ignored, so it is refused.
    if (const size_t q = request.target.find('?'); q != std::string::npos && q + 1 < request.target.size())
      return reply(error_response(400, "bad_request", "the segments list takes no parameters: it is one page"));
    json items = json::array();
    for (const auto& [name, segment] : segments_) items.push_back(segment_json(name, segment));
    return reply(json_response(200, {{"items", std::move(items)}, {"next", nullptr}}));
  }
  // /api/v1/segments/{name}/members[/{contact}]
  std::vector<std::string> parts;
  try {
    std::stringstream rest(path.substr(kAll.size() + 1));
    for (std::string part; std::getline(rest, part, '/');) {
      std::string decoded;
      Poco::URI::decode(part, decoded);
      parts.push_back(std::move(decoded));
    }
  } catch (const Poco::Exception&) {
    return reply(error_response(400, "bad_request", "the path is not percent-encoded correctly"));
  }
  const bool history = parts.size() == 2 && parts[1] == "history";
  if (!history && (parts.size() > 3 || (parts.size() > 1 && parts[1] != "members")))
    return reply(
        error_response(404, "not_found", "expected /api/v1/segments/{name}, .../{name}/members or .../{name}/history"));
  if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
  if (!segments_.count(parts[0]))
    return reply(error_response(404, "not_found", "no segment '" + parts[0] + "' in the config"));
  if (parts.size() == 1) {
    if (request.method != "GET") return reply(method_not_allowed("GET"));
    return reply(json_response(200, segment_json(parts[0], segments_.at(parts[0]))));
  }
  if (history) {
    if (request.method != "GET") return reply(method_not_allowed("GET"));
    // Newest first, as the other lists; the 400 kept fit one page.
    json items = size_history(parts[0]);
    std::reverse(items.begin(), items.end());
    return reply(json_response(200, {{"items", std::move(items)}, {"next", nullptr}}));
  }
  if (parts.size() == 3) {
    if (request.method != "DELETE") return reply(method_not_allowed("DELETE", "only DELETE is accepted on a member"));
    // ?reset=true: a dynamic segment's filter decides again, the manager's choice forgotten.
    const QueryParameters read = read_query(request.target);
    if (read.refusal) return reply(error_response(400, "bad_request", *read.refusal));
    const auto& query = read.parameters;
    const auto reset = std::find_if(query.begin(), query.end(), [](const auto& p) { return p.first == "reset"; });
    if (reset != query.end() && reset->second != "true" && reset->second != "false")
      return reply(error_response(400, "bad_request", "reset: expected true (the filter decides again) or false"));
    if (reset != query.end() && reset->second == "true") {
      if (!segments_.at(parts[0]).dynamic())
        return reply(error_response(400, "bad_request",
                                    "segment '" + parts[0] + "' is static: only its members' own list decides"));
      return change_membership(parts[0], parts[2], Membership::kByFilter, std::move(reply));
    }
    return change_membership(parts[0], parts[2], Membership::kOut, std::move(reply));
  }
  if (request.method == "POST") {
    const json body = parse_bounded(request.body);
    if (refused_as_not_json(body, reply)) return;
    std::string unknown;  // a key this does not read: named
    if (body.is_object())
      for (const auto& [key, value] : body.items())
        if (key != "contact") {
          unknown = "/" + escape_pointer_token(key) + ": '" + key + "' is not read here; ";
          break;
        }
    if (!body.is_object() || !body.contains("contact") || !body["contact"].is_string() || !unknown.empty())
      return reply(error_response(400, "bad_request", unknown + "expected {\"contact\": \"<the contact's id>\"}"));
    return change_membership(parts[0], body["contact"].get<std::string>(), Membership::kIn, std::move(reply));
  }
  if (request.method != "GET") return reply(method_not_allowed("GET, POST"));
  auto filter = admit(tokens_, request, ListOf::kContacts, reply);
  if (!filter) return;
  filter->segment = parts[0];
  reply(json_response(200, list_contacts(store_, std::move(*filter))));
}

json RecordsApi::segment_json(const std::string& name, const SegmentConfig& segment) const {
  json item{{"name", name}, {"description", segment.description}, {"kind", segment.dynamic() ? "dynamic" : "static"}};
  if (segment.dynamic()) item["filter"] = segment.filter;
  // As of its last count: a dynamic segment's refresh, a static one's daily count.
  const json history = size_history(name);
  if (!history.empty()) item["size"] = history.back()["size"], item["refreshed_at"] = history.back()["at"];
  return item;
}

json RecordsApi::size_history(const std::string& segment) const {
  json history = json::parse(store_.kv_get(kSegmentSizes, segment).value_or("[]"), nullptr, false);
  return history.is_array() ? history : json::array();
}

void RecordsApi::change_membership(const std::string& segment, const std::string& contact, Membership membership,
                                   ServerConnection::Reply reply) {
  const auto stored = store_.contact(contact_key_of(contact));
  if (!stored) return reply(error_response(404, "not_found", "no contact '" + contact + "'"));
  const std::string& key = stored->key;  // an email or phone names the contact it is known by
  EventRecord e;
  e.id = "api:" + generate_event_id();
  e.type = "contact.updated";
  e.source = "api";
  e.occurred_at_ms = e.received_at_ms = now_ms();
  e.contact = ContactUpdate{key, ""};
  const bool add = membership == Membership::kIn;
  const char* said = add ? "add_to_segment" : "remove_from_segment";
  if (segments_.at(segment).dynamic()) {
    // The manager's choice is kept, so that the filter does not undo it; a
    // reset forgets it, and the router's check of this event decides anew.
    ContactUpdate& c = *e.contact;
    (add ? c.manual_segments.add : c.manual_segments.remove).push_back(segment);
    (membership == Membership::kOut ? c.excluded_segments.add : c.excluded_segments.remove).push_back(segment);
    if (membership == Membership::kByFilter) said = "reset_segment";
  }
  if (membership != Membership::kByFilter)
    (add ? e.contact->segments.add : e.contact->segments.remove).push_back(segment);
  e.body_json = dump_text(json{{"id", e.id}, {"type", e.type}, {"data", {{said, segment}}}});
  json answer{{"segment", segment}, {"contact", key}};
  if (membership == Membership::kByFilter)
    answer["by_filter"] = true;
  else
    answer["member"] = add;
  store_change(std::move(e), std::move(answer), std::move(reply));
}

void RecordsApi::store_change(EventRecord event, json answer, ServerConnection::Reply reply) {
  std::vector<EventRecord> batch;
  batch.push_back(std::move(event));
  store_.append_events(std::move(batch),
                       [stored = stored_, answer = std::move(answer), reply = std::move(reply)](AppendResult result) {
                         if (!result.ok()) return reply(error_response(503, "store_unavailable", result.error));
                         reply(json_response(200, answer));
                         if (stored) stored();
                       });
}

// One contact: by its id ("c-77" or "id:c-77"), or by an email or phone it
// is known by ("email:ivan@example.com", "phone:+79990001122").
void RecordsApi::one_contact(const std::string& contact, const ServerRequest& request, ServerConnection::Reply reply) {
  if (request.method != "GET") return reply(method_not_allowed("GET"));
  const auto stored = store_.contact(contact_key_of(contact));
  if (!stored) return reply(error_response(404, "not_found", "no contact '" + contact + "'"));
  json data = json::parse(stored->data_json, nullptr, false);
  if (!data.is_object()) data = json::object();
  reply(json_response(
      200, {{"key", stored->key}, {"data", std::move(data)}, {"updated_at", format_time_ms(stored->updated_at_ms)}}));
}

void RecordsApi::preferences(const std::string& contact, const ServerRequest& request, ServerConnection::Reply reply) {
  const auto stored = store_.contact(contact_key_of(contact));
  if (!stored) return reply(error_response(404, "not_found", "no contact '" + contact + "'"));
  if (request.method == "GET") {
    const json data = json::parse(stored->data_json, nullptr, false);
    const json preferences = data.is_object() ? data.value("preferences", json::object()) : json::object();
    return reply(json_response(200, {{"contact", stored->key}, {"preferences", preferences}}));
  }
  if (request.method != "PATCH" && request.method != "PUT")
    return reply(method_not_allowed("GET, PATCH, PUT", "GET reads the preferences, PATCH changes them"));
  // {"email": {"marketing": false}, "sms": {"all": null}}: merged into what the contact chose before.
  const json body = parse_bounded(request.body);
  if (refused_as_not_json(body, reply)) return;
  // Checked by the events' own schema, as if an event had said it.
  const json probe{
      {"id", "check"}, {"type", "contact.preferences_changed"}, {"contact", {{"id", "check"}, {"preferences", body}}}};
  const ParsedEvents checked = parse_event(probe, now_ms(), "api");
  if (!body.is_object() || body.empty() || !checked.problems.empty()) {
    std::string why = "expected {\"<channel>\": {\"<category>\": false | true | null}}";
    if (!checked.problems.empty()) {
      constexpr std::string_view kAt = "/contact/preferences";
      const std::string& at = checked.problems.front().pointer;
      const std::string where = at.rfind(kAt, 0) == 0 ? at.substr(kAt.size()) : at;
      why += ": " + (where.empty() ? "/" : where) + ": " + checked.problems.front().message;
    }
    return reply(error_response(400, "bad_request", why));
  }
  EventRecord e;
  e.id = "api:" + generate_event_id();
  e.type = "contact.preferences_changed";
  e.source = "api";
  e.occurred_at_ms = e.received_at_ms = now_ms();
  e.contact = ContactUpdate{stored->key, dump_text(json{{"preferences", body}})};
  e.body_json = dump_text(json{{"id", e.id}, {"type", e.type}, {"data", {{"preferences", body}}}});
  store_change(std::move(e), {{"contact", stored->key}, {"preferences", body}}, std::move(reply));
}

void RecordsApi::tasks(ServerRequest&& request, ServerConnection::Reply reply) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  constexpr std::string_view kOne = "/api/v1/tasks/";
  if (path.size() > kOne.size() && path.compare(0, kOne.size(), kOne) == 0) {
    if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
    if (request.method != "GET" && request.method != "PATCH")
      return reply(method_not_allowed("GET, PATCH", "GET reads the task, PATCH changes it"));
    std::string id;
    try {
      Poco::URI::decode(path.substr(kOne.size()), id);
    } catch (const Poco::Exception&) {
      return reply(error_response(400, "bad_request", "the task id is not percent-encoded correctly"));
    }
    if (request.method == "PATCH") return change_task(id, request, std::move(reply));
    const auto stored = store_.entity("task", id);
    if (!stored) return reply(error_response(404, "not_found", "no task '" + id + "'"));
    return reply(json_response(200, task_json(*stored, data_of(stored->data_json))));
  }
  auto filter = admit(tokens_, request, ListOf::kTasks, reply);
  if (!filter) return;
  filter->query.entity_type = "task";
  reply(json_response(200, list<StoredEntity>(
                               std::move(*filter), [&](const RecordQuery& q) { return store_.entities_page(q); },
                               [](const StoredEntity& e) { return entity_cursor_key(e.type, e.id); }, task_json)));
}

namespace {

// A task's priority as the tasks plugin keeps it; the Russian forms the
// reference CRMs write too.
std::optional<std::string> task_priority(const json& value) {
  static const std::map<std::string, std::string> kPriorities{
      {"low", "low"},      {"medium", "medium"}, {"high", "high"},      {"низкая", "low"},  {"средняя", "medium"},
      {"высокая", "high"}, {"Низкая", "low"},    {"Средняя", "medium"}, {"Высокая", "high"}};
  if (!value.is_string()) return std::nullopt;
  const auto it = kPriorities.find(value.get<std::string>());
  return it == kPriorities.end() ? std::nullopt : std::optional<std::string>(it->second);
}

// A manager a task is given to, as the tasks plugin's update takes one.
// Its parts as long as an event's manager may have them (events/event.schema.json).
bool is_manager(const json& m) {
  if (!m.is_object() || !m.contains("id")) return false;
  static const std::map<std::string, size_t> kLongest{{"id", 200}, {"name", 500}, {"email", 320}, {"phone", 40}};
  for (const auto& [key, value] : m.items()) {
    const auto longest = kLongest.find(key);
    if (longest == kLongest.end()) return false;
    const bool text = value.is_string() && value.get_ref<const std::string&>().size() <= longest->second;
    if (key == "id" ? !((text && !value.get_ref<const std::string&>().empty()) || value.is_number_integer())
                    : !(text || value.is_null()))
      return false;
  }
  return true;
}

// The fields a PATCH of a task sets, with the managers it is given to (set
// when `assignee` is); the reason when the body cannot be read.
struct TaskPatch {
  std::optional<std::string> status;
  json fields = json::object();
  std::optional<json> responsible;
};

std::variant<TaskPatch, std::string> read_task_patch(const json& body) {
  constexpr const char* kExpected =
      "expected an object of what changes: \"status\" (open, in_progress, done, cancelled), \"result\", "
      "\"title\", \"description\", \"priority\", \"deadline\", \"reminder\", \"assignee\"";
  if (!body.is_object() || body.empty()) return std::string(kExpected);
  TaskPatch patch;
  for (const auto& [key, value] : body.items()) {
    const std::string at = "/" + escape_pointer_token(key) + ": ";
    if (key == "status") {
      if (!value.is_string()) return at + "expected text";
      if (std::find(kTaskStatuses.begin(), kTaskStatuses.end(), value.get<std::string>()) == kTaskStatuses.end())
        return at + "'" + value.get<std::string>() + "' is not a task status (open, in_progress, done, cancelled)";
      patch.status = value.get<std::string>();
    } else if (key == "result" || key == "title" || key == "description") {
      // What came of it ("дозвонились, записан на пятницу"), as tasks.complete's result.
      const size_t most = key == "title" ? 500 : key == "result" ? 10000 : 20000;
      const bool removable = key != "title";
      if (!(value.is_string() && value.get_ref<const std::string&>().size() <= most &&
            (removable || !value.get_ref<const std::string&>().empty())) &&
          !(removable && value.is_null()))
        return at + "expected " + (removable ? "" : "non-empty ") + "text of at most " +
               (most == 500     ? "500"
                : most == 10000 ? "10,000"
                                : "20,000") +
               " bytes" + (removable ? ", or null" : "");
      patch.fields[key] = value;
    } else if (key == "priority") {
      const auto priority = task_priority(value);
      if (!priority) return at + "expected low, medium or high (низкая, средняя, высокая)";
      patch.fields[key] = *priority;
    } else if (key == "deadline" || key == "reminder") {
      if (value.is_null()) {
        patch.fields[key] = nullptr;
        continue;
      }
      // A time, not a day alone: a date's midnight in UTC is no one's deadline.
      const auto ms = value.is_string() && value.get_ref<const std::string&>().find('T') != std::string::npos
                          ? parse_time_ms(value.get<std::string>())
                          : std::nullopt;
      if (!ms)
        return at +
               (value.is_string() ? expected_rfc3339_time(value.get<std::string>()) : "expected an RFC 3339 time") +
               ", or null for none";
      patch.fields[key] = format_time_ms(*ms);
    } else if (key == "assignee") {
      if (!is_manager(value))
        return at +
               "expected a manager {\"id\": text or a whole number, \"name\"?, \"email\"?, \"phone\"?} (at most "
               "200, 500, 320 and 40 characters)";
      json manager = value;
      if (manager["id"].is_number_integer()) manager["id"] = std::to_string(manager["id"].get<int64_t>());
      // The previous manager's name and email go unless given (as tasks.update does).
      json assignee = manager;
      for (const char* part : {"name", "email", "phone"}) assignee.emplace(part, nullptr);
      patch.fields["assignee"] = std::move(assignee);
      patch.fields["assignees"] = json::array({manager});  // a manager's own tasks are found by it
      patch.responsible = json::array({std::move(manager)});
    } else {
      return at + "'" + key + "' is not changed here; " + kExpected;
    }
  }
  return patch;
}

}  // namespace

void RecordsApi::change_task(const std::string& id, const ServerRequest& request, ServerConnection::Reply reply) {
  const json body = parse_bounded(request.body);
  if (refused_as_not_json(body, reply)) return;
  auto read = read_task_patch(body);
  if (auto* why = std::get_if<std::string>(&read)) return reply(error_response(400, "bad_request", *why));
  TaskPatch& patch = std::get<TaskPatch>(read);
  const auto stored = store_.entity("task", id);
  if (!stored) return reply(error_response(404, "not_found", "no task '" + id + "'"));
  // The change is an event like any other: rules on task.status_changed
  // (and task.updated, task.field_changed) run.
  EventRecord e;
  e.id = "api:" + generate_event_id();
  e.type = patch.status ? "task.status_changed" : "task.updated";
  e.source = "api";
  e.occurred_at_ms = e.received_at_ms = now_ms();
  json entity{{"type", "task"}, {"id", id}};
  if (patch.status) {
    const std::string& status = *patch.status;
    entity["status"] = status;
    // When it was done or cancelled: the task analytics' times (a task the
    // tasks plugin completes or cancels has them too). Done or cancelled
    // again, it keeps the first; moved on, it has neither.
    patch.fields["completed_at"] = nullptr;
    patch.fields["cancelled_at"] = nullptr;
    const char* moment = status == "done" ? "completed_at" : status == "cancelled" ? "cancelled_at" : nullptr;
    if (moment && stored->status == status)
      patch.fields.erase(moment);
    else if (moment)
      patch.fields[moment] = format_time_ms(e.received_at_ms);
  }
  entity["fields"] = std::move(patch.fields);
  // Given to another manager: {{entity.responsible.0.name}} names them.
  if (patch.responsible) entity["responsible"] = std::move(*patch.responsible);
  const std::optional<std::string> status = patch.status ? patch.status : stored->status;
  e.entity = EntityUpdate{"task", id, patch.status.has_value(), patch.status, dump_text(entity)};
  e.body_json = dump_text(json{{"id", e.id}, {"type", e.type}, {"entity", std::move(entity)}});
  store_change(std::move(e), {{"id", id}, {"status", status ? json(*status) : json()}}, std::move(reply));
}

void RecordsApi::contacts(ServerRequest&& request, ServerConnection::Reply reply) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  constexpr std::string_view kOne = "/api/v1/contacts/", kPreferences = "/preferences";
  if (path.size() > kOne.size() && path.compare(0, kOne.size(), kOne) == 0) {
    if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
    const bool of_preferences = path.size() > kOne.size() + kPreferences.size() &&
                                path.compare(path.size() - kPreferences.size(), kPreferences.size(), kPreferences) == 0;
    const size_t end = of_preferences ? path.size() - kPreferences.size() : path.size();
    if (path.find('/', kOne.size()) < end)
      return reply(error_response(
          404, "not_found",
          "no route " + path + " (expected /api/v1/contacts/{id} or /api/v1/contacts/{id}/preferences)"));
    std::string id;
    try {
      Poco::URI::decode(path.substr(kOne.size(), end - kOne.size()), id);
    } catch (const Poco::Exception&) {
      return reply(error_response(400, "bad_request", "the contact id is not percent-encoded correctly"));
    }
    if (of_preferences) return preferences(id, request, std::move(reply));
    return one_contact(id, request, std::move(reply));
  }
  auto filter = admit(tokens_, request, ListOf::kContacts, reply);
  if (!filter) return;
  reply(json_response(200, list_contacts(store_, std::move(*filter))));
}

void RecordsApi::entities(ServerRequest&& request, ServerConnection::Reply reply) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  constexpr std::string_view kOne = "/api/v1/entities/";
  if (path.size() > kOne.size() && path.compare(0, kOne.size(), kOne) == 0) {
    if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
    const size_t slash = path.find('/', kOne.size());
    if (slash == std::string::npos || slash + 1 == path.size() || path.find('/', slash + 1) != std::string::npos)
      return reply(error_response(404, "not_found", "no route " + path + " (expected /api/v1/entities/{type}/{id})"));
    if (request.method != "GET") return reply(method_not_allowed("GET"));
    std::string type, id;
    try {
      Poco::URI::decode(path.substr(kOne.size(), slash - kOne.size()), type);
      Poco::URI::decode(path.substr(slash + 1), id);
    } catch (const Poco::Exception&) {
      return reply(error_response(400, "bad_request", "the entity's type or id is not percent-encoded correctly"));
    }
    const auto stored = store_.entity(type, id);
    if (!stored) return reply(error_response(404, "not_found", "no " + type + " '" + id + "'"));
    return reply(json_response(200, entity_json(*stored, data_of(stored->data_json))));
  }
  auto filter = admit(tokens_, request, ListOf::kEntities, reply);
  if (!filter) return;
  reply(json_response(200, list<StoredEntity>(
                               std::move(*filter), [&](const RecordQuery& q) { return store_.entities_page(q); },
                               [](const StoredEntity& e) { return entity_cursor_key(e.type, e.id); }, entity_json)));
}

}  // namespace sb
