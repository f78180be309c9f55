// BlockWriter: turns a set of spans into one immutable block of three objects under a key prefix
// — `data` (pages), `index` (sections), and `meta`, written last so the block appears atomically.
// The byte layout is documented in docs/format/block.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "block/format.h"
#include "model/span.h"
#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::block {

struct BlockWriterOptions {
  size_t target_page_bytes = 512 << 10;  // uncompressed size at which a page is cut
  int zstd_level = 3;
  double trace_bloom_bits_per_key = 10;  // ~1% false positives
  double page_bloom_bits_per_key = 10;
  // Page blooms are split into hash partitions of about this many bytes, so that a search reads
  // the partition of its value only.
  size_t bloom_partition_bytes = 64 << 10;
  // A key is high-cardinality (per-page blooms instead of posting lists) when its distinct values
  // reach both bounds: then its values average too few traces each for a list to pay off.
  uint64_t high_card_min_distinct = 256;
  double high_card_min_ratio = 1.0 / 64;  // distinct values / traces in the block
  // The string values of a high-cardinality key are stored in the pages (packed), not the
  // dictionary, when they seldom leave their trace: distinct values / distinct (trace, value)
  // pairs. Repeats within a trace are cheap in a page; repeats across traces need the dictionary.
  double inline_min_ratio = 0.5;
  // Fills BlockObjects::value_run_bytes (size reports only: compresses every run once more).
  bool measure_value_runs = false;
};

// Who wrote the block and what it covers; stored in the meta.
// What a block's traces need from the dictionary of a block they are merged into
// (BlockReader::PlanHints, StreamingBlockWriter::AddPlanHints): the strings needed whatever the
// plan (service names, span names, attribute keys), the high-cardinality keys, and the values of
// the other keys, needed only while their key stays low-cardinality in the output.
struct PlanHints {
  std::vector<std::string> strings;
  std::vector<std::string> high_card_keys;
  std::vector<std::pair<std::string, std::string>> values;  // (key, canonical value)
};

struct BlockIdentity {
  std::string block_id;
  std::string writer_id;
  uint64_t wal_first = 0;
  uint64_t wal_last = 0;
  uint64_t created_unix_nano = 0;  // 0: now
};

// The three objects of a block, before they are stored.
struct BlockObjects {
  std::string data;
  std::string index;
  std::string meta;
  BlockMeta parsed_meta;
  // Compressed bytes per page column, summed over pages (for size reports).
  uint64_t column_bytes[kColumnCount] = {};
  uint64_t column_raw_bytes[kColumnCount] = {};
  // Serialized posting-list bytes per PostingKind (index 0 unused).
  uint64_t posting_bytes[kPostError + 1] = {};
  // With measure_value_runs: per attribute key, the raw and the compressed bytes of its four
  // streams in the `values` column (values, shapes, text, binary), each stream of each page
  // compressed alone — an attribution of the column, which is compressed whole.
  struct RunBytes {
    uint64_t raw[4] = {}, compressed[4] = {};
  };
  std::map<std::string, RunBytes> value_run_bytes;
};

inline constexpr const char* kDataObject = "data";
inline constexpr const char* kIndexObject = "index";
inline constexpr const char* kMetaObject = "meta";

class BlockWriter {
 public:
  explicit BlockWriter(const BlockWriterOptions& options = {});
  ~BlockWriter();
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  // Adds every span of `batch` (copied), with its resource and scope.
  void Add(const model::Traces& batch);
  // Adds every span of `batch`, taking it over.
  void Add(model::Traces&& batch);
  // Adds one span without copying it or its resource and scope: the caller keeps all three alive
  // and unchanged until the writer is destroyed (a frozen head's spans, so that a flush copies
  // nothing). Spans of one trace keep the order in which they are added.
  void AddUncopied(const model::Resource& resource, const model::Scope& scope, const model::Span& span);
  size_t span_count() const;

  // Encodes the block. When `cancel` turns true meanwhile, stops within a few thousand traces
  // and returns UNAVAILABLE (a shutdown need not wait for a large block).
  Result<BlockObjects> Build(const BlockIdentity& identity, const std::atomic<bool>* cancel = nullptr) const;
  // Builds and stores `<prefix>data`, `<prefix>index`, then `<prefix>meta`. `prefix` ends in '/'.
  // `cancel` is also checked before each object is stored: a cancelled block has no meta.
  Result<BlockMeta> Finish(objstore::ObjectStore& store, const std::string& prefix, const BlockIdentity& identity,
                           const std::atomic<bool>* cancel = nullptr) const;

 private:
  struct State;
  BlockWriterOptions options_;
  std::unique_ptr<State> state_;
};

// StreamingBlockWriter: one block from whole traces that arrive in block order (earliest span start,
// ties by trace ID), with memory that does not grow with the spans: the first traces are buffered
// until Plan() chooses from them (and the hints) the high-cardinality keys and the dictionary, the
// plan BlockWriter makes from all of its spans; from then on each trace is encoded into pages as it
// arrives, and the pages go to an unnamed temporary file (in TMPDIR, or /tmp), not memory.
//
// Memory: the buffered traces until Plan(); the hints; the page being built (target_page_bytes
// uncompressed); and the index under construction, which grows with the block: per trace its ID
// and row (~40 bytes), per page its directory entry and its high-cardinality hashes, the posting
// lists (a page ordinal per (key, page)), the dictionary, the resource and scope tables. At Finish
// the data object is stored from the file, mapped read-only (page cache, not the heap), and the
// index object is built in memory. The layout is BlockWriter's (docs/format/block.md).
class StreamingBlockWriter {
 public:
  explicit StreamingBlockWriter(const BlockWriterOptions& options = {});
  ~StreamingBlockWriter();
  StreamingBlockWriter(const StreamingBlockWriter&) = delete;
  StreamingBlockWriter& operator=(const StreamingBlockWriter&) = delete;

  // Strings the dictionary holds and keys that are high-cardinality whatever the buffered traces
  // show; the hinted values of a key join the dictionary only if the plan keeps the key
  // low-cardinality (a high-cardinality key's values need not be there). When the hints are those
  // of every block whose traces this one gathers (BlockReader::PlanHints), every later trace finds
  // in the dictionary the strings it must (Add never refuses one). Before Plan().
  void AddPlanHints(const PlanHints& hints);
  // Adds one whole trace (all of its spans, one trace ID), after those added before in block
  // order. Before Plan(): buffered. After: encoded now, unless the dictionary lacks a string the
  // trace needs there; then false, and nothing is added and `trace` is left as it was (finish
  // this block, start another with it). INVALID_ARGUMENT if the trace is empty, holds several trace IDs or comes out of
  // order.
  Result<bool> Add(model::Traces&& trace);
  // Chooses the plan from the buffered traces and the hints, and encodes those traces. Once; a
  // no-op after. The spill file is created here: an error if it cannot be.
  Status Plan();
  bool planned() const;
  size_t span_count() const;
  // Plans if not yet done, then stores `<prefix>data` (from the file), `<prefix>index`, then
  // `<prefix>meta`, as BlockWriter::Finish. The writer is spent afterwards.
  Result<BlockMeta> Finish(objstore::ObjectStore& store, const std::string& prefix, const BlockIdentity& identity,
                           const std::atomic<bool>* cancel = nullptr);

 private:
  struct State;
  BlockWriterOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace tb::block
