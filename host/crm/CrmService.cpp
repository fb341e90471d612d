#include "crm/CrmService.h"

#include <functional>
#include <optional>
#include <variant>

#include "crm/ChangeEvents.h"
#include "events/EventParser.h"
#include "rules/Condition.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

constexpr size_t kScanBudget = 5000;  // records a query reads at most, whatever its filter skips

json object_of(const std::string& text) {
  json data = json::parse(text, nullptr, false);
  return data.is_object() ? data : json::object();
}

json contact_json(const StoredContact& c) {
  return {{"key", c.key}, {"data", object_of(c.data_json)}, {"updated_at", format_time_ms(c.updated_at_ms)}};
}

json entity_json(const StoredEntity& e) {
  return {{"type", e.type},
          {"id", e.id},
          {"status", e.status ? json(*e.status) : json()},
          {"data", object_of(e.data_json)},
          {"updated_at", format_time_ms(e.updated_at_ms)}};
}

// The filter a query was given, compiled, or why it does not compile.
std::variant<std::unique_ptr<Condition>, std::string> compiled_filter(const std::string& filter_json) {
  const json filter = parse_bounded(filter_json.empty() ? "{}" : filter_json);
  std::vector<ConditionProblem> problems;
  auto condition = filter.is_discarded() ? nullptr : Condition::compile(filter, problems);
  if (condition) return condition;
  std::string why = "the filter does not compile:";
  if (filter.is_discarded()) why += " not JSON";
  for (const auto& p : problems) why += " " + (p.pointer.empty() ? "/" : p.pointer) + ": " + p.message + ";";
  return why;
}

// Pages of the store's rows, read until `limit` match or kScanBudget rows
// were read: {"items": [...], "next": the last row read's cursor, or null at
// the store's end}.
template <typename Row>
CrmAnswer scan(RecordQuery page, size_t limit, const std::function<std::vector<Row>(const RecordQuery&)>& read,
               const std::function<std::string(const Row&)>& cursor, const std::function<std::string(const Row&)>& next,
               const std::function<std::optional<json>(const Row&)>& item_if_it_matches) {
  page.limit = 500;
  json items = json::array();
  size_t scanned = 0;
  for (;;) {
    const auto rows = read(page);
    for (size_t i = 0; i < rows.size(); ++i) {
      page.after = cursor(rows[i]);
      ++scanned;
      if (auto item = item_if_it_matches(rows[i])) items.push_back(std::move(*item));
      const bool last_of_store = i + 1 == rows.size() && rows.size() < page.limit;
      if (items.size() == limit || scanned >= kScanBudget)
        return {SB_OK,
                dump_text(json{{"items", std::move(items)}, {"next", last_of_store ? json() : json(next(rows[i]))}})};
    }
    if (rows.size() < page.limit) return {SB_OK, dump_text(json{{"items", std::move(items)}, {"next", nullptr}})};
  }
}

}  // namespace

CrmService::CrmService(Store& store, RecordRules rules, std::function<void()> stored, json account)
    : store_(store), rules_(std::move(rules)), stored_(std::move(stored)), account_(std::move(account)) {}

CrmAnswer CrmService::get(const std::string& kind, const std::string& id) {
  if (kind == "contact") {
    const auto contact = store_.contact(contact_key_of(id));
    if (!contact) return {SB_ERR_NOT_FOUND, "no contact '" + id + "'"};
    return {SB_OK, dump_text(contact_json(*contact))};
  }
  const auto entity = store_.entity(kind, id);
  if (!entity) return {SB_ERR_NOT_FOUND, "no " + kind + " '" + id + "'"};
  return {SB_OK, dump_text(entity_json(*entity))};
}

CrmAnswer CrmService::query(const std::string& filter_json, const std::string& after, size_t limit) {
  auto filter = compiled_filter(filter_json);
  if (auto* why = std::get_if<std::string>(&filter)) return {SB_ERR_INVALID_ARGUMENT, *why};
  const Condition& condition = *std::get<std::unique_ptr<Condition>>(filter);
  RecordQuery page;
  page.after = after;
  const int64_t now = now_ms();
  return scan<StoredContact>(
      page, limit, [&](const RecordQuery& q) { return store_.contacts_page(q); },
      [](const StoredContact& c) { return c.key; }, [](const StoredContact& c) { return c.key; },
      [&](const StoredContact& c) -> std::optional<json> {
        json item = contact_json(c);
        if (!condition.matches(json{{"contact", item["data"]}, {"account", account_}}, now)) return std::nullopt;
        return item;
      });
}

CrmAnswer CrmService::query_entities(const std::string& type, const std::string& filter_json, const std::string& after,
                                     size_t limit) {
  if (type.empty()) return {SB_ERR_INVALID_ARGUMENT, "an entity query needs a type"};
  auto filter = compiled_filter(filter_json);
  if (auto* why = std::get_if<std::string>(&filter)) return {SB_ERR_INVALID_ARGUMENT, *why};
  const Condition& condition = *std::get<std::unique_ptr<Condition>>(filter);
  RecordQuery page;
  page.entity_type = type;
  page.after = after.empty() ? "" : entity_cursor_key(type, after);
  const int64_t now = now_ms();
  return scan<StoredEntity>(
      page, limit, [&](const RecordQuery& q) { return store_.entities_page(q); },
      [](const StoredEntity& e) { return entity_cursor_key(e.type, e.id); }, [](const StoredEntity& e) { return e.id; },
      [&](const StoredEntity& e) -> std::optional<json> {
        json item = entity_json(e);
        // As rules see an entity: its data, with the row's type, id and status.
        json seen = item["data"];
        seen["type"] = e.type;
        seen["id"] = e.id;
        seen["status"] = item["status"];
        if (!condition.matches(json{{"entity", std::move(seen)}, {"account", account_}}, now)) return std::nullopt;
        return item;
      });
}

void CrmService::apply(const CallSubject& call, const std::string& instance, const std::string& call_key,
                       const std::string& change_json, std::function<void(CrmAnswer)> done) {
  const json change = parse_bounded(change_json);
  std::variant<EventRecord, std::string> made;
  try {
    made = change_event(ChangeRequest{call, call_key, instance, now_ms()}, change, rules_);
  } catch (const json::exception& e) {
    made = std::string("a malformed change: ") + e.what();
  }
  if (auto* why = std::get_if<std::string>(&made)) return done({SB_ERR_INVALID_ARGUMENT, *why});
  std::vector<EventRecord> batch;
  batch.push_back(std::move(std::get<EventRecord>(made)));
  const EventRecord& e = batch.front();
  // Changing a task (or another record) that must exist does not create it.
  if (change.value("must_exist", false) && e.entity && !store_.entity(e.entity->type, e.entity->id))
    return done({SB_ERR_INVALID_ARGUMENT, "/entity: no " + e.entity->type + " '" + e.entity->id + "'"});
  const std::string id = e.id;
  // A step run again stores a duplicate, which changes nothing: done all the same.
  store_.append_events(std::move(batch), [stored = stored_, id, done = std::move(done)](AppendResult result) {
    if (!result.ok()) return done({SB_ERR_UNAVAILABLE, "cannot store the change: " + result.error});
    // The entity was no longer in a status "if_status" names: nothing changed.
    if (!result.outcomes.empty() && result.outcomes.front() == AppendOutcome::kUnchanged) return done({SB_OK, ""});
    if (!result.outcomes.empty() && result.outcomes.front() == AppendOutcome::kIdTaken)
      return done({SB_ERR_INVALID_ARGUMENT, id_taken_problem(id)});
    done({SB_OK, id});
    if (stored) stored();
  });
}

}  // namespace sb
