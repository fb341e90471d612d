// The events a stored event implies, as every backend stores them.
#include <gtest/gtest.h>

#include "store/RecordChanges.h"
#include "util/JsonText.h"

namespace sb {
namespace {

using nlohmann::json;

// A derived event's body is the JSON an object of its parts dumps to, byte
// for byte (it is written part by part), whatever its ids hold.
TEST(RecordChanges, ADerivedEventsBodyIsItsObjectDumped) {
  EventRecord cause;
  cause.id = "ev \"1\"/ü\\";
  cause.type = "deal.moved";
  cause.source = "api";
  cause.occurred_at_ms = 1764806400123;
  cause.contact = ContactUpdate{"id:p\"1", "{}"};
  cause.entity = EntityUpdate{"deal", "D\n1", false, std::string("won"), "{}"};
  const json contact_after = {{"fields", {{"city", "Łódź"}}}, {"tags", {"vip"}}};
  const json contact_before = {{"fields", {{"city", "Kraków"}}}};
  const json deal_after = json::object();
  const auto derived = derived_events(cause, RecordImage{&contact_before, &contact_after, false},
                                      RecordImage{nullptr, &deal_after, true});
  ASSERT_EQ(derived.size(), 3u);  // deal.created, contact.tag_added, contact.field_changed
  const json entity = {{"type", "deal"}, {"id", "D\n1"}};
  const std::vector<std::pair<std::string, json>> expected = {
      {"deal.created", {{"caused_by", cause.id}}},
      {"contact.tag_added", {{"tag", "vip"}, {"caused_by", cause.id}}},
      {"contact.field_changed", {{"field", "city"}, {"old", "Kraków"}, {"new", "Łódź"}, {"caused_by", cause.id}}}};
  for (size_t i = 0; i < derived.size(); ++i) {
    SCOPED_TRACE(derived[i].type);
    EXPECT_EQ(derived[i].type, expected[i].first);
    const json body = {{"id", derived[i].id},
                       {"type", derived[i].type},
                       {"time", "2025-12-04T00:00:00.123Z"},
                       {"data", expected[i].second},
                       {"entity", entity}};
    EXPECT_EQ(derived[i].body_json, dump_text(body));
    EXPECT_EQ(json::parse(derived[i].body_json), body);
  }
  EXPECT_EQ(derived[0].id, cause.id + ":created:deal");
}

// An event from the API that names contact p1 only.
EventRecord about_p1(const std::string& id, const std::string& type) {
  EventRecord cause;
  cause.id = id;
  cause.type = type;
  cause.source = "api";
  cause.contact = ContactUpdate{"id:p1", "{}"};
  return cause;
}

// SendPulse's "contact field changed: email, phone": the name, the first
// address and the first number count as fields of a known contact.
TEST(RecordChanges, AContactsNameFirstEmailAndFirstPhoneAreFieldsThatChange) {
  const EventRecord cause = about_p1("c2", "contact.updated");
  const json before = {
      {"name", "Анна"}, {"emails", {{{"address", "anna@old.test"}}}}, {"phones", {{{"number", "+79990001122"}}}}};
  json after = before;
  after["emails"] = {{{"address", "anna@new.test"}}, {{"address", "anna@old.test"}}};
  after["phones"].push_back({{"number", "+79990003344"}});  // a second number: the first is the same
  after["name"] = "Анна Петрова";
  const auto derived = derived_events(cause, RecordImage{&before, &after, false}, RecordImage{});
  ASSERT_EQ(derived.size(), 2u);
  EXPECT_EQ(derived[0].id, "c2:contact_changed:name");
  EXPECT_EQ(json::parse(derived[0].body_json)["data"],
            (json{{"field", "name"}, {"old", "Анна"}, {"new", "Анна Петрова"}, {"caused_by", "c2"}}));
  EXPECT_EQ(derived[1].type, "contact.field_changed");
  EXPECT_EQ(json::parse(derived[1].body_json)["data"],
            (json{{"field", "email"}, {"old", "anna@old.test"}, {"new", "anna@new.test"}, {"caused_by", "c2"}}));
  // A phone given for the first time.
  const json no_phone = {{"name", "Анна"}};
  json with_phone = no_phone;
  with_phone["phones"] = {{{"number", "+79990001122"}}};
  const auto added = derived_events(cause, RecordImage{&no_phone, &with_phone, false}, RecordImage{});
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(json::parse(added[0].body_json)["data"]["field"], "phone");
  EXPECT_EQ(json::parse(added[0].body_json)["data"]["new"], "+79990001122");
  // Nothing a rule wants: none made.
  const EventTypeFilter nobody = [](const std::string&) { return false; };
  EXPECT_TRUE(derived_events(cause, RecordImage{&before, &after, false}, RecordImage{}, &nobody).empty());
}

// A value sent again another way is no change: a number as text, an
// address in capitals, a number written with its national prefix.
TEST(RecordChanges, AValueWrittenAnotherWayIsNoChange) {
  const EventRecord cause = about_p1("c3", "crm.sync");
  const json before = {{"emails", {{{"address", "ivan@example.com"}}}},
                       {"phones", {{{"number", "+79991112233"}}}},
                       {"fields", {{"Budget", 15000}, {"city", "Омск"}}}};
  const json after = {{"emails", {{{"address", "IVAN@example.com"}}}},
                      {"phones", {{{"number", "+7 (999) 111-22-33"}}}},
                      {"fields", {{"Budget", "15 000"}, {"city", "Омск"}}}};
  EXPECT_TRUE(derived_events(cause, RecordImage{&before, &after, false}, RecordImage{}).empty());
  for (const char* amount : {"15000.00", "15 000,00", "15000"}) {  // Bitrix24's OPPORTUNITY, a Russian form
    json again = after;
    again["fields"]["Budget"] = amount;
    EXPECT_TRUE(derived_events(cause, RecordImage{&before, &again, false}, RecordImage{}).empty()) << amount;
  }
  // Beyond 2^53 a double cannot tell them apart: two ids, a change.
  json big_before = before, big_after = after;
  big_before["fields"]["Budget"] = 9007199254740993;
  big_after["fields"]["Budget"] = "9007199254740992";
  EXPECT_EQ(derived_events(cause, RecordImage{&big_before, &big_after, false}, RecordImage{}).size(), 1u);
  big_after["fields"]["Budget"] = "9007199254740993";  // the same id as text
  EXPECT_TRUE(derived_events(cause, RecordImage{&big_before, &big_after, false}, RecordImage{}).empty());
  json changed = after;
  changed["fields"]["Budget"] = "15001";
  const auto derived = derived_events(cause, RecordImage{&before, &changed, false}, RecordImage{});
  ASSERT_EQ(derived.size(), 1u);
  EXPECT_EQ(json::parse(derived[0].body_json)["data"]["new"], "15001");
}

// SendPulse's "deal status changed — moved to a new stage": whatever event
// moved it, unless that event is the status change itself.
TEST(RecordChanges, AnEntityMovedToAnotherStatusDerivesItsStatusChange) {
  EventRecord cause;
  cause.id = "d5";
  cause.type = "deal.updated";
  cause.source = "api";
  cause.entity = EntityUpdate{"deal", "D1", true, std::string("В работе"), "{}"};
  const json data = json::object();
  RecordImage deal{&data, &data, false};
  deal.status_moved = {{std::string("Новая"), std::string("В работе")}};
  auto derived = derived_events(cause, RecordImage{}, deal);
  ASSERT_EQ(derived.size(), 1u);
  EXPECT_EQ(derived[0].type, "deal.status_changed");
  EXPECT_EQ(derived[0].id, "d5:status_changed:deal");
  EXPECT_EQ(json::parse(derived[0].body_json)["data"],
            (json{{"previous_status", "Новая"}, {"status", "В работе"}, {"caused_by", "d5"}}));
  EXPECT_FALSE(derived[0].entity->sets_status);                   // no status trigger fires twice
  deal.status_moved = {{std::nullopt, std::string("В работе")}};  // from no status
  derived = derived_events(cause, RecordImage{}, deal);
  ASSERT_EQ(derived.size(), 1u);
  EXPECT_TRUE(json::parse(derived[0].body_json)["data"]["previous_status"].is_null());
  deal.status_moved = {{std::string("В работе"), std::string("В работе")}};  // the same again
  EXPECT_TRUE(derived_events(cause, RecordImage{}, deal).empty());
  cause.type = "deal.status_changed";  // the CRM said so itself
  deal.status_moved = {{std::string("Новая"), std::string("В работе")}};
  EXPECT_TRUE(derived_events(cause, RecordImage{}, deal).empty());
}

// amoCRM's "responsible changed": a record whose list of managers changed,
// however the change came (a rule's crm.set_responsible, a CRM's update).
TEST(RecordChanges, ARecordWhoseManagersChangedDerivesTheChange) {
  EventRecord cause;
  cause.id = "r1";
  cause.type = "deal.updated";
  cause.source = "crm";
  cause.contact = ContactUpdate{"id:p1", "{}"};
  cause.entity = EntityUpdate{"deal", "D1", false, std::nullopt, "{}"};
  const json anna = {{"id", "m1"}, {"name", "Анна"}};
  const json oleg = {{"id", "m2"}, {"name", "Олег"}};
  const json deal_before = {{"responsible", {anna}}, {"fields", {{"budget", 5}}}};
  const json deal_after = {{"responsible", {oleg}}, {"fields", {{"budget", 5}}}};
  const json contact = json::object();
  auto derived = derived_events(cause, RecordImage{&contact, &contact, false}, RecordImage{&deal_before, &deal_after});
  ASSERT_EQ(derived.size(), 1u);
  EXPECT_EQ(derived[0].type, "deal.responsible_changed");
  EXPECT_EQ(derived[0].id, "r1:responsible_changed:deal");
  EXPECT_EQ(json::parse(derived[0].body_json)["data"],
            (json{{"previous", {anna}}, {"responsible", {oleg}}, {"caused_by", "r1"}}));
  // The contact's own managers, from none.
  const json contact_after = {{"responsible", {anna}}};
  derived = derived_events(cause, RecordImage{&contact, &contact_after, false}, RecordImage{});
  ASSERT_EQ(derived.size(), 1u);
  EXPECT_EQ(derived[0].type, "contact.responsible_changed");
  EXPECT_EQ(json::parse(derived[0].body_json)["data"]["previous"], json::array());
  // Another first manager (the one {{Менеджер}} reads): a change.
  json reordered = deal_before;
  reordered["responsible"] = {oleg, anna};
  json both = deal_before;
  both["responsible"] = {anna, oleg};
  derived = derived_events(cause, RecordImage{}, RecordImage{&both, &reordered});
  ASSERT_EQ(derived.size(), 1u);
  EXPECT_EQ(derived[0].type, "deal.responsible_changed");
  // The same managers again (a name corrected, an address added, the others
  // reordered behind the first), or a new record's first ones: no change.
  EXPECT_TRUE(derived_events(cause, RecordImage{}, RecordImage{&deal_after, &deal_after}).empty());
  json renamed = deal_after;
  renamed["responsible"] = {{{"id", "m2"}, {"name", "Олег Петров"}, {"email", "oleg@example.com"}}};
  EXPECT_TRUE(derived_events(cause, RecordImage{}, RecordImage{&deal_after, &renamed}).empty());
  derived = derived_events(cause, RecordImage{}, RecordImage{nullptr, &deal_after, true});
  ASSERT_EQ(derived.size(), 1u);
  EXPECT_EQ(derived[0].type, "deal.created");
  const EventTypeFilter nobody = [](const std::string&) { return false; };
  EXPECT_TRUE(derived_events(cause, RecordImage{}, RecordImage{&deal_before, &deal_after}, &nobody).empty());
}

TEST(RecordChanges, ADerivedEventOfAnEventWithoutEntityNamesNone) {
  const EventRecord cause = about_p1("c1", "campaign.send");
  const json contact_after = json::object();
  const auto derived = derived_events(cause, RecordImage{nullptr, &contact_after, true}, RecordImage{});
  ASSERT_EQ(derived.size(), 1u);
  EXPECT_EQ(derived[0].type, "contact.created");
  EXPECT_EQ(derived[0].body_json,
            R"({"data":{"caused_by":"c1"},"id":"c1:created:contact","time":"1970-01-01T00:00:00.000Z",)"
            R"("type":"contact.created"})");
  ASSERT_TRUE(derived[0].contact);
  EXPECT_EQ(derived[0].contact->key, "id:p1");
  EXPECT_FALSE(derived[0].entity);
}

}  // namespace
}  // namespace sb
