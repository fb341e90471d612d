#include "http/TlsClient.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace sb {

namespace {

std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

bool is_ip_address(const std::string& host) {
  unsigned char scratch[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), scratch) == 1 || inet_pton(AF_INET6, host.c_str(), scratch) == 1;
}

}  // namespace

TlsContext::TlsContext(const std::string& ca_file) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) {
    error_ = "cannot create a TLS context: " + openssl_errors();
    return;
  }
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  // As libcurl: a CA file may hold an intermediate that is trusted itself.
  X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx_), X509_V_FLAG_PARTIAL_CHAIN);
  const bool loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_) == 1
                                      : SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) == 1;
  if (!loaded)
    error_ = ca_file.empty() ? "cannot load the system's CA certificates: " + openssl_errors()
                             : "cannot load the CA file " + ca_file + ": " + openssl_errors();
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx_, kAlpn, sizeof kAlpn);
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsStream::TlsStream(const TlsContext& context, const std::string& host) {
  ssl_ = SSL_new(context.get());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_connect_state(ssl_);
  if (is_ip_address(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);  // "f*.example.com" names no host, as with libcurl
    SSL_set1_host(ssl_, host.c_str());
  }
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

TlsStream::Step TlsStream::failed(int ret) {
  const int code = SSL_get_error(ssl_, ret);
  if (code == SSL_ERROR_WANT_READ) return Step::want_read;
  const long verified = SSL_get_verify_result(ssl_);
  if (verified != X509_V_OK) {
    ERR_clear_error();
    error_ = std::string("SSL certificate problem: ") + X509_verify_cert_error_string(verified);
  } else {
    const std::string detail = openssl_errors();
    error_ = "TLS error: " + (detail.empty() ? std::string("the peer ended the session") : detail);
  }
  return Step::failed;
}

// Each call first clears this thread's OpenSSL error queue: a plugin on the
// same loop thread may have left an error there, which SSL_get_error would
// read as this session's.
TlsStream::Step TlsStream::handshake() {
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  return ret == 1 ? Step::done : failed(ret);
}

bool TlsStream::write(const char* data, size_t size) {
  size_t written = 0;
  if (size == 0) return true;
  ERR_clear_error();
  if (SSL_write_ex(ssl_, data, size, &written) == 1 && written == size) return true;
  failed(0);
  return false;
}

void TlsStream::received(const char* data, size_t size) { BIO_write(in_, data, static_cast<int>(size)); }

TlsStream::Step TlsStream::read(std::string& out) {
  char buffer[16 * 1024];
  for (;;) {
    size_t n = 0;
    ERR_clear_error();
    const int ret = SSL_read_ex(ssl_, buffer, sizeof buffer, &n);
    if (ret == 1) {
      out.append(buffer, n);
      continue;
    }
    if (SSL_get_error(ssl_, ret) == SSL_ERROR_ZERO_RETURN) return Step::done;  // close_notify: the body ends
    return failed(ret);
  }
}

void TlsStream::take_output(std::string& out) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(out_, &data);
  if (n <= 0) return;
  out.append(data, static_cast<size_t>(n));
  (void)BIO_reset(out_);
}

}  // namespace sb
