// QueryEngine: the one query core behind every read API (gRPC storage v2 now; Jaeger HTTP,
// api_v3 and storage v1 later). It fans a request out to every TraceSource and merges.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "query/trace_source.h"

namespace tb::query {

// Receives one whole trace at a time; returning an error stops the query (e.g. the client went away).
using TraceSink = std::function<Status(const model::TraceId& id, model::Traces&& trace)>;

struct TraceSummary {
  model::TraceId trace_id{};
  std::string root_service_name;
  std::string root_operation_name;
  uint64_t min_start_unix_nano = 0;
  uint64_t max_end_unix_nano = 0;
  int32_t span_count = 0;
  int32_t error_span_count = 0;
  int32_t orphan_span_count = 0;
  struct Service {
    std::string name;
    int32_t span_count = 0;
    int32_t error_span_count = 0;
  };
  std::vector<Service> services;  // sorted by name
};

// Summarises one whole trace the way Jaeger does: the root is the parentless span with the earliest
// start; orphans are spans whose parent is not in the trace.
TraceSummary Summarize(const model::TraceId& id, const model::Traces& trace);

using SourceList = std::vector<std::shared_ptr<const TraceSource>>;

class QueryEngine {
 public:
  // `sources` is asked once per request, since flushes change the set between requests. Sources
  // are queried in parallel, up to `max_parallel` at a time; a trace read asks only the sources
  // that may hold the trace (TraceSource::PlanReadTrace), and starts threads only when two or more
  // of them may wait on storage. A source that reports DATA_LOSS (a
  // corrupt block) is logged and left out of that answer; other errors fail the request.
  explicit QueryEngine(std::function<SourceList()> sources, size_t max_parallel = 16)
      : sources_(std::move(sources)), max_parallel_(max_parallel) {}
  explicit QueryEngine(SourceList fixed) : QueryEngine([fixed] { return fixed; }) {}

  // Streams each known trace in request order; unknown IDs are skipped.
  Status GetTraces(const std::vector<model::TraceId>& ids, const TraceSink& sink) const;
  // Finds matching traces, newest first, at most query.Limit().
  Result<std::vector<TraceHit>> FindTraceIds(const TraceQuery& query) const;
  // FindTraceIds, then streams each whole trace.
  Status FindTraces(const TraceQuery& query, const TraceSink& sink) const;
  Result<std::vector<std::string>> Services() const;  // sorted
  Result<std::vector<Operation>> Operations(const std::string& service, const std::string& span_kind) const;
  // Parent → child service call counts of the traces in [start, end], without same-service pairs.
  Result<DependencyCounts> Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano) const;

 private:
  // Call counts over every source, same-service pairs included.
  Result<DependencyCounts> CountCalls(const SourceList& sources, uint64_t start_unix_nano,
                                      uint64_t end_unix_nano) const;
  Result<model::Traces> ReadTrace(const SourceList& sources, const model::TraceId& id) const;
  // Runs fn(source, i) for every source in parallel.
  Status ForEachSource(const SourceList& sources, const std::function<Status(const TraceSource&, size_t)>& fn) const;

  std::function<SourceList()> sources_;
  size_t max_parallel_;
};

}  // namespace tb::query
