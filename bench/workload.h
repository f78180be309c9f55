// A seeded, repeatable trace workload for benchmarks: services with several operations, traces
// of 1 to 30 spans with parent links, span kinds, ~1% errors, events, and attributes of realistic
// cardinality (low: http.method, http.status_code; high: user.id, request.id, http.url with IDs).
#pragma once

#include <cstdint>
#include <random>

#include "model/span.h"

namespace tb::bench {

struct WorkloadOptions {
  uint64_t seed = 1;
  int services = 20;
  int operations_per_service = 8;
  int users = 10'000;
  uint64_t start_unix_nano = 1'764'000'000'000'000'000ull;
};

class Workload {
 public:
  explicit Workload(const WorkloadOptions& options = {});
  // About `spans` spans (whole traces), grouped under one resource per service.
  model::Traces NextBatch(size_t spans);

 private:
  void AddTrace(model::Traces* batch, size_t* spans);

  WorkloadOptions options_;
  std::mt19937_64 rng_;
  uint64_t clock_;
};

}  // namespace tb::bench
