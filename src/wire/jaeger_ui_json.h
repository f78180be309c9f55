// Jaeger UI JSON: the trace model that Jaeger's internal /api (GET /api/traces...) returns and that
// Jaeger UI and Grafana render (docs/jaeger-semantics.md §6.3).
//
// Input is the Jaeger span model (model/jaeger.h), so the OTLP → Jaeger mapping exists once.
// Encoding rules: trace IDs are 16 lowercase hex digits when their high 64 bits are zero, else 32;
// span IDs 16; times and durations are whole microseconds (truncated); every span refers to its
// process by ID ("p1", "p2", ... assigned in span order, one per distinct process); tags are typed
// ({"key","type","value"}), an int64 beyond ±(2^53−1) is a decimal string (JavaScript could not
// hold it), binary is base64, a non-finite float64 is the string "NaN" / "Infinity" / "-Infinity"
// (JSON has no such numbers); references, tags, logs and process tags are [] when empty, span and
// trace warnings null.
//
// The encoders write into a JsonWriter as they go, so an answer of many traces is never held as a
// document tree: its memory is the answer's text.
#pragma once

#include <string>
#include <vector>

#include "model/jaeger.h"
#include "wire/json_writer.h"

namespace tb::wire {

// The UI's traceID text of `id`.
std::string JaegerUiTraceId(const model::TraceId& id);

// One typed tag: {"key": .., "type": "string"|"bool"|"int64"|"float64"|"binary", "value": ..}.
void WriteJaegerUiTag(JsonWriter& w, const model::jaeger::Tag& tag);

// One trace: {"traceID", "spans", "processes", "warnings"}; `spans` all belong to `id`, in the
// order they are rendered.
void WriteJaegerUiTrace(JsonWriter& w, const model::TraceId& id, const std::vector<model::jaeger::Span>& spans);

}  // namespace tb::wire
