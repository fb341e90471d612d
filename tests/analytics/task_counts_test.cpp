// The task analytics' figures from tasks as the store keeps them.
#include <gtest/gtest.h>

#include <future>

#include "analytics/TaskCounts.h"
#include "integration/test_support.h"
#include "store/SqliteStore.h"
#include "util/Time.h"

namespace sb {
namespace {

using nlohmann::json;

class TaskCountsTest : public ::testing::Test {
 protected:
  // A task in `status` with these fields, as the tasks plugin stores one.
  void task(const std::string& id, const std::string& status, const json& fields, const json& responsible = nullptr) {
    EventRecord e;
    e.id = "e-" + id;
    e.type = "task.created";
    e.source = "api";
    e.occurred_at_ms = e.received_at_ms = *parse_time_ms("2026-12-01T12:00:00Z");
    json entity{{"type", "task"}, {"id", id}, {"status", status}, {"fields", fields}};
    if (!responsible.is_null()) entity["responsible"] = responsible;
    e.entity = EntityUpdate{"task", id, true, status, entity.dump()};
    e.body_json = json{{"id", e.id}, {"type", e.type}, {"entity", entity}}.dump();
    std::promise<AppendResult> got;
    store_.append_events({e}, [&](AppendResult r) { got.set_value(std::move(r)); });
    ASSERT_TRUE(got.get_future().get().ok());
  }
  std::filesystem::path dir_ = test::make_temp_dir("sb_tasks");
  SqliteStore store_{SqliteStore::Options{dir_ / "store.db"}};
  const int64_t now_ = *parse_time_ms("2026-12-06T00:00:00Z");
};

TEST_F(TaskCountsTest, OneTaskForSeveralManagersCountsForEachAndTheMedianOfAnEvenCountIsTheMiddlePair) {
  const json anna{{"id", "m1"}, {"name", "Анна"}}, petr{{"id", "m2"}, {"name", "Пётр"}};
  task("t1", "done",
       {{"created_at", "2026-12-01T10:00:00Z"},
        {"completed_at", "2026-12-01T11:00:00Z"},
        {"assignee", anna},
        {"assignees", {anna, petr}}});
  task("t2", "done",
       {{"created_at", "2026-12-01T10:00:00Z"},
        {"completed_at", "2026-12-01T14:00:00Z"},
        {"deadline", "2026-12-01T12:00:00Z"},
        {"assignee", anna}});
  task("t3", "in_progress", {{"created_at", "2026-12-02T10:00:00Z"}, {"deadline", "2026-12-03T10:00:00Z"}});
  task("old", "open", {{"title", "made before created_at was written"}});
  // A task a CRM posted names its managers as any record does.
  task("crm", "open", {{"created_at", "2026-12-02T11:00:00Z"}}, json::array({petr}));
  const auto counts = count_tasks(store_, {}, now_, 1000);
  ASSERT_TRUE(counts);
  const json all = counts->to_json();
  EXPECT_EQ(all["total"]["created"], 5) << all.dump();
  EXPECT_EQ(all["total"]["done_on_time"], 1);
  EXPECT_EQ(all["total"]["done_late"], 1);
  EXPECT_EQ(all["total"]["overdue"], 1);  // in progress past its deadline; the undated one has none
  EXPECT_EQ(all["total"]["hours_to_complete"]["median"], 2.5);
  EXPECT_EQ(all["total"]["hours_to_complete"]["average"], 2.5);
  EXPECT_EQ(all["assignees"]["m1"]["created"], 2);
  EXPECT_EQ(all["assignees"]["m2"]["created"], 2);
  EXPECT_EQ(all["assignees"]["m2"]["name"], "Пётр");
  EXPECT_EQ(all["assignees"][""]["created"], 2);  // nobody's
  EXPECT_EQ(all["undated"], 0);
  // Bounded: the undated one is left out, and said to be.
  const auto bounded = count_tasks(store_, {*parse_time_ms("2026-12-02T00:00:00Z"), std::nullopt}, now_, 1000);
  ASSERT_TRUE(bounded);
  EXPECT_EQ(bounded->total.created, 2);
  EXPECT_EQ(bounded->undated, 1);
  // A limit below the tasks' number: not complete.
  EXPECT_FALSE(count_tasks(store_, {}, now_, 2)->complete);
  EXPECT_TRUE(count_tasks(store_, {}, now_, 5)->complete);
}

}  // namespace
}  // namespace sb
