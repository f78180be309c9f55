#include "objstore/latency_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "objstore/memory_store.h"
#include "util/test_sync.h"

namespace tb::objstore {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The real wait: a real delay, so its time must pass; bounded from below only.
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
}

// Every I/O call waits out the delay once, failures too; Describe is not I/O and does not wait.
TEST(LatencyStoreTest, OnlyIoCallsWait) {
  std::vector<std::chrono::nanoseconds> waits;
  LatencyStore store(std::make_shared<MemoryStore>(), milliseconds(20),
                     [&](std::chrono::nanoseconds delay) { waits.push_back(delay); });
  ASSERT_TRUE(store.Put("k", "v").ok());
  ASSERT_TRUE(store.Get("k").ok());
  ASSERT_TRUE(store.Head("k").ok());
  ASSERT_TRUE(store.List("", "").ok());
  ASSERT_TRUE(store.Delete({"k"}).ok());
  EXPECT_FALSE(store.Get("k").ok());
  EXPECT_EQ(store.Describe(), "mem://");
  EXPECT_EQ(waits, std::vector<std::chrono::nanoseconds>(6, milliseconds(20)));
}

// Concurrent calls wait out their delays at the same time, so 8 parallel calls cost one round
// trip: each call's wait lets it through only once all 8 are waiting.
TEST(LatencyStoreTest, ParallelCallsWaitAtTheSameTime) {
  test_sync::Rendezvous all_waiting(8);
  std::atomic<int> met{0};
  LatencyStore store(std::make_shared<MemoryStore>(), milliseconds(200), [&](std::chrono::nanoseconds) {
    if (all_waiting.ArriveAndWait()) ++met;
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { (void)store.Head("k").ok(); });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(met.load(), 8);
}

}  // namespace
}  // namespace tb::objstore
