// The store contract: what every backend of Store must do, as typed tests
// run against each (SQLite today; a PostgreSQL backend joins the Backends
// list and must pass the same). Batches all or nothing, duplicates that
// change nothing, contacts and entities merged from events, commit order,
// routing as a compare-and-set on the position, leases on due work,
// priorities, doubt after a lease ends, commands that compare the state,
// arrivals for waits, rule versions, the plugins' key-value state, and
// durability across a reopen. Routing, step results, waits, parallel groups
// and commands are written by the executor's transitions
// (executor/Transitions.h) through the backend's row operations, so they
// are tested here on every backend too. What only one backend does (SQLite's group
// commit, its schema upgrades, its lease release on opening) is tested at
// the end for that backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <future>
#include <latch>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "events/EventParser.h"
#include "executor/History.h"
#include "executor/Transitions.h"
#include "integration/test_support.h"
#include "store/ContactAliases.h"
#include "store/Postgres.h"
#include "store/PostgresStore.h"
#include "store/Sqlite.h"
#include "store/SqliteStore.h"
#include "support/pg_cluster.h"
#include "util/Time.h"

namespace sb {
namespace {

using nlohmann::json;

EventRecord event(const std::string& id, const std::string& type = "lead.created") {
  EventRecord e;
  e.id = id;
  e.type = type;
  e.source = "api";
  e.occurred_at_ms = 1000;
  e.received_at_ms = 2000;
  e.body_json = json{{"id", id}, {"type", type}}.dump();
  return e;
}

// One execution of rule "r" for `event_id`, routed from position `from`.
StoreStatus route_one(Store& store, const std::string& event_id, int64_t from = 0) {
  RouteBatch b;
  b.from = from;
  b.routed_up_to = from + 1;
  b.executions.push_back({"r", event_id, "{}", std::nullopt});
  std::promise<StoreStatus> got;
  Transitions(store).route(std::move(b), [&](StoreStatus s) { got.set_value(s); });
  return got.get_future().get();
}

// A unit of work through the backend's row operations; returns how it ended.
StoreStatus transact(Store& store, Store::Work work) {
  std::promise<StoreStatus> got;
  store.transact(std::move(work), [&](StoreStatus s) { got.set_value(std::move(s)); });
  return got.get_future().get();
}

ExecutionRow new_row(const std::string& event_id, int64_t parent_id = 0) {
  return ExecutionRow{.rule = "r",
                      .rule_version = "v1",
                      .event_id = event_id,
                      .due_at_ms = 5,
                      .context_json = R"({"a":1})",
                      .history_json = "[]",
                      .created_at_ms = 1,
                      .updated_at_ms = 1,
                      .parent_id = parent_id,
                      .end_step = parent_id ? "join" : "",
                      .priority = kHighestPriority};
}

AppendResult append(Store& store, std::vector<EventRecord> batch) {
  std::promise<AppendResult> got;
  store.append_events(std::move(batch), [&](AppendResult r) { got.set_value(std::move(r)); });
  return got.get_future().get();
}

// A backend: how to open a store kept at `file` (the same file again: the same store).
struct SqliteBackend {
  static void set_schema_version(const std::filesystem::path& file, int version) {
    SqliteDatabase(file, false).execute("PRAGMA user_version = " + std::to_string(version));
  }
  // As a store of the schema before reports named their messages (version 8).
  static void forget_message_ids(const std::filesystem::path& file) {
    SqliteDatabase(file, false)
        .execute("DROP INDEX events_message; ALTER TABLE events DROP COLUMN message_id; PRAGMA user_version = 8");
  }
  // As a store of the schema before entities kept when they were first stored (version 11).
  static void forget_entity_dates(const std::filesystem::path& file) {
    SqliteDatabase(file, false).execute("ALTER TABLE entities DROP COLUMN created_at; PRAGMA user_version = 11");
  }
  // As a store of the schema before executions named their contacts (version 12).
  static void forget_execution_contacts(const std::filesystem::path& file) {
    SqliteDatabase(file, false)
        .execute(
            "DROP INDEX executions_contact; ALTER TABLE executions DROP COLUMN contact_key; "
            "PRAGMA user_version = 12");
  }
  // As a store of the schema before entities named their contacts (version 13).
  static void forget_entity_contacts(const std::filesystem::path& file) {
    SqliteDatabase(file, false).execute("ALTER TABLE entities DROP COLUMN contact_key; PRAGMA user_version = 13");
  }
  // As a store of the schema before aliases were kept.
  static void forget_aliases(const std::filesystem::path& file) {
    SqliteDatabase(file, false)
        .execute(
            "DELETE FROM contact_aliases; DROP INDEX executions_open; "
            "CREATE INDEX executions_state ON executions (state, id); PRAGMA user_version = 5");
  }
  static std::unique_ptr<Store> open(const std::filesystem::path& file, std::vector<ContactAggregate> aggregates) {
    SqliteStore::Options options{file};
    options.aggregates = std::move(aggregates);
    return std::make_unique<SqliteStore>(std::move(options));
  }
};

// PostgreSQL: a schema of the tests' server per store, named after its folder.
struct PostgresBackend {
  static bool available() { return test::PgCluster::shared() != nullptr; }
  static std::string schema(const std::filesystem::path& file) {
    static std::map<std::string, std::string> schemas;  // a reopened store keeps its schema
    auto [it, fresh] = schemas.try_emplace(file.string());
    if (fresh) it->second = test::PgCluster::shared()->fresh_schema(file.string());
    return it->second;
  }
  static void set_schema_version(const std::filesystem::path& file, int version) {
    test::PgCluster::shared()->execute("UPDATE " + schema(file) +
                                       ".switchboard_schema SET version = " + std::to_string(version));
  }
  static void forget_message_ids(const std::filesystem::path& file) {
    const std::string s = schema(file);
    test::PgCluster::shared()->execute("UPDATE " + s + ".events SET message_id = NULL; UPDATE " + s +
                                       ".switchboard_schema SET version = 5");
  }
  static void forget_entity_dates(const std::filesystem::path& file) {
    const std::string s = schema(file);
    test::PgCluster::shared()->execute("ALTER TABLE " + s + ".entities DROP COLUMN created_at; UPDATE " + s +
                                       ".switchboard_schema SET version = 8");
  }
  static void forget_execution_contacts(const std::filesystem::path& file) {
    const std::string s = schema(file);
    test::PgCluster::shared()->execute("ALTER TABLE " + s + ".executions DROP COLUMN contact_key; UPDATE " + s +
                                       ".switchboard_schema SET version = 9");
  }
  static void forget_entity_contacts(const std::filesystem::path& file) {
    const std::string s = schema(file);
    test::PgCluster::shared()->execute("ALTER TABLE " + s + ".entities DROP COLUMN contact_key; UPDATE " + s +
                                       ".switchboard_schema SET version = 10");
  }
  static void forget_aliases(const std::filesystem::path& file) {
    // The schema as version 2 left it: no aliases, and the event log and holds as they were then.
    const std::string s = schema(file);
    test::PgCluster::shared()->execute(
        "DROP TABLE " + s + ".contact_aliases; ALTER TABLE " + s + ".router RENAME COLUMN up_to TO routed_up_to; " +
        "ALTER TABLE " + s + ".holds RENAME COLUMN held_until TO until; ALTER TABLE " + s +
        ".events ALTER COLUMN seq SET DEFAULT nextval('" + s + ".events_seq_seq'); DROP INDEX " + s +
        ".executions_open; CREATE INDEX executions_state ON " + s + ".executions (state, id); UPDATE " + s +
        ".switchboard_schema SET version = 2");
  }
  static std::unique_ptr<Store> open(const std::filesystem::path& file, std::vector<ContactAggregate> aggregates) {
    PostgresStore::Options options{test::PgCluster::shared()->conninfo(schema(file))};
    options.aggregates = std::move(aggregates);
    return std::make_unique<PostgresStore>(std::move(options));
  }
};

template <class Backend>
class StoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (requires { Backend::available(); })
      if (!Backend::available()) GTEST_SKIP() << "no PostgreSQL server on this machine (apt-get install postgresql-15)";
  }
  std::filesystem::path file_ = test::make_temp_dir("sb_store") / "switchboard.db";
  std::unique_ptr<Store> open(std::vector<ContactAggregate> aggregates = {}) {
    return Backend::open(file_, std::move(aggregates));
  }
  void set_schema_version(int version) { Backend::set_schema_version(file_, version); }
  void forget_aliases() { Backend::forget_aliases(file_); }
  void forget_message_ids() { Backend::forget_message_ids(file_); }
  void forget_entity_dates() { Backend::forget_entity_dates(file_); }
  void forget_execution_contacts() { Backend::forget_execution_contacts(file_); }
  void forget_entity_contacts() { Backend::forget_entity_contacts(file_); }
};
using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;
TYPED_TEST_SUITE(StoreContract, Backends);

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::filesystem::path file_ = test::make_temp_dir("sb_store") / "switchboard.db";
  std::unique_ptr<SqliteStore> open() { return std::make_unique<SqliteStore>(SqliteStore::Options{file_}); }
};

TYPED_TEST(StoreContract, EventsComeBackInCommitOrder) {
  auto store = this->open();
  AppendResult r = append(*store, {event("a"), event("b", "lead.status_changed")});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.outcomes, (std::vector<AppendOutcome>{AppendOutcome::kStored, AppendOutcome::kStored}));
  ASSERT_TRUE(append(*store, {event("c")}).ok());
  auto events = store->events_after(0, 10);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].record.id, "a");
  EXPECT_EQ(events[1].record.type, "lead.status_changed");
  EXPECT_EQ(events[2].record.id, "c");
  EXPECT_LT(events[0].seq, events[1].seq);
  EXPECT_EQ(store->events_after(events[1].seq, 10).size(), 1u);
  EXPECT_EQ(events[0].record.occurred_at_ms, 1000);
  EXPECT_EQ(json::parse(events[0].record.body_json)["id"], "a");
}

// A step's analytics: what providers reported of the messages it sent,
// found by the ids the step was given, however many.
TYPED_TEST(StoreContract, ReportsOnSentMessagesAreFoundByTheirMessagesIds) {
  auto store = this->open();
  const auto report = [](const std::string& id, const std::string& type, const std::string& message_id) {
    EventRecord e = event(id, type);
    e.message_id = message_id;
    return e;
  };
  ASSERT_TRUE(append(*store, {report("d1", "message.delivered", "m1"), report("c1", "message.clicked", "m1"),
                              event("x", "lead.created"), report("f2", "message.failed", "m2"),
                              report("o3", "message.opened", "m3")})
                  .ok());
  std::vector<std::string> ids{"m2"};
  for (int i = 0; i < 6000; ++i) ids.push_back("n" + std::to_string(i));  // more than a statement names
  ids.push_back("m1");
  std::vector<MessageReport> found = store->message_reports(ids);
  std::sort(found.begin(), found.end(), [](const MessageReport& a, const MessageReport& b) {
    return a.message_id + a.type < b.message_id + b.type;
  });
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].message_id + " " + found[0].type, "m1 message.clicked");
  EXPECT_EQ(found[1].message_id + " " + found[1].type, "m1 message.delivered");
  EXPECT_EQ(found[2].message_id + " " + found[2].type, "m2 message.failed");
  EXPECT_EQ(found[2].received_at_ms, 2000);
  EXPECT_TRUE(store->message_reports({}).empty());
  EXPECT_TRUE(store->message_reports({""}).empty());  // events that report on no message
}

// A deal moved to a stage by an event that names the deal alone (a CRM's
// stage webhook) is about the client an earlier event named with it: the
// event is stored with that contact. An upgraded store's entities learn it
// from the next event that names both.
TYPED_TEST(StoreContract, AnEventNamingItsEntityAloneIsAboutTheEntitysContact) {
  const auto lead_event = [](const std::string& id, const std::string& status, const std::string& contact) {
    EventRecord e = event(id, "lead.status_changed");
    e.entity = EntityUpdate{"lead", "L1", true, status, "{}"};
    if (!contact.empty()) e.contact = ContactUpdate{.key = contact, .data_json = R"({"name":"Мария"})"};
    return e;
  };
  for (const bool upgraded : {false, true}) {
    SCOPED_TRACE(upgraded ? "upgraded" : "current");
    this->file_ = test::make_temp_dir("sb_store") / "switchboard.db";
    {
      auto store = this->open();
      ASSERT_TRUE(append(*store, {lead_event("a", "new", "id:s1"), event("other")}).ok());
    }
    if (upgraded) this->forget_entity_contacts();
    // Counted per contact: an event that names the lead alone is the
    // contact's only as a label, and counts for no one.
    auto store = this->open({ContactAggregate{"moves", "lead.status_changed", ""}});
    if (upgraded) {
      ASSERT_TRUE(append(*store, {lead_event("a1", "moved", "")}).ok());
      ASSERT_TRUE(append(*store, {lead_event("a2", "new", "id:s1")}).ok());
    }
    ASSERT_TRUE(append(*store, {lead_event("b", "waiting", "")}).ok());
    const auto stored = [&](const std::string& id) {
      for (StoredEvent& e : store->events_after(0, 100))
        if (e.record.id == id) return e;
      ADD_FAILURE() << "no event " << id;
      return StoredEvent{};
    };
    EXPECT_EQ(stored("b").contact_key, "id:s1");
    EXPECT_EQ(json::parse(stored("b").contact_json)["name"], "Мария");
    const json contact = json::parse(store->contact("id:s1")->data_json);
    EXPECT_EQ(contact["name"], "Мария");
    const json moves = contact.value(json::json_pointer("/aggregates/moves/count"), json(0));
    EXPECT_EQ(moves, upgraded ? 1 : 0) << contact.dump();
    EXPECT_EQ(stored("other").contact_key, "");  // names neither
    if (upgraded) {
      EXPECT_EQ(stored("a1").contact_key, "");  // before the upgraded store learned it
    }
    // Another client named with the lead: the lead is about them from then on.
    ASSERT_TRUE(append(*store, {lead_event("c", "paid", "id:s2"), lead_event("d", "done", "")}).ok());
    EXPECT_EQ(stored("d").contact_key, "id:s2");
  }
}

// An execution keeps the contact its event named: a contact's executions are
// listed newest first, under any of the keys asked for (the contact's, and an
// address it had before the CRM gave it an id); and an upgraded store learns
// the contacts of the executions whose events it still keeps.
TYPED_TEST(StoreContract, ExecutionsAreListedByTheirContacts) {
  const auto of_contact = [](const std::string& id, const std::string& key) {
    EventRecord e = event(id);
    e.contact = ContactUpdate{.key = key, .data_json = "{}"};
    return e;
  };
  {
    auto store = this->open();
    ASSERT_TRUE(append(*store, {of_contact("e0", "id:c1"), of_contact("e1", "email:a@x.test"),
                                of_contact("e2", "id:c1"), event("e3")})
                    .ok());
    RouteBatch b;
    b.routed_up_to = 4;
    for (const auto& [id, key] : std::vector<std::pair<std::string, std::string>>{
             {"e0", "id:c1"}, {"e1", "email:a@x.test"}, {"e2", "id:c1"}, {"e3", ""}}) {
      NewExecution x{"r", id, "{}", std::nullopt};
      x.contact_key = key;
      b.executions.push_back(std::move(x));
    }
    std::promise<StoreStatus> routed;
    Transitions(*store).route(std::move(b), [&](StoreStatus s) { routed.set_value(s); });
    ASSERT_TRUE(routed.get_future().get().ok());
  }
  const auto listed = [](Store& store, std::vector<std::string> keys, size_t limit = 100, int64_t before = 0) {
    ExecutionQuery q;
    q.contact_keys = std::move(keys);
    q.limit = limit;
    q.before_id = before;
    std::vector<std::string> out;
    for (const auto& row : store.executions(q)) out.push_back(row.event_id + " " + row.contact_key);
    return out;
  };
  using V = std::vector<std::string>;
  for (const bool upgraded : {false, true}) {
    SCOPED_TRACE(upgraded ? "upgraded" : "current");
    if (upgraded) this->forget_execution_contacts();
    auto store = this->open();
    EXPECT_EQ(listed(*store, {"id:c1"}), (V{"e2 id:c1", "e0 id:c1"}));
    EXPECT_EQ(listed(*store, {"id:c1", "email:a@x.test"}), (V{"e2 id:c1", "e1 email:a@x.test", "e0 id:c1"}));
    EXPECT_EQ(listed(*store, {"id:c1"}, 1), (V{"e2 id:c1"}));
    EXPECT_EQ(listed(*store, {"id:c1"}, 100, store->executions({}).at(1).id), (V{"e0 id:c1"}));
    EXPECT_EQ(listed(*store, {"id:c9"}), V{});
    EXPECT_EQ(store->executions({}).front().contact_key, "");  // e3 named none
    ExecutionQuery with_rule;
    with_rule.rule = "other";
    with_rule.contact_keys = {"id:c1"};
    EXPECT_TRUE(store->executions(with_rule).empty());
  }
}

// Reports stored before the store kept which message they are on learn it
// when the store is upgraded: the steps' analytics count them too.
TYPED_TEST(StoreContract, ReportsStoredBeforeAnUpgradeAreFoundByTheirMessagesIds) {
  const auto report = [](const std::string& id, const std::string& type, const json& data) {
    EventRecord e = event(id, type);
    e.body_json = json{{"id", id}, {"type", type}, {"data", data}}.dump();
    return e;
  };
  {
    auto store = this->open();
    ASSERT_TRUE(append(*store, {report("d1", "message.delivered", {{"message_id", "m1"}}),
                                report("r1", "message.replied", {{"message_id", "in-1"}, {"in_reply_to", "m2"}}),
                                report("s1", "message.delivered", {{"message_id", 777}}),
                                report("x1", "message.received", {{"message_id", "m3"}}), event("e1")})
                    .ok());
  }
  this->forget_message_ids();
  auto store = this->open();  // upgraded
  std::vector<std::string> found;
  for (const MessageReport& r : store->message_reports({"m1", "m2", "m3", "in-1", "777"}))
    found.push_back(r.message_id + " " + r.type);
  std::sort(found.begin(), found.end());
  EXPECT_EQ(found, (std::vector<std::string>{"777 message.delivered", "m1 message.delivered", "m2 message.replied"}));
  EXPECT_EQ(store->events_after(0, 10).size(), 5u);
}

TYPED_TEST(StoreContract, RepeatedIdIsADuplicateThatChangesNothing) {
  auto store = this->open();
  EventRecord first = event("x");
  first.contact = ContactUpdate{"email:a@example.com", R"({"name":"Anna"})", {}, {}};
  ASSERT_TRUE(append(*store, {first}).ok());
  EventRecord again = event("x");
  again.contact = ContactUpdate{"email:a@example.com", R"({"name":"Changed"})", {}, {}};
  EventRecord twice = event("y");
  AppendResult r = append(*store, {again, twice, event("y")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.outcomes,
            (std::vector<AppendOutcome>{AppendOutcome::kDuplicate, AppendOutcome::kStored, AppendOutcome::kDuplicate}));
  EXPECT_EQ(store->events_after(0, 10).size(), 3u);  // x, the contact x created, y
  EXPECT_EQ(json::parse(store->contact("email:a@example.com")->data_json)["name"], "Anna");
}

// An occurrence stored under an id it had before (a special date under its
// contact's earlier key) makes the same one under its new id a duplicate,
// in another batch or the same; another source's event of that id does not.
TYPED_TEST(StoreContract, AnEventStoredUnderAnIdItWasAlsoKnownByIsADuplicate) {
  auto store = this->open();
  const auto occurrence = [](const std::string& id, std::vector<std::string> also_known_as = {}) {
    EventRecord e = event(id);
    e.source = "time";
    e.also_known_as = std::move(also_known_as);
    return e;
  };
  const EventRecord before = occurrence("time:bday:email:a@example.com:2026-12-02");
  ASSERT_TRUE(append(*store, {before}).ok());
  EventRecord after = occurrence("time:bday:id:A1:2026-12-02", {"time:bday:phone:+79990001122:2026-12-02", before.id});
  after.contact = ContactUpdate{"id:A1", R"({"name":"Anna"})", {}, {}};
  const EventRecord first = occurrence("time:bday:id:B1:2026-12-02");
  const EventRecord second = occurrence("time:bday:email:b@example.com:2026-12-02", {first.id});
  const EventRecord elsewhere = occurrence("time:bday:id:C1:2026-12-02", {"other-source"});
  EventRecord other = event("other-source");
  other.source = "api";
  ASSERT_TRUE(append(*store, {other}).ok());
  AppendResult r = append(*store, {after, first, second, elsewhere});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.outcomes, (std::vector<AppendOutcome>{AppendOutcome::kDuplicate, AppendOutcome::kStored,
                                                    AppendOutcome::kDuplicate, AppendOutcome::kStored}));
  EXPECT_FALSE(store->contact("id:A1"));  // nothing of the duplicate is kept
  EXPECT_EQ(store->events_after(0, 10).size(), 4u);
}

// Two senders that number their events alike (two webhooks, a webhook and
// the events API) do not dedupe each other: the second hears of it.
TYPED_TEST(StoreContract, AnIdOfAnotherSourcesEventIsTakenNotADuplicate) {
  auto store = this->open();
  EventRecord mine = event("42");
  mine.source = "tilda";
  ASSERT_TRUE(append(*store, {mine}).ok());
  EventRecord theirs = event("42");
  theirs.source = "site-form";
  theirs.contact = ContactUpdate{"email:b@example.com", R"({"name":"Boris"})", {}, {}};
  EventRecord both = event("43");
  both.source = "site-form";
  EventRecord same = both;
  same.source = "tilda";
  AppendResult r = append(*store, {theirs, mine, both, same});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.outcomes, (std::vector<AppendOutcome>{AppendOutcome::kIdTaken, AppendOutcome::kDuplicate,
                                                    AppendOutcome::kStored, AppendOutcome::kIdTaken}));
  const auto events = store->events_after(0, 10);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].record.source, "tilda");
  EXPECT_EQ(events[1].record.source, "site-form");
  EXPECT_FALSE(store->contact("email:b@example.com"));  // nothing of the refused event is kept
  // A change held to a state (a step's) says the same before it reads the state.
  EventRecord held = event("43");
  held.entity = EntityUpdate{"task", "T1", true, "done", "{}"};
  held.entity->only_from = std::vector<std::optional<std::string>>{std::nullopt};
  EXPECT_EQ(append(*store, {held}).outcomes, std::vector<AppendOutcome>{AppendOutcome::kIdTaken});
}

TYPED_TEST(StoreContract, ContactsAndEntitiesMergeWhatEventsSay) {
  auto store = this->open();
  EventRecord created = event("1");
  created.contact = ContactUpdate{"id:c1", R"({"name":"Иван","fields":{"city":"Омск","vip":false}})", {}, {}};
  created.entity = EntityUpdate{"lead", "L1", true, "new", R"({"fields":{"budget":100}})"};
  EventRecord moved = event("2", "lead.status_changed");
  moved.contact = ContactUpdate{"id:c1", R"({"fields":{"vip":true}})", {}, {}};
  moved.entity = EntityUpdate{"lead", "L1", true, "qualified", R"({"fields":{"source":"site"}})"};
  EventRecord touched = event("3", "lead.field_changed");
  touched.entity = EntityUpdate{"lead", "L1", false, std::nullopt, R"({"fields":{"budget":200}})"};
  ASSERT_TRUE(append(*store, {created, moved, touched}).ok());

  const json contact = json::parse(store->contact("id:c1")->data_json);
  EXPECT_EQ(contact["name"], "Иван");
  EXPECT_EQ(contact["fields"], json::parse(R"({"city":"Омск","vip":true})"));
  auto lead = store->entity("lead", "L1");
  ASSERT_TRUE(lead);
  EXPECT_EQ(lead->status, "qualified");  // an event that does not say keeps the status
  EXPECT_EQ(json::parse(lead->data_json)["fields"], json::parse(R"({"budget":200,"source":"site"})"));

  EventRecord unset = event("4", "lead.status_changed");
  unset.entity = EntityUpdate{"lead", "L1", true, std::nullopt, "{}"};
  ASSERT_TRUE(append(*store, {unset}).ok());
  EXPECT_FALSE(store->entity("lead", "L1")->status.has_value());  // "no status"
  EXPECT_FALSE(store->entity("lead", "L2").has_value());
}

// A contact as an event names it, with the aliases the event parser gives.
ContactUpdate named(const std::string& key, const json& data) {
  ContactUpdate c{key, data.dump(), {}, {}};
  c.aliases = contact_aliases(data);
  return c;
}

EventRecord about(const std::string& id, const std::string& key, const json& contact) {
  EventRecord e = event(id, "contact.updated");
  e.contact = named(key, contact);
  return e;
}

std::set<std::string> contact_keys(Store& store) {
  std::set<std::string> keys;
  RecordQuery all;
  all.limit = 100;
  for (const auto& c : store.contacts_page(all)) keys.insert(c.key);
  return keys;
}

// A person is one contact whichever of their id, emails and phones an event
// names: an SMS reply knows only the number, a form only the address.
TYPED_TEST(StoreContract, AnEventNamingOnlyAnEmailOrAPhoneReachesTheContactKnownByIt) {
  auto store = this->open();
  const json anna{{"id", "c1"},
                  {"name", "Анна"},
                  {"emails", {{{"address", "Anna@Example.com"}}}},
                  {"phones", {{{"number", "+7 999 000-11-22"}}, {{"number", "+7 999 000-33-44"}}}}};
  // In one batch: the second event sees what the first taught.
  ASSERT_TRUE(append(*store, {about("1", "id:c1", anna), about("2", "phone:+79990001122",
                                                               {{"phones", {{{"number", "+79990001122"}}}},
                                                                {"name", "Anna WhatsApp"},
                                                                {"preferences", {{"sms", {{"all", false}}}}}})})
                  .ok());
  ASSERT_TRUE(append(*store, {about("3", "email:anna@example.com",
                                    {{"emails", {{{"address", "anna@example.com"}}}}, {"fields", {{"city", "Омск"}}}})})
                  .ok());

  const json known = json::parse(store->contact("id:c1")->data_json);
  EXPECT_EQ(known["name"], "Анна") << "a name that came with a phone alone does not replace the CRM's";
  EXPECT_EQ(known["phones"].size(), 2u) << "nor does the one number it knew replace the list";
  EXPECT_EQ(known["preferences"], json::parse(R"({"sms":{"all":false}})"));
  EXPECT_EQ(known["fields"], json::parse(R"({"city":"Омск"})"));
  // Read by an alias, it is the same contact, under its own key; nothing else was made.
  EXPECT_EQ(store->contact("phone:+79990003344")->key, "id:c1");
  EXPECT_EQ(contact_keys(*store), (std::set<std::string>{"id:c1"}));
  // Its events name it (and so do those their changes made: a field set).
  std::set<std::string> ids;
  for (const auto& e : store->events_after(0, 10)) {
    ids.insert(e.record.id);
    EXPECT_EQ(e.contact_key, "id:c1") << e.record.id;
  }
  EXPECT_TRUE(ids.count("1") && ids.count("2") && ids.count("3"));
  // Another id naming the same phone is another person: the alias stays Anna's.
  ASSERT_TRUE(append(*store, {about("4", "id:c3", {{"id", "c3"}, {"phones", {{{"number", "+79990001122"}}}}})}).ok());
  EXPECT_EQ(store->contact("phone:+79990001122")->key, "id:c1");
  EXPECT_TRUE(store->contact("id:c3"));
}

// Known first without an id (an opt-out sent from a phone, a form with an
// address and a phone), a person keeps what was learned of them when the CRM
// names them, and every address they were known by is the CRM contact's.
TYPED_TEST(StoreContract, APersonKnownOnlyByAnAddressIsAbsorbedWhenTheCrmNamesThem) {
  auto store = this->open();
  const json form{{"emails", {{{"address", "ivan@example.com"}}}},
                  {"phones", {{{"number", "+79995550000"}}}},
                  {"fields", {{"source", "form"}}}};
  ASSERT_TRUE(append(*store, {about("1", "email:ivan@example.com", form)}).ok());
  ASSERT_TRUE(append(*store, {about("2", "phone:+79995550000",
                                    {{"phones", {{{"number", "+79995550000"}}}},
                                     {"preferences", {{"whatsapp", {{"all", false}}}}}})})
                  .ok());
  EXPECT_EQ(contact_keys(*store), (std::set<std::string>{"email:ivan@example.com"})) << "the STOP found the form's";
  ASSERT_TRUE(append(*store, {about("3", "id:c77",
                                    {{"id", "c77"},
                                     {"name", "Иван"},
                                     {"emails", {{{"address", "ivan@example.com"}}}},
                                     {"phones", {{{"number", "+7 999 555-00-00"}}}}})})
                  .ok());
  EXPECT_EQ(contact_keys(*store), (std::set<std::string>{"id:c77"}));
  const json ivan = json::parse(store->contact("id:c77")->data_json);
  EXPECT_EQ(ivan["name"], "Иван");
  EXPECT_EQ(ivan["fields"], json::parse(R"({"source":"form"})"));
  EXPECT_EQ(ivan["preferences"], json::parse(R"({"whatsapp":{"all":false}})"));
  // A later STOP by the phone, which the form's contact had learned, is Ivan's.
  ASSERT_TRUE(append(*store, {about("4", "phone:+79995550000",
                                    {{"phones", {{{"number", "+79995550000"}}}},
                                     {"preferences", {{"sms", {{"all", false}}}}}})})
                  .ok());
  EXPECT_EQ(json::parse(store->contact("id:c77")->data_json)["preferences"],
            json::parse(R"({"whatsapp":{"all":false},"sms":{"all":false}})"));
  // The events stored before it name the contact as it is known now.
  for (const auto& e : store->events_after(0, 10)) {
    if (!e.contact_key.empty()) {
      EXPECT_EQ(e.contact_key, "id:c77") << e.record.id;
    }
  }
  EXPECT_FALSE(store->contact("email:IVAN@example.com")) << "keys are given as the store keeps them";
  EXPECT_EQ(store->contact(contact_key_of("email:IVAN@example.com"))->key, "id:c77");
  // One person, so one "new contact": when the form came, not when the CRM named them.
  std::vector<std::string> created;
  for (const auto& e : store->events_after(0, 100))
    if (e.record.type == "contact.created") created.push_back(e.record.id);
  EXPECT_EQ(created, std::vector<std::string>{"1:created:contact"});
}

// A store written before aliases were kept learns its contacts' emails and
// phones when it is upgraded.
TYPED_TEST(StoreContract, AnUpgradedStoreLearnsTheAddressesOfTheContactsItHas) {
  {
    auto store = this->open();
    ASSERT_TRUE(append(*store, {about("1", "phone:+79990001122", {{"phones", {{{"number", "+79990001122"}}}}}),
                                about("2", "id:c1",
                                      {{"id", "c1"},
                                       {"emails", {{{"address", "a@example.com"}}}},
                                       {"phones", {{{"number", "+79990001122"}}}}})})
                    .ok());
  }
  this->forget_aliases();
  {
    auto store = this->open();
    EXPECT_EQ(store->contact("email:a@example.com")->key, "id:c1");
    EXPECT_EQ(store->contact("phone:+79990001122")->key, "id:c1");
  }
}

// Numbers read in the account's country: a store whose contacts' numbers
// were learned without it ("8 (999) ..." as its digits) learns them again
// when it opens with one, so the number written either way finds them.
TYPED_TEST(StoreContract, ContactsNumbersAreLearnedAgainInANewCountry) {
  {
    auto store = this->open();
    ASSERT_TRUE(append(*store, {about("1", "id:c1", {{"id", "c1"}, {"phones", {{{"number", "8 (999) 888-77-66"}}}}}),
                                about("2", "phone:89995554433", {{"phones", {{{"number", "8 999 555-44-33"}}}}})})
                    .ok());
    EXPECT_FALSE(store->contact("phone:+79998887766"));
  }
  set_phone_region("RU");
  struct Reset {
    ~Reset() { set_phone_region(""); }  // whatever fails: the next tests read numbers as before
  } reset;
  {
    auto store = this->open();
    const auto key_of = [&](const std::string& alias) {
      const auto c = store->contact(alias);
      return c ? c->key : "none";
    };
    EXPECT_EQ(key_of("phone:+79998887766"), "id:c1");
    EXPECT_EQ(key_of("phone:89998887766"), "id:c1");  // as it was learned, still
    EXPECT_EQ(key_of("phone:+79995554433"), "phone:89995554433");
    // An event naming the number the new way is the same person.
    ASSERT_TRUE(
        append(*store, {about("3", "phone:+79995554433", {{"phones", {{{"number", "+7 999 555-44-33"}}}}})}).ok());
    EXPECT_EQ(store->events_after(0, 10).back().contact_key, "phone:89995554433");
  }
}

// Any event that moves an entity's status is followed by the move as
// <type>.status_changed; one that is that move itself, or moves nothing, is not.
TYPED_TEST(StoreContract, AStatusMovedByAnyEventIsStoredAsAStatusChangeRightAfterIt) {
  auto store = this->open();
  EventRecord created = event("1", "deal.created");
  created.entity = EntityUpdate{"deal", "D1", true, std::string("Новая"), "{}"};
  EventRecord moved = event("2", "deal.updated");
  moved.entity = EntityUpdate{"deal", "D1", true, std::string("В работе"), "{}"};
  EventRecord again = event("3", "deal.updated");
  again.entity = EntityUpdate{"deal", "D1", true, std::string("В работе"), "{}"};
  EventRecord said = event("4", "deal.status_changed");
  said.entity = EntityUpdate{"deal", "D1", true, std::string("Оплачено"), "{}"};
  ASSERT_TRUE(append(*store, {created, moved, again, said}).ok());
  std::vector<std::string> seen;
  json data;
  for (auto& e : store->events_after(0, 100)) {
    seen.push_back(e.record.id + " " + e.record.type);
    if (e.record.id == "2:status_changed:deal") data = json::parse(e.record.body_json)["data"];
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{"1 deal.created", "2 deal.updated", "2:status_changed:deal deal.status_changed",
                                      "3 deal.updated", "4 deal.status_changed"}));
  EXPECT_EQ(data, (json{{"previous_status", "Новая"}, {"status", "В работе"}, {"caused_by", "2"}}));
}

TYPED_TEST(StoreContract, WhatAnEventChangesInItsRecordsIsStoredAsEventsRightAfterIt) {
  auto store = this->open();
  EventRecord created = event("1", "deal.created");
  created.contact = ContactUpdate{"id:c1", R"({"tags":["new"],"fields":{"city":"Омск"}})", {}, {}};
  created.entity = EntityUpdate{"deal", "D1", false, std::nullopt, R"({"fields":{"budget":100}})"};
  EventRecord changed = event("2", "deal.updated");
  changed.chain_depth = 2;
  changed.contact = ContactUpdate{"id:c1", R"({"fields":{"city":null,"vip":true}})", {{"VIP", "new"}, {"new"}}, {}};
  changed.entity = EntityUpdate{"deal", "D1", false, std::nullopt, R"({"fields":{"budget":250}})"};
  EventRecord said = event("3", "contact.tag_added");  // its sender says so already: nothing derived
  said.contact = ContactUpdate{"id:c1", "{}", {{"gold"}, {}}, {}};
  ASSERT_TRUE(append(*store, {created, changed, said}).ok());

  std::vector<std::string> seen;
  std::map<std::string, StoredEvent> by_id;
  for (auto& e : store->events_after(0, 100)) {
    seen.push_back(e.record.id + " " + e.record.type);
    by_id[e.record.id] = e;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "1 deal.created",                     // (the deal it created: its own type says so)
                      "1:created:contact contact.created",  // a new contact comes first
                      "1:tag_added:new contact.tag_added",  // then its tags
                      "2 deal.updated",
                      "2:tag_added:VIP contact.tag_added",
                      "2:tag_removed:new contact.tag_removed",
                      "2:field_changed:contact:city contact.field_changed",
                      "2:field_changed:contact:vip contact.field_changed",
                      "2:field_changed:deal:budget deal.field_changed",
                      "3 contact.tag_added",
                  }));
  const StoredEvent& budget = by_id.at("2:field_changed:deal:budget");
  const json data = json::parse(budget.record.body_json)["data"];
  EXPECT_EQ(data, json::parse(R"({"field":"budget","old":100,"new":250,"caused_by":"2"})"));
  EXPECT_EQ(budget.record.chain_depth, 2);  // the cause's: the loop guard counts it once
  EXPECT_EQ(json::parse(budget.entity_json)["fields"]["budget"], 250);
  EXPECT_EQ(json::parse(budget.contact_json)["tags"], json::parse(R"(["VIP","gold"])"));
  EXPECT_EQ(json::parse(by_id.at("2:field_changed:contact:city").record.body_json)["data"]["new"], nullptr);
  // A deal seen for the first time without a status was created with none ([Нет]).
  ASSERT_TRUE(by_id.at("1").status_change);
  EXPECT_TRUE(by_id.at("1").status_change->created);
  EXPECT_FALSE(by_id.at("1").status_change->current);
  EXPECT_FALSE(by_id.at("2").status_change);  // nor is it created again
  const StoredEvent& came = by_id.at("1:created:contact");
  EXPECT_EQ(json::parse(came.record.body_json)["data"], json::parse(R"({"caused_by":"1"})"));
  EXPECT_EQ(json::parse(came.contact_json)["fields"]["vip"], true);  // rules on it read the contact
  EXPECT_EQ(json::parse(came.entity_json)["id"], "D1");
}

// The implied events nothing reads are not stored: only the types the host
// says it wants, from then on.
TYPED_TEST(StoreContract, OnlyTheImpliedEventsOfTheWantedTypesAreStored) {
  auto store = this->open();
  EventRecord first = event("1", "campaign.send");
  first.contact = ContactUpdate{"id:c1", R"({"tags":["new"]})", {}, {}};
  ASSERT_TRUE(append(*store, {first}).ok());
  store->derive_only([](const std::string& type) { return type == "contact.tag_added"; });
  EventRecord second = event("2", "campaign.send");
  second.contact = ContactUpdate{"id:c2", R"({"tags":["new"],"fields":{"city":"Омск"}})", {}, {}};
  EventRecord third = event("3", "campaign.send");
  third.contact = ContactUpdate{"id:c2", R"({"fields":{"city":"Томск"}})", {{"vip"}, {}}, {}};
  ASSERT_TRUE(append(*store, {second, third}).ok());
  std::vector<std::string> seen;
  for (const auto& e : store->events_after(0, 100)) seen.push_back(e.record.id + " " + e.record.type);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"1 campaign.send", "1:created:contact contact.created",  // before: every type
                                      "1:tag_added:new contact.tag_added", "2 campaign.send",  // no contact.created
                                      "2:tag_added:new contact.tag_added", "3 campaign.send",  // no field_changed
                                      "3:tag_added:vip contact.tag_added"}));
  // What the events changed is stored all the same.
  EXPECT_EQ(json::parse(store->contact("id:c2")->data_json)["fields"]["city"], "Томск");
}

// Two checks that saw the same change send the same move: the second finds
// it made and is not kept (compare-and-set on the contact).
TYPED_TEST(StoreContract, AnEventKeptOnlyIfItChangesItsContactIsDroppedWhenItWouldNot) {
  auto store = this->open();
  const auto move = [](const std::string& id, const std::string& type, ListChange segments) {
    EventRecord e = event(id, type);
    e.contact = ContactUpdate{"id:c1", "", {}, std::move(segments), true};
    return e;
  };
  const AppendResult r =
      append(*store, {move("a", "segment.entered", {{"vip"}, {}}), move("b", "segment.entered", {{"vip"}, {}}),
                      move("c", "segment.left", {{}, {"news"}}), move("d", "segment.left", {{}, {"vip"}})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.outcomes, (std::vector<AppendOutcome>{AppendOutcome::kStored, AppendOutcome::kUnchanged,
                                                    AppendOutcome::kUnchanged, AppendOutcome::kStored}));
  std::vector<std::string> seen;
  for (const auto& e : store->events_after(0, 100)) seen.push_back(e.record.id + " " + e.record.type);
  // Each is the move itself: nothing is derived from an event of its own type.
  // (and the contact the first one created).
  EXPECT_EQ(seen,
            (std::vector<std::string>{"a segment.entered", "a:created:contact contact.created", "d segment.left"}));
  EXPECT_EQ(json::parse(store->contact("id:c1")->data_json)["segments"], json::array());
}

// A manager's choice on dynamic segments is two lists of the contact, changed
// as its tags are (the admin API puts a contact in by hand, or keeps it out).
TYPED_TEST(StoreContract, AContactsManualAndExcludedSegmentsAreListsChangedAsAWhole) {
  auto store = this->open();
  const auto choice = [](const std::string& id, ListChange manual, ListChange excluded) {
    EventRecord e = event(id, "contact.updated");
    e.contact = ContactUpdate{"id:c1", ""};
    e.contact->manual_segments = std::move(manual);
    e.contact->excluded_segments = std::move(excluded);
    return e;
  };
  ASSERT_TRUE(append(*store, {choice("a", {{"vip", "regulars"}, {}}, {{"lapsed"}, {}})}).ok());
  ASSERT_TRUE(append(*store, {choice("b", {{}, {"regulars"}}, {{"regulars"}, {"lapsed"}})}).ok());
  const json contact = json::parse(store->contact("id:c1")->data_json);
  EXPECT_EQ(contact["manual_segments"], json::array({"vip"}));
  EXPECT_EQ(contact["excluded_segments"], json::array({"regulars"}));
}

// A visit count and an average check, kept per contact as events come; a
// repeated event counts once.
// The key-value calls that never wait answer in the order they were made,
// and a get sees what an earlier put wrote.
TYPED_TEST(StoreContract, KeyValueCallsWithoutWaitingAnswerInOrder) {
  auto store = this->open();
  std::vector<std::string> answers;
  std::promise<void> all;
  const auto answer = [&](std::string what) {
    return [&, what](const StoreStatus& s, const std::optional<std::string>& value) {
      answers.push_back(what + (s.ok() ? " ok" : " failed") + (value ? " " + *value : ""));
      if (answers.size() == 4) all.set_value();
    };
  };
  using Op = KeyValueStore::KvOp;
  store->kv_async(Op::kPut, "inst", "cursor", "42", answer("put"));
  store->kv_async(Op::kGet, "inst", "cursor", "", answer("get"));
  store->kv_async(Op::kRemove, "inst", "cursor", "", answer("remove"));
  store->kv_async(Op::kGet, "inst", "cursor", "", answer("get"));
  ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(answers, (std::vector<std::string>{"put ok", "get ok 42", "remove ok", "get ok"}));
  EXPECT_EQ(store->kv_get("inst", "cursor"), std::nullopt);
}

TYPED_TEST(StoreContract, EventsCountInTheirContactsAggregates) {
  auto store = this->open({{"visits", "visit.completed", ""}, {"check", "order.paid", "data.amount"}});
  const auto about_c1 = [](const std::string& id, const std::string& type, int64_t at, json data) {
    EventRecord e = event(id, type);
    e.occurred_at_ms = at;
    e.body_json = json{{"id", id}, {"type", type}, {"data", std::move(data)}}.dump();
    e.contact = ContactUpdate{"id:c1", ""};  // names the contact only
    return e;
  };
  ASSERT_TRUE(append(*store, {about_c1("v1", "visit.completed", 2000, json::object()),
                              about_c1("v2", "visit.completed", 1000, json::object()),
                              about_c1("o1", "order.paid", 3000, {{"amount", 8000}}),
                              about_c1("o2", "order.paid", 4000, {{"amount", "16\u00a0000"}}),  // as a CRM writes it
                              about_c1("o3", "order.paid", 5000, {{"note", "no amount"}}),
                              about_c1("x", "contact.updated", 6000, json::object())})
                  .ok());
  ASSERT_TRUE(append(*store, {about_c1("o2", "order.paid", 4000, {{"amount", 16000}})}).ok());  // again
  const json aggregates = json::parse(store->contact("id:c1")->data_json)["aggregates"];
  EXPECT_EQ(aggregates["visits"]["count"], 2);
  EXPECT_EQ(aggregates["visits"]["first_at"], "1970-01-01T00:00:01.000Z");
  EXPECT_EQ(aggregates["visits"]["last_at"], "1970-01-01T00:00:02.000Z");
  EXPECT_FALSE(aggregates["visits"].contains("sum"));
  EXPECT_EQ(aggregates["check"]["count"], 3);
  EXPECT_EQ(aggregates["check"]["sum"], 24000.0);
  EXPECT_EQ(aggregates["check"]["average"], 12000.0);  // over the orders with an amount
  EXPECT_EQ(aggregates["check"]["min"], 8000.0);
  EXPECT_EQ(aggregates["check"]["max"], 16000.0);
  EXPECT_EQ(aggregates["check"]["last_at"], "1970-01-01T00:00:05.000Z");

  // What is not a number never breaks the count: an amount of "nan", and
  // figures something else wrote over.
  EventRecord spoiled = event("s", "contact.updated");
  spoiled.contact = ContactUpdate{"id:c2", R"({"aggregates": {"check": {"sum": "lots", "min": null}, "visits": 5}})"};
  ASSERT_TRUE(append(*store, {spoiled, about_c1("o4", "order.paid", 7000, {{"amount", "nan"}})}).ok());
  EventRecord order = about_c1("o5", "order.paid", 8000, {{"amount", 100}});
  order.contact->key = "id:c2";
  EventRecord visit = about_c1("v3", "visit.completed", 8000, json::object());
  visit.contact->key = "id:c2";
  ASSERT_TRUE(append(*store, {order, visit}).ok());
  const json spoilt = json::parse(store->contact("id:c2")->data_json)["aggregates"];
  EXPECT_EQ(spoilt["check"]["sum"], 100.0);
  EXPECT_EQ(spoilt["check"]["min"], 100.0);
  EXPECT_EQ(spoilt["visits"]["count"], 1);
  EXPECT_EQ(json::parse(store->contact("id:c1")->data_json)["aggregates"]["check"]["sum"], 24000.0);
}

TYPED_TEST(StoreContract, SegmentsChangeOneByOneAndAnUpdateWithoutDataOnlyNamesItsRecord) {
  auto store = this->open();
  EventRecord created = event("1", "contact.created");
  created.received_at_ms = 1000;
  created.contact = ContactUpdate{"id:c1", R"({"name":"Anna"})", {}, {{"vip", "news"}, {}}};
  created.entity = EntityUpdate{"deal", "D1", true, "new", "{}"};
  EventRecord left = event("2", "contact.updated");
  left.contact = ContactUpdate{"id:c1", "", {}, {{}, {"news"}}};
  EventRecord named = event("3", "deal.overdue");  // about them, changing nothing
  named.received_at_ms = 9000;
  named.contact = ContactUpdate{"id:c1", ""};
  named.entity = EntityUpdate{"deal", "D1", false, std::nullopt, ""};
  EventRecord unknown = event("4", "deal.overdue");  // an entity not stored is not created
  unknown.entity = EntityUpdate{"deal", "D2", false, std::nullopt, ""};
  ASSERT_TRUE(append(*store, {created, left, named, unknown}).ok());

  std::vector<std::string> seen;
  for (const auto& e : store->events_after(0, 100)) seen.push_back(e.record.id + " " + e.record.type);
  EXPECT_EQ(seen, (std::vector<std::string>{"1 contact.created", "1:created:deal deal.created",
                                            "1:entered:vip segment.entered", "1:entered:news segment.entered",
                                            "2 contact.updated", "2:left:news segment.left", "3 deal.overdue",
                                            "4 deal.overdue"}));
  const auto contact = store->contact("id:c1");
  EXPECT_EQ(json::parse(contact->data_json)["segments"], json::parse(R"(["vip"])"));
  EXPECT_LT(contact->updated_at_ms, 9000);  // the event that only named it did not touch it
  EXPECT_LT(store->entity("deal", "D1")->updated_at_ms, 9000);
  EXPECT_EQ(store->entity("deal", "D1")->status, "new");
  EXPECT_FALSE(store->entity("deal", "D2"));
  const auto events = store->events_after(0, 100);
  EXPECT_EQ(json::parse(events[6].entity_json)["id"], "D1");  // rules on it still see the deal
  EXPECT_FALSE(events[7].status_change);
}

// A contact first met by its id alone, with a tag added, is stored with its
// id: templates and matches read contact.id from what the store keeps.
TYPED_TEST(StoreContract, AContactFirstMetByItsIdAloneKeepsIt) {
  auto store = this->open();
  EventRecord tagged = event("t1", "contact.tagged");
  tagged.contact = ContactUpdate{"id:c9", "", {{"vip"}, {}}};
  ASSERT_TRUE(append(*store, {tagged}).ok());
  const auto contact = store->contact("id:c9");
  ASSERT_TRUE(contact);
  EXPECT_EQ(json::parse(contact->data_json), json::parse(R"({"id": "c9", "tags": ["vip"]})"));
}

TYPED_TEST(StoreContract, ContactsAndEntitiesArePagedInKeyOrderWithTheirColumnFilters) {
  auto store = this->open();
  std::vector<EventRecord> batch;
  for (const char* id : {"c3", "c1", "c2"}) {
    EventRecord e = event(std::string("e-") + id);
    e.received_at_ms = id[1] == '3' ? 5000 : 2000;
    e.contact = ContactUpdate{std::string("id:") + id, "{}", {}, {}};
    batch.push_back(e);
  }
  int n = 0;
  for (auto [type, id, status] : {std::tuple{"lead", "L2", "new"}, std::tuple{"deal", "D1", "won"},
                                  std::tuple{"lead", "L1", ""}, std::tuple{"lead", "L3", "new"}}) {
    EventRecord e = event("n-" + std::to_string(n++));
    e.entity =
        EntityUpdate{type, id, *status != '\0', *status ? std::optional<std::string>(status) : std::nullopt, "{}"};
    batch.push_back(e);
  }
  ASSERT_TRUE(append(*store, batch).ok());

  RecordQuery q;
  q.limit = 2;
  auto page = store->contacts_page(q);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].key, "id:c1");
  EXPECT_EQ(page[1].key, "id:c2");
  EXPECT_EQ(page[0].updated_at_ms, 2000);
  q.after = page[1].key;
  page = store->contacts_page(q);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].key, "id:c3");
  q = {};
  q.updated_after_ms = 3000;
  EXPECT_EQ(store->contacts_page(q).size(), 1u);
  // The same when the bounds hold few (read by the time index): in key
  // order, paged by the key.
  q = {};
  q.updated_after_ms = 1000;
  q.few_in_bounds = true;
  q.limit = 2;
  page = store->contacts_page(q);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].key, "id:c1");
  EXPECT_EQ(page[1].key, "id:c2");
  q.after = page[1].key;
  page = store->contacts_page(q);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].key, "id:c3");
  q = {};
  q.updated_after_ms = 3000;
  q.few_in_bounds = true;
  page = store->contacts_page(q);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].key, "id:c3");

  RecordQuery e;
  e.entity_type = "lead";
  e.limit = 10;
  auto leads = store->entities_page(e);
  ASSERT_EQ(leads.size(), 3u);
  EXPECT_EQ(leads[0].id, "L1");
  EXPECT_FALSE(leads[0].status);
  e.after = entity_cursor_key("lead", "L1");
  EXPECT_EQ(store->entities_page(e).front().id, "L2");
  e = {};
  e.by_status = true;
  e.status = "new";
  EXPECT_EQ(store->entities_page(e).size(), 2u);
  e.status.reset();  // no status
  ASSERT_EQ(store->entities_page(e).size(), 1u);
  EXPECT_EQ(store->entities_page(e)[0].id, "L1");
  e = {};
  e.after = entity_cursor_key("deal", "D1");  // any type, after the last deal
  EXPECT_EQ(store->entities_page(e).front().id, "L1");
}

// An entity keeps the time it was first stored however often it changes
// after (a booking counts in the period it was made in).
TYPED_TEST(StoreContract, AnEntityKeepsWhenItWasFirstStored) {
  auto store = this->open();
  const auto booking = [&](const std::string& event_id, const std::string& id, const char* status, int64_t at) {
    EventRecord e = event(event_id);
    e.received_at_ms = at;
    e.entity = EntityUpdate{"booking", id, true, std::optional<std::string>(status), "{}"};
    ASSERT_TRUE(append(*store, {e}).ok());
  };
  booking("b1", "B1", "new", 1000);
  booking("b2", "B2", "new", 5000);
  booking("b3", "B1", "done", 9000);  // B1 made at 1000, sold at 9000
  {
    // Made and changed in one batch (one group of writes): made at the first.
    EventRecord made = event("m1"), sold = event("m2");
    made.received_at_ms = 7000;
    sold.received_at_ms = 7500;
    made.entity = EntityUpdate{"order", "O1", true, std::optional<std::string>("new"), "{}"};
    sold.entity = EntityUpdate{"order", "O1", true, std::optional<std::string>("paid"), "{}"};
    ASSERT_TRUE(append(*store, {made, sold}).ok());
    EXPECT_EQ(store->entity("order", "O1")->created_at_ms, 7000);
    EXPECT_EQ(store->entity("order", "O1")->updated_at_ms, 7500);
  }
  const auto b1 = store->entity("booking", "B1");
  ASSERT_TRUE(b1);
  EXPECT_EQ(b1->created_at_ms, 1000);
  EXPECT_EQ(b1->updated_at_ms, 9000);
  RecordQuery q;
  q.entity_type = "booking";
  q.created_before_ms = 4999;
  auto page = store->entities_page(q);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, "B1");
  EXPECT_EQ(page[0].created_at_ms, 1000);
  EXPECT_EQ(page[0].status, "done");
  q = {};
  q.created_after_ms = 5000;
  q.created_before_ms = 5000;  // inclusive
  page = store->entities_page(q);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, "B2");
  q = {};
  q.updated_after_ms = 9000;  // the other bound still reads the last change
  ASSERT_EQ(store->entities_page(q).size(), 1u);
  EXPECT_EQ(store->entities_page(q)[0].id, "B1");

  // A store from before it kept the time: the best known is the last change.
  store.reset();
  this->forget_entity_dates();
  store = this->open();
  EXPECT_EQ(store->entity("booking", "B1")->created_at_ms, 9000);
  booking("b4", "B1", "paid", 12000);
  EXPECT_EQ(store->entity("booking", "B1")->created_at_ms, 9000);
  booking("b5", "B3", "new", 13000);
  EXPECT_EQ(store->entity("booking", "B3")->created_at_ms, 13000);
}

TYPED_TEST(StoreContract, FailingBatchLeavesNothingAndOthersInItsGroupCommit) {
  auto store = this->open();
  EventRecord broken = event("b2");
  broken.contact = ContactUpdate{"id:c", "{not json", {}, {}};
  std::promise<AppendResult> bad, good;
  store->append_events({event("b1"), broken}, [&](AppendResult r) { bad.set_value(std::move(r)); });
  store->append_events({event("g1")}, [&](AppendResult r) { good.set_value(std::move(r)); });
  AppendResult b = bad.get_future().get();
  EXPECT_FALSE(b.ok());
  EXPECT_NE(b.error.find("malformed JSON"), std::string::npos) << b.error;
  EXPECT_TRUE(good.get_future().get().ok());
  auto events = store->events_after(0, 10);
  ASSERT_EQ(events.size(), 1u);  // b1 went with its batch
  EXPECT_EQ(events[0].record.id, "g1");
}

TEST_F(SqliteStoreTest, ConcurrentAppendsShareCommits) {
  auto store = open();
  constexpr int kThreads = 8, kPerThread = 100;
  std::latch done(kThreads * kPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i)
        store->append_events({event(std::to_string(t) + "-" + std::to_string(i))}, [&](AppendResult r) {
          EXPECT_TRUE(r.ok());
          done.count_down();
        });
    });
  for (auto& t : threads) t.join();
  done.wait();
  EXPECT_EQ(store->events_after(0, 10000).size(), static_cast<size_t>(kThreads * kPerThread));
  // One fsync per group: with appends arriving faster than commits, groups form.
  EXPECT_LT(store->commits(), static_cast<uint64_t>(kThreads * kPerThread));
}

TYPED_TEST(StoreContract, CommittedEventsSurviveReopening) {
  {
    auto store = this->open();
    ASSERT_TRUE(append(*store, {event("kept")}).ok());
    store->append_events({event("pending at close")}, [](AppendResult r) { EXPECT_TRUE(r.ok()); });
  }  // the destructor commits what was appended
  auto store = this->open();
  auto events = store->events_after(0, 10);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].record.id, "pending at close");
  EXPECT_EQ(append(*store, {event("kept")}).outcomes.front(), AppendOutcome::kDuplicate);
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

TYPED_TEST(StoreContract, StatusChangesAreRecordedInCommitOrder) {
  auto store = this->open();
  EventRecord created = event("1", "lead.created");
  created.entity = EntityUpdate{"lead", "L1", true, std::nullopt, "{}"};  // created with no status
  EventRecord moved = event("2", "lead.status_changed");
  moved.entity = EntityUpdate{"lead", "L1", true, "A", "{}"};
  EventRecord field = event("3", "lead.field_changed");
  field.entity = EntityUpdate{"lead", "L1", false, std::nullopt, R"({"fields":{"x":1}})"};
  EventRecord again = event("4", "lead.status_changed");
  again.entity = EntityUpdate{"lead", "L1", true, "B", "{}"};
  ASSERT_TRUE(append(*store, {created, moved}).ok());
  ASSERT_TRUE(append(*store, {field, again}).ok());
  auto events = store->events_after(0, 10);
  ASSERT_EQ(events.size(), 4u);
  ASSERT_TRUE(events[0].status_change);
  EXPECT_TRUE(events[0].status_change->created);
  EXPECT_FALSE(events[0].status_change->current);
  EXPECT_FALSE(events[1].status_change->created);
  EXPECT_FALSE(events[1].status_change->previous);
  EXPECT_EQ(events[1].status_change->current, "A");
  EXPECT_FALSE(events[2].status_change);  // a field change sets no status
  EXPECT_EQ(events[3].status_change->previous, "A");
  EXPECT_EQ(events[3].status_change->current, "B");
}

// An entity the store does not know yet moves from the status its sender
// says it left; one it knows, from the status it has.
TYPED_TEST(StoreContract, AnUnknownEntitysFirstMoveStartsFromTheStatusItsSenderSaw) {
  auto store = this->open();
  EventRecord first = event("1", "deal.status_changed");
  first.entity = EntityUpdate{"deal", "D1", true, "Paid", "{}"};
  first.entity->stated_previous = std::optional<std::string>("Invoiced");
  EventRecord next = event("2", "deal.status_changed");
  next.entity = EntityUpdate{"deal", "D1", true, "Closed", "{}"};
  next.entity->stated_previous = std::optional<std::string>("Draft");
  ASSERT_TRUE(append(*store, {first, next}).ok());
  std::vector<StoredEvent> events;  // without the deal.created derived from the first
  for (StoredEvent& e : store->events_after(0, 10))
    if (e.record.type == "deal.status_changed") events.push_back(std::move(e));
  ASSERT_EQ(events.size(), 2u);
  ASSERT_TRUE(events[0].status_change);
  EXPECT_TRUE(events[0].status_change->created);
  EXPECT_EQ(events[0].status_change->previous, "Invoiced");
  EXPECT_EQ(events[0].status_change->current, "Paid");
  EXPECT_FALSE(events[1].status_change->created);
  EXPECT_EQ(events[1].status_change->previous, "Paid");
}

// The priority lane reads only what triggers look at.
TYPED_TEST(StoreContract, EventHeadsAreTheEventsWithWhatTriggersReadOnly) {
  auto store = this->open();
  EventRecord created = event("1", "lead.created");
  created.entity = EntityUpdate{"lead", "L1", true, "A", R"({"fields":{"x":1}})"};
  created.contact = ContactUpdate{"email:a@example.com", R"({"name":"Anna"})", {}, {}};
  EventRecord moved = event("2", "lead.status_changed");
  moved.entity = EntityUpdate{"lead", "L1", true, "B", "{}"};
  moved.source = "crm";
  moved.chain_depth = 3;
  ASSERT_TRUE(append(*store, {created, moved, event("3")}).ok());
  const auto events = store->events_after(0, 10);
  const auto heads = store->event_heads_after(0, 10);
  ASSERT_EQ(events.size(), 4u);  // with the contact the first created
  ASSERT_EQ(heads.size(), events.size());
  for (size_t i = 0; i < heads.size(); ++i) {
    SCOPED_TRACE(events[i].record.id);
    EXPECT_EQ(heads[i].seq, events[i].seq);
    EXPECT_EQ(heads[i].record.id, events[i].record.id);
    EXPECT_EQ(heads[i].record.type, events[i].record.type);
    EXPECT_EQ(heads[i].record.source, events[i].record.source);
    EXPECT_EQ(heads[i].record.chain_depth, events[i].record.chain_depth);
    ASSERT_EQ(heads[i].status_change.has_value(), events[i].status_change.has_value());
    if (heads[i].status_change) {
      EXPECT_EQ(heads[i].status_change->entity_type, events[i].status_change->entity_type);
      EXPECT_EQ(heads[i].status_change->entity_id, events[i].status_change->entity_id);
      EXPECT_EQ(heads[i].status_change->created, events[i].status_change->created);
      EXPECT_EQ(heads[i].status_change->previous, events[i].status_change->previous);
      EXPECT_EQ(heads[i].status_change->current, events[i].status_change->current);
    }
    EXPECT_EQ(heads[i].record.body_json, "");
    EXPECT_EQ(heads[i].contact_json, "");
    EXPECT_EQ(heads[i].entity_json, "");
  }
  const StoredEvent& second = heads[2];  // after the contact the first created
  ASSERT_EQ(second.record.id, "2");
  EXPECT_EQ(second.record.source, "crm");
  EXPECT_EQ(second.record.chain_depth, 3);
  ASSERT_TRUE(second.status_change);
  EXPECT_EQ(second.status_change->previous, "A");
  EXPECT_EQ(second.status_change->current, "B");
  EXPECT_FALSE(events[0].contact_json.empty());  // what the heads leave out
  EXPECT_FALSE(events[0].record.body_json.empty());
  EXPECT_EQ(store->event_heads_after(heads[2].seq, 1).front().record.id, "3");
}

// A status change held to the statuses its sender saw (a task cancelled
// while open) does not overwrite one made since (the task marked done).
TYPED_TEST(StoreContract, AStatusChangeHeldToStatusesIsStoredOnlyFromThem) {
  auto store = this->open();
  EventRecord opened = event("1", "task.created");
  opened.entity = EntityUpdate{"task", "T1", true, "open", "{}"};
  EventRecord finished = event("2", "task.status_changed");
  finished.entity = EntityUpdate{"task", "T1", true, "done", "{}"};
  auto cancel = [](const std::string& id, const std::string& task) {
    EventRecord e = event(id, "task.status_changed");
    e.entity = EntityUpdate{"task", task, true, "cancelled", "{}"};
    e.entity->only_from = std::vector<std::optional<std::string>>{"open", "in_progress"};
    return e;
  };
  ASSERT_TRUE(append(*store, {opened, finished}).ok());
  const AppendResult late = append(*store, {cancel("3", "T1")});
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late.outcomes.front(), AppendOutcome::kUnchanged);
  EXPECT_EQ(store->entity("task", "T1")->status, "done");
  EXPECT_EQ(store->events_after(0, 10).size(), 2u);  // nothing stored, nothing routed

  EventRecord other = event("4", "task.created");
  other.entity = EntityUpdate{"task", "T2", true, "in_progress", "{}"};
  const AppendResult both = append(*store, {other, cancel("5", "T2")});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both.outcomes.back(), AppendOutcome::kStored);  // read after the event before it, in the same append
  EXPECT_EQ(store->entity("task", "T2")->status, "cancelled");
  // The change stored again (its step run again): a duplicate, not a change that no longer applies.
  const AppendResult again = append(*store, {cancel("5", "T2")});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.outcomes.front(), AppendOutcome::kDuplicate);
}

TYPED_TEST(StoreContract, RoutingCreatesExecutionsOnceAndRemembersItsPosition) {
  auto store = this->open();
  auto route = [&](RouteBatch b) {
    std::promise<StoreStatus> got;
    Transitions(*store).route(std::move(b), [&](StoreStatus s) { got.set_value(s); });
    return got.get_future().get();
  };
  EXPECT_EQ(store->routed_up_to(), 0);
  RouteBatch b;
  b.routed_up_to = 7;
  b.executions.push_back({"welcome", "e1", R"({"a":1})", std::nullopt});
  b.executions.push_back({"range", "e1", "{}", std::make_pair(std::string("lead"), std::string("L1"))});
  ASSERT_TRUE(route(b).ok());
  // The same event routed again (after a crash before the position was
  // read back) creates nothing new; the range rule fires once per entity.
  RouteBatch again;
  again.from = 7;
  again.routed_up_to = 9;
  again.executions.push_back({"welcome", "e1", "{}", std::nullopt});
  again.executions.push_back({"range", "e2", "{}", std::make_pair(std::string("lead"), std::string("L1"))});
  ASSERT_TRUE(route(again).ok());
  EXPECT_EQ(store->routed_up_to(), 9);
  auto all = store->executions({});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(store->executions({std::nullopt, "welcome", "", 10}).front().context_json, R"({"a":1})");
  EXPECT_EQ(all[0].state, ExecutionState::kReady);
  EXPECT_EQ(store->claim_due({"me", now_ms() + 1000, 10, 60000}).size(), 2u);
  // A router that read from an older position (another host was faster)
  // is refused, and its executions are not stored.
  RouteBatch stale;
  stale.from = 7;
  stale.routed_up_to = 9;
  stale.executions.push_back({"welcome", "e9", "{}", std::nullopt});
  EXPECT_EQ(route(stale).code, StoreErrc::kConflict);
  EXPECT_EQ(store->executions({}).size(), 2u);
}

TYPED_TEST(StoreContract, ExecutionsMadeAheadOfTheRouterStartLeasedAndTheRouterMakesThemNoMore) {
  auto store = this->open();
  auto create = [&](std::vector<NewExecution> executions, size_t start_now) {
    std::promise<std::pair<StoreStatus, std::vector<ExecutionRow>>> got;
    Transitions(*store).create(std::move(executions), {"host-a", 60000, start_now},
                               [&](StoreStatus s, std::vector<ExecutionRow> started) {
                                 got.set_value({std::move(s), std::move(started)});
                               });
    return got.get_future().get();
  };
  auto [status, started] = create({{"reset", "p1", R"({"a":1})", std::nullopt, kHighestPriority},
                                   {"reset", "p2", "{}", std::nullopt, kHighestPriority}},
                                  1);
  ASSERT_TRUE(status.ok()) << status.message;
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].event_id, "p1");
  EXPECT_EQ(started[0].context_json, R"({"a":1})");
  EXPECT_EQ(store->execution(started[0].id)->lease_owner, "host-a");
  EXPECT_EQ(store->routed_up_to(), 0);  // the router's position is its own
  // The one that did not fit waits for a claim.
  auto claimed = store->claim_due({"host-b", now_ms() + 10, 10, 60000});
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].event_id, "p2");
  // Made again (the router reaching the same events): nothing new.
  EXPECT_TRUE(create({{"reset", "p1", "{}", std::nullopt, kHighestPriority}}, 1).second.empty());
  EXPECT_TRUE(route_one(*store, "p1").ok());  // rule "r": another rule's execution
  EXPECT_EQ(store->executions({}).size(), 3u);
}

// A unit of work that fails is undone whole, and the units after it read
// the rows as committed: with a unit that failed in the same group (which
// then runs again, each unit alone), and after it.
TYPED_TEST(StoreContract, AUnitThatFailsLeavesNoTraceInWhatLaterUnitsRead) {
  auto store = this->open();
  std::promise<std::pair<StoreStatus, std::vector<ExecutionRow>>> made;
  Transitions(*store).create({{"r", "e1", "{}", std::nullopt}}, {"host-a", 60000, 1},
                             [&](StoreStatus s, std::vector<ExecutionRow> started) {
                               made.set_value({std::move(s), std::move(started)});
                             });
  auto [status, started] = made.get_future().get();
  ASSERT_TRUE(status.ok()) << status.message;
  ASSERT_EQ(started.size(), 1u);
  const int64_t id = started[0].id;
  // Moves the step on and notes it in the history, keeping the lease.
  const auto step_to = [id](const std::string& step) {
    return [id, step](ExecutionRows& rows) {
      auto row = rows.find(id);
      ASSERT_TRUE(row);
      ExecutionRow next = *row;
      next.step = step;
      next.history_json = history::appended(row->history_json, json{{"step", step}}.dump());
      if (!rows.compare_and_set(next, row->state, row->lease_owner)) throw StoreError("changed", StoreErrc::kConflict);
    };
  };
  // The writer is held while both are queued, so that they share a group.
  std::promise<void> release, holding;
  std::shared_future<void> released = release.get_future().share();
  std::promise<StoreStatus> held, moved, failed;
  store->transact(
      [released, &holding](ExecutionRows&) {
        holding.set_value();
        released.wait();
      },
      [&](StoreStatus s) { held.set_value(s); });
  holding.get_future().wait();
  store->transact(step_to("a"), [&](StoreStatus s) { moved.set_value(s); });
  store->transact(
      [&](ExecutionRows& rows) {
        step_to("b")(rows);
        throw std::runtime_error("the unit's own failure");
      },
      [&](StoreStatus s) { failed.set_value(s); });
  release.set_value();
  EXPECT_TRUE(held.get_future().get().ok());
  EXPECT_TRUE(moved.get_future().get().ok());
  EXPECT_FALSE(failed.get_future().get().ok());
  // Alone, after it.
  EXPECT_FALSE(transact(*store, [&](ExecutionRows& rows) {
                 step_to("c")(rows);
                 throw std::runtime_error("the unit's own failure");
               }).ok());
  EXPECT_TRUE(transact(*store, step_to("d")).ok());
  const auto row = store->execution(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->step, "d");
  EXPECT_EQ(row->lease_owner, "host-a");
  EXPECT_EQ(json::parse(row->history_json), json::parse(R"([{"step":"a"},{"step":"d"}])"));
}

// What a unit of work finds is the row as stored, whatever wrote it last:
// an insert, a compare-and-set, a step's result, a claim, a cancel and the
// end of a node's leases.
TYPED_TEST(StoreContract, ARowFoundInAUnitIsTheRowStoredAfterEveryKindOfWrite) {
  auto store = this->open();
  const auto fields = [](const ExecutionRow& r) {
    return json{{"id", r.id},
                {"rule", r.rule},
                {"rule_version", r.rule_version},
                {"event_id", r.event_id},
                {"state", state_name(r.state)},
                {"step", r.step},
                {"attempt", r.attempt},
                {"due_at", r.due_at_ms ? json(*r.due_at_ms) : json()},
                {"context", r.context_json},
                {"history", r.history_json},
                {"error", r.error},
                {"created_at", r.created_at_ms},
                {"updated_at", r.updated_at_ms},
                {"awaiting", r.awaiting},
                {"resume_step", r.resume_step},
                {"parent_id", r.parent_id},
                {"end_step", r.end_step},
                {"priority", r.priority},
                {"lease_owner", r.lease_owner},
                {"doubt", static_cast<int>(r.doubt)},
                {"last_arrival", r.last_arrival}};
  };
  const auto same_as_stored = [&](int64_t id, const std::string& after) {
    std::optional<ExecutionRow> found;
    ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) { found = rows.find(id); }).ok()) << after;
    const auto stored = store->execution(id);
    ASSERT_TRUE(found && stored) << after;
    EXPECT_EQ(fields(*found), fields(*stored)) << after;
  };
  const auto done = [](std::promise<StoreStatus>& p) { return [&p](StoreStatus s) { p.set_value(std::move(s)); }; };
  std::promise<std::pair<StoreStatus, std::vector<ExecutionRow>>> made;
  Transitions(*store).create({{"r", "e1", R"({"a":1})", std::nullopt, kHighestPriority, "v1"}}, {"host-a", 60000, 1},
                             [&](StoreStatus s, std::vector<ExecutionRow> started) {
                               made.set_value({std::move(s), std::move(started)});
                             });
  const auto started = made.get_future().get().second;
  ASSERT_EQ(started.size(), 1u);
  const int64_t id = started[0].id;
  same_as_stored(id, "a leased insert");

  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) {
                auto row = rows.find(id);
                ASSERT_TRUE(row);
                ExecutionRow next = *row;
                next.step = "b";
                next.attempt = 2;
                next.error = "timed out";
                next.history_json = history::appended(row->history_json, R"({"step":"a"})");
                next.updated_at_ms = row->updated_at_ms + 1;
                ASSERT_TRUE(rows.compare_and_set(next, row->state, row->lease_owner));
              }).ok());
  same_as_stored(id, "a compare-and-set that keeps the lease");

  ExecutionUpdate result = ExecutionUpdate::to(id, ExecutionState::kReady, "c", 0, now_ms(), R"({"step":"b"})");
  result.lease_owner = "host-a";
  std::promise<StoreStatus> updated;
  Transitions(*store).update(result, done(updated));
  ASSERT_TRUE(updated.get_future().get().ok());
  same_as_stored(id, "a step's result");

  ASSERT_EQ(store->claim_due({"host-b", now_ms() + 10, 10, 60000}).size(), 1u);
  same_as_stored(id, "a claim");

  std::promise<StoreStatus> cancelled;
  Transitions(*store).command(
      {id, {ExecutionState::kReady}, ExecutionState::kCancelled, std::nullopt, "", Doubt::kNone},
      [&](StoreStatus s, std::vector<int64_t>) { cancelled.set_value(std::move(s)); });
  ASSERT_TRUE(cancelled.get_future().get().ok());
  // (Not looked at here: a unit's find takes the row it reads.)
  std::promise<StoreStatus> ended;
  store->end_leases("host-b", now_ms(), std::nullopt, done(ended));
  ASSERT_TRUE(ended.get_future().get().ok());
  same_as_stored(id, "a cancel, then the end of the node's leases");
  // The ended node's step comes back: its row is cancelled, and the update
  // only ends the lease.
  ExecutionUpdate late = ExecutionUpdate::to(id, ExecutionState::kDone, "$end", 0, std::nullopt);
  late.lease_owner = "host-b";
  std::promise<StoreStatus> came_back;
  Transitions(*store).update(late, done(came_back));
  EXPECT_TRUE(came_back.get_future().get().ok());
  EXPECT_EQ(store->execution(id)->state, ExecutionState::kCancelled);
  EXPECT_EQ(store->execution(id)->lease_owner, "");
}

TYPED_TEST(StoreContract, TheRouterLeasesTheExecutionsItMakesUpToTheRoomItHas) {
  auto store = this->open();
  auto route = [&](RouteBatch batch, size_t start_now) {
    std::promise<std::pair<StoreStatus, std::vector<ExecutionRow>>> got;
    Transitions(*store).route(std::move(batch), {"host-a", 60000, start_now},
                              [&](StoreStatus s, std::vector<ExecutionRow> started) {
                                got.set_value({std::move(s), std::move(started)});
                              });
    return got.get_future().get();
  };
  RouteBatch batch;
  batch.routed_up_to = 3;
  for (const char* id : {"e1", "e2", "e3"}) batch.executions.push_back({"welcome", id, "{}", std::nullopt});
  auto [status, started] = route(batch, 2);
  ASSERT_TRUE(status.ok()) << status.message;
  ASSERT_EQ(started.size(), 2u);
  EXPECT_EQ(started[0].event_id, "e1");
  EXPECT_EQ(started[1].event_id, "e2");
  for (const auto& row : started) EXPECT_EQ(store->execution(row.id)->lease_owner, "host-a");
  EXPECT_EQ(store->routed_up_to(), 3);
  // Leased ones are not claimed again while their lease runs; the third waits for a claim.
  auto claimed = store->claim_due({"host-b", now_ms() + 10, 10, 60000});
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].event_id, "e3");
  // A batch the store refuses (another router was faster) leases nothing.
  RouteBatch stale;
  stale.routed_up_to = 4;
  stale.executions.push_back({"welcome", "e4", "{}", std::nullopt});
  auto [refused, none] = route(stale, 5);
  EXPECT_EQ(refused.code, StoreErrc::kConflict);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(store->executions({}).size(), 3u);
}

TYPED_TEST(StoreContract, DueWorkIsLeasedUntilItsUpdateIsCommittedOrTheLeaseEnds) {
  auto store = this->open();
  ASSERT_TRUE(route_one(*store, "e1").ok());
  const int64_t now = now_ms() + 10;
  auto mine = store->claim_due({"host-a", now, 10, 60000});
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_TRUE(store->claim_due({"host-a", now, 10, 60000}).empty());  // running: not claimed twice
  EXPECT_TRUE(store->claim_due({"host-b", now, 10, 60000}).empty());
  // The claimer died: once the lease ends, another takes the work over.
  std::promise<std::string> routed_more;
  RouteBatch more;
  more.from = 1;
  more.routed_up_to = 2;
  more.executions.push_back({"r", "e2", "{}", std::nullopt});
  Transitions(*store).route(std::move(more), [&](StoreStatus s) { routed_more.set_value(s.message); });
  ASSERT_EQ(routed_more.get_future().get(), "");
  ASSERT_EQ(store->claim_due({"host-a", now_ms() + 10, 1, /*lease_ms=*/1}).size(), 1u);  // e2, briefly
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Leases run on the store's clock; a claim after they end sees the work.
  EXPECT_EQ(store->claim_due({"host-b", now_ms() + 10, 10, 60000}).size(), 1u);
  // An update ends the lease: the next step is claimable at once.
  std::promise<std::string> updated;
  Transitions(*store).update(ExecutionUpdate::to(mine[0].id, ExecutionState::kReady, "send", 0, now),
                             [&](StoreStatus s) { updated.set_value(s.message); });
  ASSERT_EQ(updated.get_future().get(), "");
  auto next = store->claim_due({"host-a", now, 10, 60000});
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].step, "send");
}

TYPED_TEST(StoreContract, HigherPriorityWorkIsClaimedFirstWhateverIsDueBeforeIt) {
  auto store = this->open();
  std::promise<std::string> routed;
  RouteBatch b;
  b.routed_up_to = 1;
  for (int i = 0; i < 50; ++i) b.executions.push_back({"campaign", "c" + std::to_string(i), "{}", std::nullopt});
  b.executions.push_back({"digest", "d1", "{}", std::nullopt, kLowestPriority});
  b.executions.push_back({"reset", "r1", "{}", std::nullopt, kHighestPriority});
  Transitions(*store).route(std::move(b), [&](StoreStatus s) { routed.set_value(s.message); });
  ASSERT_EQ(routed.get_future().get(), "");
  const int64_t now = now_ms() + 10;
  auto first = store->claim_due({"me", now, 2, 60000});
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].rule, "reset");
  EXPECT_EQ(first[0].priority, kHighestPriority);
  EXPECT_EQ(first[1].rule, "campaign");
  EXPECT_EQ(first[1].lease_owner, "me");
  auto rest = store->claim_due({"me", now, 100, 60000});
  ASSERT_EQ(rest.size(), 50u);
  EXPECT_EQ(rest.back().rule, "digest");  // the lowest priority last
}

TEST_F(SqliteStoreTest, LeasesOfAHostThatDiedAreReleasedWhenTheFileIsOpenedAgain) {
  {
    auto store = open();
    std::promise<std::string> routed;
    RouteBatch b;
    b.routed_up_to = 1;
    b.executions.push_back({"r", "e1", "{}", std::nullopt});
    Transitions(*store).route(std::move(b), [&](StoreStatus s) { routed.set_value(s.message); });
    ASSERT_EQ(routed.get_future().get(), "");
    ASSERT_EQ(store->claim_due({"old-run", now_ms() + 10, 10, 3600 * 1000}).size(), 1u);
    EXPECT_TRUE(store->claim_due({"old-run", now_ms() + 10, 10, 3600 * 1000}).empty());
  }
  auto store = open();
  auto rows = store->claim_due({"new-run", now_ms() + 10, 10, 60000});
  ASSERT_EQ(rows.size(), 1u);  // at once, not an hour later
  EXPECT_EQ(rows[0].lease_owner, "new-run");
}

TYPED_TEST(StoreContract, ExecutionUpdatesKeepHistoryAndDueTimes) {
  auto store = this->open();
  ASSERT_TRUE(route_one(*store, "e1").ok());
  const int64_t id = store->executions({}).front().id;
  auto update = [&](ExecutionUpdate u) {
    std::promise<std::string> got;
    Transitions(*store).update(std::move(u), [&](StoreStatus s) { got.set_value(s.message); });
    return got.get_future().get();
  };
  const int64_t later = now_ms() + 3600 * 1000;
  ASSERT_EQ(update(ExecutionUpdate::to(id, ExecutionState::kWaiting, "send", 0, later,
                                       R"({"step":"send","outcome":"done"})")),
            "");
  EXPECT_TRUE(store->claim_due({"me", now_ms(), 10, 60000}).empty());
  EXPECT_EQ(store->next_due_ms(), later);
  ASSERT_EQ(update(ExecutionUpdate::to(id, ExecutionState::kFailed, "sms", 3, std::nullopt,
                                       R"({"step":"sms","outcome":"permanent"})", "invalid number")),
            "");
  auto row = store->execution(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->state, ExecutionState::kFailed);
  EXPECT_EQ(row->error, "invalid number");
  EXPECT_EQ(json::parse(row->history_json).size(), 2u);
  EXPECT_FALSE(store->next_due_ms());
  EXPECT_NE(update(ExecutionUpdate::to(999, ExecutionState::kDone, "$end", 0, std::nullopt)), "");  // unknown id
}

TYPED_TEST(StoreContract, ExecutionsAreListedByStateRuleAndEventNewestFirst) {
  auto store = this->open();
  // Rules r and s, events e0..e5; each ends in a state of its own.
  const std::vector<ExecutionState> states = {ExecutionState::kDone, ExecutionState::kWaiting, ExecutionState::kFailed,
                                              ExecutionState::kDone, ExecutionState::kInDoubt, ExecutionState::kReady};
  RouteBatch b;
  b.routed_up_to = 1;
  for (size_t i = 0; i < states.size(); ++i)
    b.executions.push_back({i % 2 ? "s" : "r", "e" + std::to_string(i), "{}", std::nullopt});
  std::promise<StoreStatus> routed;
  Transitions(*store).route(std::move(b), [&](StoreStatus s) { routed.set_value(s); });
  ASSERT_TRUE(routed.get_future().get().ok());
  std::map<std::string, int64_t> id_of;
  for (const auto& row : store->executions({})) id_of[row.event_id] = row.id;
  ASSERT_EQ(id_of.size(), states.size());
  for (size_t i = 0; i < states.size(); ++i) {
    if (states[i] == ExecutionState::kReady) continue;
    std::promise<StoreStatus> got;
    Transitions(*store).update(
        ExecutionUpdate::to(
            id_of["e" + std::to_string(i)], states[i], "send", 0,
            states[i] == ExecutionState::kWaiting ? std::optional<int64_t>(now_ms() + 60000) : std::nullopt),
        [&](StoreStatus s) { got.set_value(s); });
    ASSERT_TRUE(got.get_future().get().ok());
  }
  auto events = [&](const ExecutionQuery& q) {
    std::vector<std::string> out;
    for (const auto& row : store->executions(q)) out.push_back(row.event_id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(events({}), (V{"e5", "e4", "e3", "e2", "e1", "e0"}));
  EXPECT_EQ(events({ExecutionState::kDone, "", "", 100}), (V{"e3", "e0"}));
  EXPECT_EQ(events({ExecutionState::kInDoubt, "", "", 100}), (V{"e4"}));
  EXPECT_EQ(events({ExecutionState::kWaiting, "", "", 100}), (V{"e1"}));
  EXPECT_EQ(events({ExecutionState::kReady, "", "", 100}), (V{"e5"}));
  EXPECT_EQ(events({ExecutionState::kCancelled, "", "", 100}), V{});
  EXPECT_EQ(events({std::nullopt, "s", "", 100}), (V{"e5", "e3", "e1"}));
  EXPECT_EQ(events({ExecutionState::kDone, "s", "", 100}), (V{"e3"}));
  EXPECT_EQ(events({ExecutionState::kFailed, "s", "", 100}), V{});
  EXPECT_EQ(events({std::nullopt, "", "e2", 100}), (V{"e2"}));
  EXPECT_EQ(events({ExecutionState::kFailed, "r", "e2", 100}), (V{"e2"}));
  EXPECT_EQ(events({std::nullopt, "s", "e2", 100}), V{});
  EXPECT_EQ(events({std::nullopt, "", "", 2}), (V{"e5", "e4"}));
  EXPECT_EQ(events({ExecutionState::kDone, "", "", 1}), (V{"e3"}));
  // The next page: below the last id of the one before.
  EXPECT_EQ(events({std::nullopt, "", "", 2, id_of["e4"]}), (V{"e3", "e2"}));
  EXPECT_EQ(events({ExecutionState::kDone, "", "", 1, id_of["e3"]}), (V{"e0"}));
  EXPECT_EQ(events({std::nullopt, "s", "", 100, id_of["e1"]}), V{});
}

// An operator's listing of the few executions in doubt (or failed) among a
// campaign's million done is read through an index, not the whole table;
// a store of version 6 loses the index of every state.
TEST_F(SqliteStoreTest, ListingsOfAStateOtherThanDoneAreServedByAnIndex) {
  open().reset();
  SqliteDatabase(file_, false)
      .execute(
          "DROP INDEX executions_open; CREATE INDEX executions_state ON executions (state, id); "
          "PRAGMA user_version = 6");
  open().reset();  // upgraded
  SqliteDatabase db(file_, false);
  SqliteStatement indexes(db.handle(), "SELECT group_concat(name, ' ') FROM sqlite_master WHERE type = 'index'");
  ASSERT_TRUE(indexes.step());
  EXPECT_EQ(indexes.text(0).find("executions_state"), std::string::npos) << indexes.text(0);
  indexes.reset();
  auto plan = [&](const ExecutionQuery& q) {
    const ExecutionFilter f = execution_filter(q, [](int n) { return "?" + std::to_string(n); });
    SqliteStatement explain(db.handle(), "EXPLAIN QUERY PLAN SELECT id FROM executions" + f.where +
                                             " ORDER BY id DESC LIMIT ?" + std::to_string(f.values.size() + 1));
    std::string details;
    while (explain.step()) details += explain.text(3) + "; ";
    return details;
  };
  for (const auto state : {ExecutionState::kInDoubt, ExecutionState::kFailed, ExecutionState::kWaiting})
    EXPECT_NE(plan({state, "", "", 10}).find("INDEX executions_open (state=?)"), std::string::npos)
        << state_name(state) << ": " << plan({state, "", "", 10});
  EXPECT_NE(plan({std::nullopt, "", "e1", 10}).find("(event_id=?)"), std::string::npos)
      << plan({std::nullopt, "", "e1", 10});
}

TYPED_TEST(StoreContract, ALeaseTakenOverAfterItEndedMarksItsStepAsMaybeRun) {
  auto store = this->open();
  ASSERT_TRUE(route_one(*store, "e1").ok());
  const int64_t now = now_ms() + 10;
  auto first = store->claim_due({"host-a", now, 10, /*lease_ms=*/1});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].doubt, Doubt::kNone);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto taken = store->claim_due({"host-b", now_ms() + 10, 10, 60000});
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].lease_owner, "host-b");
  EXPECT_EQ(taken[0].doubt, Doubt::kMayHaveRun);  // host-a may have sent it
  std::promise<StoreStatus> updated;
  Transitions(*store).update(ExecutionUpdate::to(taken[0].id, ExecutionState::kReady, "next", 0, now),
                             [&](StoreStatus st) { updated.set_value(st); });
  ASSERT_TRUE(updated.get_future().get().ok());
  EXPECT_EQ(store->execution(taken[0].id)->doubt, Doubt::kNone);  // an update ends the doubt
}

TYPED_TEST(StoreContract, AnUpdateFromALeaseThatWasTakenOverIsRefused) {
  auto store = this->open();
  ASSERT_TRUE(route_one(*store, "e1").ok());
  ASSERT_EQ(store->claim_due({"host-a", now_ms() + 10, 10, /*lease_ms=*/1}).size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto taken = store->claim_due({"host-b", now_ms() + 10, 10, 60000});
  ASSERT_EQ(taken.size(), 1u);
  auto update = [&](const std::string& owner, const std::string& step) {
    ExecutionUpdate u = ExecutionUpdate::to(taken[0].id, ExecutionState::kReady, step, 0, now_ms() + 60000);
    u.lease_owner = owner;
    std::promise<StoreStatus> got;
    Transitions(*store).update(u, [&](StoreStatus st) { got.set_value(st); });
    return got.get_future().get();
  };
  // host-a's late result does not overwrite what host-b is doing.
  EXPECT_EQ(update("host-a", "late").code, StoreErrc::kConflict);
  EXPECT_EQ(store->execution(taken[0].id)->lease_owner, "host-b");
  EXPECT_TRUE(update("host-b", "next").ok());
  EXPECT_EQ(store->execution(taken[0].id)->step, "next");
}

// A step's result the store reported as not committed (the connection was
// lost at the commit) is given again; if it was committed after all, and
// the same host claimed the row's next step since, it must not move the row
// back: it names the step it was claimed at.
TYPED_TEST(StoreContract, AResultGivenAgainAfterItsRowWentOnIsRefused) {
  auto store = this->open();
  ASSERT_TRUE(route_one(*store, "e1").ok());
  auto claimed = store->claim_due({"host-a", now_ms() + 10, 10, 60000});
  ASSERT_EQ(claimed.size(), 1u);
  ExecutionUpdate result = ExecutionUpdate::to(claimed[0].id, ExecutionState::kReady, "1", 0, now_ms());
  result.lease_owner = "host-a";
  result.claim = ExecutionUpdate::Claim{claimed[0].step, claimed[0].due_at_ms};
  const auto apply = [&](const ExecutionUpdate& u) {
    std::promise<StoreStatus> got;
    Transitions(*store).update(u, [&](StoreStatus st) { got.set_value(st); });
    return got.get_future().get();
  };
  ASSERT_TRUE(apply(result).ok());
  auto next = store->claim_due({"host-a", now_ms() + 10, 10, 60000});
  ASSERT_EQ(next.size(), 1u);
  ASSERT_EQ(next[0].step, "1");
  EXPECT_EQ(apply(result).code, StoreErrc::kConflict);
  EXPECT_EQ(store->execution(claimed[0].id)->step, "1");
  EXPECT_EQ(store->execution(claimed[0].id)->lease_owner, "host-a");  // the second claim's, untouched

  // The same step claimed again by the same host (a retry that came due):
  // the first claim's result is refused too, by the claim's lease end.
  ExecutionUpdate retry = ExecutionUpdate::to(next[0].id, ExecutionState::kReady, "1", 1, now_ms());
  retry.lease_owner = "host-a";
  retry.claim = ExecutionUpdate::Claim{next[0].step, next[0].due_at_ms};
  ASSERT_TRUE(apply(retry).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // another lease end
  auto again = store->claim_due({"host-a", now_ms() + 10, 10, 60000});
  ASSERT_EQ(again.size(), 1u);
  ASSERT_EQ(again[0].step, "1");
  EXPECT_EQ(apply(retry).code, StoreErrc::kConflict);
  EXPECT_EQ(store->execution(claimed[0].id)->lease_owner, "host-a");
  EXPECT_EQ(store->execution(claimed[0].id)->due_at_ms, again[0].due_at_ms);  // still the lease's end
}

// A host that stops gives back a step it claimed and never started: the
// row is due again and leased to no one, and a doubt it was claimed with (a
// dead host may have sent it) is kept for the next claim.
TYPED_TEST(StoreContract, AStepGivenBackUnstartedIsDueUnleasedAndKeepsItsDoubt) {
  auto store = this->open();
  ASSERT_TRUE(route_one(*store, "e1").ok());
  ASSERT_EQ(store->claim_due({"host-a", now_ms() + 10, 10, /*lease_ms=*/1}).size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto taken = store->claim_due({"host-b", now_ms() + 10, 10, 60000});
  ASSERT_EQ(taken.size(), 1u);
  ASSERT_EQ(taken[0].doubt, Doubt::kMayHaveRun);
  ExecutionUpdate back = ExecutionUpdate::given_back(taken[0], now_ms());
  back.lease_owner = "host-b";
  std::promise<StoreStatus> given;
  Transitions(*store).update(back, [&](StoreStatus st) { given.set_value(st); });
  ASSERT_TRUE(given.get_future().get().ok());
  const auto row = store->execution(taken[0].id);
  EXPECT_TRUE(row->lease_owner.empty());
  EXPECT_EQ(row->step, taken[0].step);
  EXPECT_EQ(row->doubt, Doubt::kMayHaveRun);
  auto again = store->claim_due({"host-c", now_ms() + 10, 10, 60000});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].doubt, Doubt::kMayHaveRun);
}

// An operator said the step in doubt ran (mark-done): a host that dies after
// claiming it leaves that word for the next claim, not a new doubt.
TYPED_TEST(StoreContract, AStepMarkedDoneKeepsThatWordWhenItsHostDies) {
  {
    auto store = this->open();
    ASSERT_TRUE(route_one(*store, "e1").ok());
    const int64_t id = store->executions({}).at(0).id;
    std::promise<StoreStatus> marked;
    Transitions(*store).command({id,
                                 {ExecutionState::kReady},
                                 ExecutionState::kReady,
                                 now_ms(),
                                 R"({"admin":"mark-done"})",
                                 Doubt::kMarkedDone},
                                [&](StoreStatus s, std::vector<int64_t>) { marked.set_value(std::move(s)); });
    ASSERT_TRUE(marked.get_future().get().ok());
    auto claimed = store->claim_due({"host-a", now_ms() + 10, 10, /*lease_ms=*/1});
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(claimed[0].doubt, Doubt::kMarkedDone);
  }  // host-a dies with the step claimed
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto store = this->open();
  auto taken = store->claim_due({"host-b", now_ms() + 10, 10, 60000});
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].doubt, Doubt::kMarkedDone);
}

TYPED_TEST(StoreContract, ACancelledStepStillRunningIsNotRetriedUntilItEnds) {
  auto store = this->open();
  ASSERT_TRUE(route_one(*store, "e1").ok());
  auto mine = store->claim_due({"host-a", now_ms() + 10, 10, 60000});
  ASSERT_EQ(mine.size(), 1u);
  auto command = [&](std::vector<ExecutionState> from, ExecutionState to) {
    ExecutionCommand c;
    c.id = mine[0].id;
    c.from = std::move(from);
    c.to = to;
    c.due_at_ms = now_ms();
    c.history_entry_json = R"({"admin":"test"})";
    std::promise<StoreStatus> got;
    Transitions(*store).command(c, [&](StoreStatus st, std::vector<int64_t>) { got.set_value(st); });
    return got.get_future().get();
  };
  ASSERT_TRUE(command({ExecutionState::kReady}, ExecutionState::kCancelled).ok());
  // Never due, whatever time the command named: only the running step's lease is left.
  EXPECT_FALSE(store->execution(mine[0].id)->due_at_ms.has_value());
  // Its send is still in flight: a retry now could send it twice.
  EXPECT_EQ(command({ExecutionState::kCancelled}, ExecutionState::kReady).code, StoreErrc::kConflict);
  ExecutionUpdate late = ExecutionUpdate::to(mine[0].id, ExecutionState::kDone, "$end", 0, std::nullopt);
  late.lease_owner = "host-a";
  std::promise<StoreStatus> got;
  Transitions(*store).update(late, [&](StoreStatus st) { got.set_value(st); });
  ASSERT_TRUE(got.get_future().get().ok());
  EXPECT_EQ(store->execution(mine[0].id)->state, ExecutionState::kCancelled);  // the result changes nothing
  EXPECT_TRUE(command({ExecutionState::kCancelled}, ExecutionState::kReady).ok());
}

TYPED_TEST(StoreContract, CommandsCompareTheStateAndSayWhyTheyWereRefused) {
  auto store = this->open();
  ASSERT_TRUE(route_one(*store, "e1").ok());
  const int64_t id = store->executions({}).front().id;
  auto command = [&](int64_t which, std::vector<ExecutionState> from, ExecutionState to) {
    ExecutionCommand c;
    c.id = which;
    c.from = std::move(from);
    c.to = to;
    c.history_entry_json = R"({"admin":"test"})";
    std::promise<StoreStatus> got;
    Transitions(*store).command(c, [&](StoreStatus st, std::vector<int64_t>) { got.set_value(st); });
    return got.get_future().get();
  };
  EXPECT_EQ(command(id + 100, {ExecutionState::kReady}, ExecutionState::kCancelled).code, StoreErrc::kNotFound);
  EXPECT_EQ(command(id, {ExecutionState::kFailed}, ExecutionState::kReady).code, StoreErrc::kConflict);
  EXPECT_TRUE(command(id, {ExecutionState::kReady}, ExecutionState::kCancelled).ok());
  EXPECT_EQ(store->execution(id)->state, ExecutionState::kCancelled);
}

StoreStatus write(const std::function<void(Store::WriteCallback)>& call) {
  std::promise<StoreStatus> got;
  call([&](StoreStatus s) { got.set_value(std::move(s)); });
  return got.get_future().get();
}

TYPED_TEST(StoreContract, NodesAreListedWithTheLeasesTheyHoldAndADeadOnesAreTakenOverUnlessItBeatAgain) {
  auto store = this->open();
  const NodeRecord a{"host-a-1-x", "machine-a", "10.0.0.1:8080", 1000, 1000};
  const NodeRecord b{"host-b-2-y", "machine-b", "10.0.0.2:8080", 2000, 2000};
  ASSERT_TRUE(write([&](auto done) { store->beat(a, done); }).ok());
  ASSERT_TRUE(write([&](auto done) { store->beat(b, done); }).ok());
  ASSERT_TRUE(route_one(*store, "e1").ok());
  ASSERT_EQ(store->claim_due({a.id, now_ms() + 10, 10, 60000}).size(), 1u);
  NodeRecord later = a;
  later.heartbeat_at_ms = 5000;
  ASSERT_TRUE(write([&](auto done) { store->beat(later, done); }).ok());
  auto nodes = store->nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].id, a.id);
  EXPECT_EQ(nodes[0].host, "machine-a");
  EXPECT_EQ(nodes[0].address, "10.0.0.1:8080");
  EXPECT_EQ(nodes[0].started_at_ms, 1000);
  EXPECT_EQ(nodes[0].heartbeat_at_ms, 5000);
  EXPECT_EQ(nodes[0].claims, 1);
  EXPECT_EQ(nodes[1].id, b.id);
  EXPECT_EQ(nodes[1].claims, 0);
  // Seen dead with its first heartbeat, a has beaten since: it keeps its lease.
  EXPECT_EQ(write([&](auto done) { store->end_leases(a.id, now_ms(), 1000, done); }).code, StoreErrc::kConflict);
  EXPECT_EQ(store->nodes().size(), 2u);
  EXPECT_TRUE(store->claim_due({b.id, now_ms() + 10, 10, 60000}).empty());
  // a stopped beating: its lease ends now, and b takes the step over, which may have run.
  ASSERT_TRUE(write([&](auto done) { store->end_leases(a.id, now_ms(), 5000, done); }).ok());
  nodes = store->nodes();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].id, b.id);
  auto taken = store->claim_due({b.id, now_ms() + 10, 10, 60000});
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].lease_owner, b.id);
  EXPECT_EQ(taken[0].doubt, Doubt::kMayHaveRun);
  EXPECT_EQ(store->nodes()[0].claims, 1);
}

TYPED_TEST(StoreContract, EndingADeadNodesLeasesLeavesACancelledStepCancelled) {
  auto store = this->open();
  ASSERT_TRUE(route_one(*store, "e1").ok());
  const auto running = store->claim_due({"host-a", now_ms() + 10, 10, 60000});
  ASSERT_EQ(running.size(), 1u);
  // Cancelled while its step runs: the lease stays, with no due time.
  std::promise<StoreStatus> cancelled;
  Transitions(*store).command(
      {running[0].id, {ExecutionState::kReady}, ExecutionState::kCancelled, std::nullopt, R"({"admin":"x"})"},
      [&](StoreStatus s, std::vector<int64_t>) { cancelled.set_value(s); });
  ASSERT_TRUE(cancelled.get_future().get().ok());
  ASSERT_TRUE(write([&](auto done) { store->end_leases("host-a", now_ms(), std::nullopt, done); }).ok());
  EXPECT_TRUE(store->claim_due({"host-b", now_ms() + 10, 10, 60000}).empty()) << "a cancelled step ran again";
  EXPECT_EQ(store->execution(running[0].id)->state, ExecutionState::kCancelled);
  // Its step ran on the node that ended: nothing runs it now, and an
  // operator may retry it (the admin API no longer shows it running).
  EXPECT_EQ(store->execution(running[0].id)->lease_owner, "");
}

TYPED_TEST(StoreContract, ANamedHoldIsOneOwnersUntilItsTimeRunsOut) {
  auto store = this->open();
  EXPECT_TRUE(store->hold("time_triggers", "a", 100, 200));
  EXPECT_FALSE(store->hold("time_triggers", "b", 150, 250));  // a's until 200
  EXPECT_TRUE(store->hold("other", "b", 150, 250));           // holds are by name
  EXPECT_TRUE(store->hold("time_triggers", "a", 190, 300));   // a renews its own
  EXPECT_FALSE(store->hold("time_triggers", "b", 250, 350));
  EXPECT_TRUE(store->hold("time_triggers", "b", 301, 400));  // a's time ran out
  EXPECT_FALSE(store->hold("time_triggers", "a", 350, 450));
  // b stops: what it held is free at once.
  ASSERT_TRUE(write([&](auto done) { store->end_leases("b", 360, std::nullopt, done); }).ok());
  EXPECT_TRUE(store->hold("time_triggers", "a", 370, 470));
  EXPECT_TRUE(store->hold("other", "a", 370, 470));
}

TYPED_TEST(StoreContract, AStoreWrittenByANewerSwitchboardIsRefusedNamingBothVersions) {
  ASSERT_TRUE(append(*this->open(), {event("a")}).ok());
  this->set_schema_version(99);
  try {
    this->open();
    FAIL() << "a store of schema 99 was opened";
  } catch (const StoreError& e) {
    const std::string why = e.what();
    EXPECT_NE(why.find("schema version 99"), std::string::npos) << why;
    const size_t known = why.find("knows versions up to ");
    ASSERT_NE(known, std::string::npos) << why;
    // The binary's own version, a number below the store's.
    const int binary = std::atoi(why.c_str() + known + std::strlen("knows versions up to "));
    EXPECT_GE(binary, 1) << why;
    EXPECT_LT(binary, 99) << why;
  }
}

TYPED_TEST(StoreContract, RuleVersionsAndPluginStateAreKept) {
  {
    auto store = this->open();
    std::promise<StoreStatus> saved;
    store->save_rule_versions({{"greet", "v1", R"({"rule":{"name":"greet"}})"}},
                              [&](StoreStatus st) { saved.set_value(st); });
    ASSERT_TRUE(saved.get_future().get().ok());
    store->kv_put("sms", "token", "abc");
    store->kv_put("sms", "gone", "x");
    store->kv_remove("sms", "gone");
  }
  auto store = this->open();
  ASSERT_TRUE(store->rule_version("greet", "v1"));
  EXPECT_EQ(store->rule_version("greet", "v1")->source_json, R"({"rule":{"name":"greet"}})");
  EXPECT_FALSE(store->rule_version("greet", "v2"));
  EXPECT_EQ(store->kv_get("sms", "token"), "abc");
  EXPECT_EQ(store->kv_get("push", "token"), std::nullopt);  // namespaced by instance
  EXPECT_EQ(store->kv_get("sms", "gone"), std::nullopt);
}

TYPED_TEST(StoreContract, TheVersionsThatWaitingExecutionsRunAreListed) {
  auto store = this->open();
  std::promise<StoreStatus> saved;
  store->save_rule_versions({{"greet", "v1", "{}"}, {"greet", "v2", "{}"}, {"other", "v1", "{}"}},
                            [&](StoreStatus st) { saved.set_value(st); });
  ASSERT_TRUE(saved.get_future().get().ok());
  ASSERT_TRUE(transact(*store, [](ExecutionRows& rows) {
                ExecutionRow greet = new_row("e1");
                greet.rule = "greet";
                const ExecutionRow stored = *rows.find(rows.insert(greet));
                ExecutionRow waiting = stored;
                waiting.state = ExecutionState::kWaiting;
                waiting.awaiting = "lead.replied\ndata.lead=L1";
                ASSERT_TRUE(rows.compare_and_set(waiting, stored.state, stored.lease_owner));
                ExecutionRow other = new_row("e2");  // "other" v1 runs, but waits for no event
                other.rule = "other";
                rows.insert(other);
              }).ok());
  const auto awaited = store->awaited_rule_versions();
  ASSERT_EQ(awaited.size(), 1u);
  EXPECT_EQ(awaited[0].rule, "greet");
  EXPECT_EQ(awaited[0].version, "v1");
  std::vector<std::string> kept;
  for (const RuleVersion& v : store->rule_versions()) kept.push_back(v.rule + " " + v.version + " " + v.source_json);
  EXPECT_EQ(kept, (std::vector<std::string>{"greet v1 {}", "greet v2 {}", "other v1 {}"}));
  EXPECT_EQ(store->rule_version_names(),
            (std::vector<std::pair<std::string, std::string>>{{"greet", "v1"}, {"greet", "v2"}, {"other", "v1"}}));
}

// Retention: a chunk at a time, and never what is still in use.
TYPED_TEST(StoreContract, RetentionForgetsOldRoutedEventsOnly) {
  auto store = this->open();
  EventRecord fresh = event("fresh");
  fresh.received_at_ms = now_ms();
  ASSERT_TRUE(append(*store, {event("old-1"), event("old-2"), fresh}).ok());
  const auto events = store->events_after(0, 10);
  ASSERT_EQ(events.size(), 3u);
  const auto route_up_to = [&](int64_t seq) {
    RouteBatch b;
    b.from = store->routed_up_to();
    b.routed_up_to = seq;
    std::promise<StoreStatus> got;
    Transitions(*store).route(std::move(b), [&](StoreStatus s) { got.set_value(s); });
    return got.get_future().get();
  };
  ASSERT_TRUE(route_up_to(events[0].seq).ok());
  EXPECT_EQ(store->forget_events(3000, 10), 1u);  // old-2 is old, but not routed yet
  ASSERT_TRUE(route_up_to(events[2].seq).ok());
  EXPECT_EQ(store->forget_events(3000, 1), 1u);  // a chunk at a time
  EXPECT_EQ(store->forget_events(3000, 10), 0u);
  const auto left = store->events_after(0, 10);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].record.id, "fresh");
  // A forgotten id is new again.
  EXPECT_EQ(append(*store, {event("old-1")}).outcomes, std::vector<AppendOutcome>{AppendOutcome::kStored});
}

TYPED_TEST(StoreContract, RetentionForgetsEndedExecutionsAndTheirBranchesAfterThem) {
  auto store = this->open();
  const std::vector<ExecutionState> ended{ExecutionState::kDone, ExecutionState::kFailed, ExecutionState::kCancelled};
  std::map<std::string, int64_t> ids;
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) {
                const auto add = [&](const std::string& name, ExecutionState state, int64_t updated_at,
                                     const std::string& parent = "") {
                  ExecutionRow row = new_row(name, parent.empty() ? 0 : ids.at(parent));
                  row.state = state;
                  row.updated_at_ms = updated_at;
                  ids[name] = rows.insert(row);
                };
                add("done-old", ExecutionState::kDone, 1);
                add("waiting-old", ExecutionState::kWaiting, 1);
                add("done-new", ExecutionState::kDone, now_ms());
                add("branch-of-waiting", ExecutionState::kDone, 1, "waiting-old");
                add("failed-old", ExecutionState::kFailed, 1);
                add("branch-of-done", ExecutionState::kDone, 1, "done-old");
              }).ok());
  Store::ExecutionsLookedAt first = store->forget_executions(ended, 1000, 0, 3);
  EXPECT_EQ(first.looked_at, 3u);
  EXPECT_EQ(first.last_id, ids["done-new"]);
  EXPECT_EQ(first.last_created_at, 1);
  EXPECT_EQ(first.removed, 1u);  // done-old
  Store::ExecutionsLookedAt rest = store->forget_executions(ended, 1000, first.last_id, 10);
  EXPECT_EQ(rest.looked_at, 3u);
  EXPECT_EQ(rest.last_id, ids["branch-of-done"]);
  // failed-old, and branch-of-done once its parent is gone: in the same call or the next.
  EXPECT_EQ(rest.removed + store->forget_executions(ended, 1000, first.last_id, 10).removed, 2u);
  EXPECT_EQ(store->forget_executions(ended, 1000, ids["branch-of-done"], 10).looked_at, 0u);
  std::set<std::string> kept;
  for (const auto& name : {"done-old", "waiting-old", "done-new", "branch-of-waiting", "failed-old", "branch-of-done"})
    if (store->execution(ids[name])) kept.insert(name);
  EXPECT_EQ(kept, (std::set<std::string>{"waiting-old", "done-new", "branch-of-waiting"}));
}

TYPED_TEST(StoreContract, RetentionForgetsRuleVersionsNoExecutionRuns) {
  auto store = this->open();
  std::promise<StoreStatus> saved;
  store->save_rule_versions({{"r", "v0", "{}"}, {"r", "v1", "{}"}, {"r", "v2", "{}"}, {"s", "v1", "{}"}},
                            [&](StoreStatus s) { saved.set_value(s); });
  ASSERT_TRUE(saved.get_future().get().ok());
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) { rows.insert(new_row("e1")); }).ok());  // runs r v1
  EXPECT_EQ(store->forget_rule_versions({{"r", "v2"}, {"s", "v1"}}), 1u);
  EXPECT_EQ(store->rule_version_names(),
            (std::vector<std::pair<std::string, std::string>>{{"r", "v1"}, {"r", "v2"}, {"s", "v1"}}));
  EXPECT_EQ(store->forget_rule_versions({}), 2u);
  EXPECT_EQ(store->rule_version_names(), (std::vector<std::pair<std::string, std::string>>{{"r", "v1"}}));
}

TYPED_TEST(StoreContract, AReaderWalkingTheCursorSeesEveryAcknowledgedEventOnce) {
  auto store = this->open();
  constexpr int kThreads = 4, kPerThread = 50;
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::promise<AppendResult> got;
        store->append_events({event(std::to_string(t) + "-" + std::to_string(i))},
                             [&](AppendResult r) { got.set_value(std::move(r)); });
        if (got.get_future().get().ok()) ++acknowledged;
      }
    });
  // The router's walk and the priority lane's, while the writers write: no
  // event skipped, none twice.
  std::set<std::string> seen, heads_seen;
  int64_t position = 0, heads_position = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (static_cast<int>(std::min(seen.size(), heads_seen.size())) < kThreads * kPerThread &&
         std::chrono::steady_clock::now() < deadline) {
    for (const auto& e : store->events_after(position, 7)) {
      EXPECT_TRUE(seen.insert(e.record.id).second) << e.record.id << " seen twice";
      position = e.seq;
    }
    for (const auto& e : store->event_heads_after(heads_position, 5)) {
      EXPECT_TRUE(heads_seen.insert(e.record.id).second) << e.record.id << " seen twice by the heads";
      heads_position = e.seq;
    }
  }
  for (auto& w : writers) w.join();
  for (const auto& e : store->events_after(position, 1000)) seen.insert(e.record.id);
  for (const auto& e : store->event_heads_after(heads_position, 1000)) heads_seen.insert(e.record.id);
  EXPECT_EQ(acknowledged.load(), kThreads * kPerThread);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(heads_seen, seen);
}

TYPED_TEST(StoreContract, AUnitOfWorkCommitsAllOrNothing) {
  auto store = this->open();
  StoreStatus conflict = transact(*store, [](ExecutionRows& rows) {
    ASSERT_NE(rows.insert(new_row("e1")), 0);
    throw StoreError("someone else was first", StoreErrc::kConflict);
  });
  EXPECT_EQ(conflict.code, StoreErrc::kConflict);
  EXPECT_EQ(conflict.message, "someone else was first");
  StoreStatus broken = transact(*store, [](ExecutionRows& rows) {
    rows.insert(new_row("e2"));
    throw std::runtime_error("a bug in the unit");
  });
  EXPECT_EQ(broken.code, StoreErrc::kUnavailable);
  EXPECT_TRUE(store->executions({}).empty());
  EXPECT_TRUE(transact(*store, [](ExecutionRows& rows) { rows.insert(new_row("e3")); }).ok());
  EXPECT_EQ(store->executions({}).size(), 1u);
}

TYPED_TEST(StoreContract, UrgentWritesCommitAsTheOthersDo) {
  auto store = this->open();
  ASSERT_TRUE(append(*store, {event("a")}).ok());
  std::promise<AppendResult> urgent;
  store->append_events_urgent({event("b"), event("a")}, [&](AppendResult r) { urgent.set_value(std::move(r)); });
  const AppendResult stored = urgent.get_future().get();
  ASSERT_TRUE(stored.ok()) << stored.error;
  EXPECT_EQ(stored.outcomes, (std::vector<AppendOutcome>{AppendOutcome::kStored, AppendOutcome::kDuplicate}));
  const auto events = store->events_after(0, 10);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].record.id, "b");
  auto urgently = [&](Store::Work work) {
    std::promise<StoreStatus> done;
    store->transact_urgent(std::move(work), [&](StoreStatus s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  };
  EXPECT_TRUE(urgently([](ExecutionRows& rows) { EXPECT_NE(rows.insert(new_row("e1")), 0); }).ok());
  EXPECT_EQ(urgently([](ExecutionRows& rows) {
              rows.insert(new_row("e2"));
              throw StoreError("refused", StoreErrc::kConflict);
            }).code,
            StoreErrc::kConflict);
  const auto rows = store->executions({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event_id, "e1");
}

TYPED_TEST(StoreContract, HostStateReadInAUnitIsLockedAndWrittenWithIt) {
  auto store = this->open();
  auto other = this->open();  // another node on the same store
  ASSERT_TRUE(transact(*store, [](ExecutionRows& rows) {
                EXPECT_EQ(rows.kv_get("host:test", "k"), std::nullopt);
                rows.kv_put("host:test", "k", "1");
                EXPECT_EQ(rows.kv_get("host:test", "k"), "1");
              }).ok());
  EXPECT_EQ(store->kv_get("host:test", "k"), "1");  // the same state as the key-value calls'
  EXPECT_EQ(transact(*store,
                     [](ExecutionRows& rows) {
                       rows.kv_put("host:test", "k", "2");
                       throw StoreError("undone", StoreErrc::kConflict);
                     })
                .code,
            StoreErrc::kConflict);
  EXPECT_EQ(store->kv_get("host:test", "k"), "1");
  // Each node counts one more from what it read. The second reads after the
  // first did, before the first commits: it waits, and counts from its value;
  // whether the key was declared (locked before the unit ran) or not.
  auto count_one = [](ExecutionRows& rows) {
    const int n = std::stoi(rows.kv_get("host:test", "count").value_or("0"));
    return [&rows, n] { rows.kv_put("host:test", "count", std::to_string(n + 1)); };
  };
  std::promise<void> first_read;
  std::atomic<bool> told{false};
  auto first = std::async(std::launch::async, [&] {
    return transact(*store, [&](ExecutionRows& rows) {
      auto write = count_one(rows);
      if (!told.exchange(true)) first_read.set_value();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      write();
    });
  });
  first_read.get_future().wait();
  std::promise<StoreStatus> second;
  other->transact_on(
      {{}, {{"host:test", "count"}}}, [&](ExecutionRows& rows) { count_one(rows)(); },
      [&](StoreStatus s) { second.set_value(s); });
  EXPECT_TRUE(second.get_future().get().ok());
  EXPECT_TRUE(first.get().ok());
  EXPECT_EQ(store->kv_get("host:test", "count"), "2");
}

TYPED_TEST(StoreContract, RowsRoundTripAndCompareAndSetWritesOnlyWhatItExpects) {
  auto store = this->open();
  int64_t id = 0;
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) {
                id = rows.insert(new_row("e1"));
                EXPECT_EQ(rows.insert(new_row("e1")), 0);  // one row per (event, rule)
              }).ok());
  ASSERT_NE(id, 0);
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) {
                auto row = rows.find(id);
                ASSERT_TRUE(row);
                EXPECT_EQ(row->rule_version, "v1");
                EXPECT_EQ(row->context_json, R"({"a":1})");
                EXPECT_EQ(row->priority, kHighestPriority);
                EXPECT_EQ(row->due_at_ms, 5);
                ExecutionRow changed = *row;
                changed.state = ExecutionState::kWaiting;
                changed.step = "remind";
                changed.attempt = 2;
                changed.due_at_ms.reset();
                changed.history_json = R"([{"step":"a"}])";
                changed.error = "e";
                changed.awaiting = "message.read\nid=m1";
                changed.resume_step = "thanks";
                changed.lease_owner = "host-a";
                changed.doubt = Doubt::kMayHaveRun;
                changed.last_arrival = 7;
                changed.rule_version = "v2";  // an admin's retry on the rule's current version
                EXPECT_FALSE(rows.compare_and_set(changed, ExecutionState::kWaiting, ""));      // not in that state
                EXPECT_FALSE(rows.compare_and_set(changed, ExecutionState::kReady, "host-b"));  // not that lease
                EXPECT_TRUE(rows.compare_and_set(changed, ExecutionState::kReady, ""));
              }).ok());
  auto row = store->execution(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->state, ExecutionState::kWaiting);
  EXPECT_EQ(row->step, "remind");
  EXPECT_EQ(row->attempt, 2);
  EXPECT_FALSE(row->due_at_ms);
  EXPECT_EQ(row->history_json, R"([{"step":"a"}])");
  EXPECT_EQ(row->awaiting, "message.read\nid=m1");
  EXPECT_EQ(row->resume_step, "thanks");
  EXPECT_EQ(row->lease_owner, "host-a");
  EXPECT_EQ(row->doubt, Doubt::kMayHaveRun);
  EXPECT_EQ(row->last_arrival, 7);
  EXPECT_EQ(row->rule_version, "v2");
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) {
                EXPECT_EQ(rows.awaiting("message.read\nid=m1").size(), 1u);
                EXPECT_TRUE(rows.awaiting("message.read\nid=m2").empty());
                ExecutionRow released = *rows.find(id);
                released.lease_owner.clear();
                EXPECT_TRUE(rows.compare_and_set(released, ExecutionState::kWaiting, "host-a"));
              }).ok());
  EXPECT_EQ(store->execution(id)->lease_owner, "");
}

// Units committed in one group (they arrived while the writer was busy) see
// each other's writes, and a statement of the group's (reading a parent's
// branches, ending a node's leases) sees them too, and is seen; a unit that
// fails after writing leaves the others' writes.
TYPED_TEST(StoreContract, UnitsCommittedTogetherSeeEachOthersWritesAndOneFailingLeavesTheOthers) {
  auto store = this->open();
  int64_t parent = 0, branch = 0, other = 0;
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) {
                parent = rows.insert(new_row("e1"));
                ExecutionRow leased = new_row("e1#0.a", parent);
                leased.lease_owner = "host-a";
                branch = rows.insert(leased);
                other = rows.insert(new_row("e2"));
              }).ok());
  // Finds the row, checks it, changes it.
  auto change = [](ExecutionRows& rows, int64_t id, const std::function<void(ExecutionRow&)>& edit) {
    auto row = rows.find(id);
    if (!row) throw StoreError("not found", StoreErrc::kNotFound);
    ExecutionRow changed = *row;
    edit(changed);
    if (!rows.compare_and_set(changed, row->state, row->lease_owner))
      throw StoreError("changed meanwhile", StoreErrc::kConflict);
  };
  // The writer busy a while: what is submitted next makes one group.
  auto hold_writer = [&] {
    auto busy = std::make_shared<std::promise<void>>();
    auto once = std::make_shared<std::atomic<bool>>(false);
    store->transact(
        [busy, once](ExecutionRows&) {
          if (!once->exchange(true)) busy->set_value();
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
        },
        [](StoreStatus) {});
    busy->get_future().wait();
  };
  std::vector<std::promise<StoreStatus>> ended(8);
  auto unit = [&](size_t i, std::vector<int64_t> reads, Store::Work work) {
    store->transact_on({std::move(reads), {}}, std::move(work), [&ended, i](StoreStatus s) { ended[i].set_value(s); });
  };

  // Each unit writes what it saw: a wrong view is a wrong row, not an error
  // (an error would send the group through the savepoints' slower path).
  hold_writer();
  unit(0, {branch}, [&](ExecutionRows& rows) { change(rows, branch, [](ExecutionRow& r) { r.step += "a"; }); });
  unit(1, {branch, other}, [&](ExecutionRows& rows) {
    change(rows, other, [](ExecutionRow& r) { r.step = "x"; });
    change(rows, branch, [](ExecutionRow& r) { r.step += "b"; });
  });
  store->end_leases("host-a", 0, std::nullopt, [&ended](StoreStatus s) { ended[2].set_value(s); });  // due at 0 now
  unit(3, {branch}, [&](ExecutionRows& rows) {
    change(rows, branch, [](ExecutionRow& r) {
      r.step += "c";
      r.error = "due at " + (r.due_at_ms ? std::to_string(*r.due_at_ms) : "-");
      r.state = ExecutionState::kDone;
      r.lease_owner.clear();
    });
    std::string seen = "branches:";
    for (const ExecutionRow& b : rows.branches(parent)) seen += " " + std::string(state_name(b.state)) + "/" + b.step;
    change(rows, parent, [&](ExecutionRow& r) { r.step = seen; });
  });
  unit(4, {}, [&](ExecutionRows& rows) {
    const std::string seen = state_name(rows.find(branch)->state);
    change(rows, other, [&](ExecutionRow& r) { r.step += "/" + seen; });
  });
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(ended[i].get_future().get().message, "") << i;
  const auto b = store->execution(branch);
  EXPECT_EQ(b->step, "abc");
  EXPECT_EQ(b->error, "due at 0") << "the leases' end was not seen";
  EXPECT_EQ(b->state, ExecutionState::kDone);
  EXPECT_EQ(b->lease_owner, "");
  EXPECT_EQ(store->execution(parent)->step, "branches: done/abc");
  EXPECT_EQ(store->execution(other)->step, "x/done");

  hold_writer();
  unit(5, {other}, [&](ExecutionRows& rows) { change(rows, other, [](ExecutionRow& r) { r.step += "+y"; }); });
  unit(6, {other, parent}, [&](ExecutionRows& rows) {
    change(rows, parent, [](ExecutionRow& r) { r.step = "never"; });
    change(rows, other, [](ExecutionRow& r) { r.step = "never"; });
    throw StoreError("refused after writing", StoreErrc::kConflict);
  });
  unit(7, {other}, [&](ExecutionRows& rows) { change(rows, other, [](ExecutionRow& r) { r.step += "+z"; }); });
  EXPECT_EQ(ended[5].get_future().get().message, "");
  EXPECT_EQ(ended[6].get_future().get().message, "refused after writing");
  EXPECT_EQ(ended[7].get_future().get().message, "");
  EXPECT_EQ(store->execution(other)->step, "x/done+y+z");
  EXPECT_EQ(store->execution(parent)->step, "branches: done/abc");
}

TYPED_TEST(StoreContract, BranchesArrivalsAndTheRouterPositionAreFoundByTheirKeys) {
  auto store = this->open();
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) {
                const int64_t parent = rows.insert(new_row("e1"));
                rows.insert(new_row("e1#0.a", parent));
                rows.insert(new_row("e1#0.b", parent));
                rows.insert(new_row("e2"));
                auto branches = rows.branches(parent);
                ASSERT_EQ(branches.size(), 2u);
                EXPECT_EQ(branches[0].event_id, "e1#0.a");  // in the order they were started
                EXPECT_EQ(branches[1].parent_id, parent);
                EXPECT_EQ(branches[1].end_step, "join");
                const int64_t old = rows.keep_arrival("reply\nc=1", R"({"n":1})", 1000);
                const int64_t later = rows.keep_arrival("reply\nc=1", R"({"n":2})", 3000);
                EXPECT_LT(old, later);
                EXPECT_EQ(rows.arrival("reply\nc=1", 0, 0)->event_json, R"({"n":1})");
                EXPECT_EQ(rows.arrival("reply\nc=1", 2000, 0)->seq, later);  // not before `since`
                EXPECT_EQ(rows.arrival("reply\nc=1", 0, old)->at_ms, 3000);  // not one already taken
                EXPECT_FALSE(rows.arrival("reply\nc=1", 0, later));
                EXPECT_FALSE(rows.arrival("reply\nc=2", 0, 0));
                rows.forget_arrivals(2000);
                EXPECT_EQ(rows.arrival("reply\nc=1", 0, 0)->seq, later);
                rows.forget_arrivals(4000);  // none left: numbers are still never reused
                EXPECT_GT(rows.keep_arrival("reply\nc=1", "{}", 5000), later);
                EXPECT_TRUE(rows.fire_once("r", "deal", "D1"));
                EXPECT_FALSE(rows.fire_once("r", "deal", "D1"));
                EXPECT_TRUE(rows.fire_once("r", "deal", "D2"));
                EXPECT_TRUE(rows.move_router(0, 4));
                EXPECT_FALSE(rows.move_router(0, 5));
                EXPECT_TRUE(rows.move_router(4, 6));
              }).ok());
  EXPECT_EQ(store->routed_up_to(), 6);
}

// A contact's goals (a rule's "goal" events) are found by its key from a
// time, and go with the events retention forgets.
TYPED_TEST(StoreContract, GoalsReachedAreFoundByContactFromATimeAndForgottenWithEvents) {
  auto store = this->open();
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) {
                rows.keep_goal({"id:anna", "booking.created", 1000});
                rows.keep_goal({"id:anna", "deal.won", 3000, 12500.75});  // with what it was worth
                rows.keep_goal({"id:boris", "booking.created", 2000});
                rows.keep_goal({"id:vera", "booking.created", 5000});
              }).ok());
  const auto found = [&](std::vector<std::string> keys, int64_t since) {
    std::vector<std::string> out;
    for (const GoalReached& g : store->goals_reached(keys, since))
      out.push_back(g.contact_key + " " + g.type + " " + std::to_string(g.at_ms) +
                    (g.value ? " " + json(*g.value).dump() : ""));
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(found({"id:anna", "id:boris"}, 0),
            (std::vector<std::string>{"id:anna booking.created 1000", "id:anna deal.won 3000 12500.75",
                                      "id:boris booking.created 2000"}));
  EXPECT_EQ(found({"id:anna", "id:nobody"}, 2000), (std::vector<std::string>{"id:anna deal.won 3000 12500.75"}));
  EXPECT_TRUE(found({}, 0).empty());
  // Many contacts at once (more than a statement names on either backend).
  std::vector<std::string> many;
  for (int i = 0; i < 6000; ++i) many.push_back("id:c" + std::to_string(i));
  many.push_back("id:vera");
  EXPECT_EQ(found(many, 0), (std::vector<std::string>{"id:vera booking.created 5000"}));
  store->forget_events(2500, 100);
  EXPECT_EQ(found({"id:anna", "id:boris", "id:vera"}, 0),
            (std::vector<std::string>{"id:anna deal.won 3000 12500.75", "id:vera booking.created 5000"}));
}

// A store with one execution, and helpers to wait for events in it.
template <class Backend>
class AwaitingContract : public StoreContract<Backend> {
 protected:
  void SetUp() override {
    StoreContract<Backend>::SetUp();
    store = this->open();
    RouteBatch b;
    b.routed_up_to = 1;
    b.executions.push_back({"r", "e1", "{}", std::nullopt});
    ASSERT_EQ(route(std::move(b)), "");
    id = store->executions({}).front().id;
  }
  std::string route(RouteBatch b) {
    std::promise<std::string> done;
    Transitions(*store, retention_ms).route(std::move(b), [&](StoreStatus s) { done.set_value(s.message); });
    return done.get_future().get();
  }
  std::string arrive(const std::string& key, int64_t at, const std::string& event = R"({"data":{"status":"read"}})") {
    RouteBatch b;
    b.from = position;
    b.routed_up_to = ++position;
    b.arrivals.push_back({key, event, at});
    return route(std::move(b));
  }
  // Waits at step 2 for `key`: the event leads to step 3, the timeout to step 7.
  std::string wait_for(const std::string& key, int64_t timeout_at) {
    ExecutionUpdate u;
    u.id = id;
    u.state = ExecutionState::kWaiting;
    u.step = "remind";
    u.due_at_ms = timeout_at;
    u.history_entry_json = R"({"step":"Read?","outcome":"waiting for event"})";
    u.awaiting = key;
    u.resume_step = "thanks";
    std::promise<std::string> got;
    Transitions(*store).update(std::move(u), [&](StoreStatus s) { got.set_value(s.message); });
    return got.get_future().get();
  }
  std::unique_ptr<Store> store;
  int64_t id = 0;
  int64_t position = 1;
  int64_t retention_ms = 3600 * 1000;  // how long arrivals are kept
};
TYPED_TEST_SUITE(AwaitingContract, Backends);

TYPED_TEST(AwaitingContract, AnArrivalResumesTheWaitingExecutionAtItsNextStep) {
  ASSERT_EQ(this->wait_for("message.read\nid=m1", now_ms() + 3600 * 1000), "");
  EXPECT_EQ(this->store->execution(this->id)->awaiting, "message.read\nid=m1");
  ASSERT_EQ(this->arrive("message.read\nid=other", now_ms()), "");
  EXPECT_EQ(this->store->execution(this->id)->state, ExecutionState::kWaiting);
  ASSERT_EQ(this->arrive("message.read\nid=m1", now_ms()), "");
  auto row = this->store->execution(this->id);
  EXPECT_EQ(row->state, ExecutionState::kReady);
  EXPECT_EQ(row->step, "thanks");
  EXPECT_EQ(row->awaiting, "");
  ASSERT_TRUE(row->due_at_ms);
  EXPECT_LE(*row->due_at_ms, now_ms());
  const json last = json::parse(row->history_json).back();
  EXPECT_EQ(last["step"], "Read?");
  EXPECT_EQ(last["outcome"], "event arrived");
  EXPECT_EQ(last["event"]["data"]["status"], "read");
}

TYPED_TEST(AwaitingContract, AnEventThatArrivedJustBeforeTheWaitBeganStillCounts) {
  ASSERT_EQ(this->arrive("message.read\nid=m1", now_ms()), "");
  ASSERT_EQ(this->wait_for("message.read\nid=m1", now_ms() + 3600 * 1000), "");
  auto row = this->store->execution(this->id);
  EXPECT_EQ(row->state, ExecutionState::kReady);
  EXPECT_EQ(row->step, "thanks");
  EXPECT_EQ(json::parse(row->history_json).back()["outcome"], "event arrived");
}

TYPED_TEST(AwaitingContract, AnEventFromBeforeTheExecutionBeganDoesNotCount) {
  ASSERT_EQ(this->arrive("message.read\nid=m1", this->store->execution(this->id)->created_at_ms - 1), "");
  ASSERT_EQ(this->wait_for("message.read\nid=m1", now_ms() + 3600 * 1000), "");
  EXPECT_EQ(this->store->execution(this->id)->state, ExecutionState::kWaiting);
}

TYPED_TEST(AwaitingContract, OnceTheTimeoutIsDueAnArrivalChangesNothing) {
  // The scheduler may already be running the timeout's step.
  ASSERT_EQ(this->wait_for("message.read\nid=m1", now_ms() - 1), "");
  ASSERT_EQ(this->arrive("message.read\nid=m1", now_ms()), "");
  auto row = this->store->execution(this->id);
  EXPECT_EQ(row->state, ExecutionState::kWaiting);
  EXPECT_EQ(row->step, "remind");
  EXPECT_EQ(row->awaiting, "message.read\nid=m1");  // the scheduler sees the timeout
}

TYPED_TEST(AwaitingContract, ArrivalsAreForgottenAfterTheRetention) {
  this->retention_ms = 1000;
  ASSERT_EQ(this->arrive("message.read\nid=old", now_ms() - 5000), "");
  ASSERT_EQ(this->arrive("message.read\nid=new", now_ms()), "");  // an arrival prunes older ones
  ASSERT_EQ(this->wait_for("message.read\nid=old", now_ms() + 3600 * 1000), "");
  EXPECT_EQ(this->store->execution(this->id)->state, ExecutionState::kWaiting);
}

TEST_F(SqliteStoreTest, AStoreOfTheThirdSchemaNumbersNewArrivalsAboveEveryOneTaken) {
  {
    auto store = open();
    ASSERT_TRUE(route_one(*store, "e1").ok());
  }
  {
    // Version 3: arrivals numbered by rowid, the table emptied, an execution that took number 50.
    SqliteDatabase db(file_, true);
    db.execute(
        "DROP TABLE arrivals; CREATE TABLE arrivals (key TEXT NOT NULL, event TEXT NOT NULL, at INTEGER NOT NULL);"
        "UPDATE executions SET last_arrival = 50; PRAGMA user_version = 3;");
  }
  auto store = open();
  int64_t seq = 0;
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) { seq = rows.keep_arrival("k", "{}", 1); }).ok());
  EXPECT_GT(seq, 50);
}

// The tables of a store the version-1 binary made.
constexpr const char* kFirstSchemaTables =
    "CREATE TABLE executions (id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, event_id TEXT NOT NULL, "
    "state TEXT NOT NULL, step INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0, due_at INTEGER, "
    "context TEXT NOT NULL, history TEXT NOT NULL DEFAULT '[]', error TEXT NOT NULL DEFAULT '', "
    "created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE (event_id, rule));"
    "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, "
    "source TEXT NOT NULL, occurred_at INTEGER NOT NULL, received_at INTEGER NOT NULL, body TEXT NOT NULL, "
    "entity_type TEXT, entity_id TEXT, entity_created INTEGER, previous_status TEXT, status TEXT);";

TEST_F(SqliteStoreTest, OpensAStoreOfTheFirstSchemaAndUpgradesIt) {
  {
    SqliteDatabase db(file_, true);
    db.execute(
        std::string(kFirstSchemaTables) +
        "INSERT INTO events (id, type, source, occurred_at, received_at, body) VALUES ('e1', 'a.b', 'api', 1, 1, '{}');"
        "INSERT INTO executions (rule, event_id, state, due_at, context, created_at, updated_at) "
        "VALUES ('r', 'e1', 'waiting', 5, '{}', 1, 1);"
        "PRAGMA user_version = 1;");
  }
  auto store = open();
  auto rows = store->executions({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].rule, "r");
  EXPECT_EQ(rows[0].awaiting, "");
  auto events = store->events_after(0, 10);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].record.chain_depth, 0);
  EXPECT_EQ(rows[0].rule_version, "");  // its step is a flattened index
  // A new execution in the upgraded file starts at the first step (""), not at the old column's default.
  ASSERT_TRUE(route_one(*store, "e2").ok());
  EXPECT_EQ(store->executions({std::nullopt, "r", "e2", 1}).at(0).step, "");
}

TEST_F(SqliteStoreTest, AStoreOfTheFirstSchemaKeepsStepNamesThatLookLikeNumbers) {
  {
    // Version 1: step an INTEGER column, executions 1 and 2 given, 2 deleted since.
    SqliteDatabase db(file_, true);
    db.execute(std::string(kFirstSchemaTables) +
               "INSERT INTO executions (rule, event_id, state, step, due_at, context, created_at, updated_at) "
               "VALUES ('r', 'e1', 'waiting', 3, 5, '{}', 1, 1), ('r', 'e2', 'done', 0, NULL, '{}', 1, 1);"
               "DELETE FROM executions WHERE id = 2;"
               "PRAGMA user_version = 1;");
  }
  auto store = open();
  auto old = store->execution(1);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->step, "3");  // a flattened index, as version 1 wrote it
  EXPECT_EQ(old->state, ExecutionState::kWaiting);
  EXPECT_EQ(old->due_at_ms, 5);

  ExecutionRow numeric = new_row("e3", 1);
  numeric.step = "01";
  numeric.resume_step = "1.0";
  numeric.end_step = "1e3";
  int64_t id = 0;
  ASSERT_TRUE(transact(*store, [&](ExecutionRows& rows) { id = rows.insert(numeric); }).ok());
  EXPECT_GT(id, 2);  // the deleted execution's id is not given again
  auto row = store->execution(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->step, "01");
  EXPECT_EQ(row->resume_step, "1.0");
  EXPECT_EQ(row->end_step, "1e3");
  EXPECT_EQ(store->next_due_ms(), 5);
  store.reset();
  // The table made again has every index of the current schema.
  SqliteDatabase db(file_, true);
  SqliteStatement indexes(db.handle(),
                          "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions' "
                          "AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name");
  std::vector<std::string> names;
  while (indexes.step()) names.push_back(indexes.text(0));
  EXPECT_EQ(names, (std::vector<std::string>{"executions_awaiting", "executions_contact", "executions_due",
                                             "executions_leased", "executions_open", "executions_parent"}));
  SqliteStatement old_table(db.handle(), "SELECT count(*) FROM sqlite_master WHERE name = 'executions_v7'");
  ASSERT_TRUE(old_table.step());
  EXPECT_EQ(old_table.integer(0), 0);
}

TYPED_TEST(AwaitingContract, AnArrivalResumesOneWaitOnly) {
  // The same awaited key twice in one execution: the first wait's event
  // does not end the second.
  ASSERT_EQ(this->wait_for("reply\ncontact=c1", now_ms() + 3600 * 1000), "");
  ASSERT_EQ(this->arrive("reply\ncontact=c1", now_ms()), "");
  ASSERT_EQ(this->store->execution(this->id)->state, ExecutionState::kReady);
  ASSERT_EQ(this->wait_for("reply\ncontact=c1", now_ms() + 3600 * 1000), "");
  EXPECT_EQ(this->store->execution(this->id)->state, ExecutionState::kWaiting);
  ASSERT_EQ(this->arrive("reply\ncontact=c1", now_ms()), "");
  EXPECT_EQ(this->store->execution(this->id)->state, ExecutionState::kReady);
}

TYPED_TEST(AwaitingContract, CancellingAParallelGroupCancelsItsBranches) {
  ExecutionUpdate group = ExecutionUpdate::to(this->id, ExecutionState::kWaiting, "after", 0, std::nullopt,
                                              R"({"step":"together","outcome":"branches started"})");
  group.branches = {{"0.0", "a", "0#end"}, {"0.1", "b", "0#end"}};
  std::promise<std::string> updated;
  Transitions(*this->store).update(group, [&](StoreStatus s) { updated.set_value(s.message); });
  ASSERT_EQ(updated.get_future().get(), "");
  auto rows = this->store->executions({});
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& r : rows)
    if (r.id != this->id) {
      EXPECT_EQ(json::parse(r.history_json).back()["outcome"], "branches started");  // the parent's past
    }
  // The command names what it cancelled, branches too: the calls in flight
  // of each are given up.
  std::promise<std::pair<std::string, std::vector<int64_t>>> cancelled;
  Transitions(*this->store)
      .command({this->id,
                {ExecutionState::kWaiting},
                ExecutionState::kCancelled,
                std::nullopt,
                R"({"outcome":"cancelled"})"},
               [&](StoreStatus s, std::vector<int64_t> ids) {
                 cancelled.set_value({s.message, std::move(ids)});
               });
  auto [error, ids] = cancelled.get_future().get();
  ASSERT_EQ(error, "");
  std::vector<int64_t> all;
  for (const auto& r : this->store->executions({})) {
    EXPECT_EQ(r.state, ExecutionState::kCancelled) << r.event_id;
    all.push_back(r.id);
  }
  std::sort(ids.begin(), ids.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(ids, all);
}

TYPED_TEST(AwaitingContract, ABranchCancelledWithItsParentWhileItsStepRunsIsNotRetriedUntilTheStepEnds) {
  ExecutionUpdate group = ExecutionUpdate::to(this->id, ExecutionState::kWaiting, "after", 0, std::nullopt);
  group.branches = {{"0.0", "a", "0#end"}};
  std::promise<std::string> updated;
  Transitions(*this->store).update(group, [&](StoreStatus s) { updated.set_value(s.message); });
  ASSERT_EQ(updated.get_future().get(), "");
  auto running = this->store->claim_due({"host-a", now_ms() + 10, 10, 60000});  // the branch's step starts
  ASSERT_EQ(running.size(), 1u);
  auto command = [&](int64_t id, std::vector<ExecutionState> from, ExecutionState to) {
    std::promise<StoreStatus> done;
    Transitions(*this->store)
        .command({id, std::move(from), to, now_ms(), R"({"admin":"x"})"},
                 [&](StoreStatus s, std::vector<int64_t>) { done.set_value(s); });
    return done.get_future().get();
  };
  ASSERT_TRUE(command(this->id, {ExecutionState::kWaiting}, ExecutionState::kCancelled).ok());
  EXPECT_EQ(this->store->execution(running[0].id)->state, ExecutionState::kCancelled);
  EXPECT_EQ(this->store->execution(running[0].id)->lease_owner, "host-a");
  // Retrying the branch now would run its step twice at once.
  EXPECT_EQ(command(running[0].id, {ExecutionState::kCancelled}, ExecutionState::kReady).code, StoreErrc::kConflict);
}

// PostgreSQL only: several hosts share it, and wake each other: for events
// (the router), and for executions due that no one holds (every host).
TEST(PostgresStoreTest, AnotherHostsCommitWakesThisOneForWhatItCommitted) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  const std::string schema = pg->fresh_schema("wakes");
  PostgresStore one({pg->conninfo(schema)});
  PostgresStore two({pg->conninfo(schema)});
  std::mutex mutex;
  std::condition_variable changed;
  int events = 0, work = 0;
  two.on_changes([&](Store::Change change) {
    std::lock_guard lock(mutex);
    ++(change == Store::Change::kEvents ? events : work);
    changed.notify_all();
  });
  auto wait_for = [&](int n_events, int n_work, std::chrono::milliseconds at_most = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, at_most, [&] { return events >= n_events && work >= n_work; });
  };
  ASSERT_TRUE(wait_for(1, 1));  // listening: it looks once for what came before
  ASSERT_TRUE(append(one, {event("from-one")}).ok());
  EXPECT_TRUE(wait_for(2, 1)) << "no wake after another host's events";
  ASSERT_TRUE(route_one(one, "from-one").ok());
  EXPECT_TRUE(wait_for(2, 2)) << "no wake after another host made an execution due";
  // Its step ends, and the execution with it: nothing for anyone to do.
  const auto claimed = one.claim_due({"host-one", now_ms() + 10, 10, 60000});
  ASSERT_EQ(claimed.size(), 1u);
  ExecutionUpdate done = ExecutionUpdate::to(claimed[0].id, ExecutionState::kDone, "", 0, std::nullopt);
  done.lease_owner = "host-one";
  std::promise<StoreStatus> ended;
  Transitions(one).update(done, [&](StoreStatus s) { ended.set_value(s); });
  ASSERT_TRUE(ended.get_future().get().ok());
  EXPECT_FALSE(wait_for(2, 3, std::chrono::milliseconds(300))) << "a step's end with nothing after it woke a host";
  std::lock_guard lock(mutex);
  EXPECT_EQ(events, 2);
}

// An operator's cancel on one host reaches the others, whatever the number
// of executions it names (a notification carries 8,000 bytes at most); the
// host that announced it is not told again.
TEST(PostgresStoreTest, ACancelAnnouncedByOneHostReachesTheOthers) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  const std::string schema = pg->fresh_schema("cancels");
  std::mutex mutex;  // before the stores: their listeners use them until the stores go
  std::condition_variable changed;
  std::vector<int64_t> heard_by_one, heard_by_two;
  int listening = 0;
  PostgresStore one({pg->conninfo(schema)});
  PostgresStore two({pg->conninfo(schema)});
  const auto hear = [&](std::vector<int64_t>& heard) {
    return [&](const std::vector<int64_t>& ids) {
      std::lock_guard lock(mutex);
      heard.insert(heard.end(), ids.begin(), ids.end());
      changed.notify_all();
    };
  };
  one.on_cancelled(hear(heard_by_one));
  two.on_cancelled(hear(heard_by_two));
  const auto listen = [&](Store::Change change) {
    std::lock_guard lock(mutex);
    if (change == Store::Change::kEvents) ++listening;  // its first look, once it listens
    changed.notify_all();
  };
  one.on_changes(listen);
  two.on_changes(listen);
  std::unique_lock lock(mutex);
  ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(5), [&] { return listening >= 2; }));
  lock.unlock();
  std::vector<int64_t> ids;
  for (int64_t id = 1'000'000'000; id < 1'000'002'000; ++id) ids.push_back(id);  // about 22,000 bytes of ids
  one.announce_cancelled(ids);
  one.flush();
  lock.lock();
  EXPECT_TRUE(changed.wait_for(lock, std::chrono::seconds(5), [&] { return heard_by_two.size() >= ids.size(); }));
  EXPECT_EQ(heard_by_two, ids);
  lock.unlock();
  // Heard after one's own: had one heard itself, it would have by now.
  two.announce_cancelled({7});
  two.flush();
  lock.lock();
  EXPECT_TRUE(changed.wait_for(lock, std::chrono::seconds(5), [&] { return !heard_by_one.empty(); }));
  EXPECT_EQ(heard_by_one, std::vector<int64_t>{7});
  lock.unlock();
  one.on_cancelled({});
  two.on_cancelled({});
  one.on_changes({});
  two.on_changes({});
}

// libpq quotes what it cannot parse, which may be the password: the error
// says what is wrong without it. No server is needed to see it.
TEST(PostgresStoreTest, AMalformedConnectionStringIsRefusedWithoutItsPassword) {
  for (const std::string conninfo : {"postgresql://app:pa%zzss-secret@db.example/sb", "host=db password"}) {
    try {
      PgConnection connection(conninfo);
      ADD_FAILURE() << "connected with " << conninfo;
    } catch (const StoreError& e) {
      EXPECT_EQ(e.code(), StoreErrc::kInvalid);
      EXPECT_NE(std::string(e.what()).find("connection string is not valid"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("password"), std::string::npos) << e.what();
    }
  }
}

// Hosts append at once (no lock held to the commit): an event's position
// is its transaction's, and the router reads only up to the oldest
// transaction of the database still open, so that an event committed late
// with an earlier position is never passed.
TEST(PostgresStoreTest, EventsCommittedAfterAnOlderOpenTransactionWaitForIt) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  // What is routed once nothing holds it back: a transaction of the tests
  // beside this one may, for a moment, as the router's rechecks allow.
  const auto settled_ids = [](PostgresStore& store, size_t expected) {
    std::vector<std::string> ids;
    for (int attempt = 0; attempt < 100 && ids.size() != expected; ++attempt) {
      if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ids.clear();
      for (const StoredEvent& e : store.events_after(0, 10)) ids.push_back(e.record.id);
    }
    return ids;
  };
  const std::string schema = pg->fresh_schema("horizon");
  PostgresStore store({pg->conninfo(schema)});
  ASSERT_TRUE(append(store, {event("before")}).ok());
  ASSERT_EQ(store.events_after(0, 10).size(), 1u);
  // Another host's append, begun first (its transaction has the older id), commits last.
  PgConnection slow(pg->conninfo(schema));
  slow.execute("BEGIN");
  slow.run("SELECT pg_current_xact_id()");
  ASSERT_TRUE(append(store, {event("fast")}).ok());
  EXPECT_EQ(store.events_after(store.events_after(0, 10).back().seq, 10).size(), 0u)
      << "an event was returned while an older transaction could still commit one before it";
  slow.run(
      "INSERT INTO events (seq, id, type, source, occurred_at, received_at, body) "
      "VALUES ((pg_current_xact_id()::text::bigint << 22) + 1, 'slow', 'lead.created', 'api', 1, 2, '{}')");
  slow.execute("COMMIT");
  EXPECT_EQ(settled_ids(store, 3), (std::vector<std::string>{"before", "slow", "fast"}));

  // A transaction of another database on the server holds nothing back.
  const std::string other = "other_" + std::to_string(::getpid());
  pg->execute("CREATE DATABASE " + other, "postgres");
  {
    PgConnection elsewhere(pg->conninfo("", other));
    elsewhere.execute("BEGIN");
    elsewhere.run("SELECT pg_current_xact_id()");
    ASSERT_TRUE(append(store, {event("after")}).ok());
    EXPECT_EQ(settled_ids(store, 4).size(), 4u);
    elsewhere.execute("ROLLBACK");
  }
  pg->execute("DROP DATABASE " + other + " WITH (FORCE)", "postgres");
}

// Transactions of another database that end while a read runs (between
// its snapshot and its look at pg_stat_activity) hold nothing back either:
// the read that saw them open reads again without those that have ended.
TEST(PostgresStoreTest, ShortTransactionsOfAnotherDatabaseHoldNothingBack) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  const std::string schema = pg->fresh_schema("short_elsewhere");
  PostgresStore store({pg->conninfo(schema)});
  ASSERT_TRUE(append(store, {event("a"), event("b")}).ok());
  const std::string other = "busy_" + std::to_string(::getpid());
  pg->execute("CREATE DATABASE " + other, "postgres");
  {
    std::atomic<bool> stop{false};
    std::vector<std::thread> busy;
    for (int t = 0; t < 4; ++t)
      busy.emplace_back([&] {
        PgConnection elsewhere(pg->conninfo("", other));
        while (!stop) {
          elsewhere.execute("BEGIN");
          elsewhere.run("SELECT pg_current_xact_id()");
          elsewhere.execute("COMMIT");
        }
      });
    int short_reads = 0;
    for (int i = 0; i < 2000; ++i)
      if (store.events_after(0, 10).size() != 2u) ++short_reads;
    stop = true;
    for (auto& t : busy) t.join();
    EXPECT_EQ(short_reads, 0) << "reads held back by transactions of another database";
  }
  pg->execute("DROP DATABASE " + other + " WITH (FORCE)", "postgres");
}

// A listening host is told to look again while its events are held back,
// and so finds them once the transaction that held them back ends, though
// that transaction appended nothing (and so notified no one).
TEST(PostgresStoreTest, EventsHeldBackAreAnnouncedUntilTheTransactionEnds) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  const std::string schema = pg->fresh_schema("announced");
  PostgresStore store({pg->conninfo(schema)});
  std::mutex mutex;
  std::condition_variable changed;
  int told = 0;
  store.on_changes([&](Store::Change change) {
    std::lock_guard lock(mutex);
    if (change == Store::Change::kEvents) ++told;
    changed.notify_all();
  });
  // Waits for the next "events" after the `seen`th.
  auto told_again = [&](int& seen) {
    std::unique_lock lock(mutex);
    const bool again = changed.wait_for(lock, std::chrono::seconds(10), [&] { return told > seen; });
    seen = told;
    return again;
  };
  int seen = 0;
  ASSERT_TRUE(told_again(seen));  // listening: it looks once for what came before
  PgConnection other(pg->conninfo(schema));
  other.execute("BEGIN");
  other.run("SELECT pg_current_xact_id()");
  ASSERT_TRUE(append(store, {event("held")}).ok());
  // As the router does: read on every "events"; held back, the events are announced again.
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(store.events_after(0, 10).empty());
    ASSERT_TRUE(told_again(seen)) << "events held back were not announced again (round " << round << ")";
  }
  other.execute("COMMIT");
  bool found = false;
  for (int round = 0; round < 20 && !found; ++round) {
    found = store.events_after(0, 10).size() == 1;
    if (!found) {
      ASSERT_TRUE(told_again(seen)) << "not announced after the transaction ended";
    }
  }
  EXPECT_TRUE(found);
}

// Held back for over a second (a transaction left open), events are
// announced again every 250 ms instead of every few: a router that reads on
// each announcement does not spin; the event is still found soon after the
// transaction ends.
TEST(PostgresStoreTest, EventsHeldBackLongAreAnnouncedSeldomUntilTheTransactionEnds) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  const std::string schema = pg->fresh_schema("announced_long");
  std::mutex mutex;
  std::condition_variable changed;
  int told = 0;
  PostgresStore store({pg->conninfo(schema)});
  store.on_changes([&](Store::Change change) {
    std::lock_guard lock(mutex);
    if (change == Store::Change::kEvents) ++told;
    changed.notify_all();
  });
  const auto told_again = [&](int& seen, std::chrono::milliseconds within) {
    std::unique_lock lock(mutex);
    const bool again = changed.wait_for(lock, within, [&] { return told > seen; });
    seen = told;
    return again;
  };
  int seen = 0;
  ASSERT_TRUE(told_again(seen, std::chrono::seconds(10)));  // listening
  PgConnection other(pg->conninfo(schema));
  other.execute("BEGIN");
  other.run("SELECT pg_current_xact_id()");
  ASSERT_TRUE(append(store, {event("held")}).ok());
  // As the router does: read on every "events", for more than a second.
  const auto held_since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - held_since < std::chrono::milliseconds(1300)) {
    ASSERT_TRUE(store.events_after(0, 10).empty());
    told_again(seen, std::chrono::seconds(1));
  }
  // Now counted over a second: a few, not a hundred.
  const int before = seen;
  const auto counting = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - counting < std::chrono::seconds(1)) {
    ASSERT_TRUE(store.events_after(0, 10).empty());
    told_again(seen, std::chrono::milliseconds(100));
  }
  EXPECT_GE(seen - before, 1) << "held back long, the events were no longer announced";
  EXPECT_LE(seen - before, 10) << "held back long, the events were announced as often as at first";
  other.execute("COMMIT");
  bool found = false;
  for (int round = 0; round < 20 && !found; ++round) {
    found = store.events_after(0, 10).size() == 1;
    if (!found) {
      ASSERT_TRUE(told_again(seen, std::chrono::seconds(2))) << "not announced after the transaction ended";
    }
  }
  EXPECT_TRUE(found);
  store.on_changes({});
}

// Holds a store's writer in a write of its own until release(), so that
// the writes queued meanwhile go in one group.
class HeldWriter {
 public:
  explicit HeldWriter(Store& store) {
    store.transact(
        [this](ExecutionRows&) {
          started_.set_value();
          released_.get_future().wait();
        },
        [this](StoreStatus s) { done_.set_value(std::move(s)); });
    started_.get_future().wait();
  }
  // Lets it go, and returns once its write committed.
  StoreStatus release() {
    released_.set_value();
    return done_.get_future().get();
  }

 private:
  std::promise<void> started_, released_;
  std::promise<StoreStatus> done_;
};

// Related events are routed in the order they were stored, whichever host
// stored them: a group that also writes executions takes its appends' locks
// before its first write, so that its events' position (its transaction id)
// is later than that of the appends it waited for.
TEST(PostgresStoreTest, AnAppendThatWaitedForAnotherIsRoutedAfterIt) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  const std::string schema = pg->fresh_schema("waited");
  PostgresStore store({pg->conninfo(schema)});
  // Another host is storing an event about lead D: it holds D's key lock
  // (PostgresStore.cpp: kKeyLocks, the key's hashtext).
  PgConnection other(pg->conninfo(schema));
  other.execute("BEGIN");
  other.run("SELECT pg_advisory_xact_lock_shared(" + std::to_string(0x5357'4244'4c4f'4701LL) +
            "), pg_advisory_xact_lock(" + std::to_string(0x5342'4b59) + ", hashtext(E'lead\\nD'))");
  // This host's next group: a step's result and an event about D.
  HeldWriter writer(store);
  std::promise<StoreStatus> unit_done;
  store.transact([](ExecutionRows& rows) { rows.insert(new_row("step")); },
                 [&](StoreStatus st) { unit_done.set_value(st); });
  EventRecord won = event("won", "lead.status_changed");
  won.entity = EntityUpdate{"lead", "D", true, "won", "{}"};
  std::promise<AppendResult> appended;
  store.append_events({won}, [&](AppendResult r) { appended.set_value(std::move(r)); });
  ASSERT_TRUE(writer.release().ok());
  // The group waits for D's lock; the other host then stores its event and commits.
  PgConnection watch(pg->conninfo(schema));
  bool waiting = false;
  for (int i = 0; i < 500 && !waiting; ++i) {
    waiting = watch
                  .run(
                      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                      "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
                  .integer(0, 0) > 0;
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(waiting) << "the group never waited for the other host's lock";
  other.run(
      "INSERT INTO events (seq, id, type, source, occurred_at, received_at, body, entity_type, entity_id, status) "
      "VALUES ((pg_current_xact_id()::text::bigint << 22) + 1, 'qualified', 'lead.status_changed', 'api', 1, 2, "
      "'{}', 'lead', 'D', 'qualified')");
  other.execute("COMMIT");
  ASSERT_TRUE(unit_done.get_future().get().ok());
  ASSERT_TRUE(appended.get_future().get().ok());
  std::vector<std::string> order;
  for (const StoredEvent& e : store.events_after(0, 10)) order.push_back(e.record.id);
  EXPECT_EQ(order, (std::vector<std::string>{"qualified", "won", "won:created:lead"}));  // D was new to this store
}

// A group whose appends name many keys holds the log lock alone, and its
// other writes commit apart, first: each write still gets its own answer.
TEST(PostgresStoreTest, AGroupWithALargeAppendCommitsItsOtherWritesApart) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  const std::string schema = pg->fresh_schema("large");
  PostgresStore store({pg->conninfo(schema)});
  HeldWriter writer(store);
  std::promise<StoreStatus> unit_done, refused_done;
  store.transact([](ExecutionRows& rows) { rows.insert(new_row("step")); },
                 [&](StoreStatus st) { unit_done.set_value(st); });
  store.transact([](ExecutionRows&) { throw StoreError("this unit fails", StoreErrc::kConflict); },
                 [&](StoreStatus st) { refused_done.set_value(st); });
  std::vector<EventRecord> many;
  for (int i = 0; i < 300; ++i) many.push_back(event("many-" + std::to_string(i)));
  std::promise<AppendResult> appended;
  store.append_events(many, [&](AppendResult r) { appended.set_value(std::move(r)); });
  ASSERT_TRUE(writer.release().ok());
  EXPECT_TRUE(unit_done.get_future().get().ok());
  EXPECT_EQ(refused_done.get_future().get().code, StoreErrc::kConflict);
  const AppendResult r = appended.get_future().get();
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.outcomes.size(), 300u);
  EXPECT_EQ(store.events_after(0, 1000).size(), 300u);
  EXPECT_EQ(store.executions({}).size(), 1u);
}

// Three hosts append at once: the same contact from each, and the same
// event ids on each. A reader walking the cursor meanwhile sees every
// event once; no host's change to the contact is lost, and each id is
// stored once.
TEST(PostgresStoreTest, HostsAppendingAtOnceLoseNothingAndStoreEachIdOnce) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  const std::string schema = pg->fresh_schema("at-once");
  constexpr int kHosts = 3, kPerHost = 60;
  std::vector<std::unique_ptr<PostgresStore>> hosts;
  for (int h = 0; h < kHosts; ++h)
    hosts.push_back(std::make_unique<PostgresStore>(PostgresStore::Options{pg->conninfo(schema)}));
  PostgresStore reader({pg->conninfo(schema)});
  std::atomic<int> stored_shared{0}, failed{0};
  std::vector<std::thread> writers;
  for (int h = 0; h < kHosts; ++h)
    writers.emplace_back([&, h] {
      for (int i = 0; i < kPerHost; ++i) {
        EventRecord own = event("h" + std::to_string(h) + "-" + std::to_string(i), "contact.updated");
        own.contact = ContactUpdate{"id:shared", json{{"fields", {{own.id, i}}}}.dump(), {}, {}};
        const AppendResult r = append(*hosts[static_cast<size_t>(h)], {own, event("same-" + std::to_string(i))});
        if (!r.ok()) {
          ++failed;
          continue;
        }
        if (r.outcomes.at(1) == AppendOutcome::kStored) ++stored_shared;
      }
    });
  std::set<std::string> seen;
  int64_t position = 0;
  auto walk = [&] {
    for (const auto& e : reader.events_after(position, 7)) {
      EXPECT_TRUE(seen.insert(e.record.id).second) << e.record.id << " seen twice";
      EXPECT_GT(e.seq, position);
      position = e.seq;
    }
  };
  std::set<std::string> expected;
  for (int i = 0; i < kPerHost; ++i) {
    expected.insert("same-" + std::to_string(i));
    for (int h = 0; h < kHosts; ++h) expected.insert("h" + std::to_string(h) + "-" + std::to_string(i));
  }
  auto walked = [&] { return std::includes(seen.begin(), seen.end(), expected.begin(), expected.end()); };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!walked() && std::chrono::steady_clock::now() < deadline) walk();
  for (auto& w : writers) w.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_TRUE(walked()) << seen.size() << " events seen";
  EXPECT_EQ(stored_shared.load(), kPerHost) << "an id was stored by two hosts, or by none";
  const json fields = json::parse(reader.contact("id:shared")->data_json)["fields"];
  EXPECT_EQ(fields.size(), static_cast<size_t>(kHosts * kPerHost)) << "a host's change to the contact was lost";
}

// An append is acknowledged only once PostgreSQL has written its commit to
// the WAL: a server that crashes right after the acknowledgements keeps
// every acknowledged event. (An asynchronous commit, which would let the
// commit-order lock go sooner, loses the last ones here.)
TEST(PostgresStoreTest, EveryAcknowledgedAppendOutlivesACrashOfTheServer) {
  if (!test::PgCluster::shared()) GTEST_SKIP() << "no PostgreSQL server on this machine";
  test::PgCluster own(test::make_temp_dir("sb_pg_crash"));
  ASSERT_TRUE(own.start());
  std::set<std::string> acknowledged;
  {
    PostgresStore store({own.conninfo()});
    for (int i = 0; i < 40; ++i) {
      const std::string id = "crash-" + std::to_string(i);
      if (append(store, {event(id)}).ok()) acknowledged.insert(id);
    }
    ASSERT_EQ(acknowledged.size(), 40u);
    ASSERT_TRUE(own.crash());
  }
  ASSERT_TRUE(own.start());
  PostgresStore after({own.conninfo()});
  std::set<std::string> kept;
  for (const StoredEvent& e : after.events_after(0, 1000)) kept.insert(e.record.id);
  EXPECT_EQ(kept, acknowledged);
}

// The store's round trips: statements sent at once run in order, each
// seeing the ones before it; a failure stops the rest and says where, and
// leaves the connection usable.
TEST(PostgresConnectionTest, StatementsSentAtOnceRunInOrderAndAFailureStopsTheRest) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  PgConnection db(pg->conninfo(pg->fresh_schema("pipeline")));
  db.execute("CREATE TABLE t (n integer PRIMARY KEY)");
  auto insert = [](int n) { return PgStatement{"INSERT INTO t (n) VALUES ($1)", PgParams().integer(n)}; };
  size_t succeeded = 0;
  auto results = db.run_all({{"BEGIN", {}}, insert(1), insert(2), {"SELECT count(*) FROM t", {}}}, &succeeded);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(succeeded, 4u);
  EXPECT_EQ(results[3].integer(0, 0), 2);
  db.run_all({{"COMMIT", {}}});

  try {
    db.run_all({{"BEGIN", {}}, insert(3), insert(1), insert(4), {"COMMIT", {}}}, &succeeded);
    FAIL() << "a duplicate key was taken";
  } catch (const PgError& e) {
    EXPECT_EQ(succeeded, 2u);  // BEGIN and 3; 1 failed, 4 and COMMIT did not run
    EXPECT_FALSE(e.retry());
    EXPECT_NE(std::string(e.what()).find("duplicate key"), std::string::npos) << e.what();
  }
  db.execute("ROLLBACK");
  EXPECT_EQ(db.run("SELECT count(*) FROM t WHERE n IN (1, 2, 3, 4)", PgParams()).integer(0, 0), 2);
  EXPECT_EQ(db.run("SELECT count(*) FROM t WHERE n = $1", PgParams().integer(4)).integer(0, 0), 0);
}

// Two branches of one parallel group end at the same moment on two hosts:
// the second to commit sees the first ended, and the parent goes on once.
TEST(PostgresStoreTest, TwoBranchesEndingAtOnceOnTwoHostsJoinTheirParentOnce) {
  test::PgCluster* pg = test::PgCluster::shared();
  if (!pg) GTEST_SKIP() << "no PostgreSQL server on this machine";
  const std::string schema = pg->fresh_schema("joins");
  PostgresStore one({pg->conninfo(schema)});
  PostgresStore two({pg->conninfo(schema)});
  ASSERT_TRUE(route_one(one, "e1").ok());
  const int64_t parent = one.executions({}).front().id;
  ExecutionUpdate group = ExecutionUpdate::to(parent, ExecutionState::kWaiting, "after", 0, std::nullopt);
  group.branches = {{"0.0", "a", "0#end"}, {"0.1", "b", "0#end"}};
  std::promise<std::string> grouped;
  Transitions(one).update(group, [&](StoreStatus s) { grouped.set_value(s.message); });
  ASSERT_EQ(grouped.get_future().get(), "");
  const auto a = one.claim_due({"host-a", now_ms() + 10, 1, 60000});
  const auto b = two.claim_due({"host-b", now_ms() + 10, 1, 60000});
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  auto end_of = [](const ExecutionRow& branch, const std::string& owner) {
    ExecutionUpdate u = ExecutionUpdate::to(branch.id, ExecutionState::kDone, "0#end", 0, std::nullopt);
    u.lease_owner = owner;
    return u;
  };
  // Host a's end is written, and its transaction held open a while (a
  // slower write of the same group); host b's ends meanwhile.
  std::promise<void> blocking, sleeping;
  std::atomic<bool> blocked{false}, slept{false};
  one.transact(
      [&](ExecutionRows&) {
        if (!blocked.exchange(true)) blocking.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      },
      [](StoreStatus) {});
  blocking.get_future().wait();  // the writer is busy: the next two writes make one group
  std::promise<std::string> a_done, b_done;
  Transitions(one).update(end_of(a[0], "host-a"), [&](StoreStatus s) { a_done.set_value(s.message); });
  one.transact(
      [&](ExecutionRows&) {
        if (!slept.exchange(true)) sleeping.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      },
      [](StoreStatus) {});
  sleeping.get_future().wait();  // a's end is written, not committed
  Transitions(two).update(end_of(b[0], "host-b"), [&](StoreStatus s) { b_done.set_value(s.message); });
  ASSERT_EQ(a_done.get_future().get(), "");
  ASSERT_EQ(b_done.get_future().get(), "");
  const auto row = one.execution(parent);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->state, ExecutionState::kReady) << "the parent never joined";
  int joins = 0;
  for (const auto& entry : json::parse(row->history_json)) joins += entry.contains("branches");
  EXPECT_EQ(joins, 1) << row->history_json;
}

}  // namespace
}  // namespace sb
