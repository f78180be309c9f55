// The Jaeger span model (jaeger.api_v2), as plain structs, and its mapping to and from the core
// OTLP-shaped model.
//
// Jaeger's legacy doors (Remote Storage API v1 over gRPC, the /api JSON API that Jaeger UI and
// Grafana call) speak this model. Both render these structs; neither converts OTLP itself, so the
// OTLP → Jaeger mapping exists once. The mapping is the standard one Jaeger applies to stored OTLP
// (docs/jaeger-semantics.md §6.5); FromJaeger is its inverse, so that Jaeger-model writes round-trip
// through storage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/span.h"

namespace tb::model::jaeger {

enum class ValueType : uint8_t { kString = 0, kBool = 1, kInt64 = 2, kFloat64 = 3, kBinary = 4 };

// A typed tag. Only the field that `type` names is meaningful; binary values live in `str`.
struct Tag {
  std::string key;
  ValueType type = ValueType::kString;
  std::string str;
  bool bool_value = false;
  int64_t int_value = 0;
  double float_value = 0;
  bool operator==(const Tag&) const = default;
};

struct Log {
  uint64_t timestamp_unix_nano = 0;
  std::vector<Tag> fields;
  bool operator==(const Log&) const = default;
};

enum class RefType : uint8_t { kChildOf = 0, kFollowsFrom = 1 };

struct SpanRef {
  TraceId trace_id{};
  SpanId span_id{};
  RefType type = RefType::kChildOf;
  bool operator==(const SpanRef&) const = default;
};

struct Process {
  std::string service_name;
  std::vector<Tag> tags;
  bool operator==(const Process&) const = default;
};

// Times keep nanoseconds: the v1 gRPC API carries them; the UI JSON truncates to microseconds.
struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  std::string operation_name;
  std::vector<SpanRef> references;
  uint32_t flags = 0;
  uint64_t start_time_unix_nano = 0;
  uint64_t duration_nanos = 0;
  std::vector<Tag> tags;
  std::vector<Log> logs;
  Process process;
  std::vector<std::string> warnings;
  bool operator==(const Span&) const = default;
};

// OTLP → Jaeger, span by span in the order the batch holds them; every span carries its Process.
std::vector<Span> ToJaeger(const Traces& traces);

// Jaeger → OTLP: spans sharing an equal Process share one ResourceSpans. Tags that the forward
// mapping derives from OTLP fields (span.kind, otel.status_code, otel.scope.name, ...) are turned
// back into those fields, so FromJaeger(ToJaeger(t)) keeps everything the Jaeger model can carry.
Traces FromJaeger(const std::vector<Span>& spans);

// The search key (query/trace_query.h) for a tag key in a Jaeger-model query. Tags that ToJaeger
// derives from OTLP fields are found through the special keys that match those fields
// (otel.status_code → span.status, otel.scope.name → scope.name, otel.scope.version →
// scope.version); span.kind and error already are such keys. Any other key is itself.
std::string_view SearchKey(std::string_view tag_key);

// The span that Jaeger's model names as the parent of `span`, which is what Jaeger's stores count
// dependencies by (docs/jaeger-semantics.md §7): among the span's references (ToJaeger's), the first
// CHILD_OF one within the span's own trace, else the first FOLLOWS_FROM one within it. So it is the
// OTLP parent when there is one, and a span without a parent hangs off the first link into its own
// trace. All zero when there is none.
SpanId DependencyParent(const model::Span& span);

}  // namespace tb::model::jaeger
