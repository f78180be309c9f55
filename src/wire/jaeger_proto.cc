#include "wire/jaeger_proto.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "model/text.h"

namespace tb::wire {
namespace {

namespace api = jaeger::api_v2;
namespace mj = model::jaeger;

// Go's zero time.Time, which Jaeger sends for "not set": 0001-01-01T00:00:00Z.
constexpr int64_t kGoZeroTimeSeconds = -62135596800;
constexpr uint64_t kNanosPerSecond = 1'000'000'000ull;

// Jaeger's TraceID decoder accepts 16 bytes, or 8 for a 64-bit ID (the high half is then zero).
Status DecodeTraceId(const std::string& bytes, std::string_view field, model::TraceId* id) {
  *id = {};
  if (bytes.size() == 16) {
    std::memcpy(id->data(), bytes.data(), 16);
  } else if (bytes.size() == 8) {
    std::memcpy(id->data() + 8, bytes.data(), 8);
  } else {
    return Status::InvalidArgument(std::string(field) + " must be 16 or 8 bytes; got " + std::to_string(bytes.size()));
  }
  if (*id == model::TraceId{}) return Status::InvalidArgument(std::string(field) + " must not be all zero");
  return Status::Ok();
}

Status DecodeSpanId(const std::string& bytes, std::string_view field, model::SpanId* id) {
  if (bytes.size() != 8)
    return Status::InvalidArgument(std::string(field) + " must be 8 bytes; got " + std::to_string(bytes.size()));
  std::memcpy(id->data(), bytes.data(), 8);
  if (*id == model::SpanId{}) return Status::InvalidArgument(std::string(field) + " must not be all zero");
  return Status::Ok();
}

template <size_t N>
std::string IdBytes(const std::array<uint8_t, N>& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), N);
}

Result<uint64_t> UnixNanos(const google::protobuf::Timestamp& ts, std::string_view field) {
  if (ts.seconds() < 0 || ts.nanos() < 0 || ts.nanos() >= static_cast<int32_t>(kNanosPerSecond))
    return Status::InvalidArgument(std::string(field) + " must be a valid time not before 1970");
  return static_cast<uint64_t>(ts.seconds()) * kNanosPerSecond + static_cast<uint64_t>(ts.nanos());
}

Result<mj::Tag> DecodeTag(const api::KeyValue& in) {
  mj::Tag t;
  t.key = in.key();
  switch (in.v_type()) {
    case api::STRING: t.str = in.v_str(); break;
    case api::BOOL:
      t.type = mj::ValueType::kBool;
      t.bool_value = in.v_bool();
      break;
    case api::INT64:
      t.type = mj::ValueType::kInt64;
      t.int_value = in.v_int64();
      break;
    case api::FLOAT64:
      t.type = mj::ValueType::kFloat64;
      t.float_value = in.v_float64();
      break;
    case api::BINARY:
      t.type = mj::ValueType::kBinary;
      t.str = in.v_binary();
      break;
    default:
      return Status::InvalidArgument("tag \"" + in.key() + "\" has unknown v_type " + std::to_string(in.v_type()));
  }
  return t;
}

Status DecodeTags(const google::protobuf::RepeatedPtrField<api::KeyValue>& in, std::vector<mj::Tag>* out) {
  out->reserve(static_cast<size_t>(in.size()));
  for (const auto& kv : in) {
    TB_ASSIGN_OR_RETURN(mj::Tag t, DecodeTag(kv));
    out->push_back(std::move(t));
  }
  return Status::Ok();
}

void EncodeTag(const mj::Tag& t, api::KeyValue* out) {
  out->set_key(t.key);
  switch (t.type) {
    case mj::ValueType::kString: out->set_v_str(t.str); break;
    case mj::ValueType::kBool:
      out->set_v_type(api::BOOL);
      out->set_v_bool(t.bool_value);
      break;
    case mj::ValueType::kInt64:
      out->set_v_type(api::INT64);
      out->set_v_int64(t.int_value);
      break;
    case mj::ValueType::kFloat64:
      out->set_v_type(api::FLOAT64);
      out->set_v_float64(t.float_value);
      break;
    case mj::ValueType::kBinary:
      out->set_v_type(api::BINARY);
      out->set_v_binary(t.str);
      break;
  }
}

void EncodeTags(const std::vector<mj::Tag>& tags, google::protobuf::RepeatedPtrField<api::KeyValue>* out) {
  out->Reserve(static_cast<int>(tags.size()));
  for (const auto& t : tags) EncodeTag(t, out->Add());
}

}  // namespace

Result<mj::Span> FromProto(const api::Span& in) {
  mj::Span s;
  TB_RETURN_IF_ERROR(DecodeTraceId(in.trace_id(), "trace_id", &s.trace_id));
  TB_RETURN_IF_ERROR(DecodeSpanId(in.span_id(), "span_id", &s.span_id));
  auto context = [&] { return "span " + model::HexEncode(s.span_id); };
  s.operation_name = in.operation_name();
  s.references.reserve(static_cast<size_t>(in.references_size()));
  for (const auto& r : in.references()) {
    mj::SpanRef ref;
    Status st = DecodeTraceId(r.trace_id(), "reference trace_id", &ref.trace_id);
    if (st.ok()) st = DecodeSpanId(r.span_id(), "reference span_id", &ref.span_id);
    if (!st.ok()) return st.WithContext(context());
    if (r.ref_type() != api::CHILD_OF && r.ref_type() != api::FOLLOWS_FROM)
      return Status::InvalidArgument(context() + ": unknown ref_type " + std::to_string(r.ref_type()));
    ref.type = r.ref_type() == api::CHILD_OF ? mj::RefType::kChildOf : mj::RefType::kFollowsFrom;
    s.references.push_back(ref);
  }
  s.flags = in.flags();
  auto start = UnixNanos(in.start_time(), "start_time");
  if (!start.ok()) return start.status().WithContext(context());
  s.start_time_unix_nano = *start;
  if (in.duration().seconds() < 0 || in.duration().nanos() < 0)
    return Status::InvalidArgument(context() + ": duration must not be negative");
  s.duration_nanos =
      static_cast<uint64_t>(in.duration().seconds()) * kNanosPerSecond + static_cast<uint64_t>(in.duration().nanos());
  if (Status st = DecodeTags(in.tags(), &s.tags); !st.ok()) return st.WithContext(context());
  s.logs.reserve(static_cast<size_t>(in.logs_size()));
  for (const auto& l : in.logs()) {
    mj::Log log;
    auto ts = UnixNanos(l.timestamp(), "log timestamp");
    if (!ts.ok()) return ts.status().WithContext(context());
    log.timestamp_unix_nano = *ts;
    if (Status st = DecodeTags(l.fields(), &log.fields); !st.ok()) return st.WithContext(context());
    s.logs.push_back(std::move(log));
  }
  s.process.service_name = in.process().service_name();
  if (Status st = DecodeTags(in.process().tags(), &s.process.tags); !st.ok()) return st.WithContext(context());
  s.warnings.assign(in.warnings().begin(), in.warnings().end());
  return s;
}

void ToProto(const mj::Span& s, api::Span* out) {
  out->set_trace_id(IdBytes(s.trace_id));
  out->set_span_id(IdBytes(s.span_id));
  out->set_operation_name(s.operation_name);
  out->mutable_references()->Reserve(static_cast<int>(s.references.size()));
  for (const auto& r : s.references) {
    auto* ref = out->add_references();
    ref->set_trace_id(IdBytes(r.trace_id));
    ref->set_span_id(IdBytes(r.span_id));
    ref->set_ref_type(r.type == mj::RefType::kChildOf ? api::CHILD_OF : api::FOLLOWS_FROM);
  }
  out->set_flags(s.flags);
  SetTimestamp(s.start_time_unix_nano, out->mutable_start_time());
  SetDuration(s.duration_nanos, out->mutable_duration());
  EncodeTags(s.tags, out->mutable_tags());
  out->mutable_logs()->Reserve(static_cast<int>(s.logs.size()));
  for (const auto& l : s.logs) {
    auto* log = out->add_logs();
    SetTimestamp(l.timestamp_unix_nano, log->mutable_timestamp());
    EncodeTags(l.fields, log->mutable_fields());
  }
  out->mutable_process()->set_service_name(s.process.service_name);
  EncodeTags(s.process.tags, out->mutable_process()->mutable_tags());
  for (const auto& w : s.warnings) out->add_warnings(w);
}

std::optional<uint64_t> OptionalUnixNanos(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() <= kGoZeroTimeSeconds) return std::nullopt;
  if (ts.seconds() < 0) return 0;
  return static_cast<uint64_t>(ts.seconds()) * kNanosPerSecond + static_cast<uint64_t>(std::max(0, ts.nanos()));
}

std::optional<uint64_t> OptionalNanos(const google::protobuf::Duration& d) {
  if (d.seconds() < 0 || d.nanos() < 0 || (d.seconds() == 0 && d.nanos() == 0)) return std::nullopt;
  return static_cast<uint64_t>(d.seconds()) * kNanosPerSecond + static_cast<uint64_t>(d.nanos());
}

void SetTimestamp(uint64_t unix_nano, google::protobuf::Timestamp* ts) {
  ts->set_seconds(static_cast<int64_t>(unix_nano / kNanosPerSecond));
  ts->set_nanos(static_cast<int32_t>(unix_nano % kNanosPerSecond));
}

void SetDuration(uint64_t nanos, google::protobuf::Duration* d) {
  d->set_seconds(static_cast<int64_t>(nanos / kNanosPerSecond));
  d->set_nanos(static_cast<int32_t>(nanos % kNanosPerSecond));
}

}  // namespace tb::wire
