// Server configuration: defaults, the YAML file, and command-line flags (flags win).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ingest/ingester.h"
#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::server {

struct Config {
  std::string data_dir = "./data";
  std::string grpc_listen = "0.0.0.0:4317";
  std::string http_listen = "0.0.0.0:4318";
  // Browser origins (e.g. "https://jaeger.example.com") allowed to call the HTTP API cross-origin;
  // "*" allows any. Empty: no CORS headers at all, so browsers refuse cross-origin reads.
  std::vector<std::string> cors_allowed_origins;
  bool enable_purge = false;  // POST /purge deletes all data; for test harnesses only
  uint64_t head_memory_budget_bytes = 320ull << 20;
  bool wal_sync = true;  // fdatasync before acknowledging; off only for benchmarks of the rest
  uint64_t wal_segment_bytes = 64ull << 20;
  ingest::Limits limits;
  std::string log_level = "info";

  // Where blocks live: "file:///path" or "s3://bucket/prefix". Empty: file://<data_dir>/blocks.
  std::string storage;
  std::string s3_endpoint;  // e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7480
  std::string s3_region = "us-east-1";
  bool s3_path_style = false;
  uint64_t flush_bytes = 128ull << 20;  // head memory at which a block is written (≤ half the budget)
  uint64_t flush_age_seconds = 300;     // or after this long
  bool background_flush = true;         // false: blocks are written only by POST /admin/flush
  bool flush_every_write = false;       // tests: each write is in a block before it is acknowledged
  uint64_t cache_bytes = 256ull << 20;  // block indexes and pages kept in memory
  // The disk tier in front of s3:// storage: block index and page ranges on local disk, kept
  // across restarts (objstore::DiskCacheStore). 0 turns it off. Not used for file:// storage,
  // whose blocks are on local disk already.
  uint64_t cache_disk_bytes = 1ull << 30;
  std::string cache_dir;  // empty: <data_dir>/cache
};

// Parses "64MiB", "1GiB", "512KiB", "10MB", "4096" into bytes.
Result<uint64_t> ParseByteSize(const std::string& text);

// Opens the object store named by config.storage (see Config::storage). S3 credentials come from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
Result<std::shared_ptr<objstore::ObjectStore>> OpenStorage(const Config& config);

// Overlays the keys present in the YAML file `path` onto `config`. Unknown keys are errors, so a
// typo never silently falls back to a default.
Status LoadConfigFile(const std::string& path, Config* config);

}  // namespace tb::server
