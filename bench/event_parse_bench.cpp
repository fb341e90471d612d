// What POST /api/v1/events costs the ingest thread per event, before the
// store: a campaign's batch of 100 (an id, a type, a contact named by its
// id) and the same with each contact's email and phone, which the schema
// checks in full (valijson).
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include "events/EventParser.h"

namespace {

std::string batch(bool with_addresses) {
  nlohmann::json events = nlohmann::json::array();
  for (int i = 0; i < 100; ++i) {
    nlohmann::json contact{{"id", "p" + std::to_string(i)}};
    if (with_addresses) {
      contact["emails"] = {{{"address", "p" + std::to_string(i) + "@example.com"}}};
      contact["phones"] = {{{"number", "+7999" + std::to_string(1000000 + i)}}};
    }
    events.push_back({{"id", "c" + std::to_string(i)}, {"type", "campaign.send"}, {"contact", contact}});
  }
  return nlohmann::json{{"events", events}}.dump();
}

void parse(benchmark::State& state, bool with_addresses) {
  const std::string body = batch(with_addresses);
  for (auto _ : state) benchmark::DoNotOptimize(sb::parse_events(body, 1'000, 100, "api"));
  state.SetItemsProcessed(state.iterations() * 100);
}

void BM_CampaignBatch(benchmark::State& state) { parse(state, false); }
void BM_CampaignBatchWithAddresses(benchmark::State& state) { parse(state, true); }
BENCHMARK(BM_CampaignBatch);
BENCHMARK(BM_CampaignBatchWithAddresses);

}  // namespace

BENCHMARK_MAIN();
