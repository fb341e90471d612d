#include "http/WebhookRoutes.h"

namespace sb {

bool WebhookRoutes::add(const std::string& path, WebhookRoute route) {
  std::unique_lock lock(routes_mutex_);
  return routes_.emplace(path, std::move(route)).second;
}

void WebhookRoutes::remove_owner(const std::string& owner) {
  std::unique_lock lock(routes_mutex_);
  std::erase_if(routes_, [&](const auto& entry) { return entry.second.owner == owner; });
}

std::optional<WebhookRoute> WebhookRoutes::find(const std::string& path) const {
  std::shared_lock lock(routes_mutex_);
  auto it = routes_.find(path);
  if (it == routes_.end()) return std::nullopt;
  return it->second;
}

uint64_t WebhookRoutes::open(const void* owner, Answer answer) {
  std::lock_guard lock(waiters_mutex_);
  const uint64_t id = next_id_++;
  waiters_.emplace(id, std::make_pair(owner, std::move(answer)));
  return id;
}

bool WebhookRoutes::respond(uint64_t id, const void* owner, WebhookResponse response) {
  Answer answer;
  {
    std::lock_guard lock(waiters_mutex_);
    auto it = waiters_.find(id);
    if (it == waiters_.end() || it->second.first != owner) return false;
    answer = std::move(it->second.second);
    waiters_.erase(it);
  }
  answer(std::move(response));  // outside the lock: it may write to a socket
  return true;
}

void WebhookRoutes::close(uint64_t id) {
  std::lock_guard lock(waiters_mutex_);
  waiters_.erase(id);
}

}  // namespace sb
