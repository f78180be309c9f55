#include "wire/jaeger_ui_json.h"

#include <cmath>

#include "model/text.h"

namespace tb::wire {
namespace {

namespace jaeger = model::jaeger;

// The largest integer a JavaScript number (an IEEE double) holds exactly.
constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

uint64_t Micros(uint64_t nanos) { return nanos / 1000; }

void WriteTags(JsonWriter& w, const std::vector<jaeger::Tag>& tags) {
  w.BeginArray();
  for (const auto& t : tags) WriteJaegerUiTag(w, t);
  w.EndArray();
}

void WriteProcess(JsonWriter& w, const jaeger::Process& p) {
  w.BeginObject();
  w.Member("serviceName", p.service_name);
  w.Key("tags");
  WriteTags(w, p.tags);
  w.EndObject();
}

const char* RefTypeName(jaeger::RefType type) {
  return type == jaeger::RefType::kFollowsFrom ? "FOLLOWS_FROM" : "CHILD_OF";
}

void WriteSpan(JsonWriter& w, const jaeger::Span& s, const std::string& process_id) {
  w.BeginObject();
  w.Member("traceID", JaegerUiTraceId(s.trace_id));
  w.Member("spanID", model::HexEncode(s.span_id));
  if (s.flags != 0) w.Member("flags", uint64_t{s.flags});  // Go's omitempty
  w.Member("operationName", s.operation_name);
  w.Key("references");
  w.BeginArray();
  for (const auto& r : s.references) {
    w.BeginObject();
    w.Member("refType", RefTypeName(r.type));
    w.Member("traceID", JaegerUiTraceId(r.trace_id));
    w.Member("spanID", model::HexEncode(r.span_id));
    w.EndObject();
  }
  w.EndArray();
  w.Member("startTime", Micros(s.start_time_unix_nano));
  w.Member("duration", Micros(s.duration_nanos));
  w.Key("tags");
  WriteTags(w, s.tags);
  w.Key("logs");
  w.BeginArray();
  for (const auto& l : s.logs) {
    w.BeginObject();
    w.Member("timestamp", Micros(l.timestamp_unix_nano));
    w.Key("fields");
    WriteTags(w, l.fields);
    w.EndObject();
  }
  w.EndArray();
  w.Member("processID", process_id);
  w.Key("warnings");
  if (s.warnings.empty()) {
    w.Null();
  } else {
    w.BeginArray();
    for (const auto& warning : s.warnings) w.String(warning);
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace

std::string JaegerUiTraceId(const model::TraceId& id) {
  const std::string hex = model::HexEncode(id);
  const bool high_zero = hex.compare(0, 16, std::string(16, '0')) == 0;
  return high_zero ? hex.substr(16) : hex;
}

void WriteJaegerUiTag(JsonWriter& w, const jaeger::Tag& tag) {
  w.BeginObject();
  w.Member("key", tag.key);
  switch (tag.type) {
    case jaeger::ValueType::kString:
      w.Member("type", "string");
      w.Member("value", tag.str);
      break;
    case jaeger::ValueType::kBool:
      w.Member("type", "bool");
      w.Key("value");
      w.Bool(tag.bool_value);
      break;
    case jaeger::ValueType::kInt64:
      w.Member("type", "int64");
      w.Key("value");
      if (tag.int_value >= -kMaxSafeInteger && tag.int_value <= kMaxSafeInteger) {
        w.Int(tag.int_value);
      } else {
        w.String(std::to_string(tag.int_value));
      }
      break;
    case jaeger::ValueType::kFloat64:
      w.Member("type", "float64");
      w.Key("value");
      if (std::isfinite(tag.float_value)) {
        w.FiniteDouble(tag.float_value);
      } else {
        w.String(model::FormatDoubleShortest(tag.float_value));
      }
      break;
    case jaeger::ValueType::kBinary:
      w.Member("type", "binary");
      w.Member("value", model::Base64Encode(tag.str));
      break;
  }
  w.EndObject();
}

void WriteJaegerUiTrace(JsonWriter& w, const model::TraceId& id, const std::vector<jaeger::Span>& spans) {
  w.BeginObject();
  w.Member("traceID", JaegerUiTraceId(id));
  // Process IDs by deep equality, numbered in the order the spans first use them.
  std::vector<const jaeger::Process*> processes;
  w.Key("spans");
  w.BeginArray();
  for (const auto& s : spans) {
    size_t index = 0;
    while (index < processes.size() && !(*processes[index] == s.process)) ++index;
    if (index == processes.size()) processes.push_back(&s.process);
    WriteSpan(w, s, "p" + std::to_string(index + 1));
  }
  w.EndArray();
  w.Key("processes");
  w.BeginObject();
  for (size_t i = 0; i < processes.size(); ++i) {
    w.Key("p" + std::to_string(i + 1));
    WriteProcess(w, *processes[i]);
  }
  w.EndObject();
  w.Key("warnings");
  w.Null();
  w.EndObject();
}

}  // namespace tb::wire
