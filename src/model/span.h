// The core span model: everything OTLP carries, with no protobuf types.
//
// Batches keep OTLP's nesting (resource → scope → spans) because that is how spans arrive and how
// they are returned; storage layers share one Resource/Scope between the spans that carry it.
// Equality is structural and type-exact: an int 1 never equals a double 1.0 or a string "1".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tb::model {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

// Raw bytes as an attribute value; distinct from a string so that the type survives a round trip.
struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

class AnyValue;
struct KeyValue;
using ArrayValue = std::vector<AnyValue>;
using KeyValueList = std::vector<KeyValue>;

// An attribute value of any OTLP type. The empty state is OTLP's "no value set".
class AnyValue {
 public:
  enum class Type : uint8_t { kEmpty, kString, kBool, kInt, kDouble, kBytes, kArray, kKvList };

  AnyValue() = default;
  // Defined below KeyValue: Clang instantiates AnyValue's destructor where these return one, and
  // that needs KeyValue complete (GCC defers it; the fuzz build uses Clang).
  static AnyValue String(std::string v);
  static AnyValue Bool(bool v);
  static AnyValue Int(int64_t v);
  static AnyValue Double(double v);
  static AnyValue FromBytes(std::string v);
  static AnyValue Array(ArrayValue v);
  static AnyValue KvList(KeyValueList v);

  Type type() const { return static_cast<Type>(v_.index()); }
  const std::string& string_value() const { return std::get<std::string>(v_); }
  bool bool_value() const { return std::get<bool>(v_); }
  int64_t int_value() const { return std::get<int64_t>(v_); }
  double double_value() const { return std::get<double>(v_); }
  const std::string& bytes_value() const { return std::get<Bytes>(v_).data; }
  const ArrayValue& array_value() const { return std::get<ArrayValue>(v_); }
  const KeyValueList& kvlist_value() const { return std::get<KeyValueList>(v_); }
  std::string* mutable_string() { return std::get_if<std::string>(&v_); }

  bool operator==(const AnyValue& other) const;

 private:
  using Storage = std::variant<std::monostate, std::string, bool, int64_t, double, Bytes, ArrayValue, KeyValueList>;
  template <typename T>
  explicit AnyValue(T v) : v_(std::move(v)) {}
  Storage v_;
};

struct KeyValue {
  std::string key;
  AnyValue value;
  bool operator==(const KeyValue&) const = default;
};

inline AnyValue AnyValue::String(std::string v) { return AnyValue(std::move(v)); }
inline AnyValue AnyValue::Bool(bool v) { return AnyValue(v); }
inline AnyValue AnyValue::Int(int64_t v) { return AnyValue(v); }
inline AnyValue AnyValue::Double(double v) { return AnyValue(v); }
inline AnyValue AnyValue::FromBytes(std::string v) { return AnyValue(Bytes{std::move(v)}); }

using Attributes = std::vector<KeyValue>;

// The entity that produced spans. schema_url is OTLP's ResourceSpans.schema_url.
struct Resource {
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
  std::string schema_url;
  bool operator==(const Resource&) const = default;
};

// The instrumentation library. schema_url is OTLP's ScopeSpans.schema_url.
struct Scope {
  std::string name;
  std::string version;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
  std::string schema_url;
  bool operator==(const Scope&) const = default;
};

enum class SpanKind : uint8_t {
  kUnspecified = 0,
  kInternal = 1,
  kServer = 2,
  kClient = 3,
  kProducer = 4,
  kConsumer = 5
};
enum class StatusCode : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

struct SpanStatus {
  StatusCode code = StatusCode::kUnset;
  std::string message;
  bool operator==(const SpanStatus&) const = default;
};

struct Event {
  uint64_t time_unix_nano = 0;
  std::string name;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
  bool operator==(const Event&) const = default;
};

struct Link {
  TraceId trace_id{};
  SpanId span_id{};
  std::string trace_state;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
  uint32_t flags = 0;
  bool operator==(const Link&) const = default;
};

struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zero: a root span
  std::string trace_state;
  uint32_t flags = 0;
  std::string name;
  SpanKind kind = SpanKind::kUnspecified;
  uint64_t start_time_unix_nano = 0;
  uint64_t end_time_unix_nano = 0;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
  std::vector<Event> events;
  uint32_t dropped_events_count = 0;
  std::vector<Link> links;
  uint32_t dropped_links_count = 0;
  SpanStatus status;

  bool has_parent() const { return parent_span_id != SpanId{}; }
  // end - start, or 0 when the end precedes the start.
  uint64_t duration_nanos() const {
    return end_time_unix_nano > start_time_unix_nano ? end_time_unix_nano - start_time_unix_nano : 0;
  }
  bool operator==(const Span&) const = default;
};

struct ScopeSpans {
  Scope scope;
  std::vector<Span> spans;
  bool operator==(const ScopeSpans&) const = default;
};

struct ResourceSpans {
  Resource resource;
  std::vector<ScopeSpans> scope_spans;
  bool operator==(const ResourceSpans&) const = default;
};

// A set of spans in OTLP's nesting: what one export carries, or one trace being returned.
struct Traces {
  std::vector<ResourceSpans> resource_spans;
  size_t SpanCount() const;
  // Removes the spans that started before `unix_nano` (retention), and the scopes and resources
  // left without spans; returns how many spans it removed.
  size_t DropSpansStartedBefore(uint64_t unix_nano);
  bool operator==(const Traces&) const = default;
};

// The resource attribute "service.name" if it is a string, else "".
std::string_view ServiceName(const Resource& resource);

// "server", "client", "producer", "consumer", "internal", or "" for unspecified (Jaeger's names).
std::string_view SpanKindName(SpanKind kind);
// The inverse of SpanKindName, case-insensitive; false for an unknown name.
bool ParseSpanKind(std::string_view name, SpanKind* kind);

}  // namespace tb::model
