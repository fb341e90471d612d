#include "pipeline/EmittedEvents.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "events/EventParser.h"
#include "executor/ActionRequests.h"
#include "log/Logger.h"
#include "store/MessageReports.h"
#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

EmittedEvents::EmittedEvents(Store& store, EventSink& in_memory, std::function<void()> stored)
    : store_(store), in_memory_(in_memory), stored_(std::move(stored)) {}

namespace {

bool is_event_member(const std::string& key) {
  return key == "time" || key == "entity" || key == "contact" || key == "data";
}

// Shaped like an event: only an event's members (time, entity, contact,
// data), or a contact, an entity or a time beside members of the plugin's
// own (a webhook's body and headers), which the record keeps as they are.
// Never an id or a type: those are the emit's.
bool event_shaped(const json& payload) {
  if (!payload.is_object() || payload.empty() || payload.contains("id") || payload.contains("type")) return false;
  if (payload.contains("contact") || payload.contains("entity") || payload.contains("time")) return true;
  for (const auto& [key, value] : payload.items())
    if (!is_event_member(key)) return false;
  return true;
}

// Said, so that a plugin's mistake does not go unseen: each source's first
// time and every 1000th (a plugin that always errs does not flood the log,
// nor hide another's first mistake).
void say_invalid(const EmittedEvent& event, const EventProblem& problem, const char* message) {
  static std::mutex mutex;
  static std::map<std::string, uint64_t> invalid;
  uint64_t n = 0;
  {
    std::lock_guard lock(mutex);
    n = ++invalid[event.source];
  }
  if (n == 1 || n % 1000 == 0)
    log_warn("events", message,
             {{"source", event.source},
              {"type", event.type},
              {"field", problem.pointer},
              {"error", problem.message},
              {"invalid_so_far", n}});
}

}  // namespace

EventRecord emitted_record(const EmittedEvent& event, int64_t now_ms) {
  const json& payload = event.payload;
  if (event_shaped(payload)) {
    json candidate = json::object(), own = json::object();
    for (const auto& [key, value] : payload.items()) (is_event_member(key) ? candidate : own)[key] = value;
    candidate["id"] = event.id;
    candidate["type"] = event.type;
    ParsedEvents parsed = parse_event(candidate, now_ms, event.source);
    // A time the host cannot read costs only the time: the contact and the
    // entity still count, and the event happened when it was received.
    if (!parsed.problems.empty() && std::all_of(parsed.problems.begin(), parsed.problems.end(),
                                                [](const EventProblem& p) { return p.pointer == "/time"; })) {
      say_invalid(event, parsed.problems.front(), "an emitted event's time is not valid: the time received is kept");
      candidate.erase("time");
      parsed = parse_event(candidate, now_ms, event.source);
    }
    if (parsed.problems.empty()) {
      EventRecord record = std::move(parsed.records.front());
      record.chain_depth = event.chain_depth;
      if (!own.empty()) {
        json body = json::parse(record.body_json);
        body.update(own);
        record.body_json = dump_text(body);
      }
      return record;
    }
    // Kept, as data only: its contact and entity are not merged into what the host knows.
    say_invalid(event, parsed.problems.front(),
                "an emitted event's contact or entity is not valid: it is kept as data only");
  }
  EventRecord record;
  record.id = event.id;
  record.type = event.type;
  record.source = event.source;
  record.chain_depth = event.chain_depth;
  record.occurred_at_ms = record.received_at_ms = now_ms;
  record.message_id = reported_message_id(record.type, payload);
  record.body_json = payload.is_object() ? dump_text(payload) : dump_text(json{{"data", payload}});
  return record;
}

sb_status EmittedEvents::emit(EmittedEvent event, sb_emit_wait wait, std::function<void(const EmitReport&)> done) {
  if (closed_) return SB_ERR_UNAVAILABLE;
  if (wait == SB_EMIT_WAIT_COMPLETED) return in_memory_.emit(std::move(event), wait, std::move(done));
  if (event.id.empty()) event.id = generate_event_id();
  std::vector<EventRecord> batch;
  batch.push_back(emitted_record(event, now_ms()));
  store_.append_events(
      std::move(batch), [this, id = event.id, source = event.source, done = std::move(done)](AppendResult result) {
        if (!result.ok())
          return done(EmitReport{SB_ERR_UNAVAILABLE, id, "cannot store the event: " + result.error, {}});
        if (result.outcomes.at(0) == AppendOutcome::kIdTaken) {
          log_warn("events", "an emitted event's id is taken by an event from another source: it is not stored",
                   {{"source", source}, {"id", id}});
          return done(
              EmitReport{SB_ERR_INVALID_ARGUMENT, id, id_taken_problem(id) + ": give this event an id of its own", {}});
        }
        const bool duplicate = result.outcomes.at(0) == AppendOutcome::kDuplicate;
        done(EmitReport{SB_OK, id, duplicate ? "duplicate" : "", json{{"executions", json::array()}}});
        if (!duplicate) stored_();
      });
  return SB_OK;
}

}  // namespace sb
