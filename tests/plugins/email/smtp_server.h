// The test SMTP server (tests/support/smtp_server.py, aiosmtpd) as a child
// process: started with the test CA's certificate, stopped on destruction.
// Each accepted message arrives as a JSON summary made by Python's email
// parser.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace test_smtp {

class SmtpServer {
 public:
  SmtpServer() {
    dir_ = std::filesystem::temp_directory_path() /
           ("sb-smtp-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
    int out[2], in[2];
    if (::pipe(out) != 0 || ::pipe(in) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, in[1]);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const std::string ca = SB_TEST_CA_DIR;
    const std::string script = std::string(SB_SOURCE_DIR) + "/tests/support/smtp_server.py";
    const std::string cert = ca + "/server.pem", key = ca + "/server.key", dir = dir_.string();
    const char* argv[] = {"/usr/bin/python3", script.c_str(), cert.c_str(), key.c_str(), dir.c_str(), nullptr};
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, const_cast<char**>(argv), environ) != 0)
      throw std::runtime_error("cannot start " + script);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(out[0]);
    const nlohmann::json ports = nlohmann::json::parse(line, nullptr, false);
    if (!ports.is_object()) throw std::runtime_error("the SMTP server did not start (python3-aiosmtpd installed?)");
    starttls = ports["starttls"];
    tls = ports["tls"];
    plain = ports["plain"];
  }
  ~SmtpServer() {
    ::close(stdin_);  // it stops its listeners and exits; killed if it has not within 5 s
    int status = 0;
    for (int i = 0; i < 500 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  // The n-th accepted message (1-based), waiting for it to arrive.
  nlohmann::json message(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    const auto path = dir_ / (std::to_string(n) + ".json");
    for (auto until = std::chrono::steady_clock::now() + timeout; std::chrono::steady_clock::now() < until;) {
      if (std::filesystem::exists(path)) return nlohmann::json::parse(std::ifstream(path));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return nullptr;
  }
  int messages() const {
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) n += entry.path().extension() == ".json";
    return n;
  }
  // The SASL mechanism of each AUTH the server received, in order.
  std::vector<std::string> auth_mechanisms() const {
    std::vector<std::string> out;
    std::ifstream in(dir_ / "auth");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  int connections() const {
    std::ifstream in(dir_ / "connections");
    int n = 0;
    in >> n;
    return n;
  }

  int starttls = 0, tls = 0, plain = 0;

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int stdin_ = -1;
};

}  // namespace test_smtp
