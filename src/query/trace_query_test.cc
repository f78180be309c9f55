#include "query/trace_query.h"

#include <gtest/gtest.h>

#include "model/text.h"

namespace tb::query {
namespace {

using model::AnyValue;

struct Fixture {
  model::Resource resource;
  model::Scope scope;
  model::Span span;
  Fixture() {
    resource.attributes = {{"service.name", AnyValue::String("svc")}, {"host", AnyValue::String("h1")}};
    scope.name = "lib";
    scope.version = "1.1.1";
    scope.attributes = {{"scope.attr", AnyValue::Int(7)}};
    span.name = "op";
    span.kind = model::SpanKind::kServer;
    span.start_time_unix_nano = 1000;
    span.end_time_unix_nano = 3000;
    span.attributes = {{"n", AnyValue::Int(123)}, {"d", AnyValue::Double(72.5)}, {"b", AnyValue::Bool(true)}};
    span.events.push_back({1500, "ev", {{"ev.attr", AnyValue::String("x")}}, 0});
    span.links.push_back({{}, {}, "", {{"link.attr", AnyValue::String("y")}}, 0, 0});
  }
  bool Match(const TraceQuery& q) const { return SpanMatcher(q).Matches({span, resource, scope}); }
};

TraceQuery WithAttr(std::string key, std::string value) {
  TraceQuery q;
  q.attributes.push_back({std::move(key), std::move(value)});
  return q;
}

TEST(SpanMatcherTest, AttributesMatchEveryPlaceByCanonicalString) {
  Fixture f;
  EXPECT_TRUE(f.Match(WithAttr("n", "123")));
  EXPECT_TRUE(f.Match(WithAttr("d", "72.5")));
  EXPECT_TRUE(f.Match(WithAttr("b", "true")));
  EXPECT_TRUE(f.Match(WithAttr("host", "h1")));       // resource
  EXPECT_TRUE(f.Match(WithAttr("scope.attr", "7")));  // scope
  EXPECT_TRUE(f.Match(WithAttr("ev.attr", "x")));     // event
  EXPECT_TRUE(f.Match(WithAttr("link.attr", "y")));   // link
  EXPECT_FALSE(f.Match(WithAttr("n", "124")));
  EXPECT_FALSE(f.Match(WithAttr("missing", "")));
}

TEST(SpanMatcherTest, SpecialKeys) {
  Fixture f;
  EXPECT_TRUE(f.Match(WithAttr("span.kind", "SERVER")));
  EXPECT_FALSE(f.Match(WithAttr("span.kind", "client")));
  EXPECT_TRUE(f.Match(WithAttr("error", "false")));
  EXPECT_FALSE(f.Match(WithAttr("error", "true")));
  EXPECT_FALSE(SpanMatcher(WithAttr("error", "maybe")).satisfiable());
  f.span.status.code = model::StatusCode::kError;
  EXPECT_TRUE(f.Match(WithAttr("error", "T")));
  EXPECT_TRUE(f.Match(WithAttr("span.status", "error")));
  EXPECT_TRUE(f.Match(WithAttr("scope.name", "lib")));
  EXPECT_TRUE(f.Match(WithAttr("scope.version", "1.1.1")));
  EXPECT_TRUE(f.Match(WithAttr("resource.host", "h1")));
  EXPECT_FALSE(f.Match(WithAttr("resource.n", "123")));  // a span attribute, not a resource one
}

TEST(SpanMatcherTest, BoundsAreInclusive) {
  Fixture f;
  TraceQuery q;
  q.start_time_min_unix_nano = 1000;
  q.start_time_max_unix_nano = 1000;
  q.duration_min_nanos = 2000;
  q.duration_max_nanos = 2000;
  EXPECT_TRUE(f.Match(q));
  q.duration_max_nanos = 1999;
  EXPECT_FALSE(f.Match(q));
  q.duration_max_nanos.reset();
  q.start_time_min_unix_nano = 1001;
  q.start_time_max_unix_nano.reset();
  EXPECT_FALSE(f.Match(q));
}

TEST(SpanMatcherTest, ServiceAndOperation) {
  Fixture f;
  TraceQuery q;
  q.service_name = "svc";
  q.operation_name = "op";
  EXPECT_TRUE(f.Match(q));
  q.operation_name = "other";
  EXPECT_FALSE(f.Match(q));
  q.operation_name.clear();
  q.service_name = "other";
  EXPECT_FALSE(f.Match(q));
}

TEST(SpanMatcherTest, AllFiltersOnTheSameSpan) {
  Fixture f;
  TraceQuery q = WithAttr("n", "123");
  q.operation_name = "op";
  q.duration_max_nanos = 100;  // the span that has n=123 is too long
  EXPECT_FALSE(f.Match(q));
}

}  // namespace
}  // namespace tb::query
