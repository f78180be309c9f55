#include "server/grpc_v1_services.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <set>

#include "server/grpc_services.h"
#include "server/query_log.h"
#include "wire/jaeger_proto.h"

namespace tb::server {
namespace {

namespace v1 = jaeger::storage::v1;

// Jaeger's reference server sends 1000 spans per chunk; the byte bound keeps chunks far below the
// client's 4 MiB default receive limit when spans are large.
constexpr size_t kMaxChunkSpans = 1000;
constexpr size_t kMaxChunkBytes = 1 << 20;

Status IngestSpans(ingest::Ingester* ingester, std::vector<model::jaeger::Span>&& spans,
                   std::chrono::steady_clock::time_point wait_until) {
  TB_RETURN_IF_ERROR(ingester->CheckCapacity(wait_until));
  TB_ASSIGN_OR_RETURN(ingest::IngestResult result, ingester->Ingest(model::jaeger::FromJaeger(spans), {}, wait_until));
  // v1 has no partial success: a span refused by a per-trace limit fails the call.
  if (result.rejected_spans > 0) return Status::FailedPrecondition(result.message);
  if (!result.message.empty()) spdlog::debug("v1 write: {}", result.message);
  return Status::Ok();
}

Status IngestRequest(ingest::Ingester* ingester, const v1::WriteSpanRequest& request,
                     std::chrono::steady_clock::time_point wait_until) {
  if (!request.has_span()) return Status::InvalidArgument("span is required");
  TB_ASSIGN_OR_RETURN(model::jaeger::Span span, wire::FromProto(request.span()));
  std::vector<model::jaeger::Span> spans;
  spans.push_back(std::move(span));
  return IngestSpans(ingester, std::move(spans), wait_until);
}

// IngestRequest into the caller's tenant, recorded as one request of the v1 door: one span, or
// refused whole.
Status IngestCounted(const TenantDoor& door, const grpc::ServerContext& context, const metrics::IngestMetrics& metrics,
                     const v1::WriteSpanRequest& request) {
  TB_ASSIGN_OR_RETURN(ingest::Ingester * ingester, door.Writer(MetadataOf(context)));
  Status status = IngestRequest(ingester, request, AdmissionDeadline(*ingester, context));
  if (status.ok()) {
    metrics.Accepted(1, 0, request.ByteSizeLong());
  } else {
    metrics.Failed(status);
  }
  return status;
}

std::optional<uint64_t> QueryTime(bool present, const google::protobuf::Timestamp& ts) {
  return present ? wire::OptionalUnixNanos(ts) : std::nullopt;
}

Result<query::TraceQuery> ToTraceQuery(const v1::TraceQueryParameters& p) {
  query::TraceQuery q;
  q.service_name = p.service_name();
  q.operation_name = p.operation_name();
  // v1 tag values are already strings; the engine compares canonical strings. Tags the Jaeger model
  // derives (otel.status_code, ...) search the fields they come from.
  for (const auto& [key, value] : p.tags()) q.attributes.push_back({std::string(model::jaeger::SearchKey(key)), value});
  q.start_time_min_unix_nano = QueryTime(p.has_start_time_min(), p.start_time_min());
  q.start_time_max_unix_nano = QueryTime(p.has_start_time_max(), p.start_time_max());
  q.duration_min_nanos = wire::OptionalNanos(p.duration_min());
  q.duration_max_nanos = wire::OptionalNanos(p.duration_max());
  if (q.duration_min_nanos && q.duration_max_nanos && *q.duration_min_nanos > *q.duration_max_nanos)
    return Status::InvalidArgument("duration_min is greater than duration_max");
  q.search_depth = p.num_traces();
  return q;
}

// Streams one trace as Jaeger spans.
query::TraceSink SpanChunkWriter(StorageV1SpanReader::ChunkWriter* writer, bool* wrote) {
  return [writer, wrote](const model::TraceId&, model::Traces&& trace) -> Status {
    for (const auto& chunk : ChunkSpans(model::jaeger::ToJaeger(trace), kMaxChunkSpans, kMaxChunkBytes)) {
      if (!writer->Write(chunk)) return Status(StatusCode::kCancelled, "client stopped reading");
      *wrote = true;
    }
    return Status::Ok();
  };
}

}  // namespace

std::vector<v1::SpansResponseChunk> ChunkSpans(const std::vector<model::jaeger::Span>& spans, size_t max_spans,
                                               size_t max_bytes) {
  std::vector<v1::SpansResponseChunk> chunks;
  size_t chunk_bytes = 0;
  for (const auto& span : spans) {
    jaeger::api_v2::Span pb;
    wire::ToProto(span, &pb);
    const size_t span_bytes = pb.ByteSizeLong() + 8;  // + tag and length
    if (chunks.empty() || chunks.back().spans_size() >= static_cast<int>(max_spans) ||
        (chunks.back().spans_size() > 0 && chunk_bytes + span_bytes > max_bytes)) {
      chunks.emplace_back();
      chunk_bytes = 0;
    }
    *chunks.back().add_spans() = std::move(pb);
    chunk_bytes += span_bytes;
  }
  return chunks;
}

grpc::Status StorageV1SpanWriter::WriteSpan(grpc::ServerContext* context, const v1::WriteSpanRequest* request,
                                            v1::WriteSpanResponse*) {
  return ToGrpc(IngestCounted(*door_, *context, metrics_, *request));
}

grpc::Status StorageV1SpanWriter::Close(grpc::ServerContext*, const v1::CloseWriterRequest*, v1::CloseWriterResponse*) {
  return grpc::Status::OK;
}

grpc::Status StorageV1StreamingSpanWriter::WriteSpanStream(grpc::ServerContext* context,
                                                           grpc::ServerReader<v1::WriteSpanRequest>* reader,
                                                           v1::WriteSpanResponse*) {
  v1::WriteSpanRequest request;
  while (reader->Read(&request)) {
    if (Status s = IngestCounted(*door_, *context, metrics_, request); !s.ok()) return ToGrpc(s);
  }
  return grpc::Status::OK;
}

grpc::Status StorageV1SpanReader::GetTrace(grpc::ServerContext* context, const v1::GetTraceRequest* request,
                                           ChunkWriter* writer) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    model::TraceId id{};
    if (request->trace_id().size() != id.size())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "trace_id must be 16 bytes, got " + std::to_string(request->trace_id().size()));
    std::memcpy(id.data(), request->trace_id().data(), id.size());
    bool wrote = false;
    if (Status s = GetTracesLogged(engine, "grpc_v1", {id}, SpanChunkWriter(writer, &wrote)); !s.ok()) return ToGrpc(s);
    if (!wrote) return grpc::Status(grpc::StatusCode::NOT_FOUND, "trace not found");
    return grpc::Status::OK;
  });
}

grpc::Status StorageV1SpanReader::GetServices(grpc::ServerContext* context, const v1::GetServicesRequest*,
                                              v1::GetServicesResponse* response) {
  return WithReader(*door_, context,
                    [&](const query::QueryEngine& engine) { return AnswerServices(engine, response); });
}

grpc::Status StorageV1SpanReader::GetOperations(grpc::ServerContext* context, const v1::GetOperationsRequest* request,
                                                v1::GetOperationsResponse* response) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    grpc::Status status = AnswerOperations(engine, request->service(), request->span_kind(), response);
    if (!status.ok()) return status;
    // The deprecated field, for clients that read only names: each name once, sorted.
    std::set<std::string> names;
    for (const auto& op : response->operations()) names.insert(op.name());
    for (const auto& name : names) response->add_operationnames(name);
    return grpc::Status::OK;
  });
}

grpc::Status StorageV1SpanReader::FindTraces(grpc::ServerContext* context, const v1::FindTracesRequest* request,
                                             ChunkWriter* writer) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    auto q = ToTraceQuery(request->query());
    if (!q.ok()) return ToGrpc(q.status());
    bool wrote = false;
    return ToGrpc(FindTracesLogged(engine, "grpc_v1", *q, SpanChunkWriter(writer, &wrote)));
  });
}

grpc::Status StorageV1SpanReader::FindTraceIDs(grpc::ServerContext* context, const v1::FindTraceIDsRequest* request,
                                               v1::FindTraceIDsResponse* response) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    auto q = ToTraceQuery(request->query());
    if (!q.ok()) return ToGrpc(q.status());
    auto hits = FindTraceIdsLogged(engine, "grpc_v1", *q);
    if (!hits.ok()) return ToGrpc(hits.status());
    for (const auto& h : *hits)
      response->add_trace_ids(std::string(reinterpret_cast<const char*>(h.trace_id.data()), h.trace_id.size()));
    return grpc::Status::OK;
  });
}

grpc::Status StorageV1DependenciesReader::GetDependencies(grpc::ServerContext* context,
                                                          const v1::GetDependenciesRequest* request,
                                                          v1::GetDependenciesResponse* response) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    return AnswerDependencies(engine, QueryTime(request->has_start_time(), request->start_time()),
                              QueryTime(request->has_end_time(), request->end_time()), response);
  });
}

grpc::Status StorageV1Capabilities::Capabilities(grpc::ServerContext*, const v1::CapabilitiesRequest*,
                                                 v1::CapabilitiesResponse* response) {
  // Not the streaming writer: Jaeger's client never half-closes its pooled streams, and the context
  // each stream was opened with ends with the batch that opened it; gRPC then cancels the call and
  // drops the messages this server had not read yet, so Jaeger would lose spans it believes sent.
  // Unary WriteSpan acknowledges every span once it is durable.
  response->set_streamingspanwriter(false);
  return grpc::Status::OK;
}

}  // namespace tb::server
