// An epoll event loop and a group of them, one per I/O thread.
//
// The HTTP server's loops also run the provider calls its requests make, so
// a request that arrives, runs its rule and calls a provider stays on one
// thread from the socket read to the response write: no thread per
// connection, and no hand-off between a server thread and a client thread.
// The pipeline's provider calls run on a group of their own, so that a
// campaign's thousands of transfers never hold back reading a request.
//
// Everything but post(), stop() and the group's accessors runs on the loop's
// own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sb {

class EventLoop {
 public:
  using IoHandler = std::function<void(uint32_t epoll_events)>;
  using Task = std::function<void()>;
  using TimerId = uint64_t;

  EventLoop();  // throws std::system_error when epoll or eventfd fail
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until stop(), on the calling thread. Tasks posted before the loop
  // ends still run; later posts are refused.
  void run();
  // Thread-safe.
  void stop();
  // Thread-safe. False (and `task` dropped) when the loop has ended.
  bool post(Task task);

  // The loop running on this thread, or nullptr.
  static EventLoop* current();
  bool in_loop_thread() const { return current() == this; }

  // Level-triggered readiness for `fd`. The handler may unwatch its own fd.
  void watch(int fd, uint32_t epoll_events, IoHandler handler);
  void modify(int fd, uint32_t epoll_events);
  void unwatch(int fd);

  // Runs `fn` once after `delay` (0: after the events already pending).
  TimerId run_after(std::chrono::milliseconds delay, Task fn);
  void cancel(TimerId id);

 private:
  using Clock = std::chrono::steady_clock;
  int next_timeout_ms() const;
  void run_due_timers();
  void run_posted_tasks();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::unordered_map<int, std::shared_ptr<IoHandler>> handlers_;
  std::map<std::pair<Clock::time_point, TimerId>, Task> timers_;
  std::unordered_map<TimerId, Clock::time_point> timer_due_;
  TimerId next_timer_id_ = 1;

  std::mutex mutex_;  // guards the fields below
  std::vector<Task> posted_;
  bool stopping_ = false;
  bool ended_ = false;
};

// N loops, each running on its own thread from construction to stop().
class EventLoopGroup {
 public:
  // Threads named `name` and their index ("sb-io-" gives "sb-io-0", ...).
  explicit EventLoopGroup(size_t threads, std::string name = "sb-io-");
  ~EventLoopGroup();  // stop()
  EventLoopGroup(const EventLoopGroup&) = delete;
  EventLoopGroup& operator=(const EventLoopGroup&) = delete;

  size_t size() const { return loops_.size(); }
  EventLoop& at(size_t i) { return *loops_[i]; }
  // The group's loop running on this thread, or nullptr.
  EventLoop* current() const;
  // Round robin, for work that arrives from outside the loops.
  EventLoop& next();
  // Ends the loops (after their posted tasks) and joins their threads.
  void stop();

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
  std::mutex stop_mutex_;
};

// One I/O thread per core (at least one).
size_t default_io_threads();

}  // namespace sb
