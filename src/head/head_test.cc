#include "head/head.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "query/query_engine.h"

namespace tb::head {
namespace {

using model::AnyValue;

model::TraceId Tid(uint8_t n) {
  model::TraceId id{};
  id[15] = n;
  return id;
}
model::SpanId Sid(uint8_t n) {
  model::SpanId id{};
  id[7] = n;
  return id;
}

model::Span MakeSpan(uint8_t trace, uint8_t span, uint8_t parent, std::string name, uint64_t start, uint64_t dur) {
  model::Span s;
  s.trace_id = Tid(trace);
  s.span_id = Sid(span);
  if (parent) s.parent_span_id = Sid(parent);
  s.name = std::move(name);
  s.start_time_unix_nano = start;
  s.end_time_unix_nano = start + dur;
  return s;
}

model::Traces Batch(std::string service, std::vector<model::Span> spans) {
  model::Traces t;
  t.resource_spans.push_back({});
  t.resource_spans[0].resource.attributes = {{"service.name", AnyValue::String(std::move(service))}};
  t.resource_spans[0].scope_spans.push_back({});
  t.resource_spans[0].scope_spans[0].spans = std::move(spans);
  return t;
}

class HeadTest : public ::testing::Test {
 protected:
  std::shared_ptr<Head> head_ = std::make_shared<Head>(Options{});
  query::QueryEngine engine_{{head_}};

  std::vector<model::TraceId> Find(const query::TraceQuery& q) {
    auto hits = engine_.FindTraceIds(q);
    EXPECT_TRUE(hits.ok());
    std::vector<model::TraceId> ids;
    for (const auto& h : *hits) ids.push_back(h.trace_id);
    return ids;
  }
};

TEST_F(HeadTest, ForEachSpanVisitsEverySpanInArrivalOrderWithItsResourceAndStops) {
  head_->Insert(Batch("a", {MakeSpan(1, 1, 0, "root", 100, 50), MakeSpan(2, 2, 0, "other", 105, 5)}), {});
  head_->Insert(Batch("b", {MakeSpan(1, 3, 1, "child", 110, 10)}), {});
  std::vector<std::pair<std::string, std::string>> seen;  // (service, span name)
  const model::Span* first = nullptr;
  EXPECT_TRUE(head_->ForEachSpan([&](const model::Resource& r, const model::Scope&, const model::Span& s) {
    if (first == nullptr) first = &s;
    seen.emplace_back(std::string(model::ServiceName(r)), s.name);
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{{"a", "root"}, {"a", "other"}, {"b", "child"}}));
  // Later inserts leave the visited spans where they were.
  head_->Insert(Batch("c", {MakeSpan(3, 4, 0, "late", 120, 1)}), {});
  size_t visits = 0;
  EXPECT_FALSE(head_->ForEachSpan([&](const model::Resource&, const model::Scope&, const model::Span& s) {
    EXPECT_EQ(&s, first);
    return ++visits < 1;
  }));
  EXPECT_EQ(visits, 1u);
}

TEST_F(HeadTest, ReadBackEqualsWritten) {
  auto batch = Batch("a", {MakeSpan(1, 1, 0, "root", 100, 50), MakeSpan(1, 2, 1, "child", 110, 10)});
  batch.resource_spans[0].scope_spans[0].scope.name = "lib";
  batch.resource_spans[0].scope_spans[0].spans[1].attributes = {{"bytes", AnyValue::FromBytes(std::string("\0\1", 2))},
                                                                {"arr", AnyValue::Array({AnyValue::Double(1.5)})}};
  model::Traces expected = batch;
  head_->Insert(std::move(batch), {});
  model::Traces got;
  ASSERT_TRUE(head_->ReadTrace(Tid(1), &got).ok());
  EXPECT_EQ(got, expected);
  model::Traces none;
  ASSERT_TRUE(head_->ReadTrace(Tid(9), &none).ok());
  EXPECT_TRUE(none.resource_spans.empty());
}

TEST_F(HeadTest, TraceSplitAcrossBatchesAndDuplicatesKept) {
  head_->Insert(Batch("a", {MakeSpan(1, 1, 0, "x", 100, 5)}), {});
  head_->Insert(Batch("b", {MakeSpan(1, 1, 0, "x", 200, 5), MakeSpan(1, 1, 0, "x", 300, 5)}), {});
  model::Traces got;
  ASSERT_TRUE(head_->ReadTrace(Tid(1), &got).ok());
  EXPECT_EQ(got.SpanCount(), 3u);
  EXPECT_EQ(got.resource_spans.size(), 2u);
  EXPECT_EQ(head_->SpanCount(Tid(1)), 3u);
}

TEST_F(HeadTest, SearchUsesSameSpanConjunctionAndReturnsNewestFirst) {
  auto s1 = MakeSpan(1, 1, 0, "op", 1000, 10);
  s1.attributes = {{"k", AnyValue::String("v")}};
  auto s2 = MakeSpan(2, 1, 0, "op", 3000, 10);
  s2.attributes = {{"k", AnyValue::String("v")}};
  auto s3 = MakeSpan(3, 1, 0, "other", 2000, 10);
  s3.attributes = {{"k", AnyValue::String("v")}};
  auto s4 = MakeSpan(4, 1, 0, "op", 2500, 10);  // op, but lacks the tag
  auto s5 = MakeSpan(4, 2, 1, "other", 2600, 10);
  s5.attributes = {{"k", AnyValue::String("v")}};
  head_->Insert(Batch("svc", {s1, s2, s3, s4, s5}), {});

  query::TraceQuery q;
  q.service_name = "svc";
  q.operation_name = "op";
  q.attributes = {{"k", "v"}};
  EXPECT_EQ(Find(q), (std::vector<model::TraceId>{Tid(2), Tid(1)}));
  q.search_depth = 1;
  EXPECT_EQ(Find(q), (std::vector<model::TraceId>{Tid(2)}));
  q.search_depth = 0;  // default depth
  q.service_name.clear();
  EXPECT_EQ(Find(q).size(), 2u);
  query::TraceQuery all;
  EXPECT_EQ(Find(all), (std::vector<model::TraceId>{Tid(2), Tid(4), Tid(3), Tid(1)}));
  query::TraceQuery unknown;
  unknown.service_name = "nope";
  EXPECT_TRUE(Find(unknown).empty());
}

TEST_F(HeadTest, ServicesOperationsAndDependencies) {
  auto root = MakeSpan(1, 1, 0, "GET /", 100, 100);
  root.kind = model::SpanKind::kServer;
  auto call = MakeSpan(1, 2, 1, "query", 110, 10);
  call.kind = model::SpanKind::kClient;
  head_->Insert(Batch("front", {root}), {});
  head_->Insert(Batch("db", {call, MakeSpan(1, 3, 1, "query", 120, 10)}), {});
  EXPECT_EQ(*engine_.Services(), (std::vector<std::string>{"db", "front"}));
  auto ops = *engine_.Operations("db", "");
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].span_kind, "");
  EXPECT_EQ(ops[1].span_kind, "client");
  EXPECT_EQ(engine_.Operations("db", "client")->size(), 1u);
  EXPECT_TRUE(engine_.Operations("nope", "")->empty());
  auto deps = *engine_.Dependencies(0, 1000);
  EXPECT_EQ(deps.size(), 1u);
  EXPECT_EQ((deps[{"front", "db"}]), 2u);
  EXPECT_TRUE(engine_.Dependencies(105, 1000)->empty());  // the trace starts before the window
}

// Jaeger's rule (docs/jaeger-semantics.md §7): a call within one service is no edge, and a span
// without a parent hangs off its first link into its own trace.
TEST_F(HeadTest, DependenciesSkipSameServiceCallsAndFollowLinksOfRoots) {
  auto root = MakeSpan(1, 1, 0, "GET /", 100, 100);
  auto handler = MakeSpan(1, 2, 1, "handle", 101, 50);  // front → front: not counted
  auto query = MakeSpan(1, 3, 2, "query", 110, 10);     // front → db
  auto job = MakeSpan(1, 4, 0, "job", 150, 10);         // no parent, linked to the handler
  job.links.push_back({Tid(1), Sid(2), "", {}, 0, 0});
  auto elsewhere = MakeSpan(1, 5, 0, "job", 150, 10);  // linked into another trace: no parent
  elsewhere.links.push_back({Tid(2), Sid(2), "", {}, 0, 0});
  head_->Insert(Batch("front", {root, handler}), {});
  head_->Insert(Batch("db", {query}), {});
  head_->Insert(Batch("worker", {job, elsewhere}), {});
  const query::DependencyCounts want = {{{"front", "db"}, 1}, {{"front", "worker"}, 1}};
  EXPECT_EQ(*engine_.Dependencies(0, 1000), want);
}

TEST_F(HeadTest, BudgetIsEnforcedByReservations) {
  auto small = std::make_shared<Head>(Options{4096, nullptr});
  auto batch = Batch("a", {MakeSpan(1, 1, 0, "x", 1, 1)});
  const uint64_t need = EstimateMemory(batch);
  ASSERT_GT(need, 0u);
  ASSERT_LT(need, 4096u);
  {
    auto r = small->Reserve(need);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(small->Stats().reserved_bytes, need);
    auto too_much = small->Reserve(4096);
    ASSERT_FALSE(too_much.ok());
    EXPECT_EQ(too_much.status().code(), StatusCode::kResourceExhausted);
    small->Insert(std::move(batch), std::move(*r));
  }
  EXPECT_EQ(small->Stats().reserved_bytes, 0u);
  EXPECT_EQ(small->Stats().memory_bytes, need);
  small->Clear();
  EXPECT_EQ(small->Stats().memory_bytes, 0u);
  EXPECT_EQ(small->Stats().spans, 0u);
  EXPECT_TRUE(small->Reserve(4096).ok());
}

TEST_F(HeadTest, HeadsSharingABudgetReturnItWhenDropped) {
  auto budget = std::make_shared<MemoryBudget>(1 << 20);
  auto batch = Batch("a", {MakeSpan(1, 1, 0, "x", 1, 1)});
  const uint64_t need = EstimateMemory(batch);
  auto frozen = std::make_unique<Head>(Options{0, budget});
  frozen->Insert(model::Traces(batch), {});  // replay-style insert: always admitted
  EXPECT_EQ(budget->used(), need);
  Head active(Options{0, budget});
  auto r = active.Reserve(need);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(budget->used(), 2 * need);
  EXPECT_EQ(active.Stats().budget_used_bytes, 2 * need);
  active.Insert(model::Traces(batch), std::move(*r));
  EXPECT_EQ(budget->used(), 2 * need);
  frozen.reset();  // a flushed head hands its memory back
  EXPECT_EQ(budget->used(), need);
  EXPECT_FALSE(active.Reserve(1 << 20).ok());
  EXPECT_TRUE(active.Reserve((1 << 20) - need).ok());
}

TEST_F(HeadTest, AShareOfABudgetHoldsBothLimitsAndNamesTheOneThatIsFull) {
  auto process = std::make_shared<MemoryBudget>(3 << 20);
  auto a = std::make_shared<MemoryBudget>(2 << 20, process, "tenant a's head share");
  auto b = std::make_shared<MemoryBudget>(2 << 20, process, "tenant b's head share");
  Head head_a(Options{0, a});
  Head head_b(Options{0, b});
  auto ra = head_a.Reserve(2 << 20);
  ASSERT_TRUE(ra.ok());
  EXPECT_EQ(process->used(), 2u << 20);
  // a's share is used up; b still writes, but only up to what the process has left.
  auto refused = head_a.Reserve(1);
  ASSERT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("tenant a's head share full: 2 MiB of 2 MiB"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(head_a.CheckHasRoom().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(head_b.CheckHasRoom().ok());
  auto too_much = head_b.Reserve((1 << 20) + 1);
  ASSERT_FALSE(too_much.ok());
  EXPECT_NE(too_much.status().message().find("head memory budget full: 2 MiB of 3 MiB"), std::string::npos)
      << too_much.status().message();
  EXPECT_EQ(b->used(), 0u);  // a refusal by the parent takes nothing from the share either
  auto rb = head_b.Reserve(1 << 20);
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(head_b.CheckHasRoom().code(), StatusCode::kResourceExhausted);  // the process is full
  // Replay is admitted beyond both limits, and released from both.
  head_b.Insert(Batch("b", {MakeSpan(1, 1, 0, "x", 1, 1)}), {});
  EXPECT_GT(process->used(), 3u << 20);
  *ra = Reservation();
  *rb = Reservation();
  head_b.Clear();
  EXPECT_EQ(process->used(), 0u);
  EXPECT_EQ(a->used(), 0u);
  EXPECT_EQ(b->used(), 0u);
}

// A writer of one share waits for room its parent lacks, and wakes when another share releases
// memory of that parent: every release reaches the root, where the waiters are.
TEST_F(HeadTest, AWaitForRoomWakesWhenAnotherShareReleasesTheParentsMemory) {
  auto process = std::make_shared<MemoryBudget>(3 << 20);
  auto a = std::make_shared<MemoryBudget>(2 << 20, process, "tenant a's head share");
  auto b = std::make_shared<MemoryBudget>(2 << 20, process, "tenant b's head share");
  ASSERT_TRUE(a->TryAcquire(2 << 20));
  ASSERT_TRUE(b->TryAcquire(1 << 20));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto waiting = std::async(std::launch::async, [&] { return b->WaitForRoom(1 << 20, deadline); });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  a->Release(1 << 20);
  EXPECT_TRUE(waiting.get());
  EXPECT_LT(std::chrono::steady_clock::now(), deadline);
  // Room that no release can make (more than b's share) is refused without waiting.
  EXPECT_FALSE(b->WaitForRoom((2 << 20) + 1, deadline));
  // A budget that stays full: false at the deadline.
  EXPECT_FALSE(process->WaitForRoom(3 << 20, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
}

TEST_F(HeadTest, ConcurrentInsertsAndQueries) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i)
        head_->Insert(Batch("s" + std::to_string(t), {MakeSpan(static_cast<uint8_t>(i), 1, 0, "x", 1, 1)}), {});
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 200; ++i) EXPECT_TRUE(engine_.FindTraceIds(query::TraceQuery{}).ok());
  });
  for (auto& th : threads) th.join();
  EXPECT_EQ(head_->Stats().spans, 800u);
}

TEST(SummarizeTest, RootErrorsAndOrphans) {
  auto root = MakeSpan(1, 1, 0, "root", 100, 50);
  auto child = MakeSpan(1, 2, 1, "child", 110, 100);
  child.status.code = model::StatusCode::kError;
  auto orphan = MakeSpan(1, 3, 9, "orphan", 90, 5);
  auto t = Batch("svc", {child, root, orphan});
  auto s = query::Summarize(Tid(1), t);
  EXPECT_EQ(s.root_operation_name, "root");
  EXPECT_EQ(s.root_service_name, "svc");
  EXPECT_EQ(s.span_count, 3);
  EXPECT_EQ(s.error_span_count, 1);
  EXPECT_EQ(s.orphan_span_count, 1);
  EXPECT_EQ(s.min_start_unix_nano, 90u);
  EXPECT_EQ(s.max_end_unix_nano, 210u);
  ASSERT_EQ(s.services.size(), 1u);
  EXPECT_EQ(s.services[0].span_count, 3);
}

}  // namespace
}  // namespace tb::head
