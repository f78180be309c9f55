#include "model/random_traces.h"

#include <limits>
#include <random>

namespace tb::model {
namespace {

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  uint64_t Uniform(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  std::string Text(size_t max_len) {
    static const char* kPieces[] = {"a", "b", "z", "0", "9", " ", "-", "é", "日本", "\"", "\\", "\n", "🙂"};
    std::string s;
    const size_t n = Uniform(max_len + 1);
    for (size_t i = 0; i < n; ++i) s += kPieces[Uniform(std::size(kPieces))];
    return s;
  }

  AnyValue Value(int depth) {
    switch (Uniform(depth < 2 ? 7 : 5)) {
      case 0: return AnyValue::String(Text(12));
      case 1: return AnyValue::Bool(Uniform(2) == 1);
      case 2: {
        static const int64_t kInts[] = {
            0, 1, -1, 123, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
        return AnyValue::Int(Uniform(2) ? kInts[Uniform(std::size(kInts))] : static_cast<int64_t>(rng_()));
      }
      case 3: {
        static const double kDoubles[] = {0.0, 72.5, -1e-7, 1e21, 3.141592653589793, 1.0};
        return AnyValue::Double(kDoubles[Uniform(std::size(kDoubles))]);
      }
      case 4: {
        std::string b;
        for (size_t i = Uniform(9); i > 0; --i) b.push_back(static_cast<char>(Uniform(256)));
        return AnyValue::FromBytes(std::move(b));
      }
      case 5: {
        ArrayValue a;
        for (size_t i = Uniform(4); i > 0; --i) a.push_back(Value(depth + 1));
        return AnyValue::Array(std::move(a));
      }
      default: {
        KeyValueList kv;
        for (size_t i = Uniform(3); i > 0; --i) kv.push_back({Text(5), Value(depth + 1)});
        return AnyValue::KvList(std::move(kv));
      }
    }
  }

  Attributes Attrs(size_t max) {
    Attributes a;
    for (size_t i = Uniform(max + 1); i > 0; --i) a.push_back({"k" + std::to_string(Uniform(20)), Value(0)});
    return a;
  }

  template <size_t N>
  std::array<uint8_t, N> Id() {
    std::array<uint8_t, N> id{};
    for (auto& b : id) b = static_cast<uint8_t>(Uniform(256));
    id[N - 1] |= 1;  // never all zero
    return id;
  }

  Span MakeSpan(const TraceId& trace_id) {
    Span s;
    s.trace_id = trace_id;
    s.span_id = Id<8>();
    if (Uniform(3) != 0) s.parent_span_id = Id<8>();
    s.trace_state = Uniform(3) == 0 ? "vendor=x" : "";
    s.flags = static_cast<uint32_t>(Uniform(0x400));
    s.name = "op-" + Text(6);
    s.kind = static_cast<SpanKind>(Uniform(6));
    s.start_time_unix_nano = 1'700'000'000'000'000'000ull + Uniform(1'000'000'000'000ull);
    s.end_time_unix_nano = s.start_time_unix_nano + Uniform(5'000'000'000ull);
    s.attributes = Attrs(6);
    s.dropped_attributes_count = static_cast<uint32_t>(Uniform(3));
    for (size_t i = Uniform(3); i > 0; --i)
      s.events.push_back(
          {s.start_time_unix_nano + Uniform(1000), Text(8), Attrs(3), static_cast<uint32_t>(Uniform(2))});
    s.dropped_events_count = static_cast<uint32_t>(Uniform(2));
    for (size_t i = Uniform(3); i > 0; --i)
      s.links.push_back({Id<16>(), Id<8>(), Uniform(2) ? "k=v" : "", Attrs(2), static_cast<uint32_t>(Uniform(2)),
                         static_cast<uint32_t>(Uniform(0x300))});
    s.dropped_links_count = static_cast<uint32_t>(Uniform(2));
    s.status.code = static_cast<StatusCode>(Uniform(3));
    if (s.status.code == StatusCode::kError) s.status.message = Text(10);
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

}  // namespace

Traces RandomTraces(uint64_t seed, const RandomTracesOptions& options) {
  Generator g(seed);
  std::vector<TraceId> trace_ids;
  for (int i = 0; i < options.traces; ++i) trace_ids.push_back(g.Id<16>());
  Traces t;
  for (int r = 0; r < options.resources; ++r) {
    ResourceSpans rs;
    rs.resource.attributes = g.Attrs(4);
    rs.resource.attributes.push_back({"service.name", AnyValue::String("service-" + std::to_string(r))});
    rs.resource.dropped_attributes_count = static_cast<uint32_t>(g.Uniform(2));
    if (g.Uniform(2)) rs.resource.schema_url = "https://opentelemetry.io/schemas/1.21.0";
    for (int s = 0; s < options.scopes_per_resource; ++s) {
      ScopeSpans ss;
      ss.scope.name = g.Uniform(3) ? "lib-" + std::to_string(s) : "";
      ss.scope.version = g.Uniform(2) ? "1.2.3" : "";
      ss.scope.attributes = g.Attrs(2);
      ss.scope.dropped_attributes_count = static_cast<uint32_t>(g.Uniform(2));
      if (g.Uniform(2)) ss.scope.schema_url = "https://example.com/scope";
      for (int i = 0; i < options.spans_per_scope; ++i)
        ss.spans.push_back(g.MakeSpan(trace_ids[g.Uniform(trace_ids.size())]));
      rs.scope_spans.push_back(std::move(ss));
    }
    t.resource_spans.push_back(std::move(rs));
  }
  return t;
}

}  // namespace tb::model
