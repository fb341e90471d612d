// One thread for the admin requests that read and parse many rows (stats,
// analytics): they run there, one at a time, and not on the connections'
// event loops, which serve webhooks and events too. The host owns one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "http/ServerConnection.h"

namespace sb {

class AdminWorker {
 public:
  AdminWorker();
  ~AdminWorker();
  AdminWorker(const AdminWorker&) = delete;
  AdminWorker& operator=(const AdminWorker&) = delete;

  void post(std::function<void()> job);
  // Runs `read` on the worker, which answers through `reply`; a store that
  // cannot be read answers 503, any other failure 500.
  void answer(ServerConnection::Reply reply, std::function<void(ServerConnection::Reply& reply)> read);
  // Jobs see stopping() and answer at their next page (503), those queued
  // too: every request is answered, and the server's drain ends soon.
  void stop();
  bool stopping() const { return stopping_; }

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::atomic<bool> stopping_ = false;
  std::thread thread_;  // last: started once the rest is built
};

}  // namespace sb
