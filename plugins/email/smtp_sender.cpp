#include "smtp_sender.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <regex>

namespace email {

struct SmtpSender::Job {
  Envelope envelope;
  Done done;
  CURL* easy = nullptr;
  curl_slist* recipients = nullptr;
  size_t offset = 0;                 // how much of envelope.data curl has read
  bool fresh = false;                // on a new connection: the kept one was found closed
  std::vector<std::string> replies;  // the server's last reply lines
  char error[CURL_ERROR_SIZE] = {};

  ~Job() {
    if (recipients) curl_slist_free_all(recipients);
    if (easy) curl_easy_cleanup(easy);
  }
};

namespace {

size_t read_body(char* buffer, size_t size, size_t count, void* user) {
  auto* job = static_cast<SmtpSender::Job*>(user);
  const size_t n = std::min(size * count, job->envelope.data.size() - job->offset);
  std::memcpy(buffer, job->envelope.data.data() + job->offset, n);
  job->offset += n;
  return n;
}

// Keeps the server's last reply lines. Only what the server sent (HEADER_IN):
// what the client sent includes the AUTH exchange, which holds the password.
int on_debug(CURL*, curl_infotype type, char* data, size_t size, void* user) {
  if (type != CURLINFO_HEADER_IN) return 0;
  std::string line(data, size);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.empty()) return 0;
  auto& replies = static_cast<SmtpSender::Job*>(user)->replies;
  if (replies.size() == 32) replies.erase(replies.begin());  // a refusal explained over many lines, and QUIT's
  replies.push_back(std::move(line));
  return 0;
}

// curl takes the EHLO name from the URL's path.
std::string url_of(const SmtpSettings& s) {
  return std::string(s.security == "tls" ? "smtps://" : "smtp://") + s.host + ":" + std::to_string(s.port) +
         (s.helo_name.empty() ? "" : "/" + s.helo_name);
}

// "550 5.1.1 <x@y>: ..." → "5.1.1"; "" when the reply has no enhanced code (RFC 3463).
std::string enhanced_code(const std::string& reply) {
  static const std::regex pattern(R"(^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b)");
  std::smatch match;
  return std::regex_search(reply, match, pattern) ? match[1].str() : "";
}

}  // namespace

std::string deciding_reply(const std::vector<std::string>& replies, long reply_code) {
  // The reply that decided: curl sends QUIT after a refusal, so it is not
  // always the last line. All its lines ("550-5.1.1 ...", "550 5.1.1 ..."):
  // a server explains on the first ones, one line of text here.
  const std::string code = std::to_string(reply_code);
  const auto of_it = [&](const std::string& line) {
    return line.size() > code.size() && line.compare(0, code.size(), code) == 0 &&
           (line[code.size()] == ' ' || line[code.size()] == '-');
  };
  auto last = std::find_if(replies.rbegin(), replies.rend(), of_it);
  if (last == replies.rend()) return "";
  auto first = last;
  while (std::next(first) != replies.rend() && of_it(*std::next(first)) && (*std::next(first))[code.size()] == '-')
    ++first;
  std::string reply = code + " ";
  const std::string enhanced = enhanced_code(*last);
  for (auto line = first;; --line) {
    std::string text = line->substr(code.size() + 1);
    if (!enhanced.empty() && text.compare(0, enhanced.size() + 1, enhanced + " ") == 0 && line != first)
      text = text.substr(enhanced.size() + 1);
    reply += (line == first ? "" : " ") + text;
    if (line == last) break;
  }
  return reply;
}

namespace {

SmtpOutcome outcome(SmtpOutcome::Kind kind, std::string reason, std::string code) {
  return {kind, std::move(reason), std::move(code)};
}

}  // namespace

SmtpOutcome classify(int curl_code, long reply_code, const std::string& reply, const std::string& curl_error) {
  using Kind = SmtpOutcome::Kind;
  const auto code = static_cast<CURLcode>(curl_code);
  if (code == CURLE_OK) return outcome(Kind::kSent, "", std::to_string(reply_code));
  const std::string detail = curl_error.empty() ? curl_easy_strerror(code) : curl_error;
  // A 4xx reply is temporary whatever step it came at (454 4.7.0 to AUTH, 421 to STARTTLS).
  if (reply_code >= 400 && reply_code < 500)
    return outcome(Kind::kRetry, reply.empty() ? detail : reply, std::to_string(reply_code));
  switch (code) {
    case CURLE_USE_SSL_FAILED:
      return outcome(Kind::kPermanent,
                     "the SMTP server did not offer STARTTLS; nothing was sent, credentials included (" + detail + ")",
                     "starttls_unavailable");
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return outcome(Kind::kPermanent, "TLS with the SMTP server failed: " + detail, "tls");
    case CURLE_LOGIN_DENIED:
      return outcome(Kind::kPermanent, "the SMTP server refused the login" + (reply.empty() ? "" : ": " + reply),
                     "auth");
    default:
      break;
  }
  if (reply_code >= 500 && reply_code < 600) {
    const std::string enhanced = enhanced_code(reply);
    // A full mailbox may empty: RFC 3463 says X.2.2 may be persistent or
    // transient, and RFC 5321 (4.5.3.1.10) has a client treat 552 at RCPT
    // as temporary.
    if (enhanced == "5.2.2" || (enhanced.empty() && reply_code == 552 && detail.find("RCPT") != std::string::npos))
      return outcome(Kind::kRetry, reply.empty() ? detail : reply, enhanced.empty() ? "552" : enhanced);
    // No such mailbox, a bad address, one that moved without a forwarding
    // address or was disabled (RFC 3463), or a domain that takes no mail:
    // this address is unreachable.
    const bool rcpt = detail.find("RCPT") != std::string::npos;
    const bool unreachable =
        enhanced == "5.1.1" || enhanced == "5.1.2" || enhanced == "5.1.3" || enhanced == "5.1.6" ||
        enhanced == "5.1.10" || enhanced == "5.2.1" ||
        (enhanced.empty() && rcpt && (reply_code == 550 || reply_code == 551 || reply_code == 553));
    return outcome(unreachable ? Kind::kUnreachable : Kind::kPermanent, reply.empty() ? detail : reply,
                   enhanced.empty() ? std::to_string(reply_code) : enhanced);
  }
  // No reply to judge: the server is down, slow, cut the connection or the TLS handshake.
  return outcome(Kind::kRetry, "SMTP: " + detail, "transport");
}

SmtpSender::SmtpSender(SmtpSettings settings) : settings_(std::move(settings)), url_(url_of(settings_)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  multi_ = curl_multi_init();
  const long limit = std::max<long>(1, settings_.max_connections);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, limit);
  curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, limit);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, limit);
  thread_ = std::thread([this] { run(); });
}

SmtpSender::~SmtpSender() {
  stop();
  curl_multi_cleanup(multi_);
  curl_global_cleanup();
}

void SmtpSender::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  curl_multi_wakeup(multi_);
  if (thread_.joinable()) thread_.join();
}

uint64_t SmtpSender::connections_opened() const {
  std::lock_guard lock(mutex_);
  return connections_opened_;
}

void SmtpSender::submit(Envelope envelope, Done done) {
  auto job = std::make_unique<Job>();
  job->envelope = std::move(envelope);
  job->done = std::move(done);
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queued_.push_back(std::move(job));
      job = nullptr;
    }
  }
  if (job) return job->done(outcome(SmtpOutcome::Kind::kRetry, "the email instance is stopping", "stopped"));
  curl_multi_wakeup(multi_);
}

void SmtpSender::start_job(std::unique_ptr<Job> job) {
  CURL* easy = job->easy = curl_easy_init();
  job->recipients = curl_slist_append(nullptr, ("<" + job->envelope.rcpt_to + ">").c_str());
  curl_easy_setopt(easy, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(easy, CURLOPT_USE_SSL, settings_.security == "none" ? CURLUSESSL_NONE : CURLUSESSL_ALL);
  if (!settings_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, settings_.ca_file.c_str());
  if (!settings_.username.empty()) {
    curl_easy_setopt(easy, CURLOPT_USERNAME, settings_.username.c_str());
    curl_easy_setopt(easy, CURLOPT_PASSWORD, settings_.password.c_str());
  }
  // PLAIN, else LOGIN, by default: libcurl's own order would pick DIGEST-MD5
  // or CRAM-MD5 when a server lists them, which many accounts' passwords
  // (stored hashed) cannot answer. The password goes only inside TLS unless
  // the config said "security": "none".
  // "any": libcurl's choice among what the server lists (CRAM-MD5 first).
  if (settings_.auth != "any")
    curl_easy_setopt(easy, CURLOPT_LOGIN_OPTIONS,
                     settings_.auth == "login"   ? "AUTH=LOGIN"
                     : settings_.auth == "plain" ? "AUTH=PLAIN"
                                                 : "AUTH=PLAIN;AUTH=LOGIN");
  curl_easy_setopt(easy, CURLOPT_MAIL_FROM, ("<" + job->envelope.mail_from + ">").c_str());
  curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, job->recipients);
  curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(easy, CURLOPT_READFUNCTION, &read_body);
  curl_easy_setopt(easy, CURLOPT_READDATA, job.get());
  curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(job->envelope.data.size()));
  curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);  // for on_debug, which keeps only the server's replies
  curl_easy_setopt(easy, CURLOPT_DEBUGFUNCTION, &on_debug);
  curl_easy_setopt(easy, CURLOPT_DEBUGDATA, job.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, job->error);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  const uint32_t timeout = job->envelope.timeout_ms ? job->envelope.timeout_ms : settings_.timeout_ms;
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<uint32_t>(timeout, 10000)));
  curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, settings_.reuse_connections ? 0L : 1L);
  // A connection idle longer is not used again: a server under load drops
  // idle ones after 10 s (Postfix's smtpd_timeout under stress), and its 421
  // would cost the message a retry. A campaign's keep being used.
  curl_easy_setopt(easy, CURLOPT_MAXAGE_CONN, 8L);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, job.get());
  curl_multi_add_handle(multi_, easy);
  running_.push_back(std::move(job));
}

void SmtpSender::finish(Job* job, int curl_code) {
  long reply_code = 0;
  long connects = 0;
  curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &reply_code);
  curl_easy_getinfo(job->easy, CURLINFO_NUM_CONNECTS, &connects);
  curl_multi_remove_handle(multi_, job->easy);
  {
    std::lock_guard lock(mutex_);
    connections_opened_ += static_cast<uint64_t>(connects);
  }
  const SmtpOutcome result = classify(curl_code, reply_code, deciding_reply(job->replies, reply_code), job->error);
  // A kept connection the server had closed (a 421 "closing channel": its
  // idle timeout or its limit of messages per connection; or no answer at
  // all), found before any of this message went: the message goes at once
  // on a new connection, within the time its step still has, not a step
  // retried minutes later. Not a timeout (a slow server is not a closed
  // connection), nor a refusal curl calls a send error (it has a reply code).
  const auto code = static_cast<CURLcode>(curl_code);
  const bool closed =
      reply_code == 421 ||
      (reply_code == 0 && (code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING));
  curl_off_t spent_us = 0;
  curl_easy_getinfo(job->easy, CURLINFO_TOTAL_TIME_T, &spent_us);
  const int64_t timeout_ms = job->envelope.timeout_ms ? job->envelope.timeout_ms : settings_.timeout_ms;
  const int64_t left_ms = timeout_ms - static_cast<int64_t>(spent_us / 1000);
  const bool kept_connection_closed = connects == 0 && job->offset == 0 && !job->fresh && closed && left_ms >= 1000;
  if (kept_connection_closed) {
    job->fresh = true;
    job->replies.clear();
    job->error[0] = '\0';
    curl_easy_setopt(job->easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(job->easy, CURLOPT_TIMEOUT_MS, static_cast<long>(left_ms));
    curl_multi_add_handle(multi_, job->easy);
    return;
  }
  auto it = std::find_if(running_.begin(), running_.end(), [job](const auto& j) { return j.get() == job; });
  std::unique_ptr<Job> owned = std::move(*it);
  running_.erase(it);
  owned->done(result);
}

void SmtpSender::run() {
  for (;;) {
    std::deque<std::unique_ptr<Job>> incoming;
    bool stopping;
    {
      std::lock_guard lock(mutex_);
      incoming.swap(queued_);
      stopping = stopping_;
    }
    if (stopping) {
      for (auto& job : incoming) running_.push_back(std::move(job));
      break;
    }
    for (auto& job : incoming) start_job(std::move(job));
    int still_running = 0;
    curl_multi_perform(multi_, &still_running);
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      Job* job = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &job);
      finish(job, message->data.result);
    }
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
  }
  // Stopping: whatever did not finish is tried again by the host later.
  for (auto& job : running_) {
    if (job->easy) curl_multi_remove_handle(multi_, job->easy);
    job->done(outcome(SmtpOutcome::Kind::kRetry, "the email instance stopped before the server answered", "stopped"));
  }
  running_.clear();
}

}  // namespace email
