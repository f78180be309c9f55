// The search mix every search benchmark asks (BENCHMARKS.md): five kinds of query — service;
// service + operation; service + tag; tag alone; service + duration range — each in a 1 h and a
// 24 h window, with random parameters drawn from the workload's catalogue, at Jaeger UI's default
// depth of 20 traces.
#pragma once

#include <cstdint>
#include <iterator>
#include <vector>

#include "query/trace_query.h"
#include "workload.h"

namespace tb::bench {

inline constexpr uint64_t kHourNanos = 3600ull * 1'000'000'000ull;
inline constexpr const char* kMixKinds[] = {"service", "service+operation", "service+tag", "tag", "duration"};
inline constexpr uint64_t kMixWindows[] = {kHourNanos, 24 * kHourNanos};
inline constexpr const char* kMixWindowNames[] = {"1h", "24h"};
inline constexpr size_t kMixGroups = std::size(kMixKinds) * std::size(kMixWindows);

struct MixQuery {
  size_t kind = 0;    // index into kMixKinds
  size_t window = 0;  // index into kMixWindows
  query::TraceQuery query;
  size_t group() const { return kind * std::size(kMixWindows) + window; }
};

// `per_group` queries of every kind and window, their windows placed at random within the
// `data_span_nanos` after the workload's start, in a shuffled order. The same arguments give the
// same queries.
std::vector<MixQuery> PlanSearchMix(const WorkloadOptions& workload, uint64_t data_span_nanos, int per_group,
                                    uint64_t seed);

// The p-th quantile (0..1) of `v`, nearest rank; 0 for an empty `v`.
double Percentile(std::vector<double> v, double p);

}  // namespace tb::bench
