// What a rule's executions did, counted from their histories: the admin's
// action analytics and A/B results (GET /api/v1/executions/stats). Each
// execution counts once per step and outcome it reached ("Offer": done;
// "Opened?": waiting for event, then event arrived or timed out; "VIP?":
// branch then; "subject": variant A), in all
// and under each split variant it took, so that variants compare.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "store/Store.h"

namespace sb {

class ExecutionStats {
 public:
  void add(const ExecutionRow& row);
  // {"executions": n, "states": {...}, "steps": {step: {outcome: n}},
  //  "splits": {split step: {variant: {"executions": n, "steps": {...}}}}}
  nlohmann::json to_json() const;

 private:
  using Steps = std::map<std::string, std::map<std::string, int64_t>>;  // step -> outcome -> executions
  struct Variant {
    int64_t executions = 0;
    Steps steps;
  };

  int64_t executions_ = 0;
  std::map<std::string, int64_t> states_;
  Steps steps_;
  std::map<std::string, std::map<std::string, Variant>> splits_;
};

}  // namespace sb
