#include "util/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace tb {

namespace {

// What a call shares with its helper tasks. A helper the pool starts after the call returned finds
// `closed` and touches nothing else; `fn` and `results` live on the caller's stack.
struct Shared {
  Shared(size_t n, const std::function<Status(size_t)>* fn, std::vector<Status>* results)
      : n(n), fn(fn), results(results) {}

  // Runs unclaimed indices until none is left.
  void Work() {
    for (size_t i = next++; i < n; i = next++) (*results)[i] = (*fn)(i);
  }

  const size_t n;
  const std::function<Status(size_t)>* const fn;
  std::vector<Status>* const results;
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::condition_variable done;
  size_t active = 0;    // GUARDED_BY(mu): helpers between their start and their end
  bool closed = false;  // GUARDED_BY(mu): the caller no longer waits for helpers that start now
};

}  // namespace

Status ParallelFor(WorkerPool& pool, size_t n, size_t max_parallel, const std::function<Status(size_t)>& fn) {
  std::vector<Status> results(n);
  auto shared = std::make_shared<Shared>(n, &fn, &results);
  const auto helper = [shared] {
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->closed) return;
      ++shared->active;
    }
    shared->Work();
    std::lock_guard<std::mutex> lock(shared->mu);
    if (--shared->active == 0) shared->done.notify_all();
  };
  Status refused;
  const size_t helpers = std::min(n, std::max<size_t>(max_parallel, 1)) - std::min<size_t>(n, 1);
  for (size_t h = 0; h < helpers; ++h) {
    Result<bool> taken = pool.Submit(helper);
    if (!taken.ok()) {
      refused = taken.status();
      shared->next = n;  // helpers already running take no further index
      break;
    }
    if (!*taken) break;  // the pool is full: this thread runs what no helper takes
  }
  if (refused.ok()) shared->Work();
  {
    std::unique_lock<std::mutex> lock(shared->mu);
    shared->closed = true;
    shared->done.wait(lock, [&] { return shared->active == 0; });
  }
  if (!refused.ok()) return refused;
  for (auto& s : results)
    if (!s.ok()) return s;
  return Status::Ok();
}

Status ParallelFor(size_t n, size_t max_parallel, const std::function<Status(size_t)>& fn) {
  const std::shared_ptr<WorkerPool> pool = SharedWorkerPool();
  return ParallelFor(*pool, n, max_parallel, fn);
}

}  // namespace tb
