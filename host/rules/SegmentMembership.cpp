#include "rules/SegmentMembership.h"

#include <algorithm>
#include <set>

#include "util/JsonText.h"
#include "util/Time.h"

namespace sb {

using nlohmann::json;

json SegmentMembership::context_of(json contact, const std::string& account_zone) {
  return json{{"contact", std::move(contact)}, {"account", {{"timezone", account_zone}}}};
}

namespace {

// Whether the contact's list `list` names the segment.
bool listed(const json& context, const char* list, const std::string& segment) {
  const json& contact = context["contact"];
  const auto names = contact.find(list);
  return names != contact.end() && names->is_array() &&
         std::find(names->begin(), names->end(), json(segment)) != names->end();
}

}  // namespace

bool SegmentMembership::is_member(const DynamicSegment& segment, const json& context) {
  return listed(context, "segments", segment.name);
}

void SegmentMembership::check(const std::vector<StoredEvent>& events, int max_chain_depth, int64_t now_ms,
                              std::vector<EventRecord>& out) const {
  std::set<std::string> checked;  // every event of the batch reads the contact as it is now
  for (const StoredEvent& e : events) {
    if (e.contact_key.empty() || e.contact_json.empty() || e.record.chain_depth >= max_chain_depth ||
        !checked.insert(e.contact_key).second)
      continue;
    json contact = json::parse(e.contact_json, nullptr, false);
    if (contact.is_object())
      check(e.contact_key, std::move(contact), std::to_string(e.seq), e.record.chain_depth + 1, now_ms, out);
  }
}

void SegmentMembership::check(const std::string& key, json contact, const std::string& cause, int chain_depth,
                              int64_t now_ms, std::vector<EventRecord>& out) const {
  const json context = context_of(std::move(contact), account_zone_);
  for (const DynamicSegment& segment : segments_) check(segment, key, context, cause, chain_depth, now_ms, out);
}

void SegmentMembership::check(const DynamicSegment& segment, const std::string& key, const json& context,
                              const std::string& cause, int chain_depth, int64_t now_ms,
                              std::vector<EventRecord>& out) {
  if (!segment.condition) return;  // a static segment: only its members' own list decides
  // A manager's own choice (the admin API) stands whatever the filter says.
  const bool belongs =
      listed(context, "manual_segments", segment.name) ||
      (!listed(context, "excluded_segments", segment.name) && segment.condition->matches(context, now_ms));
  if (is_member(segment, context) == belongs) return;
  EventRecord e;
  e.id = "segment:" + segment.name + ":" + key + ":" + (belongs ? "entered" : "left") + ":" + cause;
  e.type = belongs ? "segment.entered" : "segment.left";
  e.source = "segments";
  e.occurred_at_ms = e.received_at_ms = now_ms;
  e.chain_depth = chain_depth;
  e.body_json = dump_text(
      json{{"id", e.id}, {"type", e.type}, {"time", format_time_ms(now_ms)}, {"data", {{"segment", segment.name}}}});
  e.contact = ContactUpdate{key, ""};
  e.contact->only_if_it_changes = true;  // a check that raced another one moves no one twice
  (belongs ? e.contact->segments.add : e.contact->segments.remove).push_back(segment.name);
  out.push_back(std::move(e));
}

}  // namespace sb
