// Fuzzes every query-parameter parser of the HTTP query doors (/api and /api/v3): the input's first
// line is a path parameter (a trace ID), the rest a URL query string, split and URL-decoded by the
// HTTP door's own parser (ParseQueryString, server/http_router.h) exactly as for a request. The
// parsed parameters go through each route's parser (search, trace by ID, dependencies, metrics) and
// each value through the scalar parsers (RFC 3339 times, Go durations and bools, trace IDs).
// Nothing may crash; what is accepted must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "server/api_v3_http.h"
#include "server/http_router.h"
#include "server/jaeger_http_api.h"

namespace {

namespace api_v3 = tb::server::api_v3;
namespace jaeger_api = tb::server::jaeger_api;

// A fixed "now" (2024-05-01T00:00:00Z), so that a crash reproduces.
constexpr uint64_t kNow = 1'714'521'600ull * 1'000'000'000;

void CheckScalars(std::string_view text) {
  (void)api_v3::ParseRfc3339Nanos(text);
  (void)api_v3::ParseGoDurationNanos(text);
  (void)api_v3::ParseGoBool(text);
  // The /api form accepts every hex ID that the api_v3 form does, as the same ID.
  auto hex = api_v3::ParseTraceId(text);
  auto any = jaeger_api::ParseTraceIdParam(text);
  if (hex.ok() && (!any.ok() || *any != *hex)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string path_param = input.substr(0, newline);
  api_v3::QueryParams params;
  if (newline != std::string::npos) {
    auto parsed = tb::server::ParseQueryString(input.substr(newline + 1));
    if (!parsed.ok()) return 0;  // a bad percent-escape: the door answers 400 before any route
    params = std::move(*parsed);
  }

  CheckScalars(path_param);
  for (const auto& [key, value] : params) CheckScalars(value);

  if (auto q = api_v3::ParseTraceQuery(params); q.ok()) {
    if (*q->start_time_min_unix_nano > *q->start_time_max_unix_nano) std::abort();
    if (q->search_depth < 0) std::abort();
  }
  (void)api_v3::ParseGetTrace(path_param, params);
  if (auto search = jaeger_api::ParseSearch(params, kNow); search.ok()) {
    if (search->query.search_depth < 0) std::abort();
  }
  if (auto deps = jaeger_api::ParseDependencies(params, kNow); deps.ok()) {
    if (deps->start_unix_nano > deps->end_unix_nano) std::abort();
  }
  for (auto route : {jaeger_api::MetricsRoute::kLatencies, jaeger_api::MetricsRoute::kCalls,
                     jaeger_api::MetricsRoute::kErrors, jaeger_api::MetricsRoute::kMinStep}) {
    (void)jaeger_api::CheckMetricsParams(route, params);
  }
  return 0;
}
