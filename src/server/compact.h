// Compaction on request: the JSON summary that POST /admin/compact and `tracebucket compact`
// print, and a one-shot compaction of a bucket from the command line, without a server.
#pragma once

#include <string>

#include "db/compactor.h"
#include "server/config.h"
#include "util/status.h"

namespace tb::server {

// {"compactions":…,"input_blocks":…,"output_blocks":…,"input_spans":…,"output_spans":…,
//  "duplicate_spans_dropped":…,"input_bytes":…,"output_bytes":…,"blocks_swept":…,
//  "lease_held_elsewhere":…,"seconds":…}
std::string CompactionSummaryJson(const db::CompactionSummary& summary);

// Compacts the bucket of `config` until nothing is left to merge, as a compactor of its own (a
// fresh lease holder ID, so it never mistakes a server's lease or outputs for its own).
Result<db::CompactionSummary> CompactOnce(const Config& config);

}  // namespace tb::server
