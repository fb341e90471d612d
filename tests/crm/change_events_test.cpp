// What a change asked through switchboard.crm/1 becomes: the event, its
// targets (the call's own unless named), its id and chain depth, and a
// precise error for a change that cannot be made.
#include <gtest/gtest.h>

#include "crm/ChangeEvents.h"

namespace sb {
namespace {

using nlohmann::json;

const RecordRules kPipelines{{{"clients", {"Новый", "VIP"}}}, {"vip", "newsletter"}, {"lapsed"}};
const CallSubject kCall{"visit-10", 2, "id:C1", "deal", "D1", "{}", 0, "vip", "0"};

std::variant<EventRecord, std::string> make(const json& change) {
  return change_event(ChangeRequest{kCall, "visit-10:vip:0", "crm", 1'000'000}, change, kPipelines);
}

EventRecord event_of(const json& change) {
  auto made = make(change);
  if (auto* why = std::get_if<std::string>(&made)) ADD_FAILURE() << *why;
  return std::holds_alternative<EventRecord>(made) ? std::get<EventRecord>(made) : EventRecord{};
}

std::string error_of(const json& change) {
  auto made = make(change);
  return std::holds_alternative<std::string>(made) ? std::get<std::string>(made) : "(an event)";
}

TEST(ChangeEvents, AStatusGoesToTheCallsEntityOneChainStepDeeperWithTheStepsKeyAsId) {
  const EventRecord e = event_of({{"op", "set_status"}, {"status", "VIP"}});
  EXPECT_EQ(e.id, "visit-10:vip:0");
  EXPECT_EQ(e.type, "deal.status_changed");
  EXPECT_EQ(e.source, "crm");
  EXPECT_EQ(e.chain_depth, 3);
  ASSERT_TRUE(e.entity);
  EXPECT_EQ(e.entity->id, "D1");
  EXPECT_TRUE(e.entity->sets_status);
  EXPECT_EQ(e.entity->status, "VIP");
  ASSERT_TRUE(e.contact);
  EXPECT_EQ(e.contact->key, "id:C1");
  EXPECT_EQ(e.contact->data_json, "");  // the person is named, not changed
  EXPECT_EQ(json::parse(e.body_json)["data"]["caused_by"], "visit-10");
  EXPECT_EQ(json::parse(e.body_json)["data"]["rule"], "vip");                          // named when a chain is cut
  EXPECT_FALSE(event_of({{"op", "set_status"}, {"status", nullptr}}).entity->status);  // no status
}

// The client's own status: on the contact (the call's, or the one named),
// never an entity's; what only an entity's status takes is refused by name.
TEST(ChangeEvents, AClientsOwnStatusGoesOnTheContact) {
  const EventRecord e = event_of({{"op", "set_status"}, {"record", "contact"}, {"status", "VIP"}});
  EXPECT_EQ(e.type, "contact.updated");
  EXPECT_FALSE(e.entity);
  ASSERT_TRUE(e.contact);
  EXPECT_EQ(e.contact->key, "id:C1");
  EXPECT_EQ(json::parse(e.contact->data_json), json({{"status", "VIP"}}));
  EXPECT_EQ(
      event_of({{"op", "set_status"}, {"record", "contact"}, {"contact", "C2"}, {"status", nullptr}}).contact->key,
      "id:C2");
  EXPECT_EQ(error_of({{"op", "set_status"}, {"record", "contact"}, {"status", "VIP"}, {"if_status", {"Новый"}}}),
            "/if_status: holds a change to an entity's status; a contact's is set as it is");
  EXPECT_EQ(error_of({{"op", "set_status"},
                      {"record", "contact"},
                      {"status", "VIP"},
                      {"entity", {{"type", "deal"}, {"id", "D2"}}}}),
            "/entity: a contact's status names the contact, not an entity");
  EXPECT_EQ(error_of({{"op", "set_status"}, {"record", "contact"}, {"status", "vip"}, {"pipeline", "clients"}}),
            "/status: 'vip' is not a status of pipeline 'clients'");
  EXPECT_EQ(error_of({{"op", "set_status"}, {"status", "VIP"}, {"contact", "C2"}}),
            "/contact: names the contact whose own status moves, with \"record\": \"contact\"");
  EXPECT_EQ(error_of({{"op", "set_status"}, {"record", "deal"}, {"status", "VIP"}}),
            "/record: expected \"entity\" or \"contact\"");
}

// A task done says when, in the same event as its status (one event, one
// rule run on it).
TEST(ChangeEvents, FieldsSetWithAStatusGoInTheSameEvent) {
  const EventRecord e =
      event_of({{"op", "set_status"}, {"status", "done"}, {"fields", {{"completed_at", "2026-12-06T10:00:00Z"}}}});
  ASSERT_TRUE(e.entity);
  EXPECT_EQ(e.entity->status, "done");
  EXPECT_EQ(json::parse(e.entity->data_json)["fields"]["completed_at"], "2026-12-06T10:00:00Z");
  EXPECT_EQ(error_of({{"op", "set_status"}, {"status", "done"}, {"fields", "now"}}),
            "/fields: expected the fields set with the status, by name");
}

TEST(ChangeEvents, AStatusChangeMayHoldOnlyWhileTheEntityIsInTheStatusesNamed) {
  const EventRecord e = event_of({{"op", "set_status"}, {"status", "cancelled"}, {"if_status", {"open", nullptr}}});
  ASSERT_TRUE(e.entity && e.entity->only_from);
  EXPECT_EQ(*e.entity->only_from, (std::vector<std::optional<std::string>>{"open", std::nullopt}));
  EXPECT_FALSE(event_of({{"op", "set_status"}, {"status", "VIP"}}).entity->only_from);  // whatever it is in
  EXPECT_EQ(error_of({{"op", "set_status"}, {"status", "VIP"}, {"if_status", "open"}}),
            "/if_status: expected the statuses the entity may be in for the change (null: none)");
  EXPECT_EQ(error_of({{"op", "set_status"}, {"status", "VIP"}, {"if_status", {nullptr, 1}}}),
            "/if_status/1: expected a status (a string) or null");
  // With a pipeline, each status it is held to is one of the pipeline's.
  const EventRecord held =
      event_of({{"op", "set_status"}, {"status", "VIP"}, {"pipeline", "clients"}, {"if_status", {"Новый"}}});
  EXPECT_EQ(*held.entity->only_from, (std::vector<std::optional<std::string>>{"Новый"}));
  EXPECT_EQ(
      error_of({{"op", "set_status"}, {"status", "VIP"}, {"pipeline", "clients"}, {"if_status", {"Новый", "Old"}}}),
      "/if_status/1: 'Old' is not a status of pipeline 'clients'");
}

TEST(ChangeEvents, TagsAndFieldsAreChangesOfTheNamedOrTheCallsRecord) {
  const EventRecord tags = event_of({{"op", "add_tags"}, {"tags", {"VIP"}}, {"contact", "C9"}, {"key", "t"}});
  EXPECT_EQ(tags.id, "visit-10:vip:0:t");
  EXPECT_EQ(tags.type, "contact.updated");
  EXPECT_EQ(tags.contact->key, "id:C9");
  EXPECT_EQ(tags.contact->tags.add, std::vector<std::string>{"VIP"});
  const EventRecord removed = event_of({{"op", "remove_tags"}, {"tags", {"lead"}}});
  EXPECT_EQ(removed.contact->key, "id:C1");
  EXPECT_EQ(removed.contact->tags.remove, std::vector<std::string>{"lead"});
  const EventRecord field = event_of({{"op", "set_fields"}, {"record", "entity"}, {"fields", {{"budget", 5}}}});
  EXPECT_EQ(field.type, "deal.updated");
  EXPECT_EQ(json::parse(field.entity->data_json), json::parse(R"({"fields":{"budget":5}})"));
  EXPECT_FALSE(field.entity->sets_status);
  const EventRecord deal = event_of({{"op", "create_entity"}, {"entity", {{"type", "deal"}, {"status", "VIP"}}}});
  EXPECT_EQ(deal.type, "deal.created");
  EXPECT_EQ(deal.entity->id, "visit-10:vip:0");  // the same on every retry
  EXPECT_EQ(deal.contact->key, "id:C1");
  const EventRecord contact =
      event_of({{"op", "create_contact"}, {"contact", {{"emails", {{{"address", "A@example.com"}}}}}}});
  EXPECT_EQ(contact.contact->key, "email:a@example.com");
}

// A deal handed to another manager: the managers alone, or with fields; the
// contact's own managers too.
TEST(ChangeEvents, ARecordsManagersAreSetAsAWholeListAloneOrWithFields) {
  const json managers = json::parse(R"([{"id": "m2", "name": "Олег", "email": "oleg@example.com"}])");
  const EventRecord deal = event_of({{"op", "set_fields"}, {"record", "entity"}, {"responsible", managers}});
  EXPECT_EQ(deal.type, "deal.updated");
  EXPECT_EQ(json::parse(deal.entity->data_json), (json{{"responsible", managers}}));
  EXPECT_EQ(json::parse(deal.body_json)["data"]["responsible"], managers);
  const EventRecord both =
      event_of({{"op", "set_fields"}, {"record", "entity"}, {"fields", {{"stage", 2}}}, {"responsible", managers}});
  EXPECT_EQ(json::parse(both.entity->data_json), (json{{"fields", {{"stage", 2}}}, {"responsible", managers}}));
  const EventRecord contact = event_of({{"op", "set_fields"}, {"responsible", managers}});
  EXPECT_EQ(contact.type, "contact.updated");
  EXPECT_EQ(json::parse(contact.contact->data_json), (json{{"responsible", managers}}));
  const std::string expected =
      "/responsible: the record's managers, as a list of {\"id\", \"name\"?, \"email\"?, \"phone\"?}";
  EXPECT_EQ(error_of({{"op", "set_fields"}, {"record", "entity"}, {"responsible", {{"name", "Олег"}}}}), expected);
  EXPECT_EQ(error_of({{"op", "set_fields"}, {"record", "entity"}, {"responsible", "m2"}}), expected);
  EXPECT_EQ(error_of({{"op", "set_fields"}, {"record", "entity"}}),
            "/fields: expected an object of fields to set (null removes one)");
}

TEST(ChangeEvents, AChangeThatCannotBeMadeSaysWhichFieldAndWhatWasExpected) {
  EXPECT_EQ(error_of({{"status", "VIP"}}),
            "/op: expected one of set_status, set_fields, add_tags, remove_tags, "
            "create_contact, create_entity");
  EXPECT_NE(error_of({{"op", "merge"}}).find("/op: no change 'merge'"), std::string::npos);
  EXPECT_EQ(error_of({{"op", "set_status"}, {"status", "Золотой"}, {"pipeline", "clients"}}),
            "/status: 'Золотой' is not a status of pipeline 'clients'");
  EXPECT_EQ(error_of({{"op", "set_status"}, {"status", "VIP"}, {"pipeline", "nope"}}),
            "/pipeline: no pipeline 'nope' in the config");
  EXPECT_EQ(error_of({{"op", "set_status"}}), "/status: expected the status to move to, or null for no status");
  EXPECT_EQ(error_of({{"op", "add_tags"}, {"tags", json::array()}}),
            "/tags: expected a list of tags (each 1-100 characters)");
  EXPECT_EQ(error_of({{"op", "set_fields"}, {"fields", {{"a", 1}}}, {"record", "lead"}}),
            "/record: expected \"contact\" or \"entity\"");
  EXPECT_NE(error_of({{"op", "create_contact"}, {"contact", {{"name", "No Id"}}}}).find("/contact: needs an id"),
            std::string::npos);
  const CallSubject bare{"e", 0, "", "", "", "{}", 0, "", ""};
  auto none = change_event(ChangeRequest{bare, "k", "crm", 1}, {{"op", "set_status"}, {"status", "VIP"}}, kPipelines);
  EXPECT_EQ(std::get<std::string>(none), "/entity: the call's event has no entity, and the change names none");
  none = change_event(ChangeRequest{bare, "k", "crm", 1}, {{"op", "add_tags"}, {"tags", {"x"}}}, kPipelines);
  EXPECT_EQ(std::get<std::string>(none), "/contact: the call's event has no contact, and the change names none");
}

// A rule cannot put a contact in a dynamic segment (its filter decides):
// said so, not "no such segment".
TEST(ChangeEvents, ADynamicSegmentIsNamedAsSuchWhenARuleAddsToIt) {
  EXPECT_EQ(error_of({{"op", "add_to_segments"}, {"segments", {"lapsed"}}}),
            "/segments: segment 'lapsed' is dynamic: its filter decides who is in it (a rule puts contacts in static "
            "segments only)");
  EXPECT_EQ(error_of({{"op", "add_to_segments"}, {"segments", {"nope"}}}),
            "/segments: no segment 'nope' in the config (there are newsletter, vip)");
}

}  // namespace
}  // namespace sb
