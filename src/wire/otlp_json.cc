#include "wire/otlp_json.h"

#include <array>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/text.h"
#include "wire/json_writer.h"

namespace tb::wire {
namespace {

using Json = nlohmann::json;
constexpr int kMaxValueDepth = 64;

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

// A JSON path kept on the stack while descending; rendered only when an error needs it, so that
// the happy path allocates nothing for it. A child must not outlive its parent.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;  // a member name; unused for an array element
  size_t index = 0;
  bool is_index = false;

  Path Member(std::string_view k) const { return Path{this, k, 0, false}; }
  Path Element(size_t i) const { return Path{this, {}, i, true}; }

  // "resourceSpans[0].scopeSpans[1].spans[3].traceId"; "" for the document itself.
  std::string ToString() const {
    std::vector<const Path*> chain;
    for (const Path* p = this; p != nullptr && p->parent != nullptr; p = p->parent) chain.push_back(p);
    std::string s;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      if ((*it)->is_index) {
        s += '[';
        s += std::to_string((*it)->index);
        s += ']';
      } else {
        if (!s.empty()) s += '.';
        s += (*it)->key;
      }
    }
    return s;
  }
};

Status Error(const Path& path, std::string_view message) {
  std::string s = path.ToString();
  if (s.empty()) s = "document";
  s += ": ";
  s += message;
  return Status::InvalidArgument(std::move(s));
}

Status WrongType(const Path& path, std::string_view expected, std::string_view got) {
  std::string m = "expected ";
  m += expected;
  m += ", got ";
  m += got;
  return Error(path, m);
}

Status TypeError(const Path& path, std::string_view expected, const Json& got) {
  return WrongType(path, expected, got.type_name());
}

// A string for an error message: quoted, and cut short if long.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string q = "\"";
  q += s.substr(0, kMax);
  q += s.size() > kMax ? "\"..." : "\"";
  return q;
}

// Matches a member name in its lowerCamelCase or its proto snake_case spelling.
bool Is(std::string_view key, std::string_view camel, std::string_view snake) { return key == camel || key == snake; }

// Calls f(key, value, path) for every member of an object whose value is not null (null means default).
template <typename F>
Status ForEachMember(Json& j, const Path& path, F&& f) {
  if (!j.is_object()) return TypeError(path, "an object", j);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_null()) continue;
    const std::string& key = it.key();
    const Path child = path.Member(key);
    TB_RETURN_IF_ERROR(f(std::string_view(key), it.value(), child));
  }
  return Status::Ok();
}

// Appends one element per array entry to *out, each filled by parse(element_json, path, element*).
template <typename T, typename F>
Status ParseArray(Json& j, const Path& path, std::vector<T>* out, F&& parse) {
  if (!j.is_array()) return TypeError(path, "an array", j);
  out->reserve(out->size() + j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    out->emplace_back();
    TB_RETURN_IF_ERROR(parse(j[i], path.Element(i), &out->back()));
  }
  return Status::Ok();
}

Status TakeString(Json& j, const Path& path, std::string* out) {
  if (!j.is_string()) return TypeError(path, "a string", j);
  *out = std::move(j.get_ref<std::string&>());
  return Status::Ok();
}

// An unsigned integer up to `max`, as a JSON number or a decimal string.
Status ParseUnsigned(const Json& j, const Path& path, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  if (j.is_number_unsigned()) {
    v = j.get<uint64_t>();
  } else if (j.is_number_integer()) {  // negative
    return Error(path, "expected an unsigned integer, got " + std::to_string(j.get<int64_t>()));
  } else if (j.is_number_float()) {
    const double d = j.get<double>();
    // static_cast<double>(max) + 1 is 2^32 or 2^64, both exact.
    if (!(d >= 0 && d < static_cast<double>(max) + 1.0 && d == std::floor(d)))
      return Error(path, "expected an unsigned integer, got " + model::FormatDoubleShortest(d));
    v = static_cast<uint64_t>(d);
  } else if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec == std::errc::invalid_argument || end != s.data() + s.size())
      return Error(path, "expected an unsigned decimal integer, got " + Quote(s));
    if (ec == std::errc::result_out_of_range) return Error(path, "integer out of range: " + Quote(s));
  } else {
    return TypeError(path, "an integer (number or decimal string)", j);
  }
  if (v > max) return Error(path, "integer out of range: " + std::to_string(v));
  *out = v;
  return Status::Ok();
}

Status ParseUint64(const Json& j, const Path& path, uint64_t* out) {
  return ParseUnsigned(j, path, std::numeric_limits<uint64_t>::max(), out);
}

Status ParseUint32(const Json& j, const Path& path, uint32_t* out) {
  uint64_t v = 0;
  TB_RETURN_IF_ERROR(ParseUnsigned(j, path, std::numeric_limits<uint32_t>::max(), &v));
  *out = static_cast<uint32_t>(v);
  return Status::Ok();
}

Status ParseInt64(const Json& j, const Path& path, int64_t* out) {
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return Error(path, "integer out of range: " + std::to_string(v));
    *out = static_cast<int64_t>(v);
  } else if (j.is_number_integer()) {
    *out = j.get<int64_t>();
  } else if (j.is_number_float()) {
    const double d = j.get<double>();
    // -2^63 is exact; 2^63 is the first value out of range.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == std::floor(d)))
      return Error(path, "expected an integer, got " + model::FormatDoubleShortest(d));
    *out = static_cast<int64_t>(d);
  } else if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    if (s.empty() || ec == std::errc::invalid_argument || end != s.data() + s.size())
      return Error(path, "expected a decimal integer, got " + Quote(s));
    if (ec == std::errc::result_out_of_range) return Error(path, "integer out of range: " + Quote(s));
  } else {
    return TypeError(path, "an integer (number or decimal string)", j);
  }
  return Status::Ok();
}

Status ParseDouble(const Json& j, const Path& path, double* out) {
  if (j.is_number()) {
    *out = j.get<double>();
    return Status::Ok();
  }
  if (!j.is_string()) return TypeError(path, "a number", j);
  const std::string& s = j.get_ref<const std::string&>();
  if (s == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
  } else if (s == "Infinity") {
    *out = std::numeric_limits<double>::infinity();
  } else if (s == "-Infinity") {
    *out = -std::numeric_limits<double>::infinity();
  } else {
    // from_chars also reads "inf" and "nan"; only the three names above are OTLP/JSON's.
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(*out))
      return Error(path, "expected a number, \"NaN\", \"Infinity\" or \"-Infinity\", got " + Quote(s));
  }
  return Status::Ok();
}

// An enum as its integer value (0 .. names.size()-1) or its proto name.
template <size_t N>
Status ParseEnum(const Json& j, const Path& path, const std::string_view (&names)[N], std::string_view what, int* out) {
  if (j.is_number_integer()) {  // non-negative integers are number_unsigned, negative ones are not
    if (!j.is_number_unsigned() || j.get<uint64_t>() >= N)
      return Error(path, "unknown " + std::string(what) + " " + j.dump());  // a number: dump cannot throw
    *out = static_cast<int>(j.get<uint64_t>());
    return Status::Ok();
  }
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    for (size_t i = 0; i < N; ++i) {
      if (s == names[i]) {
        *out = static_cast<int>(i);
        return Status::Ok();
      }
    }
    return Error(path, "unknown " + std::string(what) + " " + Quote(s));
  }
  return TypeError(path, "an integer or an enum name", j);
}

constexpr std::string_view kSpanKindNames[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                                               "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
constexpr std::string_view kStatusCodeNames[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};

// base64, standard or URL-safe alphabet, with or without padding (as the proto3 JSON mapping allows).
Status ParseBytes(const Json& j, const Path& path, std::string* out) {
  if (!j.is_string()) return TypeError(path, "a base64 string", j);
  const std::string& s = j.get_ref<const std::string&>();
  std::optional<std::string> decoded;
  if (s.size() % 4 == 0 && s.find_first_of("-_") == std::string::npos) {
    decoded = model::Base64Decode(s);
  } else if (s.size() % 4 != 1) {  // a remainder of 1 is never valid base64
    std::string standard = s;
    for (char& c : standard) {
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
    standard.append((4 - standard.size() % 4) % 4, '=');
    decoded = model::Base64Decode(standard);
  }
  if (!decoded) return Error(path, "invalid base64: " + Quote(s));
  *out = std::move(*decoded);
  return Status::Ok();
}

template <size_t N>
Status ParseId(const Json& j, const Path& path, std::array<uint8_t, N>* out) {
  if (!j.is_string()) return TypeError(path, "a hex string", j);
  const std::string& s = j.get_ref<const std::string&>();
  const std::string expected = "expected " + std::to_string(2 * N) + " hex digits, got ";
  if (s.size() != 2 * N) return Error(path, expected + std::to_string(s.size()) + " characters");
  auto id = model::HexDecodeId<N>(s);
  if (!id) return Error(path, expected + "non-hex characters in " + Quote(s));
  *out = *id;
  return Status::Ok();
}

// A trace or span ID that identifies something: present, well-formed and not all zero.
template <size_t N>
Status ParseRequiredId(const Json& j, const Path& path, std::array<uint8_t, N>* out) {
  TB_RETURN_IF_ERROR(ParseId(j, path, out));
  if (*out == std::array<uint8_t, N>{}) return Error(path, "must not be all zero");
  return Status::Ok();
}

Status ParseValue(Json& j, const Path& path, int depth, model::AnyValue* out);

Status ParseKeyValue(Json& j, const Path& path, int depth, model::KeyValue* out) {
  return ForEachMember(j, path, [&](std::string_view key, Json& v, const Path& p) -> Status {
    if (key == "key") return TakeString(v, p, &out->key);
    if (key == "value") return ParseValue(v, p, depth, &out->value);
    return Status::Ok();
  });
}

Status ParseAttributes(Json& j, const Path& path, int depth, model::Attributes* out) {
  return ParseArray(j, path, out,
                    [depth](Json& e, const Path& p, model::KeyValue* kv) { return ParseKeyValue(e, p, depth, kv); });
}

// {"values": [...]}, the body of arrayValue and kvlistValue.
template <typename T, typename F>
Status ParseValues(Json& j, const Path& path, std::vector<T>* out, F&& parse) {
  return ForEachMember(j, path, [&](std::string_view key, Json& v, const Path& p) -> Status {
    if (key == "values") return ParseArray(v, p, out, parse);
    return Status::Ok();
  });
}

Status ParseValue(Json& j, const Path& path, int depth, model::AnyValue* out) {
  if (depth > kMaxValueDepth) return Error(path, "attribute value nested deeper than 64 levels");
  bool set = false;
  return ForEachMember(j, path, [&](std::string_view key, Json& v, const Path& p) -> Status {
    model::AnyValue value;
    if (Is(key, "stringValue", "string_value")) {
      std::string s;
      TB_RETURN_IF_ERROR(TakeString(v, p, &s));
      value = model::AnyValue::String(std::move(s));
    } else if (Is(key, "boolValue", "bool_value")) {
      if (!v.is_boolean()) return TypeError(p, "a boolean", v);
      value = model::AnyValue::Bool(v.get<bool>());
    } else if (Is(key, "intValue", "int_value")) {
      int64_t i = 0;
      TB_RETURN_IF_ERROR(ParseInt64(v, p, &i));
      value = model::AnyValue::Int(i);
    } else if (Is(key, "doubleValue", "double_value")) {
      double d = 0;
      TB_RETURN_IF_ERROR(ParseDouble(v, p, &d));
      value = model::AnyValue::Double(d);
    } else if (Is(key, "bytesValue", "bytes_value")) {
      std::string b;
      TB_RETURN_IF_ERROR(ParseBytes(v, p, &b));
      value = model::AnyValue::FromBytes(std::move(b));
    } else if (Is(key, "arrayValue", "array_value")) {
      model::ArrayValue values;
      TB_RETURN_IF_ERROR(ParseValues(v, p, &values, [depth](Json& e, const Path& ep, model::AnyValue* ev) {
        return ParseValue(e, ep, depth + 1, ev);
      }));
      value = model::AnyValue::Array(std::move(values));
    } else if (Is(key, "kvlistValue", "kvlist_value")) {
      model::KeyValueList values;
      TB_RETURN_IF_ERROR(ParseValues(v, p, &values, [depth](Json& e, const Path& ep, model::KeyValue* kv) {
        return ParseKeyValue(e, ep, depth + 1, kv);
      }));
      value = model::AnyValue::KvList(std::move(values));
    } else {
      return Status::Ok();  // unknown member
    }
    if (set) return Error(p, "more than one of the value fields is set");
    set = true;
    *out = std::move(value);
    return Status::Ok();
  });
}

Status ParseEvent(Json& j, const Path& path, model::Event* out) {
  return ForEachMember(j, path, [&](std::string_view key, Json& v, const Path& p) -> Status {
    if (Is(key, "timeUnixNano", "time_unix_nano")) return ParseUint64(v, p, &out->time_unix_nano);
    if (key == "name") return TakeString(v, p, &out->name);
    if (key == "attributes") return ParseAttributes(v, p, 0, &out->attributes);
    if (Is(key, "droppedAttributesCount", "dropped_attributes_count"))
      return ParseUint32(v, p, &out->dropped_attributes_count);
    return Status::Ok();
  });
}

Status ParseLink(Json& j, const Path& path, model::Link* out) {
  bool has_trace_id = false, has_span_id = false;
  TB_RETURN_IF_ERROR(ForEachMember(j, path, [&](std::string_view key, Json& v, const Path& p) -> Status {
    if (Is(key, "traceId", "trace_id")) {
      has_trace_id = true;
      return ParseRequiredId(v, p, &out->trace_id);
    }
    if (Is(key, "spanId", "span_id")) {
      has_span_id = true;
      return ParseRequiredId(v, p, &out->span_id);
    }
    if (Is(key, "traceState", "trace_state")) return TakeString(v, p, &out->trace_state);
    if (key == "attributes") return ParseAttributes(v, p, 0, &out->attributes);
    if (Is(key, "droppedAttributesCount", "dropped_attributes_count"))
      return ParseUint32(v, p, &out->dropped_attributes_count);
    if (key == "flags") return ParseUint32(v, p, &out->flags);
    return Status::Ok();
  }));
  if (!has_trace_id) return Error(path.Member("traceId"), "required field is missing");
  if (!has_span_id) return Error(path.Member("spanId"), "required field is missing");
  return Status::Ok();
}

Status ParseStatus(Json& j, const Path& path, model::SpanStatus* out) {
  return ForEachMember(j, path, [&](std::string_view key, Json& v, const Path& p) -> Status {
    if (key == "message") return TakeString(v, p, &out->message);
    if (key == "code") {
      int code = 0;
      TB_RETURN_IF_ERROR(ParseEnum(v, p, kStatusCodeNames, "status code", &code));
      out->code = static_cast<model::StatusCode>(code);
    }
    return Status::Ok();
  });
}

Status ParseSpan(Json& j, const Path& path, model::Span* out) {
  bool has_trace_id = false, has_span_id = false;
  TB_RETURN_IF_ERROR(ForEachMember(j, path, [&](std::string_view key, Json& v, const Path& p) -> Status {
    if (Is(key, "traceId", "trace_id")) {
      has_trace_id = true;
      return ParseRequiredId(v, p, &out->trace_id);
    }
    if (Is(key, "spanId", "span_id")) {
      has_span_id = true;
      return ParseRequiredId(v, p, &out->span_id);
    }
    if (Is(key, "parentSpanId", "parent_span_id")) {
      if (v.is_string() && v.get_ref<const std::string&>().empty()) {
        out->parent_span_id = {};
        return Status::Ok();
      }
      return ParseId(v, p, &out->parent_span_id);
    }
    if (Is(key, "traceState", "trace_state")) return TakeString(v, p, &out->trace_state);
    if (key == "flags") return ParseUint32(v, p, &out->flags);
    if (key == "name") return TakeString(v, p, &out->name);
    if (key == "kind") {
      int kind = 0;
      TB_RETURN_IF_ERROR(ParseEnum(v, p, kSpanKindNames, "span kind", &kind));
      out->kind = static_cast<model::SpanKind>(kind);
      return Status::Ok();
    }
    if (Is(key, "startTimeUnixNano", "start_time_unix_nano")) return ParseUint64(v, p, &out->start_time_unix_nano);
    if (Is(key, "endTimeUnixNano", "end_time_unix_nano")) return ParseUint64(v, p, &out->end_time_unix_nano);
    if (key == "attributes") return ParseAttributes(v, p, 0, &out->attributes);
    if (Is(key, "droppedAttributesCount", "dropped_attributes_count"))
      return ParseUint32(v, p, &out->dropped_attributes_count);
    if (key == "events") return ParseArray(v, p, &out->events, ParseEvent);
    if (Is(key, "droppedEventsCount", "dropped_events_count")) return ParseUint32(v, p, &out->dropped_events_count);
    if (key == "links") return ParseArray(v, p, &out->links, ParseLink);
    if (Is(key, "droppedLinksCount", "dropped_links_count")) return ParseUint32(v, p, &out->dropped_links_count);
    if (key == "status") return ParseStatus(v, p, &out->status);
    return Status::Ok();
  }));
  if (!has_trace_id) return Error(path.Member("traceId"), "required field is missing");
  if (!has_span_id) return Error(path.Member("spanId"), "required field is missing");
  return Status::Ok();
}

Status ParseScope(Json& j, const Path& path, model::Scope* out) {
  return ForEachMember(j, path, [&](std::string_view key, Json& v, const Path& p) -> Status {
    if (key == "name") return TakeString(v, p, &out->name);
    if (key == "version") return TakeString(v, p, &out->version);
    if (key == "attributes") return ParseAttributes(v, p, 0, &out->attributes);
    if (Is(key, "droppedAttributesCount", "dropped_attributes_count"))
      return ParseUint32(v, p, &out->dropped_attributes_count);
    return Status::Ok();
  });
}

Status ParseResource(Json& j, const Path& path, model::Resource* out) {
  return ForEachMember(j, path, [&](std::string_view key, Json& v, const Path& p) -> Status {
    if (key == "attributes") return ParseAttributes(v, p, 0, &out->attributes);
    if (Is(key, "droppedAttributesCount", "dropped_attributes_count"))
      return ParseUint32(v, p, &out->dropped_attributes_count);
    return Status::Ok();
  });
}

// Builds the DOM of one JSON subtree from SAX events, the way nlohmann's own DOM parser does.
class SubtreeBuilder {
 public:
  bool active() const { return active_; }
  Json& root() { return root_; }
  void Start() { active_ = true; }
  void Finish() {
    active_ = false;
    root_ = nullptr;  // frees the subtree (nlohmann destroys nested values iteratively)
  }

  // Each returns true when the value completes the subtree.
  bool Scalar(Json&& v) {
    *Slot() = std::move(v);
    return stack_.empty();
  }
  void Open(Json&& container) {
    Json* slot = Slot();
    *slot = std::move(container);
    stack_.push_back(slot);
  }
  void Key(std::string& key) { key_slot_ = &(*stack_.back()->get_ptr<Json::object_t*>())[std::move(key)]; }
  bool Close() {
    stack_.pop_back();
    return stack_.empty();
  }

 private:
  // Where the next value goes. Pointers stay valid: only the innermost open container grows.
  Json* Slot() {
    if (stack_.empty()) return &root_;
    if (auto* array = stack_.back()->get_ptr<Json::array_t*>()) return &array->emplace_back();
    return key_slot_;
  }

  Json root_;
  std::vector<Json*> stack_;  // the open containers, innermost last
  Json* key_slot_ = nullptr;  // the member the last key() named
  bool active_ = false;
};

// Reads a document with nlohmann's SAX parser. The outer structure (resourceSpans, scopeSpans and
// spans arrays) is followed event by event; each span, resource, scope and schemaUrl is collected
// into a small DOM and converted by the Parse* functions above, then freed. So memory stays at the
// size of the model plus one span, instead of a DOM of the whole request (about 12x its size).
class TracesReader {
 public:
  explicit TracesReader(model::Traces* out) : out_(out) {}
  Status TakeStatus() { return std::move(status_); }

  // nlohmann's SAX interface.
  bool null() { return Scalar("null", Json(nullptr)); }
  bool boolean(bool v) { return Scalar("boolean", Json(v)); }
  bool number_integer(Json::number_integer_t v) { return Scalar("number", Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return Scalar("number", Json(v)); }
  bool number_float(Json::number_float_t v, const Json::string_t& /*text*/) { return Scalar("number", Json(v)); }
  bool string(Json::string_t& v) { return Scalar("string", Json(std::move(v))); }
  bool binary(Json::binary_t& /*v*/) { return true; }  // JSON text has no binary values
  bool start_object(std::size_t /*elements*/) { return Open(/*object=*/true); }
  bool start_array(std::size_t /*elements*/) { return Open(/*object=*/false); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(Json::string_t& k) {
    if (skip_depth_ > 0) return true;
    if (subtree_.active()) {
      subtree_.Key(k);
    } else {
      frames_.back().pending_key = std::move(k);
    }
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/, const Json::exception& e) {
    // parse_error for bad syntax, out_of_range for a number such as 1e999.
    return Fail(Status::InvalidArgument(std::string("invalid JSON: ") + e.what()));
  }

 private:
  enum class FrameType : uint8_t {
    kDocument,
    kResourceSpansList,
    kResourceSpans,
    kScopeSpansList,
    kScopeSpans,
    kSpanList
  };
  enum class Target : uint8_t { kResource, kResourceSchemaUrl, kScope, kScopeSchemaUrl, kSpan };

  // An open object or array of the outer structure.
  struct Frame {
    explicit Frame(FrameType t) : type(t) {}
    FrameType type;
    std::string key;          // its member name in the enclosing object, for a list
    size_t index = 0;         // its place in the enclosing list, for an object other than the document
    std::string pending_key;  // in an object: the member whose value comes next
    size_t count = 0;         // in a list: the elements seen so far
    model::ResourceSpans* resource_spans = nullptr;
    model::ScopeSpans* scope_spans = nullptr;
  };

  static bool IsList(FrameType t) {
    return t == FrameType::kResourceSpansList || t == FrameType::kScopeSpansList || t == FrameType::kSpanList;
  }

  bool Fail(Status s) {
    status_ = std::move(s);
    return false;
  }

  // Calls f with the path of the value that comes next in the innermost frame.
  template <typename F>
  Status AtNextValue(F&& f) {
    Path nodes[8];  // at most six frames
    size_t n = 0;
    for (size_t i = 1; i < frames_.size() && n + 1 < std::size(nodes); ++i, ++n) {
      const Frame& fr = frames_[i];
      nodes[n + 1] = IsList(fr.type) ? nodes[n].Member(fr.key) : nodes[n].Element(fr.index);
    }
    const Frame& top = frames_.back();
    const Path leaf = IsList(top.type) ? nodes[n].Element(top.count) : nodes[n].Member(top.pending_key);
    return f(leaf);
  }

  bool Scalar(std::string_view type_name, Json&& v) {
    if (skip_depth_ > 0) return true;
    if (subtree_.active()) return subtree_.Scalar(std::move(v)) ? FinishSubtree() : true;
    return OuterValue(type_name, &v);
  }

  bool Open(bool object) {
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return true;
    }
    if (subtree_.active()) {
      subtree_.Open(object ? Json::object() : Json::array());
      return true;
    }
    return OuterValue(object ? "object" : "array", nullptr);
  }

  bool Close() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    if (subtree_.active()) return subtree_.Close() ? FinishSubtree() : true;
    frames_.pop_back();
    return true;
  }

  // A value (scalar, or the start of an object or array) met in the outer structure.
  bool OuterValue(std::string_view type_name, Json* scalar) {
    if (frames_.empty()) {
      if (type_name != "object") return Fail(WrongType(Path{}, "a JSON object", type_name));
      frames_.emplace_back(FrameType::kDocument);
      return true;
    }
    Frame& f = frames_.back();
    const std::string& key = f.pending_key;
    switch (f.type) {
      case FrameType::kDocument:
        if (Is(key, "resourceSpans", "resource_spans")) return OpenList(type_name, FrameType::kResourceSpansList);
        return Ignore(type_name);
      case FrameType::kResourceSpans:
        if (key == "resource") return Collect(type_name, scalar, Target::kResource);
        if (Is(key, "scopeSpans", "scope_spans")) return OpenList(type_name, FrameType::kScopeSpansList);
        if (Is(key, "schemaUrl", "schema_url")) return Collect(type_name, scalar, Target::kResourceSchemaUrl);
        return Ignore(type_name);
      case FrameType::kScopeSpans:
        if (key == "scope") return Collect(type_name, scalar, Target::kScope);
        if (key == "spans") return OpenList(type_name, FrameType::kSpanList);
        if (Is(key, "schemaUrl", "schema_url")) return Collect(type_name, scalar, Target::kScopeSchemaUrl);
        return Ignore(type_name);
      case FrameType::kResourceSpansList:
      case FrameType::kScopeSpansList: {
        if (type_name != "object")
          return Fail(AtNextValue([&](const Path& p) { return WrongType(p, "an object", type_name); }));
        Frame element{f.type == FrameType::kResourceSpansList ? FrameType::kResourceSpans : FrameType::kScopeSpans};
        element.index = f.count++;
        if (f.type == FrameType::kResourceSpansList) {
          element.resource_spans = &out_->resource_spans.emplace_back();
        } else {
          element.resource_spans = f.resource_spans;
          element.scope_spans = &element.resource_spans->scope_spans.emplace_back();
        }
        frames_.push_back(std::move(element));  // invalidates f
        return true;
      }
      case FrameType::kSpanList: return Collect(type_name, scalar, Target::kSpan);
    }
    return true;
  }

  bool OpenList(std::string_view type_name, FrameType list) {
    if (type_name == "null") return true;  // null means default: no elements
    if (type_name != "array")
      return Fail(AtNextValue([&](const Path& p) { return WrongType(p, "an array", type_name); }));
    Frame frame{list};
    frame.key = frames_.back().pending_key;
    frame.resource_spans = frames_.back().resource_spans;
    frame.scope_spans = frames_.back().scope_spans;
    frames_.push_back(std::move(frame));
    return true;
  }

  // Skips the value of a member this codec does not know.
  bool Ignore(std::string_view type_name) {
    if (type_name == "object" || type_name == "array") skip_depth_ = 1;
    return true;
  }

  // Collects a value into a DOM for the converters; a scalar completes at once.
  bool Collect(std::string_view type_name, Json* scalar, Target target) {
    if (type_name == "null" && target != Target::kSpan) return true;  // null means default
    target_ = target;
    subtree_.Start();
    if (scalar != nullptr) return subtree_.Scalar(std::move(*scalar)) ? FinishSubtree() : true;
    subtree_.Open(type_name == "object" ? Json::object() : Json::array());
    return true;
  }

  bool FinishSubtree() {
    Json& v = subtree_.root();
    Frame& f = frames_.back();
    Status s = AtNextValue([&](const Path& p) -> Status {
      switch (target_) {
        case Target::kResource: return ParseResource(v, p, &f.resource_spans->resource);
        case Target::kResourceSchemaUrl: return TakeString(v, p, &f.resource_spans->resource.schema_url);
        case Target::kScope: return ParseScope(v, p, &f.scope_spans->scope);
        case Target::kScopeSchemaUrl: return TakeString(v, p, &f.scope_spans->scope.schema_url);
        case Target::kSpan: return ParseSpan(v, p, &f.scope_spans->spans.emplace_back());
      }
      return Status::Ok();
    });
    if (target_ == Target::kSpan) ++f.count;
    subtree_.Finish();
    return s.ok() ? true : Fail(std::move(s));
  }

  model::Traces* out_;
  Status status_;
  std::vector<Frame> frames_;  // the outer structure, document first
  SubtreeBuilder subtree_;     // the value being collected, if active
  Target target_ = Target::kSpan;
  size_t skip_depth_ = 0;  // > 0 while skipping an unknown member's object or array
};

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

class Encoder {
 public:
  explicit Encoder(std::string* out) : w_(out) {}

  void Traces(const model::Traces& traces) {
    w_.BeginObject();
    if (!traces.resource_spans.empty()) {
      w_.Key("resourceSpans");
      Array(traces.resource_spans, [this](const model::ResourceSpans& rs) { ResourceSpans(rs); });
    }
    w_.EndObject();
  }

 private:
  template <typename T, typename F>
  void Array(const std::vector<T>& items, F&& write) {
    w_.BeginArray();
    for (const auto& item : items) write(item);
    w_.EndArray();
  }

  // 64-bit integers are strings in the proto3 JSON mapping.
  void Int64String(int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    w_.String(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
  }
  void Uint64String(uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    w_.String(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
  }
  void Double(double d) {
    if (std::isfinite(d)) {
      w_.FiniteDouble(d);
    } else {
      w_.String(model::FormatDoubleShortest(d));  // "NaN", "Infinity", "-Infinity"
    }
  }
  template <size_t N>
  void Id(const std::array<uint8_t, N>& id) {
    w_.String(model::HexEncode(id));
  }

  // Members omitted when they hold their default value, as the proto3 JSON mapping does.
  void OptString(std::string_view key, std::string_view v) {
    if (!v.empty()) w_.Member(key, v);
  }
  void OptUint32(std::string_view key, uint32_t v) {
    if (v != 0) w_.Member(key, uint64_t{v});
  }
  void OptAttributes(const model::Attributes& attributes, uint32_t dropped) {
    if (!attributes.empty()) {
      w_.Key("attributes");
      Array(attributes, [this](const model::KeyValue& kv) { KeyValue(kv); });
    }
    OptUint32("droppedAttributesCount", dropped);
  }

  void KeyValue(const model::KeyValue& kv) {
    w_.BeginObject();
    w_.Member("key", kv.key);
    w_.Key("value");
    Value(kv.value);
    w_.EndObject();
  }

  void Value(const model::AnyValue& v) {
    using T = model::AnyValue::Type;
    w_.BeginObject();
    switch (v.type()) {
      case T::kEmpty: break;
      case T::kString: w_.Member("stringValue", v.string_value()); break;
      case T::kBool:
        w_.Key("boolValue");
        w_.Bool(v.bool_value());
        break;
      case T::kInt:
        w_.Key("intValue");
        Int64String(v.int_value());
        break;
      case T::kDouble:
        w_.Key("doubleValue");
        Double(v.double_value());
        break;
      case T::kBytes: w_.Member("bytesValue", model::Base64Encode(v.bytes_value())); break;
      case T::kArray:
        w_.Key("arrayValue");
        w_.BeginObject();
        if (!v.array_value().empty()) {
          w_.Key("values");
          Array(v.array_value(), [this](const model::AnyValue& e) { Value(e); });
        }
        w_.EndObject();
        break;
      case T::kKvList:
        w_.Key("kvlistValue");
        w_.BeginObject();
        if (!v.kvlist_value().empty()) {
          w_.Key("values");
          Array(v.kvlist_value(), [this](const model::KeyValue& kv) { KeyValue(kv); });
        }
        w_.EndObject();
        break;
    }
    w_.EndObject();
  }

  void Event(const model::Event& e) {
    w_.BeginObject();
    if (e.time_unix_nano != 0) {
      w_.Key("timeUnixNano");
      Uint64String(e.time_unix_nano);
    }
    OptString("name", e.name);
    OptAttributes(e.attributes, e.dropped_attributes_count);
    w_.EndObject();
  }

  void Link(const model::Link& l) {
    w_.BeginObject();
    w_.Key("traceId");
    Id(l.trace_id);
    w_.Key("spanId");
    Id(l.span_id);
    OptString("traceState", l.trace_state);
    OptAttributes(l.attributes, l.dropped_attributes_count);
    OptUint32("flags", l.flags);
    w_.EndObject();
  }

  void Span(const model::Span& s) {
    w_.BeginObject();
    w_.Key("traceId");
    Id(s.trace_id);
    w_.Key("spanId");
    Id(s.span_id);
    OptString("traceState", s.trace_state);
    if (s.has_parent()) {
      w_.Key("parentSpanId");
      Id(s.parent_span_id);
    }
    OptUint32("flags", s.flags);
    w_.Member("name", s.name);
    OptUint32("kind", static_cast<uint32_t>(s.kind));
    w_.Key("startTimeUnixNano");
    Uint64String(s.start_time_unix_nano);
    w_.Key("endTimeUnixNano");
    Uint64String(s.end_time_unix_nano);
    OptAttributes(s.attributes, s.dropped_attributes_count);
    if (!s.events.empty()) {
      w_.Key("events");
      Array(s.events, [this](const model::Event& e) { Event(e); });
    }
    OptUint32("droppedEventsCount", s.dropped_events_count);
    if (!s.links.empty()) {
      w_.Key("links");
      Array(s.links, [this](const model::Link& l) { Link(l); });
    }
    OptUint32("droppedLinksCount", s.dropped_links_count);
    if (s.status.code != model::StatusCode::kUnset || !s.status.message.empty()) {
      w_.Key("status");
      w_.BeginObject();
      OptString("message", s.status.message);
      OptUint32("code", static_cast<uint32_t>(s.status.code));
      w_.EndObject();
    }
    w_.EndObject();
  }

  void ScopeSpans(const model::ScopeSpans& ss) {
    w_.BeginObject();
    w_.Key("scope");
    w_.BeginObject();
    OptString("name", ss.scope.name);
    OptString("version", ss.scope.version);
    OptAttributes(ss.scope.attributes, ss.scope.dropped_attributes_count);
    w_.EndObject();
    if (!ss.spans.empty()) {
      w_.Key("spans");
      Array(ss.spans, [this](const model::Span& s) { Span(s); });
    }
    OptString("schemaUrl", ss.scope.schema_url);
    w_.EndObject();
  }

  void ResourceSpans(const model::ResourceSpans& rs) {
    w_.BeginObject();
    w_.Key("resource");
    w_.BeginObject();
    OptAttributes(rs.resource.attributes, rs.resource.dropped_attributes_count);
    w_.EndObject();
    if (!rs.scope_spans.empty()) {
      w_.Key("scopeSpans");
      Array(rs.scope_spans, [this](const model::ScopeSpans& ss) { ScopeSpans(ss); });
    }
    OptString("schemaUrl", rs.resource.schema_url);
    w_.EndObject();
  }

  JsonWriter w_;
};

}  // namespace

Result<model::Traces> ParseOtlpJson(std::string_view json) {
  try {
    model::Traces traces;
    TracesReader reader(&traces);
    if (!Json::sax_parse(json.begin(), json.end(), &reader)) {
      Status status = reader.TakeStatus();
      if (status.ok()) status = Status::InvalidArgument("invalid JSON");
      return status;
    }
    return traces;
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory while parsing OTLP/JSON");
  } catch (const std::exception& e) {  // a bug here, not bad input
    return Status::Internal(std::string("OTLP/JSON parser: ") + e.what());
  }
}

std::string EncodeOtlpJson(const model::Traces& traces) {
  std::string out;
  out.reserve(traces.SpanCount() * 256 + 64);
  Encoder(&out).Traces(traces);
  return out;
}

}  // namespace tb::wire
