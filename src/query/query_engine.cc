#include "query/query_engine.h"

#include <algorithm>
#include <map>
#include <unordered_set>

namespace tb::query {

Result<model::Traces> QueryEngine::ReadTrace(const model::TraceId& id) const {
  model::Traces trace;
  for (const auto& source : sources_) TB_RETURN_IF_ERROR(source->ReadTrace(id, &trace));
  return trace;
}

Status QueryEngine::GetTraces(const std::vector<model::TraceId>& ids, const TraceSink& sink) const {
  for (const auto& id : ids) {
    TB_ASSIGN_OR_RETURN(model::Traces trace, ReadTrace(id));
    if (trace.resource_spans.empty()) continue;
    TB_RETURN_IF_ERROR(sink(id, std::move(trace)));
  }
  return Status::Ok();
}

Result<std::vector<TraceHit>> QueryEngine::FindTraceIds(const TraceQuery& query) const {
  SpanMatcher matcher(query);
  std::vector<TraceHit> hits;
  if (!matcher.satisfiable()) return hits;
  const size_t limit = query.Limit();
  for (const auto& source : sources_) TB_RETURN_IF_ERROR(source->FindTraces(matcher, limit, &hits));
  // A trace found in several sources is one result whose range spans them all.
  std::map<model::TraceId, TraceHit> merged;
  for (const auto& h : hits) {
    auto [it, inserted] = merged.emplace(h.trace_id, h);
    if (!inserted) {
      TraceHit& m = it->second;
      m.newest_span_start_unix_nano = std::max(m.newest_span_start_unix_nano, h.newest_span_start_unix_nano);
      m.min_start_unix_nano = std::min(m.min_start_unix_nano, h.min_start_unix_nano);
      m.max_end_unix_nano = std::max(m.max_end_unix_nano, h.max_end_unix_nano);
    }
  }
  std::vector<TraceHit> result;
  result.reserve(merged.size());
  for (auto& [id, h] : merged) result.push_back(h);
  std::sort(result.begin(), result.end(), [](const TraceHit& a, const TraceHit& b) {
    if (a.newest_span_start_unix_nano != b.newest_span_start_unix_nano)
      return a.newest_span_start_unix_nano > b.newest_span_start_unix_nano;
    return a.trace_id < b.trace_id;
  });
  if (result.size() > limit) result.resize(limit);
  return result;
}

Status QueryEngine::FindTraces(const TraceQuery& query, const TraceSink& sink) const {
  TB_ASSIGN_OR_RETURN(std::vector<TraceHit> hits, FindTraceIds(query));
  for (const auto& h : hits) {
    TB_ASSIGN_OR_RETURN(model::Traces trace, ReadTrace(h.trace_id));
    if (trace.resource_spans.empty()) continue;  // purged meanwhile
    TB_RETURN_IF_ERROR(sink(h.trace_id, std::move(trace)));
  }
  return Status::Ok();
}

Result<std::vector<std::string>> QueryEngine::Services() const {
  std::set<std::string> all;
  for (const auto& source : sources_) TB_RETURN_IF_ERROR(source->Services(&all));
  return std::vector<std::string>(all.begin(), all.end());
}

Result<std::vector<Operation>> QueryEngine::Operations(const std::string& service, const std::string& span_kind) const {
  std::set<Operation> all;
  for (const auto& source : sources_) TB_RETURN_IF_ERROR(source->Operations(service, span_kind, &all));
  return std::vector<Operation>(all.begin(), all.end());
}

Result<DependencyCounts> QueryEngine::Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano) const {
  DependencyCounts counts;
  for (const auto& source : sources_) TB_RETURN_IF_ERROR(source->Dependencies(start_unix_nano, end_unix_nano, &counts));
  return counts;
}

TraceSummary Summarize(const model::TraceId& id, const model::Traces& trace) {
  TraceSummary s;
  s.trace_id = id;
  std::unordered_set<std::string> span_ids;
  for (const auto& rs : trace.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& span : ss.spans)
        span_ids.emplace(reinterpret_cast<const char*>(span.span_id.data()), span.span_id.size());

  std::map<std::string, TraceSummary::Service> services;
  const model::Span* root = nullptr;
  std::string root_service;
  bool first = true;
  for (const auto& rs : trace.resource_spans) {
    std::string service(model::ServiceName(rs.resource));
    for (const auto& ss : rs.scope_spans) {
      for (const auto& span : ss.spans) {
        const bool error = span.status.code == model::StatusCode::kError;
        ++s.span_count;
        s.error_span_count += error;
        auto& svc = services[service];
        svc.name = service;
        ++svc.span_count;
        svc.error_span_count += error;
        if (first || span.start_time_unix_nano < s.min_start_unix_nano)
          s.min_start_unix_nano = span.start_time_unix_nano;
        s.max_end_unix_nano = std::max(s.max_end_unix_nano, span.end_time_unix_nano);
        first = false;
        if (!span.has_parent()) {
          if (root == nullptr || span.start_time_unix_nano < root->start_time_unix_nano) {
            root = &span;
            root_service = service;
          }
        } else if (!span_ids.contains(std::string(reinterpret_cast<const char*>(span.parent_span_id.data()),
                                                  span.parent_span_id.size()))) {
          ++s.orphan_span_count;
        }
      }
    }
  }
  if (root != nullptr) {
    s.root_service_name = root_service;
    s.root_operation_name = root->name;
  }
  for (auto& [name, svc] : services) s.services.push_back(std::move(svc));
  return s;
}

}  // namespace tb::query
