#include "model/span.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tb::model {
namespace {

TEST(SpanModelTest, ValueEqualityIsTypeExact) {
  EXPECT_EQ(AnyValue::Int(1), AnyValue::Int(1));
  EXPECT_NE(AnyValue::Int(1), AnyValue::Double(1.0));
  EXPECT_NE(AnyValue::String("1"), AnyValue::Int(1));
  EXPECT_NE(AnyValue::String("ab"), AnyValue::FromBytes("ab"));
  EXPECT_EQ(AnyValue::Double(std::nan("")), AnyValue::Double(std::nan("")));
  AnyValue nested = AnyValue::KvList({{"a", AnyValue::Array({AnyValue::Int(1), AnyValue::FromBytes("x")})}});
  AnyValue same = AnyValue::KvList({{"a", AnyValue::Array({AnyValue::Int(1), AnyValue::FromBytes("x")})}});
  AnyValue other = AnyValue::KvList({{"a", AnyValue::Array({AnyValue::Int(1), AnyValue::String("x")})}});
  EXPECT_EQ(nested, same);
  EXPECT_NE(nested, other);
}

TEST(SpanModelTest, ServiceNameAndKinds) {
  Resource r;
  r.attributes = {{"host", AnyValue::String("h")}, {"service.name", AnyValue::String("svc")}};
  EXPECT_EQ(ServiceName(r), "svc");
  r.attributes[1].value = AnyValue::Int(3);
  EXPECT_EQ(ServiceName(r), "");
  SpanKind k;
  ASSERT_TRUE(ParseSpanKind("SERVER", &k));
  EXPECT_EQ(k, SpanKind::kServer);
  EXPECT_EQ(SpanKindName(SpanKind::kConsumer), "consumer");
  EXPECT_FALSE(ParseSpanKind("sideways", &k));
}

TEST(SpanModelTest, DurationNeverNegative) {
  Span s;
  s.start_time_unix_nano = 10;
  s.end_time_unix_nano = 4;
  EXPECT_EQ(s.duration_nanos(), 0u);
  s.end_time_unix_nano = 15;
  EXPECT_EQ(s.duration_nanos(), 5u);
  EXPECT_FALSE(s.has_parent());
  s.parent_span_id[7] = 1;
  EXPECT_TRUE(s.has_parent());
}

}  // namespace
}  // namespace tb::model
