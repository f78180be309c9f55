// Metrics: the process's Prometheus registry (prometheus-cpp core) and every metric family of
// tracebucket, listed in docs/metrics.md. It hands the core parts narrow handles
// (metrics/handles.h) with their labels resolved once, and renders the text exposition format for
// GET /metrics through prometheus-cpp's serializer.
//
// Two kinds of values:
//  - events, recorded as they happen through handles (ingest, WAL fsyncs, flushes, object store
//    calls, queries);
//  - state, read at scrape time from a `StateSnapshot` the owner supplies (sizes, counts now,
//    counters that a part keeps itself such as cache hits), plus process metrics from /proc.
//
// Thread-safety: handles may be used from any thread; Scrape may run concurrently with them.
#pragma once

#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/build_info.h"
#include "metrics/handles.h"

namespace tb::metrics {

// The ingest doors, as the `door` label spells them.
enum class IngestDoor { kOtlpGrpc, kOtlpHttp, kJaegerV1 };
// The query doors.
enum class QueryDoor { kGrpcV2, kGrpcV1, kApiV3, kJaegerHttp };

// One cache tier's counters and size, as the tier keeps them.
struct CacheTierSnapshot {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t bytes = 0;  // now
};

// State read at scrape time.
struct StateSnapshot {
  uint64_t wal_bytes = 0;  // size of the WAL's segment files
  uint64_t wal_segments = 0;
  uint64_t head_spans = 0;  // active and frozen heads
  uint64_t head_traces = 0;
  uint64_t head_bytes = 0;     // estimated memory of the active and frozen heads
  uint64_t flush_pending = 0;  // frozen heads waiting for (or in) a flush
  uint64_t blocks = 0;         // published blocks served
  uint64_t spool_blocks = 0;   // blocks in the local spool, waiting for the object store
  uint64_t spool_bytes = 0;    // their data + index bytes
  CacheTierSnapshot memory_cache;
  std::optional<CacheTierSnapshot> disk_cache;  // only with s3:// storage and a disk cache
};

class Metrics {
 public:
  // `tenant` labels the families where a tenant will matter (today always "default").
  Metrics(const BuildInfo& build, std::string tenant);
  ~Metrics();

  IngestMetrics ingest(IngestDoor door) const { return ingest_[static_cast<size_t>(door)]; }
  QueryMetrics query(QueryDoor door) const { return query_[static_cast<size_t>(door)]; }
  const WalMetrics& wal() const { return wal_; }
  const FlushMetrics& flush() const { return flush_; }
  HistogramRef admission_wait_seconds() const { return admission_wait_seconds_; }
  const CompactionMetrics& compaction() const { return compaction_; }
  const BlockReadMetrics& block_reads() const { return block_reads_; }
  const ObjectStoreMetrics& object_store() const { return object_store_; }

  // Where Scrape reads the state from; until set, the state families stay at zero.
  void SetStateSource(std::function<StateSnapshot()> source);

  // Reads the state and /proc, and returns every family in Prometheus's text format (0.0.4).
  std::string Scrape();

  // The names of every registered family, sorted (docs/metrics.md must list them all).
  std::vector<std::string> FamilyNames() const;

 private:
  struct State;
  void Refresh();

  std::shared_ptr<prometheus::Registry> registry_;
  std::array<IngestMetrics, 3> ingest_;
  std::array<QueryMetrics, 4> query_;
  WalMetrics wal_;
  FlushMetrics flush_;
  HistogramRef admission_wait_seconds_;
  CompactionMetrics compaction_;
  BlockReadMetrics block_reads_;
  ObjectStoreMetrics object_store_;

  std::mutex scrape_mu_;  // one Scrape at a time: it turns state snapshots into counter increments
  std::unique_ptr<State> state_;
  std::function<StateSnapshot()> source_;  // GUARDED_BY(scrape_mu_)
};

}  // namespace tb::metrics
