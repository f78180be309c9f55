// WorkerPool: a bounded set of threads that parallel reads (ParallelFor) hand work to, so that the
// number of threads a process runs does not grow with the number of queries in flight.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "util/status.h"

namespace tb {

class WorkerPool {
 public:
  struct Limits {
    size_t workers = 16;  // limits.query_workers: threads started at most, each on first need
    size_t queue = 64;    // limits.query_queue: tasks waiting for a busy worker at most
  };
  // Starts a thread running `body`; throws std::system_error when none can be started (as
  // std::thread does). Tests pass one that fails.
  using ThreadStarter = std::function<std::thread(std::function<void()> body)>;

  explicit WorkerPool(Limits limits, ThreadStarter start_thread = {});
  // Lets running tasks finish and drops the queued ones; no task may still need the pool.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Hands `task` to an idle worker, to a new one while fewer than Limits::workers run, or to the
  // queue while fewer than Limits::queue tasks wait there: true. False when the pool is full: the
  // task was not taken. UNAVAILABLE, naming the limit, when a thread was needed and could not be
  // started (the process is out of threads or memory); the task was not taken.
  Result<bool> Submit(std::function<void()> task);

  const Limits& limits() const { return limits_; }

 private:
  void Work();

  const Limits limits_;
  const ThreadStarter start_thread_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;         // GUARDED_BY(mu_)
  size_t idle_ = 0;                          // GUARDED_BY(mu_): workers waiting for a task
  bool stopping_ = false;                    // GUARDED_BY(mu_)
};

// The pool every ParallelFor without a pool of its own uses: one per process, replaced at start-up
// from the configuration (server), and by tests. A ParallelFor in flight keeps the pool it began
// with.
std::shared_ptr<WorkerPool> SharedWorkerPool();
void SetSharedWorkerPool(std::shared_ptr<WorkerPool> pool);

}  // namespace tb
