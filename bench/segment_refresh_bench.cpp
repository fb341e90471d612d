// Dynamic segments and special dates over N contacts in the SQLite store:
//   - the full refresh (every contact read, the filter checked, the members
//     moved in by their events, stored a chunk at a time);
//   - one contact changed: what the router does for it (the event read with
//     its contact, the filter checked, the move stored);
//   - the special-date read that finds today's birthdays.
// Usage: segment_refresh_bench N [DIR]   (prints one line per measurement)
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <iostream>

#include "events/EventParser.h"
#include "rules/Condition.h"
#include "rules/SegmentMembership.h"
#include "store/SqliteStore.h"
#include "timers/TimeTriggers.h"
#include "util/Time.h"

namespace {

using namespace sb;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

long peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

void append(Store& store, std::vector<EventRecord> batch) {
  std::promise<AppendResult> done;
  store.append_events(std::move(batch), [&](AppendResult r) { done.set_value(std::move(r)); });
  if (const AppendResult r = done.get_future().get(); !r.ok()) throw std::runtime_error(r.error);
}

EventRecord contact_event(int i, int visits, int64_t now) {
  char birthday[11];
  std::snprintf(birthday, sizeof birthday, "19%02d-%02d-%02d", 50 + i % 50, 1 + i / 28 % 12, 1 + i % 28);
  json event{{"id", "e" + std::to_string(i) + "-" + std::to_string(visits)},
             {"type", "contact.updated"},
             {"contact",
              {{"id", "c" + std::to_string(i)},
               {"name", "Контакт " + std::to_string(i)},
               {"fields", {{"visits", visits}, {"birthday", birthday}, {"city", "Омск"}}}}}};
  return std::move(parse_event(event, now, "bench").records.front());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: segment_refresh_bench N [DIR]\n";
    return 2;
  }
  const int n = std::stoi(argv[1]);
  const std::filesystem::path dir = argc > 2 ? argv[2] : std::filesystem::temp_directory_path() / "sb_segment_bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  SqliteStore store(SqliteStore::Options{dir / "bench.db"});
  const int64_t now = now_ms();

  auto start = Clock::now();
  for (int i = 0; i < n; i += 1000) {
    std::vector<EventRecord> batch;
    for (int j = i; j < std::min(n, i + 1000); ++j) batch.push_back(contact_event(j, j % 20, now));
    append(store, std::move(batch));
  }
  std::cout << "contacts " << n << " stored in " << ms_since(start) << " ms\n";

  std::vector<ConditionProblem> problems;
  DynamicSegment regulars{
      "regulars", Condition::compile({{"field", "contact.fields.visits"}, {"op", ">="}, {"value", 10}}, problems),
      std::nullopt, "visits >= 10"};
  TimeTriggers segments(store, {}, {regulars}, {}, nullptr);
  const long rss_before = peak_rss_mib();
  start = Clock::now();
  segments.check(now_ms());
  const std::string sizes = store.kv_get(kSegmentSizes, "regulars").value_or("?");
  std::cout << "full refresh: " << ms_since(start) << " ms, " << sizes << "; peak RSS " << rss_before << " -> "
            << peak_rss_mib() << " MiB\n";

  // The next day's refresh: every contact read and checked, no one moves.
  start = Clock::now();
  segments.check(now_ms() + 25 * 3'600'000LL);
  std::cout << "next refresh (no one moves): " << ms_since(start) << " ms; peak RSS " << peak_rss_mib() << " MiB\n";

  // The end of the event log: the contacts, each move and its segment.entered.
  int64_t end = n;
  for (auto tail = store.events_after(end, 1000); !tail.empty(); tail = store.events_after(end, 1000))
    end = tail.back().seq;
  const SegmentMembership membership({regulars}, "UTC");
  start = Clock::now();
  append(store, {contact_event(1, 15, now_ms())});  // c1 comes in
  std::vector<EventRecord> moves;
  membership.check(store.events_after(end, 10), 5, now_ms(), moves);
  const size_t moved = moves.size();
  append(store, std::move(moves));
  std::cout << "one contact changed, stored and moved: " << ms_since(start) << " ms, " << moved << " move(s)\n";

  std::vector<ConditionProblem> ignored;
  CompiledRule birthday;
  birthday.name = "birthday";
  birthday.time_trigger = TimeTrigger::compile({{"special_date", "contact.fields.birthday"}, {"at", "00:00"}}, ignored);
  TimeTriggers dates(store, {birthday}, {}, {}, nullptr);
  start = Clock::now();
  const size_t today = dates.check(now_ms()).size();
  std::cout << "special-date read: " << ms_since(start) << " ms, " << today << " due today; peak RSS " << peak_rss_mib()
            << " MiB\n";
  std::filesystem::remove_all(dir);
}
