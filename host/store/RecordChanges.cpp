#include "store/RecordChanges.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "store/ContactAliases.h"
#include "util/JsonText.h"
#include "util/Text.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

std::vector<std::string> list_of(const json* record, const char* name) {
  std::vector<std::string> tags;
  if (!record || !record->is_object()) return tags;
  const auto it = record->find(name);
  if (it == record->end() || !it->is_array()) return tags;
  for (const json& t : *it)
    if (t.is_string()) tags.push_back(t.get<std::string>());
  return tags;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string json_string(const std::string& text) { return dump_text(json(text)); }

const json& fields_of(const json* record) {
  static const json none = json::object();
  if (!record || !record->is_object()) return none;
  const auto it = record->find("fields");
  return it != record->end() && it->is_object() ? *it : none;
}

// A field's value as a CRM may send it again: 15000 and "15000" are one
// value (a form sends text, an API numbers), not a change.
bool same_value(const json& a, const json& b) {
  if (a == b) return true;
  const json* text = a.is_string() ? &a : b.is_string() ? &b : nullptr;
  const json* number = a.is_number() ? &a : b.is_number() ? &b : nullptr;
  if (!text || !number) return false;
  const std::string& written = text->get_ref<const std::string&>();
  const auto read = number_in_text(written);
  if (!read) return false;
  // Beyond a double's 2^53 a whole number is compared digit by digit: two
  // ids that differ in their last digits are two values.
  constexpr double kExact = 9007199254740992.0;
  if (number->is_number_integer() && std::abs(*read) >= kExact) {
    std::string digits;
    for (const char c : written) {
      if (c == '.' || c == ',' || c == 'e' || c == 'E') return false;
      if ((c >= '0' && c <= '9') || c == '-') digits += c;
    }
    return digits == number->dump();
  }
  return *read == number->get<double>();
}

class Deriver {
 public:
  Deriver(const EventRecord& cause, const EventTypeFilter* wanted, std::vector<EventRecord>& out)
      : cause_(cause), wanted_(wanted), out_(out) {}

  // Items of the contact's list `name` that came (`entered`) or went (`left`).
  void members(RecordImage contact, const char* name, const std::string& entered, const std::string& left,
               const char* item) {
    if (!contact.after) return;
    const auto before = list_of(contact.before, name), after = list_of(contact.after, name);
    const auto kind = [](const std::string& type) { return type.substr(type.find('.') + 1); };
    for (const auto& x : after)
      if (!has(before, x)) add(entered, kind(entered) + ":" + x, {{item, x}});
    for (const auto& x : before)
      if (!has(after, x)) add(left, kind(left) + ":" + x, {{item, x}});
  }

  // "New contact" and "new deal" as triggers: the record's first event says it
  // came, unless that event's own type says so already.
  void created(const std::string& record_type, RecordImage image) {
    if (image.created) add(record_type + ".created", "created:" + record_type, json::object());
  }

  void fields(const std::string& record_type, RecordImage image) {
    if (!image.before || !image.after) return;  // a new record's fields are not changes
    const json& before = fields_of(image.before);
    const json& after = fields_of(image.after);
    for (const auto& [name, old_value] : before.items()) {
      const auto now = after.find(name);
      const json new_value = now == after.end() ? json() : *now;
      if (!same_value(old_value, new_value)) changed(record_type, name, old_value, new_value);
    }
    for (const auto& [name, new_value] : after.items())
      if (!before.contains(name) && !new_value.is_null()) changed(record_type, name, json(), new_value);
  }

  // A client's own status (new, active, VIP ...), whatever set it: the
  // contact came with one, an event or a rule (crm.set_status, record
  // contact) changed it.
  void contact_status(RecordImage contact) {
    if (!contact.after || !contact.after->is_object()) return;
    const auto status_of = [](const json* record) {
      if (!record || !record->is_object()) return json();
      const auto it = record->find("status");
      return it != record->end() && it->is_string() ? *it : json();
    };
    // A contact first stored under an address, now merged into one with an
    // id, has no image before: not a move (a new one's status is).
    if (!contact.before && !contact.created) return;
    const json before = status_of(contact.before), after = status_of(contact.after);
    if (before != after)
      add("contact.status_changed", "status_changed:contact", {{"previous_status", before}, {"status", after}});
  }

  // "Moved to a new stage" as a trigger, whatever event moved it.
  void status(const std::string& record_type, RecordImage image) {
    if (!image.status_moved || image.status_moved->first == image.status_moved->second) return;
    const auto text = [](const std::optional<std::string>& s) { return s ? json(*s) : json(); };
    add(record_type + ".status_changed", "status_changed:" + record_type,
        {{"previous_status", text(image.status_moved->first)}, {"status", text(image.status_moved->second)}});
  }

  // "The responsible manager changed" as a trigger (a deal handed to
  // another): the record's managers before and after, as lists, when the
  // managers (by id) are others or another is first (the one templates and
  // an email's sender read), not when one's name or address changed.
  void responsible(const std::string& record_type, RecordImage image) {
    if (!image.before || !image.after || !image.before->is_object() || !image.after->is_object()) return;
    const std::string type = record_type + ".responsible_changed";
    if (wanted_ && *wanted_ && !(*wanted_)(type)) return;
    static const json kNone = json::array();
    const auto managers = [](const json* record) -> const json& {
      const auto it = record->find("responsible");
      return it != record->end() && it->is_array() ? *it : kNone;
    };
    const auto ids = [](const json& list) {
      std::vector<std::string> out;
      for (const json& m : list)
        if (m.is_object() && m.contains("id"))
          out.push_back(m["id"].is_string() ? m["id"].get<std::string>() : m["id"].dump());
      return out;
    };
    const json &before = managers(image.before), &after = managers(image.after);
    auto was = ids(before), now = ids(after);
    const bool first_changed = (was.empty() ? "" : was.front()) != (now.empty() ? "" : now.front());
    std::sort(was.begin(), was.end());
    std::sort(now.begin(), now.end());
    if (first_changed || was != now)
      add(type, "responsible_changed:" + record_type, {{"previous", before}, {"responsible", after}});
  }

  // The contact's name, and its first email and phone (the ones a message
  // goes to), as "fields" a rule may watch: "email" and "phone" change when
  // the first address or number does.
  void contact_details(RecordImage contact) {
    if (!contact.before || !contact.after || (wanted_ && *wanted_ && !(*wanted_)("contact.field_changed"))) return;
    const auto first = [](const json* record, const char* list, const char* key) {
      if (!record->is_object()) return json();
      const auto items = record->find(list);
      if (items == record->end() || !items->is_array() || items->empty() || !(*items)[0].is_object()) return json();
      const auto value = (*items)[0].find(key);
      return value != (*items)[0].end() ? *value : json();
    };
    const auto name = [](const json* record) {
      if (!record->is_object()) return json();
      const auto value = record->find("name");
      return value != record->end() ? *value : json();
    };
    const std::pair<json, json> details[] = {
        {name(contact.before), name(contact.after)},
        {first(contact.before, "emails", "address"), first(contact.after, "emails", "address")},
        {first(contact.before, "phones", "number"), first(contact.after, "phones", "number")}};
    const char* names[] = {"name", "email", "phone"};
    // An address in other letters' case, a number written another way, is
    // the one it was.
    const auto same = [](size_t i, const json& a, const json& b) {
      if (a == b) return true;
      if (i == 0 || !a.is_string() || !b.is_string()) return false;
      const std::string &x = a.get_ref<const std::string&>(), &y = b.get_ref<const std::string&>();
      return i == 1 ? email_alias(x) == email_alias(y) : phone_alias(x) == phone_alias(y);
    };
    for (size_t i = 0; i < 3; ++i)
      if (!same(i, details[i].first, details[i].second))
        add("contact.field_changed", std::string("contact_changed:") + names[i],
            {{"field", names[i]}, {"old", details[i].first}, {"new", details[i].second}});
  }

 private:
  void changed(const std::string& record_type, const std::string& name, const json& old_value, const json& new_value) {
    add(record_type + ".field_changed", "field_changed:" + record_type + ":" + name,
        {{"field", name}, {"old", old_value}, {"new", new_value}});
  }

  void add(const std::string& type, const std::string& what, json data) {
    if (type == cause_.type || (wanted_ && *wanted_ && !(*wanted_)(type))) return;
    EventRecord e;
    e.id = cause_.id + ":" + what;
    e.type = type;
    e.source = cause_.source;
    e.occurred_at_ms = cause_.occurred_at_ms;
    e.received_at_ms = cause_.received_at_ms;
    e.chain_depth = cause_.chain_depth;
    data["caused_by"] = cause_.id;
    // Written part by part, in key order, as the object would dump: the
    // writer thread derives one of these for every new contact.
    std::string& body = e.body_json;
    body = "{\"data\":" + dump_text(data);
    if (cause_.entity)
      body += ",\"entity\":{\"id\":" + json_string(cause_.entity->id) +
              ",\"type\":" + json_string(cause_.entity->type) + "}";
    body += ",\"id\":" + json_string(e.id) + ",\"time\":\"" + format_time_ms(e.occurred_at_ms) +
            "\",\"type\":" + json_string(type) + "}";
    if (cause_.contact) e.contact = ContactUpdate{cause_.contact->key, ""};
    if (cause_.entity) e.entity = EntityUpdate{cause_.entity->type, cause_.entity->id, false, std::nullopt, ""};
    out_.push_back(std::move(e));
  }

  const EventRecord& cause_;
  const EventTypeFilter* wanted_;
  std::vector<EventRecord>& out_;
};

}  // namespace

void apply_list_changes(json& contact, const ContactUpdate& update) {
  for (const auto& [name, change] : {std::pair{"tags", &update.tags}, std::pair{"segments", &update.segments},
                                     std::pair{"manual_segments", &update.manual_segments},
                                     std::pair{"excluded_segments", &update.excluded_segments}}) {
    if (change->empty()) continue;
    std::vector<std::string> items = list_of(&contact, name);
    for (const auto& x : change->add)
      if (!has(items, x)) items.push_back(x);
    std::erase_if(items, [&](const std::string& x) { return has(change->remove, x); });
    contact[name] = items;
  }
}

namespace {

// The number at a dotted path ("data.amount"); a numeric string counts too.
std::optional<double> number_at(const json& body, const std::string& dotted) {
  const json* node = lookup_path(body, dotted);
  if (!node) return std::nullopt;
  if (node->is_number()) return node->get<double>();
  // As a goal's value and a filter read it: "12 500,50" too.
  if (node->is_string()) return number_in_text(node->get_ref<const std::string&>());
  return std::nullopt;
}

}  // namespace

bool apply_aggregates(json& contact, const EventRecord& event, const std::vector<ContactAggregate>& aggregates) {
  bool counted = false;
  std::optional<json> body;  // parsed once, for the first aggregate that reads a value
  for (const ContactAggregate& a : aggregates) {
    if (a.event_type != event.type) continue;
    // The host's own figures: whatever else is found there is replaced, never read.
    json& all = contact["aggregates"];
    if (!all.is_object()) all = json::object();
    json& figure = all[a.name];
    if (!figure.is_object()) figure = json::object();
    const auto number = [&](const char* name) -> std::optional<double> {
      const auto it = figure.find(name);
      return it != figure.end() && it->is_number() ? std::optional(it->get<double>()) : std::nullopt;
    };
    const std::string at = format_time_ms(event.occurred_at_ms);
    figure["count"] = static_cast<int64_t>(number("count").value_or(0)) + 1;
    const auto time = [&](const char* name) { return figure.contains(name) && figure[name].is_string(); };
    if (!time("first_at") || figure["first_at"].get<std::string>() > at) figure["first_at"] = at;
    if (!time("last_at") || figure["last_at"].get<std::string>() < at) figure["last_at"] = at;
    if (!a.value.empty()) {
      if (!body) body = json::parse(event.body_json, nullptr, false);
      const auto v = number_at(*body, a.value);
      const double sum = number("sum").value_or(0) + v.value_or(0);
      if (v && std::isfinite(*v) && std::isfinite(sum)) {
        const int64_t valued = static_cast<int64_t>(number("valued").value_or(0)) + 1;
        figure["valued"] = valued;
        figure["sum"] = sum;
        figure["average"] = sum / static_cast<double>(valued);
        figure["min"] = std::min(number("min").value_or(*v), *v);
        figure["max"] = std::max(number("max").value_or(*v), *v);
      }
    }
    counted = true;
  }
  return counted;
}

std::vector<EventRecord> derived_events(const EventRecord& cause, RecordImage contact, RecordImage entity,
                                        const EventTypeFilter* wanted) {
  std::vector<EventRecord> out;
  Deriver derive(cause, wanted, out);
  derive.created("contact", contact);
  if (cause.entity) derive.created(cause.entity->type, entity);
  derive.members(contact, "tags", "contact.tag_added", "contact.tag_removed", "tag");
  derive.members(contact, "segments", "segment.entered", "segment.left", "segment");
  derive.fields("contact", contact);
  derive.contact_details(contact);
  derive.contact_status(contact);
  if (cause.entity) derive.fields(cause.entity->type, entity);
  if (cause.entity) derive.status(cause.entity->type, entity);
  derive.responsible("contact", contact);
  if (cause.entity) derive.responsible(cause.entity->type, entity);
  return out;
}

}  // namespace sb
