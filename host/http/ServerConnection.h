// One inbound HTTP/1.1 connection on an event loop: reads and parses
// requests (nodejs http-parser), hands each complete request to the server,
// and writes its answer, one request at a time and in order (pipelined
// requests wait in the buffer).
//
// An answer may come later and from any thread; a request that gets none in
// time is answered 504. Bodies over the limit get 413 and the rest of what
// the client sends is read and dropped before closing, so the client sees the
// 413 rather than a reset connection.
#pragma once

#include <http_parser.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "net/EventLoop.h"

namespace sb {

struct ServerRequest {
  std::string method;
  std::string target;  // as sent: path and query, still percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;
};

struct ServerResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, not framing ones
  bool close = false;                                        // close the connection after this answer
};

// A JSON body with its status.
ServerResponse json_response(int status, const nlohmann::json& body);
// JSON error body {"error":{"code":..,"message":..}}.
ServerResponse error_response(int status, const std::string& code, const std::string& message);
// 405 method_not_allowed with the Allow header RFC 9110 requires ("GET",
// "GET, PATCH"); `message` defaults to "only <allowed> is accepted".
ServerResponse method_not_allowed(const std::string& allowed, const std::string& message = "");

class ServerConnection : public std::enable_shared_from_this<ServerConnection> {
 public:
  // Answers the request it was made for, exactly once, from any thread.
  using Reply = std::function<void(ServerResponse&&)>;
  // What to do with a complete request: answer through `reply`, now or
  // later. The returned function (may be empty) runs on the loop if the
  // request is abandoned unanswered (timeout, connection closed).
  using Abandon = std::function<void()>;
  using RequestHandler = std::function<Abandon(ServerRequest&& request, Reply reply)>;

  struct Settings {
    size_t max_body_bytes = 1 << 20;
    std::chrono::milliseconds response_timeout{30000};
  };

  // Takes `fd` (non-blocking, connected) and starts reading. The connection
  // keeps itself alive until closed; `on_closed` runs on the loop then.
  static std::shared_ptr<ServerConnection> open(EventLoop& loop, int fd, std::string remote_address,
                                                const Settings& settings, const RequestHandler& handler,
                                                std::function<void(ServerConnection*)> on_closed);
  ~ServerConnection();

  // Loop thread only.
  // Between requests, with nothing buffered either way.
  bool idle() const {
    return state_ == State::kReading && in_.size() == in_parsed_ && !in_message_ && out_sent_ == out_.size();
  }
  // Closes the connection when it waited too long for the client: idle past
  // the keep-alive timeout, a request begun but not complete within
  // `request_timeout`, or an answer the client stopped reading. A request
  // being handled is the handler's (its response timeout applies).
  void close_if_stalled(std::chrono::steady_clock::time_point now, std::chrono::seconds keep_alive,
                        std::chrono::seconds request_timeout);
  // Closes now if idle, else after the answer in progress.
  void close_when_idle();
  void close();

  ServerConnection(EventLoop& loop, int fd, std::string remote_address, const Settings& settings,
                   const RequestHandler& handler, std::function<void(ServerConnection*)> on_closed);

 private:
  enum class State { kReading, kHandling, kClosing, kDraining, kClosed };

  void on_ready(uint32_t events);
  void read_available();
  void pump();
  void parse();
  void dispatch();
  void answer(uint64_t sequence, ServerResponse&& response);
  void refuse(ServerResponse&& response);  // answers, then drains and closes
  void write_response(const ServerResponse& response, bool keep_alive);
  void flush();
  void update_interest();
  bool buffer_full() const;
  void start_draining();
  Reply make_reply(uint64_t sequence);

  static const http_parser_settings& parser_settings();
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, size_t n);
  static int on_header_field(http_parser* p, const char* at, size_t n);
  static int on_header_value(http_parser* p, const char* at, size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t n);
  static int on_message_complete(http_parser* p);

  EventLoop& loop_;
  int fd_;
  std::string remote_address_;
  const Settings& settings_;
  const RequestHandler& handler_;
  std::function<void(ServerConnection*)> on_closed_;

  http_parser parser_{};
  State state_ = State::kReading;
  std::string in_;
  size_t in_parsed_ = 0;
  bool in_message_ = false;    // a request has begun and not yet completed
  bool message_done_ = false;  // set by on_message_complete
  bool body_too_large_ = false;
  bool header_value_last_ = false;
  bool keep_alive_ = true;
  bool close_after_answer_ = false;
  bool peer_closed_ = false;
  bool in_pump_ = false;
  bool head_request_ = false;
  bool linger_ = false;  // drain what the client still sends before closing
  ServerRequest request_;

  std::string out_;
  size_t out_sent_ = 0;
  uint32_t interest_ = 0;
  size_t drained_ = 0;

  uint64_t sequence_ = 0;  // of the request being handled; a late reply carries an older one
  Abandon abandon_;
  EventLoop::TimerId response_timer_ = 0;
  EventLoop::TimerId drain_timer_ = 0;
  std::chrono::steady_clock::time_point last_active_;      // last byte read or written
  std::chrono::steady_clock::time_point message_started_;  // of the request being read
};

}  // namespace sb
