// The event-loop HTTP server over real sockets: keep-alive and pipelining,
// chunked bodies, 100-continue, limits (413 that the client can read, 431),
// malformed requests, answers from other threads, 504 and late answers,
// idle timeouts, the connection limit and a graceful stop.
#include <Poco/Net/StreamSocket.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "http/HttpServer.h"
#include "http/WebhookRoutes.h"
#include "metrics/Metrics.h"
#include "net/EventLoop.h"

namespace sb {
namespace {

using namespace std::chrono_literals;

struct RawResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
  bool closed = false;  // the server closed the connection instead
};

// A client that writes exactly the bytes a test gives it.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(Poco::Net::SocketAddress("127.0.0.1", port)) {
    socket_.setReceiveTimeout(Poco::Timespan(5, 0));
  }
  void send(const std::string& bytes) { socket_.sendBytes(bytes.data(), static_cast<int>(bytes.size())); }
  void shutdown_send() { socket_.shutdownSend(); }

  RawResponse read_response() {
    RawResponse r;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return closed();
    r.head = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 4);
    r.status = std::stoi(r.head.substr(9, 3));
    size_t length = 0;
    if (auto pos = lower(r.head).find("content-length: "); pos != std::string::npos)
      length = std::stoul(r.head.substr(pos + 16));
    if (!skip_body_)
      while (buffer_.size() < length)
        if (!fill()) return closed();
    if (!skip_body_) {
      r.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    }
    return r;
  }
  // The next response is to a HEAD request: no body follows its headers.
  void expect_no_body(bool v) { skip_body_ = v; }
  // True when the server closed the connection (reads 0 bytes).
  bool closed_by_server() {
    try {
      char c;
      return socket_.receiveBytes(&c, 1) == 0;
    } catch (const Poco::Exception&) {
      return false;
    }
  }

 private:
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  bool fill() {
    char chunk[4096];
    const int n = socket_.receiveBytes(chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  RawResponse closed() {
    RawResponse r;
    r.closed = true;
    return r;
  }
  Poco::Net::StreamSocket socket_;
  std::string buffer_;
  bool skip_body_ = false;
};

std::string post(const std::string& path, const std::string& body, const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         extra_headers + "\r\n" + body;
}

// A server on two loops with one webhook route, /webhooks/echo, whose
// behaviour each test chooses.
class HttpServerTest : public ::testing::Test {
 protected:
  enum class Mode { kEcho, kEchoHeaders, kAnswerLaterFromAnotherThread, kNeverAnswer, kNoContent, kThrow };

  void start(HttpServerConfig config = {}) {
    routes_.add("/webhooks/echo", WebhookRoute{"echo", this, &HttpServerTest::on_request, this});
    // GET /api/v1/plugins throws: a handler that fails must not stall the connection.
    auto plugins = []() -> nlohmann::json { throw std::runtime_error("catalog unavailable"); };
    server_ = std::make_unique<HttpServer>(loops_, "127.0.0.1", 0, config, routes_, metrics_,
                                           HttpServer::Handlers{plugins, {}});
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->stop();
    for (auto& t : threads_) t.join();
  }
  uint16_t port() const { return server_->port(); }

  bool respond(uint64_t id, std::string body, int status = 200) {
    WebhookResponse r;
    r.status = status;
    r.content_type = "text/plain";
    r.body = std::move(body);
    return routes_.respond(id, this, std::move(r));
  }

  static void on_request(void* user, const sb_inbound_request* in, sb_responder* responder) {
    auto* self = static_cast<HttpServerTest*>(user);
    const auto id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(responder));
    self->seen_on_loop_ = EventLoop::current() != nullptr;
    self->last_id_ = id;
    std::string body(in->body.ptr, in->body.len);
    switch (self->mode_) {
      case Mode::kEcho:
        self->respond(id, std::string(in->method.ptr, in->method.len) + " " + body);
        break;
      case Mode::kEchoHeaders: {  // each header as "name=[value]", a line each
        std::string seen;
        for (size_t i = 0; i < in->header_count; ++i)
          seen += std::string(in->headers[i].name.ptr, in->headers[i].name.len) + "=[" +
                  std::string(in->headers[i].value.ptr, in->headers[i].value.len) + "]\n";
        self->respond(id, seen);
        break;
      }
      case Mode::kAnswerLaterFromAnotherThread:
        self->threads_.emplace_back([self, id, body] {
          std::this_thread::sleep_for(100ms);
          self->respond(id, "later " + body);
        });
        break;
      case Mode::kNeverAnswer:
        break;
      case Mode::kNoContent:
        self->respond(id, "ignored", 204);
        break;
      case Mode::kThrow:  // as a plugin's C++ exception that escaped its C handler
        throw std::runtime_error("the handler failed");
    }
  }

  EventLoopGroup loops_{2};
  WebhookRoutes routes_;
  Metrics metrics_;
  std::unique_ptr<HttpServer> server_;
  Mode mode_ = Mode::kEcho;
  std::atomic<uint64_t> last_id_{0};
  std::atomic<bool> seen_on_loop_{false};
  std::vector<std::thread> threads_;
};

// A header's value has no whitespace at its ends (RFC 9110): a signature's
// timestamp sent as "1796612528 " is that number.
TEST_F(HttpServerTest, AHeadersValueIsTrimmed) {
  start();
  mode_ = Mode::kEchoHeaders;
  RawClient client(port());
  client.send(
      "POST /webhooks/echo HTTP/1.1\r\nHost: x\r\nwebhook-timestamp: 1796612528 \t\r\nContent-Length: 0\r\n\r\n");
  const RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("=[1796612528]"), std::string::npos) << r.body;
}

TEST_F(HttpServerTest, KeepAliveConnectionServesRequestsInTurn) {
  start();
  RawClient client(port());
  for (int i = 0; i < 3; ++i) {
    client.send(post("/webhooks/echo", "n" + std::to_string(i)));
    RawResponse r = client.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "POST n" + std::to_string(i));
    EXPECT_NE(r.head.find("Content-Type: text/plain"), std::string::npos);
    EXPECT_NE(r.head.find("Date: "), std::string::npos);
  }
  EXPECT_TRUE(seen_on_loop_);  // the handler ran on an event-loop thread
}

// A handler that throws is answered 500 at once, not left to the caller's
// timeout, and the connection serves the next request.
TEST_F(HttpServerTest, AHandlerThatThrowsIsAnswered500AndTheConnectionGoesOn) {
  mode_ = Mode::kThrow;
  start();
  RawClient client(port());
  client.send(post("/webhooks/echo", "x"));
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":{"code":"internal","message":"the webhook's plugin failed"}})");
  mode_ = Mode::kEcho;
  client.send(post("/webhooks/echo", "y"));
  EXPECT_EQ(client.read_response().body, "POST y");
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  RawClient client(port());
  client.send(post("/webhooks/echo", "first") + post("/webhooks/echo", "second") +
              "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(client.read_response().body, "POST first");
  EXPECT_EQ(client.read_response().body, "POST second");
  EXPECT_EQ(client.read_response().body, R"({"status":"ok"})");
}

TEST_F(HttpServerTest, PipelinedRequestsWaitForALateAnswer) {
  mode_ = Mode::kAnswerLaterFromAnotherThread;
  start();
  RawClient client(port());
  client.send(post("/webhooks/echo", "a") + post("/webhooks/echo", "b"));
  EXPECT_EQ(client.read_response().body, "later a");
  EXPECT_EQ(client.read_response().body, "later b");
}

TEST_F(HttpServerTest, ChunkedBodyIsReassembled) {
  start();
  RawClient client(port());
  client.send(
      "POST /webhooks/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST hello world");
}

TEST_F(HttpServerTest, OversizedBodyGets413ThatTheClientCanRead) {
  HttpServerConfig config;
  config.max_body_bytes = 1024;
  start(config);
  RawClient client(port());
  const std::string request = post("/webhooks/echo", std::string(256 * 1024, 'x'));
  client.send(request.substr(0, 64 * 1024));
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find(R"("code":"payload_too_large")"), std::string::npos);
  EXPECT_NE(r.body.find("1024 bytes"), std::string::npos);
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  // The server keeps reading (and dropping) the upload: had it closed with
  // unread data, the kernel would reset the connection and this send, or
  // the read of the close, would fail.
  client.send(request.substr(64 * 1024));
  client.shutdown_send();
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(HttpServerTest, OversizedChunkedBodyGets413) {
  HttpServerConfig config;
  config.max_body_bytes = 8;
  start(config);
  RawClient client(port());
  client.send(
      "POST /webhooks/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n");
  EXPECT_EQ(client.read_response().status, 413);
}

TEST_F(HttpServerTest, ExpectContinueGetsContinueThenTheAnswer) {
  start();
  RawClient client(port());
  client.send("POST /webhooks/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(client.read_response().status, 100);
  client.send("body");
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST body");
}

TEST_F(HttpServerTest, MalformedRequestsGetSpecificErrors) {
  start();
  {
    RawClient client(port());
    client.send("NOT AN HTTP REQUEST\r\n\r\n");
    RawResponse r = client.read_response();
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("malformed HTTP request"), std::string::npos);
  }
  {
    RawClient client(port());
    client.send("GET /healthz HTTP/1.1\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n");
    EXPECT_EQ(client.read_response().status, 431);
  }
  {
    RawClient client(port());
    client.send("GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n");
    RawResponse r = client.read_response();
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("malformed request path"), std::string::npos);
  }
}

TEST_F(HttpServerTest, HeadSendsHeadersWithoutTheBody) {
  start();
  RawClient client(port());
  client.send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  client.expect_no_body(true);
  RawResponse head = client.read_response();
  EXPECT_EQ(head.status, 200);
  EXPECT_NE(head.head.find("Content-Length: 15"), std::string::npos);
  // Had the body been sent, it would be read as the next response's start.
  client.expect_no_body(false);
  client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(client.read_response().body, R"({"status":"ok"})");
}

TEST_F(HttpServerTest, AnswerFromAnotherThreadReachesTheClient) {
  mode_ = Mode::kAnswerLaterFromAnotherThread;
  start();
  RawClient client(port());
  client.send(post("/webhooks/echo", "x"));
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "later x");
}

TEST_F(HttpServerTest, UnansweredRequestGets504AndALateAnswerIsDropped) {
  mode_ = Mode::kNeverAnswer;
  HttpServerConfig config;
  config.response_timeout_ms = 100;
  start(config);
  RawClient client(port());
  client.send(post("/webhooks/echo", "x"));
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("did not answer within 100 ms"), std::string::npos);
  EXPECT_FALSE(respond(last_id_, "too late"));  // the id was closed with the request
  // The connection still serves.
  client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(client.read_response().status, 200);
}

TEST_F(HttpServerTest, Http10WithoutKeepAliveIsClosedAfterTheAnswer) {
  start();
  RawClient client(port());
  client.send("GET /healthz HTTP/1.0\r\n\r\n");
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionsAreClosed) {
  HttpServerConfig config;
  config.keep_alive_timeout_s = 1;
  start(config);
  RawClient client(port());
  client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(client.read_response().status, 200);
  const auto before = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_GE(std::chrono::steady_clock::now() - before, 900ms);
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitAreClosed) {
  HttpServerConfig config;
  config.max_connections = 2;
  start(config);
  RawClient a(port()), b(port());
  for (RawClient* c : {&a, &b}) {
    c->send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(c->read_response().status, 200);
  }
  RawClient third(port());
  EXPECT_TRUE(third.closed_by_server());
  EXPECT_EQ(metrics_.prometheus_text().find("switchboard_http_connections_refused_total 1") != std::string::npos, true);
}

TEST_F(HttpServerTest, StopLetsTheRequestInProgressFinish) {
  mode_ = Mode::kAnswerLaterFromAnotherThread;
  start();
  RawClient busy(port()), idle(port());
  idle.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(idle.read_response().status, 200);
  busy.send(post("/webhooks/echo", "in progress"));
  while (last_id_ == 0) std::this_thread::sleep_for(1ms);
  server_->stop();
  RawResponse r = busy.read_response();
  EXPECT_EQ(r.body, "later in progress");
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(idle.closed_by_server());
}

TEST_F(HttpServerTest, HalfClosedClientGetsItsAnswerWithoutTheLoopSpinning) {
  mode_ = Mode::kAnswerLaterFromAnotherThread;
  start();
  RawClient client(port());
  client.send(post("/webhooks/echo", "x"));
  client.shutdown_send();  // end of stream while the answer is pending
  const auto cpu_before = std::clock();
  RawResponse r = client.read_response();
  const double cpu_ms = 1000.0 * static_cast<double>(std::clock() - cpu_before) / CLOCKS_PER_SEC;
  EXPECT_EQ(r.body, "later x");
  EXPECT_TRUE(client.closed_by_server());
  // The answer took 100 ms; a loop woken by the end of stream over and over
  // would have burnt about as much CPU.
  EXPECT_LT(cpu_ms, 50.0);
}

TEST_F(HttpServerTest, IncompleteRequestIsCutOffAfterTheRequestTimeout) {
  HttpServerConfig config;
  config.request_timeout_s = 1;
  config.keep_alive_timeout_s = 60;
  start(config);
  RawClient client(port());
  client.send("POST /webhooks/echo HTTP/1.1\r\nHost: t\r\nContent-Le");  // and then nothing
  const auto before = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_GE(std::chrono::steady_clock::now() - before, 900ms);
}

TEST_F(HttpServerTest, FailingHandlerAnswers500AndTheConnectionGoesOn) {
  start();
  RawClient client(port());
  client.send("GET /api/v1/plugins HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  RawResponse failed = client.read_response();
  EXPECT_EQ(failed.status, 500);
  EXPECT_EQ(failed.body.find("catalog unavailable"), std::string::npos);  // details go to the log only
  EXPECT_EQ(client.read_response().status, 200);
}

TEST_F(HttpServerTest, NoContentAnswerHasNoBodyOrLength) {
  mode_ = Mode::kNoContent;
  start();
  RawClient client(port());
  client.send(post("/webhooks/echo", "x") + "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.head.find("Content-Length"), std::string::npos);
  EXPECT_EQ(client.read_response().body, R"({"status":"ok"})");  // no stray body bytes in between
}

TEST_F(HttpServerTest, ErrorAfterAHeadRequestStillCarriesItsBody) {
  HttpServerConfig config;
  config.max_body_bytes = 4;
  start(config);
  RawClient client(port());
  client.send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  client.expect_no_body(true);
  EXPECT_EQ(client.read_response().status, 200);
  client.expect_no_body(false);
  client.send(post("/webhooks/echo", "too long"));
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("payload_too_large"), std::string::npos);
}

TEST_F(HttpServerTest, UpgradeRequestIsAnsweredAsHttpAndClosed) {
  start();
  RawClient client(port());
  client.send(
      "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
      "\x81\x05hello");
  RawResponse r = client.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(client.closed_by_server());
}

}  // namespace
}  // namespace sb
