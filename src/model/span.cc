#include "model/span.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace tb::model {

AnyValue AnyValue::Array(ArrayValue v) { return AnyValue(std::move(v)); }
AnyValue AnyValue::KvList(KeyValueList v) { return AnyValue(std::move(v)); }

bool AnyValue::operator==(const AnyValue& other) const {
  if (v_.index() != other.v_.index()) return false;
  // Doubles compare by bit pattern so that NaN equals itself after a round trip.
  if (type() == Type::kDouble) {
    double a = double_value(), b = other.double_value();
    return std::memcmp(&a, &b, sizeof a) == 0;
  }
  return v_ == other.v_;
}

size_t Traces::SpanCount() const {
  size_t n = 0;
  for (const auto& rs : resource_spans)
    for (const auto& ss : rs.scope_spans) n += ss.spans.size();
  return n;
}

size_t Traces::DropSpansStartedBefore(uint64_t unix_nano) {
  size_t dropped = 0;
  for (auto& rs : resource_spans) {
    for (auto& ss : rs.scope_spans)
      dropped += std::erase_if(ss.spans, [&](const Span& s) { return s.start_time_unix_nano < unix_nano; });
    std::erase_if(rs.scope_spans, [](const ScopeSpans& ss) { return ss.spans.empty(); });
  }
  std::erase_if(resource_spans, [](const ResourceSpans& rs) { return rs.scope_spans.empty(); });
  return dropped;
}

std::string_view ServiceName(const Resource& resource) {
  for (const auto& kv : resource.attributes) {
    if (kv.key == "service.name" && kv.value.type() == AnyValue::Type::kString) return kv.value.string_value();
  }
  return {};
}

std::string_view SpanKindName(SpanKind kind) {
  switch (kind) {
    case SpanKind::kInternal: return "internal";
    case SpanKind::kServer: return "server";
    case SpanKind::kClient: return "client";
    case SpanKind::kProducer: return "producer";
    case SpanKind::kConsumer: return "consumer";
    case SpanKind::kUnspecified: break;
  }
  return "";
}

bool ParseSpanKind(std::string_view name, SpanKind* kind) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (auto k : {SpanKind::kUnspecified, SpanKind::kInternal, SpanKind::kServer, SpanKind::kClient, SpanKind::kProducer,
                 SpanKind::kConsumer}) {
    if (lower == SpanKindName(k)) {
      *kind = k;
      return true;
    }
  }
  return false;
}

}  // namespace tb::model
