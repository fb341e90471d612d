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
  using Urgent = std::function<bool(const EventRecord&)>;
  EventsApi(Store& store, std::vector<std::string> tokens, Metrics& metrics, std::function<void()> on_stored,
            Urgent urgent = {});

  void handle(ServerRequest&& request, ServerConnection::Reply reply);

 private:
  Store& store_;
  BearerTokens tokens_;
  std::function<void()> on_stored_;
  Urgent urgent_;
  Counter& accepted_;
  Counter& duplicates_;
  Counter& conflicts_;
  Counter& rejected_;
};

}  // namespace sb
