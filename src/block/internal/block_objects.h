// One block's objects as the reader sees them: ranged GETs through the block cache, index sections
// fetched whole and verified against the meta's checksums, and the DATA_LOSS errors that name the
// object and part at fault. Private to the block library.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "block/block_cache.h"
#include "block/block_writer.h"
#include "block/format.h"
#include "metrics/handles.h"
#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::block::internal {

// Immutable bytes shared between the cache and the parsed sections that point into them.
using Bytes = std::shared_ptr<const std::string>;

// Stateless beyond what it is given: every member may be called from any thread.
struct BlockObjects {
  objstore::ObjectStore* store;
  std::string prefix;  // the block's key prefix, ending in '/'
  BlockMeta meta;
  BlockCache* cache;                  // may be null: no caching
  int max_parallel_reads;             // concurrent GETs issued by one call
  uint64_t max_page_bytes;            // decoded bytes of a page (BlockReaderOptions)
  uint64_t max_trace_bytes;           // decoded bytes of one trace read (BlockReaderOptions)
  metrics::BlockReadMetrics metrics;  // blocks, pages and bytes that queries read

  std::string Where(std::string_view object) const;
  Status Corrupt(std::string_view object, std::string_view part, std::string_view what) const;
  Status SectionCorrupt(SectionId id, std::string_view what) const;
  Status PageCorrupt(uint32_t p, std::string_view column, std::string_view what) const;
  // A byte range of an object, through the cache. A short read is DATA_LOSS.
  Result<Bytes> GetRange(const char* object, uint64_t offset, uint64_t length, const std::string& cache_key) const;
  void CachePut(const std::string& key, const Bytes& b) const;
  std::string SectionKey(SectionId id) const { return prefix + kIndexObject + "#" + SectionName(id); }
  // The cache key of page p fetched whole.
  std::string PageKey(uint32_t p) const { return prefix + kDataObject + "#p" + std::to_string(p); }
  Status CheckFormatVersion() const;
  // Whole sections, verified against the meta's checksums. Adjacent missing sections are fetched
  // with one GET.
  Status LoadSections(std::vector<SectionId> ids, std::vector<Bytes>* out) const;
  Result<std::string> Payload(SectionId id, const Bytes& bytes) const;
};

}  // namespace tb::block::internal
