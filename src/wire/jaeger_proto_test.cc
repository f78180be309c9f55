#include "wire/jaeger_proto.h"

#include <gtest/gtest.h>

#include "model/random_traces.h"

namespace tb::wire {
namespace {

namespace api = jaeger::api_v2;
namespace mj = model::jaeger;

api::Span ValidSpan() {
  api::Span s;
  s.set_trace_id(std::string(16, '\x01'));
  s.set_span_id(std::string(8, '\x02'));
  s.set_operation_name("op");
  s.mutable_start_time()->set_seconds(1'700'000'000);
  s.mutable_start_time()->set_nanos(5);
  s.mutable_duration()->set_nanos(7);
  s.mutable_process()->set_service_name("svc");
  return s;
}

TEST(JaegerProtoTest, RoundTripsRandomSpans) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    for (const mj::Span& span : mj::ToJaeger(model::RandomTraces(seed))) {
      api::Span pb;
      ToProto(span, &pb);
      ASSERT_EQ(pb.trace_id().size(), 16u);
      ASSERT_EQ(pb.span_id().size(), 8u);
      ASSERT_TRUE(pb.has_start_time());
      ASSERT_TRUE(pb.has_duration());
      ASSERT_TRUE(pb.has_process());
      // Through bytes, as a peer would see it.
      api::Span parsed;
      ASSERT_TRUE(parsed.ParseFromString(pb.SerializeAsString()));
      auto back = FromProto(parsed);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      ASSERT_EQ(*back, span) << "seed " << seed;
    }
  }
}

TEST(JaegerProtoTest, ZeroTimesAreStillSent) {
  mj::Span s;
  s.trace_id[15] = 1;
  s.span_id[7] = 1;
  api::Span pb;
  ToProto(s, &pb);
  EXPECT_TRUE(pb.has_start_time());
  EXPECT_TRUE(pb.has_duration());
  EXPECT_TRUE(pb.has_process());
}

TEST(JaegerProtoTest, EightByteTraceIdIsTheLowHalf) {
  api::Span pb = ValidSpan();
  pb.set_trace_id(std::string("\0\0\0\0\0\0\0\x2a", 8));
  auto s = FromProto(pb);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  model::TraceId want{};
  want[15] = 0x2a;
  EXPECT_EQ(s->trace_id, want);
}

TEST(JaegerProtoTest, RejectsBadIdLengthsAndValues) {
  struct Case {
    const char* name;
    void (*mutate)(api::Span*);
    const char* message_part;
  };
  const Case cases[] = {
      {"empty trace id", [](api::Span* s) { s->clear_trace_id(); }, "trace_id must be 16 or 8 bytes; got 0"},
      {"short trace id", [](api::Span* s) { s->set_trace_id("abc"); }, "trace_id must be 16 or 8 bytes; got 3"},
      {"zero trace id", [](api::Span* s) { s->set_trace_id(std::string(16, '\0')); }, "trace_id must not be all zero"},
      {"long span id", [](api::Span* s) { s->set_span_id(std::string(16, 'x')); }, "span_id must be 8 bytes; got 16"},
      {"zero span id", [](api::Span* s) { s->set_span_id(std::string(8, '\0')); }, "span_id must not be all zero"},
      {"bad reference",
       [](api::Span* s) {
         auto* r = s->add_references();
         r->set_trace_id(std::string(16, 'a'));
         r->set_span_id("x");
       },
       "reference span_id must be 8 bytes; got 1"},
      {"unknown ref type",
       [](api::Span* s) {
         auto* r = s->add_references();
         r->set_trace_id(std::string(16, 'a'));
         r->set_span_id(std::string(8, 'b'));
         r->set_ref_type(static_cast<api::SpanRefType>(7));
       },
       "unknown ref_type 7"},
      {"unknown value type",
       [](api::Span* s) {
         auto* t = s->add_tags();
         t->set_key("k");
         t->set_v_type(static_cast<api::ValueType>(9));
       },
       "tag \"k\" has unknown v_type 9"},
      {"time before 1970", [](api::Span* s) { s->mutable_start_time()->set_seconds(-5); }, "start_time must be"},
      {"negative duration", [](api::Span* s) { s->mutable_duration()->set_seconds(-1); },
       "duration must not be negative"},
  };
  for (const auto& c : cases) {
    api::Span pb = ValidSpan();
    c.mutate(&pb);
    auto s = FromProto(pb);
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(s.status().message().find(c.message_part), std::string::npos) << c.name << ": " << s.status().message();
  }
  EXPECT_TRUE(FromProto(ValidSpan()).ok());
}

TEST(JaegerProtoTest, QueryTimesTreatGoZeroAndZeroDurationAsUnset) {
  google::protobuf::Timestamp ts;
  EXPECT_EQ(OptionalUnixNanos(ts), 0u);  // 1970 itself; callers check presence (absent = unset) first
  ts.set_seconds(-62135596800);
  EXPECT_EQ(OptionalUnixNanos(ts), std::nullopt);
  ts.set_seconds(12);
  ts.set_nanos(3);
  EXPECT_EQ(OptionalUnixNanos(ts), 12'000'000'003u);
  google::protobuf::Duration d;
  EXPECT_EQ(OptionalNanos(d), std::nullopt);
  d.set_nanos(1500);
  EXPECT_EQ(OptionalNanos(d), 1500u);
}

}  // namespace
}  // namespace tb::wire
