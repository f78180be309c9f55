// Compactor: merges the blocks of one tenant that fall in the same time window into fewer, larger
// blocks, in levels, and publishes each merge as one block-list version that adds the outputs and
// retires the inputs (docs/format/bucket.md). It reuses BlockReader (TraceScan reads each input
// trace by trace) and BlockWriter (the outputs), so a merge is a read and a write of the format,
// not a third implementation of it.
//
// Policy: a level-L compaction (L ≥ 1) merges blocks of level L-1 (for L ≥ 2, only those whose
// own window is closed) with blocks of level L, whose earliest span start falls in the same window
// of level_windows[L-1] (one hour, then one day), leaving out full blocks (outputs that were cut
// at a bound: merging them again would make blocks no larger). A window is merged once it holds
// two such blocks, one of them of level L-1, and it is closed (its end is `settle` in the past) or
// holds min_open_inputs blocks of level L-1.
//
// Merge: the inputs are read in trace order (earliest span start first) through a k-way merge; a
// trace whose spans sit in several inputs is completed from the others when its first part comes
// up, so it lands whole in one output; within a trace, a span identical in every byte (span,
// resource and scope) to another is kept once; spans are never merged by span ID. Each output is a
// block::StreamingBlockWriter: its first traces (memory_budget_bytes of them by head::EstimateMemory)
// are buffered and choose its plan (high-cardinality keys, dictionary) together with every input's
// plan hints (block::PlanHints: the strings of its posting keys, its high-cardinality keys); then each trace is encoded
// as it comes, its pages going to a temporary file. An output is cut between traces once its estimated stored size
// (spans × the inputs' stored bytes per span) reaches target_block_bytes; so merging blocks of any size gives blocks of
// about that size, whatever the budget.
//
// Memory bound, none of it growing with the inputs' size:
// - the buffered traces of the output being planned: ≤ memory_budget_bytes plus one trace (the
//   estimate counts spans in model form);
// - the index of the output being built, which grows with the output and so is capped by
//   target_block_bytes: per trace ~40 bytes (ID and row), per page its directory entry and
//   high-cardinality hashes, the posting lists (one page ordinal per key and page), the
//   dictionary and the resource and scope tables; and one page (target_page_bytes) being encoded;
// - the plan hints: the union of the inputs' posting-key strings and high-cardinality keys (held
//   twice while an output samples);
// - per input, one decoded page and its index sections (trace table, page directory, dictionary);
// - at the cut, the index object, and the data object mapped from the temporary file (page cache,
//   which the kernel can reclaim, not heap): ≤ target_block_bytes of file on local disk.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "block/block_writer.h"
#include "db/block_list.h"
#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::db {

struct CompactionOptions {
  // Window of each level ≥ 1: level L merges into windows of level_windows[L-1].
  std::vector<std::chrono::seconds> level_windows = {std::chrono::hours(1), std::chrono::hours(24)};
  // Outputs are cut at this estimated stored size (data + index).
  uint64_t target_block_bytes = 512ull << 20;
  // The spans an output buffers to choose its plan before it streams: the bound on spans in memory.
  uint64_t memory_budget_bytes = 256ull << 20;
  // A window is closed this long after its end (late spans of its last flushes).
  std::chrono::seconds settle{std::chrono::minutes(10)};
  // An open window is merged once it holds this many blocks of the level below.
  size_t min_open_inputs = 4;
  // At most this many inputs per merge (each holds its index sections while it is read).
  size_t max_inputs = 32;
  // Retired blocks are deleted this long after they leave the list; longer than the longest query.
  std::chrono::nanoseconds grace_period{std::chrono::minutes(10)};
  // Blocks whose spans all started longer ago than this are retired before any merge (so no
  // expired block is merged); 0 keeps everything.
  std::chrono::nanoseconds retention{0};
  // The lease a compactor holds per tenant (lease.h).
  std::chrono::nanoseconds lease_duration{std::chrono::minutes(2)};
  // Outputs use stronger compression than a flush can afford.
  block::BlockWriterOptions writer = [] {
    block::BlockWriterOptions o;
    o.zstd_level = 9;
    o.trace_bloom_bits_per_key = 13;  // as a flush's (DbOptions::writer)
    return o;
  }();
};

// One merge: its inputs (all live in the list it was planned from) and the level of its outputs.
struct CompactionPlan {
  uint32_t level = 0;
  uint64_t window_start_unix_nano = 0;
  std::vector<ListedBlock> inputs;
};

struct CompactionSummary {
  size_t compactions = 0;
  size_t input_blocks = 0;
  size_t output_blocks = 0;
  uint64_t input_spans = 0;
  uint64_t output_spans = 0;
  uint64_t duplicate_spans_dropped = 0;
  uint64_t input_bytes = 0;           // data + index of the inputs
  uint64_t output_bytes = 0;          // data + index of the outputs
  size_t blocks_expired = 0;          // retired by retention
  size_t blocks_swept = 0;            // retired blocks deleted past the grace period, and abandoned outputs
  bool lease_held_elsewhere = false;  // another compactor holds the tenant's lease: nothing was done
  double seconds = 0;
  void Add(const CompactionSummary& other);
};

// The merges `list` calls for at `now`, lowest level first; no block is in two of them.
std::vector<CompactionPlan> PlanCompactions(const BlockList& list, const CompactionOptions& options,
                                            uint64_t now_unix_nano);

class Compactor {
 public:
  // Called after each publication with the outputs and the retired inputs, so that the caller
  // can swap its readers.
  using OnPublished =
      std::function<void(const std::vector<ListedBlock>& outputs, const std::vector<std::string>& retired)>;

  // `new_block_id` names each output (unique across processes: docs/format/bucket.md); `holder`
  // names this compactor in the lease.
  Compactor(objstore::ObjectStore* store, std::string tenant, std::string holder,
            std::function<std::string()> new_block_id, const CompactionOptions& options);

  // Takes the tenant's lease, retires the blocks past retention, then merges and publishes until no
  // plan is left, then sweeps
  // retired blocks past the grace period and abandoned outputs; releases the lease. Stops between
  // traces when `cancel` turns true (an unpublished output is left for the sweep).
  Result<CompactionSummary> RunUntilDone(const OnPublished& on_published, const std::atomic<bool>* cancel = nullptr);
  // One merge, published (the lease is the caller's business).
  Result<CompactionSummary> Run(const CompactionPlan& plan, const OnPublished& on_published,
                                const std::atomic<bool>* cancel = nullptr);

 private:
  Result<uint64_t> SweepAbandonedOutputs(const BlockList& list, uint64_t now_unix_nano);

  objstore::ObjectStore* store_;
  BlockListStore lists_;
  std::string tenant_;
  std::string holder_;
  std::function<std::string()> new_block_id_;
  CompactionOptions options_;
};

}  // namespace tb::db
