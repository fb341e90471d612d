// The outbound client's HTTP/1.1 on the wire, against a server that plays a
// script: what a provider receives, the answers' framings, a kept-alive
// connection the peer closed, host names, and the proxy the environment
// names.
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <gtest/gtest.h>
#include <strings.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <future>
#include <latch>
#include <mutex>
#include <thread>

#include "http/HttpClient.h"
#include "support/send_and_wait.h"

namespace sb {
namespace {

using namespace std::chrono_literals;

// Accepts connections one after another on 127.0.0.1 and hands each to the
// script, on a thread of its own.
class ScriptedServer {
 public:
  using Script = std::function<void(Poco::Net::StreamSocket&, int connection)>;
  explicit ScriptedServer(Script script)
      : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)), script_(std::move(script)) {
    thread_ = std::thread([this] {
      for (int n = 0; !stopping_; ++n) {
        if (!socket_.poll(Poco::Timespan(0, 20000), Poco::Net::Socket::SELECT_READ)) {
          --n;
          continue;
        }
        Poco::Net::StreamSocket connection = socket_.acceptConnection();
        connections_ = n + 1;
        script_(connection, n);
      }
    });
  }
  ~ScriptedServer() {
    stopping_ = true;
    thread_.join();
  }
  uint16_t port() const { return socket_.address().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  int connections() const { return connections_; }

 private:
  Poco::Net::ServerSocket socket_;
  Script script_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// One request's bytes: its head and the body its Content-Length announces.
std::string read_request(Poco::Net::StreamSocket& s) {
  std::string data;
  char buffer[4096];
  size_t head_end = std::string::npos;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    const int n = s.receiveBytes(buffer, sizeof buffer);
    if (n <= 0) return data;
    data.append(buffer, static_cast<size_t>(n));
  }
  size_t length = 0;
  for (const char* name : {"\r\nContent-Length: ", "\r\ncontent-length: "})
    if (const size_t at = data.find(name); at != std::string::npos && at < head_end)
      length = std::stoul(data.substr(at + std::strlen(name)));
  while (data.size() < head_end + 4 + length) {
    const int n = s.receiveBytes(buffer, sizeof buffer);
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

void answer(Poco::Net::StreamSocket& s, const std::string& bytes) {
  s.sendBytes(bytes.data(), static_cast<int>(bytes.size()));
}

using test::send_and_wait;

TEST(HttpClientWire, ARequestCarriesHostAcceptLengthAndLibcurlsDefaultContentType) {
  std::promise<std::string> seen;
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int) {
    seen.set_value(read_request(s));
    answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  HttpClient client;
  OutboundRequest r;
  r.url = "http://user:p%40ss@127.0.0.1:" + std::to_string(server.port()) + "/send/../api/v1?to=1&x=%20";
  r.headers = {{"X-Trace", "abc"}, {"X-Empty", ""}};
  r.body = "a=1&b=2";
  EXPECT_EQ(send_and_wait(client, r).status, 200);
  const std::string wire = seen.get_future().get();
  EXPECT_EQ(wire.rfind("POST /api/v1?to=1&x=%20 HTTP/1.1\r\n", 0), 0u) << wire;
  EXPECT_NE(wire.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"), std::string::npos) << wire;
  EXPECT_NE(wire.find("\r\nAccept: */*\r\n"), std::string::npos) << wire;
  EXPECT_NE(wire.find("\r\nAuthorization: Basic dXNlcjpwQHNz\r\n"), std::string::npos) << wire;  // user:p@ss
  EXPECT_NE(wire.find("\r\nContent-Type: application/x-www-form-urlencoded\r\n"), std::string::npos) << wire;
  EXPECT_NE(wire.find("\r\nContent-Length: 7\r\n\r\na=1&b=2"), std::string::npos) << wire;
  EXPECT_NE(wire.find("\r\nX-Trace: abc\r\n"), std::string::npos) << wire;
  EXPECT_EQ(wire.find("X-Empty"), std::string::npos) << wire;  // libcurl drops a header without a value too
}

// URLs are parsed once per loop and kept; each request still goes out with
// its own path, query and credentials, past the number kept.
TEST(HttpClientWire, EachRequestCarriesItsOwnUrlWhenManyDifferentUrlsRepeat) {
  std::mutex mutex;
  std::vector<std::string> seen;
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int) {
    for (std::string request; !(request = read_request(s)).empty();) {
      {
        std::lock_guard lock(mutex);
        seen.push_back(request.substr(0, request.find("\r\nAccept")));
      }
      answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
  });
  HttpClient client;
  const std::string port = std::to_string(server.port());
  auto url = [&](int n) {
    return "http://u" + std::to_string(n % 2) + ":p@127.0.0.1:" + port + "/m" + std::to_string(n) +
           "?x=" + std::to_string(n);
  };
  std::vector<int> order;
  for (int n = 0; n < 300; ++n) order.push_back(n);
  for (int n = 0; n < 300; n += 37) order.push_back(n);  // again, some after the kept ones were dropped
  for (const int n : order) {
    OutboundRequest r;
    r.method = "GET";
    r.url = url(n);
    ASSERT_EQ(send_and_wait(client, r).status, 200) << r.url;
  }
  std::lock_guard lock(mutex);
  ASSERT_EQ(seen.size(), order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const int n = order[i];
    const std::string auth = n % 2 ? "dTE6cA==" : "dTA6cA==";  // u1:p, u0:p
    EXPECT_EQ(seen[i], "GET /m" + std::to_string(n) + "?x=" + std::to_string(n) +
                           " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nAuthorization: Basic " + auth)
        << i;
  }
}

TEST(HttpClientWire, ACallersContentTypeAndHostWinAndAGetSendsNoBody) {
  std::promise<std::string> seen;
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int) {
    seen.set_value(read_request(s));
    answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  HttpClient client;
  OutboundRequest r;
  r.method = "GET";
  r.url = server.url() + "/q";
  r.headers = {{"Host", "api.example.com"}, {"Content-Type", "application/json"}};
  r.body = "ignored";
  EXPECT_EQ(send_and_wait(client, r).status, 200);
  const std::string wire = seen.get_future().get();
  EXPECT_EQ(wire.find("127.0.0.1"), std::string::npos) << wire;
  EXPECT_NE(wire.find("\r\nHost: api.example.com\r\n"), std::string::npos) << wire;
  EXPECT_EQ(wire.find("Content-Length"), std::string::npos) << wire;
  EXPECT_EQ(wire.find("ignored"), std::string::npos) << wire;
}

TEST(HttpClientWire, AHeaderWithALineBreakIsRefusedBeforeAnythingIsSent) {
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int) { read_request(s); });
  HttpClient client;
  OutboundRequest r;
  r.url = server.url() + "/";
  r.headers = {{"X-Note", "a\r\nX-Injected: 1"}};
  OutboundResponse resp = send_and_wait(client, r);
  EXPECT_EQ(resp.status, 0);
  EXPECT_NE(resp.transport_error.find("X-Note"), std::string::npos) << resp.transport_error;
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(server.connections(), 0);
}

// A URL libcurl will not read (a password with an unencoded '/') is
// reported by its scheme and host: no password, path or query in the error.
TEST(HttpClientWire, AUrlThatCannotBeReadIsReportedWithoutItsCredentials) {
  HttpClient client;
  OutboundRequest r;
  for (const char* url : {"https://bot:pa/ss@api.example.test:9/send?api_key=k-secret",
                          "https://bot:pa?ss@api.example.test:9/send?api_key=k-secret"}) {
    r.url = url;
    OutboundResponse resp = send_and_wait(client, r);
    EXPECT_EQ(resp.status, 0);
    EXPECT_NE(resp.transport_error.find("URL rejected: https://... is not a valid URL"), std::string::npos)
        << resp.transport_error;
    for (const char* hidden : {"pa/ss", "pa?ss", "k-secret", "bot", "api.example"})
      EXPECT_EQ(resp.transport_error.find(hidden), std::string::npos) << resp.transport_error;
  }
}

TEST(HttpClientWire, ChunkedInterimAndCloseDelimitedAnswersAreRead) {
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int connection) {
    read_request(s);
    if (connection == 0) {
      answer(
          s,
          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Length: 999\r\n"
          "X-Id:  42 \r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
      read_request(s);  // the next request comes on the same connection
    }
    answer(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
    s.shutdown();
  });
  HttpClient client;
  OutboundRequest r;
  r.url = server.url() + "/";
  OutboundResponse chunked = send_and_wait(client, r);
  EXPECT_EQ(chunked.status, 201) << chunked.transport_error;
  EXPECT_EQ(chunked.body, "hello world");
  ASSERT_EQ(chunked.headers.size(), 3u);  // a length beside the chunks is read past, as libcurl does
  EXPECT_EQ(chunked.headers[2], (std::pair<std::string, std::string>("X-Id", "42")));
  OutboundResponse until_close = send_and_wait(client, r);
  EXPECT_EQ(until_close.status, 200) << until_close.transport_error;
  EXPECT_EQ(until_close.body, "until the end");
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientWire, AKeptAliveConnectionThePeerDroppedIsRetriedOnANewOneOnce) {
  std::atomic<int> requests{0};
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int connection) {
    read_request(s);
    ++requests;
    answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
    if (connection == 0) {
      read_request(s);  // read, then dropped unanswered: as a server closing an idle connection at that moment
      ++requests;
      s.close();
    }
  });
  HttpClient client;
  OutboundRequest r;
  r.url = server.url() + "/";
  EXPECT_EQ(send_and_wait(client, r).body, "first");
  OutboundResponse again = send_and_wait(client, r);
  EXPECT_EQ(again.status, 200) << again.transport_error;
  EXPECT_EQ(requests, 3);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClientWire, AnIdleConnectionThePeerClosedIsNotUsedAgain) {
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int) {
    read_request(s);
    answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    s.close();  // with no word in the answer: only the closed socket says it
  });
  HttpClient client;
  OutboundRequest r;
  r.url = server.url() + "/";
  EXPECT_EQ(send_and_wait(client, r).status, 200);
  std::this_thread::sleep_for(100ms);  // the close reaches the client while the connection is idle
  OutboundResponse again = send_and_wait(client, r);
  EXPECT_EQ(again.status, 200) << again.transport_error;
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClientWire, AHostNameResolvesAndEachAddressIsTried) {
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int) {
    read_request(s);
    answer(s, "HTTP/1.1 204 No Content\r\n\r\n");
  });
  HttpClient client;
  OutboundRequest r;
  r.method = "GET";
  // "localhost" may name ::1 first, where nothing listens.
  r.url = "http://localhost:" + std::to_string(server.port()) + "/";
  OutboundResponse resp = send_and_wait(client, r);
  EXPECT_EQ(resp.status, 204) << resp.transport_error;
}

TEST(HttpClientWire, AHostThatDoesNotResolveIsATransportError) {
  HttpClient client;
  OutboundRequest r;
  r.url = "http://no-such-host.invalid/";
  OutboundResponse resp = send_and_wait(client, r);
  EXPECT_EQ(resp.status, 0);
  EXPECT_NE(resp.transport_error.find("resolve"), std::string::npos) << resp.transport_error;
}

TEST(HttpClientWire, AProxyInTheEnvironmentCarriesTheRequests) {
  std::promise<std::string> seen;
  ScriptedServer proxy([&](Poco::Net::StreamSocket& s, int) {
    seen.set_value(read_request(s));
    answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied");
  });
  ::setenv("http_proxy", proxy.url().c_str(), 1);
  OutboundResponse resp;
  {
    HttpClient client;
    OutboundRequest r;
    r.url = "http://provider.invalid/send";
    resp = send_and_wait(client, r);
  }
  ::unsetenv("http_proxy");
  EXPECT_EQ(resp.status, 200) << resp.transport_error;
  EXPECT_EQ(resp.body, "proxied");
  auto request = seen.get_future();
  ASSERT_EQ(request.wait_for(1s), std::future_status::ready);
  EXPECT_EQ(request.get().rfind("POST http://provider.invalid/send HTTP/1.1\r\n", 0), 0u);
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

TEST(HttpClientWire, ANotModifiedWithALengthHasNoBodyToWaitFor) {
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int) {
    read_request(s);
    answer(s, "HTTP/1.1 304 Not Modified\r\nContent-Length: 120\r\nETag: \"v2\"\r\n\r\n");
    read_request(s);  // the connection stays usable
    answer(s, "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n");
  });
  HttpClient client;
  OutboundRequest r;
  r.method = "GET";
  r.url = server.url() + "/";
  r.timeout = 3s;
  OutboundResponse not_modified = send_and_wait(client, r);
  EXPECT_EQ(not_modified.status, 304) << not_modified.transport_error;
  EXPECT_EQ(not_modified.body, "");
  OutboundResponse no_content = send_and_wait(client, r);
  EXPECT_EQ(no_content.status, 204) << no_content.transport_error;
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientWire, AnAnswerBeforeTheWholeBodyWentOutEndsTheConnection) {
  ScriptedServer server([&](Poco::Net::StreamSocket& s, int connection) {
    if (connection == 0) {
      read_request(s);  // a first request: the upload goes on a kept-alive connection
      answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      char head[1024];
      s.receiveBytes(head, sizeof head);  // the head only: the upload is refused before it is read
      answer(s, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
      std::this_thread::sleep_for(300ms);  // the rest of the body must not be taken for the next request
      return;  // closed with the upload unread: the client's sends fail, and the answer stands
    }
    const std::string wire = read_request(s);
    answer(s, wire.rfind("GET /next ", 0) == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                                               : "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  });
  HttpClient client;
  OutboundRequest first;
  first.method = "GET";
  first.url = server.url() + "/first";
  EXPECT_EQ(send_and_wait(client, first).status, 200);
  OutboundRequest big;
  big.url = server.url() + "/upload";
  big.body = std::string(8 << 20, 'x');  // more than the socket buffers hold
  big.timeout = 5s;
  EXPECT_EQ(send_and_wait(client, big).status, 413);
  OutboundRequest next;
  next.method = "GET";
  next.url = server.url() + "/next";
  EXPECT_EQ(send_and_wait(client, next).status, 200);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClientWire, AtTheConnectionLimitTheOldestRequestGoesFirstWhateverItsOrigin) {
  auto slow = [](Poco::Net::StreamSocket& s, int) {
    while (!read_request(s).empty()) {
      std::this_thread::sleep_for(20ms);
      answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
  };
  ScriptedServer campaign(slow);
  ScriptedServer other(slow);
  HttpClientOptions options;
  options.max_connections = 1;
  HttpClient client(options);
  std::mutex mutex;
  std::vector<std::string> order;
  std::latch done(11);
  auto send = [&](const std::string& url, const std::string& name) {
    OutboundRequest r;
    r.url = url;
    client.send(std::move(r), [&, name](OutboundResponse&& resp) {
      EXPECT_EQ(resp.status, 200) << resp.transport_error;
      std::lock_guard lock(mutex);
      order.push_back(name);
      done.count_down();
    });
  };
  for (int i = 0; i < 5; ++i) send(campaign.url() + "/", "campaign-" + std::to_string(i));
  send(other.url() + "/", "other");
  for (int i = 5; i < 10; ++i) send(campaign.url() + "/", "campaign-" + std::to_string(i));
  done.wait();
  const auto at = std::find(order.begin(), order.end(), "other") - order.begin();
  EXPECT_EQ(at, 5) << "the other origin's request waited behind later ones";
}

}  // namespace
}  // namespace sb
