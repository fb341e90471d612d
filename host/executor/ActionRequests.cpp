#include "executor/ActionRequests.h"

#include <atomic>
#include <random>

#include "config/JsonSchema.h"
#include "events/EventParser.h"
#include "rules/Condition.h"
#include "rules/Template.h"
#include "util/JsonText.h"
#include "util/Text.h"

namespace sb {

using nlohmann::json;

namespace {
// A parameter whose value is not repeated in an error: a header, or a name
// that says a credential (a template may carry an earlier step's token).
bool may_be_a_credential(const std::string& pointer) {
  const std::string lowered = lower_case(pointer);
  for (const char* word : {"header", "token", "secret", "password", "authorization", "key", "auth"})
    if (lowered.find(word) != std::string::npos) return true;
  return false;
}
}  // namespace

std::variant<ActionRequest, ActionOutcome> make_action_request(const CompiledStep& step, const json& context,
                                                               const ExecutionRow& row) {
  const std::string& event_id = row.event_id;
  const std::string& rule = row.rule;
  ActionRequest request;
  request.action = step.action;
  request.timeout = step.timeout;
  request.attempt = static_cast<uint32_t>(row.attempt + 1);
  request.idempotency_key = event_id + ":" + rule + ":" + step.id;
  // A parallel branch's row names the event `<event>#<step>.<branch>`; what
  // a plugin keeps of its cause (a CRM change's caused_by) is the event itself.
  const json* cause = lookup_path(context, "event.id");
  request.subject.event_id = cause && cause->is_string() ? cause->get<std::string>() : event_id;
  request.subject.execution_id = row.id;
  request.subject.rule = rule;
  request.subject.step = step.id;
  if (const json* depth = lookup_path(context, "event.chain_depth"); depth && depth->is_number_integer())
    request.subject.chain_depth = depth->get<int>();
  if (const auto contact = context.find("contact"); contact != context.end())
    request.subject.contact_key = contact_key(*contact);
  const json* type = lookup_path(context, "entity.type");
  const json* id = lookup_path(context, "entity.id");
  if (type && id && type->is_string() && id->is_string()) {
    request.subject.entity_type = type->get<std::string>();
    request.subject.entity_id = id->get<std::string>();
  }
  // Written part by part, in key order, as an object of the parts would be:
  // copying them into one first cost a deep copy per call.
  std::string& about = request.subject.json;
  about = "{";
  for (const char* part : {"account", "contact", "entity", "event"})
    if (const auto it = context.find(part); it != context.end() && it->is_object()) {
      if (about.size() > 1) about += ',';
      about += '"';
      about += part;
      about += "\":";
      append_json_text(about, *it);
    }
  about += '}';
  try {
    request.params = render_template(step.params, context, step.html_params);
  } catch (const TemplateError& e) {
    return ActionOutcome::failure(SB_OUTCOME_INVALID_PARAMS, e.what());
  }
  if (step.schema)
    if (auto violations = step.schema->validate(request.params); !violations.empty()) {
      // Each named with the text it was given (what a template made of the
      // event: "soon" for a deadline), which the schema's words do not say.
      std::string why = "parameters do not match the action's schema: ";
      for (size_t i = 0; i < violations.size(); ++i) {
        const SchemaViolation& v = violations[i];
        why += (i ? "; " : "") + (v.path.empty() ? "/" : v.path) + ": ";
        const json* given = nullptr;
        try {
          given = &request.params.at(json::json_pointer(v.path));
        } catch (const json::exception&) {
        }
        if (given && given->is_string() && v.message.rfind("expected ", 0) == 0 && !may_be_a_credential(v.path)) {
          const std::string& text = given->get_ref<const std::string&>();
          const std::string shown = utf8_prefix(text, 40);
          why += "'" + shown + (shown.size() < text.size() ? "…" : "") + "' does not fit: ";
        }
        why += v.message;
      }
      return ActionOutcome::failure(SB_OUTCOME_INVALID_PARAMS, why);
    }
  return request;
}

namespace {
void collect_step_results(const json& history, json& results) {
  if (!history.is_array()) return;
  for (const json& entry : history) {
    if (!entry.is_object()) continue;
    const std::string outcome = entry.value("outcome", "");
    if (outcome == "branches ended" && entry.contains("branches"))
      for (const json& branch : entry["branches"]) collect_step_results(branch.value("history", json()), results);
    if (!entry.contains("step") || !entry["step"].is_string()) continue;
    if (outcome == "done")
      results[entry["step"].get<std::string>()] = {{"external_id", entry.value("external_id", "")},
                                                   {"output", entry.value("output", json())}};
    else if (outcome == "event arrived")
      results[entry["step"].get<std::string>()] = {{"event", entry.value("event", json())}};
  }
}
}  // namespace

json step_results(const json& history) {
  json results = json::object();
  collect_step_results(history, results);
  return results;
}

std::string generate_event_id() {
  // Random prefix per process + counter: unique without a syscall per event.
  static const std::string prefix = [] {
    std::random_device rd;
    std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
    static const char kHex[] = "0123456789abcdef";
    std::string p = "evt_";
    for (int i = 0; i < 16; ++i) p += kHex[gen() % 16];
    return p;
  }();
  static std::atomic<uint64_t> counter{0};
  return prefix + "_" + std::to_string(++counter);
}

}  // namespace sb
