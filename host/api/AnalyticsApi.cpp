#include "api/AnalyticsApi.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "analytics/ChannelCounts.h"
#include "analytics/TaskCounts.h"
#include "api/QueryParameters.h"
#include "store/Store.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

AnalyticsApi::AnalyticsApi(Store& store, std::vector<std::string> admin_tokens, Config::AdChannelsConfig channels,
                           ApiWorker& worker)
    : store_(store),
      tokens_(std::move(admin_tokens), "api.admin_tokens"),
      config_(std::move(channels)),
      worker_(worker) {}

void AnalyticsApi::channels(ServerRequest&& request, ServerConnection::Reply reply) {
  if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
  if (request.method != "GET") return reply(method_not_allowed("GET"));
  if (config_.entity.empty())
    return reply(error_response(404, "not_configured",
                                "no \"ad_channels\" in the config: name the entity type whose records are attributed "
                                "(\"ad_channels\": {\"entity\": \"booking\"})"));
  worker_.answer(std::move(reply),
                 [this, request = std::move(request)](ServerConnection::Reply& reply) { report(request, reply); });
}

namespace {

// The time bounds a report takes, by their parameters' names.
// In pairs: a period's beginning ("created_after"), then its end ("created_before").
using TimeBounds = std::vector<std::pair<std::string, std::optional<int64_t>*>>;

// A report's query: its time bounds and a limit; a refusal (400) for
// anything else.

std::optional<ServerResponse> read_bounds(const ServerRequest& request, const TimeBounds& bounds, size_t& most) {
  const QueryParameters read = read_query(request.target);
  if (read.refusal) return error_response(400, "bad_request", *read.refusal);
  for (const auto& [key, value] : read.parameters) {
    const auto named =
        std::find_if(bounds.begin(), bounds.end(), [&key](const auto& bound) { return bound.first == key; });
    if (named != bounds.end()) {
      auto& bound = *named->second;
      bound = parse_time_ms(value);
      if (!bound) return error_response(400, "bad_request", key + ": " + expected_rfc3339_time(value));
    } else if (key == "limit") {
      size_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n == 0 || n > AnalyticsApi::kMostRecords)
        return error_response(400, "bad_request",
                              "limit: expected 1 to " + std::to_string(AnalyticsApi::kMostRecords) + " records");
      most = n;
    } else {
      return error_response(400, "bad_request", "unknown parameter '" + key + "'");
    }
  }
  // A period that ends before it begins holds nothing: said, not answered with nothing.
  for (size_t i = 0; i + 1 < bounds.size(); i += 2)
    if (const auto& after = *bounds[i].second, &before = *bounds[i + 1].second; after && before && *after > *before)
      return error_response(400, "bad_request", bounds[i].first + " is later than " + bounds[i + 1].first);
  return std::nullopt;
}

}  // namespace

void AnalyticsApi::tasks(ServerRequest&& request, ServerConnection::Reply reply) {
  if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
  if (request.method != "GET") return reply(method_not_allowed("GET"));
  worker_.answer(std::move(reply),
                 [this, request = std::move(request)](ServerConnection::Reply& reply) { task_report(request, reply); });
}

void AnalyticsApi::task_report(const ServerRequest& request, ServerConnection::Reply& reply) {
  TaskBounds bounds;
  size_t most = kDefaultRecords;
  if (auto refusal = read_bounds(
          request, {{"created_after", &bounds.created_after_ms}, {"created_before", &bounds.created_before_ms}}, most))
    return reply(std::move(*refusal));
  const auto counts = count_tasks(store_, bounds, now_ms(), most, [this] { return worker_.stopping(); });
  if (!counts) return reply(error_response(503, "unavailable", "the host is shutting down"));
  json body = counts->to_json();
  body["complete"] = counts->complete;
  if (bounds.created_after_ms) body["created_after"] = format_time_ms(*bounds.created_after_ms);
  if (bounds.created_before_ms) body["created_before"] = format_time_ms(*bounds.created_before_ms);
  reply(json_response(200, body));
}

void AnalyticsApi::report(const ServerRequest& request, ServerConnection::Reply& reply) {
  RecordQuery query;
  size_t most = kDefaultRecords;
  const TimeBounds bounds{{"created_after", &query.created_after_ms},
                          {"created_before", &query.created_before_ms},
                          {"updated_after", &query.updated_after_ms},
                          {"updated_before", &query.updated_before_ms}};
  if (auto refusal = read_bounds(request, bounds, most)) return reply(std::move(*refusal));
  const auto counts = count_channels(store_, config_, query, most, [this] { return worker_.stopping(); });
  if (!counts) return reply(error_response(503, "unavailable", "the host is shutting down"));
  json body = counts->to_json(config_);
  body["entity"] = config_.entity;
  body["complete"] = counts->complete;
  for (const auto& [name, bound] : bounds)
    if (*bound) body[name] = format_time_ms(**bound);
  reply(json_response(200, body));
}

}  // namespace sb
