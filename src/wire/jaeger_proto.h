// Jaeger model protobuf (jaeger.api_v2) ⇄ model::jaeger structs, and the protobuf time forms the
// Jaeger APIs use. With the v1 handlers, the only place that sees generated Jaeger model types.
#pragma once

#include <optional>

#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "jaeger/api_v2/model.pb.h"
#include "model/jaeger.h"
#include "util/status.h"

namespace tb::wire {

// Decodes a span as Jaeger's own decoder would accept it: a trace ID of 16 bytes (or 8, the low
// half of a 64-bit ID) and a span ID of exactly 8 bytes, neither all zero; references with the
// same ID lengths; known enum values; times not before 1970 and durations not negative. Anything
// else is INVALID_ARGUMENT naming the field.
Result<model::jaeger::Span> FromProto(const jaeger::api_v2::Span& span);

// Encodes a span the way Jaeger's Go side does: IDs always 16/8 bytes, start time, duration and
// process always present, process_id empty.
void ToProto(const model::jaeger::Span& span, jaeger::api_v2::Span* out);

// A present query time: nullopt when at/before Go's zero time (0001-01-01, Jaeger's "unset");
// times before 1970 clamp to 0. Callers treat an absent field as unset too.
std::optional<uint64_t> OptionalUnixNanos(const google::protobuf::Timestamp& ts);
// A query duration bound: nullopt when zero (Jaeger's "no bound") or negative.
std::optional<uint64_t> OptionalNanos(const google::protobuf::Duration& d);
void SetTimestamp(uint64_t unix_nano, google::protobuf::Timestamp* ts);
void SetDuration(uint64_t nanos, google::protobuf::Duration* d);

}  // namespace tb::wire
