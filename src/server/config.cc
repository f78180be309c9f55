#include "server/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <limits>
#include <set>

#include "objstore/azure_store.h"
#include "objstore/gcs_store.h"
#include "objstore/local_store.h"
#include "objstore/retry_store.h"
#include "objstore/s3_store.h"
#include "server/access.h"

namespace tb::server {
namespace {

Status ParseBool(const std::string& text, bool* out) {
  std::string lower;
  for (char ch : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") {
    *out = true;
  } else if (lower == "false" || lower == "no" || lower == "off" || lower == "0") {
    *out = false;
  } else {
    return Status::InvalidArgument("'" + text + "' is not a boolean (true or false)");
  }
  return Status::Ok();
}

template <typename T>
Status ParseCount(const std::string& text, T* out) {
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty())
    return Status::InvalidArgument("'" + text + "' is not a whole number in range");
  *out = value;
  return Status::Ok();
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(begin, end - begin);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) items.push_back(std::move(item));
    begin = end + 1;
  }
  return items;
}

std::string JoinList(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ",") + item;
  return text;
}

// The largest binary unit that divides the size exactly, as ParseByteSize reads it back.
std::string ShowSize(uint64_t bytes) {
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};
  for (const auto& [name, factor] : kUnits)
    if (bytes != 0 && bytes % factor == 0) return std::to_string(bytes / factor) + name;
  return std::to_string(bytes);
}

std::string ShowDuration(std::chrono::microseconds d) {
  constexpr int64_t kHour = 3'600'000'000;
  if (d.count() != 0 && d.count() % (24 * kHour) == 0) return std::to_string(d.count() / (24 * kHour)) + "d";
  if (d.count() != 0 && d.count() % kHour == 0) return std::to_string(d.count() / kHour) + "h";
  if (d.count() % 1'000'000 == 0) return std::to_string(d.count() / 1'000'000) + "s";
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "ms";
  return std::to_string(d.count()) + "us";
}

using DurationMap = std::map<std::string, std::chrono::microseconds>;
using Tokens = std::vector<TokenConfig>;
using TenantLimitsMap = std::map<std::string, TenantLimitsConfig>;

// The YAML text of a setting that takes any structure: nullopt when it is empty or null (the
// setting's empty value), INVALID_ARGUMENT if it is not YAML.
Result<std::optional<YAML::Node>> LoadYamlSetting(const std::string& text) {
  if (text.empty()) return std::optional<YAML::Node>();
  try {
    YAML::Node node = YAML::Load(text);
    if (node.IsNull()) return std::optional<YAML::Node>();
    return std::optional<YAML::Node>(std::move(node));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("not YAML: ") + e.what());
  }
}

// auth.tokens as YAML flow text: [{token_sha256: HEX, tenants: [a], roles: [write, read]}, ...].
Result<Tokens> ParseTokens(const std::string& text) {
  TB_ASSIGN_OR_RETURN(const std::optional<YAML::Node> loaded, LoadYamlSetting(text));
  if (!loaded) return Tokens{};
  const YAML::Node& node = *loaded;
  if (!node.IsSequence()) return Status::InvalidArgument("expected a list of tokens");
  Tokens tokens;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string where = "[" + std::to_string(i) + "]";
    if (!node[i].IsMap()) return Status::InvalidArgument(where + ": expected a mapping");
    TokenConfig token;
    try {
      for (const auto& kv : node[i]) {
        const std::string key = kv.first.as<std::string>();
        const auto list = [&]() {
          std::vector<std::string> items;
          if (kv.second.IsSequence())
            for (const auto& item : kv.second) items.push_back(item.as<std::string>());
          else if (!kv.second.IsNull())
            items.push_back(kv.second.as<std::string>());
          return items;
        };
        if (key == "token_sha256") {
          token.sha256_hex = kv.second.as<std::string>();
        } else if (key == "token_file") {
          token.file = kv.second.as<std::string>();
        } else if (key == "tenants") {
          token.tenants = list();
        } else if (key == "roles") {
          token.roles = list();
        } else {
          return Status::InvalidArgument(where + ": unknown key '" + key +
                                         "' (token_sha256, token_file, tenants, roles)");
        }
      }
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(where + ": " + e.what());
    }
    const bool hex = token.sha256_hex.size() == 64 && std::all_of(token.sha256_hex.begin(), token.sha256_hex.end(),
                                                                  [](unsigned char c) { return std::isxdigit(c); });
    if (token.sha256_hex.empty() == token.file.empty())
      return Status::InvalidArgument(where + ": give exactly one of token_sha256 and token_file");
    if (!token.sha256_hex.empty() && !hex)
      return Status::InvalidArgument(where + ".token_sha256: not 64 hex digits (the SHA-256 of the token)");
    if (token.roles.empty()) return Status::InvalidArgument(where + ".roles: name at least one of write, read, admin");
    for (const std::string& role : token.roles)
      if (role != "write" && role != "read" && role != "admin")
        return Status::InvalidArgument(where + ".roles: '" + role + "' is not write, read or admin");
    for (const std::string& tenant : token.tenants)
      if (Status name = CheckTenantName(tenant); tenant != "*" && !name.ok())
        return Status::InvalidArgument(where + ".tenants: " + name.message());
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::string ShowTokens(const Tokens& tokens) {
  if (tokens.empty()) return "";
  YAML::Emitter out;
  out << YAML::Flow << YAML::BeginSeq;
  for (const TokenConfig& token : tokens) {
    out << YAML::BeginMap;
    if (!token.sha256_hex.empty()) out << YAML::Key << "token_sha256" << YAML::Value << token.sha256_hex;
    if (!token.file.empty()) out << YAML::Key << "token_file" << YAML::Value << token.file;
    if (!token.tenants.empty()) out << YAML::Key << "tenants" << YAML::Value << token.tenants;
    out << YAML::Key << "roles" << YAML::Value << token.roles << YAML::EndMap;
  }
  out << YAML::EndSeq;
  return out.c_str();
}

// limits.tenants as YAML flow text: {NAME: {ingest_spans_per_second: N, ingest_burst_spans: N,
// head_share_percent: P, max_spans_per_trace: N}, ...}.
Result<TenantLimitsMap> ParseTenantLimits(const std::string& text) {
  TB_ASSIGN_OR_RETURN(const std::optional<YAML::Node> loaded, LoadYamlSetting(text));
  if (!loaded) return TenantLimitsMap{};
  if (!loaded->IsMap()) return Status::InvalidArgument("expected a mapping of tenant names to their limits");
  TenantLimitsMap map;
  for (const auto& tenant : *loaded) {
    if (!tenant.first.IsScalar()) return Status::InvalidArgument("a tenant name must be a plain name");
    const std::string name = tenant.first.Scalar();
    TB_RETURN_IF_ERROR(CheckTenantName(name));
    if (!tenant.second.IsMap()) return Status::InvalidArgument(name + ": expected a mapping of limits");
    TenantLimitsConfig& limits = map[name];
    for (const auto& kv : tenant.second) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      const std::string where = name + "." + key;
      const std::string value = kv.second.IsScalar() ? kv.second.Scalar() : "";
      const auto count = [&](auto* field) -> Status {
        typename std::remove_reference_t<decltype(*field)>::value_type parsed{};
        TB_RETURN_IF_ERROR(ParseCount(value, &parsed).WithContext(where));
        *field = parsed;
        return Status::Ok();
      };
      if (key == "ingest_spans_per_second") {
        TB_RETURN_IF_ERROR(count(&limits.ingest_spans_per_second));
      } else if (key == "ingest_burst_spans") {
        TB_RETURN_IF_ERROR(count(&limits.ingest_burst_spans));
      } else if (key == "head_share_percent") {
        TB_RETURN_IF_ERROR(count(&limits.head_share_percent));
        if (*limits.head_share_percent < 1 || *limits.head_share_percent > 100)
          return Status::InvalidArgument(where + ": " + value + " is not a percentage from 1 to 100");
      } else if (key == "max_spans_per_trace") {
        TB_RETURN_IF_ERROR(count(&limits.max_spans_per_trace));
      } else {
        return Status::InvalidArgument(
            where +
            ": unknown limit (ingest_spans_per_second, ingest_burst_spans, head_share_percent, "
            "max_spans_per_trace)");
      }
    }
  }
  return map;
}

std::string ShowTenantLimits(const TenantLimitsMap& map) {
  if (map.empty()) return "";
  YAML::Emitter out;
  out << YAML::Flow << YAML::BeginMap;
  for (const auto& [name, limits] : map) {
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    const auto put = [&](const char* key, const auto& value) {
      if (value) out << YAML::Key << key << YAML::Value << *value;
    };
    put("ingest_spans_per_second", limits.ingest_spans_per_second);
    put("ingest_burst_spans", limits.ingest_burst_spans);
    put("head_share_percent", limits.head_share_percent);
    put("max_spans_per_trace", limits.max_spans_per_trace);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return out.c_str();
}

// "name=30d,other=12h"; a YAML mapping arrives in this form too (ApplyYaml).
Result<DurationMap> ParseDurationMap(const std::string& text) {
  DurationMap map;
  for (const std::string& item : SplitList(text)) {
    const size_t equals = item.find('=');
    if (equals == std::string::npos || equals == 0)
      return Status::InvalidArgument("'" + item + "' is not NAME=DURATION (e.g. default=30d)");
    TB_ASSIGN_OR_RETURN(map[item.substr(0, equals)], ParseDuration(item.substr(equals + 1)));
  }
  return map;
}

// A setting of one Config field, found by `field`; the field's type picks the parser: text as is,
// bool, a list, a duration, a map of names to durations, or a whole number (a byte size when
// `bytes`).
template <typename Field>
Setting Make(std::string_view key, std::string_view flag, std::string_view help, Field field, bool bytes = false) {
  using T = std::remove_reference_t<decltype(field(std::declval<Config&>()))>;
  Setting s{key,
            flag,
            help,
            "",
            std::is_same_v<T, DurationMap>,
            std::is_same_v<T, Tokens> || std::is_same_v<T, TenantLimitsMap>,
            nullptr,
            nullptr};
  s.set = [field, bytes](Config& c, const std::string& text) -> Status {
    static_cast<void>(bytes);  // read only where T is a count
    T& target = field(c);
    if constexpr (std::is_same_v<T, std::string>) {
      target = text;
    } else if constexpr (std::is_same_v<T, bool>) {
      return ParseBool(text, &target);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      target = SplitList(text);
    } else if constexpr (std::is_same_v<T, std::chrono::microseconds>) {
      TB_ASSIGN_OR_RETURN(target, ParseDuration(text));
    } else if constexpr (std::is_same_v<T, DurationMap>) {
      TB_ASSIGN_OR_RETURN(target, ParseDurationMap(text));
    } else if constexpr (std::is_same_v<T, Tokens>) {
      TB_ASSIGN_OR_RETURN(target, ParseTokens(text));
    } else if constexpr (std::is_same_v<T, TenantLimitsMap>) {
      TB_ASSIGN_OR_RETURN(target, ParseTenantLimits(text));
    } else if (bytes) {
      TB_ASSIGN_OR_RETURN(uint64_t value, ParseByteSize(text));
      if constexpr (sizeof(T) < sizeof(uint64_t)) {
        if (value > std::numeric_limits<T>::max()) return Status::InvalidArgument("'" + text + "' is too large");
      }
      target = static_cast<T>(value);
    } else {
      return ParseCount(text, &target);
    }
    return Status::Ok();
  };
  s.show = [field, bytes](const Config& c) -> std::string {
    static_cast<void>(bytes);  // read only where T is a count
    Config copy = c;
    const T& value = field(copy);
    if constexpr (std::is_same_v<T, std::string>) {
      return value;
    } else if constexpr (std::is_same_v<T, bool>) {
      return value ? "true" : "false";
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      return JoinList(value);
    } else if constexpr (std::is_same_v<T, std::chrono::microseconds>) {
      return ShowDuration(value);
    } else if constexpr (std::is_same_v<T, DurationMap>) {
      std::vector<std::string> items;
      for (const auto& [name, duration] : value) items.push_back(name + "=" + ShowDuration(duration));
      return JoinList(items);
    } else if constexpr (std::is_same_v<T, Tokens>) {
      return ShowTokens(value);
    } else if constexpr (std::is_same_v<T, TenantLimitsMap>) {
      return ShowTenantLimits(value);
    } else {
      return bytes ? ShowSize(value) : std::to_string(value);
    }
  };
  return s;
}

Setting Switch(Setting s, std::string_view sets) {
  s.switch_sets = sets;
  return s;
}

#define TB_FIELD(expr) \
  [](Config & c) -> auto& { return c.expr; }

std::vector<Setting> MakeSettings() {
  return {
      Make("data_dir", "--data-dir", "Folder of the WAL, the instance ID and local data", TB_FIELD(data_dir)),
      Make("grpc_listen", "--grpc-listen", "gRPC address: OTLP, Jaeger storage v1 and v2, health",
           TB_FIELD(grpc_listen)),
      Make("grpc.keepalive_time", "", "Ping an idle gRPC client this often to find dead connections",
           TB_FIELD(grpc_keepalive_time)),
      Make("grpc.keepalive_timeout", "", "A gRPC connection whose ping is unanswered this long is closed",
           TB_FIELD(grpc_keepalive_timeout)),
      Make("grpc.max_connection_idle", "", "Close gRPC connections idle this long; 0: never",
           TB_FIELD(grpc_max_connection_idle)),
      Make("grpc.max_connection_age", "", "Ask gRPC clients to reconnect after this long; 0: never",
           TB_FIELD(grpc_max_connection_age)),
      Make("grpc.max_connection_age_grace", "", "Calls in flight on an aged connection may finish within this",
           TB_FIELD(grpc_max_connection_age_grace)),
      Make("grpc.max_concurrent_streams", "", "gRPC calls at once per connection",
           TB_FIELD(grpc_max_concurrent_streams)),
      Make("http_listen", "--http-listen", "HTTP address: OTLP/HTTP, /live, /ready, Jaeger HTTP APIs",
           TB_FIELD(http_listen)),
      Make("http.max_connections", "", "Open HTTP connections at once; more are answered 503",
           TB_FIELD(http_max_connections)),
      Make("http.workers", "", "HTTP requests served at once (the rest wait their turn)", TB_FIELD(http_workers)),
      Make("http.max_header_size", "", "Largest HTTP request header (431 beyond)", TB_FIELD(http_max_header_bytes),
           true),
      Make("http.header_timeout", "", "Time a client has to send a request's header", TB_FIELD(http_header_timeout)),
      Make("http.body_timeout", "", "Time a client has to send a request's body", TB_FIELD(http_body_timeout)),
      Make("http.idle_timeout", "", "An idle kept-alive HTTP connection is closed after this",
           TB_FIELD(http_idle_timeout)),
      Make("http.write_timeout", "", "An HTTP client that does not take its answer within this is dropped",
           TB_FIELD(http_write_timeout)),
      Make("http.cors.allowed_origins", "--cors-allowed-origins",
           "Browser origins allowed to call the HTTP API, comma-separated; * for any", TB_FIELD(cors_allowed_origins)),
      Switch(Make("enable_purge", "--enable-purge", "Serve POST /purge, which deletes ALL data (tests only)",
                  TB_FIELD(enable_purge)),
             "true"),
      Switch(Make("tenancy.enabled", "--tenancy", "Every request names its tenant in the tenancy header",
                  TB_FIELD(tenancy_enabled)),
             "true"),
      Make("tenancy.header", "--tenancy-header", "The header (gRPC metadata key) that names the tenant",
           TB_FIELD(tenancy_header)),
      Make("tenancy.tenants", "--tenants", "The tenants allowed, comma-separated; empty: any",
           TB_FIELD(tenancy_tenants)),
      Make("auth.tokens", "",
           "Bearer tokens: [{token_sha256: HEX | token_file: PATH, tenants: [...], roles: [write, read, admin]}]",
           TB_FIELD(auth_tokens)),
      Make("tls.cert_file", "--tls-cert", "PEM certificate chain of both listeners; empty: plain text",
           TB_FIELD(tls_cert_file)),
      Make("tls.key_file", "--tls-key", "PEM private key of tls.cert_file", TB_FIELD(tls_key_file)),
      Make("tls.client_ca_file", "--tls-client-ca",
           "PEM CA bundle; clients must present a certificate it signed (mTLS)", TB_FIELD(tls_client_ca_file)),
      Make("log.level", "--log-level", "trace, debug, info, warn, error, critical or off", TB_FIELD(log_level)),
      Make("log.format", "--log-format", "text, or json for one JSON object per line", TB_FIELD(log_format)),
      Make("log.slow_query_threshold", "--slow-query-threshold",
           "Log trace queries slower than this, e.g. 500ms; 0 turns it off", TB_FIELD(slow_query_threshold)),
      Make("metrics.enabled", "", "Prometheus metrics on GET /metrics; false: off (to measure their cost)",
           TB_FIELD(metrics_enabled)),
      Make("head.memory_budget", "--head-memory-budget", "Memory for recent spans, e.g. 1GiB",
           TB_FIELD(head_memory_budget_bytes), true),
      Make("head.admission_wait", "--head-admission-wait",
           "A write that finds the head's memory used up waits this long for a flush to free it before "
           "RESOURCE_EXHAUSTED / 429; 0: refuse at once",
           TB_FIELD(head_admission_wait)),
      Make("wal.sync", "", "fdatasync before acknowledging a write (off only for benchmarks)", TB_FIELD(wal_sync)),
      Make("wal.segment_size", "", "Size at which the WAL starts a new segment", TB_FIELD(wal_segment_bytes), true),
      Make("storage", "--storage",
           "Blocks: file:///path, s3://bucket/prefix, gs://bucket/prefix or azblob://container/prefix (empty: "
           "<data_dir>/blocks)",
           TB_FIELD(storage)),
      Make("s3.endpoint", "--s3-endpoint", "S3 endpoint URL (empty: AWS for the region)", TB_FIELD(s3_endpoint)),
      Make("s3.region", "--s3-region", "S3 region", TB_FIELD(s3_region)),
      Switch(Make("s3.path_style", "--s3-path-style", "Path-style S3 URLs (http://host/bucket/key)",
                  TB_FIELD(s3_path_style)),
             "true"),
      Make("s3.ca_file", "--s3-ca-file", "PEM CA bundle that verifies the S3 endpoint (empty: the system's)",
           TB_FIELD(s3_ca_file)),
      Make("s3.allow_insecure", "", "Allow an http:// S3 endpoint that is not on loopback (credentials in clear)",
           TB_FIELD(s3_allow_insecure)),
      Make("gcs.endpoint", "--gcs-endpoint",
           "GCS JSON API endpoint (empty: STORAGE_EMULATOR_HOST if set, else https://storage.googleapis.com)",
           TB_FIELD(gcs_endpoint)),
      Make("azure.endpoint", "--azure-endpoint",
           "Azure Blob service URL (empty: BlobEndpoint of AZURE_STORAGE_CONNECTION_STRING if set, else "
           "https://ACCOUNT.blob.core.windows.net; emulators: http://HOST:PORT/ACCOUNT)",
           TB_FIELD(azure_endpoint)),
      Make("storage_retry.max_attempts", "",
           "Attempts per object-store request, the first included (1: no retries); the same for every store",
           TB_FIELD(storage_retry_max_attempts)),
      Make("storage_retry.base_delay", "",
           "Backoff before the 2nd attempt; it doubles per attempt up to storage_retry.max_delay, and a random "
           "part of it is slept (full jitter)",
           TB_FIELD(storage_retry_base_delay)),
      Make("storage_retry.max_delay", "", "Cap of the object-store retry backoff", TB_FIELD(storage_retry_max_delay)),
      Make("flush.size", "", "Head memory at which a block is written", TB_FIELD(flush_bytes), true),
      Make("flush.age_seconds", "", "Write a block once the head has held spans this long",
           TB_FIELD(flush_age_seconds)),
      Make("flush.spool_dir", "",
           "Folder of the blocks spooled while the object store is down (empty: <data_dir>/spool)",
           TB_FIELD(spool_dir)),
      Make("flush.spool_max_size", "",
           "Disk for spooled blocks: ingest goes on while the object store is down until it is full; 0: no spool",
           TB_FIELD(spool_max_bytes), true),
      Switch(
          Make("flush.background", "--no-background-flush",
               "Write blocks in the background; false: only on POST /admin/flush (tests)", TB_FIELD(background_flush)),
          "false"),
      Switch(Make("flush.every_write", "--flush-every-write",
                  "Flush every write into a block before acknowledging it (tests)", TB_FIELD(flush_every_write)),
             "true"),
      Switch(Make("compaction.background", "--no-background-compaction",
                  "Merge blocks in the background; false: only on POST /admin/compact or tracebucket compact",
                  TB_FIELD(background_compaction)),
             "false"),
      Make("compaction.interval", "", "How often background compaction looks for work", TB_FIELD(compaction_interval)),
      Make("compaction.grace_period", "",
           "Compacted and expired blocks are deleted this long after they leave the block list",
           TB_FIELD(compaction_grace_period)),
      Make("compaction.lease_duration", "",
           "A compactor's lease on a tenant lasts this long unless renewed; then another process may take it",
           TB_FIELD(compaction_lease_duration)),
      Make("compaction.target_block_size", "", "Stored size at which a compaction cuts an output block",
           TB_FIELD(compaction_target_block_bytes), true),
      Make("compaction.memory_budget", "", "Spans a compaction holds while it builds one output block",
           TB_FIELD(compaction_memory_budget_bytes), true),
      Make("compaction.zstd_level", "", "zstd level of the pages of compacted blocks", TB_FIELD(compaction_zstd_level)),
      Make("cache.memory", "--cache-memory-size", "Block indexes and pages kept in memory", TB_FIELD(cache_bytes),
           true),
      Make("cache.disk_size", "--cache-disk-size",
           "Disk tier of the block cache in front of bucket storage (s3://, gs://, azblob://); 0: off",
           TB_FIELD(cache_disk_bytes), true),
      Make("cache.dir", "--cache-dir", "Folder of the disk cache (empty: <data_dir>/cache)", TB_FIELD(cache_dir)),
      Make("health.probe_interval_seconds", "", "How often /ready's object-store probe runs",
           TB_FIELD(health_probe_interval_seconds)),
      Make("health.probe_timeout_seconds", "", "A probe running longer makes /ready fail",
           TB_FIELD(health_probe_timeout_seconds)),
      Make("health.shutdown_delay_seconds", "--shutdown-delay-seconds",
           "After SIGTERM, answer /ready with 503 this long before closing the doors",
           TB_FIELD(shutdown_delay_seconds)),
      Make("blocklist.refresh_interval", "--blocklist-refresh-interval",
           "How often the block list is re-read to follow other processes on the bucket",
           TB_FIELD(blocklist_refresh_interval)),
      Make("retention.default", "--retention", "Spans that started longer ago expire, e.g. 14d; 0 keeps all",
           TB_FIELD(retention_default)),
      Make("retention.tenants", "", "Retention per tenant, overriding the default: NAME=DURATION,...",
           TB_FIELD(retention_tenants)),
      Make("limits.max_request_size", "--max-request-size", "Largest accepted request body",
           TB_FIELD(limits.max_request_bytes), true),
      Make("limits.max_attributes_per_span", "", "Attributes kept per span, resource, scope, event and link",
           TB_FIELD(limits.max_attributes_per_span)),
      Make("limits.max_attribute_value_size", "", "Longer attribute values are truncated",
           TB_FIELD(limits.max_attribute_value_bytes), true),
      Make("limits.max_string_size", "",
           "Longer attribute keys, span, event and scope names, scope versions, status messages, trace states and "
           "schema URLs are truncated",
           TB_FIELD(limits.max_string_bytes), true),
      Make("limits.max_array_values", "", "Elements kept per array or key-value-list attribute value, at every depth",
           TB_FIELD(limits.max_array_values)),
      Make("limits.max_events_per_span", "", "Events kept per span", TB_FIELD(limits.max_events_per_span)),
      Make("limits.max_links_per_span", "", "Links kept per span", TB_FIELD(limits.max_links_per_span)),
      Make("limits.max_spans_per_trace", "", "Spans accepted per trace; more are refused",
           TB_FIELD(limits.max_spans_per_trace)),
      Make("limits.ingest_spans_per_second", "", "Spans one tenant may write per second; 0: no limit",
           TB_FIELD(limits.ingest_spans_per_second)),
      Make("limits.ingest_burst_spans", "", "Spans one tenant may write at once above its rate; 0: a second's worth",
           TB_FIELD(limits.ingest_burst_spans)),
      Make("limits.head_share_percent", "", "Of the head memory budget, the most one tenant may hold (1-100)",
           TB_FIELD(head_share_percent)),
      Make("limits.max_tenants", "", "Tenants served at most; a request naming one more is refused",
           TB_FIELD(max_tenants)),
      Make("limits.tenants", "",
           "Per tenant: {NAME: {ingest_spans_per_second, ingest_burst_spans, head_share_percent, max_spans_per_trace}}",
           TB_FIELD(limits_tenants)),
      Make("limits.max_search_depth", "", "Most traces one search may ask for; deeper ones are refused; 0: no limit",
           TB_FIELD(max_search_depth)),
      Make("limits.query_timeout", "", "Queries running longer are stopped (DEADLINE_EXCEEDED / 504); 0: no limit",
           TB_FIELD(query_timeout)),
      Make("limits.query_workers", "",
           "Threads that parallel reads of all queries share; a query's own thread works too; 0: none",
           TB_FIELD(query_workers)),
      Make("limits.query_queue", "",
           "Parallel read tasks waiting for a busy query worker; more run on the query's thread",
           TB_FIELD(query_queue)),
      Make("limits.max_decoded_page_size", "", "A block page decoding to more is refused as corrupt (DATA_LOSS)",
           TB_FIELD(max_decoded_page_bytes), true),
      Make("limits.max_decoded_trace_size", "",
           "A trace read needing more decoded bytes from one block is refused as corrupt (DATA_LOSS)",
           TB_FIELD(max_decoded_trace_bytes), true),
      Make("limits.max_answer_spans", "",
           "Spans one /api or /api/v3 answer may hold; larger ones are refused; 0: no limit",
           TB_FIELD(max_answer_spans)),
      Make("limits.max_answer_size", "",
           "Bytes one /api or /api/v3 answer may hold; larger ones are refused; 0: no limit",
           TB_FIELD(max_answer_bytes), true),
  };
}

#undef TB_FIELD

const Setting* FindSetting(std::string_view key) {
  for (const Setting& s : Settings())
    if (s.key == key) return &s;
  return nullptr;
}

// Applies every leaf under `node` (whose dotted path is `prefix`); a key that is neither a setting
// nor a prefix of one is an error.
Status ApplyYaml(const YAML::Node& node, const std::string& prefix, Config* c) {
  if (!node.IsMap()) return Status::InvalidArgument((prefix.empty() ? "config" : prefix) + ": expected a mapping");
  for (const auto& kv : node) {
    const std::string key = (prefix.empty() ? "" : prefix + ".") + kv.first.as<std::string>();
    if (const Setting* s = FindSetting(key)) {
      std::string text;
      if (s->takes_yaml) {
        YAML::Emitter flow;
        flow << YAML::Flow << kv.second;
        text = flow.c_str();
      } else if (kv.second.IsSequence()) {
        std::vector<std::string> items;
        for (const auto& item : kv.second) items.push_back(item.as<std::string>());
        text = JoinList(items);
      } else if (kv.second.IsScalar()) {
        text = kv.second.Scalar();
      } else if (kv.second.IsMap() && s->takes_mapping) {
        // A mapping setting (retention.tenants): {NAME: VALUE} becomes NAME=VALUE,...
        std::vector<std::string> items;
        for (const auto& item : kv.second) items.push_back(item.first.as<std::string>() + "=" + item.second.Scalar());
        text = JoinList(items);
      } else if (!kv.second.IsNull()) {
        return Status::InvalidArgument(key + ": expected a value, not a mapping");
      }
      TB_RETURN_IF_ERROR(s->set(*c, text).WithContext(key));
      continue;
    }
    bool is_section = false;
    for (const Setting& s : Settings()) is_section = is_section || s.key.starts_with(key + ".");
    if (!is_section) return Status::InvalidArgument("unknown key '" + key + "'");
    TB_RETURN_IF_ERROR(ApplyYaml(kv.second, key, c));
  }
  return Status::Ok();
}

}  // namespace

Result<uint64_t> ParseByteSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return Status::InvalidArgument("'" + text + "' is not a size (e.g. 64MiB)");
  uint64_t value;
  try {
    value = std::stoull(text.substr(0, i));
  } catch (const std::exception&) {
    return Status::InvalidArgument("'" + text + "' is out of range");
  }
  std::string unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"", 1},      {"B", 1},        {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
      {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000},  {"K", 1ull << 10},   {"M", 1ull << 20},   {"G", 1ull << 30}};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      if (value > UINT64_MAX / factor) return Status::InvalidArgument("'" + text + "' is out of range");
      return value * factor;
    }
  }
  return Status::InvalidArgument("'" + text + "' has an unknown unit (use B, KiB, MiB, GiB)");
}

Result<db::CompactionOptions> CompactionOptionsOf(const Config& config) {
  if (config.compaction_zstd_level < 1 || config.compaction_zstd_level > 22)
    return Status::InvalidArgument("compaction.zstd_level must be 1 to 22, not " +
                                   std::to_string(config.compaction_zstd_level));
  db::CompactionOptions options;
  options.grace_period = config.compaction_grace_period;
  options.lease_duration = config.compaction_lease_duration;
  options.target_block_bytes = config.compaction_target_block_bytes;
  options.memory_budget_bytes = config.compaction_memory_budget_bytes;
  options.writer.zstd_level = config.compaction_zstd_level;
  return options;
}

bool IsBucketStorage(std::string_view storage) {
  return storage.starts_with("s3://") || storage.starts_with("gs://") || storage.starts_with("azblob://");
}

objstore::RetryPolicy StorageRetryPolicy(const Config& config, const metrics::ObjectStoreMetrics* metrics) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  objstore::RetryPolicy policy;
  policy.max_attempts = static_cast<int>(std::min<uint32_t>(config.storage_retry_max_attempts, INT32_MAX));
  policy.base_delay = duration_cast<milliseconds>(config.storage_retry_base_delay);
  policy.max_delay = duration_cast<milliseconds>(config.storage_retry_max_delay);
  if (metrics != nullptr)
    policy.on_retry = [retries = metrics->retries](const objstore::RetryEvent&) { retries.Add(); };
  return policy;
}

Result<std::shared_ptr<objstore::ObjectStore>> OpenStorage(const Config& config,
                                                           const metrics::ObjectStoreMetrics* metrics) {
  std::string url = config.storage;
  if (url.empty()) url = "file://" + (std::filesystem::absolute(config.data_dir) / "blocks").string();
  if (url.starts_with("file://")) {
    TB_ASSIGN_OR_RETURN(auto store, objstore::LocalStore::Open(url.substr(7)));
    return std::shared_ptr<objstore::ObjectStore>(
        std::make_shared<objstore::RetryingStore>(std::move(store), StorageRetryPolicy(config, metrics)));
  }
  if (url.starts_with("s3://")) {
    const std::string rest = url.substr(5);
    const auto slash = rest.find('/');
    objstore::S3Options o;
    o.bucket = rest.substr(0, slash);
    o.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
    o.endpoint = config.s3_endpoint.empty() ? "https://s3." + config.s3_region + ".amazonaws.com" : config.s3_endpoint;
    o.region = config.s3_region;
    o.path_style = config.s3_path_style;
    o.ca_file = config.s3_ca_file;
    TB_RETURN_IF_ERROR(CheckS3Transport(config));
    o.retry = StorageRetryPolicy(config, metrics);
    if (o.bucket.empty()) return Status::InvalidArgument("storage '" + url + "' names no bucket");
    TB_ASSIGN_OR_RETURN(auto store, objstore::S3Store::Open(o));
    return std::shared_ptr<objstore::ObjectStore>(std::move(store));
  }
  if (url.starts_with("gs://")) {
    const std::string rest = url.substr(5);
    const auto slash = rest.find('/');
    const std::string bucket = rest.substr(0, slash);
    if (bucket.empty()) return Status::InvalidArgument("storage '" + url + "' names no bucket");
    TB_ASSIGN_OR_RETURN(objstore::GcsOptions o,
                        objstore::GcsOptionsFromEnvironment(
                            bucket, slash == std::string::npos ? "" : rest.substr(slash + 1), config.gcs_endpoint));
    o.http.retry = StorageRetryPolicy(config, metrics);
    TB_ASSIGN_OR_RETURN(auto store, objstore::GcsStore::Open(std::move(o)));
    return std::shared_ptr<objstore::ObjectStore>(std::move(store));
  }
  if (url.starts_with("azblob://")) {
    const std::string rest = url.substr(9);
    const auto slash = rest.find('/');
    const std::string container = rest.substr(0, slash);
    if (container.empty()) return Status::InvalidArgument("storage '" + url + "' names no container");
    TB_ASSIGN_OR_RETURN(
        objstore::AzureOptions o,
        objstore::AzureOptionsFromEnvironment(container, slash == std::string::npos ? "" : rest.substr(slash + 1),
                                              config.azure_endpoint));
    o.http.retry = StorageRetryPolicy(config, metrics);
    TB_ASSIGN_OR_RETURN(auto store, objstore::AzureStore::Open(std::move(o)));
    return std::shared_ptr<objstore::ObjectStore>(std::move(store));
  }
  return Status::InvalidArgument("storage '" + url + "' must start with file://, s3://, gs:// or azblob://");
}

Result<std::chrono::microseconds> ParseDuration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  uint64_t value = 0;
  if (i == 0 || !ParseCount(text.substr(0, i), &value).ok() || value > (1ull << 32))
    return Status::InvalidArgument("'" + text + "' is not a duration (e.g. 500ms, 2s, 1m)");
  const std::string unit = text.substr(i);
  using std::chrono::microseconds;
  if (unit == "us") return microseconds(value);
  if (unit == "ms") return microseconds(std::chrono::milliseconds(value));
  if (unit == "s" || (unit.empty() && value == 0)) return microseconds(std::chrono::seconds(value));
  if (unit == "m") return microseconds(std::chrono::minutes(value));
  // Up to 2^32 hours or days would overflow the microseconds: cap at about 100,000 years.
  constexpr uint64_t kMaxDays = 36'500'000;
  if ((unit == "h" || unit == "d") && value > kMaxDays)
    return Status::InvalidArgument("'" + text + "' is out of range");
  if (unit == "h") return microseconds(std::chrono::hours(value));
  if (unit == "d") return microseconds(std::chrono::hours(24 * value));
  return Status::InvalidArgument("'" + text + "' needs a unit: us, ms, s, m, h or d");
}

TenantLimits Config::LimitsOf(const std::string& tenant) const {
  TenantLimits out{limits, head_share_percent};
  const auto it = limits_tenants.find(tenant);
  if (it == limits_tenants.end()) return out;
  const TenantLimitsConfig& own = it->second;
  out.ingest.ingest_spans_per_second = own.ingest_spans_per_second.value_or(out.ingest.ingest_spans_per_second);
  out.ingest.ingest_burst_spans = own.ingest_burst_spans.value_or(out.ingest.ingest_burst_spans);
  out.ingest.max_spans_per_trace = own.max_spans_per_trace.value_or(out.ingest.max_spans_per_trace);
  out.head_share_percent = own.head_share_percent.value_or(out.head_share_percent);
  return out;
}

std::chrono::microseconds Config::RetentionOf(const std::string& tenant) const {
  const auto it = retention_tenants.find(tenant);
  return it == retention_tenants.end() ? retention_default : it->second;
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = MakeSettings();
  return settings;
}

std::string EnvironmentVariable(const Setting& setting) {
  std::string name = "TRACEBUCKET_";
  for (char ch : setting.key) name += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

Status LoadConfigFile(const std::string& path, Config* c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
    if (root.IsNull()) return Status::Ok();
    return ApplyYaml(root, "", c).WithContext("config " + path);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("config " + path + ": " + e.what());
  }
}

Status LoadEnvironment(Config* c, char** environ_entries) {
  constexpr std::string_view kPrefix = "TRACEBUCKET_";
  for (char** entry = environ_entries; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text = *entry;
    const size_t equals = text.find('=');
    if (!text.starts_with(kPrefix) || equals == std::string_view::npos) continue;
    const std::string_view name = text.substr(0, equals);
    const Setting* match = nullptr;
    for (const Setting& s : Settings())
      if (EnvironmentVariable(s) == name) match = &s;
    if (match == nullptr)
      return Status::InvalidArgument("environment variable " + std::string(name) + " names no setting");
    TB_RETURN_IF_ERROR(match->set(*c, std::string(text.substr(equals + 1))).WithContext(std::string(name)));
  }
  return Status::Ok();
}

std::string FormatConfig(const Config& config) {
  std::string text;
  for (const Setting& s : Settings()) text += std::string(s.key) + ": " + s.show(config) + "\n";
  return text;
}

Status ValidateConfig(const Config& c) {
  const auto bad = [](std::string_view key, const std::string& value, const std::string& why) {
    return Status::InvalidArgument(std::string(key) + ": '" + value + "' " + why);
  };
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!kLevels.contains(c.log_level))
    return bad("log.level", c.log_level, "is not one of trace, debug, info, warn, error, critical, off");
  if (c.log_format != "text" && c.log_format != "json") return bad("log.format", c.log_format, "is not text or json");
  // host:port with a port of 0..65535; an empty http_listen turns the HTTP door off.
  const auto listen = [&](std::string_view key, const std::string& address) -> Status {
    const size_t colon = address.rfind(':');
    const std::string port = colon == std::string::npos ? "" : address.substr(colon + 1);
    uint32_t number = 0;
    if (port.empty() || !ParseCount(port, &number).ok() || number > 65535) return bad(key, address, "is not host:port");
    return Status::Ok();
  };
  TB_RETURN_IF_ERROR(listen("grpc_listen", c.grpc_listen));
  // An HTTP header name (RFC 9110 token) that gRPC also takes as a metadata key: no upper case
  // there, and header names compare without case, so lower-case letters, digits, - _ and . only.
  const bool header_ok =
      !c.tenancy_header.empty() && std::all_of(c.tenancy_header.begin(), c.tenancy_header.end(), [](unsigned char ch) {
        return std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.';
      });
  if (!header_ok || c.tenancy_header.starts_with("grpc-"))
    return bad("tenancy.header", c.tenancy_header, "is not a header name (letters, digits, - _ .; not grpc-*)");
  for (size_t i = 0; i < c.auth_tokens.size(); ++i)
    if (!c.tenancy_enabled && !c.auth_tokens[i].tenants.empty())
      return Status::InvalidArgument("auth.tokens[" + std::to_string(i) +
                                     "].tenants: needs tenancy.enabled (without tenancy every request is tenant "
                                     "default)");
  if (c.head_share_percent < 1 || c.head_share_percent > 100)
    return bad("limits.head_share_percent", std::to_string(c.head_share_percent), "is not a percentage from 1 to 100");
  if (c.max_tenants < 1) return bad("limits.max_tenants", "0", "must allow at least the default tenant");
  if (c.storage_retry_max_attempts < 1) return bad("storage_retry.max_attempts", "0", "must allow the first attempt");
  // The writer cuts pages near 512 KiB: a smaller cap would refuse ordinary blocks.
  if (c.max_decoded_page_bytes < (1u << 20))
    return bad("limits.max_decoded_page_size", std::to_string(c.max_decoded_page_bytes), "is less than 1MiB");
  if (c.max_decoded_trace_bytes < c.max_decoded_page_bytes)
    return bad("limits.max_decoded_trace_size", std::to_string(c.max_decoded_trace_bytes),
               "is less than limits.max_decoded_page_size");
  for (const std::string& tenant : c.tenancy_tenants)
    if (Status name = CheckTenantName(tenant); !name.ok())
      return Status::InvalidArgument("tenancy.tenants: " + name.message());
  if (!c.http_listen.empty()) TB_RETURN_IF_ERROR(listen("http_listen", c.http_listen));
  if (c.http_max_connections < 1) return bad("http.max_connections", "0", "must allow one connection");
  // A write holds its request (and a gRPC thread) while it waits: seconds, not minutes.
  if (c.head_admission_wait > std::chrono::seconds(60))
    return bad("head.admission_wait", ShowDuration(c.head_admission_wait), "is more than 60s");
  if (c.http_workers < 1) return bad("http.workers", "0", "must allow one request at a time");
  // Browsers send a few KiB of headers (cookies included); less would refuse ordinary requests.
  if (c.http_max_header_bytes < 4096)
    return bad("http.max_header_size", std::to_string(c.http_max_header_bytes), "is less than 4KiB");
  for (const auto& [key, value] : {std::pair{"http.header_timeout", c.http_header_timeout},
                                   {"http.body_timeout", c.http_body_timeout},
                                   {"http.idle_timeout", c.http_idle_timeout},
                                   {"http.write_timeout", c.http_write_timeout}})
    if (value < std::chrono::milliseconds(1)) return bad(key, "0", "must be at least 1ms");
  if (!c.storage.empty() && !c.storage.starts_with("file://") && !IsBucketStorage(c.storage))
    return bad("storage", c.storage, "must start with file://, s3://, gs:// or azblob://");
  if (IsBucketStorage(c.storage)) {
    const size_t name_at = c.storage.find("://") + 3;
    if (name_at == c.storage.size() || c.storage[name_at] == '/')
      return bad("storage", c.storage, c.storage.starts_with("azblob://") ? "names no container" : "names no bucket");
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty())
    return Status::InvalidArgument("tls.cert_file and tls.key_file: give both or neither");
  if (!c.tls_client_ca_file.empty() && c.tls_cert_file.empty())
    return Status::InvalidArgument("tls.client_ca_file: needs tls.cert_file and tls.key_file (mTLS is TLS first)");
  return CheckS3Transport(c);
}

Status CheckS3Transport(const Config& c) {
  if (!c.storage.starts_with("s3://") || !c.s3_endpoint.starts_with("http://") || c.s3_allow_insecure)
    return Status::Ok();
  // The host of http://HOST[:PORT][/PATH]; an IPv6 address is in brackets.
  std::string_view host = std::string_view(c.s3_endpoint).substr(7);
  host = host.substr(0, host.find_first_of("/?#"));
  if (host.starts_with('[')) {
    host = host.substr(1, host.find(']') - 1);
  } else {
    host = host.substr(0, host.rfind(':'));
  }
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  in_addr v4{};
  const bool loopback = lower == "localhost" || lower == "::1" ||
                        (inet_pton(AF_INET, lower.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127);
  if (loopback) return Status::Ok();
  return Status::InvalidArgument("s3.endpoint: '" + c.s3_endpoint +
                                 "' is plain http on a host that is not loopback, so the signed requests and any "
                                 "session token would cross the network in clear; use https:// (with s3.ca_file "
                                 "for a private CA), or set s3.allow_insecure: true");
}

}  // namespace tb::server
