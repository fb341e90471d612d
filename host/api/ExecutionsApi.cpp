#include "api/ExecutionsApi.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <tuple>

#include "analytics/RuleExecutions.h"
#include "api/QueryParameters.h"
#include "events/EventParser.h"
#include "store/ContactAliases.h"
#include "store/Store.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

constexpr char kPrefix[] = "/api/v1/executions";

json summary(const ExecutionRow& r) {
  json out{{"id", r.id},
           {"rule", r.rule},
           {"event_id", r.event_id},
           {"state", state_name(r.state)},
           {"step", r.step},
           {"attempt", r.attempt},
           {"due_at", r.due_at_ms ? json(format_time_ms(*r.due_at_ms)) : json()},
           {"error", r.error},
           // A node claimed its step and has not recorded its end: a
           // cancelled execution's call may still be in flight elsewhere.
           {"running", !r.lease_owner.empty()},
           {"created_at", format_time_ms(r.created_at_ms)},
           {"updated_at", format_time_ms(r.updated_at_ms)}};
  if (r.parent_id) out["parent_id"] = r.parent_id;  // a branch of a parallel group
  if (!r.contact_key.empty()) out["contact"] = r.contact_key;
  return out;
}

std::optional<int64_t> parse_id(std::string_view s) {
  int64_t id = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || end != s.data() + s.size() || id <= 0) return std::nullopt;
  return id;
}

}  // namespace

ExecutionsApi::ExecutionsApi(Store& store, std::vector<std::string> admin_tokens, std::function<void()> on_retry,
                             Cancelled on_cancelled, ApiWorker& worker, StatsRules stats_rules,
                             RuleVersions rule_versions)
    : store_(store),
      stats_rules_(std::move(stats_rules)),
      rule_versions_(std::move(rule_versions)),
      transitions_(store),
      tokens_(std::move(admin_tokens), "api.admin_tokens"),
      on_retry_(std::move(on_retry)),
      on_cancelled_(std::move(on_cancelled)),
      worker_(worker) {}

void ExecutionsApi::dead_letters(ServerRequest&& request, ServerConnection::Reply reply) {
  if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
  if (request.method != "GET") return reply(method_not_allowed("GET"));
  list(request, true, std::move(reply));
}

void ExecutionsApi::executions(ServerRequest&& request, ServerConnection::Reply reply) {
  if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (path == kPrefix) {
    if (request.method != "GET") return reply(method_not_allowed("GET"));
    return list(request, false, std::move(reply));
  }
  if (path == std::string(kPrefix) + "/stats") {
    if (request.method != "GET") return reply(method_not_allowed("GET"));
    // Up to 100,000 histories read and parsed: on the stats thread, not on
    // this connection's event loop, which serves webhooks and events too.
    worker_.answer(std::move(reply),
                   [this, request = std::move(request)](ServerConnection::Reply& reply) { stats(request, reply); });
    return;
  }
  // /api/v1/executions/{id}[/retry|/cancel|/resend|/mark-done]
  std::string_view rest = std::string_view(path).substr(sizeof kPrefix);
  const size_t slash = rest.find('/');
  const auto id = parse_id(rest.substr(0, slash));
  if (!id)
    return reply(error_response(
        404, "not_found",
        "no execution '" + std::string(rest.substr(0, slash)) + "' (an execution's id is a positive integer)"));
  const std::string verb = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  if (verb.empty()) {
    if (request.method != "GET") return reply(method_not_allowed("GET"));
    auto row = store_.execution(*id);
    if (!row) return reply(error_response(404, "not_found", "no execution " + std::to_string(*id)));
    json body = summary(*row);
    body["history"] = json::parse(row->history_json, nullptr, false);
    body["context"] = json::parse(row->context_json, nullptr, false);
    return reply(json_response(200, body));
  }
  if (verb != "retry" && verb != "cancel" && verb != "resend" && verb != "mark-done")
    return reply(error_response(404, "not_found", "no route " + path));
  if (request.method != "POST") return reply(method_not_allowed("POST"));
  command(*id, verb, request.body, std::move(reply));
}

void ExecutionsApi::list(const ServerRequest& request, bool dead_letters_only, ServerConnection::Reply reply) {
  ExecutionQuery query;
  std::string contact;
  if (dead_letters_only) query.state = ExecutionState::kFailed;
  const QueryParameters read = read_query(request.target);
  if (read.refusal) return reply(error_response(400, "bad_request", *read.refusal));
  for (const auto& [key, value] : read.parameters) {
    // An empty name or id would list everything, as if none were given.
    if (value.empty() && (key == "rule" || key == "event_id" || key == "contact"))
      return reply(error_response(400, "bad_request",
                                  key + ": empty (expected " +
                                      (key == "rule"       ? "a rule's name"
                                       : key == "event_id" ? "an event's id"
                                                           : "a contact's id, email:<address> or phone:<number>") +
                                      ")"));
    if (key == "state" && !dead_letters_only) {
      query.state = state_named(value);
      if (!query.state)
        return reply(
            error_response(400, "bad_request",
                           "state: expected ready, waiting, done, failed, cancelled or in_doubt, got '" + value + "'"));
    } else if (key == "rule") {
      query.rule = value;
    } else if (key == "event_id") {
      query.event_id = value;
    } else if (key == "contact") {
      contact = value;
    } else if (key == "limit") {
      const auto n = parse_id(value);
      if (!n || *n > 1000) return reply(error_response(400, "bad_request", "limit: expected 1 to 1000"));
      query.limit = static_cast<size_t>(*n);
    } else if (key == "cursor") {
      const auto before = parse_id(value);
      if (!before) return reply(error_response(400, "bad_request", "cursor: not one this API gave"));
      query.before_id = *before;
    } else {
      return reply(error_response(400, "bad_request", "unknown parameter '" + key + "'"));
    }
  }
  if (!contact.empty()) query.contact_keys = keys_of_contact(contact_key_of(contact));
  // One more than the page: whether a next page exists is known, not guessed
  // from a full page (the last page would point at an empty one).
  const size_t page = query.limit;
  ++query.limit;
  std::vector<ExecutionRow> rows = store_.executions(query);
  const bool more = rows.size() > page;
  if (more) rows.resize(page);
  if (rows.empty() && !query.rule.empty() && !rule_known(query.rule))
    return reply(
        error_response(404, "not_found", "no rule '" + query.rule + "' in the config, and no executions of one"));
  if (rows.empty() && !contact.empty() && !contact_known(query.contact_keys))
    return reply(error_response(404, "not_found", "no contact '" + contact + "', and no executions of one"));
  json items = json::array();
  for (const auto& row : rows) items.push_back(summary(row));
  // Newest first; a page with more after it says where the next one begins.
  json next = more ? json(std::to_string(rows.back().id)) : json(nullptr);
  reply(json_response(200, {{dead_letters_only ? "dead_letters" : "executions", std::move(items)}, {"next", next}}));
}

void ExecutionsApi::stats(const ServerRequest& request, ServerConnection::Reply& reply) {
  std::string rule;
  std::optional<int64_t> since;
  size_t most = kStatsDefaultExecutions;
  const QueryParameters read = read_query(request.target);
  if (read.refusal) return reply(error_response(400, "bad_request", *read.refusal));
  for (const auto& [key, value] : read.parameters) {
    if (key == "rule") {
      rule = value;
    } else if (key == "since") {
      since = parse_time_ms(value);
      if (!since) return reply(error_response(400, "bad_request", "since: " + expected_rfc3339_time(value)));
    } else if (key == "limit") {
      const auto n = parse_id(value);
      if (!n || static_cast<size_t>(*n) > kStatsMostExecutions)
        return reply(error_response(400, "bad_request",
                                    "limit: expected 1 to " + std::to_string(kStatsMostExecutions) + " executions"));
      most = static_cast<size_t>(*n);
    } else {
      return reply(error_response(400, "bad_request", "unknown parameter '" + key + "'"));
    }
  }
  if (rule.empty()) return reply(error_response(400, "bad_request", "rule: required (the rule's name)"));
  if (!rule_known(rule))
    return reply(error_response(404, "not_found", "no rule '" + rule + "' in the config, and no executions of one"));
  const auto counted =
      count_executions(store_, rule, stats_rules_, since, std::nullopt, most, [&] { return worker_.stopping(); });
  if (!counted) return reply(error_response(503, "unavailable", "the host is shutting down"));
  const ExecutionStats& stats = counted->stats;
  const bool complete = counted->complete;
  json body = stats.to_json();
  body["rule"] = rule;
  if (since) body["since"] = format_time_ms(*since);
  // Not complete: the newest `limit` executions were counted, older ones not.
  body["complete"] = complete;
  reply(json_response(200, body));
}

// A misspelt name would find nothing and look like a rule that did nothing;
// a rule the config has no more still has its executions.
bool ExecutionsApi::rule_known(const std::string& rule) const {
  if (stats_rules_.count(rule)) return true;
  ExecutionQuery any;
  any.rule = rule;
  any.limit = 1;
  return !store_.executions(any).empty();
}

// An execution keeps the key its contact had when it began: an address
// before the CRM gave the contact its id. So the contact's executions are
// under its key, the one asked for, and each of its addresses that the store
// knows as theirs (not a twin's who shares a phone).
std::vector<std::string> ExecutionsApi::keys_of_contact(const std::string& asked) const {
  std::vector<std::string> keys{asked};
  const auto stored = store_.contact(asked);
  if (!stored) return keys;
  const auto add = [&](const std::string& key) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  };
  add(stored->key);
  const json data = json::parse(stored->data_json, nullptr, false);
  for (const auto& [list, member, alias] :
       {std::tuple{"emails", "address", &email_alias}, std::tuple{"phones", "number", &phone_alias}}) {
    if (!data.is_object() || !data.contains(list) || !data[list].is_array()) continue;
    for (const json& item : data[list]) {
      if (!item.is_object() || !item.contains(member) || !item[member].is_string()) continue;
      const std::string key = alias(item[member].get<std::string>());
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
      if (const auto owner = store_.contact(key); owner && owner->key == stored->key) add(key);
    }
  }
  return keys;
}

bool ExecutionsApi::contact_known(const std::vector<std::string>& keys) const {
  if (store_.contact(keys.front())) return true;
  ExecutionQuery any;
  any.contact_keys = keys;
  any.limit = 1;
  return !store_.executions(any).empty();
}

std::optional<ServerResponse> ExecutionsApi::on_current_version(int64_t id, ExecutionCommand& c) const {
  const auto row = store_.execution(id);
  if (!row) return error_response(404, "not_found", "no execution " + std::to_string(id));
  // A branch goes on in its parallel group's version, which its join reads.
  if (row->parent_id != 0)
    return error_response(409, "conflict",
                          "execution " + std::to_string(id) + " is a branch of execution " +
                              std::to_string(row->parent_id) + ": it is retried on its group's version");
  if (row->rule_version.empty())
    return error_response(
        409, "conflict",
        "execution " + std::to_string(id) + " began before rule versions were kept: retry it as it is");
  const std::string current = rule_versions_.current ? rule_versions_.current(row->rule) : "";
  if (current.empty()) return error_response(409, "conflict", "rule '" + row->rule + "' is not in the config now");
  // The same step: its id (a name, or a path) does the same there.
  const std::string stopped_at = rule_versions_.step(row->rule, row->rule_version, row->step);
  if (row->step != kEndId && (stopped_at.empty() || rule_versions_.step(row->rule, current, row->step) != stopped_at))
    return error_response(409, "conflict",
                          "rule '" + row->rule + "' as the config has it now has not the step '" + row->step +
                              "' the execution stopped at (name the step to keep it across edits): retry it on its "
                              "own version");
  c.rule_version = current;
  return std::nullopt;
}

void ExecutionsApi::command(int64_t id, const std::string& verb, const std::string& body,
                            ServerConnection::Reply reply) {
  ExecutionCommand c;
  c.id = id;
  const int64_t now = now_ms();
  json entry{{"admin", verb}, {"at", format_time_ms(now)}};
  // A retry's options: no body, or an empty object (what a client sends by
  // default), is none. (The other commands take none, and read no body.)
  const json asked = body.find_first_not_of(" \t\r\n") == std::string::npos ? json::object() : parse_bounded(body);
  const bool blank = asked == json::object();
  if (verb == "retry") {
    c.from = {ExecutionState::kFailed, ExecutionState::kCancelled};
    c.to = ExecutionState::kReady;
    c.due_at_ms = now;
    if (!blank) {
      if (asked != json{{"version", "current"}} && asked != json{{"version", "own"}})
        return reply(error_response(
            400, "bad_request",
            "expected no body (the execution's own rule version), {\"version\": \"own\"} or {\"version\": "
            "\"current\"} (the rule as the config has it now, at the same step)"));
      if (asked["version"] == "current") {
        auto why = on_current_version(id, c);
        if (why) return reply(std::move(*why));
        entry["version"] = c.rule_version;
      }
    }
  } else if (verb == "cancel") {
    c.from = {ExecutionState::kReady, ExecutionState::kWaiting, ExecutionState::kInDoubt};
    c.to = ExecutionState::kCancelled;
  } else {
    // An in-doubt step: sent again, or counted as done and the next one runs.
    c.from = {ExecutionState::kInDoubt};
    c.to = ExecutionState::kReady;
    c.due_at_ms = now;
    c.doubt = verb == "mark-done" ? Doubt::kMarkedDone : Doubt::kNone;
  }
  c.history_entry_json = dump_text(entry);
  transitions_.command(std::move(c),
                       [this, id, verb, reply = std::move(reply)](StoreStatus status, std::vector<int64_t> cancelled) {
                         if (status.code == StoreErrc::kNotFound)
                           return reply(error_response(404, "not_found", status.message));
                         if (status.code == StoreErrc::kConflict)
                           return reply(error_response(409, "conflict", status.message + ": cannot " + verb + " it"));
                         if (!status.ok()) return reply(error_response(503, "store_unavailable", status.message));
                         if (verb != "cancel" && on_retry_) on_retry_();
                         if (!cancelled.empty() && on_cancelled_) on_cancelled_(cancelled);
                         reply(json_response(200, {{"id", id}, {"state", verb == "cancel" ? "cancelled" : "ready"}}));
                       });
}

}  // namespace sb
