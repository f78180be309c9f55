// What operators see of a published block. `GET /admin/blocks` and `tracebucket blocks --json`
// both answer BlocksJson, and `tracebucket blocks` prints the same summaries as a table:
//   {"blocks":[{"id","tenant","level","spans","traces","bytes","min_time","max_time"}]}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "block/format.h"

namespace tb::db {

struct BlockSummary {
  std::string id;
  std::string tenant;
  // Compaction level (the block list's): 0 for a block cut by a flush, L ≥ 1 for a compaction's output.
  int level = 0;
  uint64_t spans = 0;
  uint64_t traces = 0;
  uint64_t bytes = 0;               // the block's objects together: data, index and meta
  uint64_t min_time_unix_nano = 0;  // earliest span start
  uint64_t max_time_unix_nano = 0;  // latest span end
};

BlockSummary SummarizeBlock(const std::string& tenant, const block::BlockMeta& meta, uint32_t level = 0);

// The JSON document above; times as RFC 3339 with nanoseconds (UTC), null for an empty block.
std::string BlocksJson(const std::vector<BlockSummary>& blocks);

}  // namespace tb::db
