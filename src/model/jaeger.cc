#include "model/jaeger.h"

#include <algorithm>
#include <optional>
#include <string_view>

#include "model/text.h"

namespace tb::model::jaeger {
namespace {

// Keys of the tags that the forward mapping derives from OTLP fields (docs/jaeger-semantics.md §6.5).
constexpr std::string_view kScopeNameKey = "otel.scope.name";
constexpr std::string_view kScopeVersionKey = "otel.scope.version";
constexpr std::string_view kSpanKindKey = "span.kind";
constexpr std::string_view kStatusCodeKey = "otel.status_code";
constexpr std::string_view kErrorKey = "error";
constexpr std::string_view kStatusDescriptionKey = "otel.status_description";
constexpr std::string_view kTraceStateKey = "w3c.tracestate";
// A span attribute (string array) that Jaeger shows as the span's warnings instead of as a tag.
constexpr std::string_view kWarningsKey = "@jaeger@warnings";
// A link attribute that makes the link a CHILD_OF reference instead of FOLLOWS_FROM.
constexpr std::string_view kRefTypeKey = "opentracing.ref_type";
constexpr std::string_view kChildOfRefType = "child_of";
// The log field that carries an event's name.
constexpr std::string_view kEventKey = "event";
// Jaeger's service name for a resource without any attributes.
constexpr std::string_view kNoServiceName = "OTLPResourceNoServiceName";
constexpr std::string_view kServiceNameKey = "service.name";

Tag StringTag(std::string_view key, std::string value) {
  Tag t;
  t.key = std::string(key);
  t.str = std::move(value);
  return t;
}

// OTLP attribute → Jaeger tag. Arrays and maps have no Jaeger type: they become their JSON string.
Tag ToTag(const KeyValue& kv) {
  Tag t;
  t.key = kv.key;
  switch (kv.value.type()) {
    case AnyValue::Type::kBool:
      t.type = ValueType::kBool;
      t.bool_value = kv.value.bool_value();
      break;
    case AnyValue::Type::kInt:
      t.type = ValueType::kInt64;
      t.int_value = kv.value.int_value();
      break;
    case AnyValue::Type::kDouble:
      t.type = ValueType::kFloat64;
      t.float_value = kv.value.double_value();
      break;
    case AnyValue::Type::kBytes:
      t.type = ValueType::kBinary;
      t.str = kv.value.bytes_value();
      break;
    case AnyValue::Type::kString: t.str = kv.value.string_value(); break;
    case AnyValue::Type::kEmpty:
    case AnyValue::Type::kArray:
    case AnyValue::Type::kKvList: t.str = CanonicalString(kv.value); break;
  }
  return t;
}

KeyValue ToAttribute(const Tag& tag) {
  switch (tag.type) {
    case ValueType::kBool: return {tag.key, AnyValue::Bool(tag.bool_value)};
    case ValueType::kInt64: return {tag.key, AnyValue::Int(tag.int_value)};
    case ValueType::kFloat64: return {tag.key, AnyValue::Double(tag.float_value)};
    case ValueType::kBinary: return {tag.key, AnyValue::FromBytes(tag.str)};
    case ValueType::kString: break;
  }
  return {tag.key, AnyValue::String(tag.str)};
}

Process ToProcess(const Resource& resource) {
  Process p;
  if (resource.attributes.empty()) {
    p.service_name = std::string(kNoServiceName);
    return p;
  }
  bool named = false;
  for (const auto& kv : resource.attributes) {
    // The first string service.name names the process; anything else stays a tag, so nothing is lost.
    if (!named && kv.key == kServiceNameKey && kv.value.type() == AnyValue::Type::kString) {
      p.service_name = kv.value.string_value();
      named = true;
      continue;
    }
    p.tags.push_back(ToTag(kv));
  }
  return p;
}

RefType LinkRefType(const Link& link) {
  for (const auto& kv : link.attributes)
    if (kv.key == kRefTypeKey)
      return kv.value.type() == AnyValue::Type::kString && kv.value.string_value() == kChildOfRefType
                 ? RefType::kChildOf
                 : RefType::kFollowsFrom;
  return RefType::kFollowsFrom;
}

// The parent first (CHILD_OF), then one reference per link; a link to the parent itself only sets
// the parent reference's type.
std::vector<SpanRef> ToReferences(const model::Span& span) {
  std::vector<SpanRef> refs;
  if (span.has_parent()) refs.push_back({span.trace_id, span.parent_span_id, RefType::kChildOf});
  for (const auto& link : span.links) {
    const RefType type = LinkRefType(link);
    if (span.has_parent() && link.trace_id == span.trace_id && link.span_id == span.parent_span_id) {
      refs.front().type = type;
      continue;
    }
    refs.push_back({link.trace_id, link.span_id, type});
  }
  return refs;
}

Log ToLog(const Event& event) {
  Log log;
  log.timestamp_unix_nano = event.time_unix_nano;
  const bool has_event_attribute = std::any_of(event.attributes.begin(), event.attributes.end(),
                                               [](const KeyValue& kv) { return kv.key == kEventKey; });
  if (!event.name.empty() && !has_event_attribute) log.fields.push_back(StringTag(kEventKey, event.name));
  for (const auto& kv : event.attributes) log.fields.push_back(ToTag(kv));
  return log;
}

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kError: return "ERROR";
    case StatusCode::kUnset: break;
  }
  return "";
}

Span ToJaegerSpan(const model::Span& span, const Scope& scope, const Process& process) {
  Span out;
  out.trace_id = span.trace_id;
  out.span_id = span.span_id;
  out.operation_name = span.name;
  out.references = ToReferences(span);
  out.start_time_unix_nano = span.start_time_unix_nano;
  out.duration_nanos = span.duration_nanos();
  out.process = process;

  if (!scope.name.empty()) out.tags.push_back(StringTag(kScopeNameKey, scope.name));
  if (!scope.version.empty()) out.tags.push_back(StringTag(kScopeVersionKey, scope.version));
  for (const auto& kv : span.attributes) {
    if (kv.key == kWarningsKey) {
      if (kv.value.type() == AnyValue::Type::kArray)
        for (const auto& w : kv.value.array_value()) out.warnings.push_back(CanonicalString(w));
      continue;
    }
    out.tags.push_back(ToTag(kv));
  }
  if (span.kind != SpanKind::kUnspecified)
    out.tags.push_back(StringTag(kSpanKindKey, std::string(SpanKindName(span.kind))));
  if (span.status.code != StatusCode::kUnset)
    out.tags.push_back(StringTag(kStatusCodeKey, std::string(StatusCodeName(span.status.code))));
  if (span.status.code == StatusCode::kError) {
    Tag error;
    error.key = std::string(kErrorKey);
    error.type = ValueType::kBool;
    error.bool_value = true;
    out.tags.push_back(std::move(error));
  }
  if (!span.status.message.empty()) out.tags.push_back(StringTag(kStatusDescriptionKey, span.status.message));
  if (!span.trace_state.empty()) out.tags.push_back(StringTag(kTraceStateKey, span.trace_state));

  out.logs.reserve(span.events.size());
  for (const auto& e : span.events) out.logs.push_back(ToLog(e));
  return out;
}

// ---- Jaeger → OTLP ----

bool IsStringTag(const Tag& t, std::string_view key) { return t.key == key && t.type == ValueType::kString; }

// The OTLP fields that the forward mapping turns into tags, recovered from a span's tags.
struct DerivedFields {
  Scope scope;
  SpanKind kind = SpanKind::kUnspecified;
  SpanStatus status;
  std::string trace_state;
  Attributes attributes;  // the remaining tags
};

// The forward mapping writes the scope tags first and the span.kind / status / trace-state tags
// after the attributes, so the scope tags are taken from the front and the others as the last tag
// of their key: a span attribute that shares a key stays an attribute. Jaeger-native spans put
// these tags anywhere, which the "last anywhere" rule also covers.
DerivedFields SplitDerivedTags(const std::vector<Tag>& tags) {
  DerivedFields d;
  std::vector<bool> consumed(tags.size(), false);
  size_t front = 0;
  if (front < tags.size() && IsStringTag(tags[front], kScopeNameKey)) {
    d.scope.name = tags[front].str;
    consumed[front++] = true;
  }
  if (front < tags.size() && IsStringTag(tags[front], kScopeVersionKey)) {
    d.scope.version = tags[front].str;
    consumed[front++] = true;
  }
  // Consumes the last unconsumed tag for which accept() holds.
  auto take_last = [&](auto&& accept) {
    for (size_t i = tags.size(); i > front; --i) {
      if (!consumed[i - 1] && accept(tags[i - 1])) {
        consumed[i - 1] = true;
        return true;
      }
    }
    return false;
  };
  take_last([&](const Tag& t) {
    if (!IsStringTag(t, kTraceStateKey) || t.str.empty()) return false;
    d.trace_state = t.str;
    return true;
  });
  take_last([&](const Tag& t) {
    if (!IsStringTag(t, kStatusDescriptionKey) || t.str.empty()) return false;
    d.status.message = t.str;
    return true;
  });
  // error=true (bool) goes with otel.status_code=ERROR; Jaeger-native spans carry it alone, which
  // also means status ERROR.
  const bool error_flag =
      take_last([](const Tag& t) { return t.key == kErrorKey && t.type == ValueType::kBool && t.bool_value; });
  const bool coded = take_last([&](const Tag& t) {
    if (!IsStringTag(t, kStatusCodeKey)) return false;
    if (t.str == "ERROR" || (t.str == "OK" && !error_flag)) {
      d.status.code = t.str == "OK" ? StatusCode::kOk : StatusCode::kError;
      return true;
    }
    return false;
  });
  if (error_flag && !coded) d.status.code = StatusCode::kError;
  take_last([&](const Tag& t) {
    if (!IsStringTag(t, kSpanKindKey)) return false;
    SpanKind kind;
    if (!ParseSpanKind(t.str, &kind) || kind == SpanKind::kUnspecified) return false;
    d.kind = kind;
    return true;
  });
  for (size_t i = 0; i < tags.size(); ++i)
    if (!consumed[i]) d.attributes.push_back(ToAttribute(tags[i]));
  return d;
}

Event ToEvent(const Log& log) {
  Event e;
  e.time_unix_nano = log.timestamp_unix_nano;
  size_t first = 0;
  if (!log.fields.empty() && IsStringTag(log.fields[0], kEventKey) && !log.fields[0].str.empty()) {
    e.name = log.fields[0].str;
    first = 1;
  }
  for (size_t i = first; i < log.fields.size(); ++i) e.attributes.push_back(ToAttribute(log.fields[i]));
  return e;
}

Resource ToResource(const Process& process) {
  Resource r;
  if (!process.service_name.empty())
    r.attributes.push_back({std::string(kServiceNameKey), AnyValue::String(process.service_name)});
  for (const auto& t : process.tags) r.attributes.push_back(ToAttribute(t));
  return r;
}

// The parent is the first CHILD_OF reference within the span's own trace (as Jaeger reads it);
// every other reference becomes a link, CHILD_OF ones marked with opentracing.ref_type.
void FromReferences(const Span& in, model::Span* out) {
  bool parent_found = false;
  for (const auto& ref : in.references) {
    if (!parent_found && ref.type == RefType::kChildOf && ref.trace_id == in.trace_id && ref.span_id != SpanId{}) {
      out->parent_span_id = ref.span_id;
      parent_found = true;
      continue;
    }
    Link link;
    link.trace_id = ref.trace_id;
    link.span_id = ref.span_id;
    if (ref.type == RefType::kChildOf)
      link.attributes.push_back({std::string(kRefTypeKey), AnyValue::String(std::string(kChildOfRefType))});
    out->links.push_back(std::move(link));
  }
}

model::Span FromJaegerSpan(const Span& in, DerivedFields&& derived) {
  model::Span s;
  s.trace_id = in.trace_id;
  s.span_id = in.span_id;
  FromReferences(in, &s);
  s.trace_state = std::move(derived.trace_state);
  s.name = in.operation_name;
  s.kind = derived.kind;
  s.start_time_unix_nano = in.start_time_unix_nano;
  s.end_time_unix_nano = in.start_time_unix_nano + in.duration_nanos;
  s.attributes = std::move(derived.attributes);
  if (!in.warnings.empty()) {
    ArrayValue warnings;
    for (const auto& w : in.warnings) warnings.push_back(AnyValue::String(w));
    s.attributes.push_back({std::string(kWarningsKey), AnyValue::Array(std::move(warnings))});
  }
  s.events.reserve(in.logs.size());
  for (const auto& log : in.logs) s.events.push_back(ToEvent(log));
  s.status = std::move(derived.status);
  return s;
}

}  // namespace

std::vector<Span> ToJaeger(const Traces& traces) {
  std::vector<Span> out;
  out.reserve(traces.SpanCount());
  for (const auto& rs : traces.resource_spans) {
    const Process process = ToProcess(rs.resource);
    for (const auto& ss : rs.scope_spans)
      for (const auto& span : ss.spans) out.push_back(ToJaegerSpan(span, ss.scope, process));
  }
  return out;
}

std::string_view SearchKey(std::string_view tag_key) {
  if (tag_key == kStatusCodeKey) return "span.status";
  if (tag_key == kScopeNameKey) return "scope.name";
  if (tag_key == kScopeVersionKey) return "scope.version";
  return tag_key;
}

SpanId DependencyParent(const model::Span& span) {
  if (span.links.empty()) return span.parent_span_id;  // the common case, without building references
  std::optional<SpanId> follows_from;
  for (const SpanRef& ref : ToReferences(span)) {
    if (ref.trace_id != span.trace_id) continue;
    if (ref.type == RefType::kChildOf) return ref.span_id;
    if (!follows_from) follows_from = ref.span_id;
  }
  return follows_from.value_or(SpanId{});
}

Traces FromJaeger(const std::vector<Span>& spans) {
  Traces out;
  std::vector<const Process*> processes;  // parallel to out.resource_spans
  for (const auto& in : spans) {
    auto it = std::find_if(processes.begin(), processes.end(), [&](const Process* p) { return *p == in.process; });
    if (it == processes.end()) {
      processes.push_back(&in.process);
      out.resource_spans.push_back({ToResource(in.process), {}});
      it = processes.end() - 1;
    }
    ResourceSpans& rs = out.resource_spans[static_cast<size_t>(it - processes.begin())];
    DerivedFields derived = SplitDerivedTags(in.tags);
    auto scope = std::find_if(rs.scope_spans.begin(), rs.scope_spans.end(),
                              [&](const ScopeSpans& ss) { return ss.scope == derived.scope; });
    if (scope == rs.scope_spans.end()) {
      rs.scope_spans.push_back({derived.scope, {}});
      scope = rs.scope_spans.end() - 1;
    }
    scope->spans.push_back(FromJaegerSpan(in, std::move(derived)));
  }
  return out;
}

}  // namespace tb::model::jaeger
