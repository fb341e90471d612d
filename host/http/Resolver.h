// Host names to addresses off the event loops: getaddrinfo() blocks (for
// seconds, when a DNS server is slow), so each lookup runs on a thread of
// its own, and one slow name never holds back another. Addresses in the URL
// itself are answered at once.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "http/Dialer.h"  // SocketAddress

namespace sb {

struct Resolution {
  std::vector<SocketAddress> addresses;
  std::string error;  // when there are none
};

// The address itself when `host` is a literal IPv4 or IPv6 address.
std::optional<Resolution> resolve_literal(const std::string& host, uint16_t port);

class Resolver {
 public:
  Resolver() = default;
  // A lookup still under way finishes on its own; its answer is dropped.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Thread-safe. `done` runs once on the lookup's thread (it posts the
  // answer where it is needed), never after the resolver is gone.
  void resolve(std::string host, uint16_t port, std::function<void(Resolution&&)> done);

 private:
  struct Shared {
    std::mutex mutex;
    bool alive = true;
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace sb
