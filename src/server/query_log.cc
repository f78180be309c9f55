#include "server/query_log.h"

#include <atomic>
#include <type_traits>

#include "model/text.h"
#include "server/logging.h"

namespace tb::server {
namespace {

std::atomic<int64_t> slow_query_threshold_us{0};

nlohmann::json Parameters(const query::TraceQuery& q) {
  nlohmann::json p = nlohmann::json::object();
  if (!q.service_name.empty()) p["service"] = q.service_name;
  if (!q.operation_name.empty()) p["operation"] = q.operation_name;
  if (!q.attributes.empty()) {
    nlohmann::json tags = nlohmann::json::object();
    for (const auto& a : q.attributes) tags[a.key] = a.value;
    p["tags"] = std::move(tags);
  }
  if (q.start_time_min_unix_nano) p["start_time_min_unix_nano"] = *q.start_time_min_unix_nano;
  if (q.start_time_max_unix_nano) p["start_time_max_unix_nano"] = *q.start_time_max_unix_nano;
  if (q.duration_min_nanos) p["duration_min_nanos"] = *q.duration_min_nanos;
  if (q.duration_max_nanos) p["duration_max_nanos"] = *q.duration_max_nanos;
  p["limit"] = q.Limit();
  return p;
}

nlohmann::json Parameters(const std::vector<model::TraceId>& ids) {
  nlohmann::json hex = nlohmann::json::array();
  for (const auto& id : ids) hex.push_back(model::HexEncode(id));
  return {{"trace_ids", std::move(hex)}};
}

// Runs `run` (which reports the traces it returned) and logs it when slow. The parameters are
// built only for a slow query.
template <typename Run, typename Params>
auto Timed(std::string_view door, std::string_view kind, const Params& params, Run run) {
  const auto started = std::chrono::steady_clock::now();
  size_t traces = 0;
  auto result = run(&traces);
  const int64_t threshold_us = slow_query_threshold_us.load(std::memory_order_relaxed);
  if (threshold_us <= 0) return result;
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  if (elapsed.count() < threshold_us) return result;
  nlohmann::json fields = {{"door", std::string(door)},
                           {"kind", std::string(kind)},
                           {"parameters", Parameters(params)},
                           {"duration_ms", static_cast<double>(elapsed.count()) / 1000},
                           {"traces", traces}};
  Status status;
  if constexpr (std::is_same_v<decltype(result), Status>) {
    status = result;
  } else {
    status = result.status();
  }
  if (!status.ok()) fields["error"] = status.ToString();
  LogEvent(spdlog::level::warn, "slow query", fields);
  return result;
}

query::TraceSink Counting(const query::TraceSink& sink, size_t* traces) {
  return [&sink, traces](const model::TraceId& id, model::Traces&& trace) {
    ++*traces;
    return sink(id, std::move(trace));
  };
}

}  // namespace

void SetSlowQueryThreshold(std::chrono::microseconds threshold) { slow_query_threshold_us = threshold.count(); }

Status GetTracesLogged(const query::QueryEngine& engine, std::string_view door, const std::vector<model::TraceId>& ids,
                       const query::TraceSink& sink) {
  return Timed(door, "get_trace", ids, [&](size_t* traces) { return engine.GetTraces(ids, Counting(sink, traces)); });
}

Status FindTracesLogged(const query::QueryEngine& engine, std::string_view door, const query::TraceQuery& query,
                        const query::TraceSink& sink) {
  return Timed(door, "find_traces", query,
               [&](size_t* traces) { return engine.FindTraces(query, Counting(sink, traces)); });
}

Result<std::vector<query::TraceHit>> FindTraceIdsLogged(const query::QueryEngine& engine, std::string_view door,
                                                        const query::TraceQuery& query) {
  return Timed(door, "find_trace_ids", query, [&](size_t* traces) {
    auto hits = engine.FindTraceIds(query);
    if (hits.ok()) *traces = hits->size();
    return hits;
  });
}

std::string WarningsJson(const std::vector<query::SourceWarning>& warnings) {
  const auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  };
  const auto entry = [&](std::string source, StatusCode code, std::string message) {
    return dump({{"source", std::move(source)}, {"code", std::string(StatusCodeName(code))}, {"message", message}});
  };
  // Room for the closing entry that counts the sources left out (well under 200 bytes).
  constexpr size_t kSummaryRoom = 200;
  std::string out = "[";
  size_t listed = 0;
  for (; listed < warnings.size(); ++listed) {
    const query::SourceWarning& w = warnings[listed];
    const std::string next = entry(w.source, w.reason.code(), w.reason.message());
    const bool last = listed + 1 == warnings.size();
    if (out.size() + 1 + next.size() + 1 + (last ? 0 : kSummaryRoom) > kMaxWarningsBytes) break;
    if (listed > 0) out += ',';
    out += next;
  }
  if (listed < warnings.size()) {
    if (listed > 0) out += ',';
    out += entry(std::to_string(warnings.size() - listed) + " more sources", warnings[listed].reason.code(),
                 "not listed, to keep this value small; the server log names each");
  }
  return out + "]";
}

}  // namespace tb::server
