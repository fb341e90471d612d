#include "crm/CrmService.h"

#include "crm/ChangeEvents.h"
#include "events/EventParser.h"
#include "rules/Condition.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

constexpr size_t kScanBudget = 5000;  // contacts a query reads at most, whatever its filter skips

json object_of(const std::string& text) {
  json data = json::parse(text, nullptr, false);
  return data.is_object() ? data : json::object();
}

json contact_json(const StoredContact& c) {
  return {{"key", c.key}, {"data", object_of(c.data_json)}, {"updated_at", format_time_ms(c.updated_at_ms)}};
}

}  // namespace

CrmService::CrmService(Store& store, RecordRules rules, std::function<void()> stored)
    : store_(store), rules_(std::move(rules)), stored_(std::move(stored)) {}

CrmAnswer CrmService::get(const std::string& kind, const std::string& id) {
  if (kind == "contact") {
    const auto contact = store_.contact(contact_key_of(id));
    if (!contact) return {SB_ERR_NOT_FOUND, "no contact '" + id + "'"};
    return {SB_OK, dump_text(contact_json(*contact))};
  }
  const auto entity = store_.entity(kind, id);
  if (!entity) return {SB_ERR_NOT_FOUND, "no " + kind + " '" + id + "'"};
  return {SB_OK, dump_text(json{{"type", entity->type},
                                {"id", entity->id},
                                {"status", entity->status ? json(*entity->status) : json()},
                                {"data", object_of(entity->data_json)},
                                {"updated_at", format_time_ms(entity->updated_at_ms)}})};
}

CrmAnswer CrmService::query(const std::string& filter_json, const std::string& after, size_t limit) {
  const json filter = json::parse(filter_json.empty() ? "{}" : filter_json, nullptr, false);
  std::vector<ConditionProblem> problems;
  const auto condition = filter.is_discarded() ? nullptr : Condition::compile(filter, problems);
  if (!condition) {
    std::string why = "the filter does not compile:";
    if (filter.is_discarded()) why += " not JSON";
    for (const auto& p : problems) why += " " + (p.pointer.empty() ? "/" : p.pointer) + ": " + p.message + ";";
    return {SB_ERR_INVALID_ARGUMENT, why};
  }
  RecordQuery page;
  page.after = after;
  page.limit = 500;
  const int64_t now = now_ms();
  json items = json::array();
  size_t scanned = 0;
  for (;;) {
    const auto rows = store_.contacts_page(page);
    for (size_t i = 0; i < rows.size(); ++i) {
      page.after = rows[i].key;
      ++scanned;
      json item = contact_json(rows[i]);
      if (condition->matches(json{{"contact", item["data"]}}, now)) items.push_back(std::move(item));
      const bool last_of_store = i + 1 == rows.size() && rows.size() < page.limit;
      if (items.size() == limit || scanned >= kScanBudget)
        return {SB_OK,
                dump_text(json{{"items", std::move(items)}, {"next", last_of_store ? json() : json(page.after)}})};
    }
    if (rows.size() < page.limit) return {SB_OK, dump_text(json{{"items", std::move(items)}, {"next", nullptr}})};
  }
}

void CrmService::apply(const CallSubject& call, const std::string& instance, const std::string& call_key,
                       const std::string& change_json, std::function<void(CrmAnswer)> done) {
  const json change = json::parse(change_json, nullptr, false);
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
    done({SB_OK, id});
    if (stored) stored();
  });
}

}  // namespace sb
