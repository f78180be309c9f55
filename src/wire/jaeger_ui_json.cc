#include "wire/jaeger_ui_json.h"

#include <cmath>

#include "model/text.h"

namespace tb::wire {
namespace {

namespace jaeger = model::jaeger;
using Json = nlohmann::ordered_json;

// The largest integer a JavaScript number (an IEEE double) holds exactly.
constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

uint64_t Micros(uint64_t nanos) { return nanos / 1000; }

Json Tags(const std::vector<jaeger::Tag>& tags) {
  Json out = Json::array();
  for (const auto& t : tags) out.push_back(JaegerUiTag(t));
  return out;
}

Json ProcessJson(const jaeger::Process& p) { return Json{{"serviceName", p.service_name}, {"tags", Tags(p.tags)}}; }

const char* RefTypeName(jaeger::RefType type) {
  return type == jaeger::RefType::kFollowsFrom ? "FOLLOWS_FROM" : "CHILD_OF";
}

Json SpanJson(const jaeger::Span& s, const std::string& process_id) {
  Json references = Json::array();
  for (const auto& r : s.references) {
    references.push_back(Json{{"refType", RefTypeName(r.type)},
                              {"traceID", JaegerUiTraceId(r.trace_id)},
                              {"spanID", model::HexEncode(r.span_id)}});
  }
  Json logs = Json::array();
  for (const auto& l : s.logs)
    logs.push_back(Json{{"timestamp", Micros(l.timestamp_unix_nano)}, {"fields", Tags(l.fields)}});
  Json span{{"traceID", JaegerUiTraceId(s.trace_id)}, {"spanID", model::HexEncode(s.span_id)}};
  if (s.flags != 0) span["flags"] = s.flags;  // Go's omitempty
  span["operationName"] = s.operation_name;
  span["references"] = std::move(references);
  span["startTime"] = Micros(s.start_time_unix_nano);
  span["duration"] = Micros(s.duration_nanos);
  span["tags"] = Tags(s.tags);
  span["logs"] = std::move(logs);
  span["processID"] = process_id;
  span["warnings"] = s.warnings.empty() ? Json(nullptr) : Json(s.warnings);
  return span;
}

}  // namespace

std::string JaegerUiTraceId(const model::TraceId& id) {
  const std::string hex = model::HexEncode(id);
  const bool high_zero = hex.compare(0, 16, std::string(16, '0')) == 0;
  return high_zero ? hex.substr(16) : hex;
}

Json JaegerUiTag(const jaeger::Tag& tag) {
  Json out{{"key", tag.key}};
  switch (tag.type) {
    case jaeger::ValueType::kString:
      out["type"] = "string";
      out["value"] = tag.str;
      break;
    case jaeger::ValueType::kBool:
      out["type"] = "bool";
      out["value"] = tag.bool_value;
      break;
    case jaeger::ValueType::kInt64:
      out["type"] = "int64";
      if (tag.int_value >= -kMaxSafeInteger && tag.int_value <= kMaxSafeInteger) {
        out["value"] = tag.int_value;
      } else {
        out["value"] = std::to_string(tag.int_value);
      }
      break;
    case jaeger::ValueType::kFloat64:
      out["type"] = "float64";
      if (std::isfinite(tag.float_value)) {
        out["value"] = tag.float_value;
      } else {
        out["value"] = model::FormatDoubleShortest(tag.float_value);
      }
      break;
    case jaeger::ValueType::kBinary:
      out["type"] = "binary";
      out["value"] = model::Base64Encode(tag.str);
      break;
  }
  return out;
}

Json JaegerUiTrace(const model::TraceId& id, const std::vector<jaeger::Span>& spans) {
  // Process IDs by deep equality, numbered in the order the spans first use them.
  std::vector<const jaeger::Process*> processes;
  Json span_list = Json::array();
  for (const auto& s : spans) {
    size_t index = 0;
    while (index < processes.size() && !(*processes[index] == s.process)) ++index;
    if (index == processes.size()) processes.push_back(&s.process);
    span_list.push_back(SpanJson(s, "p" + std::to_string(index + 1)));
  }
  Json process_map = Json::object();
  for (size_t i = 0; i < processes.size(); ++i) process_map["p" + std::to_string(i + 1)] = ProcessJson(*processes[i]);
  return Json{{"traceID", JaegerUiTraceId(id)},
              {"spans", std::move(span_list)},
              {"processes", std::move(process_map)},
              {"warnings", nullptr}};
}

}  // namespace tb::wire
