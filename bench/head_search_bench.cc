// Search latency over a head holding 1M spans (issue: "a tag search over 1M head spans answers in
// <= 10 ms p50"). Run: build/bench/tb_head_search_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include "head/head.h"
#include "query/query_engine.h"
#include "workload.h"

namespace tb::bench {
namespace {

constexpr size_t kSpans = 1'000'000;

struct Fixture {
  std::shared_ptr<head::Head> head = std::make_shared<head::Head>(head::Options{64ull << 30, nullptr});
  query::QueryEngine engine{{head}};
  Fixture() {
    Workload workload;
    size_t total = 0;
    while (total < kSpans) {
      model::Traces batch = workload.NextBatch(512);
      total += batch.SpanCount();
      head->Insert(std::move(batch), {});
    }
  }
};

Fixture& Shared() {
  static Fixture f;
  return f;
}

void RunQuery(benchmark::State& state, const query::TraceQuery& q) {
  Fixture& f = Shared();
  size_t found = 0;
  for (auto _ : state) {
    auto hits = f.engine.FindTraceIds(q);
    found = hits->size();
    benchmark::DoNotOptimize(found);
  }
  state.counters["traces_found"] = static_cast<double>(found);
  state.counters["head_spans"] = static_cast<double>(f.head->Stats().spans);
}

void BM_ServiceAndTag(benchmark::State& state) {
  query::TraceQuery q;
  q.service_name = Workload().ServiceName(3);
  q.attributes = {{"user.id", "user-42"}};
  q.search_depth = 20;
  RunQuery(state, q);
}
BENCHMARK(BM_ServiceAndTag)->Unit(benchmark::kMillisecond);

void BM_TagOnly(benchmark::State& state) {
  query::TraceQuery q;
  q.attributes = {{"user.id", "user-42"}};
  RunQuery(state, q);
}
BENCHMARK(BM_TagOnly)->Unit(benchmark::kMillisecond);

void BM_ServiceTagAndDuration(benchmark::State& state) {
  query::TraceQuery q;
  q.service_name = Workload().ServiceName(3);
  q.attributes = {{"http.status_code", "500"}};
  q.duration_min_nanos = 10'000'000;
  RunQuery(state, q);
}
BENCHMARK(BM_ServiceTagAndDuration)->Unit(benchmark::kMillisecond);

void BM_ErrorSpans(benchmark::State& state) {
  query::TraceQuery q;
  q.service_name = Workload().ServiceName(3);
  q.attributes = {{"error", "true"}};
  RunQuery(state, q);
}
BENCHMARK(BM_ErrorSpans)->Unit(benchmark::kMillisecond);

void BM_ServiceOnly(benchmark::State& state) {
  query::TraceQuery q;
  q.service_name = Workload().ServiceName(3);
  RunQuery(state, q);
}
BENCHMARK(BM_ServiceOnly)->Unit(benchmark::kMillisecond);

void BM_GetTrace(benchmark::State& state) {
  Fixture& f = Shared();
  query::TraceQuery q;
  q.attributes = {{"user.id", "user-7"}};
  auto hits = f.engine.FindTraceIds(q);
  const model::TraceId id = hits->front().trace_id;
  for (auto _ : state) {
    size_t spans = 0;
    Status s = f.engine.GetTraces({id}, [&](const model::TraceId&, model::Traces&& t) {
      spans += t.SpanCount();
      return Status::Ok();
    });
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(spans);
  }
}
BENCHMARK(BM_GetTrace)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tb::bench

BENCHMARK_MAIN();
