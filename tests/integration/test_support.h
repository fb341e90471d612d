// Real parts for integration tests: an HTTP sink that records what it gets,
// the switchboard binary run as a child process, and a small HTTP client.
#pragma once

#include <Poco/Process.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace Poco {
class ThreadPool;
namespace Net {
class HTTPServer;
}
}  // namespace Poco

namespace sb::test {

struct RecordedRequest {
  std::string method;
  std::string uri;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Listens on 127.0.0.1 (a free port) and answers every request with
// `status`/`body`, recording it.
class HttpSink {
 public:
  explicit HttpSink(int status = 200, std::string body = R"({"ok":true})");
  ~HttpSink();
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Waits until at least `n` requests arrived; returns them all.
  std::vector<RecordedRequest> wait_for(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  size_t count();
  void set_status(int status);  // for the requests from now on
  // Requests whose path (the URI without its query) is `path` get this answer instead.
  void answer(const std::string& path, int status, std::string body);
  // While held, requests are recorded as they arrive and answered only once released.
  void hold(bool held);
  // A provider's checks: an answer for a request the provider would refuse
  // (its error shape), nullopt for one it takes (then answered as above).
  using Checker = std::function<std::optional<std::pair<int, std::string>>(const RecordedRequest&)>;
  void check(Checker checker);

  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<RecordedRequest> requests;
    int status;
    std::string body;
    std::map<std::string, std::pair<int, std::string>> by_path;
    bool held = false;
    Checker checker;
  };

 private:
  std::shared_ptr<State> state_;
  std::unique_ptr<Poco::ThreadPool> pool_;  // outlives the server
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  uint16_t port_ = 0;
};

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

HttpResult http_request(uint16_t port, const std::string& method, const std::string& path, const std::string& body = {},
                        const std::map<std::string, std::string>& headers = {});

// Runs `switchboard` with a config written to a fresh temporary folder and
// waits for its "listening" log line; SIGTERM and wait on destruction.
class HostProcess {
 public:
  // `config` gets "listen" (a free port) and "data_dir" filled in; `dir`
  // reuses the folder (and store) of an earlier host, a fresh one if empty.
  explicit HostProcess(nlohmann::json config, std::vector<std::string> extra_args = {}, std::filesystem::path dir = {});
  ~HostProcess();
  uint16_t port() const { return port_; }
  int pid() const { return process_->id(); }
  const std::filesystem::path& dir() const { return dir_; }
  std::string log();  // everything the host wrote to stderr so far
  int stop();         // SIGTERM, returns the exit code
  void kill();        // SIGKILL: a crash, nothing flushed or closed

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Poco::ProcessHandle> process_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string log_;
  bool exited_ = false;
  uint16_t port_ = 0;
};

// Runs the switchboard binary to completion; returns {exit code, stdout+stderr}.
std::pair<int, std::string> run_switchboard(const std::vector<std::string>& args);

std::filesystem::path make_temp_dir(const std::string& prefix);

// The host's dry-run outbox (<dir>/outbox.jsonl), one JSON record a line,
// once it holds `at_least` records or `timeout` has passed; read at least once.
std::vector<nlohmann::json> wait_for_outbox(const HostProcess& host, size_t at_least,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace sb::test
