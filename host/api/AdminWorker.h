// One thread for admin requests that read and parse many rows (stats,
// analytics): they run there, one at a time, and not on the connection's
// event loop, which serves webhooks and events too.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace sb {

class AdminWorker {
 public:
  AdminWorker();
  // Jobs not yet run when it stops are dropped: the server is gone by then.
  ~AdminWorker();
  AdminWorker(const AdminWorker&) = delete;
  AdminWorker& operator=(const AdminWorker&) = delete;

  void post(std::function<void()> job);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest is built
};

}  // namespace sb
