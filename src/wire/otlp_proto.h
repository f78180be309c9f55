// OTLP protobuf ⇄ model. The only place (with the server handlers) that sees generated OTLP types.
#pragma once

#include "model/span.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "util/status.h"

namespace tb::wire {

namespace otlp {
using ExportRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using TracesData = opentelemetry::proto::trace::v1::TracesData;
using ResourceSpans = opentelemetry::proto::trace::v1::ResourceSpans;
using Span = opentelemetry::proto::trace::v1::Span;
using KeyValue = opentelemetry::proto::common::v1::KeyValue;
using AnyValue = opentelemetry::proto::common::v1::AnyValue;
}  // namespace otlp

// Converts received resource spans into the model. IDs are validated: a trace ID must be 16
// non-zero bytes, a span ID 8 non-zero bytes, a parent span ID empty or 8 bytes; anything else is
// INVALID_ARGUMENT naming the offending span. Attribute nesting deeper than 64 is refused.
Result<model::Traces> FromProto(const google::protobuf::RepeatedPtrField<otlp::ResourceSpans>& resource_spans);

// Converts one attribute value (e.g. a search filter's), with the same nesting limit.
Result<model::AnyValue> FromProto(const otlp::AnyValue& value);

void ToProto(const model::Traces& traces, google::protobuf::RepeatedPtrField<otlp::ResourceSpans>* out);
void ToProto(const model::Span& span, otlp::Span* out);
void ToProto(const model::AnyValue& value, otlp::AnyValue* out);

}  // namespace tb::wire
