// POST /api/v1/events on the real binary: bearer tokens, strict validation
// with the field at fault, all-or-nothing batches, duplicates, and 202 only
// for events that survive a crash.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "integration/test_support.h"
#include "store/SqliteStore.h"

namespace sb::test {
namespace {

using nlohmann::json;

constexpr char kToken[] = "events-token-3a9f";

json events_config() {
  ::setenv("SB_TEST_EVENTS_TOKEN", kToken, 1);
  return json{{"secrets", {{"events", {{"env", "SB_TEST_EVENTS_TOKEN"}}}}},
              {"api", {{"event_tokens", {{{"$secret", "events"}}}}}}};
}

HttpResult post_events(uint16_t port, const std::string& body, const std::string& token = kToken) {
  std::map<std::string, std::string> headers;
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  return http_request(port, "POST", "/api/v1/events", body, headers);
}

json lead_event(const std::string& id, const std::string& status = "new") {
  return {{"id", id},
          {"type", "lead.status_changed"},
          {"time", "2026-11-24T13:00:00+03:00"},
          {"entity", {{"type", "lead"}, {"id", "L-" + id}, {"status", status}, {"pipeline", "sales"}}},
          {"contact", {{"emails", {{{"address", "Anna@Example.com"}, {"type", "work"}}}}, {"name", "Анна"}}}};
}

class EventsApiTest : public ::testing::Test {
 protected:
  HostProcess host_{events_config()};
};

TEST_F(EventsApiTest, TokenIsRequiredAndChecked) {
  const std::string body = lead_event("e1").dump();
  HttpResult none = post_events(host_.port(), body, "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(none.json()["error"]["message"], "missing Authorization header");
  HttpResult wrong = post_events(host_.port(), body, "events-token-3a9e");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.json()["error"]["message"], "invalid bearer token");
  HttpResult basic = http_request(host_.port(), "POST", "/api/v1/events", body, {{"Authorization", "Basic eDp5"}});
  EXPECT_EQ(basic.status, 401);
  EXPECT_EQ(post_events(host_.port(), body).status, 202);
  EXPECT_EQ(host_.log().find(kToken), std::string::npos);
  EXPECT_EQ(http_request(host_.port(), "GET", "/api/v1/events").status, 405);
}

TEST_F(EventsApiTest, RepeatedIdIsAcknowledgedAsDuplicate) {
  HttpResult first = post_events(host_.port(), lead_event("dup").dump());
  EXPECT_EQ(first.status, 202);
  EXPECT_EQ(first.json(), json::parse(R"({"id":"dup","status":"accepted"})"));
  HttpResult again = post_events(host_.port(), lead_event("dup", "changed").dump());
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.json()["status"], "duplicate");
}

// Ids are one namespace: a webhook sender's id that the events API (or
// another webhook) also uses is a conflict the sender hears of, not a
// duplicate that would drop its event.
TEST(EventsApiIds, AnIdAnotherSourceHoldsIsAConflictNotADuplicate) {
  json config = events_config();
  config["plugin_dirs"] = {SB_PLUGIN_DIR};
  config["instances"] = {{"tilda", {{"plugin", "webhook"}, {"config", json::object()}}},
                         {"forms", {{"plugin", "webhook"}, {"config", json::object()}}}};
  HostProcess host(config);
  const std::string order = R"({"order": 1})";
  HttpResult hooked = http_request(host.port(), "POST", "/webhooks/tilda", order, {{"webhook-id", "ord-1"}});
  ASSERT_EQ(hooked.status, 202) << hooked.body;
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/tilda", order, {{"webhook-id", "ord-1"}}).status, 202);

  HttpResult posted = post_events(host.port(), lead_event("ord-1").dump());
  EXPECT_EQ(posted.status, 409) << posted.body;
  EXPECT_EQ(posted.json()["error"]["code"], "id_taken");
  HttpResult batch = post_events(host.port(), json{{"events", {lead_event("ord-1"), lead_event("ord-2")}}}.dump());
  ASSERT_EQ(batch.status, 202) << batch.body;
  EXPECT_EQ(batch.json()["events"][0]["status"], "conflict");
  EXPECT_EQ(batch.json()["events"][1]["status"], "accepted");

  HttpResult other = http_request(host.port(), "POST", "/webhooks/forms", order, {{"webhook-id", "ord-2"}});
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(other.json()["error"]["code"], "id_taken");
  EXPECT_EQ(other.headers.count("retry-after"), 0u);  // the sender's to change, not to retry
  EXPECT_EQ(http_request(host.port(), "POST", "/webhooks/forms", order, {{"webhook-id", "ord-3"}}).status, 202);
}

TEST_F(EventsApiTest, BatchIsAllOrNothing) {
  json bad = lead_event("b2");
  bad["contact"]["emails"][0]["address"] = "not-an-address";
  HttpResult refused = post_events(host_.port(), json{{"events", {lead_event("b1"), bad}}}.dump());
  ASSERT_EQ(refused.status, 400);
  EXPECT_EQ(refused.json()["error"]["code"], "invalid_event");
  EXPECT_EQ(refused.json()["error"]["details"][0]["pointer"], "/events/1/contact/emails/0/address");
  // b1 was not stored with the rejected batch: it is new now.
  HttpResult accepted = post_events(host_.port(), json{{"events", {lead_event("b1"), lead_event("b3")}}}.dump());
  ASSERT_EQ(accepted.status, 202);
  EXPECT_EQ(accepted.json(), json::parse(R"({"events":[{"id":"b1","status":"accepted"},
                                                       {"id":"b3","status":"accepted"}]})"));
}

// The nice value of each of the host's threads, by name.
std::multimap<std::string, int> thread_nice(int pid) {
  std::multimap<std::string, int> nice;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream comm(task.path() / "comm"), stat(task.path() / "stat");
    std::string name, line;
    std::getline(comm, name);
    std::getline(stat, line);
    std::istringstream fields(line.substr(line.rfind(')') + 2));  // after the name, which may hold spaces
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i) {  // field 19 of proc_pid_stat(5): nice
    }
    nice.emplace(name, std::stoi(field));
  }
  return nice;
}

// A campaign's batches (bodies over 4 KiB) are parsed on a thread of their
// own at `ingest_nice`, answered as any other; single events and the
// connections stay on the inbound threads, at the host's priority.
TEST(EventsApi, LargeBatchesAreParsedOnTheIngestThreadAtItsNiceValue) {
  json config = events_config();
  config["ingest_nice"] = 7;
  HostProcess host(config);
  json events = json::array();
  for (int i = 0; i < 40; ++i) events.push_back(lead_event("big-" + std::to_string(i)));
  json bad = events;
  bad[33]["contact"]["emails"][0]["address"] = "not-an-address";
  const std::string bad_body = json{{"events", bad}}.dump();
  ASSERT_GT(bad_body.size(), 4096u);
  HttpResult refused = post_events(host.port(), bad_body);
  ASSERT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.json()["error"]["details"][0]["pointer"], "/events/33/contact/emails/0/address");
  HttpResult accepted = post_events(host.port(), json{{"events", events}}.dump());
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const json statuses = accepted.json()["events"];  // a local: a temporary's items would dangle
  ASSERT_EQ(statuses.size(), 40u);
  for (const auto& e : statuses) EXPECT_EQ(e["status"], "accepted") << e;
  EXPECT_EQ(post_events(host.port(), lead_event("single").dump()).status, 202);

  const auto nice = thread_nice(host.pid());
  ASSERT_EQ(nice.count("sb-ingest"), 1u);
  EXPECT_EQ(nice.find("sb-ingest")->second, 7);
  ASSERT_GT(nice.count("sb-in-0"), 0u);
  for (const auto& [name, value] : nice) {
    if (name == "sb-ingest") continue;
    EXPECT_EQ(value, 0) << name;
  }
}

// A long text where no pattern of the event's schema applies (a note, a
// message body) is data like any other; a long event type is not.
TEST_F(EventsApiTest, LongTextsInAnEventsDataAndFieldsAreAccepted) {
  const std::string note(20000, 'n');
  json event = lead_event("long");
  event["data"] = {{"note", note}, {"lines", {note, "short"}}};
  event["contact"]["fields"] = {{"about", note}};
  event["entity"]["fields"] = {{"comment", note}};
  HttpResult r = post_events(host_.port(), event.dump());
  EXPECT_EQ(r.status, 202) << r.body.substr(0, 300);
  json long_type = lead_event("long-type");
  long_type["type"] = "lead." + std::string(5000, 'a');
  HttpResult refused = post_events(host_.port(), long_type.dump());
  ASSERT_EQ(refused.status, 400);
  EXPECT_EQ(refused.json()["error"]["details"][0]["pointer"], "/type");
}

struct BadEvent {
  const char* name;
  json body;
  const char* pointer;
  const char* message_part;
};

TEST_F(EventsApiTest, EachBadEventNamesTheFieldAtFault) {
  json no_id = lead_event("x");
  no_id.erase("id");
  json bad_type = lead_event("x");
  bad_type["type"] = "Lead Created";
  json bad_time = lead_event("x");
  bad_time["time"] = "24.11.2026 13:00";
  json anonymous = lead_event("x");
  anonymous["contact"] = {{"name", "Nobody"}};
  json unknown_field = lead_event("x");
  unknown_field["colour"] = "red";
  json bad_status = lead_event("x");
  bad_status["entity"]["status"] = 7;
  json nul_id = lead_event(std::string("x\0y", 3));
  json nul_contact = lead_event("x");
  nul_contact["contact"] = {{"id", std::string("c\0", 2)}};
  json nul_entity = lead_event("x");
  nul_entity["entity"]["id"] = std::string("L\0", 2);
  json bad_zone = lead_event("x");
  bad_zone["contact"] = {{"id", "c1"}, {"timezone", "Europe/Moskow"}};
  json blank_id = lead_event("   ");
  json line_break_id = lead_event("inj\r\nX-Evil: 1");
  json capital_channel = lead_event("x");
  capital_channel["contact"] = {{"id", "c1"}, {"preferences", {{"SMS", {{"marketing", false}}}}}};
  json too_many = {{"events", json::array()}};
  for (int i = 0; i < 1001; ++i) too_many["events"].push_back(lead_event("m" + std::to_string(i)));
  const BadEvent cases[] = {
      {"no id", no_id, "", "id"},
      {"type", bad_type, "/type", ""},
      {"time", bad_time, "/time", "RFC 3339"},
      {"anonymous contact", anonymous, "/contact", "an id, an email or a phone"},
      {"unknown field", unknown_field, "/colour", "unknown key 'colour'"},
      {"status type", bad_status, "/entity/status", ""},
      {"NUL in the id", nul_id, "/id", "without control characters"},
      {"NUL in the contact's id", nul_contact, "/contact", "U+0000"},
      {"NUL in the entity's id", nul_entity, "/entity/id", "U+0000"},
      {"batch too big", too_many, "/events", "1 to 1000"},
      {"unknown time zone", bad_zone, "/contact/timezone", "unknown time zone 'Europe/Moskow'"},
      {"not an object", json::array({lead_event("x")}), "", "expected an event object"},
      {"a blank id", blank_id, "/id", "expected an id that is not blank"},
      {"a line break in the id", line_break_id, "/id", "without control characters"},
      {"a channel's name in capitals", capital_channel, "/contact/preferences/SMS",
       "the name 'SMS' is not taken here: expected a channel's name in small letters"},
  };
  for (const auto& c : cases) {
    HttpResult r = post_events(host_.port(), c.body.dump());
    ASSERT_EQ(r.status, 400) << c.name << ": " << r.body;
    const json detail = r.json()["error"]["details"][0];
    EXPECT_EQ(detail["pointer"], c.pointer) << c.name << ": " << r.body;
    EXPECT_NE(detail["message"].get<std::string>().find(c.message_part), std::string::npos) << c.name << ": " << r.body;
  }
  HttpResult not_json = post_events(host_.port(), "{\"id\": ");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(not_json.json()["error"]["code"], "invalid_json");
  const std::string why = not_json.json()["error"]["message"];
  EXPECT_EQ(why.rfind("/: the body is not JSON: parse error at line 1, column 8: ", 0), 0u) << why;
  // A number beyond a double is the body's fault too (a 5xx would have the CRM send it for ever).
  HttpResult huge = post_events(host_.port(), R"({"id": "n1", "type": "x.a", "data": {"x": -1e999}})");
  EXPECT_EQ(huge.status, 400) << huge.body;
  EXPECT_EQ(huge.json()["error"]["code"], "invalid_json");
  EXPECT_NE(huge.body.find("number overflow parsing '-1e999'"), std::string::npos) << huge.body;
  // A form or XML is not taken, and the sender is told what is; JSON sent as
  // curl's default form type is JSON all the same.
  const auto with_type = [&](const std::string& type, const std::string& body) {
    return http_request(host_.port(), "POST", "/api/v1/events", body,
                        {{"Authorization", std::string("Bearer ") + kToken}, {"Content-Type", type}});
  };
  const HttpResult form = with_type("application/x-www-form-urlencoded", "id=f1&type=x.a");
  EXPECT_EQ(form.status, 415) << form.body;
  EXPECT_EQ(form.headers.at("accept-post"), "application/json");
  EXPECT_NE(form.body.find("Content-Type 'application/x-www-form-urlencoded' is not taken"), std::string::npos);
  EXPECT_EQ(with_type("application/xml; charset=utf-8", "<a/>").status, 415);
  EXPECT_EQ(with_type("application/x-www-form-urlencoded", R"({"id": "f2", "type": "x.a"})").status, 202);
  EXPECT_EQ(with_type("application/vnd.crm+json", R"({"id": "f3", "type": "x.a"})").status, 202);
  EXPECT_EQ(with_type("application/json", "{\"id\": ").status, 400);
}

TEST(EventsApi, WithoutTokensTheApiIsOff) {
  HostProcess host(json::object());
  HttpResult r = post_events(host.port(), lead_event("x").dump());
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("api.event_tokens"), std::string::npos);
}

// Every event that got a 2xx is in the store after a SIGKILL, with the
// contact and entity it described.
TEST(EventsApi, AcknowledgedEventsSurviveACrash) {
  HostProcess host(events_config());
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const std::string id = "crash-" + std::to_string(t) + "-" + std::to_string(i);
        try {
          if (post_events(host.port(), lead_event(id).dump()).status == 202) {
            std::lock_guard lock(mutex);
            acknowledged.insert(id);
          }
        } catch (const std::exception&) {
          return;  // the host is gone
        }
      }
    });
  // Killed mid-burst once enough were acknowledged (a slow disk takes longer).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (size_t n = 0; n <= 20 && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard lock(mutex);
    n = acknowledged.size();
  }
  host.kill();
  stop = true;
  for (auto& s : senders) s.join();
  ASSERT_GT(acknowledged.size(), 20u);

  SqliteStore store(SqliteStore::Options{host.dir() / "switchboard.db"});
  std::set<std::string> stored;
  for (const auto& e : store.events_after(0, 1000000)) stored.insert(e.record.id);
  for (const auto& id : acknowledged) EXPECT_TRUE(stored.count(id)) << id << " was acknowledged but lost";
  auto contact = store.contact("email:anna@example.com");
  ASSERT_TRUE(contact);
  EXPECT_EQ(json::parse(contact->data_json)["name"], "Анна");
  const std::string some = *acknowledged.begin();
  auto lead = store.entity("lead", "L-" + some);
  ASSERT_TRUE(lead);
  EXPECT_EQ(lead->status, "new");
}

}  // namespace
}  // namespace sb::test
