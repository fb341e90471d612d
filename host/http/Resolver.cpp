#include "http/Resolver.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>
#include <thread>

#include "util/ThreadName.h"

namespace sb {

namespace {

Resolution look_up(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  Resolution result;
  if (const int code = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); code != 0) {
    result.error = "Could not resolve host: " + host + " (" + gai_strerror(code) + ")";
    return result;
  }
  for (addrinfo* a = found; a; a = a->ai_next) {
    SocketAddress address;
    std::memcpy(&address.address, a->ai_addr, a->ai_addrlen);
    address.length = a->ai_addrlen;
    result.addresses.push_back(address);
  }
  freeaddrinfo(found);
  return result;
}

}  // namespace

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
  std::lock_guard lock(shared_->mutex);  // waits for an answer being handed over
  shared_->alive = false;
}

void Resolver::resolve(std::string host, uint16_t port, std::function<void(Resolution&&)> done) {
  auto lookup = [shared = shared_, host, port, done]() mutable {
    name_this_thread("sb-resolve");
    Resolution result = look_up(host, port);
    std::lock_guard lock(shared->mutex);
    if (shared->alive) done(std::move(result));
  };
  try {
    std::thread(std::move(lookup)).detach();
  } catch (const std::system_error& e) {  // no thread to be had: the lookup fails, as a slow one would
    done(Resolution{{}, std::string("Could not resolve host: ") + host + " (" + e.what() + ")"});
  }
}

}  // namespace sb
