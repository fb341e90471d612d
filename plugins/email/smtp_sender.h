// Submits messages to one SMTP server from a thread of its own, through
// libcurl's multi interface: many messages in flight on that one thread, at
// most `max_connections` connections, each reused for the next message
// unless `reuse_connections` is off. No host thread ever waits on SMTP.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace email {

struct SmtpSettings {
  std::string host;
  uint16_t port = 587;
  std::string security = "starttls";  // "starttls", "tls" (implicit, 465) or "none"
  std::string username, password;
  std::string auth;  // "" (the best the server offers), "plain" or "login"
  std::string ca_file;
  std::string helo_name;  // the name given in EHLO ("" = this machine's host name, as curl takes it)
  uint32_t max_connections = 4;
  bool reuse_connections = true;
  uint32_t timeout_ms = 30000;
};

// How one submission ended, as the step will report it.
struct SmtpOutcome {
  enum class Kind { kSent, kRetry, kUnreachable, kPermanent };
  Kind kind = Kind::kSent;
  std::string reason;  // the server's reply text where there was one
  std::string code;    // the reply code ("550", "5.1.1") or curl's error name
};

// The server's reply that decided a submission with `reply_code`, its lines
// made one ("550 5.1.1 The account ... does not exist. Please try ..."),
// from the last lines the server sent; "" when none has that code.
std::string deciding_reply(const std::vector<std::string>& replies, long reply_code);

// What the server's reply or the transport error means for the step.
// `reply` is the last reply line ("550 5.1.1 <x@y>: no such user").
SmtpOutcome classify(int curl_code, long reply_code, const std::string& reply, const std::string& curl_error);

struct Envelope {
  std::string mail_from;  // the bare address
  std::string rcpt_to;
  std::string data;         // the rendered message
  uint32_t timeout_ms = 0;  // 0: the settings' timeout
};

class SmtpSender {
 public:
  using Done = std::function<void(const SmtpOutcome&)>;

  explicit SmtpSender(SmtpSettings settings);
  // Ends the thread; submissions not finished report kRetry ("stopped").
  ~SmtpSender();
  SmtpSender(const SmtpSender&) = delete;
  SmtpSender& operator=(const SmtpSender&) = delete;

  // Queues one message; `done` runs once, on the sender's thread (or on the
  // caller's when the sender is stopping).
  void submit(Envelope envelope, Done done);
  void stop();

  uint64_t connections_opened() const;

  struct Job;  // one submission and its curl handle (public for curl's C callbacks)

 private:
  void run();
  void start_job(std::unique_ptr<Job> job);
  void finish(Job* job, int curl_code);

  const SmtpSettings settings_;
  const std::string url_;
  void* multi_ = nullptr;  // CURLM*

  mutable std::mutex mutex_;
  std::deque<std::unique_ptr<Job>> queued_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Job>> running_;  // the sender's thread only
  uint64_t connections_opened_ = 0;
  std::thread thread_;
};

}  // namespace email
