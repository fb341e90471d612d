// End-to-end latency of the durable pipeline: events posted to
// /api/v1/events at a fixed rate, each triggering a rule whose http action
// POSTs to this program's own sink; latency = sink arrival - post start.
// Usage: pipeline_latency HOST_PORTS SINK_PORT TOKEN RATE SECONDS
// HOST_PORTS: one port, or several ("8093,8095,8097": nodes sharing a store,
// each sender posting to one of them in turn).
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {
std::mutex mutex;
std::map<std::string, Clock::time_point> sent, arrived;
std::vector<double> accepted_ms;  // POST -> 202

struct SinkHandler : Poco::Net::HTTPRequestHandler {
  void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
    const auto now = Clock::now();
    std::string body;
    Poco::StreamCopier::copyToString(request.stream(), body);
    const std::string key = request.get("Idempotency-Key", "");
    {
      std::lock_guard lock(mutex);
      arrived.emplace(key.substr(0, key.find(':')), now);
    }
    response.setContentLength(2);
    response.send() << "{}";
  }
};
struct SinkFactory : Poco::Net::HTTPRequestHandlerFactory {
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new SinkHandler;
  }
};
}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s HOST_PORTS SINK_PORT TOKEN RATE SECONDS\n", argv[0]);
    return 2;
  }
  std::vector<int> host_ports;
  for (std::string ports = argv[1]; !ports.empty();) {
    const size_t comma = ports.find(',');
    host_ports.push_back(std::stoi(ports.substr(0, comma)));
    ports = comma == std::string::npos ? "" : ports.substr(comma + 1);
  }
  const int sink_port = std::stoi(argv[2]);
  const std::string token = argv[3];
  const int rate = std::stoi(argv[4]), seconds = std::stoi(argv[5]);
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(64);
  params->setMaxQueued(4096);
  Poco::Net::HTTPServer sink(new SinkFactory, Poco::Net::ServerSocket(Poco::Net::SocketAddress("127.0.0.1", sink_port)),
                             params);
  sink.start();

  // Senders on keep-alive connections, each keeping its share of the rate on
  // a fixed schedule (a late post does not delay the ones after it).
  constexpr int kSenders = 8;
  const int total = rate * seconds;
  std::atomic<int> failed{0};
  std::vector<std::thread> senders;
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  for (int s = 0; s < kSenders; ++s)
    senders.emplace_back([&, s] {
      const int port = host_ports[static_cast<size_t>(s) % host_ports.size()];
      Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
      for (int i = s; i < total; i += kSenders) {
        std::this_thread::sleep_until(start + std::chrono::microseconds(int64_t{1000000} * i / rate));
        const std::string id = "lat-" + std::to_string(i);
        const std::string body = R"({"id":")" + id + R"(","type":"lead.created"})";
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, "/api/v1/events", "HTTP/1.1");
        request.set("Authorization", "Bearer " + token);
        request.setContentType("application/json");
        request.setContentLength(static_cast<std::streamsize>(body.size()));
        const auto posted = Clock::now();
        {
          std::lock_guard lock(mutex);
          sent[id] = posted;
        }
        session.sendRequest(request) << body;
        Poco::Net::HTTPResponse response;
        std::string answer;
        Poco::StreamCopier::copyToString(session.receiveResponse(response), answer);
        if (response.getStatus() != 202) ++failed;
        std::lock_guard lock(mutex);
        accepted_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - posted).count());
      }
    });
  for (auto& t : senders) t.join();
  for (int i = 0; i < 50; ++i) {  // the last steps
    {
      std::lock_guard lock(mutex);
      if (arrived.size() >= sent.size()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sink.stopAll(true);
  std::vector<double> ms;
  for (const auto& [id, t] : arrived)
    if (auto s = sent.find(id); s != sent.end())
      ms.push_back(std::chrono::duration<double, std::milli>(t - s->second).count());
  std::sort(ms.begin(), ms.end());
  std::sort(accepted_ms.begin(), accepted_ms.end());
  auto pct_of = [](const std::vector<double>& v, double p) {
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  auto pct = [&](double p) { return pct_of(ms, p); };
  std::printf(
      "%d events at %d/s: %zu reached the sink, %d not accepted; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max "
      "%.2f ms\n",
      total, rate, ms.size(), failed.load(), pct(0.5), pct(0.9), pct(0.99), ms.empty() ? 0.0 : ms.back());
  std::printf("POST -> 202 (the event committed): p50 %.2f ms, p99 %.2f ms\n", pct_of(accepted_ms, 0.5),
              pct_of(accepted_ms, 0.99));
  return ms.size() == static_cast<size_t>(total) && failed == 0 ? 0 : 1;
}
