// One thread for requests that cost much to answer: admin reads that parse
// many rows (stats, analytics), or a campaign's batches of events. They run
// there, one at a time, and not on the connections' event loops, which serve
// webhooks and single events too. The host owns one of each.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "http/ServerConnection.h"

namespace sb {

class ApiWorker {
 public:
  // A thread named `thread_name`, at `nice` (lower_this_threads_priority).
  explicit ApiWorker(std::string thread_name, int nice = 0);
  ~ApiWorker();
  ApiWorker(const ApiWorker&) = delete;
  ApiWorker& operator=(const ApiWorker&) = delete;

  void post(std::function<void()> job);
  // Queues `job` (moved from) unless `most` jobs wait already, or the worker
  // is stopping; false then, `job` left as it was, for the caller to run
  // itself (the backpressure of doing the work on the connection's own loop).
  bool try_post(std::function<void()>& job, size_t most);
  // Runs `read` on the worker, which answers through `reply`; a store that
  // cannot be read answers 503, any other failure 500.
  void answer(ServerConnection::Reply reply, std::function<void(ServerConnection::Reply& reply)> read);
  // Jobs see stopping() and answer 503 (an admin read at its next page),
  // those queued too: every request is answered, and the server's drain
  // ends soon.
  void stop();
  bool stopping() const { return stopping_; }
  // stop(), then waits for the queued jobs to be answered.
  void join();

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::atomic<bool> stopping_ = false;
  std::thread thread_;  // last: started once the rest is built
};

}  // namespace sb
