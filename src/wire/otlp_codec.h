// OTLP protobuf bytes ⇄ model, without exposing protobuf types: what the WAL and OTLP/HTTP use.
#pragma once

#include <string>
#include <string_view>

#include "model/span.h"
#include "util/status.h"

namespace tb::wire {

// Serialises as an OTLP ExportTraceServiceRequest (wire-identical to TracesData).
std::string EncodeOtlpProtobuf(const model::Traces& traces);
// Parses an ExportTraceServiceRequest / TracesData; INVALID_ARGUMENT on malformed bytes or IDs.
Result<model::Traces> DecodeOtlpProtobuf(std::string_view bytes);

}  // namespace tb::wire
