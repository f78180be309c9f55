// The narrow metric handles the core parts record through. Each points at one pre-resolved time
// series of the registry that metrics::Metrics owns (labels chosen once, when the handle is made),
// so recording is an atomic add or a histogram observation: no label lookup on a hot path.
//
// A default-constructed handle records nothing; that is how a part runs without metrics (unit
// tests, `metrics.enabled: false`). Handles stay valid as long as the Metrics that made them.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "util/status.h"

namespace tb::metrics {

class CounterRef {
 public:
  CounterRef() = default;
  explicit CounterRef(prometheus::Counter* counter) : counter_(counter) {}
  void Add(double n = 1) const {
    if (counter_ != nullptr) counter_->Increment(n);
  }

 private:
  prometheus::Counter* counter_ = nullptr;
};

class HistogramRef {
 public:
  HistogramRef() = default;
  explicit HistogramRef(prometheus::Histogram* histogram) : histogram_(histogram) {}
  void Observe(double value) const {
    if (histogram_ != nullptr) histogram_->Observe(value);
  }
  // Observes the seconds since `since`.
  void ObserveSince(std::chrono::steady_clock::time_point since) const {
    if (histogram_ != nullptr)
      histogram_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
  }
  bool enabled() const { return histogram_ != nullptr; }

 private:
  prometheus::Histogram* histogram_ = nullptr;
};

// The WAL's group commits (wal::Wal).
struct WalMetrics {
  HistogramRef fsync_seconds;         // one observation per fdatasync of a segment
  HistogramRef group_commit_records;  // records written by one group commit
};

// Flushes of heads into blocks (db::Db).
struct FlushMetrics {
  HistogramRef duration_seconds;  // one observation per block written (or attempt that failed)
  CounterRef blocks;
  CounterRef bytes;  // data + index bytes of the blocks written
  CounterRef spans;
  CounterRef failures;
};

// Compaction and retention runs (db::Db::Compact: the background loop, /admin/compact, the CLI).
struct CompactionMetrics {
  HistogramRef duration_seconds;  // one observation per run, until nothing is left to do
  CounterRef runs;
  CounterRef failures;              // runs that stopped on an error (they are retried)
  CounterRef lease_held_elsewhere;  // runs that found another process compacting the tenant
  CounterRef input_blocks;
  CounterRef output_blocks;
  CounterRef input_bytes;   // data + index
  CounterRef output_bytes;  // data + index
  CounterRef output_spans;
  CounterRef duplicate_spans_dropped;
  CounterRef expired_blocks;  // retired by retention
  CounterRef swept_blocks;    // retired blocks deleted after the grace period, and abandoned outputs
};

// What queries read from blocks (block::BlockReader), over every door.
struct BlockReadMetrics {
  CounterRef blocks;  // a block asked for a trace's pages or a search's candidate pages
  CounterRef pages;   // pages decoded
  CounterRef bytes;   // bytes fetched from the object store (cache misses), index and pages
};

// Object store calls (objstore::MetricsStore), by operation; requests also by their outcome.
enum class StoreOp { kPut, kGet, kHead, kList, kDelete, kCount };
inline constexpr size_t kStoreOps = static_cast<size_t>(StoreOp::kCount);
inline constexpr size_t kStatusCodes = 17;  // tb::StatusCode's values, 0 (OK) to 16

struct ObjectStoreMetrics {
  // [operation][status code]: every code's series exists from the start, so that a rate over
  // errors is 0 rather than absent before the first one.
  std::array<std::array<CounterRef, kStatusCodes>, kStoreOps> requests;
  std::array<HistogramRef, kStoreOps> duration_seconds;
  CounterRef read_bytes;     // bytes returned by GETs
  CounterRef written_bytes;  // bytes of the objects PUT
  CounterRef retries;        // attempts the store retried (S3: after a transient failure)
};

// The kinds of query requests every door maps to (query::QueryEngine's entry points).
enum class QueryKind { kGetTrace, kFindTraces, kFindTraceIds, kServices, kOperations, kDependencies, kCount };
inline constexpr size_t kQueryKinds = static_cast<size_t>(QueryKind::kCount);

// One door's query metrics, one set of series per kind.
class QueryMetrics {
 public:
  struct Kind {
    CounterRef requests;
    CounterRef errors;
    HistogramRef duration_seconds;
  };
  QueryMetrics() = default;
  explicit QueryMetrics(std::array<Kind, kQueryKinds> kinds) : kinds_(kinds) {}

  // Records one request of `kind` that started at `since` and ended with `status`.
  void Record(QueryKind kind, std::chrono::steady_clock::time_point since, const Status& status) const {
    const Kind& k = kinds_[static_cast<size_t>(kind)];
    k.requests.Add();
    if (!status.ok()) k.errors.Add();
    k.duration_seconds.ObserveSince(since);
  }

 private:
  std::array<Kind, kQueryKinds> kinds_{};
};

// Why a door refused an ingest request.
enum class RefusalReason { kLimit, kBackPressure, kBadInput, kUnavailable, kCount };
inline constexpr size_t kRefusalReasons = static_cast<size_t>(RefusalReason::kCount);

// One ingest door's metrics (OTLP gRPC, OTLP HTTP, Jaeger storage v1).
class IngestMetrics {
 public:
  struct Series {
    CounterRef requests;
    CounterRef spans;           // accepted and stored
    CounterRef bytes;           // request bytes of accepted requests, as decoded from the transport
    CounterRef rejected_spans;  // dropped from accepted requests by the per-trace span limit
    std::array<CounterRef, kRefusalReasons> refused;
  };
  IngestMetrics() = default;
  explicit IngestMetrics(Series series) : s_(series) {}

  void Accepted(uint64_t spans, uint64_t rejected_spans, uint64_t bytes) const {
    s_.requests.Add();
    s_.spans.Add(static_cast<double>(spans));
    s_.bytes.Add(static_cast<double>(bytes));
    if (rejected_spans > 0) s_.rejected_spans.Add(static_cast<double>(rejected_spans));
  }
  void Refused(RefusalReason reason) const {
    s_.requests.Add();
    s_.refused[static_cast<size_t>(reason)].Add();
  }
  // Records a request refused with `status` (ReasonFor).
  void Failed(const Status& status) const { Refused(ReasonFor(status)); }
  // The reason a failed ingest's status stands for: RESOURCE_EXHAUSTED is back-pressure,
  // INVALID_ARGUMENT bad input, FAILED_PRECONDITION a limit (v1's per-trace span limit, which has
  // no partial success), anything else the store being unable to write.
  static RefusalReason ReasonFor(const Status& status);

 private:
  Series s_;
};

}  // namespace tb::metrics
