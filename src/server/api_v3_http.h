// api_v3 over HTTP: the JSON gateway of jaeger.api_v3.QueryService that current Jaeger UI calls
// (docs/jaeger-semantics.md §6.4). All routes are GET under /api/v3:
//   /services, /operations?service=&spanKind=, /traces/{trace_id}, /traces?query.*, /trace-summaries?query.*
// Traces come back as {"result": <OTLP/JSON TracesData>} with every trace merged into one document;
// errors as {"error":{"httpCode":N,"message":"..."}} (400 bad parameters, 404 no traces, 5xx otherwise).
// Parameters are accepted in camelCase (query.serviceName) and in the deprecated snake_case
// (query.service_name). Everything reads through the QueryEngine.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/span.h"
#include "query/query_engine.h"
#include "server/http_server.h"
#include "server/tenants.h"
#include "util/status.h"

namespace tb::server::api_v3 {

using QueryParams = server::QueryParams;

// RFC 3339 with an optional fraction of up to 9 digits and "Z" or a ±hh:mm offset (Go's
// time.RFC3339Nano) → nanoseconds since the Unix epoch. Times before 1970 or after 2554 (beyond
// 64-bit nanoseconds) are INVALID_ARGUMENT.
Result<uint64_t> ParseRfc3339Nanos(std::string_view text);

// A non-negative Go duration string (time.ParseDuration): a sequence of decimal numbers, each with
// an optional fraction and a unit of ns, us, µs, ms, s, m or h, e.g. "1.5s", "500us", "1h2m3s", "0".
Result<uint64_t> ParseGoDurationNanos(std::string_view text);

// Go's strconv.ParseBool: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False.
Result<bool> ParseGoBool(std::string_view text);

// A trace ID of 1 to 32 hex digits (either case), left-padded with zeros; all zeros is invalid.
Result<model::TraceId> ParseTraceId(std::string_view text);

struct GetTraceRequest {
  model::TraceId trace_id{};
  // Hints: the trace is known to lie in [start_time, end_time]. Accepted and checked, not needed:
  // the trace index finds a trace without them.
  std::optional<uint64_t> start_time_unix_nano;
  std::optional<uint64_t> end_time_unix_nano;
  // Stored spans are never adjusted, so raw and adjusted traces are the same.
  bool raw_traces = false;
};

// GET /api/v3/traces/{trace_id}?startTime=&endTime=&rawTraces=
Result<GetTraceRequest> ParseGetTrace(std::string_view trace_id, const QueryParams& params);

// The query.* parameters of /api/v3/traces and /api/v3/trace-summaries. query.startTimeMin and
// query.startTimeMax are required; query.attributes is a JSON object of string values;
// query.filter (structured filters) is not supported.
Result<query::TraceQuery> ParseTraceQuery(const QueryParams& params);

// Response bodies.
std::string ErrorJson(int http_code, std::string_view message);
std::string ServicesJson(const std::vector<std::string>& services);
// An operation without a span kind is reported as "internal", as Jaeger's gateway does (and the
// route's spanKind=internal finds it).
std::string OperationsJson(const std::vector<query::Operation>& operations);
std::string TraceSummariesJson(const std::vector<query::TraceSummary>& summaries);

// Adds the GET routes to `router`. `engine` must outlive the server. A trace answer past `answers`
// is refused (its spans counted as they arrive, its bytes once encoded).
void RegisterRoutes(HttpRouter& router, const TenantDoor& door, const AnswerLimits& answers);

}  // namespace tb::server::api_v3
