// The events a sender posts are checked against events/event.schema.json;
// the common shapes pass a check by hand first (plainly_valid), which must
// never let through what the schema refuses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "events/EventParser.h"

namespace sb {
namespace {

using nlohmann::json;

// The problems of one event, as "pointer: message" lines.
std::string problems_of(const json& event) {
  const ParsedEvents parsed = parse_events(event.dump(), 1'000, 100, "api");
  std::string out;
  for (const auto& p : parsed.problems) out += p.pointer + ": " + p.message + "\n";
  if (out.empty() && parsed.records.size() != 1) out = "no record\n";
  return out;
}

TEST(EventParser, CommonEventsAtTheSchemasBoundsAreTaken) {
  const std::string id200(200, 'x'), name500(500, 'n');
  for (const json& event : {
           json{{"id", "e1"}, {"type", "campaign.send"}},
           json{{"id", id200}, {"type", "a.b"}, {"time", "2026-11-24T10:00:00Z"}, {"data", {{"n", 1}}}},
           json{{"id", "e2"}, {"type", "a_1.b2.c_"}, {"contact", {{"id", "p1"}, {"name", name500}}}},
           json{{"id", "e3"},
                {"type", "a.b"},
                {"contact",
                 {{"emails", {{{"address", "Anna.K+x@mail.example.ru"}, {"type", "work"}}, {{"address", "a@b.c"}}}},
                  {"phones", {{{"number", "+7 (999) 000-00-00"}, {"type", "mobile"}}, {{"number", "1234"}}}}}}},
           json{{"id", "e5"}, {"type", "a.b"}, {"contact", {{"phones", {{{"number", "+" + std::string(39, '1')}}}}}}},
           json{{"id", "e7"}, {"type", "a.b"}, {"contact", {{"id", "c"}, {"status", std::string(200, 's')}}}},
           json{{"id", "e8"}, {"type", "a.b"}, {"contact", {{"id", "c"}, {"status", nullptr}}}},
           // A record's manager with the number telephony's connect joins the client to.
           json{{"id", "e6"},
                {"type", "deal.created"},
                {"entity",
                 {{"type", "deal"},
                  {"id", "D1"},
                  {"responsible", {{{"id", "m1"}, {"name", "Анна"}, {"phone", "+79990001122"}}}}}}},
           // Not plainly valid by the hand check (not ASCII), valid by the schema.
           json{{"id", "e4"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "анна@почта.рф"}}}}}}},
           // 200 characters of two bytes each: the schema counts characters.
           json{{"id",
                 [] {
                   std::string ya;
                   for (int i = 0; i < 200; ++i) ya += "\xd1\x8f";
                   return ya;
                 }()},
                {"type", "x.y"}},
       })
    EXPECT_EQ(problems_of(event), "") << event.dump();
}

TEST(EventParser, WhatTheSchemaRefusesIsRefusedWhateverItsShape) {
  const struct {
    json event;
    const char* pointer;
  } cases[] = {
      {{{"type", "a.b"}}, ""},                                                    // no id
      {{{"id", "e"}}, ""},                                                        // no type
      {{{"id", ""}, {"type", "a.b"}}, "/id"},                                     // empty id
      {{{"id", std::string(201, 'x')}, {"type", "a.b"}}, "/id"},                  // too long
      {{{"id", 5}, {"type", "a.b"}}, "/id"},                                      // not a string
      {{{"id", "e"}, {"type", "lead"}}, "/type"},                                 // no dot
      {{{"id", "e"}, {"type", "lead."}}, "/type"},                                // empty word
      {{{"id", "e"}, {"type", ".lead"}}, "/type"},                                // empty word
      {{{"id", "e"}, {"type", "lead..created"}}, "/type"},                        // empty word
      {{{"id", "e"}, {"type", "Lead.created"}}, "/type"},                         // upper case
      {{{"id", "e"}, {"type", "lead.1created"}}, "/type"},                        // a word starts with a letter
      {{{"id", "e"}, {"type", "a." + std::string(99, 'b')}}, "/type"},            // 101 characters
      {{{"id", "e"}, {"type", "a.b"}, {"time", std::string(65, '1')}}, "/time"},  // too long
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"id", "c"}, {"status", ""}}}}, "/contact/status"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"id", "c"}, {"status", std::string(201, 's')}}}},
       "/contact/status"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"id", "c"}, {"status", 1}}}}, "/contact/status"},
      {{{"id", "e"}, {"type", "a.b"}, {"data", "text"}}, "/data"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"id", ""}}}}, "/contact/id"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"id", "p"}, {"name", std::string(501, 'n')}}}}, "/contact/name"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"id", "p"}, {"nick", "x"}}}}, "/contact/nick"},
      {{{"id", "e"}, {"type", "a.b"}, {"extra", 1}}, ""},
      {{{"id", std::string(1, '\0')}, {"type", "a.b"}}, "/id"},
      {{{"id", "e"}, {"type", "a.b"}, {"time", 5}}, "/time"},
      {{{"id", "e"}, {"type", "a.b"}, {"time", nullptr}}, "/time"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {"a@b.c"}}}}}, "/contact/emails/0"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "a@b.c"}, {"type", 1}}}}}}},
       "/contact/emails/0/type"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "a\t@b.c"}}}}}}},
       "/contact/emails/0/address"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", std::string(317, 'a') + "@b.c"}}}}}}},
       "/contact/emails/0/address"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", json(51, json{{"address", "a@b.c"}})}}}},
       "/contact/emails"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"phones", {{{"number", "+" + std::string(40, '1')}}}}}}},
       "/contact/phones/0/number"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "anna.example.com"}}}}}}},
       "/contact/emails/0/address"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "anna@example"}}}}}}},
       "/contact/emails/0/address"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "anna@.com"}}}}}}},
       "/contact/emails/0/address"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "anna@example."}}}}}}},
       "/contact/emails/0/address"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "a@b@c.d"}}}}}}},
       "/contact/emails/0/address"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "an na@b.cd"}}}}}}},
       "/contact/emails/0/address"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"address", "a@b.cd"}, {"type", 5}}}}}}},
       "/contact/emails/0/type"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"emails", {{{"type", "work"}}}}}}}, "/contact/emails/0"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"phones", {{{"number", "123"}}}}}}}, "/contact/phones/0/number"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"phones", {{{"number", "+(123) 45"}}}}}}},
       "/contact/phones/0/number"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"phones", {{{"number", "12a45"}}}}}}}, "/contact/phones/0/number"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"phones", {{{"number", std::string(40, '1')}}}}}}},
       "/contact/phones/0/number"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"phones", {{{"number", "1234"}, {"type", nullptr}}}}}}},
       "/contact/phones/0/type"},
      {{{"id", "e"}, {"type", "a.b"}, {"contact", {{"phones", json(51, json{{"number", "1234"}})}}}},
       "/contact/phones"},
  };
  for (const auto& c : cases) {
    const std::string problems = problems_of(c.event);
    EXPECT_NE(problems.find(std::string(c.pointer) + ": "), std::string::npos)
        << c.event.dump() << " gave: " << problems;
  }
}

// An address or a number that is none is said in words, not as the
// schema's regular expression.
TEST(EventParser, AnAddressOrNumberThatIsNoneIsSaidInWords) {
  EXPECT_EQ(problems_of({{"id", "e"}, {"type", "a.b"}, {"contact", {{"email", "not-an-email"}}}}),
            "/contact/email: expected an email address such as ivan@example.com\n");
  EXPECT_NE(problems_of({{"id", "e"}, {"type", "a.b"}, {"contact", {{"phones", {{{"number", "12a45"}}}}}}})
                .find("/contact/phones/0/number: expected a phone number such as +79990001122"),
            std::string::npos);
}

// The types CRMs write (Bitrix24's WORK, HOME, MAILING, MOBILE, FAX) are
// named as the host names them, in any case; one it has no name for is
// "other": an odd type loses no event.
TEST(EventParser, AddressAndNumberTypesAreReadAsCrmsWriteThem) {
  const ParsedEvents parsed = parse_events(R"({"id": "e1", "type": "deal.updated",
      "contact": {"id": "c1", "emails": [{"address": "a@x.pl", "type": "HOME"}, {"address": "b@x.pl", "type": "WORK"},
                                        {"address": "c@x.pl", "type": "MAILING"}, {"address": "d@x.pl", "type": "Jabber"}],
                  "phones": [{"number": "+48600100200", "type": "MOBILE"}, {"number": "+48600100201", "type": "fax"},
                             {"number": "+48600100202", "type": "Work"}, {"number": "+48600100203", "type": "PAGER"}]},
      "entity": {"type": "deal", "id": "D1", "responsible": [{"id": "m1", "emails": [{"address": "m@x.pl", "type": "WORK"}]}]}})",
                                           1'000, 100, "api");
  ASSERT_TRUE(parsed.problems.empty()) << parsed.problems[0].pointer << ": " << parsed.problems[0].message;
  ASSERT_EQ(parsed.records.size(), 1u);
  const json body = json::parse(parsed.records[0].body_json);
  std::vector<std::string> emails, phones;
  for (const json& e : body["contact"]["emails"]) emails.push_back(e["type"]);
  for (const json& p : body["contact"]["phones"]) phones.push_back(p["type"]);
  EXPECT_EQ(emails, (std::vector<std::string>{"private", "work", "newsletter", "other"}));
  EXPECT_EQ(phones, (std::vector<std::string>{"mobile", "other", "work", "other"}));
  EXPECT_EQ(body["entity"]["responsible"][0]["emails"][0]["type"], "work");
}

// A record with several contacts is sent to the first; one with a contact and
// a company, to the contact; a company alone, when it has an address, is the
// event's person (Bitrix24's rules). A manager with several addresses is sent
// from the first.
TEST(EventParser, TheFirstContactOrElseTheCompanyIsTheEventsPerson) {
  const auto body_of = [](const char* event) {
    const ParsedEvents parsed = parse_events(event, 1'000, 100, "api");
    EXPECT_TRUE(parsed.problems.empty()) << (parsed.problems.empty() ? "" : parsed.problems[0].message);
    EXPECT_EQ(parsed.records.size(), 1u);
    return parsed;
  };
  const ParsedEvents several = body_of(R"({"id": "d1", "type": "deal.created", "entity": {"type": "deal", "id": "D1"},
      "contacts": [{"name": "Анна", "email": "anna@x.ru"}, {"name": "Олег", "email": "oleg@x.ru"}],
      "company": {"name": "ООО Ромашка", "email": "office@x.ru"}})");
  ASSERT_TRUE(several.records[0].contact);
  EXPECT_EQ(several.records[0].contact->key, contact_key(json{{"emails", {{{"address", "anna@x.ru"}}}}}));
  const json kept = json::parse(several.records[0].body_json);
  EXPECT_EQ(kept["contact"], json::parse(R"({"name": "Анна", "emails": [{"address": "anna@x.ru"}]})"));
  EXPECT_EQ(kept["contacts"][1]["name"], "Олег");  // the others stay with the event
  EXPECT_EQ(kept["company"]["name"], "ООО Ромашка");

  const ParsedEvents named = body_of(R"({"id": "d2", "type": "a.b", "contact": {"id": "P9"},
      "contacts": [{"id": "P1"}], "company": {"email": "office@x.ru"}})");
  EXPECT_EQ(named.records[0].contact->key, "id:P9");

  // The company, without its id (a company's, not a person's).
  const ParsedEvents company = body_of(R"({"id": "d3", "type": "a.b",
      "company": {"id": "C1", "name": "ООО Ромашка", "phone": "+7 999 000-11-22", "fields": {"ИНН": "7701"}}})");
  ASSERT_TRUE(company.records[0].contact);
  EXPECT_EQ(company.records[0].contact->key, contact_key(json{{"phones", {{{"number", "+79990001122"}}}}}));
  EXPECT_EQ(json::parse(company.records[0].body_json)["contact"],
            json::parse(R"({"name": "ООО Ромашка", "phones": [{"number": "+7 999 000-11-22"}]})"));
  // A company with no address reaches no one: the event has no person.
  EXPECT_FALSE(body_of(R"({"id": "d4", "type": "a.b", "company": {"id": "C1", "name": "X"}})").records[0].contact);

  // Managers listed with several addresses: the first is theirs.
  const ParsedEvents managers = body_of(R"({"id": "d5", "type": "a.b", "entity": {"type": "deal", "id": "D1",
      "responsible": [{"id": "m1", "emails": [{"address": "first@x.ru"}, {"address": "second@x.ru"}],
                       "phones": [{"number": "+79990001100"}]},
                      {"id": "m2", "email": "own@x.ru", "emails": [{"address": "listed@x.ru"}]}]},
      "contacts": [{"id": "P1", "responsible": [{"id": "m3", "emails": [{"address": "m3@x.ru"}]}]}]})");
  const json body = json::parse(managers.records[0].body_json);
  EXPECT_EQ(body["entity"]["responsible"][0]["email"], "first@x.ru");
  EXPECT_EQ(body["entity"]["responsible"][0]["phone"], "+79990001100");
  EXPECT_EQ(body["entity"]["responsible"][1]["email"], "own@x.ru");  // named: kept
  EXPECT_EQ(body["contact"]["responsible"][0]["email"], "m3@x.ru");

  // Each is checked where it was written.
  EXPECT_NE(problems_of(json::parse(R"({"id": "d6", "type": "a.b", "contacts": []})")).find("/contacts: "),
            std::string::npos);
  EXPECT_EQ(problems_of(json::parse(R"({"id": "d9", "type": "a.b", "contacts": [{"name": "Анна"}]})")),
            "/contacts/0: needs an id, an email or a phone to tell who the person is\n");
  EXPECT_NE(problems_of(json::parse(R"({"id": "d7", "type": "a.b", "contacts": [{"id": "P1"}, {"email": "bad"}]})"))
                .find("/contacts/1/email: "),
            std::string::npos);
  EXPECT_EQ(problems_of(
                json::parse(R"({"id": "d8", "type": "a.b", "company": {"email": "a@b.ru", "timezone": "Mars/Base"}})")),
            "/company/timezone: unknown time zone 'Mars/Base' (expected an IANA name such as Europe/Moscow)\n");
}

}  // namespace
// A contact named by one "email" or "phone", as SendPulse names one: known
// by it, and kept as the first of its "emails" or "phones".
// CRMs write numbers grouped by dots or slashes, and number their records:
// both are taken, an id as its text (the same record as "12345").
TEST(EventParser, NumbersGroupedByDotsOrSlashesAndNumericIdsAreTaken) {
  const ParsedEvents parsed = parse_events(R"({"id": "e1", "type": "deal.status_changed",
      "contact": {"id": 12345, "phone": "+7.999.000.11.22", "phones": [{"number": "8/999/000-11-33"}]},
      "entity": {"type": "deal", "id": 77, "status": "won", "responsible": [{"id": 5, "name": "Олег"}]},
      "company": {"id": 9, "name": "ООО Ромашка"}})",
                                           1'000, 100, "api");
  ASSERT_TRUE(parsed.problems.empty()) << parsed.problems.front().pointer << ": " << parsed.problems.front().message;
  ASSERT_EQ(parsed.records.size(), 1u);
  const EventRecord& e = parsed.records[0];
  ASSERT_TRUE(e.contact && e.entity);
  EXPECT_EQ(e.contact->key, "id:12345");
  EXPECT_EQ(e.entity->id, "77");
  const json body = json::parse(e.body_json);
  EXPECT_EQ(body["entity"]["responsible"][0]["id"], "5");
  EXPECT_EQ(body["contact"]["phones"][0]["number"], "+7.999.000.11.22");
  EXPECT_EQ(body["company"]["id"], "9");
  // A deal's people and their managers too.
  const ParsedEvents people = parse_events(R"({"id": "e5", "type": "deal.created", "entity": {"type": "deal", "id": 78},
      "contacts": [{"id": 3, "responsible": [{"id": 8}]}, {"id": 4, "responsible": [{"id": "m9"}, {"id": 10}]}]})",
                                           1'000, 100, "api");
  ASSERT_TRUE(people.problems.empty()) << people.problems.front().pointer << ": " << people.problems.front().message;
  ASSERT_EQ(people.records.size(), 1u);
  const json with_people = json::parse(people.records[0].body_json);
  EXPECT_EQ(with_people["contacts"][0]["responsible"][0]["id"], "8");
  EXPECT_EQ(with_people["contacts"][1]["id"], "4");
  EXPECT_EQ(with_people["contacts"][1]["responsible"][1]["id"], "10");
  // Not a whole number: refused, as a boolean is.
  EXPECT_NE(problems_of(json::parse(R"({"id": "e2", "type": "a.b", "contact": {"id": 1.5}})")), "");
  EXPECT_NE(problems_of(json::parse(R"({"id": "e3", "type": "a.b", "contact": {"id": true}})")), "");
  EXPECT_NE(problems_of(json::parse(R"({"id": "e4", "type": "a.b", "contact": {"phone": "+7 999 доб. 5"}})")), "");
}

TEST(EventParser, ASingleEmailOrPhoneNamesTheContactAsTheFirstOfItsList) {
  const ParsedEvents by_email = parse_events(
      R"({"id": "e1", "type": "contact.created", "contact": {"email": "Ivan@Example.com", "name": "Ivan"}})", 1'000,
      100, "api");
  ASSERT_EQ(by_email.records.size(), 1u);
  ASSERT_TRUE(by_email.records[0].contact);
  EXPECT_EQ(by_email.records[0].contact->key, contact_key(json{{"emails", {{{"address", "Ivan@Example.com"}}}}}));
  const json kept = json::parse(by_email.records[0].body_json)["contact"];
  EXPECT_EQ(kept, json::parse(R"({"emails": [{"address": "Ivan@Example.com"}], "name": "Ivan"})"));

  // Already listed: not twice; another one goes first.
  const ParsedEvents by_phone = parse_events(R"({"id": "e2", "type": "a.b", "contact": {"phone": "+79990001122",
      "phones": [{"number": "+79990001122", "type": "mobile"}], "email": "a@b.c", "emails": [{"address": "x@y.z"}]}})",
                                             1'000, 100, "api");
  ASSERT_EQ(by_phone.records.size(), 1u);
  EXPECT_EQ(json::parse(by_phone.records[0].body_json)["contact"],
            json::parse(R"({"phones": [{"number": "+79990001122", "type": "mobile"}],
                            "emails": [{"address": "a@b.c"}, {"address": "x@y.z"}]})"));

  // The same address in another case, further down: moved up, with its type.
  const ParsedEvents moved = parse_events(R"({"id": "e5", "type": "a.b", "contact": {"email": "B@x.ru",
      "emails": [{"address": "a@x.ru"}, {"address": "b@x.ru", "type": "work"}]}})",
                                          1'000, 100, "api");
  ASSERT_EQ(moved.records.size(), 1u);
  EXPECT_EQ(json::parse(moved.records[0].body_json)["contact"]["emails"],
            json::parse(R"([{"address": "b@x.ru", "type": "work"}, {"address": "a@x.ru"}])"));
  EXPECT_EQ(moved.records[0].contact->key, contact_key(json{{"emails", {{{"address", "b@x.ru"}}}}}));
  // Fifty listed and another one: over the list's bound.
  json full{{"id", "e6"}, {"type", "a.b"}, {"contact", {{"email", "new@x.ru"}, {"emails", json::array()}}}};
  for (int i = 0; i < 50; ++i) full["contact"]["emails"].push_back({{"address", "a" + std::to_string(i) + "@x.ru"}});
  EXPECT_EQ(problems_of(full), "/contact/email: with 'emails', more than 50 of them\n");
  full["contact"]["email"] = "a7@x.ru";  // one of them: it only moves up
  EXPECT_EQ(problems_of(full), "");

  // What is not an address is said where it was written.
  EXPECT_NE(problems_of(json::parse(R"({"id": "e3", "type": "a.b", "contact": {"email": "not-an-address"}})"))
                .find("/contact/email: "),
            std::string::npos);
  EXPECT_NE(problems_of(json::parse(R"({"id": "e4", "type": "a.b", "contact": {"phone": "call me"}})"))
                .find("/contact/phone: "),
            std::string::npos);
}

}  // namespace sb
