#include "http/OutboundConnection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "http/TlsClient.h"

namespace sb {

namespace {

constexpr size_t kReadChunk = 16 * 1024;
std::string trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

OutboundConnection::OutboundConnection(EventLoop& loop, Owner& owner, std::string host, uint16_t port,
                                       std::vector<SocketAddress> addresses, const TlsContext* tls)
    : loop_(loop),
      owner_(owner),
      host_(std::move(host)),
      port_(port),
      addresses_(std::move(addresses)),
      tls_context_(tls) {}

OutboundConnection::~OutboundConnection() {
  loop_.cancel(deferred_);
  if (fd_ >= 0) {
    loop_.unwatch(fd_);
    ::close(fd_);
  }
}

void OutboundConnection::send(const std::string& wire, bool head, size_t max_body_bytes) {
  wire_ = &wire;
  head_ = head;
  max_body_ = max_body_bytes;
  result_ = Result{};
  answer_started_ = message_done_ = header_value_last_ = too_large_ = false;
  http_parser_init(&parser_, HTTP_RESPONSE);
  parser_.allow_chunked_length = 1;  // both framings: the chunks win, as with libcurl
  parser_.data = this;
  if (fd_ < 0) return connect();
  if (state_ == State::idle) start_exchange();
}

void OutboundConnection::connect() {
  state_ = State::connecting;
  dialer_ = std::make_unique<Dialer>(loop_, addresses_, [this](int fd, int error) { on_dialed(fd, error); });
  dialer_->start();
}

void OutboundConnection::on_dialed(int fd, int error) {
  dialer_.reset();
  if (fd < 0)
    return fail("Failed to connect to " + host_ + " port " + std::to_string(port_) + ": " +
                (error ? std::strerror(error) : "no address"));
  try {
    loop_.watch(fd, EPOLLIN, [this](uint32_t events) { on_ready(events); });
  } catch (const std::exception& e) {  // epoll refused the socket
    ::close(fd);
    return fail(std::string("cannot watch the socket: ") + e.what());
  }
  fd_ = fd;
  interest_ = EPOLLIN;
  on_connected();
}

void OutboundConnection::on_ready(uint32_t events) {
  switch (state_) {
    case State::connecting:  // the dialer watches its sockets
      return;
    case State::idle: {
      // Anything from the peer while no request is out (its close, mostly)
      // ends the connection: it cannot carry a request any more.
      char probe;
      const ssize_t n = ::recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return owner_.closed_while_idle(*this);
    }
    case State::handshaking:
    case State::exchanging:
      if (events & EPOLLOUT) flush();
      if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) receive();
      return;
  }
}

void OutboundConnection::on_connected() {
  if (!tls_context_) return start_exchange();
  tls_ = std::make_unique<TlsStream>(*tls_context_, host_);
  state_ = State::handshaking;
  continue_handshake();
}

void OutboundConnection::continue_handshake() {
  const TlsStream::Step step = tls_->handshake();
  tls_->take_output(out_);
  if (step == TlsStream::Step::failed) return fail(tls_->error());
  if (step == TlsStream::Step::done) return start_exchange();
  flush();  // the hello, or the next flight; then the peer's answer
}

void OutboundConnection::start_exchange() {
  state_ = State::exchanging;
  if (tls_) {
    if (!tls_->write(wire_->data(), wire_->size())) return fail_later(tls_->error());
    tls_->take_output(out_);
  } else {
    out_.append(*wire_);
  }
  flush();
}

// Sends what is waiting; watches for writability only while some is left.
void OutboundConnection::flush() {
  while (out_sent_ < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return interest(EPOLLIN | EPOLLOUT);
    result_.stale = used_before_;
    return fail_later(std::string("Send failure: ") + std::strerror(errno));
  }
  out_.clear();
  out_sent_ = 0;
  interest(EPOLLIN);
}

void OutboundConnection::receive() {
  char buffer[kReadChunk];
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n == 0) return end_of_stream();
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      result_.stale = used_before_ && !answer_started_;
      return fail(std::string("Recv failure: ") + std::strerror(errno));
    }
    if (tls_) {
      tls_->received(buffer, static_cast<size_t>(n));
      if (state_ == State::handshaking) return continue_handshake();
      plaintext_.clear();
      const TlsStream::Step step = tls_->read(plaintext_);
      tls_->take_output(out_);  // a key update, or an alert
      if (!plaintext_.empty()) parse(plaintext_.data(), plaintext_.size());
      if (step == TlsStream::Step::done) result_.reusable = false;  // the peer ended the session with the answer
      if (message_done_ || !result_.response.transport_error.empty()) return complete();
      if (step == TlsStream::Step::failed) return fail(tls_->error());
      if (step == TlsStream::Step::done) return end_of_stream();
      if (!out_.empty()) flush();
    } else {
      parse(buffer, static_cast<size_t>(n));
      if (message_done_ || !result_.response.transport_error.empty()) return complete();
    }
    // Level-triggered: a short read means the socket is drained for now.
    if (static_cast<size_t>(n) < sizeof buffer) return;
  }
}

void OutboundConnection::parse(const char* data, size_t size) {
  answer_started_ = true;
  const size_t parsed = http_parser_execute(&parser_, &parser_settings(), data, size);
  if (message_done_) {
    // Bytes after the answer: nothing was asked for them, so the
    // connection's framing cannot be trusted for another request.
    if (parsed < size) result_.reusable = false;
    return;
  }
  if (too_large_) {
    result_.response.transport_error = "response body larger than " + std::to_string(max_body_) + " bytes";
    return;
  }
  if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK)
    result_.response.transport_error =
        std::string("malformed HTTP response: ") + http_errno_description(HTTP_PARSER_ERRNO(&parser_));
}

void OutboundConnection::end_of_stream() {
  if (state_ == State::handshaking) return fail("TLS error: the peer closed the connection during the handshake");
  if (answer_started_ && !message_done_) {
    // An answer without a length ends where the connection does.
    http_parser_execute(&parser_, &parser_settings(), nullptr, 0);
    if (message_done_) {
      result_.reusable = false;
      return complete();
    }
  }
  if (message_done_) return complete();
  result_.stale = used_before_ && !answer_started_;
  fail(answer_started_ ? "the connection closed before the response ended" : "Empty reply from server");
}

void OutboundConnection::interest(uint32_t events) {
  if (events == interest_) return;
  interest_ = events;
  loop_.modify(fd_, events);
}

void OutboundConnection::fail(std::string error) {
  loop_.cancel(deferred_);
  deferred_ = 0;
  result_.response.status = 0;
  result_.response.headers.clear();
  result_.response.body.clear();
  result_.response.transport_error = std::move(error);
  result_.reusable = false;
  result_.stale = result_.stale && !answer_started_;  // once the peer began to answer, it read the request
  Result result = std::move(result_);  // the owner may send the next request at once, which resets result_
  owner_.exchanged(*this, std::move(result));
}

void OutboundConnection::fail_later(std::string error) {
  loop_.cancel(deferred_);
  deferred_ = loop_.run_after(std::chrono::milliseconds(0), [this, error = std::move(error)]() mutable {
    deferred_ = 0;
    fail(std::move(error));
  });
}

void OutboundConnection::complete() {
  if (!message_done_) return fail(std::move(result_.response.transport_error));
  loop_.cancel(deferred_);
  deferred_ = 0;
  result_.response.status = parser_.status_code;
  result_.stale = false;  // a send that failed after the peer had answered
  for (auto& [name, value] : result_.response.headers) value = trimmed(value);  // trailers too
  if (out_sent_ < out_.size()) {
    // Answered before the whole request went out (a 413, a 401): the rest
    // would reach the peer ahead of the next request.
    result_.reusable = false;
  }
  out_.clear();
  out_sent_ = 0;
  interest(EPOLLIN);
  state_ = State::idle;
  used_before_ = true;
  wire_ = nullptr;
  Result result = std::move(result_);
  owner_.exchanged(*this, std::move(result));
}

const http_parser_settings& OutboundConnection::parser_settings() {
  static const http_parser_settings settings = [] {
    http_parser_settings s{};
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  return settings;
}

int OutboundConnection::on_header_field(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<OutboundConnection*>(p->data);
  auto& headers = c->result_.response.headers;
  if (headers.empty() || c->header_value_last_) headers.emplace_back();
  headers.back().first.append(at, n);
  c->header_value_last_ = false;
  return 0;
}

int OutboundConnection::on_header_value(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<OutboundConnection*>(p->data);
  auto& headers = c->result_.response.headers;
  if (headers.empty()) return 0;
  headers.back().second.append(at, n);
  c->header_value_last_ = true;
  return 0;
}

int OutboundConnection::on_headers_complete(http_parser* p) {
  auto* c = static_cast<OutboundConnection*>(p->data);
  // 1: no body, whatever Content-Length says (RFC 9110 6.4.1): the answer
  // to a HEAD, an interim 1xx, 204 and 304.
  const unsigned status = p->status_code;
  return c->head_ || status / 100 == 1 || status == 204 || status == 304 ? 1 : 0;
}

int OutboundConnection::on_body(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<OutboundConnection*>(p->data);
  auto& body = c->result_.response.body;
  if (body.size() + n > c->max_body_) {
    c->too_large_ = true;
    return 1;  // stops the parser
  }
  body.append(at, n);
  return 0;
}

int OutboundConnection::on_message_complete(http_parser* p) {
  auto* c = static_cast<OutboundConnection*>(p->data);
  if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) {
    // An interim answer (100 Continue, 103 Early Hints): the real one follows.
    c->result_.response.headers.clear();
    c->header_value_last_ = false;
    return 0;
  }
  c->message_done_ = true;
  c->result_.reusable = http_should_keep_alive(p) != 0 && !p->upgrade;
  http_parser_pause(p, 1);
  return 0;
}

}  // namespace sb
