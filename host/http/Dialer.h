// Connects to the first of a host's addresses that accepts, racing them as
// RFC 8305 ("Happy Eyeballs") does: the addresses alternate between IPv6 and
// IPv4 (each family in the resolver's order), the next attempt starts when
// one fails or 250 ms after the last one began, and earlier attempts stay
// open meanwhile. So an address that drops packets (an IPv6 route that goes
// nowhere) costs a new connection 250 ms, and a slow one is not given up for
// a faster one that may never answer.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <vector>

#include "net/EventLoop.h"

namespace sb {

struct SocketAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
};

// The order addresses are tried in: the first address's family, then the
// other, in turn, each family in the order given.
std::vector<SocketAddress> attempt_order(const std::vector<SocketAddress>& addresses);

class Dialer {
 public:
  // The connected socket (`fd` >= 0, the caller's to close and watch), or
  // -1 with the errno of the last failure (0: no address). Addresses that
  // never answer are not given up on here: the request's own timeout ends
  // the dialer. Runs once, on the loop, never from inside start(); the
  // dialer may be destroyed inside it. A dial holds a socket per attempt
  // under way, so up to one per address.
  using Done = std::function<void(int fd, int error)>;

  static constexpr std::chrono::milliseconds kAttemptDelay{250};  // RFC 8305's recommended default

  Dialer(EventLoop& loop, const std::vector<SocketAddress>& addresses, Done done);
  ~Dialer();  // closes the attempts still open; `done` does not run
  Dialer(const Dialer&) = delete;
  Dialer& operator=(const Dialer&) = delete;

  void start();

 private:
  void attempt_next();
  void on_ready(int fd, uint32_t events);
  void close_attempt(int fd);
  void finish(int fd, int error);  // last: `done` may destroy the dialer

  EventLoop& loop_;
  std::vector<SocketAddress> addresses_;  // in the order they are tried
  size_t next_ = 0;
  std::vector<int> open_;  // attempts under way
  int last_error_ = 0;
  EventLoop::TimerId next_attempt_ = 0;
  EventLoop::TimerId deferred_ = 0;  // a failure found inside start(), told from the loop
  Done done_;
};

}  // namespace sb
