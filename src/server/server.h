// Server: owns the data directory, the tenants' Dbs (WAL, heads, query engine), the access policy
// and both network doors.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "db/db.h"
#include "metrics/metrics.h"
#include "objstore/disk_cache_store.h"
#include "server/access.h"
#include "server/config.h"
#include "server/grpc_services.h"
#include "server/grpc_v1_services.h"
#include "server/health.h"
#include "server/http_server.h"
#include "server/plugin.h"
#include "server/tenants.h"
#include "server/tls.h"

namespace tb::server {

class Server {
 public:
  // Opens the storage and recovers the blocks and the WAL. Nothing listens yet.
  static Result<std::unique_ptr<Server>> Open(const Config& config);
  ~Server();

  // Starts serving gRPC and HTTP (no HTTP when http_listen is empty).
  Status Start();
  // Before Start: also serve go-plugin's controller and report "plugin" healthy (legacy plugin
  // mode); the controller's Shutdown calls `request_stop`. The gRPC door then stays plain text
  // whatever tls.* says: go-plugin dials it on loopback without TLS.
  void EnablePluginMode(std::function<void()> request_stop);
  // The port gRPC listens on once started (useful with port 0).
  int grpc_port() const { return grpc_port_; }
  // Turns /ready to 503, keeps serving for the configured shutdown delay, then stops accepting,
  // lets in-flight requests finish (up to `grace`), and syncs the WAL. The head is not flushed:
  // the WAL holds it.
  Status Shutdown(std::chrono::milliseconds grace);

 private:
  explicit Server(const Config& config);

  // The metrics query door `door` records into (none when metrics are off).
  metrics::QueryMetrics QueryMetricsOf(metrics::QueryDoor door) const;
  metrics::IngestMetrics IngestMetricsOf(metrics::IngestDoor door) const;
  // What the metrics read at scrape time.
  metrics::StateSnapshot State() const;

  Config config_;
  std::unique_ptr<metrics::Metrics> metrics_;  // null when metrics.enabled is false
  std::unique_ptr<AccessPolicy> access_;
  std::optional<TlsMaterial> tls_;  // none: both doors in plain text
  std::unique_ptr<Tenants> tenants_;
  std::shared_ptr<objstore::DiskCacheStore> disk_cache_;  // only with bucket storage and a disk cache
  // What the gRPC writers and each gRPC query door ask for a request's tenant.
  std::unique_ptr<TenantDoor> grpc_write_door_, grpc_v2_door_, grpc_v1_door_;
  std::unique_ptr<OtlpTraceService> otlp_service_;
  std::unique_ptr<StorageV2TraceReader> trace_reader_;
  std::unique_ptr<StorageV2DependencyReader> dependency_reader_;
  std::unique_ptr<StorageV2Capabilities> capabilities_;
  std::unique_ptr<StorageV1SpanWriter> v1_writer_;
  std::unique_ptr<StorageV1StreamingSpanWriter> v1_streaming_writer_;
  std::unique_ptr<StorageV1SpanReader> v1_reader_;
  std::unique_ptr<StorageV1DependenciesReader> v1_dependencies_;
  std::unique_ptr<StorageV1Capabilities> v1_capabilities_;
  std::unique_ptr<PluginController> plugin_controller_;  // only in plugin mode
  std::unique_ptr<HealthMonitor> health_;                // destroyed before tenants_, whose store it probes
  int grpc_port_ = 0;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace tb::server
