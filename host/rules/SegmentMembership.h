// Who belongs in the dynamic segments: a contact is a member while the
// segment's filter matches it, unless a manager put them in or took them out
// by hand ("manual_segments", "excluded_segments"). The router checks every contact an event
// changes, at once; the time triggers check every contact on each segment's
// refresh schedule, for filters over dates that change as time passes.
//
// A contact that should come in or go out gets a segment.entered or
// segment.left event that adds or removes the segment in its "segments"
// list. The store keeps it only if it changes the contact, so that two
// checks that saw the same change (the router's and a refresh, another
// host's) move the contact once. Its id names the segment, the contact, the
// move and what caused the check, so that a check repeated adds nothing.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rules/TimeTrigger.h"
#include "store/Store.h"

namespace sb {

class SegmentMembership {
 public:
  // `account_zone`: the local days of date conditions when the contact has no zone.
  SegmentMembership(std::vector<DynamicSegment> segments, std::string account_zone)
      : segments_(std::move(segments)), account_zone_(std::move(account_zone)) {}

  bool empty() const { return segments_.empty(); }
  const std::vector<DynamicSegment>& segments() const { return segments_; }

  // The moves of the contacts `events` name, each checked once, as stored
  // now (what the router does with a batch of events). Not for an event at
  // `max_chain_depth`: a filter that flips on its own moves stops there.
  void check(const std::vector<StoredEvent>& events, int max_chain_depth, int64_t now_ms,
             std::vector<EventRecord>& out) const;
  // The moves that bring `contact` (stored under `key`) into the segments it
  // now matches and out of those it no longer does. `cause` goes in the ids;
  // `chain_depth` is the events' (the loop guard counts segment moves too).
  void check(const std::string& key, nlohmann::json contact, const std::string& cause, int chain_depth, int64_t now_ms,
             std::vector<EventRecord>& out) const;
  // One segment only (a refresh), over what its filter reads (`context_of`).
  static void check(const DynamicSegment& segment, const std::string& key, const nlohmann::json& context,
                    const std::string& cause, int chain_depth, int64_t now_ms, std::vector<EventRecord>& out);
  static nlohmann::json context_of(nlohmann::json contact, const std::string& account_zone);
  static bool is_member(const DynamicSegment& segment, const nlohmann::json& context);

 private:
  std::vector<DynamicSegment> segments_;
  std::string account_zone_;
};

}  // namespace sb
