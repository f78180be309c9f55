#include "util/worker_pool.h"

#include <string>
#include <system_error>
#include <utility>

namespace tb {

WorkerPool::WorkerPool(Limits limits, ThreadStarter start_thread)
    : limits_(limits), start_thread_(start_thread ? std::move(start_thread) : [](std::function<void()> body) {
        return std::thread(std::move(body));
      }) {}

WorkerPool::~WorkerPool() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (auto& t : threads) t.join();
}

Result<bool> WorkerPool::Submit(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (limits_.workers == 0) return false;
  // Each queued task beyond the idle workers waits for a busy one.
  if (queue_.size() >= idle_ && threads_.size() < limits_.workers) {
    try {
      threads_.push_back(start_thread_([this] { Work(); }));
    } catch (const std::system_error& e) {
      return Status::Unavailable("no thread could be started for a query worker (" + std::to_string(threads_.size()) +
                                 " of limits.query_workers=" + std::to_string(limits_.workers) +
                                 " running): " + e.what() + "; try again later");
    }
  } else if (queue_.size() >= idle_ + limits_.queue) {
    return false;
  }
  queue_.push_back(std::move(task));
  wake_.notify_one();
  return true;
}

void WorkerPool::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ++idle_;
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (stopping_) return;
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // its captures go before the lock is taken again
    lock.lock();
  }
}

namespace {

std::mutex shared_mu;
std::shared_ptr<WorkerPool>& SharedSlot() {
  static auto* pool = new std::shared_ptr<WorkerPool>(std::make_shared<WorkerPool>(WorkerPool::Limits{}));
  return *pool;
}

}  // namespace

std::shared_ptr<WorkerPool> SharedWorkerPool() {
  std::lock_guard<std::mutex> lock(shared_mu);
  return SharedSlot();
}

void SetSharedWorkerPool(std::shared_ptr<WorkerPool> pool) {
  std::shared_ptr<WorkerPool> old;
  {
    std::lock_guard<std::mutex> lock(shared_mu);
    old = std::exchange(SharedSlot(), std::move(pool));
  }
  // `old` goes here, or with the last ParallelFor still using it.
}

}  // namespace tb
