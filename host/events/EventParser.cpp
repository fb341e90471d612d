#include "events/EventParser.h"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>

#include "config/JsonSchema.h"
#include "event_schema.h"
#include "store/ContactAliases.h"
#include "store/MessageReports.h"
#include "util/JsonText.h"
#include "util/Time.h"
#include "util/Zones.h"

namespace sb {

using nlohmann::json;

namespace {

// nlohmann::json destroys and serialises recursively: deeper bodies could
// exhaust an I/O thread's stack.
constexpr int kMaxDepth = 64;
constexpr size_t kMaxAddresses = 50;  // a contact's emails, or phones (the schema's maxItems)

const JsonSchema& event_schema() {
  static const JsonSchema schema(json::parse(event_schema::events_event_schema_json));
  return schema;
}

// A value the stores keep as a key in a text column: PostgreSQL's text
// holds no U+0000 (and libpq would cut the value there), so no backend
// takes it (the same event must mean the same on both).
void refuse_nul(const std::string& value, const std::string& where, ParsedEvents& out) {
  if (value.find('\0') != std::string::npos) out.problems.push_back({where, "must not contain the character U+0000"});
}

// The first item's string `field` of the array `list`, or null.
const json* json_at(const json& c, const char* list, const char* field) {
  const auto items = c.find(list);
  if (items == c.end() || !items->is_array() || items->empty() || !(*items)[0].is_object()) return nullptr;
  const auto value = (*items)[0].find(field);
  return value != (*items)[0].end() && value->is_string() ? &*value : nullptr;
}

// A contact's zone the host does not know would be passed over at every send
// window and special date: a sender is told at once. (Events made inside the
// host, from plugins and rules, keep what they carry.)
void refuse_unknown_zone(const json& event, const std::string& pointer, ParsedEvents& out) {
  if (!event.is_object()) return;
  const auto check = [&](const json& record, const std::string& where) {
    const auto zone = record.is_object() ? record.find("timezone") : record.end();
    if (zone != record.end() && zone->is_string() && !is_time_zone(zone->get<std::string>()))
      out.problems.push_back(
          {pointer + "/" + where + "/timezone",
           "unknown time zone '" + zone->get<std::string>() + "' (expected an IANA name such as Europe/Moscow)"});
  };
  for (const char* record : {"contact", "company"})
    if (const auto it = event.find(record); it != event.end() && it->contains("timezone")) check(*it, record);
  if (const auto contacts = event.find("contacts"); contacts != event.end() && contacts->is_array())
    for (size_t i = 0; i < contacts->size(); ++i) check((*contacts)[i], "contacts/" + std::to_string(i));
}

// An event that only names a record ({"id": "C1"}; an entity's type and
// id) changes nothing, so a payment that names an unknown lead does not
// create it with no status: unless the event is that record's creation
// (`lead.created`, `contact.created`).
bool only_names(const json& record, const std::string& record_type, const std::string& event_type) {
  for (const auto& [key, value] : record.items())
    if (key != "id" && key != "type") return false;
  return event_type != record_type + ".created";
}

// Not blank, and no control character: an id goes into headers
// (Idempotency-Key), where a line break cannot.
bool printable_id(const std::string& id) {
  bool seen = false;
  for (const char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
    seen = seen || u != ' ';
  }
  return seen;
}

// A string of `min` to `max` characters, by its bytes: at most `max` bytes
// is at most `max` characters; a longer one is left to the schema, and so
// is one with a U+0000 (valijson counts the characters before it only).
bool short_string(const json& value, size_t min, size_t max) {
  if (!value.is_string()) return false;
  const std::string& text = value.get_ref<const std::string&>();
  return text.size() >= min && text.size() <= max && text.find('\0') == std::string::npos;
}

// The schema's email pattern, ^[^@\s]+@[^@\s]+\.[^@\s]+$, for printable
// ASCII (anything else is left to the schema).
bool plain_email(const std::string& address) {
  if (address.size() > 320) return false;
  size_t at = std::string::npos;
  for (size_t i = 0; i < address.size(); ++i) {
    const char c = address[i];
    if (c <= ' ' || c > '~' || (c == '@' && at != std::string::npos)) return false;
    if (c == '@') at = i;
  }
  if (at == std::string::npos || at == 0) return false;
  const size_t dot = address.find('.', at + 2);                 // a domain's character before it ...
  return dot != std::string::npos && dot + 1 < address.size();  // ... and after it
}

// The schema's phone pattern, ^\+?[0-9][0-9 ()./-]{3,38}$: digits as CRMs
// group them ("+7 (999) 000-11-22", "+7.999.000.11.22", "999/000-11-22").
bool plain_phone(const std::string& number) {
  const size_t first = !number.empty() && number[0] == '+' ? 1 : 0;
  if (number.size() < first + 4 || number.size() > first + 39) return false;
  if (number[first] < '0' || number[first] > '9') return false;
  for (size_t i = first + 1; i < number.size(); ++i) {
    const char c = number[i];
    if (!((c >= '0' && c <= '9') || c == ' ' || c == '(' || c == ')' || c == '-' || c == '.' || c == '/')) return false;
  }
  return true;
}

// A contact's "emails" or "phones": at most kMaxAddresses objects of `field` (checked
// by `plain`) and an optional "type" of `types`.
bool plain_addresses(const json& list, const char* field, bool (*plain)(const std::string&),
                     std::initializer_list<const char*> types) {
  if (!list.is_array() || list.size() > kMaxAddresses) return false;
  for (const json& item : list) {
    if (!item.is_object()) return false;
    bool has_field = false;
    for (const auto& [key, value] : item.get_ref<const json::object_t&>()) {
      if (!value.is_string()) return false;
      const std::string& text = value.get_ref<const std::string&>();
      if (key == field) {
        has_field = plain(text);
        if (!has_field) return false;
      } else if (key != "type" || std::find(types.begin(), types.end(), text) == types.end()) {
        return false;
      }
    }
    if (!has_field) return false;
  }
  return true;
}

bool plain_contact(const json& contact) {
  if (!contact.is_object()) return false;
  for (const auto& [field, value] : contact.get_ref<const json::object_t&>()) {
    const bool plain =
        field == "id"       ? short_string(value, 1, 200)
        : field == "name"   ? short_string(value, 0, 500)
        : field == "status" ? value.is_null() || short_string(value, 1, 200)
        : field == "emails" ? plain_addresses(value, "address", plain_email, {"work", "private", "newsletter", "other"})
        : field == "phones" ? plain_addresses(value, "number", plain_phone, {"mobile", "work", "home", "other"})
                            : false;
    if (!plain) return false;
  }
  return true;
}

// The shape of most events (a campaign's: an id, a type, a time, data, a
// contact named by its id, name, emails and phones) passes the schema:
// checked by hand, as the schema would. Validating them took 44 % of the
// ingest thread's time in a campaign. Anything else goes to the schema,
// which explains what is wrong: this only ever says yes.
bool plainly_valid(const json& event) {
  if (!event.is_object()) return false;
  bool id = false, type = false;
  for (const auto& [key, value] : event.get_ref<const json::object_t&>()) {
    if (key == "id") {
      id = short_string(value, 1, 200) && printable_id(value.get_ref<const std::string&>());
      if (!id) return false;
    } else if (key == "type") {
      type = value.is_string() && is_event_type(value.get_ref<const std::string&>());
      if (!type) return false;
    } else if (key == "time") {
      if (!short_string(value, 0, 64)) return false;
    } else if (key == "data") {
      if (!value.is_object()) return false;
    } else if (key == "contact") {
      if (!plain_contact(value)) return false;
    } else {
      return false;
    }
  }
  return id && type;
}

// The event's person when it names no "contact": the first of a record's
// "contacts" (a deal with several people), else its "company" when that
// has an address (as Bitrix24 sends: to the contact rather than the
// company). The company stands in without its id, which is not a person's.
std::optional<json> stand_in_contact(const json& event) {
  if (event.contains("contact")) return std::nullopt;
  if (const auto contacts = event.find("contacts"); contacts != event.end() && !contacts->empty())
    return contacts->front();
  const auto company = event.find("company");
  if (company == event.end()) return std::nullopt;
  json person = json::object();
  for (const char* key : {"name", "email", "phone", "emails", "phones", "timezone", "responsible"})
    if (const auto it = company->find(key); it != company->end()) person[key] = *it;
  if (!person.contains("email") && !person.contains("phone") && !person.contains("emails") &&
      !person.contains("phones"))
    return std::nullopt;
  return person;
}

// A manager listed with "emails" or "phones" and no single "email" or
// "phone" is sent from, and connected to, the first of them (as Bitrix24
// takes a manager with several addresses); what plugins read is the single
// one.
void name_first_addresses(json& managers) {
  for (json& manager : managers)
    for (const auto& [one, list, member] :
         {std::tuple{"email", "emails", "address"}, std::tuple{"phone", "phones", "number"}})
      if (const json* first = manager.contains(one) ? nullptr : json_at(manager, list, member)) manager[one] = *first;
}

// Calls `visit` with each list of managers an event's records carry, until it returns true.
template <typename Json, typename Visit>
bool each_managers(Json& event, Visit visit) {
  for (const char* part : {"entity", "contact", "company", "contacts"}) {
    const auto it = event.find(part);
    if (it == event.end()) continue;
    if (it->is_object() && it->contains("responsible") && visit((*it)["responsible"])) return true;
    if (it->is_array())
      for (auto& record : *it)
        if (record.is_object() && record.contains("responsible") && visit(record["responsible"])) return true;
  }
  return false;
}

// A contact named by one "email" or "phone" (as SendPulse names one): the
// event as if it listed them first in "emails" and "phones", which is what
// the host keeps and rules read (the same address further down the list,
// in any case, moves up with its type); the event's person stands in for a
// record's contacts or company, and managers' first addresses are named
// (above). Nothing when the event needs none of it. A list that would grow
// past the schema's 50 is a problem at `pointer`.
std::optional<json> with_listed_addresses(const json& event, const std::string& pointer, ParsedEvents& out) {
  std::optional<json> person = stand_in_contact(event);
  const bool managers = each_managers(event, [](const json& list) {
    return list.is_array() && std::any_of(list.begin(), list.end(), [](const json& m) {
             return m.is_object() && (m.contains("emails") || m.contains("phones"));
           });
  });
  const auto contact = event.find("contact");
  const json* who = person ? &*person : contact != event.end() ? &*contact : nullptr;
  const bool single = who && who->is_object() && (who->contains("email") || who->contains("phone"));
  if (!person && !managers && !single) return std::nullopt;
  json listed = event;
  if (person) listed["contact"] = std::move(*person);
  if (managers)
    each_managers(listed, [](json& list) {
      name_first_addresses(list);
      return false;
    });
  if (!single) return listed;
  json& c = listed["contact"];
  for (const auto& [one, list, member, alias] : {std::tuple{"email", "emails", "address", &email_alias},
                                                 std::tuple{"phone", "phones", "number", &phone_alias}}) {
    const auto it = c.find(one);
    if (it == c.end()) continue;
    json& all = c[list];
    if (!all.is_array()) all = json::array();
    const std::string named = alias(it->get<std::string>());
    const auto same = std::find_if(all.begin(), all.end(), [&](const json& a) {
      const auto given = a.find(member);
      return given != a.end() && given->is_string() && alias(given->get<std::string>()) == named;
    });
    json first = same == all.end() ? json{{member, *it}} : *same;
    if (same != all.end()) all.erase(same);
    if (all.size() >= kMaxAddresses) {
      out.problems.push_back({pointer + "/contact/" + one, std::string("with '") + list + "', more than " +
                                                               std::to_string(kMaxAddresses) + " of them"});
      return std::nullopt;
    }
    all.insert(all.begin(), std::move(first));
    c.erase(it);
  }
  return listed;
}

// Each record of the event (its contact, entity, company, contacts) and
// each of their managers, with where it is (a JSON pointer).
template <class Visit>
void each_record(const json& event, Visit visit) {
  const auto with_managers = [&](const json& record, const std::string& where) {
    visit(record, where);
    if (!record.is_object()) return;
    if (const auto managers = record.find("responsible"); managers != record.end() && managers->is_array())
      for (size_t i = 0; i < managers->size(); ++i) visit((*managers)[i], where + "/responsible/" + std::to_string(i));
  };
  for (const char* key : {"contact", "entity", "company"})
    if (const auto record = event.find(key); record != event.end() && record->is_object())
      with_managers(*record, std::string("/") + key);
  if (const auto people = event.find("contacts"); people != event.end() && people->is_array())
    for (size_t i = 0; i < people->size(); ++i) with_managers((*people)[i], "/contacts/" + std::to_string(i));
}

// A CRM that numbers its records names them with numbers (Bitrix24's
// "ID": 12345): the event with those ids as text, the same id either way;
// none when it has no such id.
std::optional<json> with_text_ids(const json& event) {
  std::optional<json> out;
  each_record(event, [&](const json& record, const std::string& where) {
    if (!record.is_object()) return;
    const auto id = record.find("id");
    if (id == record.end() || !id->is_number_integer()) return;
    if (!out) out = event;
    (*out)[json::json_pointer(where + "/id")] = id->dump();
  });
  return out;
}

// An address's or number's type as the host names it, from what CRMs write
// (Bitrix24's WORK, HOME, MAILING, MOBILE, FAX ...): a type it has no name
// for is "other", so that an odd type loses no event.
std::string known_type(std::string written, bool email) {
  for (char& c : written) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::map<std::string, std::string> kEmail{{"work", "work"},           {"business", "work"},
                                                         {"office", "work"},         {"corporate", "work"},
                                                         {"private", "private"},     {"home", "private"},
                                                         {"personal", "private"},    {"newsletter", "newsletter"},
                                                         {"mailing", "newsletter"},  {"newsletters", "newsletter"},
                                                         {"marketing", "newsletter"}};
  static const std::map<std::string, std::string> kPhone{
      {"mobile", "mobile"}, {"cell", "mobile"}, {"cellular", "mobile"}, {"cellphone", "mobile"}, {"work", "work"},
      {"business", "work"}, {"office", "work"}, {"home", "home"},       {"private", "home"},     {"personal", "home"}};
  const auto& known = email ? kEmail : kPhone;
  const auto it = known.find(written);
  return it == known.end() ? "other" : it->second;
}

// The event with the types of its people's and managers' addresses and
// numbers named as the host names them; none when each is already.
std::optional<json> with_known_types(const json& event) {
  std::optional<json> out;
  const auto in_list = [&](const json& list, const std::string& where, bool email) {
    if (!list.is_array()) return;
    for (size_t i = 0; i < list.size(); ++i) {
      const json& item = list[i];
      const auto type = item.is_object() ? item.find("type") : item.end();
      if (!item.is_object() || type == item.end() || !type->is_string()) continue;
      std::string named = known_type(type->get<std::string>(), email);
      if (named == type->get_ref<const std::string&>()) continue;
      if (!out) out = event;
      (*out)[json::json_pointer(where + "/" + std::to_string(i) + "/type")] = std::move(named);
    }
  };
  each_record(event, [&](const json& record, const std::string& where) {
    if (!record.is_object()) return;
    for (const bool email : {true, false})
      if (const auto list = record.find(email ? "emails" : "phones"); list != record.end())
        in_list(*list, where + (email ? "/emails" : "/phones"), email);
  });
  return out;
}

// One event, already at `pointer` in the body; `posted`: by a sender
// (its zones are checked), not made by the host. A plain event (a
// campaign's) has no zone, single address, company or managers to read.
void read_event(const json& as_posted, const std::string& pointer, int64_t now_ms, const std::string& source,
                ParsedEvents& out, bool posted) {
  std::optional<json> texted = with_text_ids(as_posted);
  const size_t problems_before = out.problems.size();
  bool plain = plainly_valid(texted ? *texted : as_posted);
  if (!plain)
    if (auto typed = with_known_types(texted ? *texted : as_posted)) {
      texted = std::move(typed);
      plain = plainly_valid(*texted);
    }
  const json& given = texted ? *texted : as_posted;
  if (!plain) {
    if (posted) refuse_unknown_zone(given, pointer, out);
    for (const auto& v : event_schema().validate(given)) out.problems.push_back({pointer + v.path, v.message});
  }
  if (out.problems.size() != problems_before) return;
  const std::optional<json> listed = plain ? std::nullopt : with_listed_addresses(given, pointer, out);
  if (out.problems.size() != problems_before) return;
  const json& event = listed ? *listed : given;

  EventRecord record;
  record.id = event["id"].get<std::string>();
  refuse_nul(record.id, pointer + "/id", out);
  record.type = event["type"].get<std::string>();
  record.source = source;
  record.received_at_ms = now_ms;
  record.occurred_at_ms = now_ms;
  if (event.contains("time")) {
    if (auto ms = parse_time_ms(event["time"].get<std::string>()))
      record.occurred_at_ms = *ms;
    else
      out.problems.push_back(
          {pointer + "/time",
           "expected an RFC 3339 date-time such as 2026-11-24T10:00:00Z or 2026-11-24T13:00:00+03:00"});
  }

  if (event.contains("contact")) {
    const json& c = event["contact"];
    std::string key = contact_key(c);
    if (key.empty())  // where the person was written: a record's first contact stands in for one
      out.problems.push_back({pointer + (given.contains("contact")    ? "/contact"
                                         : given.contains("contacts") ? "/contacts/0"
                                                                      : "/company"),
                              "needs an id, an email or a phone to tell who the person is"});
    refuse_nul(key, pointer + "/contact", out);
    if (!key.empty()) {
      // Tags added or removed one by one are changes, not the contact's data;
      // the aggregates are the host's own (store/Store.h ContactAggregate).
      json data = c;
      data.erase("aggregates");
      std::vector<std::string> add, remove;
      for (auto [name, list] : {std::pair{"add_tags", &add}, std::pair{"remove_tags", &remove}})
        if (const auto it = data.find(name); it != data.end()) {
          *list = it->get<std::vector<std::string>>();
          data.erase(it);
        }
      record.contact = ContactUpdate{std::move(key),
                                     only_names(data, "contact", record.type) ? "" : dump_text(data),
                                     ListChange{std::move(add), std::move(remove)},
                                     {}};
      record.contact->aliases = contact_aliases(c);
    }
  }
  if (event.contains("entity")) {
    const json& e = event["entity"];
    EntityUpdate update;
    update.type = e["type"].get<std::string>();
    update.id = e["id"].get<std::string>();
    update.sets_status = e.contains("status");
    if (update.sets_status && e["status"].is_string()) update.status = e["status"].get<std::string>();
    if (update.sets_status && e.contains("previous_status"))
      update.stated_previous = e["previous_status"].is_string()
                                   ? std::optional<std::string>(e["previous_status"].get<std::string>())
                                   : std::nullopt;
    refuse_nul(update.id, pointer + "/entity/id", out);
    refuse_nul(update.status.value_or(""), pointer + "/entity/status", out);
    if (!only_names(e, update.type, record.type)) update.data_json = dump_text(e);
    record.entity = std::move(update);
  }
  if (out.problems.size() != problems_before) return;
  record.message_id = reported_message_id(record.type, event);
  record.body_json = dump_text(event);
  out.records.push_back(std::move(record));
}

}  // namespace

// The schema's "type" pattern, ^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$.
bool is_event_type(const std::string& type) {
  if (type.size() > 100) return false;
  bool word_start = true, dotted = false;
  for (char c : type) {
    const bool lower = c >= 'a' && c <= 'z', tail = lower || (c >= '0' && c <= '9') || c == '_';
    if (c == '.') {
      if (word_start) return false;
      word_start = dotted = true;
    } else if (word_start ? !lower : !tail) {
      return false;
    } else {
      word_start = false;
    }
  }
  return dotted && !word_start;
}

std::string contact_key(const json& c) {
  if (!c.is_object()) return "";
  if (const auto id = c.find("id"); id != c.end() && id->is_string()) return "id:" + id->get<std::string>();
  const json* email = json_at(c, "emails", "address");
  if (email) return email_alias(email->get<std::string>());
  const json* phone = json_at(c, "phones", "number");
  if (phone) return phone_alias(phone->get<std::string>());
  return "";
}

std::string contact_key_of(const std::string& named) {
  for (const char* prefix : {"id:", "email:", "phone:"})
    if (named.rfind(prefix, 0) == 0) return normalized_alias(named);
  return "id:" + named;
}

std::string bounded_event_id(const std::string& id) {
  if (id.size() <= kMaxEventIdBytes) return id;
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : id) hash = (hash ^ c) * 1099511628211ull;
  static const char kHex[] = "0123456789abcdef";
  std::string tail = "~";
  for (int shift = 60; shift >= 0; shift -= 4) tail += kHex[(hash >> shift) & 15];
  // Cut on a character's first byte: the id stays UTF-8.
  size_t keep = kMaxEventIdBytes - tail.size();
  while (keep > 0 && (static_cast<unsigned char>(id[keep]) & 0xC0) == 0x80) --keep;
  return id.substr(0, keep) + tail;
}

ParsedEvents parse_event(const json& event, int64_t now_ms, const std::string& source) {
  ParsedEvents out;
  read_event(event, "", now_ms, source, out, /*posted=*/false);
  return out;
}

ParsedEvents parse_events(std::string_view body, int64_t now_ms, size_t max_batch, const std::string& source) {
  ParsedEvents out;
  bool too_deep = false;
  const json doc = json::parse(
      body,
      [&too_deep](int depth, json::parse_event_t, json&) {
        if (depth > kMaxDepth) too_deep = true;
        return !too_deep;
      },
      false);
  if (too_deep) {
    out.problems.push_back({"", "nested deeper than " + std::to_string(kMaxDepth) + " levels"});
    return out;
  }
  if (doc.is_discarded()) {
    // Read again, throwing, to say where and why: only a broken body pays
    // for it, and what it builds is no deeper than the first read allowed.
    std::string why = "the body is not JSON";
    try {
      const json again = json::parse(body);
    } catch (const json::exception& e) {
      // A syntax error ("[json.exception.parse_error.101] parse error at line 1, column 8: ..."), or a
      // number beyond a double ("[json.exception.out_of_range.406] number overflow parsing '1e400'").
      const std::string what = e.what();
      const size_t reason = what.find("] ");
      why += ": " + (reason == std::string::npos ? what : what.substr(reason + 2));
    }
    out.problems.push_back({"", std::move(why)});
    out.not_json = true;
    return out;
  }
  if (!doc.is_object()) {
    out.problems.push_back({"", "expected an event object or {\"events\": [...]}"});
    return out;
  }
  if (!doc.contains("events")) {
    read_event(doc, "", now_ms, source, out, /*posted=*/true);
    return out;
  }
  out.batch = true;
  const json& events = doc["events"];
  if (doc.size() != 1) out.problems.push_back({"", "a batch is {\"events\": [...]} and nothing else"});
  if (!events.is_array() || events.empty() || events.size() > max_batch) {
    out.problems.push_back({"/events", "expected an array of 1 to " + std::to_string(max_batch) + " events"});
    return out;
  }
  for (size_t i = 0; i < events.size(); ++i) {
    const std::string pointer = "/events/" + std::to_string(i);
    read_event(events[i], pointer, now_ms, source, out, /*posted=*/true);
  }
  if (!out.problems.empty()) out.records.clear();  // all or nothing
  return out;
}

}  // namespace sb
