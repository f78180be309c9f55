// TraceSource: one place spans live (the in-memory head now, object-store blocks later). The
// query engine merges every source, so a trace split across sources comes back whole.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "model/span.h"
#include "query/trace_query.h"
#include "util/status.h"

namespace tb::query {

// A trace with at least one matching span, and the time range of all its spans in the source.
struct TraceHit {
  model::TraceId trace_id{};
  uint64_t newest_span_start_unix_nano = 0;  // orders results: newest first
  uint64_t min_start_unix_nano = 0;
  uint64_t max_end_unix_nano = 0;
};

struct Operation {
  std::string name;
  std::string span_kind;  // model::SpanKindName
  auto operator<=>(const Operation&) const = default;
};

// Call counts keyed by (parent service, child service).
using DependencyCounts = std::map<std::pair<std::string, std::string>, uint64_t>;

// How a source would answer a read of one trace, judged without I/O (TraceSource::PlanReadTrace).
enum class TraceReadPlan {
  kAbsent,      // it holds no span of the trace: not worth asking
  kFromMemory,  // it may hold spans, and would read them without waiting on storage
  kMayWait,     // it cannot tell without I/O, or reading may wait on storage
};

// The span start times a source holds, both bounds inclusive.
struct StartTimeRange {
  uint64_t min_unix_nano = 0;
  uint64_t max_unix_nano = 0;
};

class TraceSource {
 public:
  virtual ~TraceSource() = default;

  // Names the source in a request's warnings and in logs ("head", "block <id>").
  virtual std::string Name() const { return "unnamed source"; }

  // The range of span start times this source holds, when known without I/O (a block's meta); the
  // engine skips a source whose range misses a query's window or lies wholly before retention.
  // nullopt: unknown, always asked.
  virtual std::optional<StartTimeRange> StartTimes() const { return std::nullopt; }

  // Appends the traces holding a span that `matcher` accepts, at most `limit` of them, chosen
  // newest first by their newest span start.
  virtual Status FindTraces(const SpanMatcher& matcher, size_t limit, std::vector<TraceHit>* hits) const = 0;
  // Appends every span of trace `id` held by this source; nothing if it holds none.
  virtual Status ReadTrace(const model::TraceId& id, model::Traces* out) const = 0;
  // Reads several traces at once: one result per id, in order, each holding what ReadTrace would
  // append for that id, or the error that reading it met. A source whose traces share what it
  // reads (a block's pages) reads that once for the whole call. The default calls ReadTrace.
  virtual std::vector<Result<model::Traces>> ReadTraces(const std::vector<model::TraceId>& ids) const;
  // Judges ReadTrace(id) from what the source holds in memory, doing no I/O; a hint for scheduling
  // (what it holds may change before the read), except that kAbsent must be certain. The default
  // cannot tell.
  virtual TraceReadPlan PlanReadTrace(const model::TraceId& /*id*/) const { return TraceReadPlan::kMayWait; }
  // Appends the time range of each of `ids` that this source holds spans of, so that a trace
  // matched in one source is ordered by its spans in every source. The default reads the traces.
  virtual Status TraceRanges(const std::vector<model::TraceId>& ids, std::vector<TraceHit>* out) const;
  virtual Status Services(std::set<std::string>* out) const = 0;
  // Operations of `service`; every kind when `span_kind` is empty.
  virtual Status Operations(const std::string& service, const std::string& span_kind,
                            std::set<Operation>* out) const = 0;
  // Appends the traces this source holds spans of that lie within [start, end] (their spans in
  // this source). The default searches by start time.
  virtual Status TracesInWindow(uint64_t start_unix_nano, uint64_t end_unix_nano, std::vector<TraceHit>* out) const;
  // Adds parent→child service call counts of the traces whose spans all lie within [start, end],
  // for parents and children both held by this source: one call per span whose parent
  // (model::jaeger::DependencyParent) is a span of the same trace, same-service pairs included
  // (QueryEngine drops those, so that blocks written before that rule answer like new ones).
  virtual Status Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano, DependencyCounts* out) const = 0;
};

}  // namespace tb::query
