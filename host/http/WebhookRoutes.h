// The webhook paths trigger plugins registered, and the requests waiting for
// a plugin's answer.
//
// A plugin answers through an sb_responder handle that is an id, not a
// pointer: an answer that comes after the request timed out (or twice) finds
// nothing and is dropped.
#pragma once

#include <switchboard/plugin.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sb {

struct WebhookRoute {
  std::string owner;                  // instance name
  const void* owner_token = nullptr;  // only this instance may answer the route's requests
  sb_on_http_request handler = nullptr;
  void* user_data = nullptr;
};

struct WebhookResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class WebhookRoutes {
 public:
  // False when `path` is taken.
  bool add(const std::string& path, WebhookRoute route);
  void remove_owner(const std::string& owner);
  std::optional<WebhookRoute> find(const std::string& path) const;

  // Called once with a request's answer, on the thread that answered.
  using Answer = std::function<void(WebhookResponse&&)>;

  // Registers a request to `owner`'s route; the id is what the plugin gets
  // as sb_responder*.
  uint64_t open(const void* owner, Answer answer);
  // Delivers an answer; false when the id is unknown (late, repeated, or
  // from another instance).
  bool respond(uint64_t id, const void* owner, WebhookResponse response);
  void close(uint64_t id);

 private:
  mutable std::shared_mutex routes_mutex_;
  std::map<std::string, WebhookRoute> routes_;
  std::mutex waiters_mutex_;
  std::unordered_map<uint64_t, std::pair<const void*, Answer>> waiters_;
  uint64_t next_id_ = 1;
};

}  // namespace sb
