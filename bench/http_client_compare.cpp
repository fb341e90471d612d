// Outbound HTTP: the host's client (its own HTTP/1.1 on one I/O thread) versus
// Poco's blocking HTTPClientSession on a pool of threads, each keeping its
// own keep-alive session. Both send N POSTs of a 60-byte JSON body to the
// same sink with up to C in flight, and report requests/s and threads used.
//
//   http_client_compare URL_HOST PORT [N=20000] [C=64]
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/HttpClient.h"

namespace {

const std::string kBody = R"({"to":"+79990001122","text":"Hello Ivan","id":1234567890})";

int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

double run_curl(const std::string& host, int port, int n, int concurrency, int& threads) {
  sb::HttpClientOptions options;
  options.max_connections = concurrency;
  sb::HttpClient client(options);
  std::mutex mutex;
  std::condition_variable changed;
  int in_flight = 0, done = 0, failed = 0;
  const std::string url = "http://" + host + ":" + std::to_string(port) + "/";
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return in_flight < concurrency; });
      ++in_flight;
    }
    sb::OutboundRequest r;
    r.url = url;
    r.body = kBody;
    r.headers = {{"Content-Type", "application/json"}};
    client.send(std::move(r), [&](sb::OutboundResponse&& resp) {
      std::lock_guard lock(mutex);
      --in_flight;
      ++done;
      failed += resp.status != 200;
      changed.notify_all();
    });
    if (i == n / 2) threads = thread_count();
  }
  std::unique_lock lock(mutex);
  changed.wait(lock, [&] { return done == n; });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) std::printf("curl: %d failed\n", failed);
  return n / secs;
}

double run_poco(const std::string& host, int port, int n, int concurrency, int& threads) {
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> pool;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < concurrency; ++t)
    pool.emplace_back([&] {
      Poco::Net::HTTPClientSession session(host, static_cast<Poco::UInt16>(port));
      session.setKeepAlive(true);
      while (next++ < n) {
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, "/", Poco::Net::HTTPMessage::HTTP_1_1);
        request.setContentType("application/json");
        request.setContentLength(static_cast<std::streamsize>(kBody.size()));
        request.setKeepAlive(true);
        session.sendRequest(request) << kBody;
        Poco::Net::HTTPResponse response;
        std::string body;
        Poco::StreamCopier::copyToString(session.receiveResponse(response), body);
        failed += response.getStatus() != 200;
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  threads = thread_count();
  for (auto& t : pool) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) std::printf("poco: %d failed\n", failed.load());
  return n / secs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s HOST PORT [N] [CONCURRENCY]\n", argv[0]);
    return 2;
  }
  const std::string host = argv[1];
  const int port = std::atoi(argv[2]);
  const int n = argc > 3 ? std::atoi(argv[3]) : 20000;
  const int c = argc > 4 ? std::atoi(argv[4]) : 64;
  int curl_threads = 0, poco_threads = 0;
  const double curl = run_curl(host, port, n, c, curl_threads);
  const double poco = run_poco(host, port, n, c, poco_threads);
  std::printf("in flight %d, %d requests\n", c, n);
  std::printf("host client   : %8.0f req/s, %d threads in the process\n", curl, curl_threads);
  std::printf("Poco blocking : %8.0f req/s, %d threads in the process\n", poco, poco_threads);
  return 0;
}
