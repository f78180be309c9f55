#include "search_mix.h"

#include <algorithm>
#include <random>
#include <string>

namespace tb::bench {

std::vector<MixQuery> PlanSearchMix(const WorkloadOptions& workload, uint64_t data_span_nanos, int per_group,
                                    uint64_t seed) {
  const Workload names(workload);  // the catalogue: service and operation names
  std::mt19937_64 rng(seed * 7 + 1);
  auto uniform = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  std::vector<MixQuery> plan;
  for (size_t k = 0; k < std::size(kMixKinds); ++k)
    for (size_t w = 0; w < std::size(kMixWindows); ++w)
      for (int i = 0; i < per_group; ++i) {
        query::TraceQuery q;
        q.search_depth = 20;  // the Jaeger UI's default
        const uint64_t room = data_span_nanos > kMixWindows[w] ? data_span_nanos - kMixWindows[w] : 1;
        const uint64_t start = workload.start_unix_nano + uniform(room);
        q.start_time_min_unix_nano = start;
        q.start_time_max_unix_nano = start + kMixWindows[w];
        const int service = static_cast<int>(uniform(static_cast<uint64_t>(workload.services)));
        switch (k) {
          case 0: q.service_name = names.ServiceName(service); break;
          case 1: {
            q.service_name = names.ServiceName(service);
            const auto& ops = names.OperationNames(service);
            q.operation_name = ops[uniform(ops.size())];
            break;
          }
          case 2:
            q.service_name = names.ServiceName(service);
            q.attributes = {{"http.status_code", "500"}};
            break;
          case 3:
            q.attributes = {{"user.id", "user-" + std::to_string(uniform(static_cast<uint64_t>(workload.users)))}};
            break;
          case 4:
            q.service_name = names.ServiceName(service);
            q.duration_min_nanos = 200'000'000;
            q.duration_max_nanos = 2'000'000'000;
            break;
        }
        plan.push_back({k, w, std::move(q)});
      }
  std::shuffle(plan.begin(), plan.end(), rng);
  return plan;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

}  // namespace tb::bench
