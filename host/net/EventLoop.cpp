#include "net/EventLoop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "log/Logger.h"
#include "util/ThreadName.h"

namespace sb {

namespace {
thread_local EventLoop* t_current = nullptr;

std::system_error sys_error(const char* what) { return std::system_error(errno, std::generic_category(), what); }

void run_guarded(const char* what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    log_error("event_loop", what, {{"error", e.what()}});
  } catch (...) {
    log_error("event_loop", what, {{"error", "unknown exception"}});
  }
}
}  // namespace

EventLoop::EventLoop() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw sys_error("epoll_create1");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    ::close(epoll_fd_);
    throw sys_error("eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

EventLoop::~EventLoop() {
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

EventLoop* EventLoop::current() { return t_current; }

void EventLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

bool EventLoop::post(Task task) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (ended_) return false;
    // The loop takes the whole queue when it wakes: only the first task of a
    // batch needs the syscall.
    wake = posted_.empty();
    posted_.push_back(std::move(task));
  }
  if (wake && !in_loop_thread()) {
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
  return true;
}

void EventLoop::watch(int fd, uint32_t epoll_events, IoHandler handler) {
  epoll_event ev{};
  ev.events = epoll_events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) throw sys_error("epoll_ctl(ADD)");
  handlers_[fd] = std::make_shared<IoHandler>(std::move(handler));
}

void EventLoop::modify(int fd, uint32_t epoll_events) {
  epoll_event ev{};
  ev.events = epoll_events;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::unwatch(int fd) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  handlers_.erase(fd);
}

EventLoop::TimerId EventLoop::run_after(std::chrono::milliseconds delay, Task fn) {
  const TimerId id = next_timer_id_++;
  const auto due = Clock::now() + delay;
  timers_.emplace(std::make_pair(due, id), std::move(fn));
  timer_due_.emplace(id, due);
  return id;
}

void EventLoop::cancel(TimerId id) {
  auto it = timer_due_.find(id);
  if (it == timer_due_.end()) return;
  timers_.erase({it->second, id});
  timer_due_.erase(it);
}

int EventLoop::next_timeout_ms() const {
  if (timers_.empty()) return -1;
  const auto wait = timers_.begin()->first.first - Clock::now();
  if (wait <= Clock::duration::zero()) return 0;
  // Round up: waking a little early would spin until the timer is due.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
}

void EventLoop::run_due_timers() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_due_.erase(node.key().second);
    run_guarded("timer threw", node.mapped());
  }
}

void EventLoop::run_posted_tasks() {
  std::vector<Task> tasks;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) run_guarded("posted task threw", task);
}

void EventLoop::run() {
  t_current = this;
  constexpr int kMaxEvents = 128;
  epoll_event events[kMaxEvents];
  for (;;) {
    bool tasks_waiting = false;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      tasks_waiting = !posted_.empty();  // posted from this thread: nobody woke the loop
    }
    const int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, tasks_waiting ? 0 : next_timeout_ms());
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        uint64_t count;
        [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
        continue;
      }
      auto it = handlers_.find(fd);
      if (it == handlers_.end()) continue;  // unwatched by an earlier handler of this batch
      auto handler = it->second;            // a handler may unwatch (and so destroy) itself
      run_guarded("I/O handler threw", [&] { (*handler)(events[i].events); });
    }
    run_due_timers();
    run_posted_tasks();
  }
  // Tasks posted before the end still run: a posted task may carry a
  // callback that promised to run exactly once.
  for (;;) {
    std::vector<Task> tasks;
    {
      std::lock_guard lock(mutex_);
      if (posted_.empty()) {
        ended_ = true;
        break;
      }
      tasks.swap(posted_);
    }
    for (auto& task : tasks) run_guarded("posted task threw", task);
  }
  t_current = nullptr;
}

EventLoopGroup::EventLoopGroup(size_t threads, std::string name) {
  if (threads == 0) threads = 1;
  for (size_t i = 0; i < threads; ++i) loops_.push_back(std::make_unique<EventLoop>());
  for (auto& loop : loops_)
    threads_.emplace_back([l = loop.get(), name = name + std::to_string(threads_.size())] {
      name_this_thread(name);
      l->run();
    });
}

EventLoopGroup::~EventLoopGroup() { stop(); }

EventLoop* EventLoopGroup::current() const {
  EventLoop* loop = EventLoop::current();
  for (const auto& l : loops_)
    if (l.get() == loop) return loop;
  return nullptr;
}

EventLoop& EventLoopGroup::next() { return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]; }

void EventLoopGroup::stop() {
  std::lock_guard lock(stop_mutex_);
  for (auto& loop : loops_) loop->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

size_t default_io_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

}  // namespace sb
