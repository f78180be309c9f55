// The index sections of one block (docs/format/block.md §2), parsed and checked: the trace table
// with its trace-ID order and bloom, the page directory, the dictionary and its resource, scope
// and pair tables, the posting directory and lists, the page-bloom partitions, services and
// dependencies. IndexSections loads each on first use and keeps the parsed form for the reader's
// life. Private to the block library.
#pragma once

#include <roaring/roaring.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "block/codec.h"
#include "block/internal/block_objects.h"
#include "query/trace_source.h"

namespace tb::block::internal {

struct PageInfo {
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t first_trace = 0, last_trace = 0, first_span_offset = 0, span_count = 0;
  uint64_t min_start = 0, max_start = 0;
  uint32_t col_len[kColumnCount] = {}, col_raw[kColumnCount] = {}, col_sum[kColumnCount] = {};
  uint64_t ColumnOffset(int c) const {
    uint64_t o = offset;
    for (int i = 0; i < c; ++i) o += col_len[i];
    return o;
  }
  uint64_t RawBytes() const {
    uint64_t n = 0;
    for (uint32_t raw : col_raw) n += raw;
    return n;
  }
};

struct TraceHeader {
  uint32_t n = 0, group = 1;
  int wc = 0, ws = 0, we = 0, wn = 0, k = 0;
  int wo = 0;  // byte width of an entry of the trace-ID order
  uint32_t row_size = 0, bloom_bytes = 0;
  uint64_t base = 0;
  std::vector<uint64_t> group_sums;
  size_t prefix_len = 0;  // bytes of the section before the rows
  size_t groups() const { return (n + group - 1) / group; }
  // Offset of the trace-ID order (after the rows) in the section.
  uint64_t IdOrderOffset() const { return prefix_len + uint64_t{n} * row_size; }
  // Bytes of the whole section that the header implies.
  uint64_t SectionLength() const { return IdOrderOffset() + uint64_t{n} * wo + bloom_bytes; }
};

struct TraceRow {
  model::TraceId id{};
  uint32_t count = 0;
  uint64_t min_start = 0, max_end = 0, newest = 0;
};

struct Tables {
  Dictionary dict;
  std::vector<model::Resource> resources;
  std::vector<model::Scope> scopes;
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
};

struct PostingEntry {
  uint8_t kind, c;
  uint32_t a, b;
  uint64_t offset;
  uint32_t length, checksum;
};

struct BloomPartitionRef {
  uint64_t offset;
  uint32_t length, checksum;
};

struct PostingDir {
  std::vector<bool> high_card;  // by key ordinal
  std::vector<PostingEntry> entries;
  int bloom_k = 0;
  std::vector<BloomPartitionRef> bloom_partitions;
  const PostingEntry* Find(uint8_t kind, uint32_t a, uint32_t b, uint8_t c) const {
    auto key = std::make_tuple(kind, a, b, c);
    auto it = std::lower_bound(entries.begin(), entries.end(), key, [](const PostingEntry& e, const auto& k) {
      return std::make_tuple(e.kind, e.a, e.b, e.c) < k;
    });
    return it != entries.end() && std::make_tuple(it->kind, it->a, it->b, it->c) == key ? &*it : nullptr;
  }
};

// One partition of the page blooms: a bloom per page (empty when the page has no hash there).
struct PageBlooms {
  std::vector<std::string_view> blooms;
  Bytes bytes;
};

// The services section (docs/format/block.md §2.7): service names, and (service index, span name, span kind) triples.
struct ServiceTable {
  struct Op {
    uint64_t service;
    std::string_view name;
    uint8_t kind;
  };
  std::string payload;  // the views below point into it
  std::vector<std::string_view> services;
  std::vector<Op> operations;
};

class Bitmap {
 public:
  Bitmap() : b_(roaring_bitmap_create()) {}
  explicit Bitmap(roaring_bitmap_t* b) : b_(b) {}
  Bitmap(Bitmap&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
  Bitmap& operator=(Bitmap&& o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~Bitmap() {
    if (b_ != nullptr) roaring_bitmap_free(b_);
  }
  roaring_bitmap_t* get() const { return b_; }

 private:
  roaring_bitmap_t* b_;
};

// The pages holding trace ordinal t: the first whose last trace is t or later, and those after it
// that continue t (the directory's trace ranges are ascending).
std::vector<uint32_t> PagesOfTrace(const std::vector<PageInfo>& pages, uint32_t t);

// Thread-safe: parsed sections are published under a mutex and never change once set.
class IndexSections {
 public:
  explicit IndexSections(const BlockObjects& io) : io_(io) {}

  // The trace-table section (bloom included) and its parsed header, loading them if needed.
  Status TraceTable(Bytes* section, TraceHeader* header) const;
  // Looks `id` up in the trace bloom and the trace table.
  Status FindTraceRow(const model::TraceId& id, bool* found, uint32_t* ordinal, TraceRow* row) const;
  // The page directory when the trace table, the directory and the dictionary are all loaded (a
  // lookup can then be planned from memory), else null.
  std::shared_ptr<const std::vector<PageInfo>> LoadedForLookups() const;
  // Fetches the trace section's header (one small ranged GET, through the cache) and the trace-ID
  // bloom at the section's end (one ranged GET) and keeps the bloom for the reader's life.
  Status PinTraceBloom() const;
  // True when a pinned bloom shows the block does not hold `id`; false when it may, or when no
  // bloom is pinned. Never reads.
  bool PinnedBloomRulesOut(const model::TraceId& id) const;

  // ---- section parsers ----
  Result<TraceHeader> ParseTraceHeader(std::string_view b) const;
  // The header (prefix) of the trace section: from the whole section if loaded, else one GET.
  Result<TraceHeader> TraceHeaderOnly() const;
  TraceRow ParseRow(const TraceHeader& h, std::string_view row) const;
  Result<std::shared_ptr<const std::vector<PageInfo>>> Pages(const Bytes& section) const;
  Result<std::shared_ptr<const Tables>> ParseTables(const Bytes& section) const;
  Result<std::shared_ptr<const PostingDir>> ParsePostings(const Bytes& section, size_t dict_size) const;
  Result<Bitmap> PostingList(const PostingEntry& e) const;
  // The list of `e` from its bytes, verified against its checksum and the page count.
  Result<Bitmap> CheckedPostingList(const PostingEntry& e, std::string_view b) const;
  // One partition of the page blooms, by ranged GET, verified against its checksum.
  Result<PageBlooms> BloomPartition(const PostingDir& dir, uint32_t j) const;
  // Partition j from its bytes, verified against its checksum and split into one bloom per page.
  Result<PageBlooms> CheckedBloomPartition(const PostingDir& dir, uint32_t j, Bytes bytes) const;
  // Loads the index sections every query needs (pages, dict) and returns them parsed.
  Status Basics(std::shared_ptr<const std::vector<PageInfo>>* p, std::shared_ptr<const Tables>* t,
                bool with_traces) const;
  // Rows for the given (sorted, unique) trace ordinals: from the whole section when cached, else
  // by ranged reads of their row groups, each verified.
  Status Rows(const std::vector<uint32_t>& ordinals, std::vector<TraceRow>* out) const;
  // Section 8 parsed whole (every entry checked); `out` keeps its payload, which its views point into.
  Status ParseServices(const Bytes& section, ServiceTable* out) const;
  Status LoadServices(ServiceTable* out) const;
  // Section 7: parent → child call counts.
  Status ParseDependencies(const Bytes& section, query::DependencyCounts* out) const;
  // For Verify: the whole trace table — header, every row group, rows in time order, the trace-ID
  // order a sorted permutation of the rows, every ID in the bloom, span counts adding up to the
  // meta's. `rows` gets the rows.
  Status CheckTraceTable(std::string_view b, std::vector<TraceRow>* rows) const;

 private:
  const BlockObjects& io_;
  mutable std::mutex mu;      // guards the parsed sections below
  mutable Bytes traces_full;  // whole traces section, verified
  mutable std::optional<TraceHeader> trace_header;
  mutable std::shared_ptr<const std::vector<PageInfo>> pages;
  mutable std::shared_ptr<const Tables> tables;
  mutable std::shared_ptr<const PostingDir> postings;
  mutable Bytes pinned_bloom;  // the trace-ID bloom alone (PinTraceBloom), probed with trace_header->k
};

}  // namespace tb::block::internal
