// gRPC doors: OTLP TraceService (write) and Jaeger Remote Storage API v2 (read). Thin: they
// translate messages to the core's types and call the Ingester or the QueryEngine of the request's
// tenant, which their TenantDoor hands out once the request's metadata passed the access check.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <optional>
#include <string>

#include "ingest/ingester.h"
#include "jaeger/storage/v2/capabilities.grpc.pb.h"
#include "jaeger/storage/v2/dependency_storage.grpc.pb.h"
#include "jaeger/storage/v2/trace_storage.grpc.pb.h"
#include "metrics/handles.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "query/query_engine.h"
#include "server/tenants.h"

namespace tb::server {

// Maps a core Status to the gRPC status with the same code and message; a RESOURCE_EXHAUSTED also
// carries google.rpc.RetryInfo in its details (see ToRpcStatus), so that OTLP exporters and other
// writers retry it instead of dropping the data.
grpc::Status ToGrpc(const Status& status);

// The request's metadata, for the access check.
HeaderLookup MetadataOf(const grpc::ServerContext& context);

// Until when a write may wait for room in a full head (ingest::Admission): the ingester's
// admission wait, cut short so that the answer still reaches a client with a deadline in time.
std::chrono::steady_clock::time_point AdmissionDeadline(const ingest::Ingester& ingester,
                                                        const grpc::ServerContext& context);

// Adds the `tracebucket-warnings` trailing metadata (server/query_log.h) when `warnings` holds any.
void AddWarningsTrailer(grpc::ServerContext* context, const query::QueryWarnings& warnings);

// Answers with `serve(engine)`, `engine` being the query engine of the request's tenant, or with
// the access check's refusal.
template <typename Serve>
grpc::Status WithReader(const TenantDoor& door, grpc::ServerContext* context, Serve serve) {
  auto engine = door.Reader(MetadataOf(*context));
  if (!engine.ok()) return ToGrpc(engine.status());
  // A call its client cancelled, or past the client's own deadline, stops at its next step. The
  // sources it could not read are named in a trailer, the one place a stream that already sent
  // answers can still report something.
  query::QueryWarnings warnings;
  grpc::Status status =
      serve(engine->WithCancellation([context] { return context->IsCancelled(); }).WithWarnings(&warnings));
  AddWarningsTrailer(context, warnings);
  return status;
}

// Answers GetServices of either storage API version (same field names in v1 and v2).
template <typename Response>
grpc::Status AnswerServices(const query::QueryEngine& engine, Response* response) {
  auto services = engine.Services();
  if (!services.ok()) return ToGrpc(services.status());
  for (auto& s : *services) response->add_services(std::move(s));
  return grpc::Status::OK;
}

// Answers GetOperations of either storage API version: the (name, span kind) pairs of `service`,
// all kinds when `span_kind` is empty.
template <typename Response>
grpc::Status AnswerOperations(const query::QueryEngine& engine, const std::string& service,
                              const std::string& span_kind, Response* response) {
  auto ops = engine.Operations(service, span_kind);
  if (!ops.ok()) return ToGrpc(ops.status());
  for (const auto& op : *ops) {
    auto* o = response->add_operations();
    o->set_name(op.name);
    o->set_span_kind(op.span_kind);
  }
  return grpc::Status::OK;
}

// Answers GetDependencies of either storage API version (v1 and v2 responses share their field
// names): the links of spans that started in [start, end]; an absent end means no upper bound.
template <typename Response>
grpc::Status AnswerDependencies(const query::QueryEngine& engine, std::optional<uint64_t> start,
                                std::optional<uint64_t> end, Response* response) {
  if (!start) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "start_time is required");
  const uint64_t end_or_max = end.value_or(UINT64_MAX);
  if (end_or_max < *start) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "end_time is before start_time");
  auto deps = engine.Dependencies(*start, end_or_max);
  if (!deps.ok()) return ToGrpc(deps.status());
  for (const auto& [edge, count] : *deps) {
    auto* d = response->add_dependencies();
    d->set_parent(edge.first);
    d->set_child(edge.second);
    d->set_call_count(count);
  }
  return grpc::Status::OK;
}

// OTLP TraceService/Export, registered over the request's raw bytes (grpc::ByteBuffer) rather than
// a parsed message: a full head is refused before anything is parsed, the bytes are decoded through
// a protobuf Arena, and they become the WAL record as they are when no limit changes the batch.
class OtlpTraceService final : public grpc::Service {
 public:
  explicit OtlpTraceService(const TenantDoor* door, metrics::IngestMetrics metrics = {});
  grpc::Status Export(grpc::ServerContext* context, const grpc::ByteBuffer* request, grpc::ByteBuffer* response);

 private:
  const TenantDoor* door_;
  const metrics::IngestMetrics metrics_;
};

class StorageV2TraceReader final : public jaeger::storage::v2::TraceReader::Service {
 public:
  explicit StorageV2TraceReader(const TenantDoor* door) : door_(door) {}
  using TracesWriter = grpc::ServerWriter<opentelemetry::proto::trace::v1::TracesData>;

  grpc::Status GetTraces(grpc::ServerContext*, const jaeger::storage::v2::GetTracesRequest*, TracesWriter*) override;
  grpc::Status GetServices(grpc::ServerContext*, const jaeger::storage::v2::GetServicesRequest*,
                           jaeger::storage::v2::GetServicesResponse*) override;
  grpc::Status GetOperations(grpc::ServerContext*, const jaeger::storage::v2::GetOperationsRequest*,
                             jaeger::storage::v2::GetOperationsResponse*) override;
  grpc::Status FindTraces(grpc::ServerContext*, const jaeger::storage::v2::FindTracesRequest*, TracesWriter*) override;
  grpc::Status FindTraceIDs(grpc::ServerContext*, const jaeger::storage::v2::FindTraceIDsRequest*,
                            jaeger::storage::v2::FindTraceIDsResponse*) override;
  grpc::Status FindTraceSummaries(grpc::ServerContext*, const jaeger::storage::v2::FindTraceSummariesRequest*,
                                  grpc::ServerWriter<jaeger::storage::v2::FindTraceSummariesResponse>*) override;

 private:
  const TenantDoor* door_;
};

class StorageV2DependencyReader final : public jaeger::storage::v2::DependencyReader::Service {
 public:
  explicit StorageV2DependencyReader(const TenantDoor* door) : door_(door) {}
  grpc::Status GetDependencies(grpc::ServerContext*, const jaeger::storage::v2::GetDependenciesRequest*,
                               jaeger::storage::v2::GetDependenciesResponse*) override;

 private:
  const TenantDoor* door_;
};

class StorageV2Capabilities final : public jaeger::storage::v2::Capabilities::Service {
 public:
  grpc::Status GetCapabilities(grpc::ServerContext*, const jaeger::storage::v2::GetCapabilitiesRequest*,
                               jaeger::storage::v2::GetCapabilitiesResponse*) override;
};

// Splits one trace into TracesData messages of at most `max_bytes` serialized bytes each (a
// single larger span still goes alone), so no message reaches a client's 4 MiB receive limit.
std::vector<opentelemetry::proto::trace::v1::TracesData> ChunkTrace(const model::Traces& trace, size_t max_bytes);

}  // namespace tb::server
