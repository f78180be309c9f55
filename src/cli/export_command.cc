// tracebucket export: traces from a bucket's blocks as OTLP/JSON lines, by trace ID or by a query.
//
// It reads the bucket directly, not a server's API: it works with the server stopped (a backup, a
// move to another bucket, a look at a bucket no server serves) and on any bucket the flags name,
// and it never loads a running server. So the spans still in a running server's head (not flushed
// yet) are not exported; `POST /admin/flush` first, or query the server's API for those.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <set>

#include "block/block_reader.h"
#include "cli/bucket.h"
#include "cli/operator_commands.h"
#include "cli/output.h"
#include "db/block_list.h"
#include "model/text.h"
#include "query/query_engine.h"
#include "server/api_v3_http.h"
#include "wire/otlp_json.h"

namespace tb::cli {
namespace {

struct ExportOptions {
  std::unique_ptr<server::ConfigFlags> flags;
  std::string tenant = "default";
  std::vector<std::string> trace_ids;
  std::string service, operation, start, end, min_duration, max_duration;
  std::vector<std::string> tags;
  int limit = 1000;
  std::string out;
};

Result<query::TraceQuery> BuildQuery(const ExportOptions& o) {
  query::TraceQuery q;
  q.service_name = o.service;
  q.operation_name = o.operation;
  for (const auto& tag : o.tags) {
    const auto eq = tag.find('=');
    if (eq == std::string::npos || eq == 0) return Status::InvalidArgument("--tag '" + tag + "': expected key=value");
    q.attributes.push_back({tag.substr(0, eq), tag.substr(eq + 1)});
  }
  const auto time = [](const char* flag, const std::string& text, std::optional<uint64_t>* out) -> Status {
    if (text.empty()) return Status::Ok();
    auto t = server::api_v3::ParseRfc3339Nanos(text);
    if (!t.ok()) return t.status().WithContext(flag);
    *out = *t;
    return Status::Ok();
  };
  TB_RETURN_IF_ERROR(time("--start", o.start, &q.start_time_min_unix_nano));
  TB_RETURN_IF_ERROR(time("--end", o.end, &q.start_time_max_unix_nano));
  const auto duration = [](const char* flag, const std::string& text, std::optional<uint64_t>* out) -> Status {
    if (text.empty()) return Status::Ok();
    auto d = server::api_v3::ParseGoDurationNanos(text);
    if (!d.ok()) return d.status().WithContext(flag);
    *out = *d;
    return Status::Ok();
  };
  TB_RETURN_IF_ERROR(duration("--min-duration", o.min_duration, &q.duration_min_nanos));
  TB_RETURN_IF_ERROR(duration("--max-duration", o.max_duration, &q.duration_max_nanos));
  if (o.limit < 0) return Status::InvalidArgument("--limit must be 0 (no limit) or more");
  q.search_depth = o.limit == 0 ? std::numeric_limits<int>::max() : o.limit;
  return q;
}

int RunExport(const ExportOptions& o) {
  const bool by_query = !o.service.empty() || !o.operation.empty() || !o.tags.empty() || !o.start.empty() ||
                        !o.end.empty() || !o.min_duration.empty() || !o.max_duration.empty();
  if (!o.trace_ids.empty() && by_query)
    return ReportError("export", Status::InvalidArgument("give --trace-id or query flags, not both"));
  std::vector<model::TraceId> ids;
  for (const auto& text : o.trace_ids) {
    auto id = server::api_v3::ParseTraceId(text);
    if (!id.ok()) return ReportError("export", id.status().WithContext("--trace-id " + text));
    ids.push_back(*id);
  }
  auto query = BuildQuery(o);
  if (!query.ok()) return ReportError("export", query.status());
  auto bucket = OpenBucket(*o.flags, o.tenant);
  if (!bucket.ok()) return ReportError("export", bucket.status());
  db::BlockListStore lists(bucket->store.get(), o.tenant);
  auto list = lists.LoadLatest();
  if (!list.ok()) return ReportError("export", list.status());

  // The block readers behind one query engine: the same merge as the server's, over blocks only.
  block::LruBlockCache cache(bucket->config.cache_bytes);
  query::SourceList sources;
  for (const auto& listed : list->blocks) {
    const block::BlockMeta& meta = listed.meta;
    if (meta.format_version != block::kFormatVersion) {
      std::fprintf(stderr, "export: skipping block %s (format version %u, unreadable by this build)\n",
                   meta.block_id.c_str(), meta.format_version);
      continue;
    }
    sources.push_back(std::make_shared<block::BlockReader>(bucket->store.get(),
                                                           db::BlockPrefix(o.tenant, meta.block_id), meta, &cache));
  }
  const query::QueryEngine engine(sources);

  std::ofstream file;
  if (!o.out.empty()) {
    file.open(o.out, std::ios::trunc);
    if (!file) return ReportError("export", Status::InvalidArgument("cannot write " + o.out));
  }
  std::ostream& out = o.out.empty() ? std::cout : file;
  uint64_t traces = 0, spans = 0;
  std::set<model::TraceId> found;
  const query::TraceSink sink = [&](const model::TraceId& id, model::Traces&& trace) -> Status {
    out << wire::EncodeOtlpJson(trace) << '\n';
    if (!out) return Status::Internal("cannot write " + (o.out.empty() ? std::string("stdout") : o.out));
    ++traces;
    spans += trace.SpanCount();
    found.insert(id);
    return Status::Ok();
  };
  const Status s = ids.empty() ? engine.FindTraces(*query, sink) : engine.GetTraces(ids, sink);
  out.flush();
  if (!s.ok()) return ReportError("export", s, 1);
  std::fprintf(stderr, "exported %llu traces (%llu spans) from %zu blocks of tenant %s to %s\n",
               static_cast<unsigned long long>(traces), static_cast<unsigned long long>(spans), sources.size(),
               o.tenant.c_str(), o.out.empty() ? "stdout" : o.out.c_str());
  int missing = 0;
  for (const auto& id : ids)
    if (!found.contains(id)) {
      std::fprintf(stderr, "export: trace %s not found\n", model::HexEncode(id).c_str());
      ++missing;
    }
  return missing > 0 ? 1 : 0;
}

}  // namespace

Command AddExportCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "export", "Write traces from a bucket's blocks as OTLP/JSON lines (one TracesData per trace and line)");
  auto o = std::make_shared<ExportOptions>();
  o->flags = std::make_unique<server::ConfigFlags>(app, kConfigGroup);
  app->add_option("--tenant", o->tenant, "Tenant to read")->capture_default_str();
  app->add_option("--trace-id", o->trace_ids, "A trace to export, 32 hex digits (repeatable)")->allow_extra_args(false);
  app->add_option("--service", o->service, "Query: traces with a span of this service");
  app->add_option("--operation", o->operation, "Query: ... of this operation (span name)");
  app->add_option("--tag", o->tags, "Query: ... with this attribute, key=value (repeatable; all on one span)")
      ->allow_extra_args(false);
  app->add_option("--start", o->start, "Query: span start at or after this RFC 3339 time");
  app->add_option("--end", o->end, "Query: span start at or before this RFC 3339 time");
  app->add_option("--min-duration", o->min_duration, "Query: span duration at least this, e.g. 250ms, 1.5s");
  app->add_option("--max-duration", o->max_duration, "Query: span duration at most this");
  app->add_option("--limit", o->limit, "Query: at most this many traces, newest first; 0 for all")
      ->capture_default_str();
  app->add_option("--out", o->out, "Write to this file (default: stdout)");
  app->footer(
      "Reads the bucket's blocks directly (the server may be stopped). Spans still in a running server's head,\n"
      "not flushed into a block yet, are NOT included: POST /admin/flush first, or query the server's API.\n"
      "Without --trace-id or query flags, exports the newest --limit traces. Each output line is an OTLP/JSON\n"
      "TracesData holding one whole trace, as `tracebucket import` and OTLP/HTTP receivers take it.\n"
      "Exit status: 0 done, 1 a --trace-id was not found or reading failed, 2 bad flags or configuration.");
  return {app, [o] { return RunExport(*o); }};
}

}  // namespace tb::cli
