#include "api/ClusterApi.h"

#include <nlohmann/json.hpp>

#include "util/Time.h"

namespace sb {

using nlohmann::json;

ClusterApi::ClusterApi(Store& store, const Membership& membership, std::vector<std::string> admin_tokens)
    : store_(store), membership_(membership), tokens_(std::move(admin_tokens), "api.admin_tokens") {}

void ClusterApi::handle(ServerRequest&& request, ServerConnection::Reply reply) {
  if (auto refusal = tokens_.refuse(request)) return reply(std::move(*refusal));
  if (request.method != "GET") return reply(method_not_allowed("GET"));
  std::vector<NodeRecord> nodes;
  try {
    nodes = store_.nodes();
  } catch (const StoreError& e) {
    return reply(error_response(503, "store_unavailable", e.what()));
  }
  const int64_t now = now_ms();
  json items = json::array();
  for (const NodeRecord& n : nodes)
    items.push_back({{"id", n.id},
                     {"host", n.host},
                     {"address", n.address},
                     {"started_at", format_time_ms(n.started_at_ms)},
                     {"heartbeat_at", format_time_ms(n.heartbeat_at_ms)},
                     {"claims", n.claims},
                     {"alive", membership_.alive(n, now)},
                     {"self", n.id == membership_.self().id}});
  reply(json_response(200, {{"node", membership_.self().id}, {"nodes", std::move(items)}}));
}

}  // namespace sb
