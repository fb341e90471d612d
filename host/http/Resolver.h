// Host names to addresses off the event loops: getaddrinfo() blocks (for
// seconds, when a DNS server is slow), so it runs on a thread of its own and
// the answer is posted back to the loop that asked. Addresses in the URL
// itself are answered at once.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/OutboundConnection.h"

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
  ~Resolver();  // waits for the lookup under way; drops the queued ones
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Thread-safe. `done` runs on the resolver's thread: it posts the result
  // where it is needed.
  void resolve(std::string host, uint16_t port, std::function<void(Resolution&&)> done);

 private:
  struct Lookup {
    std::string host;
    uint16_t port;
    std::function<void(Resolution&&)> done;
  };
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Lookup> queue_;
  bool stopping_ = false;
  std::thread thread_;  // started by the first lookup
};

}  // namespace sb
