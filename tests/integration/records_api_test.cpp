// The admin API over contacts and entities on the real binary: what events
// told the host, listed with filters by tag, field, type, status and time,
// page by page with the cursor, behind the admin token.
#include <gtest/gtest.h>

#include <set>

#include "integration/test_support.h"
#include "util/Time.h"

namespace sb::test {
namespace {

using nlohmann::json;

constexpr char kEventsToken[] = "events-7a2";
constexpr char kAdminToken[] = "admin-4c9";

json records_config() {
  ::setenv("SB_TEST_RECORDS_EVENTS", kEventsToken, 1);
  ::setenv("SB_TEST_RECORDS_ADMIN", kAdminToken, 1);
  return json{
      {"plugin_dirs", {SB_PLUGIN_DIR}},
      {"secrets", {{"events", {{"env", "SB_TEST_RECORDS_EVENTS"}}}, {"admin", {{"env", "SB_TEST_RECORDS_ADMIN"}}}}},
      {"api", {{"event_tokens", {{{"$secret", "events"}}}}, {"admin_tokens", {{{"$secret", "admin"}}}}}},
      {"rules", json::array()}};
}

class RecordsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Six clients, two of them VIPs in Omsk; deals and leads in statuses.
    json batch = json::array();
    for (int i = 1; i <= 6; ++i) {
      json contact = {
          {"id", "c" + std::to_string(i)},
          {"name", "Клиент " + std::to_string(i)},
          {"fields", {{"city", i % 2 ? "Omsk" : "Kazan"}, {"visits", i}, {"langs", {"ru", "l" + std::to_string(i)}}}},
          {"tags", i <= 2 ? json::array({"vip", "newsletter"}) : json::array({"newsletter"})}};
      json entity = {{"type", i <= 4 ? "deal" : "lead"}, {"id", "E" + std::to_string(i)}};
      if (i != 3) entity["status"] = i % 2 ? "won" : "new";
      if (i == 3) entity["fields"] = {{"amount", 300}};  // a deal with data and no status yet
      batch.push_back(
          {{"id", "ev-" + std::to_string(i)}, {"type", "deal.updated"}, {"contact", contact}, {"entity", entity}});
    }
    const HttpResult posted = http_request(host_.port(), "POST", "/api/v1/events", json{{"events", batch}}.dump(),
                                           {{"Authorization", std::string("Bearer ") + kEventsToken}});
    ASSERT_EQ(posted.status, 202) << posted.body;
  }
  HttpResult admin(const std::string& path) {
    return http_request(host_.port(), "GET", path, "", {{"Authorization", std::string("Bearer ") + kAdminToken}});
  }
  static std::set<std::string> keys(const json& page, const char* key) {
    std::set<std::string> out;
    for (const json& item : page["items"]) out.insert(item[key].get<std::string>());
    return out;
  }

  HostProcess host_{records_config()};
};

TEST_F(RecordsApiTest, ContactsAreListedWithWhatEveryEventToldAndFilteredByTagAndField) {
  const json all = admin("/api/v1/contacts").json();
  ASSERT_EQ(all["items"].size(), 6u) << all.dump();
  EXPECT_TRUE(all["next"].is_null());
  const json& first = all["items"][0];
  EXPECT_EQ(first["key"], "id:c1");
  EXPECT_EQ(first["data"]["name"], "Клиент 1");
  EXPECT_EQ(first["data"]["fields"]["city"], "Omsk");
  EXPECT_TRUE(first["updated_at"].is_string());

  EXPECT_EQ(keys(admin("/api/v1/contacts?tag=vip").json(), "key"), (std::set<std::string>{"id:c1", "id:c2"}));
  EXPECT_EQ(keys(admin("/api/v1/contacts?tag=vip&field.city=Omsk").json(), "key"), (std::set<std::string>{"id:c1"}));
  EXPECT_EQ(keys(admin("/api/v1/contacts?field.visits=5").json(), "key"), (std::set<std::string>{"id:c5"}));
  // A list of plain values matches any of them; an index names one.
  EXPECT_EQ(keys(admin("/api/v1/contacts?field.langs=l3").json(), "key"), (std::set<std::string>{"id:c3"}));
  EXPECT_EQ(admin("/api/v1/contacts?field.langs=ru").json()["items"].size(), 6u);
  EXPECT_EQ(admin("/api/v1/contacts?field.langs.1=ru").json()["items"].size(), 0u);
  EXPECT_TRUE(admin("/api/v1/contacts?updated_after=2999-01-01T00:00:00Z").json()["items"].empty());
  EXPECT_EQ(admin("/api/v1/contacts?updated_before=2999-01-01T00:00:00Z").json()["items"].size(), 6u);
}

TEST_F(RecordsApiTest, PagesFollowTheCursorToTheEndWithoutRepeatsOrGaps) {
  std::vector<std::string> seen;
  std::string path = "/api/v1/contacts?tag=newsletter&limit=4";
  for (int pages = 0; pages < 10; ++pages) {
    const json page = admin(path).json();
    ASSERT_LE(page["items"].size(), 4u);
    for (const json& item : page["items"]) seen.push_back(item["key"]);
    if (page["next"].is_null()) break;
    path = "/api/v1/contacts?tag=newsletter&limit=4&cursor=" + page["next"].get<std::string>();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"id:c1", "id:c2", "id:c3", "id:c4", "id:c5", "id:c6"}));
}

TEST_F(RecordsApiTest, EntitiesAreFilteredByTypeAndStatusIncludingNoStatus) {
  EXPECT_EQ(keys(admin("/api/v1/entities?type=deal").json(), "id"), (std::set<std::string>{"E1", "E2", "E3", "E4"}));
  EXPECT_EQ(keys(admin("/api/v1/entities?type=deal&status=won").json(), "id"), (std::set<std::string>{"E1"}));
  EXPECT_EQ(keys(admin("/api/v1/entities?status=new").json(), "id"), (std::set<std::string>{"E2", "E4", "E6"}));
  const json none = admin("/api/v1/entities?status=").json();
  ASSERT_EQ(none["items"].size(), 1u) << none.dump();
  EXPECT_EQ(none["items"][0]["id"], "E3");
  EXPECT_TRUE(none["items"][0]["status"].is_null());
  const json leads = admin("/api/v1/entities?type=lead&limit=1").json();
  ASSERT_EQ(leads["items"].size(), 1u);
  EXPECT_EQ(leads["items"][0]["type"], "lead");
  ASSERT_TRUE(leads["next"].is_string());
  const json rest = admin("/api/v1/entities?type=lead&limit=1&cursor=" + leads["next"].get<std::string>()).json();
  ASSERT_EQ(rest["items"].size(), 1u);
  EXPECT_NE(rest["items"][0]["id"], leads["items"][0]["id"]);
}

TEST_F(RecordsApiTest, OneEntityIsReadByItsTypeAndId) {
  const HttpResult deal = admin("/api/v1/entities/deal/E3");
  ASSERT_EQ(deal.status, 200) << deal.body;
  const json e = deal.json();
  EXPECT_EQ(e["type"], "deal");
  EXPECT_EQ(e["id"], "E3");
  EXPECT_TRUE(e["status"].is_null());
  EXPECT_EQ(e["data"]["fields"]["amount"], 300);
  EXPECT_EQ(admin("/api/v1/entities/lead/E5").json()["status"], "won");
  // Another type's id, or an id no event named: not found, and said which.
  const HttpResult other = admin("/api/v1/entities/lead/E3");
  EXPECT_EQ(other.status, 404);
  EXPECT_NE(other.body.find("no lead 'E3'"), std::string::npos) << other.body;
  EXPECT_EQ(admin("/api/v1/entities/deal").status, 404);
  EXPECT_EQ(admin("/api/v1/entities/deal/E3/x").status, 404);
  EXPECT_EQ(http_request(host_.port(), "GET", "/api/v1/entities/deal/E3").status, 401);
  EXPECT_EQ(http_request(host_.port(), "DELETE", "/api/v1/entities/deal/E3", "",
                         {{"Authorization", std::string("Bearer ") + kAdminToken}})
                .status,
            405);
}

// Tasks a CRM posts, found by their deadline and whether they are overdue
// (open or in progress, past it), then given another deadline, manager and
// priority with PATCH.
TEST_F(RecordsApiTest, TasksAreFoundByDeadlineAndOverdueAndPatchedWithANewDeadlineAndManager) {
  json batch = json::array();
  const auto task = [&](const std::string& id, const std::string& status, const json& deadline) {
    json fields{{"title", "Позвонить " + id}};
    if (!deadline.is_null()) fields["deadline"] = deadline;
    batch.push_back({{"id", "task-" + id},
                     {"type", "task.created"},
                     {"entity", {{"type", "task"}, {"id", id}, {"status", status}, {"fields", fields}}}});
  };
  task("late", "open", "2020-01-01T09:00:00Z");
  task("working-late", "in_progress", "2020-01-02T09:00:00+03:00");
  task("done-late", "done", "2020-01-01T09:00:00Z");
  task("later", "open", "2999-01-01T09:00:00Z");
  task("undated", "open", nullptr);
  ASSERT_EQ(http_request(host_.port(), "POST", "/api/v1/events", json{{"events", batch}}.dump(),
                         {{"Authorization", std::string("Bearer ") + kEventsToken}})
                .status,
            202);
  EXPECT_EQ(keys(admin("/api/v1/tasks?overdue=true").json(), "id"), (std::set<std::string>{"late", "working-late"}));
  EXPECT_EQ(keys(admin("/api/v1/tasks?overdue=false").json(), "id"),
            (std::set<std::string>{"done-late", "later", "undated"}));
  EXPECT_EQ(keys(admin("/api/v1/tasks?overdue=true&status=open").json(), "id"), (std::set<std::string>{"late"}));
  // Bounds are inclusive; 09:00+03:00 is 06:00 UTC.
  EXPECT_EQ(keys(admin("/api/v1/tasks?deadline_after=2020-01-01T09:00:00Z&deadline_before=2020-01-02T06:00:00Z").json(),
                 "id"),
            (std::set<std::string>{"late", "working-late", "done-late"}));
  EXPECT_EQ(keys(admin("/api/v1/tasks?deadline_after=2021-01-01T00:00:00Z").json(), "id"),
            (std::set<std::string>{"later"}));
  for (const char* bad : {"/api/v1/tasks?overdue=yes", "/api/v1/tasks?deadline_before=tomorrow",
                          "/api/v1/tasks?deadline_after=2021-01-01T00:00:00Z&deadline_before=2020-01-01T00:00:00Z"}) {
    const HttpResult refused = admin(bad);
    EXPECT_EQ(refused.status, 400) << bad;
    EXPECT_NE(
        refused.body.find(std::string(bad).find("overdue") != std::string::npos ? "overdue: expected true or false"
                                                                                : "deadline_"),
        std::string::npos)
        << refused.body;
  }

  const auto patch = [&](const std::string& id, const json& body) {
    return http_request(host_.port(), "PATCH", "/api/v1/tasks/" + id, body.dump(),
                        {{"Authorization", std::string("Bearer ") + kAdminToken}});
  };
  const HttpResult moved = patch("later", {{"deadline", "2020-03-01T10:00:00+03:00"},
                                           {"assignee", {{"id", 7}, {"name", "Иван"}}},
                                           {"priority", "высокая"},
                                           {"title", "Перезвонить"}});
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(moved.json()["status"], "open");  // no status given: as it was
  const json later = admin("/api/v1/tasks/later").json();
  EXPECT_EQ(later["status"], "open");
  EXPECT_EQ(parse_time_ms(later["deadline"].get<std::string>()), parse_time_ms("2020-03-01T07:00:00Z")) << later.dump();
  EXPECT_EQ(later["assignee"], json::parse(R"({"id": "7", "name": "Иван"})"));
  EXPECT_EQ(later["assignees"], json::parse(R"([{"id": "7", "name": "Иван"}])"));
  EXPECT_EQ(later["responsible"], json::parse(R"([{"id": "7", "name": "Иван"}])"));
  EXPECT_EQ(later["priority"], "high");
  EXPECT_EQ(later["title"], "Перезвонить");
  EXPECT_EQ(keys(admin("/api/v1/tasks?overdue=true&field.assignees.id=7").json(), "id"),
            (std::set<std::string>{"later"}));
  // Another manager: the first one's name does not stay.
  ASSERT_EQ(patch("working-late", {{"assignee", {{"id", "m1"}, {"name", "Ольга"}}}}).status, 200);
  ASSERT_EQ(patch("working-late", {{"assignee", {{"id", "m2"}}}}).status, 200);
  EXPECT_EQ(admin("/api/v1/tasks/working-late").json()["assignee"], json::parse(R"({"id": "m2"})"));
  // null takes the deadline away; with a status, one change.
  ASSERT_EQ(patch("late", {{"deadline", nullptr}, {"status", "in_progress"}}).status, 200);
  const json late = admin("/api/v1/tasks/late").json();
  EXPECT_EQ(late["status"], "in_progress");
  EXPECT_FALSE(late.contains("deadline")) << late.dump();
  EXPECT_EQ(keys(admin("/api/v1/tasks?overdue=true").json(), "id"), (std::set<std::string>{"working-late", "later"}));

  // What cannot be changed, and values of the wrong kind, are named.
  const std::vector<std::pair<json, std::string>> refusals{
      {json::object(), "expected an object of what changes"},
      {{{"deadline", "tomorrow"}}, "/deadline: expected an RFC 3339 time"},
      {{{"deadline", "2026-12-09"}}, "/deadline: expected an RFC 3339 time"},
      {{{"assignee", {{"id", std::string(201, 'm')}}}}, "/assignee: expected a manager"},
      {{{"assignee", "m1"}}, "/assignee: expected a manager"},
      {{{"assignee", {{"id", "m1"}, {"role", "x"}}}}, "/assignee: expected a manager"},
      {{{"priority", "urgent"}}, "/priority: expected low, medium or high"},
      {{{"title", ""}}, "/title: expected non-empty text"},
      {{{"about", {{"type", "deal"}}}}, "/about: 'about' is not changed here"},
      {{{"status", "finished"}}, "/status: 'finished' is not a task status"}};
  for (const auto& [body, message] : refusals) {
    const HttpResult refused = patch("later", body);
    EXPECT_EQ(refused.status, 400) << body.dump();
    EXPECT_NE(refused.body.find(message), std::string::npos) << body.dump() << " " << refused.body;
  }
  EXPECT_EQ(admin("/api/v1/tasks/later").json()["title"], "Перезвонить");  // nothing refused was kept
}

// One contact, by its id or by an email or phone an event taught: a later
// event that names only the phone (an SMS reply) reaches the same contact.
TEST_F(RecordsApiTest, OneContactIsFoundByItsIdOrByAnEmailOrPhoneItIsKnownBy) {
  const auto post = [&](const json& event) {
    return http_request(host_.port(), "POST", "/api/v1/events", event.dump(),
                        {{"Authorization", std::string("Bearer ") + kEventsToken}})
        .status;
  };
  ASSERT_EQ(post({{"id", "anna-1"},
                  {"type", "client.created"},
                  {"contact",
                   {{"id", "anna"},
                    {"name", "Анна"},
                    {"emails", {{{"address", "Anna@Example.com"}}}},
                    {"phones", {{{"number", "+7 (999) 000-11-22"}}}}}}}),
            202);
  ASSERT_EQ(post({{"id", "anna-2"},
                  {"type", "message.received"},
                  {"contact", {{"phones", {{{"number", "+79990001122"}}}}, {"fields", {{"city", "Omsk"}}}}}}),
            202);
  for (const char* id : {"anna", "id:anna", "email:anna@example.com", "phone:%2B79990001122"}) {
    const HttpResult one = admin(std::string("/api/v1/contacts/") + id);
    ASSERT_EQ(one.status, 200) << id << ": " << one.body;
    EXPECT_EQ(one.json()["key"], "id:anna") << id;
    EXPECT_EQ(one.json()["data"]["name"], "Анна") << id;
    EXPECT_EQ(one.json()["data"]["fields"]["city"], "Omsk") << id;
  }
  EXPECT_EQ(admin("/api/v1/contacts/nobody").status, 404);
  EXPECT_EQ(admin("/api/v1/contacts/anna/notes").status, 404);
  EXPECT_EQ(http_request(host_.port(), "GET", "/api/v1/contacts/anna").status, 401);
  // The list has one Анна: the reply joined her, it made no contact of its own.
  EXPECT_EQ(keys(admin("/api/v1/contacts?field.city=Omsk").json(), "key"),
            (std::set<std::string>{"id:anna", "id:c1", "id:c3", "id:c5"}));
}

TEST_F(RecordsApiTest, BadRequestsSayWhatWasExpectedAndTheTokenIsRequired) {
  EXPECT_EQ(http_request(host_.port(), "GET", "/api/v1/contacts").status, 401);
  const HttpResult limit = admin("/api/v1/contacts?limit=0");
  EXPECT_EQ(limit.status, 400);
  EXPECT_NE(limit.body.find("limit: expected 1 to 1000"), std::string::npos) << limit.body;
  const HttpResult time = admin("/api/v1/entities?updated_after=yesterday");
  EXPECT_EQ(time.status, 400);
  EXPECT_NE(time.body.find("RFC 3339"), std::string::npos) << time.body;
  EXPECT_EQ(admin("/api/v1/contacts?cursor=zz").status, 400);
  const HttpResult unknown = admin("/api/v1/contacts?status=won");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("unknown parameter 'status'"), std::string::npos) << unknown.body;
  // One value each, but tags and fields, which ask for all of them.
  const HttpResult twice = admin("/api/v1/contacts?limit=1&limit=2");
  EXPECT_EQ(twice.status, 400);
  EXPECT_NE(twice.body.find("'limit' is given more than once"), std::string::npos) << twice.body;
  EXPECT_EQ(keys(admin("/api/v1/contacts?tag=vip&tag=newsletter&field.langs=ru&field.langs=l2").json(), "key"),
            (std::set<std::string>{"id:c2"}));
  const HttpResult reversed =
      admin("/api/v1/entities?updated_after=2027-01-01T00:00:00Z&updated_before=2026-01-01T00:00:00Z");
  EXPECT_EQ(reversed.status, 400);
  EXPECT_NE(reversed.body.find("updated_after is later than updated_before"), std::string::npos) << reversed.body;
  // An empty rule, event or contact would list every execution.
  for (const char* empty : {"rule", "event_id", "contact"}) {
    const HttpResult refused = admin(std::string("/api/v1/executions?") + empty + "=");
    EXPECT_EQ(refused.status, 400) << empty;
    EXPECT_NE(refused.body.find(std::string(empty) + ": empty"), std::string::npos) << refused.body;
  }
}

}  // namespace
}  // namespace sb::test
