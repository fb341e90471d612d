#include "http/ServerConnection.h"

#include <Poco/Net/HTTPResponse.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>

#include "log/Logger.h"
#include "util/JsonText.h"

namespace sb {

namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxHeaders = 128;
// After a refused request: how much more of the client's upload is read and
// dropped, and for how long, before the connection is closed anyway.
constexpr size_t kMaxDrainBytes = 4 << 20;
constexpr std::chrono::milliseconds kDrainTimeout{5000};

// "Date:" in RFC 9110 form, formatted at most once a second per thread.
const std::string& http_date() {
  thread_local std::time_t cached_second = 0;
  thread_local std::string cached;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buffer[64];
    const size_t n = std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached.assign(buffer, n);
    cached_second = now;
  }
  return cached;
}

}  // namespace

ServerResponse json_response(int status, const nlohmann::json& body) {
  ServerResponse r;
  r.status = status;
  r.body = dump_text(body);
  return r;
}

ServerResponse error_response(int status, const std::string& code, const std::string& message) {
  return json_response(status, {{"error", {{"code", code}, {"message", message}}}});
}

ServerResponse method_not_allowed(const std::string& allowed, const std::string& message) {
  ServerResponse r =
      error_response(405, "method_not_allowed", message.empty() ? "only " + allowed + " is accepted" : message);
  r.headers.emplace_back("Allow", allowed);
  return r;
}

std::shared_ptr<ServerConnection> ServerConnection::open(EventLoop& loop, int fd, std::string remote_address,
                                                         const Settings& settings, const RequestHandler& handler,
                                                         std::function<void(ServerConnection*)> on_closed) {
  auto c =
      std::make_shared<ServerConnection>(loop, fd, std::move(remote_address), settings, handler, std::move(on_closed));
  c->interest_ = EPOLLIN;
  // The loop's handler owns the connection until close() unwatches it.
  loop.watch(fd, EPOLLIN, [c](uint32_t events) { c->on_ready(events); });
  return c;
}

ServerConnection::ServerConnection(EventLoop& loop, int fd, std::string remote_address, const Settings& settings,
                                   const RequestHandler& handler, std::function<void(ServerConnection*)> on_closed)
    : loop_(loop),
      fd_(fd),
      remote_address_(std::move(remote_address)),
      settings_(settings),
      handler_(handler),
      on_closed_(std::move(on_closed)),
      last_active_(std::chrono::steady_clock::now()) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

ServerConnection::~ServerConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void ServerConnection::close() {
  if (state_ == State::kClosed) return;
  const bool abandoned = state_ == State::kHandling;
  state_ = State::kClosed;
  loop_.cancel(response_timer_);
  loop_.cancel(drain_timer_);
  if (abandoned && abandon_) abandon_();
  abandon_ = nullptr;
  auto self = shared_from_this();  // unwatch drops the loop's reference
  loop_.unwatch(fd_);
  ::close(fd_);
  fd_ = -1;
  if (on_closed_) on_closed_(this);
}

void ServerConnection::close_when_idle() {
  if (idle()) return close();
  close_after_answer_ = true;
}

void ServerConnection::close_if_stalled(std::chrono::steady_clock::time_point now, std::chrono::seconds keep_alive,
                                        std::chrono::seconds request_timeout) {
  switch (state_) {
    case State::kReading:
      if (in_message_ ? now - message_started_ > request_timeout : now - last_active_ > keep_alive) close();
      return;
    case State::kClosing:  // the client stopped reading its answer
      if (now - last_active_ > keep_alive) close();
      return;
    case State::kHandling:  // the response timeout applies
    case State::kDraining:  // has its own timer
    case State::kClosed:
      return;
  }
}

void ServerConnection::on_ready(uint32_t events) {
  if (state_ == State::kClosed) return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_available();
  if (state_ != State::kClosed && (events & EPOLLOUT)) flush();
}

void ServerConnection::read_available() {
  char buffer[kReadChunk];
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) {
      last_active_ = std::chrono::steady_clock::now();
      if (state_ == State::kDraining) {
        drained_ += static_cast<size_t>(n);
        if (drained_ > kMaxDrainBytes) return close();
        continue;
      }
      in_.append(buffer, static_cast<size_t>(n));
      // Parse (or, while a request is handled, stop reading) before the
      // buffer holds more than one request may take.
      if (buffer_full()) break;
      if (static_cast<size_t>(n) < sizeof buffer) break;
      continue;
    }
    if (n == 0) {
      peer_closed_ = true;
      // A request in progress still gets its answer (the client may only
      // have shut down its sending side).
      if (state_ == State::kReading || state_ == State::kDraining) return close();
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return close();
  }
  if (state_ == State::kReading) pump();
  update_interest();
}

// Parses and dispatches buffered requests until one is in progress or the
// buffer holds no complete request.
void ServerConnection::pump() {
  {
    in_pump_ = true;
    struct Reset {
      bool& flag;
      ~Reset() { flag = false; }
    } reset{in_pump_};
    while (state_ == State::kReading && in_parsed_ < in_.size()) {
      parse();
      if (state_ != State::kReading || !message_done_) break;
      dispatch();
    }
  }
  if (state_ == State::kClosed) return;
  in_.erase(0, in_parsed_);  // the parser keeps no pointers into the buffer
  in_parsed_ = 0;
  if (state_ == State::kReading && peer_closed_ && !in_message_) close();
}

void ServerConnection::parse() {
  message_done_ = false;
  const size_t n = http_parser_execute(&parser_, &parser_settings(), in_.data() + in_parsed_, in_.size() - in_parsed_);
  in_parsed_ += n;
  if (state_ == State::kReading && out_sent_ < out_.size()) flush();  // a 100 Continue
  const auto error = HTTP_PARSER_ERRNO(&parser_);
  if (state_ == State::kClosed) return;  // a 100 Continue that could not be sent
  if (error == HPE_PAUSED) {
    http_parser_pause(&parser_, 0);
    // Upgrade and CONNECT are not supported: the request is answered as plain
    // HTTP, and what follows it is another protocol, so the connection ends.
    if (parser_.upgrade) close_after_answer_ = true;
    return;
  }
  if (error == HPE_OK) return;
  if (body_too_large_)
    return refuse(error_response(413, "payload_too_large",
                                 "request body exceeds " + std::to_string(settings_.max_body_bytes) + " bytes"));
  if (error == HPE_HEADER_OVERFLOW || (error == HPE_CB_header_field && request_.headers.size() >= kMaxHeaders))
    return refuse(error_response(431, "headers_too_large", "request headers are too large or too many"));
  refuse(error_response(400, "bad_request", std::string("malformed HTTP request: ") + http_errno_description(error)));
}

void ServerConnection::dispatch() {
  state_ = State::kHandling;
  keep_alive_ = http_should_keep_alive(&parser_) != 0;
  const uint64_t sequence = ++sequence_;
  request_.method = http_method_str(static_cast<http_method>(parser_.method));
  request_.remote_address = remote_address_;
  head_request_ = parser_.method == HTTP_HEAD;
  std::weak_ptr<ServerConnection> weak = weak_from_this();
  response_timer_ = loop_.run_after(settings_.response_timeout, [weak, sequence] {
    auto c = weak.lock();
    if (!c) return;
    c->response_timer_ = 0;
    if (sequence != c->sequence_ || c->state_ != State::kHandling) return;
    if (c->abandon_) c->abandon_();
    c->abandon_ = nullptr;
    c->answer(sequence, error_response(504, "timeout",
                                       "the handler did not answer within " +
                                           std::to_string(c->settings_.response_timeout.count()) + " ms"));
  });
  Abandon abandon;
  try {
    abandon = handler_(std::move(request_), make_reply(sequence));
  } catch (const std::exception& e) {
    log_error("http", "request handler threw", {{"error", e.what()}});
    answer(sequence, error_response(500, "internal_error", "the request could not be handled"));
  }
  // The handler may have answered already (and a next request may be in).
  if (state_ == State::kHandling && sequence == sequence_) abandon_ = std::move(abandon);
}

ServerConnection::Reply ServerConnection::make_reply(uint64_t sequence) {
  std::weak_ptr<ServerConnection> weak = weak_from_this();
  EventLoop* loop = &loop_;
  return [weak, loop, sequence](ServerResponse&& response) {
    if (loop->in_loop_thread()) {
      if (auto c = weak.lock()) c->answer(sequence, std::move(response));
      return;
    }
    auto moved = std::make_shared<ServerResponse>(std::move(response));
    loop->post([weak, sequence, moved] {
      if (auto c = weak.lock()) c->answer(sequence, std::move(*moved));
    });
  };
}

void ServerConnection::answer(uint64_t sequence, ServerResponse&& response) {
  if (state_ != State::kHandling || sequence != sequence_) return;  // late, or the request was abandoned
  loop_.cancel(response_timer_);
  response_timer_ = 0;
  abandon_ = nullptr;
  last_active_ = std::chrono::steady_clock::now();
  const bool keep_alive = keep_alive_ && !response.close && !close_after_answer_ && !peer_closed_;
  write_response(response, keep_alive);
  state_ = keep_alive ? State::kReading : State::kClosing;
  flush();
  if (state_ != State::kReading) return;
  // Answered from inside a plugin's call, perhaps: the next pipelined request
  // is parsed from the loop, not from under the plugin's stack.
  if (!in_pump_ && in_parsed_ < in_.size()) {
    std::weak_ptr<ServerConnection> weak = weak_from_this();
    loop_.post([weak] {
      if (auto c = weak.lock(); c && c->state_ == State::kReading) {
        c->pump();
        c->update_interest();
      }
    });
  }
}

void ServerConnection::refuse(ServerResponse&& response) {
  if (state_ == State::kClosed) return;
  in_parsed_ = in_.size();
  linger_ = true;
  write_response(response, false);
  state_ = State::kClosing;
  flush();
}

void ServerConnection::write_response(const ServerResponse& r, bool keep_alive) {
  const auto status = static_cast<Poco::Net::HTTPResponse::HTTPStatus>(r.status);
  out_ += "HTTP/1.1 ";
  out_ += std::to_string(r.status);
  out_ += ' ';
  out_ += Poco::Net::HTTPResponse::getReasonForStatus(status);
  out_ += "\r\nDate: ";
  out_ += http_date();
  // 204 and 304 have no body, and say nothing about one.
  const bool bodiless = r.status == 204 || r.status == 304;
  if (!bodiless) {
    out_ += "\r\nContent-Type: ";
    out_ += r.content_type.empty() ? "application/octet-stream" : r.content_type;
    out_ += "\r\nContent-Length: ";
    out_ += std::to_string(r.body.size());
  }
  if (!keep_alive)
    out_ += "\r\nConnection: close";
  else if (parser_.http_major == 1 && parser_.http_minor == 0)
    out_ += "\r\nConnection: keep-alive";
  for (const auto& [name, value] : r.headers) {
    out_ += "\r\n";
    out_ += name;
    out_ += ": ";
    out_ += value;
  }
  out_ += "\r\n\r\n";
  if (!head_request_ && !bodiless) out_ += r.body;
}

void ServerConnection::flush() {
  if (state_ == State::kClosed) return;
  while (out_sent_ < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<size_t>(n);
      last_active_ = std::chrono::steady_clock::now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return close();
  }
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
    // A refused request may still be arriving: read the rest before closing.
    if (state_ == State::kClosing) return linger_ || in_parsed_ < in_.size() ? start_draining() : close();
  }
  update_interest();
}

// Unread request bytes make close() send a reset, which can destroy the
// answer before the client reads it: stop sending, then read until the
// client is done (or too much, or too long).
void ServerConnection::start_draining() {
  if (peer_closed_) return close();
  state_ = State::kDraining;
  ::shutdown(fd_, SHUT_WR);
  std::weak_ptr<ServerConnection> weak = weak_from_this();
  drain_timer_ = loop_.run_after(kDrainTimeout, [weak] {
    if (auto c = weak.lock()) {
      c->drain_timer_ = 0;
      c->close();
    }
  });
  update_interest();
}

bool ServerConnection::buffer_full() const {
  return in_.size() - in_parsed_ > settings_.max_body_bytes + HTTP_MAX_HEADER_SIZE;
}

void ServerConnection::update_interest() {
  if (state_ == State::kClosed) return;
  uint32_t wanted = 0;
  // After the client's end of stream, EPOLLIN would report it forever.
  if (!peer_closed_ && (state_ == State::kDraining || !buffer_full())) wanted |= EPOLLIN;
  if (out_sent_ < out_.size()) wanted |= EPOLLOUT;
  if (wanted != interest_) {
    loop_.modify(fd_, wanted);
    interest_ = wanted;
  }
}

// ---- http-parser callbacks: they fill request_ -----------------------------

int ServerConnection::on_message_begin(http_parser* p) {
  auto* c = static_cast<ServerConnection*>(p->data);
  c->request_ = ServerRequest{};
  c->in_message_ = true;
  c->head_request_ = false;
  c->message_started_ = std::chrono::steady_clock::now();
  c->body_too_large_ = false;
  c->header_value_last_ = false;
  return 0;
}

int ServerConnection::on_url(http_parser* p, const char* at, size_t n) {
  static_cast<ServerConnection*>(p->data)->request_.target.append(at, n);
  return 0;
}

int ServerConnection::on_header_field(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<ServerConnection*>(p->data);
  auto& headers = c->request_.headers;
  if (headers.empty() || c->header_value_last_) {
    if (headers.size() >= kMaxHeaders) return -1;
    headers.emplace_back();
  }
  c->header_value_last_ = false;
  headers.back().first.append(at, n);
  return 0;
}

int ServerConnection::on_header_value(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<ServerConnection*>(p->data);
  c->header_value_last_ = true;
  c->request_.headers.back().second.append(at, n);
  return 0;
}

int ServerConnection::on_headers_complete(http_parser* p) {
  auto* c = static_cast<ServerConnection*>(p->data);
  const bool has_length = (p->flags & F_CONTENTLENGTH) != 0;
  if (has_length && p->content_length > c->settings_.max_body_bytes) {
    c->body_too_large_ = true;
    return -1;
  }
  if (has_length) c->request_.body.reserve(p->content_length);
  // A field's value has no whitespace at its end (RFC 9110 5.5): a
  // signature's timestamp sent as "1796612528 " is that number.
  for (auto& [name, value] : c->request_.headers) {
    const size_t end = value.find_last_not_of(" \t");
    value.erase(end == std::string::npos ? 0 : end + 1);
  }
  // A client that waits for "100 Continue" before its body gets it now: the
  // size was acceptable.
  // Queued here, sent when the parser returns (see parse()).
  for (const auto& [name, value] : c->request_.headers)
    if (strcasecmp(name.c_str(), "expect") == 0 && strcasecmp(value.c_str(), "100-continue") == 0)
      c->out_ += "HTTP/1.1 100 Continue\r\n\r\n";
  return 0;
}

int ServerConnection::on_body(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<ServerConnection*>(p->data);
  if (c->request_.body.size() + n > c->settings_.max_body_bytes) {
    c->body_too_large_ = true;
    return -1;
  }
  c->request_.body.append(at, n);
  return 0;
}

int ServerConnection::on_message_complete(http_parser* p) {
  auto* c = static_cast<ServerConnection*>(p->data);
  c->in_message_ = false;
  c->message_done_ = true;
  http_parser_pause(p, 1);  // one request at a time: the rest stays buffered
  return 0;
}

const http_parser_settings& ServerConnection::parser_settings() {
  static const http_parser_settings settings = [] {
    http_parser_settings s{};
    s.on_message_begin = on_message_begin;
    s.on_url = on_url;
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  return settings;
}

}  // namespace sb
