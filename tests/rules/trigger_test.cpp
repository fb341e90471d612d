// Status triggers with the reference CRM's semantics (HolliHop, "lead
// auto-actions"): a rule bound to one status fires on every entry into it,
// creation included, with "no status" as a status; a rule bound to a range
// fires once per entity, on its first entry into the range.
#include "rules/Trigger.h"

#include <gtest/gtest.h>

#include <set>

namespace sb {
namespace {

using nlohmann::json;

const Pipelines kPipelines = {{"students", {"Первичный контакт", "Записан на пробное", "Учится", "Отказ"}}};

Trigger compile(const json& spec) {
  std::vector<ConditionProblem> problems;
  auto t = Trigger::compile(spec, kPipelines, problems);
  EXPECT_TRUE(problems.empty()) << spec.dump() << ": " << (problems.empty() ? "" : problems[0].message);
  return *t;
}

// One lead moved through statuses; counts how often each rule fires, keeping
// the "fired once for this entity" memory the router keeps in the store.
class Lead {
 public:
  explicit Lead(std::vector<std::pair<std::string, Trigger>> rules) : rules_(std::move(rules)) {}

  void create(std::optional<std::string> status) { apply(true, std::move(status)); }
  void move(std::optional<std::string> status) { apply(false, std::move(status)); }
  int fired(const std::string& rule) const { return fired_.count(rule) ? fired_.at(rule) : 0; }

 private:
  void apply(bool created, std::optional<std::string> status) {
    StatusChange change{"lead", "L1", created, current_, status};
    const std::string type = created ? "lead.created" : "lead.status_changed";
    for (const auto& [name, trigger] : rules_) {
      const auto fire = trigger.fires(type, "api", change);
      if (fire == Trigger::Fire::kYes || (fire == Trigger::Fire::kIfFirstForEntity && once_.insert(name).second))
        ++fired_[name];
    }
    current_ = std::move(status);
  }
  std::vector<std::pair<std::string, Trigger>> rules_;
  std::optional<std::string> current_;
  std::map<std::string, int> fired_;
  std::set<std::string> once_;
};

// Example 2 of the page: one task per status, for [none] -> A -> B.
TEST(StatusTrigger, EachSingleStatusRuleFiresOnEveryEntry) {
  Lead lead({{"none", compile({{"entity", "lead"}, {"status", nullptr}})},
             {"contact", compile({{"entity", "lead"}, {"status", "Первичный контакт"}})},
             {"trial", compile({{"entity", "lead"}, {"status", "Записан на пробное"}})}});
  lead.create(std::nullopt);
  lead.move("Первичный контакт");
  lead.move("Записан на пробное");
  EXPECT_EQ(lead.fired("none"), 1);
  EXPECT_EQ(lead.fired("contact"), 1);
  EXPECT_EQ(lead.fired("trial"), 1);
  // Back and forth: every entry fires again, in any order of the pipeline.
  lead.move("Первичный контакт");
  lead.move("Записан на пробное");
  EXPECT_EQ(lead.fired("contact"), 2);
  EXPECT_EQ(lead.fired("trial"), 2);
  // The same status sent again is not an entry.
  lead.move("Записан на пробное");
  EXPECT_EQ(lead.fired("trial"), 2);
}

// Example 1: creating the lead with the status is an entry too.
TEST(StatusTrigger, CreationWithTheStatusFires) {
  Lead lead({{"contact", compile({{"entity", "lead"}, {"status", "Первичный контакт"}})},
             {"none", compile({{"entity", "lead"}, {"status", nullptr}})}});
  lead.create("Первичный контакт");
  EXPECT_EQ(lead.fired("contact"), 1);
  EXPECT_EQ(lead.fired("none"), 0);
  lead.move("Учится");
  EXPECT_EQ(lead.fired("contact"), 1);
}

// SendPulse's condition "from which status to which": a transition fires on
// an entry into the status from that one only.
TEST(StatusTrigger, ATransitionFiresOnlyOnAnEntryFromItsPreviousStatus) {
  Lead lead(
      {{"trial after contact",
        compile({{"entity", "lead"}, {"status", "Записан на пробное"}, {"previous_status", "Первичный контакт"}})},
       {"created in contact",
        compile({{"entity", "lead"}, {"status", "Первичный контакт"}, {"previous_status", nullptr}})}});
  lead.create("Первичный контакт");
  EXPECT_EQ(lead.fired("created in contact"), 1);
  lead.move("Учится");
  lead.move("Записан на пробное");  // from Учится: not the transition
  EXPECT_EQ(lead.fired("trial after contact"), 0);
  lead.move("Первичный контакт");
  EXPECT_EQ(lead.fired("created in contact"), 1);  // from Записан на пробное, not from no status
  lead.move("Записан на пробное");
  EXPECT_EQ(lead.fired("trial after contact"), 1);
  lead.move("Записан на пробное");  // the same status again: no entry
  EXPECT_EQ(lead.fired("trial after contact"), 1);
}

// Example 3: the range [none]..Записан на пробное fires once per lead.
TEST(StatusTrigger, RangeFiresOnceWhateverTheOrderOfMoves) {
  const json range = {{"entity", "lead"}, {"pipeline", "students"}, {"from", nullptr}, {"to", "Записан на пробное"}};
  Lead created_without_status({{"range", compile(range)}});
  created_without_status.create(std::nullopt);
  created_without_status.move("Первичный контакт");
  created_without_status.move("Записан на пробное");
  created_without_status.move("Первичный контакт");
  EXPECT_EQ(created_without_status.fired("range"), 1);

  Lead created_in_range({{"range", compile(range)}});
  created_in_range.create("Первичный контакт");
  created_in_range.move("Записан на пробное");
  EXPECT_EQ(created_in_range.fired("range"), 1);

  Lead outside_first({{"range", compile(range)}});
  outside_first.create("Учится");
  EXPECT_EQ(outside_first.fired("range"), 0);
  outside_first.move("Записан на пробное");  // the first entry into the range
  outside_first.move("Первичный контакт");
  EXPECT_EQ(outside_first.fired("range"), 1);
}

// The page's way to bind a rule to one status: the same status as the
// range's start and end. It fires on every entry, as "status" does.
TEST(StatusTrigger, ARangeOfOneStatusFiresOnEveryEntryIntoIt) {
  Lead lead({{"one", compile({{"entity", "lead"}, {"pipeline", "students"}, {"from", "Учится"}, {"to", "Учится"}})},
             {"none", compile({{"entity", "lead"}, {"pipeline", "students"}, {"from", nullptr}, {"to", nullptr}})}});
  lead.create(std::nullopt);
  lead.move("Учится");
  lead.move("Отказ");
  lead.move("Учится");
  EXPECT_EQ(lead.fired("one"), 2);
  EXPECT_EQ(lead.fired("none"), 1);
  lead.move(std::nullopt);
  EXPECT_EQ(lead.fired("none"), 2);
}

TEST(StatusTrigger, OtherEntitiesTypesAndSourcesDoNotFire) {
  const Trigger t = compile({{"entity", "lead"}, {"status", "Учится"}, {"source", "api"}});
  EXPECT_EQ(t.fires("deal.status_changed", "api", StatusChange{"deal", "D1", false, std::nullopt, "Учится"}),
            Trigger::Fire::kNo);
  EXPECT_EQ(t.fires("lead.status_changed", "site", StatusChange{"lead", "L1", false, std::nullopt, "Учится"}),
            Trigger::Fire::kNo);
  EXPECT_EQ(t.fires("lead.field_changed", "api", std::nullopt), Trigger::Fire::kNo);
  const Trigger by_type = compile({{"event", "lead.created"}});
  EXPECT_EQ(by_type.fires("lead.created", "any", std::nullopt), Trigger::Fire::kYes);
  EXPECT_EQ(by_type.fires("lead.updated", "any", std::nullopt), Trigger::Fire::kNo);
}

// A status of one pipeline: pipelines may share status names, so the rule
// says which one's it means (the router checks the entity's pipeline).
TEST(StatusTrigger, AStatusMayNameItsPipeline) {
  const Trigger t = compile({{"entity", "lead"}, {"pipeline", "students"}, {"status", "Учится"}});
  EXPECT_EQ(t.pipeline(), "students");
  Lead lead({{"studies", t}});
  lead.create("Первичный контакт");
  lead.move("Учится");
  lead.move("Отказ");
  lead.move("Учится");
  EXPECT_EQ(lead.fired("studies"), 2);  // every entry, as a status rule
}

// The only pipeline declared is a range's, unnamed; of several, it must say which.
TEST(StatusTrigger, ARangeWithoutPipelineIsOfTheOnlyPipelineDeclared) {
  const json range = {{"entity", "lead"}, {"from", "Записан на пробное"}, {"to", "Учится"}};
  Lead lead({{"range", compile(range)}});
  lead.create("Первичный контакт");
  lead.move("Учится");
  lead.move("Записан на пробное");
  EXPECT_EQ(lead.fired("range"), 1);
  std::vector<ConditionProblem> problems;
  Pipelines two = kPipelines;
  two["sales"] = {"Новая", "Оплачена"};
  EXPECT_FALSE(Trigger::compile(range, two, problems));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].message, "a range needs \"pipeline\", one of: sales, students");
  problems.clear();
  EXPECT_FALSE(Trigger::compile(range, Pipelines{}, problems));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("declare them under \"pipelines\""), std::string::npos) << problems[0].message;
}

TEST(StatusTrigger, InvalidTriggersAreExplained) {
  struct Case {
    json spec;
    std::string pointer, part;
  };
  const Case cases[] = {
      {json::object(), "", "needs an \"event\" type"},
      {{{"status", "new"}}, "", "needs the \"entity\" type"},
      {{{"entity", "lead"}, {"pipeline", "sales"}, {"from", nullptr}, {"to", "x"}},
       "/pipeline",
       "unknown pipeline 'sales'"},
      {{{"entity", "lead"}, {"pipeline", "students"}, {"from", "Учится"}, {"to", "Нет такого"}},
       "/to",
       "no status 'Нет такого'"},
      {{{"entity", "lead"}, {"pipeline", "students"}, {"from", "Учится"}, {"to", "Первичный контакт"}},
       "/to",
       "comes before"},
      {{{"entity", "lead"}, {"pipeline", "students"}, {"to", "Учится"}}, "", "needs \"from\""},
      {{{"entity", "lead"}, {"status", "Учится"}, {"pipeline", "students"}, {"to", "Отказ"}}, "", "not both"},
      {{{"entity", "lead"}, {"status", "a"}, {"pipeline", "students"}}, "/status", "no status 'a'"},
      {{{"entity", "lead"}, {"status", "Учится"}, {"pipeline", "sales"}}, "/pipeline", "unknown pipeline 'sales'"},
      {{{"event", "lead.created"}, {"previous_status", "a"}}, "/previous_status", "goes with \"status\""},
      {{{"event", "deal.created"}, {"pipeline", "sales"}}, "/pipeline", "unknown pipeline 'sales'"},
  };
  for (const auto& c : cases) {
    std::vector<ConditionProblem> problems;
    EXPECT_FALSE(Trigger::compile(c.spec, kPipelines, problems)) << c.spec.dump();
    ASSERT_FALSE(problems.empty()) << c.spec.dump();
    EXPECT_EQ(problems[0].pointer, c.pointer) << c.spec.dump();
    EXPECT_NE(problems[0].message.find(c.part), std::string::npos) << problems[0].message;
  }
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

// SendPulse's "moved to a new stage": a CRM's status_changed that repeats
// the status the deal has (sent again under a new id) moved nothing.
TEST(EventTrigger, AStatusChangedThatMovedNothingDoesNotFire) {
  const Trigger moved = compile({{"event", "deal.status_changed"}});
  EXPECT_EQ(moved.fires("deal.status_changed", "api", StatusChange{"deal", "D1", false, "Новая", "В работе"}),
            Trigger::Fire::kYes);
  EXPECT_EQ(moved.fires("deal.status_changed", "api", StatusChange{"deal", "D1", false, "В работе", "В работе"}),
            Trigger::Fire::kNo);
  EXPECT_EQ(moved.fires("deal.status_changed", "api", std::nullopt), Trigger::Fire::kYes);  // names no status
  // Another event type is not a move, whatever it carries.
  EXPECT_EQ(compile({{"event", "deal.updated"}})
                .fires("deal.updated", "api", StatusChange{"deal", "D1", false, "В работе", "В работе"}),
            Trigger::Fire::kYes);
}

TEST(EventTrigger, ARulesTimeTriggerEventsReachThatRuleAlone) {
  const Trigger any = compile({{"event", "task.overdue"}});
  const Trigger own = compile({{"event", "task.overdue"}, {"source", "time:late"}});
  EXPECT_EQ(any.fires("task.overdue", "time", std::nullopt), Trigger::Fire::kYes);  // the host's own
  EXPECT_EQ(any.fires("task.overdue", "time:late", std::nullopt), Trigger::Fire::kNo);
  EXPECT_EQ(own.fires("task.overdue", "time:late", std::nullopt), Trigger::Fire::kYes);
  EXPECT_EQ(own.fires("task.overdue", "time:other", std::nullopt), Trigger::Fire::kNo);
}

}  // namespace
}  // namespace sb
