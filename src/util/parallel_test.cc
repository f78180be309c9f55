#include "util/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

namespace tb {
namespace {

// Lets `count` parties through only once all of them have arrived; false if they did not within
// a bound that only a broken pool reaches (the tests never wait on it to order events).
class Rendezvous {
 public:
  explicit Rendezvous(int count) : left_(count) {}
  bool ArriveAndWait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (--left_ == 0) all_.notify_all();
    return all_.wait_for(lock, std::chrono::seconds(20), [&] { return left_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable all_;
  int left_;
};

// Occupies every worker of `pool` until the returned promise is set.
std::promise<void> BlockWorkers(WorkerPool& pool, size_t workers) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto started = std::make_shared<Rendezvous>(static_cast<int>(workers) + 1);
  for (size_t i = 0; i < workers; ++i) {
    Result<bool> taken = pool.Submit([released, started] {
      started->ArriveAndWait();
      released.wait();
    });
    EXPECT_TRUE(taken.ok() && *taken);
  }
  EXPECT_TRUE(started->ArriveAndWait());
  return release;
}

TEST(ParallelForTest, RunsEveryIndexOnceOnAsManyThreadsAsAsked) {
  WorkerPool pool({.workers = 3, .queue = 0});
  std::vector<std::atomic<int>> runs(4);
  Rendezvous all_four(4);  // passes only if the 4 calls run side by side
  std::mutex mu;
  std::set<std::thread::id> threads;
  Status s = ParallelFor(pool, 4, 4, [&](size_t i) {
    ++runs[i];
    {
      std::lock_guard<std::mutex> lock(mu);
      threads.insert(std::this_thread::get_id());
    }
    return all_four.ArriveAndWait() ? Status::Ok() : Status::Internal("not concurrent");
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (auto& r : runs) EXPECT_EQ(r.load(), 1);
  EXPECT_EQ(threads.size(), 4u);
  EXPECT_TRUE(threads.contains(std::this_thread::get_id()));  // the caller works too
}

TEST(ParallelForTest, ReturnsTheLowestFailingIndexAfterRunningAll) {
  WorkerPool pool({.workers = 2, .queue = 4});
  std::atomic<int> ran{0};
  Status s = ParallelFor(pool, 5, 2, [&](size_t i) {
    ++ran;
    return i == 1 || i == 3 ? Status::Internal("task " + std::to_string(i)) : Status::Ok();
  });
  EXPECT_EQ(ran.load(), 5);
  EXPECT_EQ(s.message(), "task 1");
  EXPECT_TRUE(ParallelFor(pool, 0, 4, [](size_t) { return Status::Internal("never"); }).ok());
  EXPECT_TRUE(ParallelFor(5, 2, [](size_t) { return Status::Ok(); }).ok());  // the shared pool
}

TEST(ParallelForTest, AFullPoolLeavesTheWorkToTheCaller) {
  WorkerPool pool({.workers = 1, .queue = 0});
  std::promise<void> release = BlockWorkers(pool, 1);
  std::set<std::thread::id> threads;
  Status s = ParallelFor(pool, 3, 3, [&](size_t) {
    threads.insert(std::this_thread::get_id());  // one thread only, or the set races (TSan)
    return Status::Ok();
  });
  release.set_value();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST(ParallelForTest, AHelperQueuedPastTheCallsEndTouchesNothing) {
  WorkerPool pool({.workers = 1, .queue = 2});  // room for the stale helper and the task after it
  std::promise<void> release = BlockWorkers(pool, 1);
  int runs = 0;
  // The helper waits in the queue behind the blocked worker; the caller runs both indices and
  // returns without waiting for it.
  ASSERT_TRUE(ParallelFor(pool, 2, 2, [&](size_t) {
                ++runs;
                return Status::Ok();
              }).ok());
  EXPECT_EQ(runs, 2);
  release.set_value();
  // The stale helper runs (and does nothing) before this task, on the one worker.
  std::promise<void> after;
  ASSERT_TRUE(*pool.Submit([&] { after.set_value(); }));
  after.get_future().wait();
  EXPECT_EQ(runs, 2);
}

TEST(ParallelForTest, NestedCallsFinishOnASmallPool) {
  WorkerPool pool({.workers = 1, .queue = 0});
  std::atomic<int> leaves{0};
  Status s = ParallelFor(pool, 3, 3, [&](size_t) {
    return ParallelFor(pool, 3, 3, [&](size_t) {
      ++leaves;
      return Status::Ok();
    });
  });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(leaves.load(), 9);
}

TEST(ParallelForTest, NoThreadLeftRefusesWithUnavailableInsteadOfAborting) {
  int starts = 0;
  WorkerPool pool({.workers = 4, .queue = 8}, [&](std::function<void()>) -> std::thread {
    ++starts;
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
  });
  std::atomic<int> ran{0};
  Status s = ParallelFor(pool, 3, 3, [&](size_t) {
    ++ran;
    return Status::Ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("limits.query_workers=4"), std::string::npos) << s.message();
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(ran.load(), 0);
  // A call that needs no helper runs on its own thread.
  EXPECT_TRUE(ParallelFor(pool, 1, 3, [](size_t) { return Status::Ok(); }).ok());
}

TEST(ParallelForTest, NoWorkersMeansTheCallerRunsEverything) {
  WorkerPool pool({.workers = 0, .queue = 8});
  std::set<std::thread::id> threads;
  ASSERT_TRUE(ParallelFor(pool, 4, 4, [&](size_t) {
                threads.insert(std::this_thread::get_id());
                return Status::Ok();
              }).ok());
  EXPECT_EQ(threads.size(), 1u);
}

}  // namespace
}  // namespace tb
