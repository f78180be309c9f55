// A seeded, repeatable trace workload for benchmarks, and the data-set file that replays it.
//
// Traces are call trees across a catalogue of services (BENCHMARKS.md, "Workload", states every
// distribution): a root SERVER span in an entry service; below it CLIENT spans each followed by
// the SERVER span of the service they call, database and cache CLIENT spans, PRODUCER spans with
// the CONSUMER span of another service, and INTERNAL spans. Children run within their parent.
// Trace sizes are heavy-tailed (a discretised lognormal capped at max_trace_spans). Span
// attributes follow the OpenTelemetry conventions with realistic cardinality: low (http.method,
// http.status_code, rpc.system), high (http.url with IDs, user.id, a request.id shared by the
// spans of a trace, ephemeral net.peer.port on client spans) and long (db.statement); ~1% error
// spans carry an exception event, ~2% of spans link to a span of an earlier trace, and some
// values are not ASCII.
//
// The same seed and options give the same spans on the same build (the distributions are
// libstdc++'s); the data-set file (docs/format/workload.md) freezes the bytes across builds.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "model/span.h"
#include "util/status.h"

namespace tb::bench {

struct WorkloadOptions {
  uint64_t seed = 1;
  int services = 30;
  int operations_per_service = 6;
  int users = 10'000;
  uint64_t start_unix_nano = 1'764'000'000'000'000'000ull;
  // Trace start times advance by an exponentially distributed gap with this mean.
  uint64_t mean_trace_gap_nanos = 1'000'000;
  // Spans per trace: round(lognormal(ln(median), sigma)), at least 1, at most max_trace_spans.
  double trace_size_median = 4;
  double trace_size_sigma = 1.4;
  uint32_t max_trace_spans = 5000;
};

class Workload {
 public:
  explicit Workload(const WorkloadOptions& options = {});
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;
  ~Workload();

  // Whole traces until at least `spans` spans (a large trace may overshoot), grouped under one
  // resource per service instance.
  model::Traces NextBatch(size_t spans);

  // "service.name" of service `i` (0 <= i < options.services); service 0 is an entry service.
  const std::string& ServiceName(int i) const;
  // Span names of service `i`'s server operations.
  const std::vector<std::string>& OperationNames(int i) const;
  // Spans per trace of every trace generated so far, in order.
  const std::vector<uint32_t>& trace_sizes() const { return trace_sizes_; }

 private:
  struct Catalogue;
  struct TraceBuilder;

  WorkloadOptions options_;
  std::mt19937_64 rng_;
  uint64_t clock_;
  std::unique_ptr<Catalogue> catalogue_;
  std::vector<uint32_t> trace_sizes_;
  std::vector<std::pair<model::TraceId, model::SpanId>> recent_spans_;  // link targets, a ring
  size_t recent_next_ = 0;
};

// ---- data-set files (docs/format/workload.md) ----
// One record: an OTLP ExportTraceServiceRequest, encoded, with its span count.
struct DatasetRecord {
  uint32_t spans = 0;
  std::string otlp;
};

// Writes `records` to `path` (replacing it); the file is complete only once this returns OK.
Status WriteDataset(const std::string& path, const std::vector<DatasetRecord>& records);
// Reads a whole data-set file; INVALID_ARGUMENT naming the offset on a malformed file.
Result<std::vector<DatasetRecord>> ReadDataset(const std::string& path);

}  // namespace tb::bench
