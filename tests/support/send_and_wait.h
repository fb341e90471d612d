// One request through an HttpClient, its answer waited for (20 s at most).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "http/HttpClient.h"

namespace sb::test {

inline OutboundResponse send_and_wait(HttpClient& client, OutboundRequest request) {
  std::promise<OutboundResponse> got;
  EXPECT_TRUE(client.send(std::move(request), [&](OutboundResponse&& r) { got.set_value(std::move(r)); }));
  auto future = got.get_future();
  EXPECT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  return future.get();
}

}  // namespace sb::test
