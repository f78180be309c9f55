#include "db/compactor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <queue>
#include <set>
#include <tuple>

#include "block/block_reader.h"
#include "db/lease.h"
#include "head/head.h"

namespace tb::db {
namespace {

uint64_t StoredBytes(const block::BlockMeta& meta) { return meta.data_size + meta.index_size; }

// Drops every span identical in every byte (span, resource and scope) to an earlier one of the
// trace; returns how many. Spans that only share a span ID are different spans and all stay.
uint64_t DropIdenticalSpans(model::Traces* trace) {
  struct Ref {
    size_t rs, ss, span;
  };
  std::vector<Ref> refs;
  for (size_t r = 0; r < trace->resource_spans.size(); ++r)
    for (size_t s = 0; s < trace->resource_spans[r].scope_spans.size(); ++s)
      for (size_t i = 0; i < trace->resource_spans[r].scope_spans[s].spans.size(); ++i) refs.push_back({r, s, i});
  const auto span_of = [&](const Ref& x) -> const model::Span& {
    return trace->resource_spans[x.rs].scope_spans[x.ss].spans[x.span];
  };
  std::stable_sort(refs.begin(), refs.end(),
                   [&](const Ref& a, const Ref& b) { return span_of(a).span_id < span_of(b).span_id; });
  const auto identical = [&](const Ref& a, const Ref& b) {
    const auto& ra = trace->resource_spans[a.rs];
    const auto& rb = trace->resource_spans[b.rs];
    return span_of(a) == span_of(b) && ra.resource == rb.resource &&
           ra.scope_spans[a.ss].scope == rb.scope_spans[b.ss].scope;
  };
  std::set<std::tuple<size_t, size_t, size_t>> doomed;
  for (size_t run = 0; run < refs.size();) {
    size_t end = run + 1;
    while (end < refs.size() && span_of(refs[end]).span_id == span_of(refs[run]).span_id) ++end;
    for (size_t i = run + 1; i < end; ++i)
      for (size_t k = run; k < i; ++k)
        if (!doomed.contains({refs[k].rs, refs[k].ss, refs[k].span}) && identical(refs[k], refs[i])) {
          doomed.insert({refs[i].rs, refs[i].ss, refs[i].span});
          break;
        }
    run = end;
  }
  if (doomed.empty()) return 0;
  for (size_t r = 0; r < trace->resource_spans.size(); ++r)
    for (size_t s = 0; s < trace->resource_spans[r].scope_spans.size(); ++s) {
      auto& spans = trace->resource_spans[r].scope_spans[s].spans;
      size_t kept = 0;
      for (size_t i = 0; i < spans.size(); ++i) {
        if (doomed.contains({r, s, i})) continue;
        if (kept != i) spans[kept] = std::move(spans[i]);
        ++kept;
      }
      spans.resize(kept);
    }
  return doomed.size();
}

// The unix microseconds at the front of a block ID (docs/format/bucket.md), or 0.
uint64_t BlockIdMicros(const std::string& id) {
  if (id.size() < 16) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < 16; ++i) {
    const char c = id[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  return v;
}

}  // namespace

void CompactionSummary::Add(const CompactionSummary& o) {
  compactions += o.compactions;
  input_blocks += o.input_blocks;
  output_blocks += o.output_blocks;
  input_spans += o.input_spans;
  output_spans += o.output_spans;
  duplicate_spans_dropped += o.duplicate_spans_dropped;
  input_bytes += o.input_bytes;
  output_bytes += o.output_bytes;
  blocks_expired += o.blocks_expired;
  blocks_swept += o.blocks_swept;
  lease_held_elsewhere = lease_held_elsewhere || o.lease_held_elsewhere;
  seconds += o.seconds;
}

std::vector<CompactionPlan> PlanCompactions(const BlockList& list, const CompactionOptions& options,
                                            uint64_t now_unix_nano) {
  std::vector<CompactionPlan> plans;
  std::set<std::string> taken;
  const auto window_nano = [&](uint32_t level) {
    return static_cast<uint64_t>(std::chrono::nanoseconds(options.level_windows[level - 1]).count());
  };
  const uint64_t settle = static_cast<uint64_t>(std::chrono::nanoseconds(options.settle).count());
  const auto closed = [&](uint64_t window_end) { return window_end + settle <= now_unix_nano; };
  for (uint32_t level = 1; level <= options.level_windows.size(); ++level) {
    const uint64_t width = window_nano(level);
    std::map<uint64_t, std::vector<ListedBlock>> windows;
    for (const auto& b : list.blocks) {
      if (b.meta.format_version != block::kFormatVersion || taken.contains(b.meta.block_id)) continue;
      // A full block is as large as a merge makes them; a block of level ≥ 1 moves up once its
      // own window is closed.
      const bool candidate =
          !b.full &&
          (b.level == level ||
           (b.level + 1 == level &&
            (b.level == 0 || closed((b.meta.min_span_start / window_nano(b.level) + 1) * window_nano(b.level)))));
      if (candidate) windows[b.meta.min_span_start / width].push_back(b);
    }
    for (auto& [window, members] : windows) {
      const size_t below = static_cast<size_t>(
          std::count_if(members.begin(), members.end(), [&](const ListedBlock& b) { return b.level + 1 == level; }));
      if (below == 0 || members.size() < 2) continue;
      if (!closed((window + 1) * width) && below < options.min_open_inputs) continue;
      std::sort(members.begin(), members.end(), [](const ListedBlock& a, const ListedBlock& b) {
        return std::tie(a.meta.min_span_start, a.meta.block_id) < std::tie(b.meta.min_span_start, b.meta.block_id);
      });
      if (members.size() > options.max_inputs) members.resize(options.max_inputs);
      for (const auto& b : members) taken.insert(b.meta.block_id);
      plans.push_back(CompactionPlan{level, window * width, std::move(members)});
    }
  }
  return plans;
}

Compactor::Compactor(objstore::ObjectStore* store, std::string tenant, std::string holder,
                     std::function<std::string()> new_block_id, const CompactionOptions& options)
    : store_(store),
      lists_(store, tenant),
      tenant_(std::move(tenant)),
      holder_(std::move(holder)),
      new_block_id_(std::move(new_block_id)),
      options_(options) {}

Result<CompactionSummary> Compactor::Run(const CompactionPlan& plan, const OnPublished& on_published,
                                         const std::atomic<bool>* cancel) {
  const auto started = std::chrono::steady_clock::now();
  CompactionSummary summary;
  summary.compactions = 1;
  summary.input_blocks = plan.inputs.size();
  std::vector<std::unique_ptr<block::BlockReader>> readers;
  std::vector<std::unique_ptr<block::TraceScan>> scans;
  for (const auto& in : plan.inputs) {
    summary.input_spans += in.meta.span_count;
    summary.input_bytes += StoredBytes(in.meta);
    // No cache: a merge reads each page once.
    readers.push_back(
        std::make_unique<block::BlockReader>(store_, BlockPrefix(tenant_, in.meta.block_id), in.meta, nullptr));
    scans.push_back(readers.back()->ScanTraces());
  }
  const double bytes_per_span =
      summary.input_spans == 0 ? 0
                               : static_cast<double>(summary.input_bytes) / static_cast<double>(summary.input_spans);

  // The k-way merge: each input's next trace, smallest (earliest start, trace ID) first.
  std::vector<block::ScannedTrace> next(plan.inputs.size());
  using Head = std::tuple<uint64_t, model::TraceId, size_t>;
  std::priority_queue<Head, std::vector<Head>, std::greater<>> heads;
  const auto advance = [&](size_t i) -> Status {
    TB_ASSIGN_OR_RETURN(bool more, scans[i]->Next(&next[i]));
    if (more) heads.emplace(next[i].min_start_unix_nano, next[i].id, i);
    return Status::Ok();
  };
  for (size_t i = 0; i < scans.size(); ++i) TB_RETURN_IF_ERROR(advance(i));
  // Per input, the split traces already completed from it, to skip when its scan reaches them.
  std::vector<std::set<model::TraceId>> taken(plan.inputs.size());

  // What every input's traces need from a dictionary: each output plans from its first traces
  // and these, so that no later trace misses a string its dictionary must hold.
  block::PlanHints hints;
  for (const auto& reader : readers) TB_RETURN_IF_ERROR(reader->PlanHints(&hints));
  const auto dedup = [](auto* v) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  };
  dedup(&hints.strings);
  dedup(&hints.high_card_keys);
  dedup(&hints.values);
  const auto new_writer = [&] {
    auto w = std::make_unique<block::StreamingBlockWriter>(options_.writer);
    w->AddPlanHints(hints);
    return w;
  };

  std::vector<ListedBlock> outputs;
  auto writer = new_writer();
  uint64_t sampled_bytes = 0, held_spans = 0;
  const auto cut = [&](bool full) -> Status {
    if (held_spans == 0) return Status::Ok();
    block::BlockIdentity identity;
    identity.block_id = new_block_id_();
    identity.writer_id = holder_;  // wal range 0: a compaction's output (recovery tells them apart so)
    TB_ASSIGN_OR_RETURN(block::BlockMeta meta,
                        writer->Finish(*store_, BlockPrefix(tenant_, identity.block_id), identity, cancel));
    summary.output_spans += meta.span_count;
    summary.output_bytes += StoredBytes(meta);
    outputs.push_back(ListedBlock{std::move(meta), plan.level, full});
    writer = new_writer();
    sampled_bytes = held_spans = 0;
    return Status::Ok();
  };

  Status merged = [&]() -> Status {
    while (!heads.empty()) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed))
        return Status::Unavailable("compaction cancelled");
      const size_t i = std::get<2>(heads.top());
      heads.pop();
      block::ScannedTrace trace = std::move(next[i]);
      TB_RETURN_IF_ERROR(advance(i));
      if (taken[i].erase(trace.id) > 0) continue;
      // Its first part: the other inputs' parts come later in their own order, so take them now.
      for (size_t j = 0; j < readers.size(); ++j) {
        if (j == i) continue;
        const size_t before = trace.spans.resource_spans.size();
        TB_RETURN_IF_ERROR(readers[j]->ReadTrace(trace.id, &trace.spans));
        if (trace.spans.resource_spans.size() != before) taken[j].insert(trace.id);
      }
      summary.duplicate_spans_dropped += DropIdenticalSpans(&trace.spans);
      const uint64_t estimate = head::EstimateMemory(trace.spans);
      const uint64_t spans = trace.spans.SpanCount();
      TB_ASSIGN_OR_RETURN(bool added, writer->Add(std::move(trace.spans)));
      if (!added) {
        // The output's dictionary lacks a string of the trace (not with the inputs' hints, unless
        // an input was written under other rules): the trace starts the next output.
        TB_RETURN_IF_ERROR(cut(/*full=*/false));
        TB_ASSIGN_OR_RETURN(added, writer->Add(std::move(trace.spans)));
      }
      held_spans += spans;
      if (!writer->planned()) {
        sampled_bytes += estimate;
        if (sampled_bytes >= options_.memory_budget_bytes) TB_RETURN_IF_ERROR(writer->Plan());
      }
      if (static_cast<double>(held_spans) * bytes_per_span >= static_cast<double>(options_.target_block_bytes))
        TB_RETURN_IF_ERROR(cut(/*full=*/true));
    }
    return cut(/*full=*/false);
  }();
  if (!merged.ok()) {
    // Unpublished outputs hold nothing the inputs do not: remove them (the sweep would, later).
    for (const auto& out : outputs) (void)DeleteBlockObjects(*store_, tenant_, out.meta.block_id);
    return merged.WithContext("compacting " + std::to_string(plan.inputs.size()) + " blocks of level " +
                              std::to_string(plan.level - 1));
  }

  BlockListChange change;
  change.add = outputs;
  for (const auto& in : plan.inputs) change.retire.insert(in.meta.block_id);
  change.retire_only_live = true;
  auto published = lists_.Update(change);
  if (!published.ok()) {
    if (published.status().code() == StatusCode::kFailedPrecondition) {
      // Another compactor or retention took an input: these outputs were never published.
      for (const auto& out : outputs) (void)DeleteBlockObjects(*store_, tenant_, out.meta.block_id);
    }
    // Otherwise the version may have landed with its answer lost: the outputs stay, and the sweep
    // deletes them only if no version names them.
    return published.status();
  }
  summary.output_blocks = outputs.size();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::vector<std::string> retired(change.retire.begin(), change.retire.end());
  if (on_published) on_published(outputs, retired);
  spdlog::info(
      "compacted {} blocks ({} spans, {} bytes) into {} of level {} ({} spans, {} bytes, {} duplicates dropped) "
      "in {:.2f} s",
      summary.input_blocks, summary.input_spans, summary.input_bytes, summary.output_blocks, plan.level,
      summary.output_spans, summary.output_bytes, summary.duplicate_spans_dropped, summary.seconds);
  return summary;
}

Result<uint64_t> Compactor::SweepAbandonedOutputs(const BlockList& list, uint64_t now_unix_nano) {
  std::set<std::string> with_meta, without_meta;
  TB_RETURN_IF_ERROR(lists_.ScanBlocks(&with_meta, &without_meta));
  const uint64_t grace = static_cast<uint64_t>(options_.grace_period.count());
  uint64_t swept = 0;
  for (const auto& id : with_meta) {
    if (list.Find(id) != nullptr || list.IsRetired(id)) continue;
    const uint64_t born = BlockIdMicros(id) * 1000;
    if (born == 0 || born + grace > now_unix_nano) continue;  // possibly a compaction still under way
    TB_ASSIGN_OR_RETURN(block::BlockMeta meta, block::ReadBlockMeta(*store_, BlockPrefix(tenant_, id)));
    if (meta.wal_last != 0) continue;  // a flushed block waiting for its writer to publish it
    // The list may have moved on since `list` was read: publish nothing that a newer version names.
    TB_ASSIGN_OR_RETURN(BlockList latest, lists_.LoadLatest());
    if (latest.Find(id) != nullptr || latest.IsRetired(id)) continue;
    spdlog::info("removing the output of an abandoned compaction: {}", id);
    TB_RETURN_IF_ERROR(DeleteBlockObjects(*store_, tenant_, id));
    ++swept;
  }
  return swept;
}

Result<CompactionSummary> Compactor::RunUntilDone(const OnPublished& on_published, const std::atomic<bool>* cancel) {
  CompactionSummary total;
  CompactionLease lease(store_, tenant_, holder_, options_.lease_duration);
  TB_ASSIGN_OR_RETURN(bool held, lease.Acquire(NowUnixNano()));
  if (!held) {
    total.lease_held_elsewhere = true;
    return total;
  }
  Status status = [&]() -> Status {
    if (options_.retention.count() > 0) {
      const uint64_t now = NowUnixNano();
      const auto retention = static_cast<uint64_t>(options_.retention.count());
      TB_ASSIGN_OR_RETURN(BlockList list, lists_.LoadLatest());
      const std::set<std::string> expired = ExpiredBlocks(list, now > retention ? now - retention : 0);
      if (!expired.empty()) {
        TB_ASSIGN_OR_RETURN(list, lists_.Update({}, expired));
        total.blocks_expired = expired.size();
        if (on_published) on_published({}, std::vector<std::string>(expired.begin(), expired.end()));
      }
    }
    // Each round plans from the newest list; a bound keeps a pathological bucket from spinning.
    for (int round = 0; round < 1000; ++round) {
      TB_ASSIGN_OR_RETURN(BlockList list, lists_.LoadLatest());
      const std::vector<CompactionPlan> plans = PlanCompactions(list, options_, NowUnixNano());
      if (plans.empty()) break;
      for (const auto& plan : plans) {
        if (cancel != nullptr && cancel->load()) return Status::Unavailable("compaction cancelled");
        // Renewed before each merge, so a holder that keeps working keeps the lease.
        TB_ASSIGN_OR_RETURN(held, lease.Acquire(NowUnixNano()));
        if (!held) return Status::FailedPrecondition("lost the compactor lease");
        auto done = Run(plan, on_published, cancel);
        if (!done.ok() && done.status().code() == StatusCode::kFailedPrecondition) break;  // plan again
        TB_RETURN_IF_ERROR(done.status());
        total.Add(*done);
      }
    }
    const uint64_t now = NowUnixNano();
    TB_ASSIGN_OR_RETURN(SweepStats swept,
                        lists_.SweepRetired(now, static_cast<uint64_t>(options_.grace_period.count())));
    total.blocks_swept += swept.blocks_deleted;
    TB_ASSIGN_OR_RETURN(BlockList list, lists_.LoadLatest());
    TB_ASSIGN_OR_RETURN(uint64_t abandoned, SweepAbandonedOutputs(list, now));
    total.blocks_swept += abandoned;
    return Status::Ok();
  }();
  Status released = lease.Release();
  TB_RETURN_IF_ERROR(status);
  TB_RETURN_IF_ERROR(released);
  return total;
}

}  // namespace tb::db
