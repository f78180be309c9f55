// Server configuration: defaults, then the YAML file, then TRACEBUCKET_* environment variables,
// then command-line flags (each later source wins). Every setting is listed once, in Settings():
// its YAML key, flag and environment variable come from that list, and docs/configuration.md
// documents each one (a test holds the two together).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "db/compactor.h"
#include "ingest/ingester.h"
#include "metrics/handles.h"
#include "objstore/object_store.h"
#include "objstore/retry_policy.h"
#include "util/status.h"

namespace tb::server {

// One entry of auth.tokens: a bearer token and what it may do.
struct TokenConfig {
  std::string sha256_hex;            // the token's SHA-256 as 64 hex digits; or
  std::string file;                  // a file holding the token (read at start, surrounding whitespace ignored)
  std::vector<std::string> tenants;  // the tenants it may name; empty or {"*"}: any
  std::vector<std::string> roles;    // of write, read, admin
};

// One entry of limits.tenants: the limits of one tenant that differ from the limits.* defaults.
struct TenantLimitsConfig {
  std::optional<uint64_t> ingest_spans_per_second;
  std::optional<uint64_t> ingest_burst_spans;
  std::optional<uint32_t> head_share_percent;
  std::optional<uint64_t> max_spans_per_trace;
};

// The limits one tenant runs with (Config::LimitsOf).
struct TenantLimits {
  ingest::Limits ingest;
  uint32_t head_share_percent = 100;  // of head.memory_budget, the most this tenant's heads hold
};

struct Config {
  std::string data_dir = "./data";
  std::string grpc_listen = "0.0.0.0:4317";
  std::string http_listen = "0.0.0.0:4318";
  // gRPC connections: keepalive pings find dead clients (and keep idle connections through NATs
  // and load balancers); a maximum age makes long-lived clients reconnect, so that a load balancer
  // spreads them again; the grace lets calls in flight finish. 0 turns age and idle limits off.
  std::chrono::microseconds grpc_keepalive_time{std::chrono::minutes(1)};
  std::chrono::microseconds grpc_keepalive_timeout{std::chrono::seconds(20)};
  std::chrono::microseconds grpc_max_connection_idle{0};
  std::chrono::microseconds grpc_max_connection_age{0};
  std::chrono::microseconds grpc_max_connection_age_grace{std::chrono::seconds(30)};
  uint32_t grpc_max_concurrent_streams = 100;  // calls at once per connection
  // HTTP connections (server/http_listener.h): a client has header_timeout to send a request's
  // header (from the connection's start, or from a kept-alive connection's first byte of the next
  // request) and body_timeout for its body; an idle kept-alive connection is closed after
  // idle_timeout, one that does not take its answer within write_timeout too. Beyond
  // max_connections a new connection gets 503. `workers` routes run at once.
  uint32_t http_max_connections = 1024;
  uint32_t http_workers = 8;
  uint64_t http_max_header_bytes = 64 << 10;
  std::chrono::microseconds http_header_timeout{std::chrono::seconds(10)};
  std::chrono::microseconds http_body_timeout{std::chrono::seconds(60)};
  std::chrono::microseconds http_idle_timeout{std::chrono::seconds(60)};
  std::chrono::microseconds http_write_timeout{std::chrono::seconds(60)};
  // Browser origins (e.g. "https://jaeger.example.com") allowed to call the HTTP API cross-origin;
  // "*" allows any. Empty: no CORS headers at all, so browsers refuse cross-origin reads.
  std::vector<std::string> cors_allowed_origins;
  bool enable_purge = false;  // POST /purge deletes all data; for test harnesses only
  // Tenancy: when enabled, every request names its tenant in this header (gRPC metadata or HTTP
  // header) and sees only that tenant's data; when off, everything is tenant "default".
  bool tenancy_enabled = false;
  std::string tenancy_header = "x-tenant";
  std::vector<std::string> tenancy_tenants;  // the tenants allowed; empty: any valid name
  // Bearer tokens; when any is set, every door but /live and /ready needs one (server/access.h).
  std::vector<TokenConfig> auth_tokens;
  // TLS on both listeners (server/tls.h): PEM files of the certificate chain and its key; with a
  // client CA, clients must present a certificate it signed (mTLS). Empty cert_file: plain text.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  uint64_t head_memory_budget_bytes = 320ull << 20;
  // How long a write that finds the head budget used up waits for a flush to free it before it is
  // refused (ingest::Admission, on the gRPC doors); 0: refused at once. At most 60s.
  std::chrono::microseconds head_admission_wait{std::chrono::seconds(1)};
  bool wal_sync = true;  // fdatasync before acknowledging; off only for benchmarks of the rest
  uint64_t wal_segment_bytes = 64ull << 20;
  ingest::Limits limits;  // per tenant: each tenant has its own ingest rate and per-trace count
  // Of head_memory_budget_bytes, the most one tenant's heads may hold (percent, 1-100), so that one
  // tenant's flood leaves room for the others.
  uint32_t head_share_percent = 100;
  // Tenants served at most: a request that would open one more is refused (RESOURCE_EXHAUSTED).
  // Each tenant holds a WAL, heads and a block list; without an allow-list any client could make them.
  uint32_t max_tenants = 1000;
  // limits.tenants: per tenant by name, what differs from the defaults above.
  std::map<std::string, TenantLimitsConfig> limits_tenants;
  TenantLimits LimitsOf(const std::string& tenant) const;
  // Query limits on every door (query::QueryLimits): deeper searches are refused, longer queries
  // stopped with DEADLINE_EXCEEDED; 0 turns either off.
  uint32_t max_search_depth = 10'000;
  std::chrono::microseconds query_timeout{std::chrono::seconds(30)};
  // The process-wide pool that parallel reads run on (WorkerPool): threads at most, and tasks
  // waiting for a busy one at most; a query whose task finds the pool full runs it itself.
  uint32_t query_workers = 16;
  uint32_t query_queue = 64;
  // Caps on the decoded bytes of one block page and of one trace read from one block
  // (block::BlockReaderOptions): a block over them is DATA_LOSS, never a huge allocation.
  uint64_t max_decoded_page_bytes = 64ull << 20;
  uint64_t max_decoded_trace_bytes = 256ull << 20;
  // The most one answer of an HTTP query door (/api, /api/v3) may hold (AnswerLimits); 0: no limit.
  uint64_t max_answer_spans = 1'000'000;
  uint64_t max_answer_bytes = 128ull << 20;
  std::string log_level = "info";
  std::string log_format = "text";  // or "json": one JSON object per line
  // Trace queries slower than this are logged with their parameters; 0 turns the log off.
  std::chrono::microseconds slow_query_threshold{std::chrono::seconds(1)};
  // Prometheus metrics on GET /metrics; off only to measure what they cost (BENCHMARKS.md).
  bool metrics_enabled = true;

  // Where blocks live: "file:///path", "s3://bucket/prefix", "gs://bucket/prefix" or
  // "azblob://container/prefix". Empty: file://<data_dir>/blocks.
  std::string storage;
  std::string s3_endpoint;  // e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7480
  std::string s3_region = "us-east-1";
  bool s3_path_style = false;
  std::string s3_ca_file;  // CA bundle that verifies the endpoint's certificate; empty: the system's
  // An http:// endpoint is refused unless it is on loopback or this is set: the S3 credentials'
  // signatures and session tokens would cross the network in clear.
  bool s3_allow_insecure = false;
  // GCS's JSON API. Empty: STORAGE_EMULATOR_HOST when set, else https://storage.googleapis.com.
  std::string gcs_endpoint;
  // Azure's Blob service URL of the account. Empty: BlobEndpoint of AZURE_STORAGE_CONNECTION_STRING
  // when set, else https://ACCOUNT.blob.core.windows.net; emulators path-style, http://HOST:PORT/ACCOUNT.
  std::string azure_endpoint;
  // The retry policy of every object store (objstore/retry_policy.h): attempts per request, the
  // first included, and the full-jitter backoff's base and cap.
  uint32_t storage_retry_max_attempts = 5;
  std::chrono::microseconds storage_retry_base_delay{std::chrono::milliseconds(100)};
  std::chrono::microseconds storage_retry_max_delay{std::chrono::seconds(5)};
  uint64_t flush_bytes = 128ull << 20;  // head memory at which a block is written (≤ half the budget)
  uint64_t flush_age_seconds = 300;     // or after this long
  // Blocks that could not be uploaded (store down) wait here, all tenants together, up to
  // spool_max_bytes (docs/format/spool.md); empty: <data_dir>/spool.
  std::string spool_dir;
  uint64_t spool_max_bytes = 10ull << 30;
  bool background_flush = true;         // false: blocks are written only by POST /admin/flush
  bool flush_every_write = false;       // tests: each write is in a block before it is acknowledged
  uint64_t cache_bytes = 256ull << 20;  // block indexes and pages kept in memory
  // Compaction (db/compactor.h): in the background every compaction_interval, or on request.
  bool background_compaction = true;
  std::chrono::microseconds compaction_interval{std::chrono::minutes(1)};
  // Retired blocks are deleted this long after they leave the block list (> the longest query).
  std::chrono::microseconds compaction_grace_period{std::chrono::minutes(10)};
  // A compactor's lease on a tenant lasts this long unless renewed (a dead holder's then expires).
  std::chrono::microseconds compaction_lease_duration{std::chrono::minutes(2)};
  uint64_t compaction_target_block_bytes = 512ull << 20;
  uint64_t compaction_memory_budget_bytes = 256ull << 20;  // spans held while one output is built
  int compaction_zstd_level = 9;
  // The disk tier in front of bucket storage (s3://, gs://, azblob://): block index and page ranges on local disk, kept
  // across restarts (objstore::DiskCacheStore). 0 turns it off. Not used for file:// storage,
  // whose blocks are on local disk already.
  uint64_t cache_disk_bytes = 1ull << 30;
  std::string cache_dir;                        // empty: <data_dir>/cache
  uint64_t health_probe_interval_seconds = 10;  // how often /ready's object-store probe runs
  uint64_t health_probe_timeout_seconds = 2;    // a probe running longer counts as failed
  // After a stop signal, /ready answers 503 this long while every door still serves, so load
  // balancers stop routing here before the doors close.
  uint64_t shutdown_delay_seconds = 0;
  // How often the block list is re-read, so that blocks other processes publish on the same bucket
  // (or retire) join (or leave) this process's queries.
  std::chrono::microseconds blocklist_refresh_interval{std::chrono::seconds(15)};
  // Spans that started longer ago than this expire (0 keeps everything); per tenant by name, with
  // retention_default for tenants not in the map.
  std::chrono::microseconds retention_default{std::chrono::hours(24 * 14)};
  std::map<std::string, std::chrono::microseconds> retention_tenants;
  std::chrono::microseconds RetentionOf(const std::string& tenant) const;
};

// Parses "64MiB", "1GiB", "512KiB", "10MB", "4096" into bytes.
Result<uint64_t> ParseByteSize(const std::string& text);

// Whether `storage` names a bucket store (s3://, gs://, azblob://) rather than a local folder.
bool IsBucketStorage(std::string_view storage);

// The retry policy of every object store, from storage_retry.*; `metrics`, when given, counts the
// retries.
objstore::RetryPolicy StorageRetryPolicy(const Config& config, const metrics::ObjectStoreMetrics* metrics = nullptr);

// Opens the object store named by config.storage (see Config::storage). S3 credentials come from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; GCS's as objstore::GcsOptionsFromEnvironment
// and Azure's as objstore::AzureOptionsFromEnvironment take them.
// Every store retries under StorageRetryPolicy: the bucket stores each HTTP request, a file://
// store each call (objstore::RetryingStore). `metrics`, when given, counts the retries.
Result<std::shared_ptr<objstore::ObjectStore>> OpenStorage(const Config& config,
                                                           const metrics::ObjectStoreMetrics* metrics = nullptr);

// The compactor's settings; INVALID_ARGUMENT for a zstd level zstd does not have.
Result<db::CompactionOptions> CompactionOptionsOf(const Config& config);

// Parses "100us", "250ms", "2s", "1m", "6h", "14d", "0" into a duration.
Result<std::chrono::microseconds> ParseDuration(const std::string& text);

// One setting: where it is read from and how its text is parsed. YAML values, environment
// variables and flags all go through `set`, so they accept the same forms (sizes like 64MiB,
// durations like 2s, booleans true/false, lists comma-separated or as a YAML sequence).
struct Setting {
  std::string_view key;   // dotted YAML path, e.g. "head.memory_budget"
  std::string_view flag;  // e.g. "--head-memory-budget"; empty: YAML and environment only
  std::string_view help;
  // For a flag that takes no value: the text it sets ("true", or "false" for a --no-... flag).
  // Empty: the flag takes a value.
  std::string_view switch_sets;
  // YAML takes a mapping {NAME: VALUE}, which `set` receives as "NAME=VALUE,..." (the form of the
  // environment variable).
  bool takes_mapping = false;
  // YAML takes any structure (auth.tokens: a list of mappings), which `set` receives as YAML flow
  // text, the form of the environment variable too.
  bool takes_yaml = false;
  std::function<Status(Config&, const std::string& text)> set;
  std::function<std::string(const Config&)> show;  // the value as text, as `set` would take it
};

// Every setting, in the order of docs/configuration.md.
const std::vector<Setting>& Settings();

// TRACEBUCKET_ and the key upper-cased with '.' as '_': "head.memory_budget" →
// TRACEBUCKET_HEAD_MEMORY_BUDGET.
std::string EnvironmentVariable(const Setting& setting);

// Overlays the keys present in the YAML file `path` onto `config`. Unknown keys are errors, so a
// typo never silently falls back to a default.
Status LoadConfigFile(const std::string& path, Config* config);

// Overlays every TRACEBUCKET_* variable that `getenv` finds. A TRACEBUCKET_ variable that names no
// setting is an error, like an unknown YAML key.
Status LoadEnvironment(Config* config, char** environ_entries);

// "key: value" lines for every setting, as the process will run.
std::string FormatConfig(const Config& config);

// Checks what each setting's parser cannot see alone: names from a fixed set (log.level,
// log.format), host:port addresses, the storage URL's form, the tls.* files given in pairs and
// CheckS3Transport. The error names the key. `serve` and `config check` both run it. The files
// themselves (tokens, certificates) are read when the server opens.
Status ValidateConfig(const Config& config);

// OK unless s3:// storage goes to an http:// endpoint whose host is not loopback (127.0.0.0/8, ::1,
// localhost) and s3.allow_insecure is off. OpenStorage checks it too, so no command that opens the
// bucket skips it.
Status CheckS3Transport(const Config& config);

}  // namespace tb::server
