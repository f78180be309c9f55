// Server configuration: defaults, the YAML file, and command-line flags (flags win).
#pragma once

#include <cstdint>
#include <string>

#include "ingest/ingester.h"
#include "util/status.h"

namespace tb::server {

struct Config {
  std::string data_dir = "./data";
  std::string grpc_listen = "0.0.0.0:4317";
  std::string http_listen = "0.0.0.0:4318";
  bool enable_purge = false;  // POST /purge deletes all data; for test harnesses only
  uint64_t head_memory_budget_bytes = 1ull << 30;
  bool wal_sync = true;  // fdatasync before acknowledging; off only for benchmarks of the rest
  uint64_t wal_segment_bytes = 64ull << 20;
  ingest::Limits limits;
  std::string log_level = "info";
};

// Parses "64MiB", "1GiB", "512KiB", "10MB", "4096" into bytes.
Result<uint64_t> ParseByteSize(const std::string& text);

// Overlays the keys present in the YAML file `path` onto `config`. Unknown keys are errors, so a
// typo never silently falls back to a default.
Status LoadConfigFile(const std::string& path, Config* config);

}  // namespace tb::server
