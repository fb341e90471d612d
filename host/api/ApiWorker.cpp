#include "api/ApiWorker.h"

#include "log/Logger.h"
#include "store/Store.h"
#include "util/ThreadName.h"
#include "util/ThreadPriority.h"

namespace sb {

ApiWorker::ApiWorker(std::string thread_name, int nice)
    : thread_([this, thread_name = std::move(thread_name), nice] {
        name_this_thread(thread_name);
        lower_this_threads_priority(nice);
        run();
      }) {}

ApiWorker::~ApiWorker() { join(); }

void ApiWorker::join() {
  stop();
  if (thread_.joinable()) thread_.join();  // after the jobs queued: each answers 503 at once
}

void ApiWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
}

void ApiWorker::post(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

bool ApiWorker::try_post(std::function<void()>& job, size_t most) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || jobs_.size() >= most) return false;
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void ApiWorker::answer(ServerConnection::Reply reply, std::function<void(ServerConnection::Reply& reply)> read) {
  post([reply = std::move(reply), read = std::move(read)]() mutable {
    try {
      read(reply);
    } catch (const StoreError& e) {
      reply(error_response(503, "unavailable", std::string("the store could not be read: ") + e.what()));
    } catch (const std::exception& e) {
      reply(error_response(500, "internal", e.what()));
    }
  });
}

void ApiWorker::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing left to answer
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      // A job answers its own errors; this one escaped it, and must not end the host.
      log_error("api", "a request failed", {{"error", e.what()}});
    }
  }
}

}  // namespace sb
