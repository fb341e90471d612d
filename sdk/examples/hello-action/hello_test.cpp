// The greet action tested without a host: the SDK's fake host loads the built
// plugin, creates an instance and records what it wrote to the outbox and how
// the call ended. Run by ctest: hello_test <path to hello.so>.
#include <switchboard/testing/fake_host.h>

#include <cstdio>
#include <string>

namespace {

int failures = 0;

void check(bool ok, const char* what, const std::string& got = "") {
  if (ok) return;
  ++failures;
  std::fprintf(stderr, "FAILED: %s %s\n", what, got.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <path to hello.so>\n", argv[0]);
    return 2;
  }
  fake::Library library(argv[1]);
  fake::Host host("hi");
  fake::Instance instance(library, host, R"({"greeting":"Привет"})");
  check(instance.status() == SB_OK, "the instance is created", instance.error());

  check(instance.invoke("greet", R"({"name":"Анна"})", "greet-key-1") == SB_OK, "greet is accepted");
  check(host.results.size() == 1 && host.results[0].outcome == SB_OUTCOME_DONE, "greet is done");
  check(host.results.size() == 1 && host.results[0].external_id == "greet-key-1",
        "its external id is the idempotency key");
  check(host.outbox.size() == 1 && host.outbox[0] == R"({"channel":"hello","text":"Привет, Анна!"})",
        "the greeting is in the outbox:", host.outbox.empty() ? "(nothing)" : host.outbox[0]);

  // No outbox: the call is retried later, not lost.
  host.outbox_status = SB_ERR_UNAVAILABLE;
  instance.invoke("greet", R"({"name":"Иван"})", "greet-key-2");
  check(host.results.size() == 2 && host.results[1].outcome == SB_OUTCOME_RETRY, "without an outbox it retries");

  if (failures == 0) std::puts("hello_test: all checks passed");
  return failures == 0 ? 0 : 1;
}
