#include "integration/test_support.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>
#include <Poco/ThreadPool.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <tuple>

namespace sb::test {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
class SinkHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit SinkHandler(std::shared_ptr<HttpSink::State> state) : state_(std::move(state)) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
    RecordedRequest r;
    r.method = request.getMethod();
    r.uri = request.getURI();
    for (const auto& [k, v] : request) {
      std::string lower = k;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[lower] = v;
    }
    Poco::StreamCopier::copyToString(request.stream(), r.body);
    int status;
    std::string body;
    {
      std::lock_guard lock(state_->mutex);
      auto special = state_->by_path.find(r.uri.substr(0, r.uri.find('?')));
      status = special != state_->by_path.end() ? special->second.first : state_->status;
      body = special != state_->by_path.end() ? special->second.second : state_->body;
      if (state_->checker)
        if (auto refused = state_->checker(r)) std::tie(status, body) = *refused;
      state_->requests.push_back(std::move(r));
    }
    state_->changed.notify_all();
    {
      std::unique_lock lock(state_->mutex);
      state_->changed.wait(lock, [&] { return !state_->held; });
    }
    response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    response.setContentType("application/json");
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send() << body;
  }

 private:
  std::shared_ptr<HttpSink::State> state_;
};

class SinkFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit SinkFactory(std::shared_ptr<HttpSink::State> state) : state_(std::move(state)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new SinkHandler(state_);
  }

 private:
  std::shared_ptr<HttpSink::State> state_;
};
}  // namespace

namespace {
// The directories a test process made, removed when it exits (its hosts,
// stores and servers are gone by then): repeated runs leave nothing in /tmp.
class TempDirs {
 public:
  ~TempDirs() {
    std::error_code ignored;
    for (const fs::path& dir : dirs_) fs::remove_all(dir, ignored);
  }
  void add(fs::path dir) {
    std::lock_guard lock(mutex_);
    dirs_.push_back(std::move(dir));
  }

 private:
  std::mutex mutex_;
  std::vector<fs::path> dirs_;
};
}  // namespace

fs::path make_temp_dir(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static TempDirs made;
  fs::path dir =
      fs::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  made.add(dir);
  return dir;
}

HttpSink::HttpSink(int status, std::string body) : state_(std::make_shared<State>()) {
  state_->status = status;
  state_->body = std::move(body);
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
  port_ = socket.address().port();
  // Enough threads and queue for bursts: a refused connection would be a
  // failure of the sink, not of what a test checks.
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(64);
  params->setMaxQueued(4096);
  pool_ = std::make_unique<Poco::ThreadPool>(2, 64);
  server_ = std::make_unique<Poco::Net::HTTPServer>(new SinkFactory(state_), *pool_, socket, params);
  server_->start();
}

HttpSink::~HttpSink() {
  hold(false);
  server_->stopAll(true);
}

void HttpSink::check(Checker checker) {
  std::lock_guard lock(state_->mutex);
  state_->checker = std::move(checker);
}

void HttpSink::hold(bool held) {
  {
    std::lock_guard lock(state_->mutex);
    state_->held = held;
  }
  state_->changed.notify_all();
}

void HttpSink::set_status(int status) {
  std::lock_guard lock(state_->mutex);
  state_->status = status;
}

void HttpSink::answer(const std::string& path, int status, std::string body) {
  std::lock_guard lock(state_->mutex);
  state_->by_path[path] = {status, std::move(body)};
}

std::vector<RecordedRequest> HttpSink::wait_for(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  state_->changed.wait_for(lock, timeout, [&] { return state_->requests.size() >= n; });
  return state_->requests;
}

size_t HttpSink::count() {
  std::lock_guard lock(state_->mutex);
  return state_->requests.size();
}

HttpResult http_request(uint16_t port, const std::string& method, const std::string& path, const std::string& body,
                        const std::map<std::string, std::string>& headers) {
  Poco::Net::HTTPClientSession session("127.0.0.1", port);
  session.setTimeout(Poco::Timespan(30, 0));
  Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
  for (const auto& [k, v] : headers) request.set(k, v);
  if (!body.empty() || method == "POST") {
    if (!request.has("Content-Type")) request.setContentType("application/json");
    request.setContentLength(static_cast<std::streamsize>(body.size()));
  }
  session.sendRequest(request) << body;
  Poco::Net::HTTPResponse response;
  HttpResult result;
  std::istream& in = session.receiveResponse(response);
  Poco::StreamCopier::copyToString(in, result.body);
  result.status = response.getStatus();
  for (const auto& [k, v] : response) result.headers[Poco::toLower(k)] = v;
  return result;
}

HostProcess::HostProcess(json config, std::vector<std::string> extra_args, fs::path dir)
    : dir_(dir.empty() ? make_temp_dir("sb_host") : std::move(dir)) {
  config["listen"] = "127.0.0.1:0";
  config["data_dir"] = dir_.string();
  // A test that ends with a call in flight (a held sink, a plugin that never
  // answers) stops in seconds, not the default half minute.
  if (!config.contains("executions") || !config["executions"].contains("stop_grace"))
    config["executions"]["stop_grace"] = "3s";
  const fs::path file = dir_ / "switchboard.json";
  std::ofstream(file) << config.dump(2);

  std::vector<std::string> args = {"--config", file.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  Poco::Pipe err;
  process_ = std::make_unique<Poco::ProcessHandle>(Poco::Process::launch(SB_BINARY, args, nullptr, nullptr, &err));
  reader_ = std::thread([this, err]() mutable {
    Poco::PipeInputStream in(err);
    std::string line;
    while (std::getline(in, line)) {
      std::lock_guard lock(mutex_);
      log_ += line + "\n";
      if (port_ == 0 && line.find("\"msg\":\"listening\"") != std::string::npos) {
        json j = json::parse(line, nullptr, false);
        if (j.is_object()) port_ = j.value("port", 0);
      }
      changed_.notify_all();
    }
    std::lock_guard lock(mutex_);
    exited_ = true;
    changed_.notify_all();
  });
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::seconds(30), [&] { return port_ != 0 || exited_; });
  if (port_ == 0) {
    const std::string log = log_;
    lock.unlock();
    stop();
    throw std::runtime_error("switchboard did not start:\n" + log);
  }
}

HostProcess::~HostProcess() {
  stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

int HostProcess::stop() {
  if (!process_) return -1;
  int code = -1;
  try {
    Poco::Process::requestTermination(process_->id());
    code = process_->wait();
  } catch (...) {
  }
  process_.reset();
  if (reader_.joinable()) reader_.join();
  return code;
}

void HostProcess::kill() {
  if (!process_) return;
  ::kill(process_->id(), SIGKILL);
  try {
    process_->wait();
  } catch (...) {
  }
  process_.reset();
  if (reader_.joinable()) reader_.join();
}

std::string HostProcess::log() {
  std::lock_guard lock(mutex_);
  return log_;
}

std::pair<int, std::string> run_switchboard(const std::vector<std::string>& args) {
  Poco::Pipe out;
  Poco::ProcessHandle handle = Poco::Process::launch(SB_BINARY, args, nullptr, &out, &out);
  Poco::PipeInputStream in(out);
  std::string text;
  Poco::StreamCopier::copyToString(in, text);
  return {handle.wait(), text};
}

std::vector<nlohmann::json> wait_for_outbox(const HostProcess& host, size_t at_least,
                                            std::chrono::milliseconds timeout) {
  std::vector<nlohmann::json> lines;
  for (auto until = std::chrono::steady_clock::now() + timeout;;) {
    lines.clear();
    std::ifstream in(host.dir() / "outbox.jsonl");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
    if (lines.size() >= at_least || std::chrono::steady_clock::now() >= until) return lines;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

}  // namespace sb::test
