// Email throughput: N messages through the email plugin (loaded as the host
// loads it) to the test SMTP server (aiosmtpd, STARTTLS with the test CA),
// once reusing connections and once with a new connection per message.
// Usage: email_smtp_bench [N] [MAX_CONNECTIONS]
#include <switchboard/testing/fake_host.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "plugins/email/smtp_server.h"

using nlohmann::json;

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int connections = argc > 2 ? std::atoi(argv[2]) : 4;
  fake::Library library(SB_EMAIL_PLUGIN);
  for (const bool reuse : {true, false}) {
    test_smtp::SmtpServer server;
    fake::Host host("email");
    const json config{{"smtp",
                       {{"host", "localhost"},
                        {"port", server.starttls},
                        {"username", "mailer"},
                        {"password", "s3cret"},
                        {"ca_file", std::string(SB_TEST_CA_DIR) + "/ca.pem"}}},
                      {"from", "Школа <info@school.test>"},
                      {"max_connections", connections},
                      {"reuse_connections", reuse}};
    fake::Instance instance(library, host, config.dump());
    if (instance.status() != SB_OK) {
      std::fprintf(stderr, "config refused: %s\n", instance.error().c_str());
      return 1;
    }
    const json params{
        {"to", "ivan@example.com"},
        {"subject", "Напоминание о занятии"},
        {"html", "<p>Здравствуйте! Ждём вас завтра в 18:00.</p><p><a href=\"https://x.test\">Расписание</a></p>"}};
    auto cpu_seconds = [] {
      rusage usage{};
      getrusage(RUSAGE_SELF, &usage);
      return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    };
    const double cpu_start = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < count; ++i) instance.invoke("send", params.dump(), "bench-" + std::to_string(i));
    if (!host.wait_results(static_cast<size_t>(count), std::chrono::minutes(10))) {
      std::fprintf(stderr, "not all messages finished\n");
      return 1;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int sent = 0;
    for (int i = 0; i < count; ++i) sent += host.result(static_cast<size_t>(i)).outcome == SB_OUTCOME_DONE;
    const double cpu = cpu_seconds() - cpu_start;
    std::printf(
        "%s: %d/%d sent in %.2f s = %.0f messages/s, %d connections (max_connections %d); "
        "the plugin's process: %.0f us CPU a message\n",
        reuse ? "reuse connections" : "new connection each", sent, count, seconds, sent / seconds, server.connections(),
        connections, cpu * 1e6 / count);
  }
  return 0;
}
