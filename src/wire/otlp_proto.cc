#include "wire/otlp_proto.h"

#include <algorithm>
#include <cstring>

#include "model/text.h"
#include "wire/otlp_codec.h"

namespace tb::wire {
namespace {

namespace pb = opentelemetry::proto;
constexpr int kMaxValueDepth = 64;

template <size_t N>
bool CopyId(const std::string& bytes, std::array<uint8_t, N>* id) {
  if (bytes.size() != N) return false;
  std::memcpy(id->data(), bytes.data(), N);
  return *id != std::array<uint8_t, N>{};
}

template <size_t N>
std::string IdBytes(const std::array<uint8_t, N>& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), N);
}

class Converter {
 public:
  Status Value(const pb::common::v1::AnyValue& in, model::AnyValue* out, int depth) {
    if (depth > kMaxValueDepth) return Status::InvalidArgument("attribute value nested deeper than 64 levels");
    switch (in.value_case()) {
      case pb::common::v1::AnyValue::kStringValue: *out = model::AnyValue::String(in.string_value()); break;
      case pb::common::v1::AnyValue::kBoolValue: *out = model::AnyValue::Bool(in.bool_value()); break;
      case pb::common::v1::AnyValue::kIntValue: *out = model::AnyValue::Int(in.int_value()); break;
      case pb::common::v1::AnyValue::kDoubleValue: *out = model::AnyValue::Double(in.double_value()); break;
      case pb::common::v1::AnyValue::kBytesValue: *out = model::AnyValue::FromBytes(in.bytes_value()); break;
      case pb::common::v1::AnyValue::kArrayValue: {
        model::ArrayValue values(static_cast<size_t>(in.array_value().values_size()));
        for (int i = 0; i < in.array_value().values_size(); ++i)
          TB_RETURN_IF_ERROR(Value(in.array_value().values(i), &values[static_cast<size_t>(i)], depth + 1));
        *out = model::AnyValue::Array(std::move(values));
        break;
      }
      case pb::common::v1::AnyValue::kKvlistValue: {
        model::KeyValueList values;
        TB_RETURN_IF_ERROR(Attributes(in.kvlist_value().values(), &values, depth + 1));
        *out = model::AnyValue::KvList(std::move(values));
        break;
      }
      case pb::common::v1::AnyValue::VALUE_NOT_SET: *out = model::AnyValue(); break;
    }
    return Status::Ok();
  }

  Status Attributes(const google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>& in, model::Attributes* out,
                    int depth = 0) {
    out->resize(static_cast<size_t>(in.size()));
    for (int i = 0; i < in.size(); ++i) {
      auto& kv = (*out)[static_cast<size_t>(i)];
      kv.key = in[i].key();
      TB_RETURN_IF_ERROR(Value(in[i].value(), &kv.value, depth));
    }
    return Status::Ok();
  }

  Status Span(const pb::trace::v1::Span& in, model::Span* out) {
    if (!CopyId(in.trace_id(), &out->trace_id))
      return Status::InvalidArgument("trace_id must be 16 bytes, not all zero; got " +
                                     std::to_string(in.trace_id().size()) + " bytes");
    if (!CopyId(in.span_id(), &out->span_id))
      return Status::InvalidArgument("span_id must be 8 bytes, not all zero; got " +
                                     std::to_string(in.span_id().size()) + " bytes");
    if (!in.parent_span_id().empty()) {
      if (in.parent_span_id().size() != 8)
        return Status::InvalidArgument("parent_span_id must be empty or 8 bytes; got " +
                                       std::to_string(in.parent_span_id().size()) + " bytes");
      std::memcpy(out->parent_span_id.data(), in.parent_span_id().data(), 8);
    }
    out->trace_state = in.trace_state();
    out->flags = in.flags();
    out->name = in.name();
    if (in.kind() < 0 || in.kind() > 5)
      return Status::InvalidArgument("unknown span kind " + std::to_string(in.kind()));
    out->kind = static_cast<model::SpanKind>(in.kind());
    out->start_time_unix_nano = in.start_time_unix_nano();
    out->end_time_unix_nano = in.end_time_unix_nano();
    TB_RETURN_IF_ERROR(Attributes(in.attributes(), &out->attributes));
    out->dropped_attributes_count = in.dropped_attributes_count();
    out->events.resize(static_cast<size_t>(in.events_size()));
    for (int i = 0; i < in.events_size(); ++i) {
      const auto& e = in.events(i);
      auto& o = out->events[static_cast<size_t>(i)];
      o.time_unix_nano = e.time_unix_nano();
      o.name = e.name();
      TB_RETURN_IF_ERROR(Attributes(e.attributes(), &o.attributes));
      o.dropped_attributes_count = e.dropped_attributes_count();
    }
    out->dropped_events_count = in.dropped_events_count();
    out->links.resize(static_cast<size_t>(in.links_size()));
    for (int i = 0; i < in.links_size(); ++i) {
      const auto& l = in.links(i);
      auto& o = out->links[static_cast<size_t>(i)];
      if (!CopyId(l.trace_id(), &o.trace_id) || !CopyId(l.span_id(), &o.span_id))
        return Status::InvalidArgument("link " + std::to_string(i) + " needs a 16-byte trace_id and an 8-byte span_id");
      o.trace_state = l.trace_state();
      TB_RETURN_IF_ERROR(Attributes(l.attributes(), &o.attributes));
      o.dropped_attributes_count = l.dropped_attributes_count();
      o.flags = l.flags();
    }
    out->dropped_links_count = in.dropped_links_count();
    const int code = in.status().code();
    if (code < 0 || code > 2) return Status::InvalidArgument("unknown status code " + std::to_string(code));
    out->status.code = static_cast<model::StatusCode>(code);
    out->status.message = in.status().message();
    return Status::Ok();
  }
};

void AttributesToProto(const model::Attributes& in, google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>* out) {
  out->Reserve(static_cast<int>(in.size()));
  for (const auto& kv : in) {
    auto* o = out->Add();
    o->set_key(kv.key);
    ToProto(kv.value, o->mutable_value());
  }
}

}  // namespace

Result<model::Traces> FromProto(const google::protobuf::RepeatedPtrField<otlp::ResourceSpans>& resource_spans) {
  Converter c;
  model::Traces out;
  out.resource_spans.resize(static_cast<size_t>(resource_spans.size()));
  for (int r = 0; r < resource_spans.size(); ++r) {
    const auto& rs = resource_spans[r];
    auto& ors = out.resource_spans[static_cast<size_t>(r)];
    TB_RETURN_IF_ERROR(c.Attributes(rs.resource().attributes(), &ors.resource.attributes)
                           .WithContext("resource_spans[" + std::to_string(r) + "].resource"));
    ors.resource.dropped_attributes_count = rs.resource().dropped_attributes_count();
    ors.resource.schema_url = rs.schema_url();
    ors.scope_spans.resize(static_cast<size_t>(rs.scope_spans_size()));
    for (int s = 0; s < rs.scope_spans_size(); ++s) {
      const auto& ss = rs.scope_spans(s);
      auto& oss = ors.scope_spans[static_cast<size_t>(s)];
      const std::string where = "resource_spans[" + std::to_string(r) + "].scope_spans[" + std::to_string(s) + "]";
      oss.scope.name = ss.scope().name();
      oss.scope.version = ss.scope().version();
      TB_RETURN_IF_ERROR(c.Attributes(ss.scope().attributes(), &oss.scope.attributes).WithContext(where + ".scope"));
      oss.scope.dropped_attributes_count = ss.scope().dropped_attributes_count();
      oss.scope.schema_url = ss.schema_url();
      oss.spans.resize(static_cast<size_t>(ss.spans_size()));
      for (int i = 0; i < ss.spans_size(); ++i) {
        TB_RETURN_IF_ERROR(c.Span(ss.spans(i), &oss.spans[static_cast<size_t>(i)])
                               .WithContext(where + ".spans[" + std::to_string(i) + "]"));
      }
    }
  }
  return out;
}

Result<model::AnyValue> FromProto(const otlp::AnyValue& value) {
  model::AnyValue out;
  TB_RETURN_IF_ERROR(Converter().Value(value, &out, 0));
  return out;
}

void ToProto(const model::AnyValue& value, otlp::AnyValue* out) {
  using T = model::AnyValue::Type;
  switch (value.type()) {
    case T::kEmpty: break;
    case T::kString: out->set_string_value(value.string_value()); break;
    case T::kBool: out->set_bool_value(value.bool_value()); break;
    case T::kInt: out->set_int_value(value.int_value()); break;
    case T::kDouble: out->set_double_value(value.double_value()); break;
    case T::kBytes: out->set_bytes_value(value.bytes_value()); break;
    case T::kArray: {
      auto* arr = out->mutable_array_value();
      for (const auto& v : value.array_value()) ToProto(v, arr->add_values());
      break;
    }
    case T::kKvList: AttributesToProto(value.kvlist_value(), out->mutable_kvlist_value()->mutable_values()); break;
  }
}

void ToProto(const model::Span& s, otlp::Span* o) {
  o->set_trace_id(IdBytes(s.trace_id));
  o->set_span_id(IdBytes(s.span_id));
  o->set_trace_state(s.trace_state);
  if (s.has_parent()) o->set_parent_span_id(IdBytes(s.parent_span_id));
  o->set_flags(s.flags);
  o->set_name(s.name);
  o->set_kind(static_cast<pb::trace::v1::Span::SpanKind>(s.kind));
  o->set_start_time_unix_nano(s.start_time_unix_nano);
  o->set_end_time_unix_nano(s.end_time_unix_nano);
  AttributesToProto(s.attributes, o->mutable_attributes());
  o->set_dropped_attributes_count(s.dropped_attributes_count);
  for (const auto& e : s.events) {
    auto* oe = o->add_events();
    oe->set_time_unix_nano(e.time_unix_nano);
    oe->set_name(e.name);
    AttributesToProto(e.attributes, oe->mutable_attributes());
    oe->set_dropped_attributes_count(e.dropped_attributes_count);
  }
  o->set_dropped_events_count(s.dropped_events_count);
  for (const auto& l : s.links) {
    auto* ol = o->add_links();
    ol->set_trace_id(IdBytes(l.trace_id));
    ol->set_span_id(IdBytes(l.span_id));
    ol->set_trace_state(l.trace_state);
    AttributesToProto(l.attributes, ol->mutable_attributes());
    ol->set_dropped_attributes_count(l.dropped_attributes_count);
    ol->set_flags(l.flags);
  }
  o->set_dropped_links_count(s.dropped_links_count);
  if (s.status.code != model::StatusCode::kUnset || !s.status.message.empty()) {
    o->mutable_status()->set_code(static_cast<pb::trace::v1::Status::StatusCode>(s.status.code));
    o->mutable_status()->set_message(s.status.message);
  }
}

void ToProto(const model::Traces& traces, google::protobuf::RepeatedPtrField<otlp::ResourceSpans>* out) {
  for (const auto& rs : traces.resource_spans) {
    auto* ors = out->Add();
    AttributesToProto(rs.resource.attributes, ors->mutable_resource()->mutable_attributes());
    ors->mutable_resource()->set_dropped_attributes_count(rs.resource.dropped_attributes_count);
    ors->set_schema_url(rs.resource.schema_url);
    for (const auto& ss : rs.scope_spans) {
      auto* oss = ors->add_scope_spans();
      oss->mutable_scope()->set_name(ss.scope.name);
      oss->mutable_scope()->set_version(ss.scope.version);
      AttributesToProto(ss.scope.attributes, oss->mutable_scope()->mutable_attributes());
      oss->mutable_scope()->set_dropped_attributes_count(ss.scope.dropped_attributes_count);
      oss->set_schema_url(ss.scope.schema_url);
      for (const auto& span : ss.spans) ToProto(span, oss->add_spans());
    }
  }
}

std::string EncodeOtlpProtobuf(const model::Traces& traces) {
  otlp::ExportRequest request;
  ToProto(traces, request.mutable_resource_spans());
  return request.SerializeAsString();
}

Result<model::Traces> DecodeOtlpProtobuf(std::string_view bytes) {
  // The parsed tree lives only until it is converted: an arena allocates it in a few blocks and
  // frees it at once instead of message by message.
  google::protobuf::Arena arena;
  auto* request = google::protobuf::Arena::CreateMessage<otlp::ExportRequest>(&arena);
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !request->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Status::InvalidArgument("body is not a valid OTLP ExportTraceServiceRequest protobuf");
  return FromProto(request->resource_spans());
}

}  // namespace tb::wire
