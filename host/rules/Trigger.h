// When a rule fires. On an event type:
//
//   {"event": "lead.created", "source": "site_hook"}
//
// or with the status semantics of the reference CRMs, on an entity entering
// a status — whether a person, an import or another rule moved it, and also
// when the entity is created with that status (null is "no status", which
// counts on creation):
//
//   {"entity": "lead", "status": "Первичный контакт"}    every entry into it
//   {"event": "deal.created", "pipeline": "Продажи"}
//        that event, for an entity of that pipeline
//   {"entity": "lead", "pipeline": "students", "status": "Первичный контакт"}
//        every entry into it by a lead of that pipeline
//   {"entity": "deal", "status": "Оплачено", "previous_status": "Счёт выставлен"}
//        every entry into it from that status (a transition)
//   {"entity": "lead", "pipeline": "students", "from": null, "to": "Записан на пробное"}
//        once per entity: the first time it enters any status of the range
//        (in the pipeline's order), never again
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rules/Condition.h"
#include "store/Store.h"

namespace sb {

// A task's statuses, in the order it goes through them.
inline const std::vector<std::string> kTaskStatuses{"open", "in_progress", "done", "cancelled"};

// A pipeline's statuses in order; "no status" comes before the first.
using Pipelines = std::map<std::string, std::vector<std::string>>;

class Trigger {
 public:
  enum class Fire { kNo, kYes, kIfFirstForEntity };

  // Null (and problems appended) when the trigger is invalid.
  static std::optional<Trigger> compile(const nlohmann::json& trigger, const Pipelines& pipelines,
                                        std::vector<ConditionProblem>& problems);

  // `change` is set when the event sets its entity's status.
  Fire fires(const std::string& event_type, const std::string& source, const std::optional<StatusChange>& change) const;
  const std::string& event() const { return event_; }    // "" for status triggers
  const std::string& entity() const { return entity_; }  // the entity type of a status trigger ("" for others)
  const std::string& source() const { return source_; }  // "" for any
  // The trigger's pipeline ("" when it names none): it fires only for entities
  // in it (the caller checks the entity's "pipeline"; one that names none is
  // taken to be in it), since pipelines may share status names.
  const std::string& pipeline() const { return pipeline_; }
  // Whether the event whose context this is has its entity in the
  // trigger's pipeline (any, when the trigger names none or the entity no pipeline).
  bool in_pipeline(const nlohmann::json& context) const;

 private:
  enum class Kind { kEvent, kStatus, kRange };
  Kind kind_ = Kind::kEvent;
  std::string event_;   // empty: any type (status triggers)
  std::string source_;  // empty: any source
  std::string entity_;
  std::string pipeline_;
  std::optional<std::string> status_;
  std::optional<std::optional<std::string>> previous_;  // set: only entries from this status (none = no status)
  std::set<std::optional<std::string>> range_;
};

}  // namespace sb
