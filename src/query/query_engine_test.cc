#include "query/query_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>

#include "util/test_sync.h"
#include "util/worker_pool.h"

namespace tb::query {
namespace {

using test_sync::ManualSteadyClock;
using test_sync::Rendezvous;

// A source holding one span of `held`, that plans its reads as told and records who read it. With
// `concurrent`, each read waits there for the reads of the other sources sharing it.
class ScriptedSource final : public TraceSource {
 public:
  ScriptedSource(model::TraceId held, TraceReadPlan plan, Rendezvous* concurrent = nullptr)
      : held_(held), plan_(plan), concurrent_(concurrent) {}

  TraceReadPlan PlanReadTrace(const model::TraceId&) const override { return plan_; }
  Status ReadTrace(const model::TraceId& id, model::Traces* out) const override {
    {
      std::lock_guard lock(mu_);
      ++reads_;
      reader_ = std::this_thread::get_id();
    }
    if (concurrent_ != nullptr) {
      const bool met = concurrent_->ArriveAndWait();
      std::lock_guard lock(mu_);
      saw_concurrent_ = met;
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
  Rendezvous* const concurrent_;
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
  Rendezvous concurrent(2);
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

// A source holding one span in each of traces 1..n, whose every search and read takes `step` on
// `clock` (none: takes no time).
class SlowSource final : public TraceSource {
 public:
  explicit SlowSource(int n, ManualSteadyClock* clock = nullptr, std::chrono::milliseconds step = {})
      : n_(n), clock_(clock), step_(step) {}
  Status ReadTrace(const model::TraceId& id, model::Traces* out) const override {
    TakeAStep();
    model::Span span;
    span.trace_id = id;
    out->resource_spans.push_back({{}, {{{}, {span}}}});
    return Status::Ok();
  }
  Status FindTraces(const SpanMatcher&, size_t limit, std::vector<TraceHit>* hits) const override {
    TakeAStep();
    for (int i = 1; i <= n_ && hits->size() < limit; ++i) hits->push_back({Id(static_cast<uint8_t>(i)), 0, 0, 0});
    return Status::Ok();
  }
  Status Services(std::set<std::string>*) const override { return Status::Ok(); }
  Status Operations(const std::string&, const std::string&, std::set<Operation>*) const override {
    return Status::Ok();
  }
  Status Dependencies(uint64_t, uint64_t, DependencyCounts*) const override { return Status::Ok(); }

 private:
  void TakeAStep() const {
    if (clock_ != nullptr) clock_->Advance(step_);
  }

  const int n_;
  ManualSteadyClock* const clock_;
  const std::chrono::milliseconds step_;
};

QueryEngineOptions WithLimits(int max_search_depth, std::chrono::milliseconds timeout) {
  QueryEngineOptions options;
  options.limits.max_search_depth = max_search_depth;
  options.limits.timeout = timeout;
  return options;
}

TEST(QueryLimits, SearchDeeperThanTheLimitIsRefusedOnEverySearch) {
  QueryEngine engine(SourceList{std::make_shared<SlowSource>(3)}, WithLimits(10, std::chrono::milliseconds(0)));
  TraceQuery q;
  q.search_depth = 11;
  auto ids = engine.FindTraceIds(q);
  ASSERT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ids.status().message().find("limits.max_search_depth (10)"), std::string::npos) << ids.status().message();
  int traces = 0;
  const auto count = [&](const model::TraceId&, model::Traces&&) { return ++traces, Status::Ok(); };
  EXPECT_EQ(engine.FindTraces(q, count).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(traces, 0);
  q.search_depth = 10;
  ASSERT_TRUE(engine.FindTraces(q, count).ok());
  EXPECT_EQ(traces, 3);
  // No limit (the default, e.g. the operator's export): any depth.
  QueryEngine unlimited(SourceList{std::make_shared<SlowSource>(3)});
  q.search_depth = std::numeric_limits<int>::max();
  EXPECT_EQ(unlimited.FindTraceIds(q)->size(), 3u);
}

// Every search and read of SlowSource takes 30 ms (on the engine's clock) against a 10 ms timeout:
// a lookup delivers the trace it started before the deadline and stops before the next; a search
// stops before reading any trace. At 3 ms a step, or without a timeout, all three come back.
TEST(QueryLimits, TimeoutStopsTheQueryAtItsNextStep) {
  ManualSteadyClock clock;
  // One trace read at a time, so that each wave of trace reads is one step.
  QueryEngineOptions one_at_a_time = WithLimits(0, std::chrono::milliseconds(10));
  one_at_a_time.max_parallel = 1;
  one_at_a_time.clock = clock.Function();
  QueryEngine engine(SourceList{std::make_shared<SlowSource>(3, &clock, std::chrono::milliseconds(30))}, one_at_a_time);
  int traces = 0;
  const auto count = [&](const model::TraceId&, model::Traces&&) { return ++traces, Status::Ok(); };
  const Status get = engine.GetTraces({Id(1), Id(2), Id(3)}, count);
  EXPECT_EQ(get.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(get.message().find("limits.query_timeout"), std::string::npos) << get.message();
  EXPECT_EQ(traces, 1);

  traces = 0;
  EXPECT_EQ(engine.FindTraces(TraceQuery{}, count).code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(traces, 0);

  // Three reads of 3 ms: the last starts at 6 ms, within the 10 ms.
  QueryEngine quick(SourceList{std::make_shared<SlowSource>(3, &clock, std::chrono::milliseconds(3))}, one_at_a_time);
  ASSERT_TRUE(quick.GetTraces({Id(1), Id(2), Id(3)}, count).ok());
  EXPECT_EQ(traces, 3);

  traces = 0;
  QueryEngine patient(SourceList{std::make_shared<SlowSource>(3, &clock, std::chrono::milliseconds(30))});
  ASSERT_TRUE(patient.GetTraces({Id(1), Id(2), Id(3)}, count).ok());
  EXPECT_EQ(traces, 3);
}

// A source holding one trace, whose read waits until every source sharing `met` is reading at
// once, and records whether they all met: parallel reads meet, serial ones do not.
class RendezvousSource final : public TraceSource {
 public:
  RendezvousSource(model::TraceId id, std::shared_ptr<Rendezvous> met) : id_(id), met_(std::move(met)) {}
  TraceReadPlan PlanReadTrace(const model::TraceId& id) const override {
    return id == id_ ? TraceReadPlan::kMayWait : TraceReadPlan::kAbsent;
  }
  Status ReadTrace(const model::TraceId& id, model::Traces* out) const override {
    ++reads_;
    if (!met_->ArriveAndWait()) all_met_ = false;
    model::Span span;
    span.trace_id = id;
    out->resource_spans.push_back({{}, {{{}, {span}}}});
    return Status::Ok();
  }
  Status FindTraces(const SpanMatcher&, size_t, std::vector<TraceHit>*) const override { return Status::Ok(); }
  Status Services(std::set<std::string>*) const override { return Status::Ok(); }
  Status Operations(const std::string&, const std::string&, std::set<Operation>*) const override {
    return Status::Ok();
  }
  Status Dependencies(uint64_t, uint64_t, DependencyCounts*) const override { return Status::Ok(); }
  bool all_met() const { return all_met_; }
  int reads() const { return reads_; }

 private:
  const model::TraceId id_;
  std::shared_ptr<Rendezvous> met_;
  mutable std::atomic<int> reads_ = 0;
  mutable std::atomic<bool> all_met_ = true;
};

// The sources that may hold a wave's traces are read in parallel, each only for the traces it
// does not rule out, and the traces are handed over in the order asked.
TEST(QueryEngineTest, TracesAreReadInParallelAndStreamedInTheOrderAsked) {
  const auto met = std::make_shared<Rendezvous>(5);
  SourceList sources;
  std::vector<std::shared_ptr<RendezvousSource>> held;
  for (int i : {1, 2, 5, 8, 9}) {
    held.push_back(std::make_shared<RendezvousSource>(Id(i), met));
    sources.push_back(held.back());
  }
  QueryEngine engine(sources);  // max_parallel 16: one wave
  std::vector<model::TraceId> order;
  ASSERT_TRUE(engine
                  .GetTraces({Id(5), Id(2), Id(8), Id(1), Id(9)},
                             [&](const model::TraceId& id, model::Traces&& trace) {
                               EXPECT_EQ(trace.SpanCount(), 1u);
                               order.push_back(id);
                               return Status::Ok();
                             })
                  .ok());
  EXPECT_EQ(order, (std::vector<model::TraceId>{Id(5), Id(2), Id(8), Id(1), Id(9)}));
  for (const auto& source : held) {
    EXPECT_TRUE(source->all_met()) << "the five reads did not overlap";
    EXPECT_EQ(source->reads(), 1);
  }
}

// A request whose client went away stops at its next step with CANCELLED: a lookup after the trace
// it was streaming, a search before reading any trace. The engine it was derived from is not
// affected.
TEST(QueryCancellation, ACancelledRequestStopsAtItsNextStep) {
  QueryEngine engine(SourceList{std::make_shared<SlowSource>(3)});
  bool gone = false;
  const QueryEngine watched = engine.WithCancellation([&] { return gone; });
  int traces = 0;
  const auto leave_after_one = [&](const model::TraceId&, model::Traces&&) {
    ++traces;
    gone = true;
    return Status::Ok();
  };
  const Status get = watched.GetTraces({Id(1), Id(2), Id(3)}, leave_after_one);
  EXPECT_EQ(get.code(), StatusCode::kCancelled);
  EXPECT_NE(get.message().find("cancelled"), std::string::npos) << get.message();
  EXPECT_EQ(traces, 1);

  traces = 0;
  EXPECT_EQ(watched.FindTraces(TraceQuery{}, leave_after_one).code(), StatusCode::kCancelled);
  EXPECT_EQ(watched.FindTraceIds(TraceQuery{}).status().code(), StatusCode::kCancelled);
  EXPECT_EQ(traces, 0);
  ASSERT_TRUE(engine.GetTraces({Id(1), Id(2), Id(3)}, leave_after_one).ok());
  EXPECT_EQ(traces, 3);
}

// When parallel reads need a thread and the process has none left, the request is refused with
// UNAVAILABLE naming the limit, and the process goes on.
TEST(QueryWorkers, NoThreadLeftRefusesTheRequestWithUnavailable) {
  const std::shared_ptr<WorkerPool> before = SharedWorkerPool();
  SetSharedWorkerPool(std::make_shared<WorkerPool>(
      WorkerPool::Limits{.workers = 2, .queue = 4}, [](std::function<void()>) -> std::thread {
        throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
      }));
  const model::TraceId id = Id(1);
  QueryEngine engine(SourceList{std::make_shared<ScriptedSource>(id, TraceReadPlan::kMayWait),
                                std::make_shared<ScriptedSource>(id, TraceReadPlan::kMayWait)});
  const Status s = engine.GetTraces({id}, [](const model::TraceId&, model::Traces&&) { return Status::Ok(); });
  SetSharedWorkerPool(before);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("limits.query_workers=2"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tb::query
