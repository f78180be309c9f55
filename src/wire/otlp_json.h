// OTLP/JSON ⇄ model: the JSON mapping of TracesData / ExportTraceServiceRequest, without protobuf.
//
// protobuf's own JSON mapping cannot read OTLP/JSON (IDs are hex, not base64), so this codec is ours.
// Input follows the OTLP/JSON rules leniently, as receivers must:
//  - keys in lowerCamelCase or in the proto's snake_case; unknown keys are ignored; null means default;
//  - trace/span IDs in hex of either case (32 and 16 digits; not all zero); parentSpanId "" or absent
//    means a root span;
//  - 64-bit integers as decimal strings or JSON numbers; uint32 counts and flags as numbers or strings;
//  - enums (kind, status.code) as integers or their proto names ("SPAN_KIND_SERVER");
//  - doubleValue as a number, a decimal string, or "NaN" / "Infinity" / "-Infinity";
//  - bytesValue in base64 (standard or URL-safe, padded or not);
//  - arrayValue/kvlistValue nested at most 64 levels deep.
// Every error is INVALID_ARGUMENT. Bad JSON syntax gives "invalid JSON: " and nlohmann's message; any
// other error starts with the JSON path of the offending value (as spelled in the input), e.g.
// "resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex digits, got 30 characters".
//
// Output is canonical OTLP/JSON (what Jaeger's api_v3 returns): lowerCamelCase keys, lowercase hex
// IDs, 64-bit integers as decimal strings, enums as integers, default-valued fields omitted except
// a span's traceId, spanId, name, startTimeUnixNano and endTimeUnixNano.
#pragma once

#include <string>
#include <string_view>

#include "model/span.h"
#include "util/status.h"

namespace tb::wire {

// Parses an OTLP/JSON ExportTraceServiceRequest / TracesData document ({"resourceSpans":[...]}).
// Never throws; malformed input of any kind is INVALID_ARGUMENT (RESOURCE_EXHAUSTED if memory runs out).
// Streams the document: peak memory is the resulting model plus one span, not a DOM of the input.
Result<model::Traces> ParseOtlpJson(std::string_view json);

// Encodes the model as OTLP/JSON TracesData. Strings that are not valid UTF-8 have each bad byte
// replaced by U+FFFD so that the output is always valid JSON.
std::string EncodeOtlpJson(const model::Traces& traces);

}  // namespace tb::wire
