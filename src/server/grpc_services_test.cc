#include "server/grpc_services.h"

#include <gtest/gtest.h>

#include "model/random_traces.h"
#include "wire/otlp_proto.h"

namespace tb::server {
namespace {

// Reassembles chunks into one model batch.
model::Traces Reassemble(const std::vector<opentelemetry::proto::trace::v1::TracesData>& chunks) {
  model::Traces all;
  for (const auto& c : chunks) {
    auto part = wire::FromProto(c.resource_spans());
    EXPECT_TRUE(part.ok());
    for (auto& rs : part->resource_spans) all.resource_spans.push_back(std::move(rs));
  }
  return all;
}

// Every span with its resource and scope, in order.
std::vector<std::tuple<model::Resource, model::Scope, model::Span>> Flatten(const model::Traces& t) {
  std::vector<std::tuple<model::Resource, model::Scope, model::Span>> out;
  for (const auto& rs : t.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& s : ss.spans) out.emplace_back(rs.resource, ss.scope, s);
  return out;
}

TEST(ChunkTraceTest, SplitsUnderTheLimitAndKeepsEverySpan) {
  model::RandomTracesOptions options;
  options.spans_per_scope = 400;
  const model::Traces trace = model::RandomTraces(7, options);
  const size_t limit = 64 << 10;
  auto chunks = ChunkTrace(trace, limit);
  ASSERT_GT(chunks.size(), 3u);
  for (const auto& c : chunks) {
    EXPECT_LE(c.ByteSizeLong(), limit);
    EXPECT_GT(c.resource_spans_size(), 0);
  }
  model::Traces back = Reassemble(chunks);
  EXPECT_EQ(back.SpanCount(), trace.SpanCount());
  // Spans keep their order and their resource and scope.
  EXPECT_TRUE(Flatten(back) == Flatten(trace));
}

TEST(ChunkTraceTest, OneOversizedSpanGoesAlone) {
  model::Traces trace = model::RandomTraces(3, {1, 1, 2, 1});
  trace.resource_spans[0].scope_spans[0].spans[0].attributes.push_back(
      {"big", model::AnyValue::String(std::string(10000, 'x'))});
  auto chunks = ChunkTrace(trace, 1000);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(Reassemble(chunks).SpanCount(), 2u);
}

TEST(ChunkTraceTest, EmptyTraceGivesNoChunk) { EXPECT_TRUE(ChunkTrace(model::Traces{}, 1000).empty()); }

}  // namespace
}  // namespace tb::server
