// One outbound HTTP/1.1 connection on an event loop: it connects to the
// first address that accepts (Dialer), speaks TLS when given a context, and carries
// one request at a time, kept alive between them. http-parser reads the
// answers. A request costs a send() and a recv() when the connection is
// warm: no poll to ask whether it is still alive (an idle connection
// watches for its peer's close instead) and no change of epoll interest.
#pragma once

#include <http_parser.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "http/Dialer.h"
#include "http/HttpClient.h"
#include "net/EventLoop.h"

namespace sb {

class TlsContext;
class TlsStream;

class OutboundConnection {
 public:
  struct Result {
    OutboundResponse response;  // status 0 and transport_error when it failed
    bool reusable = false;      // the connection may carry another request
    // A kept-alive connection failed before any byte of an answer came: the
    // peer had closed it, and the request is safe to send on a new one.
    bool stale = false;
  };
  // Told what happens on its connection; the owner may destroy the
  // connection inside either call.
  struct Owner {
    virtual void exchanged(OutboundConnection& connection, Result&& result) = 0;
    virtual void closed_while_idle(OutboundConnection& connection) = 0;

   protected:
    ~Owner() = default;
  };

  // `host` is the URL's (for the error texts and for TLS: SNI and the name
  // the certificate must carry). `tls` null: plain HTTP.
  OutboundConnection(EventLoop& loop, Owner& owner, std::string host, uint16_t port,
                     std::vector<SocketAddress> addresses, const TlsContext* tls);
  ~OutboundConnection();  // closes the socket without telling the owner
  OutboundConnection(const OutboundConnection&) = delete;
  OutboundConnection& operator=(const OutboundConnection&) = delete;

  // Sends one request (`wire`: its bytes, which must live until the owner is
  // told). `exchanged` comes later, never from inside this call.
  void send(const std::string& wire, bool head, size_t max_body_bytes);

 private:
  enum class State { connecting, handshaking, exchanging, idle };

  void connect();
  void on_dialed(int fd, int error);
  void on_ready(uint32_t events);
  void on_connected();
  void continue_handshake();
  void start_exchange();
  void flush();
  void receive();
  void parse(const char* data, size_t size);
  void end_of_stream();
  void interest(uint32_t events);
  void fail(std::string error);
  void fail_later(std::string error);
  void complete();

  static const http_parser_settings& parser_settings();
  static int on_header_field(http_parser* p, const char* at, size_t n);
  static int on_header_value(http_parser* p, const char* at, size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t n);
  static int on_message_complete(http_parser* p);

  EventLoop& loop_;
  Owner& owner_;
  const std::string host_;
  const uint16_t port_;
  const std::vector<SocketAddress> addresses_;
  std::unique_ptr<Dialer> dialer_;  // while connecting
  const TlsContext* tls_context_;
  std::unique_ptr<TlsStream> tls_;

  int fd_ = -1;
  uint32_t interest_ = 0;
  State state_ = State::connecting;
  bool used_before_ = false;  // a request was answered on it: a failure before any answer means it had gone stale

  // The request in flight.
  const std::string* wire_ = nullptr;
  bool head_ = false;
  size_t max_body_ = 0;
  std::string out_;  // bytes not yet sent (records, with TLS)
  size_t out_sent_ = 0;
  http_parser parser_{};
  bool answer_started_ = false;
  bool message_done_ = false;
  bool header_value_last_ = false;
  bool too_large_ = false;
  Result result_;
  std::string plaintext_;            // TLS: decrypted bytes not yet parsed
  EventLoop::TimerId deferred_ = 0;  // a failure found inside send(), told from the loop
};

}  // namespace sb
