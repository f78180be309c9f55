// Deterministic signals for tests of concurrent code, instead of sleeping to let time pass or to
// order events: a rendezvous, a count of progress that threads wait on, and a clock that moves
// only when told. Header
// only, and included by tests only.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace tb::test_sync {

// Lets `count` parties through only once all of them have arrived. ArriveAndWait is false when
// they did not within a bound that only broken code reaches (e.g. an engine that runs one after
// the other what should run at once): the bound keeps such a bug from hanging the test, and no
// test waits on it to order events.
class Rendezvous {
 public:
  explicit Rendezvous(int count) : left_(count) {}
  bool ArriveAndWait() {
    std::unique_lock lock(mu_);
    if (--left_ == 0) all_.notify_all();
    return all_.wait_for(lock, std::chrono::seconds(20), [&] { return left_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable all_;
  int left_;
};

// A count that only grows (sequences acknowledged, reads done), for threads to wait on instead of
// polling it.
class Progress {
 public:
  // Raises the count to `value` if it is below.
  void Reach(uint64_t value) {
    {
      std::lock_guard lock(mu_);
      count_ = std::max(count_, value);
    }
    changed_.notify_all();
  }
  void Add(uint64_t n = 1) {
    {
      std::lock_guard lock(mu_);
      count_ += n;
    }
    changed_.notify_all();
  }
  // Wakes every waiter for good, so that none is left waiting for a count that may never come
  // (e.g. the threads that make progress stopped early).
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    changed_.notify_all();
  }
  // Waits until the count is at least `at_least`, or Stop(); returns the count.
  uint64_t WaitFor(uint64_t at_least) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return count_ >= at_least || stopped_; });
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  uint64_t count_ = 0;    // GUARDED_BY(mu_)
  bool stopped_ = false;  // GUARDED_BY(mu_)
};

// A clock of type C (steady_clock, system_clock) that stands still until Advance moves it. Safe to
// read from any thread; Function() is what the code under test takes as its clock.
template <typename C>
class ManualClock {
 public:
  explicit ManualClock(typename C::time_point start = typename C::time_point(std::chrono::hours(1)))
      : ticks_(start.time_since_epoch().count()) {}
  typename C::time_point Now() const { return typename C::time_point(typename C::duration(ticks_.load())); }
  void Advance(typename C::duration by) { ticks_ += by.count(); }
  std::function<typename C::time_point()> Function() {
    return [this] { return Now(); };
  }

 private:
  std::atomic<typename C::rep> ticks_;
};

using ManualSteadyClock = ManualClock<std::chrono::steady_clock>;

}  // namespace tb::test_sync
