// One thread of a plugin's own that runs jobs in order, for work that may not
// run on the host's [step] threads: a store read through switchboard.crm/1,
// a speech render. Owned by the instance: stop() (or its destructor)
// finishes the job under way, runs the ones still queued with `stopping` set
// (so each can report that it did not run) and joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace switchboard_plugins {

class SerialWorker {
 public:
  // Runs exactly once, on the worker's thread (or on the caller's, with
  // `stopping` set, once the worker is stopping).
  using Job = std::function<void(bool stopping)>;

  SerialWorker() : thread_([this] { run(); }) {}
  ~SerialWorker() { stop(); }

  // Finishes the job under way, runs the queued ones with `stopping` set and
  // joins: call it from the plugin's stop(), so that no job of it asks the
  // host for anything once the host stops its instances. Idempotent.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  void post(Job job) {
    {
      std::lock_guard lock(mutex_);
      if (!stopping_) {
        jobs_.push_back(std::move(job));
        job = nullptr;
      }
    }
    if (job) return job(true);
    wake_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      Job job;
      bool stopping = false;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        stopping = stopping_;
      }
      try {
        job(stopping);
      } catch (...) {
        // A job reports its own failures; one that threw must not end the host.
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace switchboard_plugins
