#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <thread>

#include "db/block_list.h"
#include "grpc_capped_messages.h"
#include "objstore/metrics_store.h"
#include "util/allocator.h"
#include "util/worker_pool.h"

namespace tb::server {

Server::Server(const Config& config) : config_(config) {}

Server::~Server() {
  if (grpc_ || http_) (void)Shutdown(std::chrono::milliseconds(0));
}

Result<std::unique_ptr<Server>> Server::Open(const Config& config) {
  std::unique_ptr<Server> s(new Server(config));
  TB_ASSIGN_OR_RETURN(AccessPolicy access, AccessPolicy::Open(config));
  s->access_ = std::make_unique<AccessPolicy>(std::move(access));
  TB_ASSIGN_OR_RETURN(s->tls_, LoadTls(config));
  // The tenant label: the one tenant until tenants arrive.
  if (config.metrics_enabled)
    s->metrics_ = std::make_unique<metrics::Metrics>(metrics::CurrentBuild(), db::DbOptions().tenant);
  const metrics::ObjectStoreMetrics* store_metrics = s->metrics_ ? &s->metrics_->object_store() : nullptr;
  TB_ASSIGN_OR_RETURN(auto store, OpenStorage(config, store_metrics));
  // Under the disk cache, so that the object store metrics count what reaches the backend.
  if (store_metrics != nullptr) store = std::make_shared<objstore::MetricsStore>(std::move(store), store_metrics);
  if (IsBucketStorage(config.storage) && config.cache_disk_bytes > 0) {
    objstore::DiskCacheOptions cache;
    cache.dir =
        config.cache_dir.empty() ? (std::filesystem::path(config.data_dir) / "cache").string() : config.cache_dir;
    cache.capacity_bytes = config.cache_disk_bytes;
    cache.cacheable = db::IsImmutableBlockObject;
    const std::string dir = cache.dir;
    TB_ASSIGN_OR_RETURN(auto cached, objstore::DiskCacheStore::Open(std::move(store), std::move(cache)));
    const objstore::DiskCacheStats stats = cached->stats();
    spdlog::info("disk cache {}: {} entries, {} of {} bytes", dir, stats.entries, stats.bytes, config.cache_disk_bytes);
    s->disk_cache_ = cached;
    store = std::move(cached);
  }
  db::DbOptions options;
  options.head_memory_budget_bytes = config.head_memory_budget_bytes;
  options.admission.wait = std::chrono::ceil<std::chrono::milliseconds>(config.head_admission_wait);
  options.wal_sync = config.wal_sync;
  options.wal_segment_bytes = config.wal_segment_bytes;
  options.spool_dir =
      config.spool_dir.empty() ? (std::filesystem::path(config.data_dir) / "spool").string() : config.spool_dir;
  options.shared_spool_budget =
      std::make_shared<head::MemoryBudget>(config.spool_max_bytes, nullptr, "flush.spool_max_size");
  options.limits = config.limits;
  options.query_limits.max_search_depth = static_cast<int>(std::min<uint32_t>(config.max_search_depth, INT32_MAX));
  options.query_limits.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.query_timeout);
  SetSharedWorkerPool(std::make_shared<WorkerPool>(WorkerPool::Limits{config.query_workers, config.query_queue}));
  options.reader.max_page_bytes = config.max_decoded_page_bytes;
  options.reader.max_trace_bytes = config.max_decoded_trace_bytes;
  options.flush_bytes = config.flush_bytes;
  options.flush_age = std::chrono::seconds(config.flush_age_seconds);
  options.cache_bytes = config.cache_bytes;
  options.background_flush = config.background_flush;
  options.flush_every_write = config.flush_every_write;
  options.blocklist_refresh_interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.blocklist_refresh_interval);
  if (s->metrics_) {
    options.wal_metrics = s->metrics_->wal();
    options.flush_metrics = s->metrics_->flush();
    options.admission.wait_seconds = s->metrics_->admission_wait_seconds();
    options.compaction_metrics = s->metrics_->compaction();
    options.block_read_metrics = s->metrics_->block_reads();
  }
  TB_ASSIGN_OR_RETURN(options.compaction, CompactionOptionsOf(config));
  options.background_compaction = config.background_compaction;
  options.compaction_interval = std::chrono::duration_cast<std::chrono::milliseconds>(config.compaction_interval);
  if (config.flush_every_write) spdlog::warn("flush.every_write is on: one block per write (a test setting)");
  const auto started = std::chrono::steady_clock::now();
  const auto options_of = [options, &config = s->config_](const std::string& tenant) {
    db::DbOptions o = options;
    o.retention = std::chrono::duration_cast<std::chrono::milliseconds>(config.RetentionOf(tenant));
    const TenantLimits limits = config.LimitsOf(tenant);
    o.limits = limits.ingest;
    // The tenant's share of the budget (Tenants draws it from the process's); its flushes are sized by it.
    if (limits.head_share_percent < 100)
      o.head_memory_budget_bytes = config.head_memory_budget_bytes / 100 * limits.head_share_percent;
    return o;
  };
  TB_ASSIGN_OR_RETURN(s->tenants_, Tenants::Open(config.data_dir, config.head_memory_budget_bytes, config.max_tenants,
                                                 options_of, std::move(store)));
  spdlog::info(
      "recovered in {} ms",
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  if (s->metrics_) s->metrics_->SetStateSource([server = s.get()] { return server->State(); });
  return s;
}

metrics::StateSnapshot Server::State() const {
  // Summed over the tenants.
  metrics::StateSnapshot s;
  for (const db::Db* tenant : tenants_->All()) {
    const db::DbStats db = tenant->Stats();
    s.wal_bytes += db.wal_usage.bytes;
    s.wal_segments += db.wal_usage.segments;
    s.head_spans += db.active_head.spans + db.frozen_spans;
    s.head_traces += db.active_head.traces + db.frozen_traces;
    s.head_bytes += db.active_head.memory_bytes + db.frozen_memory_bytes;
    s.flush_pending += db.frozen_heads;
    s.blocks += db.blocks;
    s.spool_blocks += db.spooled_blocks;
    s.spool_bytes += db.spooled_bytes;
    s.memory_cache.hits += db.cache.hits;
    s.memory_cache.misses += db.cache.misses;
    s.memory_cache.evictions += db.cache.evictions;
    s.memory_cache.bytes += db.cache.bytes;
  }
  if (disk_cache_) {
    const objstore::DiskCacheStats disk = disk_cache_->stats();
    s.disk_cache = metrics::CacheTierSnapshot{disk.hits, disk.misses, disk.evictions, disk.bytes};
  }
  return s;
}

metrics::QueryMetrics Server::QueryMetricsOf(metrics::QueryDoor door) const {
  return metrics_ ? metrics_->query(door) : metrics::QueryMetrics();
}

metrics::IngestMetrics Server::IngestMetricsOf(metrics::IngestDoor door) const {
  return metrics_ ? metrics_->ingest(door) : metrics::IngestMetrics();
}

Status Server::Start() {
  grpc_write_door_ = std::make_unique<TenantDoor>(access_.get(), tenants_.get());
  grpc_v2_door_ =
      std::make_unique<TenantDoor>(access_.get(), tenants_.get(), QueryMetricsOf(metrics::QueryDoor::kGrpcV2));
  grpc_v1_door_ =
      std::make_unique<TenantDoor>(access_.get(), tenants_.get(), QueryMetricsOf(metrics::QueryDoor::kGrpcV1));
  otlp_service_ =
      std::make_unique<OtlpTraceService>(grpc_write_door_.get(), IngestMetricsOf(metrics::IngestDoor::kOtlpGrpc));
  trace_reader_ = std::make_unique<StorageV2TraceReader>(grpc_v2_door_.get());
  dependency_reader_ = std::make_unique<StorageV2DependencyReader>(grpc_v2_door_.get());
  capabilities_ = std::make_unique<StorageV2Capabilities>();
  const metrics::IngestMetrics v1_ingest = IngestMetricsOf(metrics::IngestDoor::kJaegerV1);
  v1_writer_ = std::make_unique<StorageV1SpanWriter>(grpc_write_door_.get(), v1_ingest);
  v1_streaming_writer_ = std::make_unique<StorageV1StreamingSpanWriter>(grpc_write_door_.get(), v1_ingest);
  v1_reader_ = std::make_unique<StorageV1SpanReader>(grpc_v1_door_.get());
  v1_dependencies_ = std::make_unique<StorageV1DependenciesReader>(grpc_v1_door_.get());
  v1_capabilities_ = std::make_unique<StorageV1Capabilities>();

  HealthOptions probes;
  probes.probe_interval = std::chrono::seconds(config_.health_probe_interval_seconds);
  probes.probe_timeout = std::chrono::seconds(config_.health_probe_timeout_seconds);
  // Every tenant's WAL must take writes; the store is one for all, probed through "default".
  health_ = std::make_unique<HealthMonitor>(
      probes,
      [tenants = tenants_.get()] {
        for (const db::Db* db : tenants->All())
          TB_RETURN_IF_ERROR(db->WalWritable().WithContext("tenant " + db->tenant()));
        return Status::Ok();
      },
      [tenants = tenants_.get()] { return tenants->Default().ProbeStore(); });
  health_->Start();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const bool grpc_tls = tls_ && !plugin_controller_;
  if (tls_ && !grpc_tls) spdlog::info("plugin mode: gRPC stays plain text on loopback; tls.* applies to HTTP only");
  builder.AddListeningPort(config_.grpc_listen,
                           grpc_tls ? GrpcServerCredentials(*tls_) : grpc::InsecureServerCredentials(), &grpc_port_);
  // Refuse a port another process already serves (gRPC allows SO_REUSEPORT by default).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const auto ms = [](std::chrono::microseconds d) {
    return static_cast<int>(
        std::min<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count(), INT32_MAX));
  };
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ms(config_.grpc_keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ms(config_.grpc_keepalive_timeout));
  // gRPC takes INT_MAX as "no limit"; 0 would close connections at once.
  const auto limit_ms = [&](std::chrono::microseconds d) { return d.count() == 0 ? INT32_MAX : ms(d); };
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, limit_ms(config_.grpc_max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, limit_ms(config_.grpc_max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, ms(config_.grpc_max_connection_age_grace));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(std::min<uint32_t>(config_.grpc_max_concurrent_streams, INT32_MAX)));
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(config_.limits.max_request_bytes, INT32_MAX)));
  // gRPC 1.51 would inflate a compressed message whole before comparing it with the limit above;
  // the request types inflate themselves instead, stopping at the limit (proto/grpc_capped_messages.h).
  builder.AddChannelArgument(GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0);
  grpc_messages::SetMaxInflatedMessageSize(config_.limits.max_request_bytes);
  builder.RegisterService(otlp_service_.get());
  builder.RegisterService(trace_reader_.get());
  builder.RegisterService(dependency_reader_.get());
  builder.RegisterService(capabilities_.get());
  builder.RegisterService(v1_writer_.get());
  builder.RegisterService(v1_streaming_writer_.get());
  builder.RegisterService(v1_reader_.get());
  builder.RegisterService(v1_dependencies_.get());
  builder.RegisterService(v1_capabilities_.get());
  if (plugin_controller_) builder.RegisterService(plugin_controller_.get());
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || grpc_port_ == 0) return Status::Unavailable("cannot listen for gRPC on " + config_.grpc_listen);
  auto* health = grpc_->GetHealthCheckService();
  for (const char* service : {"opentelemetry.proto.collector.trace.v1.TraceService", "jaeger.storage.v2.TraceReader",
                              "jaeger.storage.v2.DependencyReader", "jaeger.storage.v2.Capabilities"})
    health->SetServingStatus(service, true);
  for (const char* service : {"jaeger.storage.v1.SpanWriterPlugin", "jaeger.storage.v1.StreamingSpanWriterPlugin",
                              "jaeger.storage.v1.SpanReaderPlugin", "jaeger.storage.v1.DependenciesReaderPlugin",
                              "jaeger.storage.v1.PluginCapabilities"})
    health->SetServingStatus(service, true);
  if (plugin_controller_) health->SetServingStatus(kPluginHealthService, true);

  const char* grpc_security = !grpc_tls ? "plain text" : tls_->mutual() ? "mTLS" : "TLS";
  spdlog::info("memory allocator: {}", AllocatorName());
  if (config_.http_listen.empty()) {
    spdlog::info("serving gRPC ({}) on port {}; no HTTP", grpc_security, grpc_port_);
    return Status::Ok();
  }
  http_ = std::make_unique<HttpServer>(config_, tenants_.get(), access_.get(), health_.get(), metrics_.get(),
                                       tls_ ? &*tls_ : nullptr);
  TB_RETURN_IF_ERROR(http_->Start(config_.http_listen));
  spdlog::info("serving gRPC ({}) on {} and HTTP ({}) on {}", grpc_security, config_.grpc_listen,
               !tls_            ? "plain text"
               : tls_->mutual() ? "mTLS"
                                : "TLS",
               config_.http_listen);
  return Status::Ok();
}

void Server::EnablePluginMode(std::function<void()> request_stop) {
  plugin_controller_ = std::make_unique<PluginController>(std::move(request_stop));
}

Status Server::Shutdown(std::chrono::milliseconds grace) {
  if (health_) {
    health_->SetShuttingDown();
    if (config_.shutdown_delay_seconds > 0 && (grpc_ || http_)) {
      spdlog::info("not ready; serving {} s more before closing the doors", config_.shutdown_delay_seconds);
      std::this_thread::sleep_for(std::chrono::seconds(config_.shutdown_delay_seconds));
    }
  }
  if (http_) http_->Stop();
  if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + grace);
  http_.reset();
  grpc_.reset();
  health_.reset();
  return tenants_ ? tenants_->Close() : Status::Ok();
}

}  // namespace tb::server
