#include "util/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace tb {
namespace {

TEST(ParallelForTest, RunsEveryIndexOnceAndConcurrently) {
  std::vector<std::atomic<int>> runs(8);
  const auto start = std::chrono::steady_clock::now();
  Status s = ParallelFor(8, 8, [&](size_t i) {
    ++runs[i];
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return Status::Ok();
  });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(s.ok());
  for (auto& r : runs) EXPECT_EQ(r.load(), 1);
  EXPECT_LT(elapsed, std::chrono::milliseconds(300));  // 8 × 50 ms run side by side, not in a row
}

TEST(ParallelForTest, ReturnsTheLowestFailingIndexAfterRunningAll) {
  std::atomic<int> ran{0};
  Status s = ParallelFor(5, 2, [&](size_t i) {
    ++ran;
    return i == 1 || i == 3 ? Status::Internal("task " + std::to_string(i)) : Status::Ok();
  });
  EXPECT_EQ(ran.load(), 5);
  EXPECT_EQ(s.message(), "task 1");
  EXPECT_TRUE(ParallelFor(0, 4, [](size_t) { return Status::Internal("never"); }).ok());
}

}  // namespace
}  // namespace tb
