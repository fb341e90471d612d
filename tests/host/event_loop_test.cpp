// The event loop under the HTTP server and client: tasks and timers run on
// the loop's thread, in order, and none is lost or stalled.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <numeric>

#include "net/EventLoop.h"

namespace sb {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, PostedTasksRunOnTheLoopThreadInOrder) {
  EventLoopGroup group(1);
  std::vector<int> order;
  std::promise<std::thread::id> ran;
  for (int i = 0; i < 100; ++i) group.at(0).post([&order, i] { order.push_back(i); });
  group.at(0).post([&] { ran.set_value(std::this_thread::get_id()); });
  EXPECT_NE(ran.get_future().get(), std::this_thread::get_id());
  std::vector<int> expected(100);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(order, expected);
}

TEST(EventLoop, TaskPostedFromTheLoopRunsWithoutWaitingForATimer) {
  EventLoopGroup group(1);
  EventLoop& loop = group.at(0);
  std::promise<void> done;
  loop.post([&] {
    loop.run_after(10s, [] {});  // epoll_wait would sleep until this one
    loop.post([&] { done.set_value(); });
  });
  EXPECT_EQ(done.get_future().wait_for(2s), std::future_status::ready);
}

TEST(EventLoop, TimersFireInDueOrderAndCancelledOnesNever) {
  EventLoopGroup group(1);
  EventLoop& loop = group.at(0);
  std::vector<std::string> fired;
  std::promise<void> done;
  loop.post([&] {
    loop.run_after(60ms, [&] {
      fired.push_back("60");
      done.set_value();
    });
    const auto cancelled = loop.run_after(20ms, [&] { fired.push_back("cancelled"); });
    loop.run_after(40ms, [&] { fired.push_back("40"); });
    loop.run_after(0ms, [&] { fired.push_back("0"); });
    loop.cancel(cancelled);
  });
  done.get_future().wait();
  EXPECT_EQ(fired, (std::vector<std::string>{"0", "40", "60"}));
}

TEST(EventLoop, HandlerMayUnwatchItselfAndOthersInTheSameBatch) {
  EventLoopGroup group(1);
  EventLoop& loop = group.at(0);
  int a[2], b[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
  std::atomic<int> calls{0};
  std::promise<void> done;
  loop.post([&] {
    // Both readable at once: whichever runs first unwatches both, so the
    // other's event in the same batch must not reach a destroyed handler.
    auto handler = [&](uint32_t) {
      ++calls;
      loop.unwatch(a[0]);
      loop.unwatch(b[0]);
      loop.run_after(20ms, [&] { done.set_value(); });
    };
    loop.watch(a[0], EPOLLIN, handler);
    loop.watch(b[0], EPOLLIN, handler);
  });
  ASSERT_EQ(::write(a[1], "x", 1), 1);
  ASSERT_EQ(::write(b[1], "x", 1), 1);
  done.get_future().wait();
  EXPECT_EQ(calls, 1);
  for (int fd : {a[0], a[1], b[0], b[1]}) ::close(fd);
}

TEST(EventLoop, TasksPostedBeforeStopRunAndLaterOnesAreRefused) {
  auto group = std::make_unique<EventLoopGroup>(1);
  EventLoop& loop = group->at(0);
  std::atomic<int> ran{0};
  std::promise<void> blocked;
  std::promise<void> release;
  loop.post([&] {
    blocked.set_value();
    release.get_future().wait();
  });
  blocked.get_future().wait();
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(loop.post([&] { ++ran; }));
  std::thread stopper([&] { group->stop(); });
  std::this_thread::sleep_for(20ms);
  release.set_value();
  stopper.join();
  EXPECT_EQ(ran, 10);
  EXPECT_FALSE(loop.post([&] { ++ran; }));
  EXPECT_EQ(ran, 10);
}

TEST(EventLoop, ThrowingTaskIsContainedAndTheLoopGoesOn) {
  EventLoopGroup group(1);
  std::promise<void> after;
  group.at(0).post([] { throw std::runtime_error("task failed"); });
  group.at(0).post([&] { after.set_value(); });
  EXPECT_EQ(after.get_future().wait_for(2s), std::future_status::ready);
}

TEST(EventLoopGroup, CurrentNamesOnlyTheGroupsOwnLoops) {
  EventLoopGroup group(2), other(1);
  EXPECT_EQ(group.current(), nullptr);
  std::promise<std::pair<EventLoop*, EventLoop*>> seen;
  group.at(1).post([&] { seen.set_value({group.current(), other.current()}); });
  auto [mine, theirs] = seen.get_future().get();
  EXPECT_EQ(mine, &group.at(1));
  EXPECT_EQ(theirs, nullptr);
}

}  // namespace
}  // namespace sb
