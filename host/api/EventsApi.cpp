#include "api/EventsApi.h"

#include <Poco/String.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "api/ApiWorker.h"
#include "events/EventParser.h"
#include "metrics/Metrics.h"
#include "store/Store.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

namespace {

const char* outcome_text(AppendOutcome o) {
  switch (o) {
    case AppendOutcome::kStored:
      return "accepted";
    case AppendOutcome::kIdTaken:
      return "conflict";
    default:
      return "duplicate";
  }
}

// A body that is not JSON and whose Content-Type says it is something else
// (a form, XML): its media type, else "" (JSON, or said to be). A JSON body
// sent with curl's default form type is taken.
std::string other_media_type(const ServerRequest& request) {
  const size_t first = request.body.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (request.body[first] == '{' || request.body[first] == '[')) return "";
  for (const auto& [name, value] : request.headers) {
    if (Poco::icompare(name, "content-type") != 0) continue;
    std::string type = Poco::toLower(Poco::trim(value.substr(0, value.find(';'))));
    const bool json = type == "application/json" || (type.size() > 5 && type.ends_with("+json"));
    return json || type.empty() ? "" : type;
  }
  return "";
}

// What the sender hears of an id another source's event holds.
std::string id_taken(const std::string& id) { return id_taken_problem(id) + ": give this event an id of its own"; }

}  // namespace

EventsApi::EventsApi(Store& store, std::vector<std::string> tokens, Metrics& metrics, std::function<void()> on_stored,
                     Urgent urgent, ApiWorker* bulk)
    : store_(store),
      tokens_(std::move(tokens), "api.event_tokens"),
      on_stored_(std::move(on_stored)),
      urgent_(std::move(urgent)),
      bulk_(bulk),
      accepted_(metrics.counter("switchboard_events_ingested_total", {{"status", "accepted"}})),
      duplicates_(metrics.counter("switchboard_events_ingested_total", {{"status", "duplicate"}})),
      conflicts_(metrics.counter("switchboard_events_ingested_total", {{"status", "conflict"}})),
      rejected_(metrics.counter("switchboard_events_rejected_total", {})) {}

void EventsApi::handle(ServerRequest&& request, ServerConnection::Reply reply) {
  if (request.method != "POST") {
    return reply(method_not_allowed("POST", "only POST is accepted on /api/v1/events"));
  }
  if (auto refusal = tokens_.refuse(request)) {
    rejected_.add();
    return reply(std::move(*refusal));
  }
  if (const std::string type = other_media_type(request); !type.empty()) {
    rejected_.add();
    ServerResponse r = error_response(415, "unsupported_media_type",
                                      "Content-Type '" + type +
                                          "' is not taken: send JSON (application/json), one event or "
                                          "{\"events\": [...]}");
    r.headers.emplace_back("Accept-Post", "application/json");
    return reply(std::move(r));
  }
  if (bulk_ && request.body.size() > kBulkBytes) {
    // A few batches wait at most: beyond them, the connection's own loop
    // parses its batch, and reads nothing more meanwhile, as without the
    // worker (so a flood of batches is held in the sockets, not in memory).
    auto body = std::make_shared<std::string>(std::move(request.body));
    auto shared_reply = std::make_shared<ServerConnection::Reply>(std::move(reply));
    std::function<void()> job = [this, body, shared_reply] {
      if (bulk_->stopping()) {
        ServerResponse r = error_response(503, "shutting_down", "the host is stopping: send the events again");
        r.headers.emplace_back("Retry-After", "1");
        return (*shared_reply)(std::move(r));
      }
      try {
        accept(*body, *shared_reply);  // a copy: the catch below still holds one
      } catch (const std::exception& e) {
        // On the connection's loop the server would answer 500; here the worker does.
        (*shared_reply)(error_response(500, "internal", e.what()));
      }
    };
    if (!bulk_->try_post(job, kMostBulkWaiting)) job();
    return;
  }
  accept(request.body, std::move(reply));
}

void EventsApi::accept(const std::string& body, ServerConnection::Reply reply) {
  ParsedEvents parsed = parse_events(body, now_ms(), kMaxBatch, "api");
  if (!parsed.problems.empty()) {
    rejected_.add();
    const EventProblem& first = parsed.problems.front();
    json details = json::array();
    for (const auto& p : parsed.problems) details.push_back({{"pointer", p.pointer}, {"message", p.message}});
    return reply(
        json_response(400, {{"error",
                             {{"code", parsed.not_json ? "invalid_json" : "invalid_event"},
                              {"message", (first.pointer.empty() ? "/" : first.pointer) + ": " + first.message},
                              {"details", std::move(details)}}}}));
  }
  std::vector<std::string> ids;
  ids.reserve(parsed.records.size());
  for (const auto& r : parsed.records) ids.push_back(r.id);
  const bool batch = parsed.batch;
  // Only a batch of such events alone: one of them in a campaign's batch does not make it urgent.
  const bool urgent = urgent_ && std::all_of(parsed.records.begin(), parsed.records.end(), urgent_);
  const auto append = urgent ? &Store::append_events_urgent : &Store::append_events;
  (store_.*append)(
      std::move(parsed.records), [this, reply = std::move(reply), ids = std::move(ids), batch](AppendResult result) {
        if (!result.ok()) {
          ServerResponse r = error_response(503, "store_unavailable", "the events were not stored: " + result.error);
          r.headers.emplace_back("Retry-After", "1");
          return reply(std::move(r));
        }
        size_t stored = 0, taken = 0;
        for (AppendOutcome o : result.outcomes) {
          stored += o == AppendOutcome::kStored;
          taken += o == AppendOutcome::kIdTaken;
        }
        accepted_.add(static_cast<double>(stored));
        if (stored > 0 && on_stored_) on_stored_();
        duplicates_.add(static_cast<double>(result.outcomes.size() - stored - taken));
        conflicts_.add(static_cast<double>(taken));
        if (!batch) {
          const AppendOutcome o = result.outcomes.front();
          if (o == AppendOutcome::kIdTaken) return reply(error_response(409, "id_taken", id_taken(ids.front())));
          return reply(json_response(o == AppendOutcome::kStored ? 202 : 200,
                                     {{"id", ids.front()}, {"status", outcome_text(o)}}));
        }
        // Runs on the store's writer: built member by member, as an
        // initializer list per event cost a few percent of the writer's work.
        json events = json::array();
        json::array_t& items = events.get_ref<json::array_t&>();
        items.reserve(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) {
          json::object_t& item = items.emplace_back(json::object()).get_ref<json::object_t&>();
          item.emplace("id", ids[i]);
          item.emplace("status", outcome_text(result.outcomes[i]));
          if (result.outcomes[i] == AppendOutcome::kIdTaken) item.emplace("message", id_taken(ids[i]));
        }
        json body = json::object();
        body["events"] = std::move(events);
        reply(json_response(202, body));
      });
}

}  // namespace sb
