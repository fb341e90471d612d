// Advertising channels' analytics (Authorization: Bearer, api.admin_tokens),
// the reference CRMs' "booking methods" report: the records of the config's
// "ad_channels" entity type, grouped by the channel a field names (a rule
// sets it, by the booking method: crm.set_field), each with
//
//   GET /api/v1/analytics/channels?updated_after=..&updated_before=..&limit=..
//   {"entity": "booking", "channels": {"<name>": {"records", "sales",
//    "sales_without_amount", "conversion", "revenue", "average_check", "cost",
//    "roi"}}, "total": {...}, "complete": true, "updated_after"?, "updated_before"?}
//
// (analytics/ChannelCounts.h says what each figure is), and the tasks'
// completion rate and time (analytics/TaskCounts.h):
//
//   GET /api/v1/analytics/tasks?created_after=..&created_before=..&limit=..
//   {"total": {"created", "open", "in_progress", "done", "cancelled",
//    "overdue", "done_on_time", "done_late", "completion_rate",
//    "hours_to_complete": {"average", "median"}}, "assignees": {id: {...,
//    "name"}}, "undated", "complete", "created_after"?, "created_before"?}
#pragma once

#include <string>
#include <vector>

#include "api/ApiWorker.h"
#include "config/Config.h"
#include "http/BearerTokens.h"
#include "http/ServerConnection.h"

namespace sb {

class Store;

class AnalyticsApi {
 public:
  // Requests run on `worker`, which outlives this.
  AnalyticsApi(Store& store, std::vector<std::string> admin_tokens, Config::AdChannelsConfig channels,
               ApiWorker& worker);
  void channels(ServerRequest&& request, ServerConnection::Reply reply);
  void tasks(ServerRequest&& request, ServerConnection::Reply reply);

  static constexpr size_t kDefaultRecords = 100'000;  // read by one request, at most by default ...
  static constexpr size_t kMostRecords = 1'000'000;   // ... and when asked

 private:
  void report(const ServerRequest& request, ServerConnection::Reply& reply);
  void task_report(const ServerRequest& request, ServerConnection::Reply& reply);

  Store& store_;
  BearerTokens tokens_;
  const Config::AdChannelsConfig config_;
  ApiWorker& worker_;
};

}  // namespace sb
