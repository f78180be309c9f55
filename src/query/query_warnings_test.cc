// A source that cannot be read (the object store down, a corrupt block): with a warning list the
// request answers from the other sources and names it; without one, only DATA_LOSS is left out.
#include <gtest/gtest.h>

#include "query/query_engine.h"

namespace tb::query {
namespace {

model::TraceId Id(uint8_t n) {
  model::TraceId id{};
  id[15] = n;
  return id;
}

model::Span SpanOf(const model::TraceId& trace, uint8_t span, uint64_t start) {
  model::Span s;
  s.trace_id = trace;
  s.span_id[7] = span;
  s.name = "op";
  s.start_time_unix_nano = start;
  s.end_time_unix_nano = start + 1;
  return s;
}

// Holds one span of each of its traces (span id `span`, start `start`). When `failure` is an
// error, every read appends its spans and then fails with it, as a block whose later pages are
// unreadable does.
class StubSource final : public TraceSource {
 public:
  StubSource(std::string name, std::vector<model::TraceId> traces, uint8_t span, uint64_t start, Status failure)
      : name_(std::move(name)), traces_(std::move(traces)), span_(span), start_(start), failure_(std::move(failure)) {}

  std::string Name() const override { return name_; }
  Status FindTraces(const SpanMatcher&, size_t limit, std::vector<TraceHit>* hits) const override {
    for (const auto& id : traces_)
      if (hits->size() < limit) hits->push_back({id, start_, start_, start_ + 1});
    return failure_;
  }
  Status ReadTrace(const model::TraceId& id, model::Traces* out) const override {
    if (std::find(traces_.begin(), traces_.end(), id) != traces_.end())
      out->resource_spans.push_back({{}, {{{}, {SpanOf(id, span_, start_)}}}});
    return failure_;
  }
  Status Services(std::set<std::string>* out) const override {
    out->insert(name_);
    return failure_;
  }
  Status Operations(const std::string&, const std::string&, std::set<Operation>*) const override { return failure_; }
  Status Dependencies(uint64_t, uint64_t, DependencyCounts*) const override { return failure_; }

 private:
  const std::string name_;
  const std::vector<model::TraceId> traces_;
  const uint8_t span_;
  const uint64_t start_;
  const Status failure_;
};

// The span IDs' last bytes of every trace `engine` returns for `ids`, by trace.
Result<std::map<model::TraceId, std::vector<int>>> Read(const QueryEngine& engine,
                                                        const std::vector<model::TraceId>& ids) {
  std::map<model::TraceId, std::vector<int>> spans;
  TB_RETURN_IF_ERROR(engine.GetTraces(ids, [&](const model::TraceId& id, model::Traces&& trace) {
    for (const auto& rs : trace.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& s : ss.spans) spans[id].push_back(s.span_id[7]);
    return Status::Ok();
  }));
  return spans;
}

// Trace 1 lies in the head (span 1) and in an unreadable block (span 2); trace 2 only in the
// block; trace 3 only in a readable block (span 3).
SourceList SplitAcrossAnUnreadableBlock(Status failure) {
  return {std::make_shared<StubSource>("head", std::vector{Id(1)}, 1, 300, Status::Ok()),
          std::make_shared<StubSource>("block B", std::vector{Id(1), Id(2)}, 2, 200, std::move(failure)),
          std::make_shared<StubSource>("block C", std::vector{Id(3)}, 3, 100, Status::Ok())};
}

TEST(QueryWarnings, TraceReadsAnswerFromTheReadableSourcesAndNameTheOtherOnce) {
  const QueryEngine engine(SplitAcrossAnUnreadableBlock(Status::Unavailable("s3 down")));
  QueryWarnings warnings;
  auto spans = Read(engine.WithWarnings(&warnings), {Id(1), Id(2), Id(3)});
  ASSERT_TRUE(spans.ok()) << spans.status().ToString();
  // Trace 1 without the span the block returned before failing; trace 2 unknown.
  const std::map<model::TraceId, std::vector<int>> expected = {{Id(1), {1}}, {Id(3), {3}}};
  EXPECT_EQ(*spans, expected);
  const std::vector<SourceWarning> list = warnings.List();
  ASSERT_EQ(list.size(), 1u);  // asked twice (traces 1 and 2), named once
  EXPECT_EQ(list[0].source, "block B");
  EXPECT_EQ(list[0].reason.code(), StatusCode::kUnavailable);
  EXPECT_EQ(list[0].Message(), "block B could not be read: UNAVAILABLE: s3 down");
}

TEST(QueryWarnings, SearchesAnswerFromTheReadableSourcesAndNameTheOther) {
  const QueryEngine engine(SplitAcrossAnUnreadableBlock(Status::Unavailable("s3 down")));
  TraceQuery query;
  query.search_depth = 10;
  QueryWarnings warnings;
  auto hits = engine.WithWarnings(&warnings).FindTraceIds(query);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 2u);  // trace 2 was only found by the failed search
  EXPECT_EQ((*hits)[0].trace_id, Id(1));
  EXPECT_EQ((*hits)[1].trace_id, Id(3));
  ASSERT_EQ(warnings.List().size(), 1u);
  EXPECT_EQ(warnings.List()[0].source, "block B");

  QueryWarnings streamed;
  std::vector<model::TraceId> found;
  ASSERT_TRUE(engine.WithWarnings(&streamed)
                  .FindTraces(query,
                              [&](const model::TraceId& id, model::Traces&&) {
                                found.push_back(id);
                                return Status::Ok();
                              })
                  .ok());
  EXPECT_EQ(found, (std::vector{Id(1), Id(3)}));
  EXPECT_EQ(streamed.List().size(), 1u);
}

TEST(QueryWarnings, WithoutAListOnlyDataLossIsLeftOut) {
  const QueryEngine strict(SplitAcrossAnUnreadableBlock(Status::Unavailable("s3 down")));
  auto refused = Read(strict, {Id(1)});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(strict.Services().ok());

  const QueryEngine corrupt(SplitAcrossAnUnreadableBlock(Status::DataLoss("bad page")));
  auto spans = Read(corrupt, {Id(1), Id(2)});
  ASSERT_TRUE(spans.ok()) << spans.status().ToString();
  EXPECT_EQ(*spans, (std::map<model::TraceId, std::vector<int>>{{Id(1), {1}}}));
}

TEST(QueryWarnings, ListsAndDependenciesAnswerFromTheReadableSourcesToo) {
  const QueryEngine engine(SplitAcrossAnUnreadableBlock(Status::Unavailable("s3 down")));
  QueryWarnings warnings;
  const QueryEngine reporting = engine.WithWarnings(&warnings);
  auto services = reporting.Services();
  ASSERT_TRUE(services.ok()) << services.status().ToString();
  EXPECT_EQ(*services, (std::vector<std::string>{"block C", "head"}));
  EXPECT_TRUE(reporting.Dependencies(0, UINT64_MAX).ok());
  ASSERT_EQ(warnings.List().size(), 1u);
  EXPECT_EQ(warnings.List()[0].source, "block B");
  EXPECT_EQ(reporting.warnings(), &warnings);
}

// The request's own errors are not the sources': they still fail it.
TEST(QueryWarnings, ASinksErrorStillFailsTheRequest) {
  const QueryEngine engine(SplitAcrossAnUnreadableBlock(Status::Unavailable("s3 down")));
  QueryWarnings warnings;
  const Status s = engine.WithWarnings(&warnings).GetTraces(
      {Id(1)}, [](const model::TraceId&, model::Traces&&) { return Status::ResourceExhausted("answer full"); });
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace tb::query
