#include "util/parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace tb {

Status ParallelFor(size_t n, size_t max_parallel, const std::function<Status(size_t)>& fn) {
  std::vector<Status> results(n);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) results[i] = fn(i);
  };
  const size_t threads = std::min(n, std::max<size_t>(max_parallel, 1));
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(worker);
  worker();
  for (auto& h : helpers) h.join();
  for (auto& s : results)
    if (!s.ok()) return s;
  return Status::Ok();
}

}  // namespace tb
