#include "server/grpc_v1_services.h"

#include <gtest/gtest.h>

#include "model/random_traces.h"
#include "wire/jaeger_proto.h"

namespace tb::server {
namespace {

std::vector<model::jaeger::Span> Reassemble(const std::vector<jaeger::storage::v1::SpansResponseChunk>& chunks) {
  std::vector<model::jaeger::Span> all;
  for (const auto& c : chunks) {
    for (const auto& pb : c.spans()) {
      auto s = wire::FromProto(pb);
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      if (s.ok()) all.push_back(std::move(*s));
    }
  }
  return all;
}

TEST(ChunkSpansTest, BoundsSpansAndBytesAndKeepsOrder) {
  model::RandomTracesOptions options;
  options.spans_per_scope = 300;
  const auto spans = model::jaeger::ToJaeger(model::RandomTraces(11, options));
  ASSERT_GT(spans.size(), 1000u);

  const auto by_count = ChunkSpans(spans, 250, 64 << 20);
  EXPECT_EQ(by_count.size(), (spans.size() + 249) / 250);
  for (const auto& c : by_count) EXPECT_LE(c.spans_size(), 250);
  EXPECT_EQ(Reassemble(by_count), spans);

  const size_t limit = 32 << 10;
  const auto by_bytes = ChunkSpans(spans, 1000, limit);
  ASSERT_GT(by_bytes.size(), 3u);
  for (const auto& c : by_bytes) {
    EXPECT_LE(c.ByteSizeLong(), limit);
    EXPECT_GT(c.spans_size(), 0);
  }
  EXPECT_EQ(Reassemble(by_bytes), spans);
}

TEST(ChunkSpansTest, OneOversizedSpanGoesAloneAndNothingGivesNoChunk) {
  auto spans = model::jaeger::ToJaeger(model::RandomTraces(3, {1, 1, 2, 1}));
  ASSERT_EQ(spans.size(), 2u);
  spans[0].tags.push_back({"big", model::jaeger::ValueType::kString, std::string(10000, 'x'), false, 0, 0});
  EXPECT_EQ(ChunkSpans(spans, 1000, 1000).size(), 2u);
  EXPECT_TRUE(ChunkSpans({}, 1000, 1000).empty());
}

}  // namespace
}  // namespace tb::server
