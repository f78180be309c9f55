// The Jaeger query service's internal JSON API ("/api", as of Jaeger v2.20; docs/jaeger-semantics.md
// §6.2), which Grafana's Jaeger data source and Jaeger UI before its api_v3 migration call. Routes:
//   GET /api/services, /api/services/{service}/operations, /api/operations?service=&spanKind=,
//   GET /api/traces?service=&operation=&tags=&tag=&start=&end=&minDuration=&maxDuration=&limit=&traceID=,
//   GET /api/traces/{traceID}?start=&end=&raw=, /api/dependencies?endTs=&lookback=&service=,
//   GET /api/metrics/{latencies,calls,errors,minstep} (501: there is no metrics store, §6.6),
//   POST /api/transform (OTLP/JSON in, UI traces out, §6.7).
// Every answer is Jaeger's envelope {"data","total","limit","offset","errors"}; traces are Jaeger UI
// JSON (wire/jaeger_ui_json.h) of model::jaeger::ToJaeger spans. Errors are the same envelope with
// errors [{"code","msg"}] as text/plain (Jaeger writes them with Go's http.Error): 400 for bad
// parameters or input, 404 for an unknown trace, 413 for a body over the request-size limit, 500
// for storage errors, 501 for metrics. Everything reads through the QueryEngine. "?prettyPrint=true"
// indents by 4.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "query/query_engine.h"
#include "server/api_v3_http.h"
#include "util/status.h"

namespace tb::server::jaeger_api {

using QueryParams = api_v3::QueryParams;

// Search window when `start` is absent (Jaeger's defaultTraceQueryLookbackDuration).
inline constexpr uint64_t kDefaultSearchLookbackNanos = 48ull * 3600 * 1'000'000'000;
// Dependency window when `lookback` is absent: 24 h, in milliseconds as the parameter is.
inline constexpr uint64_t kDefaultDependenciesLookbackMillis = 86'400'000;

// A trace ID as Jaeger ≥ 2.20 accepts it: 1 to 32 hex digits (left-padded with zeros), or the
// base64 of 16 or 8 bytes (8: a 64-bit ID) in the standard or URL alphabet, padded or not.
Result<model::TraceId> ParseTraceIdParam(std::string_view text);

struct SearchRequest {
  // Non-empty: fetch exactly these traces; the other filters are ignored.
  std::vector<model::TraceId> trace_ids;
  query::TraceQuery query;
};

// The parameters of GET /api/traces (Jaeger's parseTraceQueryParams). `service` is required unless
// a traceID is given; `start`/`end` are µs since the epoch (defaults: now − 48 h, now);
// minDuration/maxDuration Go duration strings; tags from `tags` (a JSON object of strings) and
// repeated `tag=key:value`, merged, the later one winning; `limit` ≥ 0 (default 100; 0 means
// the default; the most is limits.max_search_depth, which the query engine enforces). `lookback` and `raw` are accepted
// and ignored: clients compute start/end themselves, and stored spans are never adjusted.
Result<SearchRequest> ParseSearch(const QueryParams& params, uint64_t now_unix_nano);

struct DependenciesRequest {
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  std::string service;  // empty: every link; else links whose parent or child is this service
};

// GET /api/dependencies: endTs (ms, default now), lookback (ms, default 24 h), service.
Result<DependenciesRequest> ParseDependencies(const QueryParams& params, uint64_t now_unix_nano);

// The message of the 501 that every metrics route answers when the parameters are valid: Jaeger's
// own words for a query service without a metrics store, which Jaeger UI's Monitor tab recognises.
inline constexpr std::string_view kMetricsDisabled = "metrics querying is currently disabled";

// Which metrics route a request is for; latencies also needs `quantile`, minstep reads nothing.
enum class MetricsRoute { kLatencies, kCalls, kErrors, kMinStep };

// The checks Jaeger's query service makes on GET /api/metrics/* before it asks its metrics store:
// `quantile` (latencies: a float), `service` (present, may repeat), `groupByOperation` (Go bool),
// `spanKind` (each one of unspecified, internal, server, client, producer, consumer), `endTs` (ms),
// `lookback`, `step`, `ratePer` (integer ms). INVALID_ARGUMENT names the bad parameter.
Status CheckMetricsParams(MetricsRoute route, const QueryParams& params);

// POST /api/transform: an OTLP/JSON document (wire/otlp_json.h) → the answer's text, Jaeger's
// envelope whose data are its spans as UI traces, one per trace ID in the order of first
// appearance, each with its spans in document order. Malformed input is INVALID_ARGUMENT "cannot
// unmarshal OTLP: ..." with the parser's message.
Result<std::string> TransformOtlpJson(std::string_view body, bool pretty = false);

// The error envelope's body (without the trailing newline http.Error adds); `unread` adds an error
// for each source the query could not read.
std::string ErrorJson(int http_code, std::string_view message, const std::vector<query::SourceWarning>& unread = {});

// Adds the routes to `router`. `engine` must outlive the server. POST /api/transform bodies larger
// than `max_request_bytes` (after any decoding) are refused with 413; the listener stops reading
// them at that size. A trace search or lookup whose answer would pass `answers` stops there and is
// refused. A query answers from the sources it can read and adds an error to the envelope's
// `errors` for each one it could not: {"code": 503, "msg": "block <id> could not be read:
// UNAVAILABLE: ..."} (the code is the HTTP status of the read's failure).
void RegisterRoutes(HttpRouter& router, const TenantDoor& door, uint64_t max_request_bytes,
                    const AnswerLimits& answers);

}  // namespace tb::server::jaeger_api
