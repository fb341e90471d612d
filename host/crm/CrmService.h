// switchboard.crm/1 over the built-in store: reads of contacts and
// entities, a contact query in the rules' filter language, and changes
// stored as events (crm/ChangeEvents.h) that the pipeline then routes.
#pragma once

#include <functional>

#include "crm/ChangeEvents.h"
#include "plugins/HostServices.h"
#include "store/Store.h"

namespace sb {

class CrmService final : public CrmRecords {
 public:
  // `stored` runs after each change is committed (it wakes the pipeline).
  // `account` is the config's, which queries read as rules do (its time zone
  // for a date's local day).
  CrmService(Store& store, RecordRules rules, std::function<void()> stored,
             nlohmann::json account = nlohmann::json::object());

  CrmAnswer get(const std::string& kind, const std::string& id) override;
  CrmAnswer query(const std::string& filter_json, const std::string& after, size_t limit) override;
  CrmAnswer query_entities(const std::string& type, const std::string& filter_json, const std::string& after,
                           size_t limit) override;
  void apply(const CallSubject& call, const std::string& instance, const std::string& call_key,
             const std::string& change_json, std::function<void(CrmAnswer)> done) override;

 private:
  Store& store_;
  const RecordRules rules_;
  std::function<void()> stored_;
  const nlohmann::json account_;
};

}  // namespace sb
