#include "query/query_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_set>

#include "model/jaeger.h"
#include "util/parallel.h"
#include "util/seeded_hash.h"

namespace tb::query {

std::vector<Result<model::Traces>> TraceSource::ReadTraces(const std::vector<model::TraceId>& ids) const {
  std::vector<Result<model::Traces>> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    model::Traces trace;
    Status status = ReadTrace(id, &trace);
    if (status.ok())
      out.emplace_back(std::move(trace));
    else
      out.emplace_back(std::move(status));
  }
  return out;
}

Status TraceSource::TraceRanges(const std::vector<model::TraceId>& ids, std::vector<TraceHit>* out) const {
  for (const auto& id : ids) {
    model::Traces trace;
    TB_RETURN_IF_ERROR(ReadTrace(id, &trace));
    if (trace.resource_spans.empty()) continue;
    TraceHit hit{id, 0, UINT64_MAX, 0};
    for (const auto& rs : trace.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& s : ss.spans) {
          hit.newest_span_start_unix_nano = std::max(hit.newest_span_start_unix_nano, s.start_time_unix_nano);
          hit.min_start_unix_nano = std::min(hit.min_start_unix_nano, s.start_time_unix_nano);
          hit.max_end_unix_nano = std::max(hit.max_end_unix_nano, s.end_time_unix_nano);
        }
    out->push_back(hit);
  }
  return Status::Ok();
}

Status TraceSource::TracesInWindow(uint64_t start_unix_nano, uint64_t end_unix_nano, std::vector<TraceHit>* out) const {
  TraceQuery q;
  q.start_time_min_unix_nano = start_unix_nano;
  q.start_time_max_unix_nano = end_unix_nano;
  std::vector<TraceHit> hits;
  TB_RETURN_IF_ERROR(FindTraces(SpanMatcher(q), std::numeric_limits<size_t>::max(), &hits));
  for (const auto& h : hits)
    if (h.min_start_unix_nano >= start_unix_nano && h.max_end_unix_nano <= end_unix_nano) out->push_back(h);
  return Status::Ok();
}

std::string SourceWarning::Message() const { return source + " could not be read: " + reason.ToString(); }

bool QueryWarnings::Add(std::string source, Status reason) {
  std::lock_guard lock(mu_);
  for (const auto& w : warnings_)
    if (w.source == source) return false;
  warnings_.push_back({std::move(source), std::move(reason)});
  return true;
}

std::vector<SourceWarning> QueryWarnings::List() const {
  std::lock_guard lock(mu_);
  return warnings_;
}

bool QueryWarnings::empty() const {
  std::lock_guard lock(mu_);
  return warnings_.empty();
}

// When a request must stop (QueryLimits::timeout, or its client gone), checked between its steps.
class Deadline {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  Deadline(std::chrono::milliseconds timeout, Clock clock, CancelCheck cancelled)
      : timeout_(timeout), clock_(std::move(clock)), at_(Now() + timeout), cancelled_(std::move(cancelled)) {}
  Status Check() const {
    if (cancelled_ && cancelled_())
      return Status(StatusCode::kCancelled, "the query stopped: its client cancelled it or went away");
    if (timeout_.count() <= 0 || Now() < at_) return Status::Ok();
    return Status::DeadlineExceeded("the query ran longer than limits.query_timeout (" +
                                    std::to_string(timeout_.count()) + " ms)");
  }

 private:
  std::chrono::steady_clock::time_point Now() const { return clock_ ? clock_() : std::chrono::steady_clock::now(); }

  std::chrono::milliseconds timeout_;
  Clock clock_;  // null: steady_clock
  std::chrono::steady_clock::time_point at_;
  CancelCheck cancelled_;
};

Deadline QueryEngine::StartDeadline() const { return Deadline(options_.limits.timeout, options_.clock, cancelled_); }

Status QueryEngine::CheckSearchDepth(const TraceQuery& query) const {
  const int max = options_.limits.max_search_depth;
  if (max <= 0 || query.search_depth <= max) return Status::Ok();
  return Status::InvalidArgument("search depth " + std::to_string(query.search_depth) +
                                 " is more than limits.max_search_depth (" + std::to_string(max) + ")");
}

Status QueryEngine::Tolerating(const TraceSource& source, Status read) const {
  if (read.ok()) return read;
  if (warnings_ != nullptr) {
    // Logged once per request and source: a block that cannot be read may be asked once per trace.
    std::string name = source.Name();
    if (warnings_->Add(name, read)) spdlog::warn("query answered without {}: {}", name, read.ToString());
    return Status::Ok();
  }
  // A corrupt block must not take the others down.
  if (read.code() != StatusCode::kDataLoss) return read;
  spdlog::error("skipping {} in this query: {}", source.Name(), read.ToString());
  return Status::Ok();
}

template <typename T>
Status QueryEngine::ForEachSource(
    const SourceList& sources, std::vector<T>* out,
    const std::function<Status(const TraceSource&, size_t, std::type_identity_t<T>*)>& fn) const {
  out->assign(sources.size(), T{});
  return ParallelFor(sources.size(), options_.max_parallel, [&](size_t i) {
    T gathered{};
    Status status = fn(*sources[i], i, &gathered);
    if (status.ok()) (*out)[i] = std::move(gathered);
    return Tolerating(*sources[i], std::move(status));
  });
}

SourceList QueryEngine::Overlapping(const SourceList& sources, uint64_t min_unix_nano, uint64_t max_unix_nano) {
  SourceList out;
  for (const auto& source : sources) {
    const std::optional<StartTimeRange> range = source->StartTimes();
    if (!range || (range->max_unix_nano >= min_unix_nano && range->min_unix_nano <= max_unix_nano))
      out.push_back(source);
  }
  return out;
}

Result<bool> QueryEngine::AnyMatch(const SourceList& sources, const TraceQuery& query) const {
  const SpanMatcher matcher(query);
  std::vector<std::vector<TraceHit>> hits;
  TB_RETURN_IF_ERROR(ForEachSource(sources, &hits, [&](const TraceSource& s, size_t, std::vector<TraceHit>* found) {
    return s.FindTraces(matcher, 1, found);
  }));
  return std::any_of(hits.begin(), hits.end(), [](const auto& h) { return !h.empty(); });
}

Result<std::vector<model::Traces>> QueryEngine::ReadTraces(const SourceList& sources,
                                                           const std::vector<model::TraceId>& ids,
                                                           uint64_t expired_before) const {
  // Each source is asked once, for the traces it does not rule out, so that a block reads a page
  // once however many of the traces share it. A thread costs more than a read from memory (and on a
  // busy machine waits for a core), so the reads run on this thread unless two or more sources may
  // wait on storage: then each of those gets a task, and the in-memory reads share one.
  struct Batch {
    size_t source = 0;
    std::vector<model::TraceId> ids;
    std::vector<size_t> slots;  // index in `ids` of each of this batch's ids
    bool may_wait = false;
    std::vector<Result<model::Traces>> read;
  };
  std::vector<Batch> batches;
  for (size_t i = 0; i < sources.size(); ++i) {
    Batch batch;
    batch.source = i;
    for (size_t k = 0; k < ids.size(); ++k) {
      const TraceReadPlan plan = sources[i]->PlanReadTrace(ids[k]);
      if (plan == TraceReadPlan::kAbsent) continue;
      batch.ids.push_back(ids[k]);
      batch.slots.push_back(k);
      batch.may_wait = batch.may_wait || plan == TraceReadPlan::kMayWait;
    }
    if (!batch.ids.empty()) batches.push_back(std::move(batch));
  }
  std::vector<size_t> waiting, in_memory;
  for (size_t b = 0; b < batches.size(); ++b) (batches[b].may_wait ? waiting : in_memory).push_back(b);
  if (waiting.size() < 2) {
    in_memory.insert(in_memory.end(), waiting.begin(), waiting.end());
    waiting.clear();
  }
  // A source that fails a trace is left out of that trace whole, not with the spans it read before
  // failing.
  const auto read = [&](Batch& batch) {
    batch.read = sources[batch.source]->ReadTraces(batch.ids);
    Status first_error;
    for (auto& result : batch.read) {
      if (result.ok()) continue;
      Status s = Tolerating(*sources[batch.source], result.status());
      if (first_error.ok()) first_error = std::move(s);
    }
    return first_error;
  };
  const size_t tasks = waiting.size() + (in_memory.empty() ? 0 : 1);
  TB_RETURN_IF_ERROR(ParallelFor(tasks, options_.max_parallel, [&](size_t task) -> Status {
    if (task < waiting.size()) return read(batches[waiting[task]]);
    Status first_error;
    for (size_t b : in_memory) {
      Status s = read(batches[b]);
      if (first_error.ok()) first_error = std::move(s);
    }
    return first_error;
  }));
  std::vector<model::Traces> traces(ids.size());
  for (auto& batch : batches)  // in source order, as each trace's parts were always joined
    for (size_t j = 0; j < batch.read.size(); ++j) {
      if (!batch.read[j].ok()) continue;
      auto& into = traces[batch.slots[j]].resource_spans;
      for (auto& rs : batch.read[j]->resource_spans) into.push_back(std::move(rs));
    }
  if (expired_before > 0)
    for (auto& trace : traces) trace.DropSpansStartedBefore(expired_before);
  return traces;
}

Status QueryEngine::GetTraces(const std::vector<model::TraceId>& ids, const TraceSink& sink) const {
  return Metered(metrics::QueryKind::kGetTrace, [&]() -> Status {
    const Deadline deadline = StartDeadline();
    const uint64_t expired_before = ExpiredBefore();
    return StreamTraces(Overlapping(sources_(), expired_before, UINT64_MAX), ids, expired_before, deadline, sink);
  });
}

Status QueryEngine::StreamTraces(const SourceList& sources, const std::vector<model::TraceId>& ids,
                                 uint64_t expired_before, const Deadline& deadline, const TraceSink& sink) const {
  const size_t wave = std::max<size_t>(1, options_.max_parallel);
  std::vector<model::Traces> traces;
  for (size_t begin = 0; begin < ids.size(); begin += wave) {
    TB_RETURN_IF_ERROR(deadline.Check());
    const size_t end = std::min(ids.size(), begin + wave);
    const std::vector<model::TraceId> wave_ids(ids.begin() + static_cast<ptrdiff_t>(begin),
                                               ids.begin() + static_cast<ptrdiff_t>(end));
    TB_ASSIGN_OR_RETURN(traces, ReadTraces(sources, wave_ids, expired_before));
    bool handed = false;
    for (size_t k = 0; k < traces.size(); ++k) {
      if (traces[k].resource_spans.empty()) continue;  // unknown, or purged or expired meanwhile
      if (handed) TB_RETURN_IF_ERROR(deadline.Check());
      TB_RETURN_IF_ERROR(sink(ids[begin + k], std::move(traces[k])));
      handed = true;
    }
  }
  return Status::Ok();
}

Status QueryEngine::SearchNewestFirst(const SourceList& candidates, const SpanMatcher& matcher, size_t limit,
                                      const Deadline& deadline, SourceList* searched,
                                      std::vector<std::vector<TraceHit>>* hits) const {
  // Sources of unknown range (heads) first, then by their newest span start, newest first.
  const auto newest_start = [](const std::shared_ptr<const TraceSource>& s) {
    const std::optional<StartTimeRange> range = s->StartTimes();
    return range ? range->max_unix_nano : UINT64_MAX;
  };
  SourceList order = candidates;
  std::stable_sort(order.begin(), order.end(),
                   [&](const auto& a, const auto& b) { return newest_start(a) > newest_start(b); });
  std::map<model::TraceId, uint64_t> found;  // trace → a lower bound of its newest span start
  size_t next = 0;
  while (next < order.size()) {
    TB_RETURN_IF_ERROR(deadline.Check());
    size_t end = std::min(order.size(), next + std::max<size_t>(1, options_.max_parallel));
    while (end < order.size() && newest_start(order[end]) == UINT64_MAX) ++end;  // every head in the first wave
    const size_t first = next;
    hits->resize(end);
    TB_RETURN_IF_ERROR(ParallelFor(end - first, options_.max_parallel, [&](size_t k) {
      const TraceSource& source = *order[first + k];
      std::vector<TraceHit>& found_here = (*hits)[first + k];
      Status search = source.FindTraces(matcher, limit, &found_here);
      if (!search.ok()) found_here.clear();  // left out whole
      return Tolerating(source, std::move(search));
    }));
    for (size_t i = first; i < end; ++i)
      for (const auto& h : (*hits)[i]) {
        uint64_t& newest = found[h.trace_id];
        newest = std::max(newest, h.newest_span_start_unix_nano);
      }
    next = end;
    if (next == order.size() || found.size() < limit) continue;
    // The limit-th newest trace so far. A trace matching only in a source not yet searched has a
    // matching span no newer than that source's newest start, and (if it is split across sources)
    // spans elsewhere at most the allowance later: when even that is older, no source left can
    // change the answer.
    std::vector<uint64_t> newest;
    for (const auto& [id, n] : found) newest.push_back(n);
    std::nth_element(newest.begin(), newest.begin() + static_cast<ptrdiff_t>(limit - 1), newest.end(),
                     std::greater<>());
    const uint64_t kth = newest[limit - 1], bound = newest_start(order[next]);
    if (kth > bound && kth - bound > options_.split_trace_allowance_nanos) break;
  }
  order.resize(next);
  *searched = std::move(order);
  return Status::Ok();
}

Result<std::vector<TraceHit>> QueryEngine::FindTraceIds(const TraceQuery& query) const {
  return Metered(metrics::QueryKind::kFindTraceIds, [&] { return SearchTraceIds(query, StartDeadline()); });
}

Result<std::vector<TraceHit>> QueryEngine::SearchTraceIds(const TraceQuery& query, const Deadline& deadline) const {
  TB_RETURN_IF_ERROR(CheckSearchDepth(query));
  // Expired spans never match: the window starts no earlier than retention.
  TraceQuery unexpired = query;
  const uint64_t expired_before = ExpiredBefore();
  if (expired_before > unexpired.start_time_min_unix_nano.value_or(0))
    unexpired.start_time_min_unix_nano = expired_before;
  SpanMatcher matcher(unexpired);
  if (!matcher.satisfiable()) return std::vector<TraceHit>{};
  const size_t limit = query.Limit();
  // Sources outside the window are not opened, nor are those a newest-first search did not reach;
  // a trace's range is completed from the sources searched.
  SourceList sources;
  std::vector<std::vector<TraceHit>> per_source;
  TB_RETURN_IF_ERROR(SearchNewestFirst(Overlapping(sources_(), unexpired.start_time_min_unix_nano.value_or(0),
                                                   unexpired.start_time_max_unix_nano.value_or(UINT64_MAX)),
                                       matcher, limit, deadline, &sources, &per_source));
  // A matching trace may have spans in sources where it did not match: complete its time range
  // from them, so that results are ordered by every span of each trace.
  if (sources.size() > 1) {
    TB_RETURN_IF_ERROR(deadline.Check());
    std::set<model::TraceId> all_ids;
    for (const auto& hits : per_source)
      for (const auto& h : hits) all_ids.insert(h.trace_id);
    std::vector<std::vector<TraceHit>> extra;
    TB_RETURN_IF_ERROR(
        ForEachSource(sources, &extra, [&](const TraceSource& s, size_t i, std::vector<TraceHit>* ranges) {
          std::set<model::TraceId> missing = all_ids;
          for (const auto& h : per_source[i]) missing.erase(h.trace_id);
          if (missing.empty()) return Status::Ok();
          return s.TraceRanges(std::vector<model::TraceId>(missing.begin(), missing.end()), ranges);
        }));
    for (size_t i = 0; i < sources.size(); ++i)
      per_source[i].insert(per_source[i].end(), extra[i].begin(), extra[i].end());
  }
  // A trace found in several sources is one result whose range spans them all.
  std::map<model::TraceId, TraceHit> merged;
  for (const auto& hits : per_source) {
    for (const auto& h : hits) {
      auto [it, inserted] = merged.emplace(h.trace_id, h);
      if (!inserted) {
        TraceHit& m = it->second;
        m.newest_span_start_unix_nano = std::max(m.newest_span_start_unix_nano, h.newest_span_start_unix_nano);
        m.min_start_unix_nano = std::min(m.min_start_unix_nano, h.min_start_unix_nano);
        m.max_end_unix_nano = std::max(m.max_end_unix_nano, h.max_end_unix_nano);
      }
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
  return Metered(metrics::QueryKind::kFindTraces, [&]() -> Status {
    const Deadline deadline = StartDeadline();
    TB_ASSIGN_OR_RETURN(std::vector<TraceHit> hits, SearchTraceIds(query, deadline));
    const uint64_t expired_before = ExpiredBefore();
    std::vector<model::TraceId> ids;
    ids.reserve(hits.size());
    for (const auto& h : hits) ids.push_back(h.trace_id);
    return StreamTraces(Overlapping(sources_(), expired_before, UINT64_MAX), ids, expired_before, deadline, sink);
  });
}

template <typename T>
Result<std::vector<T>> QueryEngine::CollectUnexpired(
    const std::function<Status(const TraceSource&, std::set<T>*)>& collect,
    const std::function<TraceQuery(const T&)>& query_for) const {
  const uint64_t expired_before = ExpiredBefore();
  const SourceList sources = Overlapping(sources_(), expired_before, UINT64_MAX);
  std::vector<std::set<T>> per_source;
  TB_RETURN_IF_ERROR(ForEachSource(
      sources, &per_source, [&](const TraceSource& s, size_t, std::set<T>* items) { return collect(s, items); }));
  std::set<T> all, unsure;
  SourceList partly_expired;
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::optional<StartTimeRange> range = sources[i]->StartTimes();
    if (expired_before == 0 || (range && range->min_unix_nano >= expired_before)) {
      all.merge(per_source[i]);
    } else {
      unsure.merge(per_source[i]);
      partly_expired.push_back(sources[i]);
    }
  }
  for (const T& item : unsure) {
    if (all.contains(item)) continue;
    TraceQuery query = query_for(item);
    query.start_time_min_unix_nano = expired_before;
    query.search_depth = 1;
    TB_ASSIGN_OR_RETURN(bool live, AnyMatch(partly_expired, query));
    if (live) all.insert(item);
  }
  return std::vector<T>(all.begin(), all.end());
}

Result<std::vector<std::string>> QueryEngine::Services() const {
  return Metered(metrics::QueryKind::kServices, [&]() -> Result<std::vector<std::string>> {
    return CollectUnexpired<std::string>(
        [](const TraceSource& s, std::set<std::string>* out) { return s.Services(out); },
        [](const std::string& service) {
          TraceQuery q;
          q.service_name = service;
          return q;
        });
  });
}

Result<std::vector<Operation>> QueryEngine::Operations(const std::string& service, const std::string& span_kind) const {
  return Metered(metrics::QueryKind::kOperations, [&]() -> Result<std::vector<Operation>> {
    return CollectUnexpired<Operation>(
        [&](const TraceSource& s, std::set<Operation>* out) { return s.Operations(service, span_kind, out); },
        [&](const Operation& op) {
          TraceQuery q;
          q.service_name = service;
          q.operation_name = op.name;
          q.attributes = {{"span.kind", op.span_kind}};
          return q;
        });
  });
}

Result<DependencyCounts> QueryEngine::Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano) const {
  return Metered(metrics::QueryKind::kDependencies, [&]() -> Result<DependencyCounts> {
    // Only traces wholly inside the window count, so none with an expired span.
    start_unix_nano = std::max(start_unix_nano, ExpiredBefore());
    TB_ASSIGN_OR_RETURN(DependencyCounts counts, CountCalls(Overlapping(sources_(), start_unix_nano, end_unix_nano),
                                                            start_unix_nano, end_unix_nano));
    // Jaeger's stores draw no edge from a service to itself (docs/jaeger-semantics.md §7). Sources
    // count every pair, so this rule is applied here, once, for every door that serves dependencies.
    std::erase_if(counts, [](const auto& edge) { return edge.first.first == edge.first.second; });
    return counts;
  });
}

Result<DependencyCounts> QueryEngine::CountCalls(const SourceList& sources, uint64_t start_unix_nano,
                                                 uint64_t end_unix_nano) const {
  const Deadline deadline = StartDeadline();
  std::vector<DependencyCounts> per_source;
  TB_RETURN_IF_ERROR(ForEachSource(sources, &per_source, [&](const TraceSource& s, size_t, DependencyCounts* calls) {
    return s.Dependencies(start_unix_nano, end_unix_nano, calls);
  }));
  DependencyCounts counts;
  for (const auto& part : per_source)
    for (const auto& [edge, n] : part) counts[edge] += n;
  if (sources.size() < 2) return counts;

  // Each source counted the calls whose parent and child it holds both. A trace split between
  // sources (e.g. across a flush) also has calls from a span in one source to a span in another:
  // read those traces fragment by fragment and add the calls that cross.
  std::vector<std::vector<TraceHit>> windows;
  TB_RETURN_IF_ERROR(ForEachSource(sources, &windows, [&](const TraceSource& s, size_t, std::vector<TraceHit>* hits) {
    return s.TracesInWindow(start_unix_nano, end_unix_nano, hits);
  }));
  std::map<model::TraceId, int> holders;
  for (const auto& hits : windows)
    for (const auto& h : hits) ++holders[h.trace_id];
  for (const auto& [held, n] : holders) {
    if (n < 2) continue;
    const model::TraceId& id = held;  // a lambda below captures it (Clang 14 cannot capture a binding)
    TB_RETURN_IF_ERROR(deadline.Check());
    std::vector<model::Traces> parts;
    TB_RETURN_IF_ERROR(ForEachSource(
        sources, &parts, [&](const TraceSource& s, size_t, model::Traces* part) { return s.ReadTrace(id, part); }));
    std::multimap<model::SpanId, std::pair<size_t, std::string>> spans;  // span → (source, service)
    for (size_t i = 0; i < parts.size(); ++i)
      for (const auto& rs : parts[i].resource_spans)
        for (const auto& ss : rs.scope_spans)
          for (const auto& s : ss.spans)
            spans.emplace(s.span_id, std::pair{i, std::string(model::ServiceName(rs.resource))});
    for (size_t i = 0; i < parts.size(); ++i)
      for (const auto& rs : parts[i].resource_spans)
        for (const auto& ss : rs.scope_spans)
          for (const auto& s : ss.spans) {
            const model::SpanId parent_id = model::jaeger::DependencyParent(s);
            if (parent_id == model::SpanId{}) continue;
            auto [lo, hi] = spans.equal_range(parent_id);
            // Counted once per child, like a source does, when its parent is held elsewhere only.
            if (lo == hi || std::any_of(lo, hi, [&](const auto& p) { return p.second.first == i; })) continue;
            ++counts[{lo->second.second, std::string(model::ServiceName(rs.resource))}];
          }
  }
  return counts;
}

TraceSummary Summarize(const model::TraceId& id, const model::Traces& trace) {
  TraceSummary s;
  s.trace_id = id;
  std::unordered_set<std::string, SeededKeyHash, std::equal_to<>> span_ids;  // seeded: IDs come from clients
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
