// BlockReader: answers every TraceSource question from one immutable block in an object store,
// reading as little as it can: index sections once (then from the cache), only the pages and
// columns a query needs, with independent reads issued in parallel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "block/block_cache.h"
#include "block/block_writer.h"
#include "block/format.h"
#include "metrics/handles.h"
#include "objstore/object_store.h"
#include "query/trace_source.h"
#include "util/status.h"

namespace tb::block {

struct BlockReaderOptions {
  int max_parallel_reads = 4;  // concurrent GETs issued by one call
  // Caps on decoded bytes (limits.max_decoded_page_size, limits.max_decoded_trace_size), so that a
  // crafted block cannot ask for a huge allocation: a block whose page directory gives a page more
  // raw bytes than max_page_bytes is DATA_LOSS as a whole (the writer cuts pages near 512 KiB); a
  // trace read needing more than max_trace_bytes of pages from one block is DATA_LOSS for that read.
  uint64_t max_page_bytes = 64ull << 20;
  uint64_t max_trace_bytes = 256ull << 20;
  metrics::BlockReadMetrics metrics;  // blocks, pages and bytes that queries read
};

// How a block's bytes are spent, for operators (`tracebucket inspect`).
struct BlockLayout {
  struct Part {
    std::string name;
    std::string encoding;       // "raw" or "zstd"
    uint64_t stored_bytes = 0;  // in the object
    uint64_t raw_bytes = 0;     // decoded (equal to stored_bytes when raw)
  };
  std::vector<Part> sections;  // the index sections, in id order
  std::vector<Part> columns;   // the page columns, each summed over every page
  std::vector<std::string> services;
  size_t operations = 0;  // distinct (service, span name, span kind)
};

// GETs and verifies `<prefix>meta`.
Result<BlockMeta> ReadBlockMeta(objstore::ObjectStore& store, const std::string& prefix);

// One trace as a TraceScan returns it: every span the block holds of it.
struct ScannedTrace {
  model::TraceId id{};
  uint64_t min_start_unix_nano = 0;  // of its spans in this block: the scan's order
  model::Traces spans;
};

class TraceScan;

class BlockReader final : public query::TraceSource {
 public:
  // `store` and `cache` must outlive the reader; `cache` may be null (no caching). `prefix` is the
  // block's key prefix ending in '/', `meta` its parsed meta.
  BlockReader(objstore::ObjectStore* store, std::string prefix, BlockMeta meta, BlockCache* cache,
              const BlockReaderOptions& options = {});
  ~BlockReader() override;

  const BlockMeta& meta() const { return meta_; }

  // Reads every trace of the block whole, in the block's trace order (earliest span start first,
  // ties by trace ID), decoding one page at a time: for compaction. The reader outlives the scan.
  std::unique_ptr<TraceScan> ScanTraces() const;

  // query::TraceSource
  std::string Name() const override { return "block " + meta_.block_id; }
  std::optional<query::StartTimeRange> StartTimes() const override {
    return query::StartTimeRange{meta_.min_span_start, meta_.max_span_start};
  }
  Status FindTraces(const query::SpanMatcher& matcher, size_t limit, std::vector<query::TraceHit>* hits) const override;
  Status ReadTrace(const model::TraceId& id, model::Traces* out) const override;
  // Decodes each page holding any of the traces once, as many pages at once as there are traces
  // (at least max_parallel_reads), passing the spans of the other traces before the last wanted one
  // (docs/format/block.md §5).
  std::vector<Result<model::Traces>> ReadTraces(const std::vector<model::TraceId>& ids) const override;
  // kAbsent when the trace table and bloom are loaded and do not hold `id`; kFromMemory when they
  // do and every page of the trace is in the cache; else kMayWait.
  query::TraceReadPlan PlanReadTrace(const model::TraceId& id) const override;
  // From the trace table alone: no page is read.
  Status TracesInWindow(uint64_t start_unix_nano, uint64_t end_unix_nano,
                        std::vector<query::TraceHit>* out) const override;
  // From the trace table alone: no page is read.
  Status TraceRanges(const std::vector<model::TraceId>& ids, std::vector<query::TraceHit>* out) const override;
  Status Services(std::set<std::string>* out) const override;
  Status Operations(const std::string& service, const std::string& span_kind,
                    std::set<query::Operation>* out) const override;
  Status Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano, query::DependencyCounts* out) const override;

  // Appends to `hints`, for a streaming writer's plan (StreamingBlockWriter::AddPlanHints), what a
  // merge of this block must find in its output's dictionary: the strings of its posting keys
  // (services, span names, attribute keys and values) and its high-cardinality keys. Reads the
  // dictionary and posting-key sections.
  Status PlanHints(block::PlanHints* hints) const;

  // Fetches the block's trace-ID bloom (the trace section's header and its last bloom bytes: two
  // ranged GETs) and keeps it for the reader's life (1.6 bytes per trace at 13 bits per trace),
  // so that PlanReadTrace, ReadTrace and TraceRanges rule out a trace the block does not hold
  // without a read. For the path where a block joins the query sources, not for a query.
  Status PinTraceBloom() const;

  // Loads every index section and the page directory (no page) and reports how the bytes are spent.
  Status Describe(BlockLayout* out) const;

  // Reads the whole block from the store, bypassing the cache, and checks everything the format
  // checks (docs/format/block.md §6): every index section against the meta, the trace table's
  // header and row groups, its trace-ID order and bloom, the dictionary and tables, every posting
  // list and page-bloom partition, and every column of every page, decoded span by span to its
  // last byte; the pages' span counts must agree with the trace table and the meta. Returns the
  // problems found (DATA_LOSS naming the object and part; an unreadable object is its own error),
  // at most `max_problems`; none means the block is intact. `on_read` is told the bytes read as
  // the check goes, for progress reports.
  std::vector<Status> Verify(const std::function<void(uint64_t bytes)>& on_read, size_t max_problems = 20) const;

 private:
  friend class TraceScan;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  const BlockMeta& meta_;
};

// Holds the page being read (its decoded spans) and the trace being joined across pages; memory
// beyond that is the reader's: the trace table, page directory and dictionary.
class TraceScan {
 public:
  ~TraceScan();
  // The next trace; false once every trace was returned.
  Result<bool> Next(ScannedTrace* out);

 private:
  friend class BlockReader;
  explicit TraceScan(const BlockReader::Impl& block);
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tb::block
