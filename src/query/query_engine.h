// QueryEngine: the one query core behind every read API (gRPC storage v2 now; Jaeger HTTP,
// api_v3 and storage v1 later). It fans a request out to every TraceSource and merges.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "metrics/handles.h"
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

// A source that one request could not read (the object store down, a corrupt block), and why: the
// request answered from the other sources.
struct SourceWarning {
  std::string source;  // TraceSource::Name()
  Status reason;
  // "block <id> could not be read: UNAVAILABLE: ...", for clients and logs.
  std::string Message() const;
};

// The sources one request could not read, each once (with its first failure), in the order they
// failed. Thread-safe, since a request reads its sources in parallel.
class QueryWarnings {
 public:
  // Whether `source` is new to the list.
  bool Add(std::string source, Status reason);
  std::vector<SourceWarning> List() const;
  bool empty() const;

 private:
  mutable std::mutex mu_;
  std::vector<SourceWarning> warnings_;  // guarded by mu_
};

class Deadline;

// Whether the client of a request has gone (a gRPC call cancelled, or past its own deadline): asked
// at each step of a request, like QueryLimits::timeout. Doors wrap their transport's signal in it,
// so the core sees no transport type.
using CancelCheck = std::function<bool()>;

// The limits every door shares (limits.max_search_depth, limits.query_timeout in the configuration).
struct QueryLimits {
  // A search for more traces than this is refused with INVALID_ARGUMENT naming the limit, rather
  // than clamped, so that a client never takes a cut answer for a whole one. 0: no limit.
  int max_search_depth = 0;
  // A request still running after this long stops at its next step (a wave of sources searched,
  // a trace read) with DEADLINE_EXCEEDED naming the limit. 0: no limit.
  std::chrono::milliseconds timeout{0};
};

struct QueryEngineOptions {
  size_t max_parallel = 16;  // sources asked at a time
  QueryLimits limits;
  // Retention: spans that started before expired_before() (unix ns; asked once per request) are
  // expired, and no request returns them: trace reads leave them out (a trace of expired spans
  // only is unknown), searches and dependencies look only at later spans, and a service or
  // operation is listed only while a span of it is unexpired. Null (or 0): nothing expires.
  std::function<uint64_t()> expired_before;
  // A search stops before sources whose newest span start is older than its limit-th result by
  // more than this (docs/format/reads.md): a trace split across sources ranks by its newest span,
  // which may lie this much after the span that matched. Traces running longer than this may rank
  // lower than they should in searches that reach their limit.
  uint64_t split_trace_allowance_nanos = 3'600'000'000'000;  // 1 h
  // The time QueryLimits::timeout is measured in. Null: std::chrono::steady_clock::now; tests pass
  // a clock they move themselves.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

class QueryEngine {
 public:
  // `sources` is asked once per request, since flushes change the set between requests. Sources
  // are queried in parallel, up to `max_parallel` at a time; a trace read asks only the sources
  // that may hold the trace (TraceSource::PlanReadTrace), and starts threads only when two or more
  // of them may wait on storage. A source whose read fails is left out of the answer and reported
  // when the request has a warning list (WithWarnings); without one, only DATA_LOSS (a corrupt
  // block) is left out (and logged), and other errors fail the request, so that no caller takes a
  // short answer for a whole one unawares.
  explicit QueryEngine(std::function<SourceList()> sources, QueryEngineOptions options = {})
      : sources_(std::move(sources)), options_(std::move(options)) {}
  explicit QueryEngine(SourceList fixed, QueryEngineOptions options = {})
      : QueryEngine([fixed] { return fixed; }, std::move(options)) {}

  // The same engine (same sources) recording every request into `metrics`: one per door.
  QueryEngine WithMetrics(metrics::QueryMetrics metrics) const {
    QueryEngine metered = *this;
    metered.metrics_ = metrics;
    return metered;
  }
  // The same engine for one request whose client may go away: once `cancelled` says so, the
  // request stops at its next step with CANCELLED.
  QueryEngine WithCancellation(CancelCheck cancelled) const {
    QueryEngine watched = *this;
    watched.cancelled_ = std::move(cancelled);
    return watched;
  }

  // The same engine for one request that answers from the sources it can read: a source whose
  // read fails (the object store down, a corrupt block) is left out, logged once and added to
  // `warnings` (which must outlive the engine's calls), and the request goes on with the others.
  // Errors of the request itself (a limit, its deadline, its sink) still fail it.
  QueryEngine WithWarnings(QueryWarnings* warnings) const {
    QueryEngine reporting = *this;
    reporting.warnings_ = warnings;
    return reporting;
  }
  // The list WithWarnings gave, or null.
  QueryWarnings* warnings() const { return warnings_; }

  // Streams each known trace in request order; unknown IDs are skipped.
  Status GetTraces(const std::vector<model::TraceId>& ids, const TraceSink& sink) const;
  // Finds matching traces, newest first, at most query.Limit(). Sources whose start times miss the
  // query's window are not asked, not even to complete the time range of a trace found elsewhere;
  // the others are searched newest first, in waves, until no source left can hold a newer result
  // (QueryEngineOptions::split_trace_allowance_nanos).
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
  // The unexpired spans of each of `ids` (ExpiredBefore() = `expired_before`), in order; a trace
  // no source holds is empty.
  Result<std::vector<model::Traces>> ReadTraces(const SourceList& sources, const std::vector<model::TraceId>& ids,
                                                uint64_t expired_before) const;
  // Reads the traces `ids` in waves of max_parallel, each wave with one ReadTraces (sources in
  // parallel, and a block's pages in parallel: a trace read mostly waits on storage or decompresses
  // pages), and hands the known ones to `sink` in the order of `ids`. At most one wave of traces is held; `deadline` is
  // checked before each wave and between the traces handed over.
  Status StreamTraces(const SourceList& sources, const std::vector<model::TraceId>& ids, uint64_t expired_before,
                      const Deadline& deadline, const TraceSink& sink) const;
  // The union of what `collect` gathers from every unexpired source. An item gathered only from
  // sources that may hold expired spans is kept only if `query_for(item)` matches an unexpired span
  // there, so that names of expired data disappear from the lists.
  template <typename T>
  Result<std::vector<T>> CollectUnexpired(const std::function<Status(const TraceSource&, std::set<T>*)>& collect,
                                          const std::function<TraceQuery(const T&)>& query_for) const;
  Result<std::vector<TraceHit>> SearchTraceIds(const TraceQuery& query, const Deadline& deadline) const;
  // INVALID_ARGUMENT when the query asks for more traces than QueryLimits::max_search_depth.
  Status CheckSearchDepth(const TraceQuery& query) const;
  // Runs `request` and records it as one request of `kind`.
  template <typename Fn>
  auto Metered(metrics::QueryKind kind, Fn request) const -> decltype(request()) {
    const auto since = std::chrono::steady_clock::now();
    auto result = request();
    metrics_.Record(kind, since, StatusOf(result));
    return result;
  }
  // What a request does with the result of reading `source`: OK when the read may be left out of
  // the answer (see the constructor and WithWarnings), else `read`.
  Status Tolerating(const TraceSource& source, Status read) const;
  // Runs fn(source, i, &(*out)[i]) for every source in parallel, Tolerating each; a source whose
  // fn fails is left out whole: its (*out)[i] stays empty, not holding what it gathered first.
  template <typename T>
  Status ForEachSource(const SourceList& sources, std::vector<T>* out,
                       const std::function<Status(const TraceSource&, size_t, std::type_identity_t<T>*)>& fn) const;

  // Where this request must stop: QueryLimits::timeout from now, or its client gone.
  Deadline StartDeadline() const;
  // 0 when nothing expires.
  uint64_t ExpiredBefore() const { return options_.expired_before ? options_.expired_before() : 0; }
  // The sources that may hold spans started in [min, max] (all whose range is unknown).
  static SourceList Overlapping(const SourceList& sources, uint64_t min_unix_nano, uint64_t max_unix_nano);
  // Searches `candidates` newest first (SearchNewestFirst's stop rule: FindTraceIds); returns the
  // sources searched and their hits, index for index.
  Status SearchNewestFirst(const SourceList& candidates, const SpanMatcher& matcher, size_t limit,
                           const Deadline& deadline, SourceList* searched,
                           std::vector<std::vector<TraceHit>>* hits) const;
  // Whether any of `sources` holds a span that `query` matches.
  Result<bool> AnyMatch(const SourceList& sources, const TraceQuery& query) const;

  std::function<SourceList()> sources_;
  QueryEngineOptions options_;
  metrics::QueryMetrics metrics_;
  CancelCheck cancelled_;              // null: nobody cancels
  QueryWarnings* warnings_ = nullptr;  // null: strict (see the constructor)
};

}  // namespace tb::query
