// POST /api/v1/events: authenticated (Authorization: Bearer, tokens from the
// config, compared in constant time), validated strictly (400 names the
// field at fault, and nothing of a rejected batch is stored), and answered
// 202 only once the events are durably committed (group commit). A repeated
// event id is acknowledged as a duplicate and changes nothing; an id that an
// event of another source (a webhook, a plugin) holds is a conflict (409).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "http/BearerTokens.h"
#include "http/ServerConnection.h"

namespace sb {

class ApiWorker;
class Counter;
struct EventRecord;
class Metrics;
class Store;

class EventsApi {
 public:
  static constexpr size_t kMaxBatch = 1000;

  // No tokens: every request is refused (the API is off). `on_stored` runs
  // after each commit that stored new events (on a store thread). A batch
  // whose every event `urgent` says true for is stored as urgent
  // (Store::append_events_urgent: they start a high-priority rule).
  // Bodies of more than kBulkBytes (a campaign's batches) are parsed on
  // `bulk`, a thread of lower priority when the config says so: on a full
  // machine the executions already accepted run first, and a single event
  // (a password reset) is not queued behind them on the connections' loops.
  using Urgent = std::function<bool(const EventRecord&)>;
  static constexpr size_t kBulkBytes = 4096;
  static constexpr size_t kMostBulkWaiting = 16;
  EventsApi(Store& store, std::vector<std::string> tokens, Metrics& metrics, std::function<void()> on_stored,
            Urgent urgent = {}, ApiWorker* bulk = nullptr);

  void handle(ServerRequest&& request, ServerConnection::Reply reply);

 private:
  void accept(const std::string& body, ServerConnection::Reply reply);

  Store& store_;
  BearerTokens tokens_;
  std::function<void()> on_stored_;
  Urgent urgent_;
  ApiWorker* bulk_;
  Counter& accepted_;
  Counter& duplicates_;
  Counter& conflicts_;
  Counter& rejected_;
};

}  // namespace sb
