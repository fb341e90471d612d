// A rule's filter: conditions over the event, its entity and contact
// (fields, status, tags), combined with all / any / not ("and" and "or"
// are other names of all and any).
//
//   {"field": "contact.fields.city", "op": "=", "value": "Омск"}
//   {"all": [..]}  {"any": [..]}  {"not": {..}}  {"and": [..]}  {"or": [..]}
//   {"body.status": "new", "body.source": "site"}   (shorthand: all equal)
//
// Operators: = != < <= > >= contains in exists before after anniversary. A
// missing (or null) field fails every comparison except != (true) — `exists`
// tells them apart. before/after compare RFC 3339 times; the value may also
// be "now", "now-2d" or "now+1h" ("no visit for 90 days": last_visit before
// now-90d), and a date alone is the moment its local day begins. anniversary:
// a yearly date ("1990-05-17", "17.05") falls in a period around now
// (util/Zones.h LocalPeriod: "this_month" for "birthday this month"). Local
// days are the contact's zone, else the condition's "timezone", else the
// context's "account.timezone" (rules and segments give it), else UTC.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/JsonText.h"  // lookup_path, what conditions read

namespace sb {

struct ConditionProblem {
  std::string pointer;  // relative to the filter
  std::string message;
};

class Condition {
 public:
  virtual ~Condition() = default;
  // `now_ms` is what "now" means in before/after.
  virtual bool matches(const nlohmann::json& context, int64_t now_ms) const = 0;

  // Compiles a filter, or reports every problem in it (then returns null).
  static std::unique_ptr<Condition> compile(const nlohmann::json& filter, std::vector<ConditionProblem>& problems,
                                            const std::string& pointer = "");
};

// Whether a filter's key combines the conditions of its array: all, any,
// and (all), or (any).
bool is_condition_group(const std::string& key);

// A rule's filter on an event's context, reading the config's `account` (its
// time zone, for a date's local day), as the interpreter's branches do, in
// place of any the event's body names; `context` is left as it was.
bool matches_with_account(const Condition& filter, nlohmann::json& context, const nlohmann::json& account,
                          int64_t now_ms);

}  // namespace sb
