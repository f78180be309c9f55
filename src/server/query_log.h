// The doors' trace queries, timed: each runs the query engine's call and, when it took longer
// than the slow-query threshold, logs a "slow query" event (server/logging.h) with the door, the
// kind of query, its parameters, the duration and the number of traces returned. Also the one form
// in which every door names the sources a query could not read.
#pragma once

#include <chrono>
#include <string_view>
#include <vector>

#include "query/query_engine.h"

namespace tb::server {

// 0 turns the slow-query log off. Set once at start-up.
void SetSlowQueryThreshold(std::chrono::microseconds threshold);

// `door` names the API ("grpc_v2", "grpc_v1", "api_v3", "jaeger_http").
Status GetTracesLogged(const query::QueryEngine& engine, std::string_view door, const std::vector<model::TraceId>& ids,
                       const query::TraceSink& sink);
Status FindTracesLogged(const query::QueryEngine& engine, std::string_view door, const query::TraceQuery& query,
                        const query::TraceSink& sink);
Result<std::vector<query::TraceHit>> FindTraceIdsLogged(const query::QueryEngine& engine, std::string_view door,
                                                        const query::TraceQuery& query);

// The header (HTTP) and trailing metadata key (gRPC) that name the sources a query could not read
// (query::QueryEngine::WithWarnings), present only when there is one.
inline constexpr char kWarningsKey[] = "tracebucket-warnings";
// Its value: a JSON array of {"source": "block <id>", "code": "UNAVAILABLE", "message": "..."}, in
// ASCII (other characters \u-escaped), so that it is a valid header and metadata value. At most
// kMaxWarningsBytes: gRPC C-core clients fail a call whose metadata passes 8 KiB by default, and
// Node's HTTP parser an answer whose headers pass 16 KiB, while a store that is down may leave
// hundreds of blocks unread. The entries that do not fit are counted in a last one,
// {"source": "<n> more sources", "code": <the first one's code>, "message": "..."}.
inline constexpr size_t kMaxWarningsBytes = 4096;
std::string WarningsJson(const std::vector<query::SourceWarning>& warnings);

}  // namespace tb::server
