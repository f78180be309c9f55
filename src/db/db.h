// Db: the storage engine of one process. It owns the WAL, the active head, the heads being
// flushed, and the readers of every published block, and moves spans along
//
//   WAL + active head ──Cut──▶ frozen head ──BlockWriter──▶ block in the object store
//                                                            └─▶ block list ─▶ BlockReader
//
// so that a query always sees every acknowledged span exactly once: a frozen head leaves the
// query sources in the same step that its block's reader joins them. While the object store is
// down, a frozen head goes to a block in the local spool instead (the spool's reader replaces it),
// and waits there to be uploaded and published, oldest first (docs/format/spool.md). A WAL
// segment is removed only after every record in it is durable in a published block or in a
// spooled one; on start the spool is taken back and the WAL records that a block of this process
// already holds (by the WAL range in its meta) are skipped, so a crash at any point of a flush
// loses nothing and shows nothing twice.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "block/block_reader.h"
#include "block/block_writer.h"
#include "db/block_list.h"
#include "db/compactor.h"
#include "head/head.h"
#include "ingest/ingester.h"
#include "objstore/object_store.h"
#include "query/query_engine.h"
#include "wal/wal.h"

namespace tb::db {

struct DbOptions {
  std::string data_dir;  // WAL and the instance ID live here
  std::string tenant = "default";
  // Shared by the active and the flushing heads; with flush_bytes sized so that a process keeps
  // under 512 MiB RSS while ingesting (the head's estimate is ~1.2 KiB per span; BENCHMARKS.md).
  uint64_t head_memory_budget_bytes = 320ull << 20;
  // When set, the heads draw from this budget instead (the Dbs of every tenant share one), and
  // head_memory_budget_bytes only sizes flushes.
  std::shared_ptr<head::MemoryBudget> shared_budget;
  // How long a write that finds the heads' budget used up waits for a flush to free it before it is
  // refused with RESOURCE_EXHAUSTED (ingest::Admission).
  ingest::Admission admission;
  bool wal_sync = true;
  uint64_t wal_segment_bytes = 64ull << 20;
  ingest::Limits limits;
  query::QueryLimits query_limits;
  // A flush starts when the active head holds this much (estimated) memory, or when it has held
  // spans for flush_age. Capped at half the memory budget so ingest can go on during a flush.
  uint64_t flush_bytes = 128ull << 20;
  std::chrono::milliseconds flush_age{std::chrono::minutes(5)};
  bool background_flush = true;  // false: only Flush() writes blocks (tests)
  // Tests: every write that accepts spans is flushed into a block before it is acknowledged, and
  // queries read blocks only (the heads hold nothing acknowledged: a write is acknowledged once
  // its block is published, and the spans of a write whose flush failed appear with the flush that
  // succeeds next; Open flushes what the WAL replays). One block per write: only for test suites
  // that must exercise the block path end to end (Jaeger's e2e suite).
  bool flush_every_write = false;
  uint64_t cache_bytes = 256ull << 20;  // index sections and pages of blocks, in memory
  // The local spool (docs/format/spool.md): when a flush cannot store its block (the object store
  // is down), the block is written to spool_dir instead, its frozen head leaves memory and its WAL
  // segments may go; queries read the spooled copy, and the spooled blocks are uploaded and
  // published oldest first once the store answers. Empty: <data_dir>/spool. Several Dbs may share
  // one folder: the keys name the tenant.
  std::string spool_dir;
  // flush.spool_max_size: no block is spooled while the spool holds this much (data + index
  // bytes; the last one may pass it by one block); a failed flush then keeps its head in memory,
  // and the head's budget pushes back on ingest. 0: no spool.
  uint64_t spool_max_bytes = 10ull << 30;
  // When set, the spool draws from this budget instead (the Dbs of every tenant share one), and
  // spool_max_bytes is ignored.
  std::shared_ptr<head::MemoryBudget> shared_spool_budget;
  // 13 bits per trace in the trace-ID bloom (~0.2 % false positives, 1.6 B a trace) instead of the
  // writer's 10: a reader pins that bloom, and each false positive costs a cold lookup a GET
  // (docs/format/reads.md).
  block::BlockWriterOptions writer = [] {
    block::BlockWriterOptions o;
    o.trace_bloom_bits_per_key = 13;
    return o;
  }();
  // How blocks are read: the caps on decoded bytes (its metrics come from block_read_metrics).
  block::BlockReaderOptions reader;
  // How often the background loop re-reads the block list (Refresh), so that blocks published by
  // other processes on the same bucket join the queries and blocks they retired leave them. 0: only
  // explicit Refresh() calls (and this process's own publications) change the set.
  std::chrono::milliseconds blocklist_refresh_interval{std::chrono::seconds(15)};
  // Spans that started longer ago than this are expired: never returned (the query engine hides
  // them), dropped on WAL replay, and blocks holding nothing else leave the block list
  // (ApplyRetention). 0 keeps everything.
  std::chrono::milliseconds retention{0};
  // The wall clock retention is measured against; tests substitute their own.
  std::function<std::chrono::system_clock::time_point()> clock = [] { return std::chrono::system_clock::now(); };
  // Where the WAL, flushes and block reads record (metrics/handles.h); empty handles: no metrics.
  metrics::WalMetrics wal_metrics;
  metrics::FlushMetrics flush_metrics;
  metrics::CompactionMetrics compaction_metrics;
  metrics::BlockReadMetrics block_read_metrics;

  CompactionOptions compaction;
  // Compact (and sweep) every compaction_interval in the background; false: only Compact().
  bool background_compaction = true;
  std::chrono::milliseconds compaction_interval{std::chrono::minutes(1)};
};

struct DbStats {
  head::HeadStats active_head;
  size_t frozen_heads = 0;
  uint64_t frozen_spans = 0;  // in the frozen heads
  uint64_t frozen_traces = 0;
  uint64_t frozen_memory_bytes = 0;
  size_t blocks = 0;
  uint64_t wal_covered_through = 0;  // WAL records up to here are in blocks
  size_t spooled_blocks = 0;         // in the local spool, waiting for the object store
  uint64_t spooled_bytes = 0;        // their data + index bytes
  wal::DiskUsage wal_usage;
  block::LruBlockCache::Stats cache;  // the memory tier of the block cache
};

class Db {
 public:
  // Recovers: reads the block list (repairing it from a LIST of blocks/), takes back the spool,
  // replays the WAL records no published or spooled block holds (minus expired spans), and starts
  // the background loop. Needs the object store to answer.
  static Result<std::unique_ptr<Db>> Open(const DbOptions& options, std::shared_ptr<objstore::ObjectStore> store);
  ~Db();

  ingest::Ingester& ingester() { return *ingester_; }
  const query::QueryEngine& engine() const { return *engine_; }

  // Writes the active head as a block and returns once the block is durable and published, with
  // every older pending one. When the store fails, the pending heads go to the spool (out of
  // memory, in order) and the store's error is returned; the background loop retries every second.
  Status Flush();
  // Re-reads the newest block list when it changed (an unchanged list costs one LIST) and adopts
  // it: readers of blocks new to this process join the query sources, readers of blocks no longer
  // listed leave them. A query keeps the sources it started with, so a block leaving never fails
  // a running query (deleting its objects is left for after a grace period).
  Status Refresh();
  // Retires the blocks whose every span started before `now` - retention (their newest span
  // start is older): one new block-list version without them. Judged on the adopted block list, so
  // it costs no request when no block has expired; the background loop calls it on every refresh.
  // Their objects are deleted by a compaction's sweep once the grace period has passed
  // (docs/format/bucket.md). A no-op without retention.
  Status ApplyRetention(std::chrono::system_clock::time_point now);
  // Unix nanoseconds before which spans are expired (retention), per options().clock; 0 when
  // nothing expires.
  uint64_t ExpiredBefore() const;
  // Merges blocks and publishes the result until no merge is left, then deletes retired blocks
  // past the grace period (db/compactor.h); returns once the result is durable. Does nothing when
  // another process holds the tenant's compactor lease (summary.lease_held_elsewhere).
  Result<CompactionSummary> Compact();
  // Deletes every span: head, WAL, blocks and block list. A purge that dies halfway brings nothing
  // back: it retires every block before it deletes anything.
  Status Purge();
  // Stops the background loop and closes the WAL (the head is not flushed: the WAL holds it). A block being
  // built is abandoned, so a stop never waits for a large head to be encoded; a flush called
  // afterwards fails with UNAVAILABLE and writes nothing.
  Status Close();
  // Reads the heads' and the cache's counters and lists the WAL folder.
  DbStats Stats() const;
  // The tenant this Db serves, and the metas of its published blocks (those queries read), oldest
  // first.
  const std::string& tenant() const { return options_.tenant; }
  std::vector<ListedBlock> PublishedBlocks() const;

  // Readiness checks (server/health.h). WalWritable: OK while writes can be acknowledged.
  // ProbeStore: one cheap request to the object store (a LIST of at most one key); it may block
  // as long as the store's own timeouts and retries allow.
  Status WalWritable() const;
  Status ProbeStore() const;

 private:
  explicit Db(const DbOptions& options, std::shared_ptr<objstore::ObjectStore> store);
  Status Recover();
  Status PurgeBucket();
  query::SourceList Sources() const;
  uint64_t ExpiredBefore(std::chrono::system_clock::time_point now) const;
  std::shared_ptr<head::Head> NewHead() const;
  std::shared_ptr<block::BlockReader> NewReader(const std::string& prefix, const block::BlockMeta& meta);
  std::string NewBlockId();
  // A frozen head on its way to a block; kept across failed attempts. Once spooled, the spool's
  // reader serves its spans instead of the head, which is released (a block recovered from the
  // spool at start never had one).
  struct PendingFlush {
    std::shared_ptr<head::Head> head;
    uint64_t wal_last = 0;                        // the last WAL record it holds
    block::BlockIdentity identity;                // chosen on the first attempt
    std::optional<block::BlockMeta> written;      // set once data, index and meta are in the bucket
    std::shared_ptr<block::BlockReader> spooled;  // set once data, index and meta are in the spool
  };
  // Publishes the pending flushes oldest first. When one fails, the heads from the oldest on are
  // spooled (in order) and the failure is returned; when the oldest is already spooled (the store
  // failed before), the newer heads are spooled first, so memory drains before the store is tried.
  Status DrainPending();
  void AssignIdentity(size_t index);
  Status WriteBlock(PendingFlush* pending);
  // Spools the pending flushes oldest first, stopping at the first that cannot be (spool full), so
  // that the spooled blocks always continue the published ones without a gap; then removes the WAL
  // segments they made durable.
  Status SpoolPending();
  // Encodes the pending head into the spool and swaps it for the spool's reader in the sources.
  Status SpoolBlock(PendingFlush* pending);
  // Copies a spooled block to the object store, meta last.
  Status UploadSpooled(const PendingFlush& pending);
  // The last WAL record durable outside the WAL: in a published block, or in a block of the
  // unbroken run of pending flushes, from the oldest, that are stored or spooled (docs/format/spool.md).
  uint64_t DurableThrough() const;  // requires flush_mu_
  // At start: takes back the spooled blocks that continue the published ones (as pending flushes
  // without a head) and deletes the rest; returns the last WAL record they hold.
  Result<uint64_t> RecoverSpool();
  std::shared_ptr<block::BlockReader> NewSpoolReader(const std::string& prefix, const block::BlockMeta& meta);
  // Makes `list` the set of block readers (reusing the readers of blocks already held) and, in the
  // same step for queries, takes `completing`'s frozen head out of the sources when it is set. The
  // blocks of other pending flushes are left out even if listed: their frozen heads still serve
  // their spans, and each joins with its own WriteBlock. Requires flush_mu_.
  void Adopt(const BlockList& list, const PendingFlush* completing);
  // Flushes when due; refreshes the block list and applies retention every refresh interval.
  void BackgroundLoop();
  bool FlushDue() const;
  void CompactLoop();

  const DbOptions options_;
  const std::shared_ptr<objstore::ObjectStore> store_;
  const std::shared_ptr<head::MemoryBudget> budget_;
  const std::shared_ptr<head::MemoryBudget> spool_budget_;
  std::shared_ptr<objstore::ObjectStore> spool_;  // set by Recover
  BlockListStore block_lists_;
  block::LruBlockCache cache_;
  std::string instance_id_;
  std::atomic<uint64_t> block_counter_ = 0;  // flushes and compactions both name blocks

  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<ingest::Ingester> ingester_;
  std::unique_ptr<query::QueryEngine> engine_;

  std::mutex compact_mu_;  // one compaction (or purge) at a time; taken before flush_mu_
  std::mutex flush_mu_;    // one flush at a time
  mutable std::shared_mutex sources_mu_;
  std::vector<std::shared_ptr<head::Head>> frozen_;           // GUARDED_BY(sources_mu_)
  std::vector<std::shared_ptr<block::BlockReader>> blocks_;   // GUARDED_BY(sources_mu_)
  std::vector<std::shared_ptr<block::BlockReader>> spooled_;  // GUARDED_BY(sources_mu_)
  std::map<std::string, uint32_t> levels_;                    // GUARDED_BY(sources_mu_); of the adopted blocks, by ID
  std::deque<PendingFlush> pending_;                          // GUARDED_BY(flush_mu_); oldest first
  // Written under flush_mu_; atomic so that Stats() reads it without waiting for a flush.
  std::atomic<uint64_t> covered_through_ = 0;
  BlockList adopted_;                                   // GUARDED_BY(flush_mu_); the newest version seen
  std::set<std::string> unreadable_;                    // GUARDED_BY(flush_mu_); format too new, logged
  std::chrono::steady_clock::time_point active_since_;  // GUARDED_BY(flush_mu_)

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  // Set under loop_mu_ (for the loop's wait); read without it by a block build, which gives up
  // at shutdown rather than hold the process: the WAL still holds its spans.
  std::atomic<bool> stopping_ = false;
  std::thread background_;
  std::thread compactor_;
};

}  // namespace tb::db
