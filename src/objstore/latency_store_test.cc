#include "objstore/latency_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "objstore/memory_store.h"

namespace tb::objstore {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST(LatencyStoreTest, EveryCallTakesAtLeastTheDelay) {
  const milliseconds delay(20);
  LatencyStore store(std::make_shared<MemoryStore>(), delay);
  EXPECT_EQ(store.delay(), delay);
  auto timed = [](auto fn) {
    auto start = Clock::now();
    fn();
    return Clock::now() - start;
  };
  EXPECT_GE(timed([&] { ASSERT_TRUE(store.Put("k", "v").ok()); }), delay);
  EXPECT_GE(timed([&] { ASSERT_TRUE(store.Get("k").ok()); }), delay);
  EXPECT_GE(timed([&] { ASSERT_TRUE(store.Head("k").ok()); }), delay);
  EXPECT_GE(timed([&] { ASSERT_TRUE(store.List("", "").ok()); }), delay);
  EXPECT_GE(timed([&] { ASSERT_TRUE(store.Delete({"k"}).ok()); }), delay);
  EXPECT_GE(timed([&] { EXPECT_FALSE(store.Get("k").ok()); }), delay);  // failures too
  // Not I/O: no delay.
  EXPECT_LT(timed([&] { EXPECT_EQ(store.Describe(), "mem://"); }), delay);
}

TEST(LatencyStoreTest, ParallelCallsCostAboutOneRoundTrip) {
  const milliseconds delay(200);
  LatencyStore store(std::make_shared<MemoryStore>(), delay);
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { (void)store.Head("k").ok(); });
  for (std::thread& t : threads) t.join();
  auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, delay);
  EXPECT_LT(elapsed, 3 * delay);  // serial would be 8x
}

}  // namespace
}  // namespace tb::objstore
