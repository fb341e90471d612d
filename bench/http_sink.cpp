// A minimal HTTP/1.1 sink for load tests: one thread, epoll, keep-alive,
// answers every request "200 {"ok":true}" (or BODY) and counts them. With
// DELAY_MS it answers each request that much later, like a slow provider.
//   http_sink [PORT=8081] [DELAY_MS=0] [BODY]
// On SIGTERM/SIGINT prints "requests=N connections=M" and exits.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

std::string response_with(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// Consumes every complete request in `in`; returns how many.
size_t consume(std::string& in) {
  size_t count = 0, pos = 0;
  while (true) {
    const size_t end = in.find("\r\n\r\n", pos);
    if (end == std::string::npos) break;
    size_t length = 0;
    for (size_t line = in.find("\r\n", pos); line < end; line = in.find("\r\n", line + 2)) {
      if (strncasecmp(in.c_str() + line + 2, "content-length:", 15) == 0)
        length = std::strtoul(in.c_str() + line + 17, nullptr, 10);
    }
    if (in.size() < end + 4 + length) break;
    pos = end + 4 + length;
    ++count;
  }
  in.erase(0, pos);
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8081;
  const auto delay = std::chrono::milliseconds(argc > 2 ? std::atoi(argv[2]) : 0);
  const std::string response = response_with(argc > 3 ? argv[3] : R"({"ok":true})");
  using Clock = std::chrono::steady_clock;
  struct Due {
    Clock::time_point at;
    int fd;
    size_t count;
  };
  std::deque<Due> due;  // in order: every request waits the same delay
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 1024) != 0) {
    std::perror("http_sink: bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);

  std::unordered_map<int, std::string> buffers;
  unsigned long long total = 0, connections = 0;
  epoll_event events[256];
  char chunk[65536];
  std::string out;
  auto answer = [&](int fd, size_t requests) {
    out.clear();
    for (size_t k = 0; k < requests; ++k) out.append(response);
    return out.empty() || write(fd, out.data(), out.size()) >= 0;
  };
  while (!g_stop) {
    int timeout = 200;
    if (!due.empty())
      timeout = static_cast<int>(std::max<long>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(due.front().at - Clock::now()).count()));
    const int n = epoll_wait(ep, events, 256, timeout);
    for (const auto now = Clock::now(); !due.empty() && due.front().at <= now; due.pop_front())
      if (buffers.count(due.front().fd)) answer(due.front().fd, due.front().count);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        int client;
        while ((client = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = client;
          epoll_ctl(ep, EPOLL_CTL_ADD, client, &cev);
          buffers[client];
          ++connections;
        }
        continue;
      }
      std::string& in = buffers[fd];
      bool closed = false;
      while (true) {
        const ssize_t r = read(fd, chunk, sizeof chunk);
        if (r > 0) {
          in.append(chunk, static_cast<size_t>(r));
          // Short: nothing more to read now (epoll says so again if it
          // was). A read that ends in EAGAIN was a third of the syscalls.
          if (static_cast<size_t>(r) < sizeof chunk) break;
          continue;
        }
        closed = r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        break;
      }
      const size_t requests = consume(in);
      total += requests;
      if (delay.count() > 0) {
        if (requests) due.push_back({Clock::now() + delay, fd, requests});
      } else if (!answer(fd, requests)) {
        closed = true;
      }
      if (closed) {
        close(fd);
        buffers.erase(fd);
      }
    }
  }
  std::printf("requests=%llu connections=%llu\n", total, connections);
  return 0;
}
