#include "server/grpc_services.h"

#include <spdlog/spdlog.h>

#include "grpc_capped_messages.h"
#include "model/text.h"
#include "server/query_log.h"
#include "server/rpc_status.h"
#include "wire/otlp_codec.h"
#include "wire/otlp_proto.h"

namespace tb::server {
namespace {

namespace v2 = jaeger::storage::v2;
using opentelemetry::proto::trace::v1::TracesData;

// Chunks stay far below the 4 MiB default receive limit of Jaeger's client.
constexpr size_t kMaxChunkBytes = 1 << 20;
// Go's zero time.Time, which Jaeger sends for "not set": 0001-01-01T00:00:00Z.
constexpr int64_t kGoZeroTimeSeconds = -62135596800;

std::optional<uint64_t> FromTimestamp(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() <= kGoZeroTimeSeconds) return std::nullopt;
  if (ts.seconds() < 0) return 0;
  return static_cast<uint64_t>(ts.seconds()) * 1'000'000'000ull + static_cast<uint64_t>(std::max(0, ts.nanos()));
}

std::optional<uint64_t> FromDuration(const google::protobuf::Duration& d) {
  if (d.seconds() < 0 || d.nanos() < 0 || (d.seconds() == 0 && d.nanos() == 0)) return std::nullopt;
  return static_cast<uint64_t>(d.seconds()) * 1'000'000'000ull + static_cast<uint64_t>(d.nanos());
}

void SetTimestamp(uint64_t unix_nano, google::protobuf::Timestamp* ts) {
  ts->set_seconds(static_cast<int64_t>(unix_nano / 1'000'000'000ull));
  ts->set_nanos(static_cast<int32_t>(unix_nano % 1'000'000'000ull));
}

Result<model::TraceId> TraceIdFromBytes(const std::string& bytes) {
  model::TraceId id{};
  if (bytes.size() != id.size())
    return Status::InvalidArgument("trace_id must be 16 bytes, got " + std::to_string(bytes.size()));
  std::memcpy(id.data(), bytes.data(), id.size());
  return id;
}

// The storage v2 AnyValue has OTLP's field numbers, so it re-parses as an OTLP AnyValue.
Result<std::string> CanonicalQueryValue(const v2::AnyValue& value) {
  wire::otlp::AnyValue otlp;
  if (!otlp.ParseFromString(value.SerializeAsString()))
    return Status::InvalidArgument("attribute value does not decode");
  TB_ASSIGN_OR_RETURN(model::AnyValue v, wire::FromProto(otlp));
  return model::CanonicalString(v);
}

Result<query::TraceQuery> ToTraceQuery(const v2::TraceQueryParameters& p) {
  if (p.has_filter() && !p.filter().op().empty())
    return Status::InvalidArgument(
        "structured filters are not supported; use the service, operation and attribute fields");
  query::TraceQuery q;
  q.service_name = p.service_name();
  q.operation_name = p.operation_name();
  for (const auto& kv : p.attributes()) {
    TB_ASSIGN_OR_RETURN(std::string value, CanonicalQueryValue(kv.value()));
    q.attributes.push_back({kv.key(), std::move(value)});
  }
  q.start_time_min_unix_nano = FromTimestamp(p.start_time_min());
  q.start_time_max_unix_nano = FromTimestamp(p.start_time_max());
  q.duration_min_nanos = FromDuration(p.duration_min());
  q.duration_max_nanos = FromDuration(p.duration_max());
  q.search_depth = p.search_depth();
  return q;
}

// Streams each trace as one or more chunks; stops when the client has gone away.
query::TraceSink ChunkWriter(grpc::ServerWriter<TracesData>* writer) {
  return [writer](const model::TraceId&, model::Traces&& trace) -> Status {
    for (const auto& chunk : ChunkTrace(trace, kMaxChunkBytes))
      if (!writer->Write(chunk)) return Status(StatusCode::kCancelled, "client stopped reading");
    return Status::Ok();
  };
}

// Answers FindTraceSummaries: every matching trace's summary, in one message.
grpc::Status WriteTraceSummaries(const query::QueryEngine& engine, const v2::TraceQueryParameters& parameters,
                                 grpc::ServerWriter<v2::FindTraceSummariesResponse>* writer) {
  auto q = ToTraceQuery(parameters);
  if (!q.ok()) return ToGrpc(q.status());
  v2::FindTraceSummariesResponse response;
  auto status = FindTracesLogged(engine, "grpc_v2", *q, [&](const model::TraceId& id, model::Traces&& trace) -> Status {
    const query::TraceSummary s = query::Summarize(id, trace);
    auto* o = response.add_summaries();
    o->set_trace_id(std::string(reinterpret_cast<const char*>(id.data()), id.size()));
    o->set_root_service_name(s.root_service_name);
    o->set_root_operation_name(s.root_operation_name);
    o->set_min_start_time_unix_nano(s.min_start_unix_nano);
    o->set_max_end_time_unix_nano(s.max_end_unix_nano);
    o->set_span_count(s.span_count);
    o->set_error_span_count(s.error_span_count);
    o->set_orphan_span_count(s.orphan_span_count);
    for (const auto& svc : s.services) {
      auto* os = o->add_services();
      os->set_name(svc.name);
      os->set_span_count(svc.span_count);
      os->set_error_span_count(svc.error_span_count);
    }
    return Status::Ok();
  });
  if (!status.ok()) return ToGrpc(status);
  if (response.summaries_size() > 0 && !writer->Write(response)) return grpc::Status::CANCELLED;
  return grpc::Status::OK;
}

}  // namespace

void AddWarningsTrailer(grpc::ServerContext* context, const query::QueryWarnings& warnings) {
  if (!warnings.empty()) context->AddTrailingMetadata(kWarningsKey, WarningsJson(warnings.List()));
}

HeaderLookup MetadataOf(const grpc::ServerContext& context) {
  return [&context](std::string_view name) {
    std::vector<std::string> values;
    for (auto [it, end] = context.client_metadata().equal_range(grpc::string_ref(name.data(), name.size())); it != end;
         ++it)
      values.emplace_back(it->second.data(), it->second.size());
    return values;
  };
}

std::chrono::steady_clock::time_point AdmissionDeadline(const ingest::Ingester& ingester,
                                                        const grpc::ServerContext& context) {
  using std::chrono::steady_clock;
  using std::chrono::system_clock;
  // Time left to answer after the wait: a refusal sent as the client gives up helps nobody.
  constexpr auto kAnswerMargin = std::chrono::milliseconds(100);
  const system_clock::time_point client = context.deadline();
  const system_clock::time_point now = system_clock::now();
  // No deadline (gRPC reports a far future), or one far beyond any admission wait.
  if (client - now > std::chrono::hours(1)) return ingester.AdmissionDeadline();
  return ingester.AdmissionDeadline(steady_clock::now() + (client - now) - kAnswerMargin);
}

grpc::Status ToGrpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const google::rpc::Status rpc = ToRpcStatus(status);
  // gRPC sends non-empty details as the grpc-status-details-bin trailer (a serialized google.rpc.Status).
  if (rpc.details_size() == 0) return grpc::Status(code, status.message());
  return grpc::Status(code, status.message(), rpc.SerializeAsString());
}

std::vector<TracesData> ChunkTrace(const model::Traces& trace, size_t max_bytes) {
  std::vector<TracesData> chunks;
  size_t chunk_bytes = 0;
  size_t chunk_spans = 0;
  for (const auto& rs : trace.resource_spans) {
    for (const auto& ss : rs.scope_spans) {
      opentelemetry::proto::trace::v1::ScopeSpans* scope_out = nullptr;  // in chunks.back()
      for (const auto& span : ss.spans) {
        opentelemetry::proto::trace::v1::Span pb;
        wire::ToProto(span, &pb);
        const size_t span_bytes = pb.ByteSizeLong() + 8;  // + tag and length
        if (chunks.empty() || (chunk_spans > 0 && chunk_bytes + span_bytes > max_bytes)) {
          chunks.emplace_back();
          chunk_bytes = 0;
          chunk_spans = 0;
          scope_out = nullptr;
        }
        if (scope_out == nullptr) {
          // Each chunk repeats the resource and scope of the spans it carries.
          model::Traces header;
          header.resource_spans.push_back({rs.resource, {{ss.scope, {}}}});
          wire::ToProto(header, chunks.back().mutable_resource_spans());
          auto* added = chunks.back().mutable_resource_spans(chunks.back().resource_spans_size() - 1);
          chunk_bytes += added->ByteSizeLong() + 16;
          scope_out = added->mutable_scope_spans(0);
        }
        *scope_out->add_spans() = std::move(pb);
        chunk_bytes += span_bytes;
        ++chunk_spans;
      }
    }
  }
  return chunks;
}

OtlpTraceService::OtlpTraceService(const TenantDoor* door, metrics::IngestMetrics metrics)
    : door_(door), metrics_(metrics) {
  // The registration the generated TraceService::Service makes, with raw byte messages.
  AddMethod(new grpc::internal::RpcServiceMethod(
      "/opentelemetry.proto.collector.trace.v1.TraceService/Export", grpc::internal::RpcMethod::NORMAL_RPC,
      new grpc::internal::RpcMethodHandler<OtlpTraceService, grpc::ByteBuffer, grpc::ByteBuffer>(
          [](OtlpTraceService* service, grpc::ServerContext* context, const grpc::ByteBuffer* request,
             grpc::ByteBuffer* response) { return service->Export(context, request, response); },
          this)));
}

grpc::Status OtlpTraceService::Export(grpc::ServerContext* context, const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) {
  auto ingester = door_->Writer(MetadataOf(*context));
  if (!ingester.ok()) return ToGrpc(ingester.status());
  const auto wait_until = AdmissionDeadline(**ingester, *context);
  if (Status room = (*ingester)->CheckCapacity(wait_until); !room.ok()) {
    metrics_.Failed(room);
    return ToGrpc(room);
  }
  // The bytes as sent, or inflated under limits.max_request_size when the client compressed them.
  std::string bytes;
  if (grpc::Status read = grpc_messages::ReadMessageBytes(*request, &bytes); !read.ok()) return read;
  auto batch = wire::DecodeOtlpProtobuf(bytes);
  if (!batch.ok()) {
    metrics_.Failed(batch.status());
    return ToGrpc(batch.status());
  }
  auto result = (*ingester)->Ingest(std::move(*batch), bytes, wait_until);
  if (!result.ok()) {
    metrics_.Failed(result.status());
    return ToGrpc(result.status());
  }
  metrics_.Accepted(result->accepted_spans, result->rejected_spans, bytes.size());
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse answer;
  if (result->rejected_spans > 0 || !result->message.empty()) {
    answer.mutable_partial_success()->set_rejected_spans(static_cast<int64_t>(result->rejected_spans));
    answer.mutable_partial_success()->set_error_message(result->message);
  }
  const std::string encoded = answer.SerializeAsString();
  grpc::Slice slice(encoded);
  *response = grpc::ByteBuffer(&slice, 1);
  return grpc::Status::OK;
}

grpc::Status StorageV2TraceReader::GetTraces(grpc::ServerContext* context, const v2::GetTracesRequest* request,
                                             TracesWriter* writer) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    std::vector<model::TraceId> ids;
    for (const auto& q : request->query()) {
      auto id = TraceIdFromBytes(q.trace_id());
      if (!id.ok()) return ToGrpc(id.status());
      ids.push_back(*id);
    }
    return ToGrpc(GetTracesLogged(engine, "grpc_v2", ids, ChunkWriter(writer)));
  });
}

grpc::Status StorageV2TraceReader::GetServices(grpc::ServerContext* context, const v2::GetServicesRequest*,
                                               v2::GetServicesResponse* response) {
  return WithReader(*door_, context,
                    [&](const query::QueryEngine& engine) { return AnswerServices(engine, response); });
}

grpc::Status StorageV2TraceReader::GetOperations(grpc::ServerContext* context, const v2::GetOperationsRequest* request,
                                                 v2::GetOperationsResponse* response) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    return AnswerOperations(engine, request->service(), request->span_kind(), response);
  });
}

grpc::Status StorageV2TraceReader::FindTraces(grpc::ServerContext* context, const v2::FindTracesRequest* request,
                                              TracesWriter* writer) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    auto q = ToTraceQuery(request->query());
    if (!q.ok()) return ToGrpc(q.status());
    return ToGrpc(FindTracesLogged(engine, "grpc_v2", *q, ChunkWriter(writer)));
  });
}

grpc::Status StorageV2TraceReader::FindTraceIDs(grpc::ServerContext* context, const v2::FindTraceIDsRequest* request,
                                                v2::FindTraceIDsResponse* response) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    auto q = ToTraceQuery(request->query());
    if (!q.ok()) return ToGrpc(q.status());
    auto hits = FindTraceIdsLogged(engine, "grpc_v2", *q);
    if (!hits.ok()) return ToGrpc(hits.status());
    for (const auto& h : *hits) {
      auto* f = response->add_trace_ids();
      f->set_trace_id(std::string(reinterpret_cast<const char*>(h.trace_id.data()), h.trace_id.size()));
      SetTimestamp(h.min_start_unix_nano, f->mutable_start());
      SetTimestamp(h.max_end_unix_nano, f->mutable_end());
    }
    return grpc::Status::OK;
  });
}

grpc::Status StorageV2TraceReader::FindTraceSummaries(grpc::ServerContext* context,
                                                      const v2::FindTraceSummariesRequest* request,
                                                      grpc::ServerWriter<v2::FindTraceSummariesResponse>* writer) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    return WriteTraceSummaries(engine, request->query(), writer);
  });
}

grpc::Status StorageV2DependencyReader::GetDependencies(grpc::ServerContext* context,
                                                        const v2::GetDependenciesRequest* request,
                                                        v2::GetDependenciesResponse* response) {
  return WithReader(*door_, context, [&](const query::QueryEngine& engine) {
    return AnswerDependencies(engine, FromTimestamp(request->start_time()), FromTimestamp(request->end_time()),
                              response);
  });
}

grpc::Status StorageV2Capabilities::GetCapabilities(grpc::ServerContext*, const v2::GetCapabilitiesRequest*,
                                                    v2::GetCapabilitiesResponse* response) {
  response->mutable_search()->set_without_service_name(true);
  response->mutable_search()->set_same_span_conjunction(true);
  return grpc::Status::OK;
}

}  // namespace tb::server
