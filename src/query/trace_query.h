// A trace search, and the predicate that decides whether one span satisfies it.
//
// Semantics are Jaeger's reference behaviour: every filter must hold on the same span; attribute
// filters match span, scope, resource, event or link attributes by canonical string; time and
// duration bounds are inclusive; a few keys are special (error, span.kind, span.status,
// scope.name, scope.version, resource.<key>).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/span.h"

namespace tb::query {

inline constexpr int kDefaultSearchDepth = 100;

struct AttributeFilter {
  std::string key;
  std::string value;  // canonical string (model::CanonicalString) of the wanted value
};

struct TraceQuery {
  std::string service_name;    // empty: any service
  std::string operation_name;  // empty: any operation
  std::vector<AttributeFilter> attributes;
  std::optional<uint64_t> start_time_min_unix_nano;  // inclusive
  std::optional<uint64_t> start_time_max_unix_nano;  // inclusive
  std::optional<uint64_t> duration_min_nanos;        // inclusive
  std::optional<uint64_t> duration_max_nanos;        // inclusive
  int search_depth = kDefaultSearchDepth;            // <= 0 means kDefaultSearchDepth

  size_t Limit() const { return search_depth > 0 ? static_cast<size_t>(search_depth) : kDefaultSearchDepth; }
};

// A span as stored, with the resource and scope it was reported under.
struct SpanView {
  const model::Span& span;
  const model::Resource& resource;
  const model::Scope& scope;
};

// TraceQuery compiled for evaluation: special keys are parsed once.
class SpanMatcher {
 public:
  explicit SpanMatcher(const TraceQuery& query);

  const TraceQuery& query() const { return query_; }
  // False when the query can match nothing (e.g. error=maybe), so callers can skip all work.
  bool satisfiable() const { return satisfiable_; }
  // Attribute filters that are plain key/value lookups in any attribute set; index-friendly.
  const std::vector<const AttributeFilter*>& plain_attributes() const { return plain_; }

  // True when the query has only service, operation and plain attribute filters: a span found in
  // all of their posting lists matches, with no need to look at it.
  bool decided_by_index() const;
  // True when only spans with status ERROR can match ("error=true").
  bool wants_error_spans() const;

  bool Matches(const SpanView& view) const { return Matches(view, false); }
  // Matches() for a span already known to carry the service, operation and plain attributes (it
  // was found in all their posting lists): only the remaining filters are checked.
  bool MatchesIndexedCandidate(const SpanView& view) const { return Matches(view, true); }

 private:
  enum class Special { kNone, kError, kSpanKind, kSpanStatus, kScopeName, kScopeVersion, kResource };
  struct Compiled {
    Special special;
    const AttributeFilter* filter;
    std::string resource_key;  // for kResource
    bool error_wanted = false;
    model::SpanKind kind = model::SpanKind::kUnspecified;
    model::StatusCode status = model::StatusCode::kUnset;
  };

  bool Matches(const SpanView& view, bool indexed_filters_hold) const;
  bool MatchesAttribute(const Compiled& c, const SpanView& view) const;

  TraceQuery query_;
  std::vector<Compiled> compiled_;
  std::vector<const AttributeFilter*> plain_;
  bool satisfiable_ = true;
};

// True if `attributes` holds `key` with canonical value `value`.
bool HasAttribute(const model::Attributes& attributes, const std::string& key, const std::string& value);

}  // namespace tb::query
