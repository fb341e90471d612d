#include "http/Dialer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sb {

std::vector<SocketAddress> attempt_order(const std::vector<SocketAddress>& addresses) {
  std::vector<SocketAddress> first, second;
  const sa_family_t lead = addresses.empty() ? AF_INET6 : addresses.front().address.ss_family;
  for (const SocketAddress& a : addresses) (a.address.ss_family == lead ? first : second).push_back(a);
  std::vector<SocketAddress> out;
  for (size_t i = 0; i < std::max(first.size(), second.size()); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < second.size()) out.push_back(second[i]);
  }
  return out;
}

Dialer::Dialer(EventLoop& loop, const std::vector<SocketAddress>& addresses, Done done)
    : loop_(loop), addresses_(attempt_order(addresses)), done_(std::move(done)) {}

Dialer::~Dialer() {
  loop_.cancel(next_attempt_);
  loop_.cancel(deferred_);
  for (const int fd : open_) {
    loop_.unwatch(fd);
    ::close(fd);
  }
}

void Dialer::start() {
  attempt_next();
  if (open_.empty() && next_ >= addresses_.size())  // every address refused at once: told from the loop
    deferred_ = loop_.run_after(std::chrono::milliseconds(0), [this] {
      deferred_ = 0;
      finish(-1, last_error_);
    });
}

void Dialer::attempt_next() {
  loop_.cancel(next_attempt_);
  next_attempt_ = 0;
  while (next_ < addresses_.size()) {
    const SocketAddress& a = addresses_[next_++];
    const int fd = ::socket(a.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error_ = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.address), a.length) != 0 && errno != EINPROGRESS) {
      last_error_ = errno;
      ::close(fd);
      continue;
    }
    try {
      loop_.watch(fd, EPOLLOUT, [this, fd](uint32_t events) { on_ready(fd, events); });
    } catch (const std::exception&) {  // epoll refused the socket
      last_error_ = errno ? errno : EBADF;
      ::close(fd);
      continue;
    }
    open_.push_back(fd);
    if (next_ < addresses_.size()) next_attempt_ = loop_.run_after(kAttemptDelay, [this] { attempt_next(); });
    return;
  }
}

void Dialer::on_ready(int fd, uint32_t events) {
  // Only this socket's own readiness: an event read for a closed one that
  // had the same number must not pass for a connect.
  if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
  int error = 0;
  socklen_t length = sizeof error;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  if (error == EINPROGRESS) return;
  if (error == 0) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    // Still connecting (an event meant for an earlier socket with this
    // number): the peer is not known yet.
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) return;
    loop_.unwatch(fd);
    open_.erase(std::find(open_.begin(), open_.end(), fd));
    return finish(fd, 0);
  }
  last_error_ = error;
  close_attempt(fd);
  if (next_ < addresses_.size()) attempt_next();  // at once: this one has failed
  if (open_.empty()) finish(-1, last_error_);     // (the rest, if any, failed as they began)
}

void Dialer::close_attempt(int fd) {
  loop_.unwatch(fd);
  ::close(fd);
  open_.erase(std::find(open_.begin(), open_.end(), fd));
}

void Dialer::finish(int fd, int error) {
  loop_.cancel(next_attempt_);
  next_attempt_ = 0;
  for (const int other : std::vector<int>(open_)) close_attempt(other);
  Done done = std::move(done_);
  done(fd, error);  // may destroy this dialer: nothing after it
}

}  // namespace sb
