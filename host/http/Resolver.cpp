#include "http/Resolver.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>

#include "util/ThreadName.h"

namespace sb {

std::optional<Resolution> resolve_literal(const std::string& host, uint16_t port) {
  SocketAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.address);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.length = sizeof(sockaddr_in6);
  } else {
    return std::nullopt;
  }
  return Resolution{{a}, {}};
}

Resolver::~Resolver() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Resolver::resolve(std::string host, uint16_t port, std::function<void(Resolution&&)> done) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    queue_.push_back({std::move(host), port, std::move(done)});
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  wake_.notify_one();
}

void Resolver::run() {
  name_this_thread("sb-resolve");
  for (;;) {
    Lookup lookup;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      lookup = std::move(queue_.front());
      queue_.pop_front();
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* found = nullptr;
    Resolution result;
    const std::string service = std::to_string(lookup.port);
    if (const int code = getaddrinfo(lookup.host.c_str(), service.c_str(), &hints, &found); code != 0) {
      result.error = "Could not resolve host: " + lookup.host + " (" + gai_strerror(code) + ")";
    } else {
      for (addrinfo* a = found; a; a = a->ai_next) {
        SocketAddress address;
        std::memcpy(&address.address, a->ai_addr, a->ai_addrlen);
        address.length = a->ai_addrlen;
        result.addresses.push_back(address);
      }
      freeaddrinfo(found);
    }
    lookup.done(std::move(result));
  }
}

}  // namespace sb
