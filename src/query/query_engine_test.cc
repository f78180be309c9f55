#include "query/query_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace tb::query {
namespace {

// A source holding one span of `held`, that plans its reads as told and records who read it.
class ScriptedSource final : public TraceSource {
 public:
  ScriptedSource(model::TraceId held, TraceReadPlan plan, std::atomic<int>* concurrent = nullptr)
      : held_(held), plan_(plan), concurrent_(concurrent) {}

  TraceReadPlan PlanReadTrace(const model::TraceId&) const override { return plan_; }
  Status ReadTrace(const model::TraceId& id, model::Traces* out) const override {
    {
      std::lock_guard lock(mu_);
      ++reads_;
      reader_ = std::this_thread::get_id();
    }
    if (concurrent_ != nullptr) {
      // Waits (up to 5 s) until every source sharing the counter is being read at once.
      ++*concurrent_;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (*concurrent_ < 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::lock_guard lock(mu_);
      saw_concurrent_ = *concurrent_ >= 2;
    }
    if (id != held_) return Status::Ok();
    model::Span span;
    span.trace_id = id;
    span.name = "span";
    out->resource_spans.push_back({{}, {{{}, {span}}}});
    return Status::Ok();
  }
  Status FindTraces(const SpanMatcher&, size_t, std::vector<TraceHit>*) const override { return Status::Ok(); }
  Status Services(std::set<std::string>*) const override { return Status::Ok(); }
  Status Operations(const std::string&, const std::string&, std::set<Operation>*) const override {
    return Status::Ok();
  }
  Status Dependencies(uint64_t, uint64_t, DependencyCounts*) const override { return Status::Ok(); }

  int reads() const {
    std::lock_guard lock(mu_);
    return reads_;
  }
  std::thread::id reader() const {
    std::lock_guard lock(mu_);
    return reader_;
  }
  bool saw_concurrent() const {
    std::lock_guard lock(mu_);
    return saw_concurrent_;
  }

 private:
  const model::TraceId held_;
  const TraceReadPlan plan_;
  std::atomic<int>* const concurrent_;
  mutable std::mutex mu_;
  mutable int reads_ = 0;
  mutable std::thread::id reader_;
  mutable bool saw_concurrent_ = false;
};

size_t SpanCount(const model::Traces& t) {
  size_t n = 0;
  for (const auto& rs : t.resource_spans)
    for (const auto& ss : rs.scope_spans) n += ss.spans.size();
  return n;
}

model::TraceId Id(uint8_t b) {
  model::TraceId id{};
  id[15] = b;
  return id;
}

// A source that rules the trace out is not asked to read it; in-memory reads and a single read
// that may wait run on the caller's thread, and the answer merges every source that was read.
TEST(QueryEngineTraceRead, SourcesThatRuleTheTraceOutAreNotAskedAndOthersRunInline) {
  const model::TraceId id = Id(1);
  auto absent = std::make_shared<ScriptedSource>(id, TraceReadPlan::kAbsent);  // would answer if asked
  auto memory_a = std::make_shared<ScriptedSource>(id, TraceReadPlan::kFromMemory);
  auto memory_b = std::make_shared<ScriptedSource>(Id(2), TraceReadPlan::kFromMemory);
  auto waits = std::make_shared<ScriptedSource>(id, TraceReadPlan::kMayWait);
  QueryEngine engine(SourceList{absent, memory_a, waits, memory_b});
  size_t spans = 0;
  ASSERT_TRUE(engine
                  .GetTraces({id},
                             [&](const model::TraceId& got, model::Traces&& trace) {
                               EXPECT_EQ(got, id);
                               spans += SpanCount(trace);
                               return Status::Ok();
                             })
                  .ok());
  EXPECT_EQ(spans, 2u);  // memory_a and waits; not absent's
  EXPECT_EQ(absent->reads(), 0);
  for (const auto* s : {memory_a.get(), memory_b.get(), waits.get()}) {
    EXPECT_EQ(s->reads(), 1);
    EXPECT_EQ(s->reader(), std::this_thread::get_id());
  }
}

// Two sources that may wait on storage are read at the same time (each waits until the other is
// being read), so a cold lookup still costs one round trip.
TEST(QueryEngineTraceRead, SourcesThatMayWaitAreReadInParallel) {
  const model::TraceId id = Id(1);
  std::atomic<int> concurrent{0};
  auto a = std::make_shared<ScriptedSource>(id, TraceReadPlan::kMayWait, &concurrent);
  auto b = std::make_shared<ScriptedSource>(id, TraceReadPlan::kMayWait, &concurrent);
  auto memory = std::make_shared<ScriptedSource>(id, TraceReadPlan::kFromMemory);
  QueryEngine engine(SourceList{a, memory, b});
  size_t spans = 0;
  ASSERT_TRUE(engine
                  .GetTraces({id},
                             [&](const model::TraceId&, model::Traces&& trace) {
                               spans += SpanCount(trace);
                               return Status::Ok();
                             })
                  .ok());
  EXPECT_EQ(spans, 3u);
  EXPECT_TRUE(a->saw_concurrent());
  EXPECT_TRUE(b->saw_concurrent());
  EXPECT_NE(a->reader(), b->reader());
}

// When every source rules the trace out, the trace is unknown: nothing is streamed.
TEST(QueryEngineTraceRead, TraceRuledOutEverywhereIsSkipped) {
  auto absent = std::make_shared<ScriptedSource>(Id(1), TraceReadPlan::kAbsent);
  QueryEngine engine(SourceList{absent});
  int streamed = 0;
  ASSERT_TRUE(engine
                  .GetTraces({Id(1)},
                             [&](const model::TraceId&, model::Traces&&) {
                               ++streamed;
                               return Status::Ok();
                             })
                  .ok());
  EXPECT_EQ(streamed, 0);
  EXPECT_EQ(absent->reads(), 0);
}

}  // namespace
}  // namespace tb::query
