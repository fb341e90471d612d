// The outbound HTTP client: many requests in flight on one I/O thread,
// transport errors reported (never thrown), real TLS verified against a CA.
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <gtest/gtest.h>

#include <future>
#include <latch>

#include "http/HttpClient.h"
#include "integration/test_support.h"
#include "net/EventLoop.h"
#include "support/closed_port.h"
#include "support/send_and_wait.h"

namespace sb {
namespace {

using namespace std::chrono_literals;

using test::send_and_wait;

TEST(HttpClient, ManyRequestsInFlightCompleteOnOneIoThread) {
  test::HttpSink sink;
  HttpClientOptions options;
  options.max_connections = 8;  // the rest wait for a connection rather than fail
  HttpClient client(options);
  constexpr int kRequests = 300;
  std::latch all_done(kRequests);
  std::mutex mutex;
  std::set<std::thread::id> callback_threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kRequests; ++i) {
    OutboundRequest r;
    r.url = sink.url() + "/n/" + std::to_string(i);
    r.body = "{}";
    client.send(std::move(r), [&](OutboundResponse&& resp) {
      ok += resp.status == 200;
      {
        std::lock_guard lock(mutex);
        callback_threads.insert(std::this_thread::get_id());
      }
      all_done.count_down();
    });
  }
  all_done.wait();
  EXPECT_EQ(ok, kRequests);
  EXPECT_EQ(callback_threads.size(), 1u);
  EXPECT_EQ(sink.count(), static_cast<size_t>(kRequests));
}

TEST(HttpClient, RequestSentFromALoopThreadCompletesOnThatThread) {
  test::HttpSink sink;
  EventLoopGroup loops(2);
  HttpClient client(loops);
  for (size_t i = 0; i < loops.size(); ++i) {
    std::promise<std::pair<int, EventLoop*>> got;
    loops.at(i).post([&] {
      OutboundRequest r;
      r.url = sink.url();
      client.send(std::move(r), [&](OutboundResponse&& resp) { got.set_value({resp.status, EventLoop::current()}); });
    });
    auto [status, loop] = got.get_future().get();
    EXPECT_EQ(status, 200);
    EXPECT_EQ(loop, &loops.at(i));  // no hand-off to another I/O thread
  }
  client.shutdown();
}

// The host's arrangement: the HTTP server's loops send their requests' calls
// themselves; the pipeline's calls run on the client's own loops, never on
// the server's, where they would hold back reading inbound requests.
TEST(HttpClient, SendersLoopsRunTheirOwnRequestsAndOtherThreadsUseTheClientsLoops) {
  test::HttpSink sink;
  EventLoopGroup outbound(2, "test-out-"), inbound(1, "test-in-");
  HttpClient client(outbound, {}, &inbound);
  std::promise<EventLoop*> from_inbound;
  inbound.at(0).post([&] {
    OutboundRequest r;
    r.url = sink.url();
    client.send(std::move(r), [&](OutboundResponse&&) { from_inbound.set_value(EventLoop::current()); });
  });
  EXPECT_EQ(from_inbound.get_future().get(), &inbound.at(0));
  for (int i = 0; i < 4; ++i) {
    std::promise<EventLoop*> from_elsewhere;
    OutboundRequest r;
    r.url = sink.url();
    client.send(std::move(r), [&](OutboundResponse&&) { from_elsewhere.set_value(EventLoop::current()); });
    EventLoop* ran_on = from_elsewhere.get_future().get();
    EXPECT_TRUE(ran_on == &outbound.at(0) || ran_on == &outbound.at(1))
        << "request " << i << " ran off the client's loops";
  }
  client.shutdown();
}

TEST(HttpClient, ResponseHeadersAndBodyArrive) {
  test::HttpSink sink(202, R"({"queued":true})");
  HttpClient client;
  OutboundRequest r;
  r.method = "PUT";
  r.url = sink.url() + "/x?y=1";
  r.headers = {{"Authorization", "Bearer t"}};
  r.body = "payload";
  OutboundResponse resp = send_and_wait(client, r);
  EXPECT_EQ(resp.status, 202);
  EXPECT_EQ(resp.body, R"({"queued":true})");
  bool has_type = false;
  for (const auto& [k, v] : resp.headers) has_type = has_type || (k == "Content-Type" && v == "application/json");
  EXPECT_TRUE(has_type);
  auto got = sink.wait_for(1)[0];
  EXPECT_EQ(got.method, "PUT");
  EXPECT_EQ(got.uri, "/x?y=1");
  EXPECT_EQ(got.headers["authorization"], "Bearer t");
  EXPECT_EQ(got.body, "payload");
}

TEST(HttpClient, ReusedHandlesCarryNothingFromThePreviousRequest) {
  test::HttpSink sink;
  HttpClientOptions options;
  options.max_connections = 1;  // one connection, handles reused in turn
  HttpClient client(options);
  const std::vector<std::pair<std::string, std::string>> sequence = {
      {"POST", "first body"}, {"GET", ""}, {"PUT", "third"}, {"DELETE", ""}, {"GET", ""}};
  for (const auto& [method, body] : sequence) {
    OutboundRequest r;
    r.method = method;
    r.url = sink.url() + "/" + method;
    r.body = body;
    EXPECT_EQ(send_and_wait(client, r).status, 200);
  }
  auto got = sink.wait_for(sequence.size());
  ASSERT_EQ(got.size(), sequence.size());
  for (size_t i = 0; i < sequence.size(); ++i) {
    EXPECT_EQ(got[i].method, sequence[i].first) << i;
    EXPECT_EQ(got[i].body, sequence[i].second) << i;
  }
}

TEST(HttpClient, HeadDoesNotWaitForABody) {
  test::HttpSink sink(200, R"({"a":"body that a HEAD answer announces but never sends"})");
  HttpClient client;
  OutboundRequest r;
  r.method = "HEAD";
  r.url = sink.url() + "/";
  r.timeout = 3s;
  const auto started = std::chrono::steady_clock::now();
  OutboundResponse resp = send_and_wait(client, r);
  EXPECT_EQ(resp.status, 200) << resp.transport_error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(sink.wait_for(1)[0].method, "HEAD");
}

TEST(HttpClient, RefusedConnectionIsATransportError) {
  const test::ClosedPort closed;  // nothing listens there
  const uint16_t port = closed.port();
  HttpClient client;
  OutboundRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  OutboundResponse resp = send_and_wait(client, r);
  EXPECT_EQ(resp.status, 0);
  EXPECT_FALSE(resp.transport_error.empty());
}

TEST(HttpClient, SilentServerTimesOut) {
  Poco::Net::ServerSocket silent(Poco::Net::SocketAddress("127.0.0.1", 0));  // accepts, never answers
  HttpClient client;
  OutboundRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(silent.address().port()) + "/";
  r.timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  OutboundResponse resp = send_and_wait(client, r);
  EXPECT_EQ(resp.status, 0);
  EXPECT_NE(resp.transport_error.find("timed out"), std::string::npos) << resp.transport_error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(HttpClient, OversizedResponseIsRefused) {
  test::HttpSink sink(200, std::string(4096, 'x'));
  HttpClientOptions options;
  options.max_response_bytes = 1024;
  HttpClient client(options);
  OutboundRequest r;
  r.url = sink.url();
  OutboundResponse resp = send_and_wait(client, r);
  EXPECT_EQ(resp.status, 0);
  EXPECT_EQ(resp.transport_error, "response body larger than 1024 bytes");
}

TEST(HttpClient, ShutdownFailsWhatIsInFlight) {
  Poco::Net::ServerSocket silent(Poco::Net::SocketAddress("127.0.0.1", 0));
  std::promise<OutboundResponse> got;
  {
    HttpClient client;
    OutboundRequest r;
    r.url = "http://127.0.0.1:" + std::to_string(silent.address().port()) + "/";
    client.send(std::move(r), [&](OutboundResponse&& resp) { got.set_value(std::move(resp)); });
    std::this_thread::sleep_for(100ms);
  }
  OutboundResponse resp = got.get_future().get();
  EXPECT_EQ(resp.status, 0);
  EXPECT_EQ(resp.transport_error, "client shut down");
}

// An HTTPS server with a certificate for "localhost" signed by the test CA.
class TlsServer {
 public:
  TlsServer() {
    const std::string dir = SB_TEST_CA_DIR;
    auto context = Poco::makeAuto<Poco::Net::Context>(Poco::Net::Context::SERVER_USE, dir + "/server.key",
                                                      dir + "/server.pem", "", Poco::Net::Context::VERIFY_NONE);
    Poco::Net::SecureServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0), 64, context);
    port_ = socket.address().port();
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory, socket, new Poco::Net::HTTPServerParams);
    server_->start();
  }
  ~TlsServer() { server_->stopAll(true); }
  uint16_t port() const { return port_; }

 private:
  struct Handler : Poco::Net::HTTPRequestHandler {
    void handleRequest(Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse& response) override {
      response.setContentLength(6);
      response.send() << "secure";
    }
  };
  struct Factory : Poco::Net::HTTPRequestHandlerFactory {
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
      return new Handler;
    }
  };
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  uint16_t port_ = 0;
};

// GET https://<host>:<port>/ from a client that trusts the test CA or only
// the system store.
OutboundResponse https_get(const std::string& host, uint16_t port, bool trust_test_ca) {
  HttpClientOptions options;
  if (trust_test_ca) options.ca_file = SB_TEST_CA_DIR "/ca.pem";
  HttpClient client(options);
  OutboundRequest r;
  r.method = "GET";
  r.url = "https://" + host + ":" + std::to_string(port) + "/";
  return send_and_wait(client, r);
}

TEST(HttpClient, HttpsWithTheTestCaSucceeds) {
  TlsServer server;
  OutboundResponse resp = https_get("localhost", server.port(), true);
  EXPECT_EQ(resp.status, 200) << resp.transport_error;
  EXPECT_EQ(resp.body, "secure");
}

TEST(HttpClient, HttpsRefusesAnUntrustedCertificate) {
  TlsServer server;
  OutboundResponse resp = https_get("localhost", server.port(), false);  // the test CA is unknown
  EXPECT_EQ(resp.status, 0);
  EXPECT_NE(resp.transport_error.find("certificate"), std::string::npos) << resp.transport_error;
}

TEST(HttpClient, HttpsRefusesAHostNameTheCertificateDoesNotName) {
  TlsServer server;
  OutboundResponse resp = https_get("127.0.0.1", server.port(), true);  // the certificate names only localhost
  EXPECT_EQ(resp.status, 0);
  EXPECT_FALSE(resp.transport_error.empty());
}

}  // namespace
}  // namespace sb
