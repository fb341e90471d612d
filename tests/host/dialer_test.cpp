// Connecting to a host's addresses as RFC 8305 races them: the next attempt
// 250 ms after the last began (at once when one fails), earlier attempts
// kept open, the families in turn. Real sockets on loopback; an address that
// drops SYNs is a listener whose accept queue is full.
#include "http/Dialer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "support/closed_port.h"

namespace sb {
namespace {

using namespace std::chrono_literals;

SocketAddress loopback(uint16_t port) {
  SocketAddress a;
  auto* in = reinterpret_cast<sockaddr_in*>(&a.address);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.length = sizeof(sockaddr_in);
  return a;
}

SocketAddress v6(uint16_t port) {
  SocketAddress a;
  auto* in = reinterpret_cast<sockaddr_in6*>(&a.address);
  in->sin6_family = AF_INET6;
  in->sin6_port = htons(port);
  in->sin6_addr = in6addr_loopback;
  a.length = sizeof(sockaddr_in6);
  return a;
}

uint16_t port_of(int fd, bool peer = false) {
  sockaddr_in a{};
  socklen_t length = sizeof a;
  if (peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &length)
           : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length))
    return 0;
  return ntohs(a.sin_port);
}

// A listener on 127.0.0.1; `full`: its one place in the accept queue is
// taken, so the kernel drops the SYNs that come next (they are sent again
// after a second, and then find room if the queue was drained). With a
// backlog of 0 the kernel answers even the first SYN with a cookie: the
// tests that use a full one need net.ipv4.tcp_syncookies (Debian's default).
struct Listener {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int filler = -1;
  uint16_t port = 0;
  explicit Listener(bool full) {
    SocketAddress any = loopback(0);
    EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&any.address), any.length), 0);
    EXPECT_EQ(::listen(fd, 0), 0);
    port = port_of(fd);
    if (!full) return;
    filler = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const SocketAddress to = loopback(port);
    EXPECT_EQ(::connect(filler, reinterpret_cast<const sockaddr*>(&to.address), to.length), 0);
  }
  void drain() {
    const int taken = ::accept(fd, nullptr, nullptr);
    if (taken >= 0) ::close(taken);
  }
  ~Listener() {
    if (filler >= 0) ::close(filler);
    ::close(fd);
  }
};

struct Dialed {
  int fd = -1;
  int error = 0;
  std::chrono::milliseconds took{0};
};

// Dials on a loop of its own; waits up to 10 s for the answer.
bool syncookies() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_syncookies");
  int on = 0;
  return (in >> on) && on != 0;
}

size_t open_fds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

Dialed dial(const std::vector<SocketAddress>& addresses, const std::function<void()>& meanwhile = {}) {
  EventLoop loop;
  std::thread thread([&] { loop.run(); });
  std::unique_ptr<Dialer> dialer;
  std::promise<Dialed> answered;
  const auto started = std::chrono::steady_clock::now();
  loop.post([&] {
    dialer = std::make_unique<Dialer>(loop, addresses, [&](int fd, int error) {
      answered.set_value(
          {fd, error,
           std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)});
    });
    dialer->start();
  });
  if (meanwhile) meanwhile();
  auto future = answered.get_future();
  Dialed got{-1, -1, 0ms};
  if (future.wait_for(10s) == std::future_status::ready) got = future.get();
  loop.stop();
  thread.join();
  dialer.reset();
  return got;
}

TEST(Dialer, AnAddressThatDropsItsPacketsHoldsTheNextBackAQuarterSecondOnly) {
  if (!syncookies()) GTEST_SKIP() << "needs net.ipv4.tcp_syncookies";
  Listener silent(true), good(false);
  const size_t fds_before = open_fds();
  const Dialed d = dial({loopback(silent.port), loopback(good.port)});
  ASSERT_GE(d.fd, 0) << std::strerror(d.error);
  EXPECT_EQ(port_of(d.fd, true), good.port);
  EXPECT_GE(d.took, Dialer::kAttemptDelay - 10ms);  // the first had its quarter second
  EXPECT_LT(d.took, 900ms);                         // not the second a sequential dialer gave each address
  ::close(d.fd);
  EXPECT_EQ(open_fds(), fds_before);  // the attempt that lost was closed
}

TEST(Dialer, AnAddressThatRefusesMovesOnAtOnce) {
  test::ClosedPort refused;
  Listener good(false);
  const Dialed d = dial({loopback(refused.port()), loopback(good.port)});
  ASSERT_GE(d.fd, 0) << std::strerror(d.error);
  EXPECT_EQ(port_of(d.fd, true), good.port);
  EXPECT_LT(d.took, Dialer::kAttemptDelay);  // not after the quarter second
  ::close(d.fd);
}

TEST(Dialer, ASlowAddressIsNotGivenUpForALaterOneThatNeverAnswers) {
  if (!syncookies()) GTEST_SKIP() << "needs net.ipv4.tcp_syncookies";
  Listener slow(true), silent(true);
  // The slow one's queue is drained: its SYN, sent again after a second, is answered.
  const Dialed d = dial({loopback(slow.port), loopback(silent.port)}, [&] {
    std::this_thread::sleep_for(400ms);
    slow.drain();
  });
  ASSERT_GE(d.fd, 0) << std::strerror(d.error);
  EXPECT_EQ(port_of(d.fd, true), slow.port);
  ::close(d.fd);
}

TEST(Dialer, WhenEveryAddressRefusesTheLastErrorIsTold) {
  test::ClosedPort first, second;
  const Dialed d = dial({loopback(first.port()), loopback(second.port())});
  EXPECT_EQ(d.fd, -1);
  EXPECT_EQ(d.error, ECONNREFUSED);
  EXPECT_EQ(dial({}).error, 0);  // no address at all
}

TEST(Dialer, TheFamiliesTakeTurnsEachInTheResolversOrder) {
  const std::vector<SocketAddress> order = attempt_order({v6(1), v6(2), v6(3), loopback(4), loopback(5)});
  std::vector<std::pair<int, uint16_t>> seen;
  for (const SocketAddress& a : order)
    seen.emplace_back(a.address.ss_family, ntohs(a.address.ss_family == AF_INET6
                                                     ? reinterpret_cast<const sockaddr_in6*>(&a.address)->sin6_port
                                                     : reinterpret_cast<const sockaddr_in*>(&a.address)->sin_port));
  EXPECT_EQ(seen, (std::vector<std::pair<int, uint16_t>>{
                      {AF_INET6, 1}, {AF_INET, 4}, {AF_INET6, 2}, {AF_INET, 5}, {AF_INET6, 3}}));
}

}  // namespace
}  // namespace sb
