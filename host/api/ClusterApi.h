// The nodes sharing the store (Authorization: Bearer, api.admin_tokens):
//
//   GET /api/v1/cluster   {"node": this node's id, "nodes": [{"id", "host",
//                         "address", "started_at", "heartbeat_at", "claims",
//                         "alive", "self"}]}
//
// "claims" counts the executions a node holds a lease on now; a node is
// alive while its last heartbeat is within cluster.node_timeout.
#pragma once

#include <string>
#include <vector>

#include "cluster/Membership.h"
#include "http/BearerTokens.h"
#include "http/ServerConnection.h"

namespace sb {

class ClusterApi {
 public:
  ClusterApi(Store& store, const Membership& membership, std::vector<std::string> admin_tokens);
  void handle(ServerRequest&& request, ServerConnection::Reply reply);

 private:
  Store& store_;
  const Membership& membership_;
  BearerTokens tokens_;
};

}  // namespace sb
