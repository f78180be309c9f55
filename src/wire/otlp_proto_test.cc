#include "wire/otlp_proto.h"

#include <gtest/gtest.h>

#include "model/random_traces.h"
#include "wire/otlp_codec.h"

namespace tb::wire {
namespace {

TEST(OtlpProtoTest, RandomBatchesRoundTripExactly) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    model::Traces in = model::RandomTraces(seed);
    auto out = DecodeOtlpProtobuf(EncodeOtlpProtobuf(in));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(*out, in) << "seed " << seed;
  }
}

TEST(OtlpProtoTest, RejectsBadIdsWithTheirPlace) {
  otlp::ExportRequest req;
  auto* span = req.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(3, '\1'));
  span->set_span_id(std::string(8, '\1'));
  auto r = FromProto(req.resource_spans());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("resource_spans[0].scope_spans[0].spans[0]: trace_id must be 16 bytes"),
            std::string::npos)
      << r.status().message();

  span->set_trace_id(std::string(16, '\1'));
  span->set_span_id(std::string(8, '\0'));
  EXPECT_FALSE(FromProto(req.resource_spans()).ok());
  span->set_span_id(std::string(8, '\1'));
  span->set_parent_span_id("abc");
  EXPECT_FALSE(FromProto(req.resource_spans()).ok());
  span->clear_parent_span_id();
  EXPECT_TRUE(FromProto(req.resource_spans()).ok());
}

TEST(OtlpProtoTest, RejectsGarbageAndDeepNesting) {
  EXPECT_FALSE(DecodeOtlpProtobuf("\xff\xff\xff\xff").ok());
  otlp::ExportRequest req;
  auto* span = req.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(16, '\1'));
  span->set_span_id(std::string(8, '\1'));
  auto* v = span->add_attributes()->mutable_value();
  for (int i = 0; i < 100; ++i) v = v->mutable_array_value()->add_values();
  v->set_int_value(1);
  auto r = FromProto(req.resource_spans());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested deeper"), std::string::npos);
}

}  // namespace
}  // namespace tb::wire
