#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <filesystem>

namespace tb::server {

Server::Server(const Config& config) : config_(config) {}

Server::~Server() {
  if (grpc_ || http_) (void)Shutdown(std::chrono::milliseconds(0));
}

Result<std::unique_ptr<Server>> Server::Open(const Config& config) {
  std::unique_ptr<Server> s(new Server(config));
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return Status::Internal("cannot create data dir " + config.data_dir + ": " + ec.message());

  s->head_ = std::make_shared<head::Head>(head::Options{config.head_memory_budget_bytes});
  wal::Options wal_options;
  wal_options.dir = (std::filesystem::path(config.data_dir) / "wal").string();
  wal_options.segment_target_bytes = config.wal_segment_bytes;
  wal_options.sync = config.wal_sync;
  wal::ReplayStats replay;
  const auto started = std::chrono::steady_clock::now();
  TB_ASSIGN_OR_RETURN(s->wal_, ingest::Ingester::RecoverWal(wal_options, s->head_.get(), &replay));
  const auto head = s->head_->Stats();
  spdlog::info(
      "recovered {} WAL records ({} bytes, {} segments, {} corrupt tails skipped) into {} spans in {} ms",
      replay.records, replay.bytes, replay.segments, replay.corrupt_tails, head.spans,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());

  s->ingester_ = std::make_unique<ingest::Ingester>(config.limits, s->head_.get(), s->wal_.get());
  s->engine_ = std::make_unique<query::QueryEngine>(std::vector<std::shared_ptr<const query::TraceSource>>{s->head_});
  return s;
}

Status Server::Start() {
  otlp_service_ = std::make_unique<OtlpTraceService>(ingester_.get());
  trace_reader_ = std::make_unique<StorageV2TraceReader>(engine_.get());
  dependency_reader_ = std::make_unique<StorageV2DependencyReader>(engine_.get());
  capabilities_ = std::make_unique<StorageV2Capabilities>();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(config_.grpc_listen, grpc::InsecureServerCredentials(), &bound_port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(config_.limits.max_request_bytes, INT32_MAX)));
  builder.RegisterService(otlp_service_.get());
  builder.RegisterService(trace_reader_.get());
  builder.RegisterService(dependency_reader_.get());
  builder.RegisterService(capabilities_.get());
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || bound_port == 0) return Status::Unavailable("cannot listen for gRPC on " + config_.grpc_listen);
  auto* health = grpc_->GetHealthCheckService();
  for (const char* service : {"opentelemetry.proto.collector.trace.v1.TraceService", "jaeger.storage.v2.TraceReader",
                              "jaeger.storage.v2.DependencyReader", "jaeger.storage.v2.Capabilities"})
    health->SetServingStatus(service, true);

  http_ = std::make_unique<HttpServer>(config_, ingester_.get());
  TB_RETURN_IF_ERROR(http_->Start(config_.http_listen));
  spdlog::info("serving gRPC on {} and HTTP on {}", config_.grpc_listen, config_.http_listen);
  return Status::Ok();
}

Status Server::Shutdown(std::chrono::milliseconds grace) {
  if (http_) http_->Stop();
  if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + grace);
  http_.reset();
  grpc_.reset();
  return wal_ ? wal_->Close() : Status::Ok();
}

}  // namespace tb::server
