// The admin API over executions (Authorization: Bearer, api.admin_tokens):
//
//   GET  /api/v1/executions?state=failed&rule=..&event_id=..&limit=..
//   GET  /api/v1/executions/{id}            with its step history and context
//   POST /api/v1/executions/{id}/retry      a failed or cancelled one, from the step that failed
//   POST /api/v1/executions/{id}/cancel     a ready, waiting or in-doubt one
//   POST /api/v1/executions/{id}/resend     an in-doubt step: send it again
//   POST /api/v1/executions/{id}/mark-done  an in-doubt step did run: go on after it
//   GET  /api/v1/dead-letters               the failed ones, with why
//   GET  /api/v1/executions/stats?rule=..&since=..&limit=..
//                                           what a rule's executions did, per step and split variant
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "analytics/RuleExecutions.h"
#include "api/ApiWorker.h"
#include "executor/Transitions.h"
#include "http/BearerTokens.h"
#include "http/ServerConnection.h"

namespace sb {

class ExecutionsApi {
 public:
  // `on_retry` runs after a retry is committed (the pipeline has work);
  // `on_cancelled` after a cancel, with the executions it cancelled (this
  // node gives up their calls in flight).
  using Cancelled = std::function<void(const std::vector<int64_t>& executions)>;
  // What a retry on the rule's current version ({"version": "current"}: a
  // dead letter a rule's mistake made, retried on the mended rule) asks:
  // the version the config has now ("" for none), and what the step of an
  // id does in a version ("" for none): it goes on only at the same step.
  struct RuleVersions {
    std::function<std::string(const std::string& rule)> current;
    std::function<std::string(const std::string& rule, const std::string& version, const std::string& step)> step;
  };
  // Stats requests run on `worker`, which outlives this.
  ExecutionsApi(Store& store, std::vector<std::string> admin_tokens, std::function<void()> on_retry,
                Cancelled on_cancelled, ApiWorker& worker, StatsRules stats_rules = {},
                RuleVersions rule_versions = {});

  void executions(ServerRequest&& request, ServerConnection::Reply reply);
  void dead_letters(ServerRequest&& request, ServerConnection::Reply reply);

 private:
  void list(const ServerRequest& request, bool dead_letters_only, ServerConnection::Reply reply);
  void command(int64_t id, const std::string& verb, const std::string& body, ServerConnection::Reply reply);
  // `c` moved to its rule's current version, or why it cannot be.
  std::optional<ServerResponse> on_current_version(int64_t id, ExecutionCommand& c) const;
  void stats(const ServerRequest& request, ServerConnection::Reply& reply);
  bool rule_known(const std::string& rule) const;                  // in the config, or has executions
  bool contact_known(const std::vector<std::string>& keys) const;  // stored, or has executions
  std::vector<std::string> keys_of_contact(const std::string& asked) const;

  // Executions counted by one stats request: by default, and at most (each
  // is read and its history parsed on the request's thread).
  static constexpr size_t kStatsDefaultExecutions = 10'000;
  static constexpr size_t kStatsMostExecutions = 100'000;

  Store& store_;
  const StatsRules stats_rules_;
  const RuleVersions rule_versions_;
  Transitions transitions_;  // the admin's commands
  BearerTokens tokens_;
  std::function<void()> on_retry_;
  Cancelled on_cancelled_;
  ApiWorker& worker_;
};

}  // namespace sb
