#include "query/trace_query.h"

#include <algorithm>
#include <cctype>

#include "model/text.h"
#include "util/text.h"

namespace tb::query {
namespace {

// Go's strconv.ParseBool, which Jaeger uses for the "error" key.
std::optional<bool> ParseGoBool(std::string_view s) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"})
    if (s == t) return true;
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"})
    if (s == f) return false;
  return std::nullopt;
}

}  // namespace

bool HasAttribute(const model::Attributes& attributes, const std::string& key, const std::string& value) {
  for (const auto& kv : attributes) {
    if (kv.key == key && model::CanonicalString(kv.value) == value) return true;
  }
  return false;
}

SpanMatcher::SpanMatcher(const TraceQuery& query) : query_(query) {
  compiled_.reserve(query_.attributes.size());
  for (const auto& f : query_.attributes) {
    Compiled c{Special::kNone, &f, {}};
    if (f.key == "error") {
      c.special = Special::kError;
      auto b = ParseGoBool(f.value);
      if (!b) satisfiable_ = false;
      c.error_wanted = b.value_or(false);
    } else if (f.key == "span.kind") {
      c.special = Special::kSpanKind;
      std::string lower = AsciiLowercase(f.value);
      // Anything but a known non-empty kind name means "unspecified".
      if (lower.empty() || !model::ParseSpanKind(lower, &c.kind)) c.kind = model::SpanKind::kUnspecified;
    } else if (f.key == "span.status") {
      c.special = Special::kSpanStatus;
      std::string lower = AsciiLowercase(f.value);
      c.status = lower == "ok"      ? model::StatusCode::kOk
                 : lower == "error" ? model::StatusCode::kError
                                    : model::StatusCode::kUnset;
    } else if (f.key == "scope.name") {
      c.special = Special::kScopeName;
    } else if (f.key == "scope.version") {
      c.special = Special::kScopeVersion;
    } else if (f.key.starts_with("resource.")) {
      c.special = Special::kResource;
      c.resource_key = f.key.substr(9);
    } else {
      plain_.push_back(&f);
    }
    compiled_.push_back(std::move(c));
  }
  if (query_.start_time_min_unix_nano && query_.start_time_max_unix_nano &&
      *query_.start_time_min_unix_nano > *query_.start_time_max_unix_nano)
    satisfiable_ = false;
  if (query_.duration_min_nanos && query_.duration_max_nanos && *query_.duration_min_nanos > *query_.duration_max_nanos)
    satisfiable_ = false;
}

bool SpanMatcher::MatchesAttribute(const Compiled& c, const SpanView& v) const {
  const std::string& value = c.filter->value;
  switch (c.special) {
    case Special::kError: return (v.span.status.code == model::StatusCode::kError) == c.error_wanted;
    case Special::kSpanKind: return v.span.kind == c.kind;
    case Special::kSpanStatus: return v.span.status.code == c.status;
    case Special::kScopeName: return v.scope.name == value;
    case Special::kScopeVersion: return v.scope.version == value;
    case Special::kResource: return HasAttribute(v.resource.attributes, c.resource_key, value);
    case Special::kNone: break;
  }
  const std::string& key = c.filter->key;
  if (HasAttribute(v.span.attributes, key, value) || HasAttribute(v.scope.attributes, key, value) ||
      HasAttribute(v.resource.attributes, key, value))
    return true;
  for (const auto& e : v.span.events)
    if (HasAttribute(e.attributes, key, value)) return true;
  for (const auto& l : v.span.links)
    if (HasAttribute(l.attributes, key, value)) return true;
  return false;
}

bool SpanMatcher::decided_by_index() const {
  return satisfiable_ && !query_.start_time_min_unix_nano && !query_.start_time_max_unix_nano &&
         !query_.duration_min_nanos && !query_.duration_max_nanos && plain_.size() == compiled_.size();
}

bool SpanMatcher::wants_error_spans() const {
  return std::any_of(compiled_.begin(), compiled_.end(),
                     [](const Compiled& c) { return c.special == Special::kError && c.error_wanted; });
}

bool SpanMatcher::Matches(const SpanView& v, bool indexed_filters_hold) const {
  if (!satisfiable_) return false;
  if (!indexed_filters_hold) {
    if (!query_.service_name.empty() && model::ServiceName(v.resource) != query_.service_name) return false;
    if (!query_.operation_name.empty() && v.span.name != query_.operation_name) return false;
  }
  const uint64_t start = v.span.start_time_unix_nano;
  if (query_.start_time_min_unix_nano && start < *query_.start_time_min_unix_nano) return false;
  if (query_.start_time_max_unix_nano && start > *query_.start_time_max_unix_nano) return false;
  const uint64_t duration = v.span.duration_nanos();
  if (query_.duration_min_nanos && duration < *query_.duration_min_nanos) return false;
  if (query_.duration_max_nanos && duration > *query_.duration_max_nanos) return false;
  for (const auto& c : compiled_) {
    if (indexed_filters_hold && c.special == Special::kNone) continue;
    if (!MatchesAttribute(c, v)) return false;
  }
  return true;
}

}  // namespace tb::query
