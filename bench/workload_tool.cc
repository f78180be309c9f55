// tb_workload: generates the benchmark workload (bench/workload.h), writes it as a data-set file
// (docs/format/workload.md) and prints its distributions as measured on the generated spans:
// spans per trace, attributes per span, and per attribute key its share of spans, distinct values
// and value lengths. BENCHMARKS.md quotes this output.
//
//   tb_workload --spans 1000000 --batch 512 --seed 1 [--out FILE]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "model/text.h"
#include "wire/otlp_codec.h"
#include "workload.h"

namespace {

struct KeyStats {
  uint64_t spans = 0;
  std::set<std::string> distinct;  // capped: counting stops growing at kDistinctCap
  uint64_t total_length = 0;
  size_t max_length = 0;
};
constexpr size_t kDistinctCap = 2'000'000;

template <typename T>
T Percentile(std::vector<T> v, double p) {
  if (v.empty()) return T{};
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Benchmark workload generator"};
  tb::bench::WorkloadOptions options;
  size_t spans = 1'000'000;
  size_t batch_spans = 512;
  std::string out;
  app.add_option("--spans", spans, "spans to generate (whole traces; may overshoot by one trace)");
  app.add_option("--batch", batch_spans, "spans per OTLP request in the data set");
  app.add_option("--seed", options.seed);
  app.add_option("--services", options.services);
  app.add_option("--operations", options.operations_per_service, "server operations per service");
  app.add_option("--users", options.users);
  app.add_option("--trace-gap-ns", options.mean_trace_gap_nanos, "mean gap between trace starts");
  app.add_option("--out", out, "write the data set to this file");
  CLI11_PARSE(app, argc, argv);

  tb::bench::Workload workload(options);
  std::vector<tb::bench::DatasetRecord> records;
  std::map<std::string, KeyStats> keys;
  std::vector<uint32_t> attributes_per_span;
  uint64_t total = 0, requests = 0, errors = 0, with_events = 0, with_links = 0, otlp_bytes = 0;
  uint64_t kinds[6] = {};
  while (total < spans) {
    const tb::model::Traces batch = workload.NextBatch(std::min(batch_spans, spans - total));
    const uint32_t n = static_cast<uint32_t>(batch.SpanCount());
    total += n;
    ++requests;
    std::string otlp = tb::wire::EncodeOtlpProtobuf(batch);
    otlp_bytes += otlp.size();
    if (!out.empty()) records.push_back({n, std::move(otlp)});
    for (const auto& rs : batch.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& span : ss.spans) {
          attributes_per_span.push_back(static_cast<uint32_t>(span.attributes.size()));
          errors += span.status.code == tb::model::StatusCode::kError;
          with_events += !span.events.empty();
          with_links += !span.links.empty();
          ++kinds[static_cast<int>(span.kind)];
          for (const auto& kv : span.attributes) {
            KeyStats& k = keys[kv.key];
            ++k.spans;
            const std::string v = tb::model::CanonicalString(kv.value);
            k.total_length += v.size();
            k.max_length = std::max(k.max_length, v.size());
            if (k.distinct.size() < kDistinctCap) k.distinct.insert(v);
          }
        }
  }
  if (!out.empty()) {
    if (auto s = tb::bench::WriteDataset(out, records); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }

  const auto& sizes = workload.trace_sizes();
  const double n = static_cast<double>(total);
  double mean_size = 0;
  for (uint32_t s : sizes) mean_size += s;
  mean_size /= static_cast<double>(sizes.size());
  std::printf("spans %llu, traces %zu, OTLP protobuf %.1f B/span, %llu requests of ~%zu spans\n",
              static_cast<unsigned long long>(total), sizes.size(), static_cast<double>(otlp_bytes) / n,
              static_cast<unsigned long long>(requests), batch_spans);
  std::printf("spans per trace: mean %.1f, p50 %u, p90 %u, p99 %u, p99.9 %u, max %u; %.1f%% of traces < 10 spans\n",
              mean_size, Percentile(sizes, 0.5), Percentile(sizes, 0.9), Percentile(sizes, 0.99),
              Percentile(sizes, 0.999), Percentile(sizes, 1.0),
              100.0 *
                  static_cast<double>(std::count_if(sizes.begin(), sizes.end(), [](uint32_t s) { return s < 10; })) /
                  static_cast<double>(sizes.size()));
  double mean_attrs = 0;
  for (uint32_t a : attributes_per_span) mean_attrs += a;
  std::printf("attributes per span: mean %.2f, p50 %u, max %u\n", mean_attrs / n, Percentile(attributes_per_span, 0.5),
              Percentile(attributes_per_span, 1.0));
  std::printf("kinds: internal %.1f%%, server %.1f%%, client %.1f%%, producer %.1f%%, consumer %.1f%%\n",
              100 * kinds[1] / n, 100 * kinds[2] / n, 100 * kinds[3] / n, 100 * kinds[4] / n, 100 * kinds[5] / n);
  std::printf("errors %.2f%% of spans, events on %.2f%%, links on %.2f%%\n", 100 * errors / n, 100 * with_events / n,
              100 * with_links / n);
  std::printf("| key | on %% of spans | distinct values | mean bytes | max bytes |\n|---|---|---|---|---|\n");
  for (const auto& [key, k] : keys)
    std::printf("| `%s` | %.1f | %s%zu | %.0f | %zu |\n", key.c_str(), 100 * k.spans / n,
                k.distinct.size() >= kDistinctCap ? "≥ " : "", k.distinct.size(),
                static_cast<double>(k.total_length) / static_cast<double>(k.spans), k.max_length);
  return 0;
}
