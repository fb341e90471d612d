// What runs an HttpClient's requests on one event loop. ConnectionPool does
// it with the host's own HTTP/1.1 connections; CurlDriver with libcurl,
// which the client uses when the environment names an outbound proxy.
#pragma once

#include <memory>

#include "http/HttpClient.h"
#include "net/EventLoop.h"

namespace sb {

struct Transfer {
  OutboundRequest request;
  HttpClient::Callback done;
};

// Runs `t.done` with `response`; what it throws is logged, never passed on.
void deliver(Transfer& t, OutboundResponse&& response);

class ClientDriver {
 public:
  virtual ~ClientDriver() = default;
  virtual EventLoop& loop() = 0;
  // On the loop's thread. The callback comes later, or now when the request
  // cannot start (a bad URL, the client closed).
  virtual void start(std::unique_ptr<Transfer> t) = 0;
  // On the loop's thread: fails what is in flight with "client shut down";
  // later requests fail at once.
  virtual void close() = 0;
};

}  // namespace sb
