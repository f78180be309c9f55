#include "model/jaeger.h"

#include <gtest/gtest.h>

#include "model/random_traces.h"

namespace tb::model::jaeger {
namespace {

constexpr TraceId kTrace = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr TraceId kOtherTrace = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
constexpr SpanId kSpan = {1, 1, 1, 1, 1, 1, 1, 1};
constexpr SpanId kParent = {2, 2, 2, 2, 2, 2, 2, 2};
constexpr SpanId kLinked = {3, 3, 3, 3, 3, 3, 3, 3};
constexpr SpanId kOtherSpan = {4, 4, 4, 4, 4, 4, 4, 4};

model::Span BaseSpan() {
  model::Span s;
  s.trace_id = kTrace;
  s.span_id = kSpan;
  s.name = "GET /x";
  s.start_time_unix_nano = 1'700'000'000'123'456'789ull;
  s.end_time_unix_nano = s.start_time_unix_nano + 2'500'000;
  return s;
}

Resource MakeResource(Attributes attributes) {
  Resource r;
  r.attributes = std::move(attributes);
  return r;
}

Scope MakeScope(std::string name, std::string version) {
  Scope s;
  s.name = std::move(name);
  s.version = std::move(version);
  return s;
}

Traces OneSpan(model::Span span, Resource resource = MakeResource({{"service.name", AnyValue::String("svc")}}),
               Scope scope = {}) {
  Traces t;
  t.resource_spans.push_back({std::move(resource), {{std::move(scope), {std::move(span)}}}});
  return t;
}

Span ConvertOne(const Traces& t) {
  auto spans = ToJaeger(t);
  EXPECT_EQ(spans.size(), 1u);
  return spans.empty() ? Span{} : spans[0];
}

Tag Str(std::string key, std::string value) {
  Tag t;
  t.key = std::move(key);
  t.str = std::move(value);
  return t;
}

Tag BoolTag(std::string key, bool value) {
  Tag t;
  t.key = std::move(key);
  t.type = ValueType::kBool;
  t.bool_value = value;
  return t;
}

TEST(JaegerMappingTest, IdsNameAndTimesKeepNanoseconds) {
  const Span j = ConvertOne(OneSpan(BaseSpan()));
  EXPECT_EQ(j.trace_id, kTrace);
  EXPECT_EQ(j.span_id, kSpan);
  EXPECT_EQ(j.operation_name, "GET /x");
  EXPECT_EQ(j.start_time_unix_nano, 1'700'000'000'123'456'789ull);
  EXPECT_EQ(j.duration_nanos, 2'500'000u);
  EXPECT_EQ(j.flags, 0u);  // docs/jaeger-semantics.md §6.5: the translator sets no flags
  EXPECT_TRUE(j.tags.empty());
  EXPECT_TRUE(j.references.empty());
}

TEST(JaegerMappingTest, EndBeforeStartIsZeroDuration) {
  model::Span s = BaseSpan();
  s.end_time_unix_nano = s.start_time_unix_nano - 5;
  EXPECT_EQ(ConvertOne(OneSpan(s)).duration_nanos, 0u);
}

TEST(JaegerMappingTest, ProcessFromResource) {
  const Resource r = MakeResource(
      {{"host.name", AnyValue::String("h1")}, {"service.name", AnyValue::String("svc")}, {"pid", AnyValue::Int(42)}});
  const Span j = ConvertOne(OneSpan(BaseSpan(), r));
  EXPECT_EQ(j.process.service_name, "svc");
  ASSERT_EQ(j.process.tags.size(), 2u);
  EXPECT_EQ(j.process.tags[0], Str("host.name", "h1"));
  EXPECT_EQ(j.process.tags[1].key, "pid");
  EXPECT_EQ(j.process.tags[1].type, ValueType::kInt64);
  EXPECT_EQ(j.process.tags[1].int_value, 42);
}

TEST(JaegerMappingTest, ResourceWithoutAttributesHasPlaceholderService) {
  EXPECT_EQ(ConvertOne(OneSpan(BaseSpan(), Resource{})).process.service_name, "OTLPResourceNoServiceName");
  // With attributes but no service.name the name is empty.
  const Span j = ConvertOne(OneSpan(BaseSpan(), MakeResource({{"a", AnyValue::String("b")}})));
  EXPECT_EQ(j.process.service_name, "");
  EXPECT_EQ(j.process.tags, std::vector<Tag>{Str("a", "b")});
}

TEST(JaegerMappingTest, AttributeTypes) {
  model::Span s = BaseSpan();
  s.attributes = {{"s", AnyValue::String("x")},
                  {"b", AnyValue::Bool(true)},
                  {"i", AnyValue::Int(-7)},
                  {"d", AnyValue::Double(72.5)},
                  {"y", AnyValue::FromBytes(std::string("\x00\xff", 2))},
                  {"a", AnyValue::Array({AnyValue::Int(1), AnyValue::String("z")})},
                  {"m", AnyValue::KvList({{"k", AnyValue::Bool(false)}})}};
  const Span j = ConvertOne(OneSpan(s));
  ASSERT_EQ(j.tags.size(), 7u);
  EXPECT_EQ(j.tags[0], Str("s", "x"));
  EXPECT_EQ(j.tags[1], BoolTag("b", true));
  EXPECT_EQ(j.tags[2].type, ValueType::kInt64);
  EXPECT_EQ(j.tags[2].int_value, -7);
  EXPECT_EQ(j.tags[3].type, ValueType::kFloat64);
  EXPECT_EQ(j.tags[3].float_value, 72.5);
  EXPECT_EQ(j.tags[4].type, ValueType::kBinary);
  EXPECT_EQ(j.tags[4].str, std::string("\x00\xff", 2));
  EXPECT_EQ(j.tags[5], Str("a", "[1,\"z\"]"));
  EXPECT_EQ(j.tags[6], Str("m", "{\"k\":false}"));
}

TEST(JaegerMappingTest, DerivedTagsInOrder) {
  model::Span s = BaseSpan();
  s.attributes = {{"http.method", AnyValue::String("GET")}};
  s.kind = SpanKind::kServer;
  s.status = {StatusCode::kError, "boom"};
  s.trace_state = "vendor=x";
  const Span j =
      ConvertOne(OneSpan(s, MakeResource({{"service.name", AnyValue::String("svc")}}), MakeScope("lib", "1.0")));
  const std::vector<Tag> want = {Str("otel.scope.name", "lib"),
                                 Str("otel.scope.version", "1.0"),
                                 Str("http.method", "GET"),
                                 Str("span.kind", "server"),
                                 Str("otel.status_code", "ERROR"),
                                 BoolTag("error", true),
                                 Str("otel.status_description", "boom"),
                                 Str("w3c.tracestate", "vendor=x")};
  EXPECT_EQ(j.tags, want);
}

TEST(JaegerMappingTest, OkStatusHasNoErrorTagAndUnsetNothing) {
  model::Span s = BaseSpan();
  s.status.code = StatusCode::kOk;
  s.kind = SpanKind::kUnspecified;
  EXPECT_EQ(ConvertOne(OneSpan(s)).tags, std::vector<Tag>{Str("otel.status_code", "OK")});
  s.status.code = StatusCode::kUnset;
  EXPECT_TRUE(ConvertOne(OneSpan(s)).tags.empty());
  for (auto [kind, name] : {std::pair{SpanKind::kClient, "client"},
                            {SpanKind::kProducer, "producer"},
                            {SpanKind::kConsumer, "consumer"},
                            {SpanKind::kInternal, "internal"}}) {
    s.kind = kind;
    EXPECT_EQ(ConvertOne(OneSpan(s)).tags, std::vector<Tag>{Str("span.kind", name)});
  }
}

TEST(JaegerMappingTest, ScopeVersionWithoutName) {
  const Span j =
      ConvertOne(OneSpan(BaseSpan(), MakeResource({{"service.name", AnyValue::String("svc")}}), MakeScope("", "2")));
  EXPECT_EQ(j.tags, std::vector<Tag>{Str("otel.scope.version", "2")});
}

TEST(JaegerMappingTest, WarningsComeFromTheAttributeAndLeaveTheTags) {
  model::Span s = BaseSpan();
  s.attributes = {{"@jaeger@warnings", AnyValue::Array({AnyValue::String("w1"), AnyValue::String("w2")})},
                  {"k", AnyValue::String("v")}};
  const Span j = ConvertOne(OneSpan(s));
  EXPECT_EQ(j.warnings, (std::vector<std::string>{"w1", "w2"}));
  EXPECT_EQ(j.tags, std::vector<Tag>{Str("k", "v")});
}

TEST(JaegerMappingTest, ParentThenLinks) {
  model::Span s = BaseSpan();
  s.parent_span_id = kParent;
  s.links.push_back({kOtherTrace, kLinked, "", {}, 0, 0});
  s.links.push_back({kTrace, kLinked, "", {{"opentracing.ref_type", AnyValue::String("child_of")}}, 0, 0});
  const Span j = ConvertOne(OneSpan(s));
  const std::vector<SpanRef> want = {{kTrace, kParent, RefType::kChildOf},
                                     {kOtherTrace, kLinked, RefType::kFollowsFrom},
                                     {kTrace, kLinked, RefType::kChildOf}};
  EXPECT_EQ(j.references, want);
}

TEST(JaegerMappingTest, LinkToTheParentOnlySetsItsType) {
  model::Span s = BaseSpan();
  s.parent_span_id = kParent;
  s.links.push_back({kTrace, kParent, "", {{"opentracing.ref_type", AnyValue::String("follows_from")}}, 0, 0});
  EXPECT_EQ(ConvertOne(OneSpan(s)).references, (std::vector<SpanRef>{{kTrace, kParent, RefType::kFollowsFrom}}));
  // Without a parent the same link is an ordinary reference.
  s.parent_span_id = {};
  EXPECT_EQ(ConvertOne(OneSpan(s)).references, (std::vector<SpanRef>{{kTrace, kParent, RefType::kFollowsFrom}}));
}

TEST(JaegerMappingTest, DependencyParentIsTheParentJaegersModelReads) {
  const Link follows_from_in_trace{kTrace, kLinked, "", {}, 0, 0};
  const Link child_of_in_trace{kTrace, kOtherSpan, "", {{"opentracing.ref_type", AnyValue::String("child_of")}}, 0, 0};
  const Link in_other_trace{kOtherTrace, kParent, "", {}, 0, 0};
  model::Span s = BaseSpan();
  EXPECT_EQ(DependencyParent(s), SpanId{});  // a root without links
  s.links = {in_other_trace};
  EXPECT_EQ(DependencyParent(s), SpanId{});  // links into other traces never count
  s.links = {in_other_trace, follows_from_in_trace, child_of_in_trace};
  EXPECT_EQ(DependencyParent(s), kOtherSpan);  // a CHILD_OF reference before any FOLLOWS_FROM one
  s.links = {in_other_trace, follows_from_in_trace};
  EXPECT_EQ(DependencyParent(s), kLinked);  // else the first FOLLOWS_FROM one in the trace
  s.parent_span_id = kParent;
  EXPECT_EQ(DependencyParent(s), kParent);  // the OTLP parent is a CHILD_OF reference, first
  // A link that makes the parent FOLLOWS_FROM leaves the first CHILD_OF reference in charge.
  s.links = {{kTrace, kParent, "", {{"opentracing.ref_type", AnyValue::String("follows_from")}}, 0, 0},
             child_of_in_trace};
  EXPECT_EQ(DependencyParent(s), kOtherSpan);
  s.links = {{kTrace, kParent, "", {{"opentracing.ref_type", AnyValue::String("follows_from")}}, 0, 0}};
  EXPECT_EQ(DependencyParent(s), kParent);
}

TEST(JaegerMappingTest, EventsBecomeLogs) {
  model::Span s = BaseSpan();
  s.events.push_back({s.start_time_unix_nano + 7, "exception", {{"exception.message", AnyValue::String("m")}}, 0});
  s.events.push_back({s.start_time_unix_nano + 9, "named", {{"event", AnyValue::String("own")}}, 0});
  s.events.push_back({s.start_time_unix_nano + 11, "", {{"x", AnyValue::Int(1)}}, 0});
  const Span j = ConvertOne(OneSpan(s));
  ASSERT_EQ(j.logs.size(), 3u);
  EXPECT_EQ(j.logs[0].timestamp_unix_nano, s.start_time_unix_nano + 7);
  EXPECT_EQ(j.logs[0].fields, (std::vector<Tag>{Str("event", "exception"), Str("exception.message", "m")}));
  // An event attribute named "event" wins over the event's name.
  EXPECT_EQ(j.logs[1].fields, std::vector<Tag>{Str("event", "own")});
  ASSERT_EQ(j.logs[2].fields.size(), 1u);
  EXPECT_EQ(j.logs[2].fields[0].key, "x");
}

TEST(JaegerMappingTest, EverySpanCarriesItsProcessInBatchOrder) {
  Traces t;
  t.resource_spans.push_back(
      {MakeResource({{"service.name", AnyValue::String("a")}}), {{Scope{}, {BaseSpan(), BaseSpan()}}}});
  t.resource_spans.push_back({MakeResource({{"service.name", AnyValue::String("b")}}), {{Scope{}, {BaseSpan()}}}});
  t.resource_spans[0].scope_spans[0].spans[1].name = "second";
  const auto spans = ToJaeger(t);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].process.service_name, "a");
  EXPECT_EQ(spans[1].operation_name, "second");
  EXPECT_EQ(spans[1].process.service_name, "a");
  EXPECT_EQ(spans[2].process.service_name, "b");
}

TEST(JaegerMappingTest, FromJaegerRestoresDerivedFields) {
  model::Span s = BaseSpan();
  s.parent_span_id = kParent;
  s.kind = SpanKind::kClient;
  s.status = {StatusCode::kError, "bad"};
  s.trace_state = "a=b";
  s.attributes = {{"k", AnyValue::Double(1.5)}};
  s.events.push_back({s.start_time_unix_nano + 1, "ev", {{"f", AnyValue::Bool(false)}}, 0});
  const Traces in = OneSpan(s, MakeResource({{"service.name", AnyValue::String("svc")}, {"r", AnyValue::Int(1)}}),
                            MakeScope("lib", "v"));
  EXPECT_EQ(FromJaeger(ToJaeger(in)), in);
}

TEST(JaegerMappingTest, FromJaegerReadsJaegerNativeTags) {
  Span j;
  j.trace_id = kTrace;
  j.span_id = kSpan;
  j.process.service_name = "svc";
  j.references = {{kOtherTrace, kLinked, RefType::kFollowsFrom}, {kTrace, kParent, RefType::kChildOf}};
  j.tags = {BoolTag("error", true), Str("span.kind", "SERVER"), Str("peer", "p")};
  const Traces t = FromJaeger({j});
  ASSERT_EQ(t.SpanCount(), 1u);
  const model::Span& s = t.resource_spans[0].scope_spans[0].spans[0];
  EXPECT_EQ(s.status.code, StatusCode::kError);
  EXPECT_EQ(s.kind, SpanKind::kServer);
  EXPECT_EQ(s.parent_span_id, kParent);
  ASSERT_EQ(s.links.size(), 1u);
  EXPECT_EQ(s.links[0].trace_id, kOtherTrace);
  EXPECT_EQ(s.attributes, (Attributes{{"peer", AnyValue::String("p")}}));
  EXPECT_EQ(ServiceName(t.resource_spans[0].resource), "svc");
}

TEST(JaegerMappingTest, FromJaegerGroupsByProcessAndScope) {
  Span a;
  a.process.service_name = "a";
  a.tags = {Str("otel.scope.name", "s1")};
  Span b = a;
  b.tags = {Str("otel.scope.name", "s2")};
  Span c = a;
  c.process.service_name = "c";
  const Traces t = FromJaeger({a, b, a, c});
  ASSERT_EQ(t.resource_spans.size(), 2u);
  ASSERT_EQ(t.resource_spans[0].scope_spans.size(), 2u);
  EXPECT_EQ(t.resource_spans[0].scope_spans[0].spans.size(), 2u);
  EXPECT_EQ(t.resource_spans[0].scope_spans[1].scope.name, "s2");
  EXPECT_EQ(t.resource_spans[1].scope_spans[0].spans.size(), 1u);
}

TEST(JaegerMappingTest, DerivedTagsSearchTheirFields) {
  EXPECT_EQ(SearchKey("otel.status_code"), "span.status");
  EXPECT_EQ(SearchKey("otel.scope.name"), "scope.name");
  EXPECT_EQ(SearchKey("otel.scope.version"), "scope.version");
  EXPECT_EQ(SearchKey("span.kind"), "span.kind");
  EXPECT_EQ(SearchKey("http.method"), "http.method");
}

// Everything the Jaeger model carries survives Jaeger → core → Jaeger, for every span shape the
// forward mapping produces from random OTLP batches.
TEST(JaegerMappingTest, RoundTripKeepsTheJaegerModel) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    const Traces t = RandomTraces(seed);
    const std::vector<Span> once = ToJaeger(t);
    ASSERT_EQ(once.size(), t.SpanCount());
    const std::vector<Span> twice = ToJaeger(FromJaeger(once));
    ASSERT_EQ(twice, once) << "seed " << seed;
  }
}

}  // namespace
}  // namespace tb::model::jaeger
