#include "workload.h"

#include <cstring>
#include <string>
#include <vector>

namespace tb::bench {
namespace {

const char* kMethods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
const int64_t kStatuses[] = {200, 200, 200, 200, 201, 204, 404, 500};

}  // namespace

Workload::Workload(const WorkloadOptions& options)
    : options_(options), rng_(options.seed), clock_(options.start_unix_nano) {}

model::Traces Workload::NextBatch(size_t spans) {
  model::Traces batch;
  batch.resource_spans.resize(static_cast<size_t>(options_.services));
  for (int s = 0; s < options_.services; ++s) {
    auto& rs = batch.resource_spans[static_cast<size_t>(s)];
    rs.resource.attributes = {{"service.name", model::AnyValue::String("service-" + std::to_string(s))},
                              {"host.name", model::AnyValue::String("host-" + std::to_string(s % 7))},
                              {"service.version", model::AnyValue::String("1." + std::to_string(s % 3) + ".0")},
                              {"telemetry.sdk.language", model::AnyValue::String("cpp")}};
    rs.scope_spans.resize(1);
    rs.scope_spans[0].scope.name = "io.opentelemetry.http";
    rs.scope_spans[0].scope.version = "1.30.0";
  }
  size_t added = 0;
  while (added < spans) AddTrace(&batch, &added);
  std::erase_if(batch.resource_spans, [](const model::ResourceSpans& rs) { return rs.scope_spans[0].spans.empty(); });
  return batch;
}

void Workload::AddTrace(model::Traces* batch, size_t* added) {
  auto uniform = [this](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); };
  model::TraceId trace_id;
  const uint64_t hi = rng_(), lo = rng_() | 1;
  std::memcpy(trace_id.data(), &hi, 8);
  std::memcpy(trace_id.data() + 8, &lo, 8);
  // Heavy-ish tail: most traces are small, some reach 30 spans.
  const size_t size = 1 + static_cast<size_t>(std::min<uint64_t>(29, uniform(4) * uniform(9)));
  const std::string user = "user-" + std::to_string(uniform(static_cast<uint64_t>(options_.users)));
  std::vector<model::SpanId> ids;
  clock_ += 1'000'000 + uniform(1'000'000);
  for (size_t i = 0; i < size; ++i) {
    model::Span span;
    span.trace_id = trace_id;
    const uint64_t sid = rng_() | 1;
    std::memcpy(span.span_id.data(), &sid, 8);
    if (i > 0) span.parent_span_id = ids[uniform(ids.size())];
    ids.push_back(span.span_id);
    const auto service = static_cast<size_t>(uniform(static_cast<uint64_t>(options_.services)));
    const auto op = uniform(static_cast<uint64_t>(options_.operations_per_service));
    span.name = (op % 2 ? "GET /api/v1/resource-" : "rpc.Method") + std::to_string(op);
    span.kind = i == 0 ? model::SpanKind::kServer : static_cast<model::SpanKind>(1 + uniform(5));
    span.start_time_unix_nano = clock_ + i * 50'000;
    span.end_time_unix_nano = span.start_time_unix_nano + 20'000 + uniform(50'000'000);
    const int64_t status = kStatuses[uniform(std::size(kStatuses))];
    span.attributes = {{"http.method", model::AnyValue::String(kMethods[uniform(std::size(kMethods))])},
                       {"http.status_code", model::AnyValue::Int(status)},
                       {"http.url", model::AnyValue::String("https://shop.example.com/api/v1/orders/" +
                                                            std::to_string(rng_() % 1000000))},
                       {"user.id", model::AnyValue::String(user)},
                       {"request.id", model::AnyValue::String(std::to_string(rng_()))},
                       {"net.peer.port", model::AnyValue::Int(static_cast<int64_t>(1024 + uniform(60000)))}};
    if (uniform(10) == 0) {
      span.attributes.push_back(
          {"db.statement",
           model::AnyValue::String("SELECT id, total, created_at FROM orders WHERE customer_id = " +
                                   std::to_string(uniform(100000)) + " ORDER BY created_at DESC LIMIT 50")});
    }
    if (uniform(100) == 0) {
      span.status.code = model::StatusCode::kError;
      span.status.message = "upstream timed out";
      span.events.push_back({span.end_time_unix_nano,
                             "exception",
                             {{"exception.type", model::AnyValue::String("TimeoutError")},
                              {"exception.message", model::AnyValue::String("deadline exceeded after 5s")}},
                             0});
    } else if (uniform(5) == 0) {
      span.events.push_back({span.start_time_unix_nano + 1000, "cache.miss", {}, 0});
    }
    batch->resource_spans[service].scope_spans[0].spans.push_back(std::move(span));
    ++*added;
  }
}

}  // namespace tb::bench
