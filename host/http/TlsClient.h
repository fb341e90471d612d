// TLS for outbound connections, on OpenSSL with memory BIOs: the connection
// moves the bytes (send/recv with MSG_NOSIGNAL, on its event loop) and this
// only turns plaintext into records and back, so TLS and plain HTTP share
// one I/O path and no OpenSSL call ever touches the socket.
#pragma once

#include <memory>
#include <string>

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;
using BIO = struct bio_st;

namespace sb {

// The peer verification every connection of a client uses: a CA file, or
// the system's store. Thread-safe once built.
class TlsContext {
 public:
  explicit TlsContext(const std::string& ca_file);  // empty: the system's store
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  // Why no connection can be made (the CA file unreadable), or empty.
  const std::string& error() const { return error_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  std::string error_;
};

// One client session: the handshake, then records in and out.
class TlsStream {
 public:
  enum class Step { done, want_read, failed };

  // Verifies that the certificate names `host` (a DNS name or an IP address).
  TlsStream(const TlsContext& context, const std::string& host);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  Step handshake();
  // Encrypts all of `plaintext` into the records waiting to be sent.
  bool write(const char* data, size_t size);
  // Records received from the peer.
  void received(const char* data, size_t size);
  // Decrypts what it can into `out` (appended); want_read when it needs more.
  Step read(std::string& out);
  // Moves the records waiting to be sent to the end of `out`.
  void take_output(std::string& out);
  // Why the last step failed, in words an operator can act on.
  const std::string& error() const { return error_; }

 private:
  Step failed(int ret);

  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  std::string error_;
};

}  // namespace sb
