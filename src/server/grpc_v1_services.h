// gRPC door for Jaeger Remote Storage API v1 (jaeger.storage.v1): what Jaeger 1.x and 2.0-2.5 call
// with `grpc` storage, and what a ≤1.57 storage plugin serves. Thin: spans are converted with
// wire/jaeger_proto and model/jaeger, writes go through the Ingester (acknowledged once durable in
// the WAL, the same limits and back-pressure as OTLP) and reads through the QueryEngine, both of
// the request's tenant (TenantDoor).
#pragma once

#include <grpcpp/grpcpp.h>

#include "ingest/ingester.h"
#include "jaeger/storage/v1/storage.grpc.pb.h"
#include "metrics/handles.h"
#include "model/jaeger.h"
#include "query/query_engine.h"
#include "server/tenants.h"

namespace tb::server {

class StorageV1SpanWriter final : public jaeger::storage::v1::SpanWriterPlugin::Service {
 public:
  explicit StorageV1SpanWriter(const TenantDoor* door, metrics::IngestMetrics metrics = {})
      : door_(door), metrics_(metrics) {}
  // Returns once the span is durable.
  grpc::Status WriteSpan(grpc::ServerContext*, const jaeger::storage::v1::WriteSpanRequest*,
                         jaeger::storage::v1::WriteSpanResponse*) override;
  // Every write is durable when acknowledged, so there is nothing left to close.
  grpc::Status Close(grpc::ServerContext*, const jaeger::storage::v1::CloseWriterRequest*,
                     jaeger::storage::v1::CloseWriterResponse*) override;

 private:
  const TenantDoor* door_;
  const metrics::IngestMetrics metrics_;
};

class StorageV1StreamingSpanWriter final : public jaeger::storage::v1::StreamingSpanWriterPlugin::Service {
 public:
  explicit StorageV1StreamingSpanWriter(const TenantDoor* door, metrics::IngestMetrics metrics = {})
      : door_(door), metrics_(metrics) {}
  // Each span is durable before the next message is read; the first failure ends the stream with
  // its status (the protocol has no per-span acknowledgement).
  grpc::Status WriteSpanStream(grpc::ServerContext*, grpc::ServerReader<jaeger::storage::v1::WriteSpanRequest>*,
                               jaeger::storage::v1::WriteSpanResponse*) override;

 private:
  const TenantDoor* door_;
  const metrics::IngestMetrics metrics_;
};

class StorageV1SpanReader final : public jaeger::storage::v1::SpanReaderPlugin::Service {
 public:
  explicit StorageV1SpanReader(const TenantDoor* door) : door_(door) {}
  using ChunkWriter = grpc::ServerWriter<jaeger::storage::v1::SpansResponseChunk>;

  // NOT_FOUND "trace not found" for an unknown trace, as Jaeger's v1 client expects.
  grpc::Status GetTrace(grpc::ServerContext*, const jaeger::storage::v1::GetTraceRequest*, ChunkWriter*) override;
  grpc::Status GetServices(grpc::ServerContext*, const jaeger::storage::v1::GetServicesRequest*,
                           jaeger::storage::v1::GetServicesResponse*) override;
  grpc::Status GetOperations(grpc::ServerContext*, const jaeger::storage::v1::GetOperationsRequest*,
                             jaeger::storage::v1::GetOperationsResponse*) override;
  // Whole traces, newest first; the spans of one trace are contiguous (one or more chunks each).
  grpc::Status FindTraces(grpc::ServerContext*, const jaeger::storage::v1::FindTracesRequest*, ChunkWriter*) override;
  grpc::Status FindTraceIDs(grpc::ServerContext*, const jaeger::storage::v1::FindTraceIDsRequest*,
                            jaeger::storage::v1::FindTraceIDsResponse*) override;

 private:
  const TenantDoor* door_;
};

class StorageV1DependenciesReader final : public jaeger::storage::v1::DependenciesReaderPlugin::Service {
 public:
  explicit StorageV1DependenciesReader(const TenantDoor* door) : door_(door) {}
  grpc::Status GetDependencies(grpc::ServerContext*, const jaeger::storage::v1::GetDependenciesRequest*,
                               jaeger::storage::v1::GetDependenciesResponse*) override;

 private:
  const TenantDoor* door_;
};

class StorageV1Capabilities final : public jaeger::storage::v1::PluginCapabilities::Service {
 public:
  // No streaming writer (see the .cc: Jaeger would lose spans), no deprecated archive services.
  grpc::Status Capabilities(grpc::ServerContext*, const jaeger::storage::v1::CapabilitiesRequest*,
                            jaeger::storage::v1::CapabilitiesResponse*) override;
};

// Packs Jaeger spans (already in trace order) into chunks of at most `max_spans` spans and about
// `max_bytes` serialized bytes (a single larger span still goes alone).
std::vector<jaeger::storage::v1::SpansResponseChunk> ChunkSpans(const std::vector<model::jaeger::Span>& spans,
                                                                size_t max_spans, size_t max_bytes);

}  // namespace tb::server
