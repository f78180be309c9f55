#include "block/block_reader.h"

#include <roaring/roaring.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <numeric>
#include <optional>

#include "block/internal/block_objects.h"
#include "block/internal/index_sections.h"
#include "block/internal/page_decoding.h"
#include "model/text.h"
#include "util/parallel.h"

// The query API: each BlockReader method plans its reads from the index sections and decodes the
// pages it needs. The parts live in internal/: the block's objects through the cache
// (block_objects), the index sections (index_sections), page decoding (page_decoding).

namespace tb::block {

using internal::Bitmap;
using internal::BloomPartitionRef;
using internal::Bytes;
using internal::DecodedSpan;
using internal::PageBlooms;
using internal::PageInfo;
using internal::PagesOfTrace;
using internal::PostingDir;
using internal::PostingEntry;
using internal::SearchPrefilter;
using internal::Segment;
using internal::ServiceTable;
using internal::Tables;
using internal::TraceAssembler;
using internal::TraceHeader;
using internal::TraceRow;

// The block's objects, its index sections (loaded on first use) and the page decoder over them.
struct BlockReader::Impl {
  Impl(objstore::ObjectStore* store, std::string prefix, BlockMeta meta, BlockCache* cache,
       const BlockReaderOptions& options)
      : io{store,
           std::move(prefix),
           std::move(meta),
           cache,
           options.max_parallel_reads,
           options.max_page_bytes,
           options.max_trace_bytes,
           options.metrics},
        index(io),
        decoder(io) {}
  internal::BlockObjects io;
  internal::IndexSections index;
  internal::PageDecoder decoder;
};

BlockReader::BlockReader(objstore::ObjectStore* store, std::string prefix, BlockMeta meta, BlockCache* cache,
                         const BlockReaderOptions& options)
    : impl_(std::make_unique<Impl>(store, std::move(prefix), std::move(meta), cache, options)), meta_(impl_->io.meta) {}

BlockReader::~BlockReader() = default;

Result<BlockMeta> ReadBlockMeta(objstore::ObjectStore& store, const std::string& prefix) {
  const std::string key = prefix + kMetaObject;
  TB_ASSIGN_OR_RETURN(std::string bytes, store.Get(key));
  return DecodeMeta(bytes, store.Describe() + "/" + key);
}

Status BlockReader::TracesInWindow(uint64_t start_unix_nano, uint64_t end_unix_nano,
                                   std::vector<query::TraceHit>* out) const {
  const Impl& m = *impl_;
  if (m.io.meta.trace_count == 0 || m.io.meta.max_span_end < start_unix_nano ||
      m.io.meta.min_span_start > end_unix_nano)
    return Status::Ok();
  Bytes traces;
  TraceHeader h;
  TB_RETURN_IF_ERROR(m.index.TraceTable(&traces, &h));
  const std::string_view section(*traces);
  for (uint32_t t = 0; t < h.n; ++t) {
    const TraceRow row = m.index.ParseRow(h, section.substr(h.prefix_len + uint64_t{t} * h.row_size, h.row_size));
    if (row.min_start >= start_unix_nano && row.max_end <= end_unix_nano)
      out->push_back(query::TraceHit{row.id, row.newest, row.min_start, row.max_end});
  }
  return Status::Ok();
}

Status BlockReader::TraceRanges(const std::vector<model::TraceId>& ids, std::vector<query::TraceHit>* out) const {
  for (const auto& id : ids) {
    bool found = false;
    uint32_t ordinal = 0;
    TraceRow row;
    TB_RETURN_IF_ERROR(impl_->index.FindTraceRow(id, &found, &ordinal, &row));
    if (found) out->push_back(query::TraceHit{id, row.newest, row.min_start, row.max_end});
  }
  return Status::Ok();
}

query::TraceReadPlan BlockReader::PlanReadTrace(const model::TraceId& id) const {
  const Impl& m = *impl_;
  if (m.io.meta.trace_count == 0 || m.index.PinnedBloomRulesOut(id)) return query::TraceReadPlan::kAbsent;
  const std::shared_ptr<const std::vector<PageInfo>> pages = m.index.LoadedForLookups();
  if (pages == nullptr) return query::TraceReadPlan::kMayWait;  // index not loaded
  bool found = false;
  uint32_t t = 0;
  TraceRow row;
  // From memory now; an error (a corrupt table) is left for ReadTrace to report.
  if (!m.index.FindTraceRow(id, &found, &t, &row).ok()) return query::TraceReadPlan::kMayWait;
  if (!found) return query::TraceReadPlan::kAbsent;
  if (m.io.cache == nullptr) return query::TraceReadPlan::kMayWait;
  for (uint32_t p : PagesOfTrace(*pages, t))
    if (m.io.cache->Get(m.io.PageKey(p)) == nullptr) return query::TraceReadPlan::kMayWait;
  return query::TraceReadPlan::kFromMemory;
}

Status BlockReader::ReadTrace(const model::TraceId& id, model::Traces* out) const {
  std::vector<Result<model::Traces>> read = ReadTraces({id});
  if (!read.front().ok()) return read.front().status();
  for (auto& rs : read.front()->resource_spans) out->resource_spans.push_back(std::move(rs));
  return Status::Ok();
}

std::vector<Result<model::Traces>> BlockReader::ReadTraces(const std::vector<model::TraceId>& ids) const {
  const Impl& m = *impl_;
  std::vector<Result<model::Traces>> out(ids.size(), model::Traces{});
  // Each held trace: its ordinal, row and pages. Each page to read: the ordinals wanted from it.
  struct Wanted {
    size_t slot;  // index in `ids`
    uint32_t ordinal;
    TraceRow row;
    std::vector<uint32_t> pages;
  };
  std::vector<Wanted> wanted;
  std::map<uint32_t, size_t> slot_of_ordinal;      // the first slot asking for each trace
  std::vector<std::pair<size_t, size_t>> repeats;  // (slot, the earlier slot of the same trace)
  std::map<uint32_t, std::vector<uint32_t>> ordinals_by_page;
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  for (size_t k = 0; k < ids.size(); ++k) {
    bool found = false;
    Wanted w{k, 0, {}, {}};
    if (Status s = m.index.FindTraceRow(ids[k], &found, &w.ordinal, &w.row); !s.ok()) {
      out[k] = std::move(s);
      continue;
    }
    if (!found) continue;
    if (auto [first, fresh] = slot_of_ordinal.emplace(w.ordinal, k); !fresh) {
      repeats.emplace_back(k, first->second);  // an ID asked twice is read once
      continue;
    }
    if (pages == nullptr) {
      if (Status s = m.index.Basics(&pages, &tables, true); !s.ok()) {
        for (size_t j = k; j < ids.size(); ++j) out[j] = s;
        break;
      }
    }
    const uint32_t t = w.ordinal;
    w.pages = PagesOfTrace(*pages, t);
    if (w.pages.empty()) {
      out[k] = m.io.SectionCorrupt(SectionId::kPages, "no page holds trace " + std::to_string(t));
      continue;
    }
    uint64_t raw = 0;
    for (uint32_t p : w.pages) raw += (*pages)[p].RawBytes();
    if (raw > m.io.max_trace_bytes) {
      out[k] =
          m.io.SectionCorrupt(SectionId::kPages, "trace " + std::to_string(t) + " decodes to " + std::to_string(raw) +
                                                     " bytes, more than limits.max_decoded_trace_size (" +
                                                     std::to_string(m.io.max_trace_bytes) + ")");
      continue;
    }
    for (uint32_t p : w.pages) ordinals_by_page[p].push_back(t);
    wanted.push_back(std::move(w));
  }
  if (wanted.empty()) return out;
  m.io.metrics.blocks.Add();
  // Every page once, however many of the traces it holds. A page that fails fails the traces it
  // holds from the failing one on: those decoded whole before it are served, as a read of them
  // alone would have stopped there.
  struct PageRead {
    uint32_t page;
    std::vector<uint32_t> ordinals;
    Status status;
    std::vector<Segment> segments;  // in page (ordinal) order
  };
  std::vector<PageRead> reads;
  for (auto& [p, ordinals] : ordinals_by_page) {
    std::sort(ordinals.begin(), ordinals.end());  // unique already: a repeated ID is not wanted twice
    reads.push_back(PageRead{p, std::move(ordinals), {}, {}});
  }
  // As many pages at once as traces asked for (at least max_parallel_reads): the caller sized its
  // batch for the parallelism it wants, as when it read each trace in a task of its own.
  const size_t parallel = std::max(wanted.size(), static_cast<size_t>(m.io.max_parallel_reads));
  const Status ran = tb::ParallelFor(reads.size(), parallel, [&](size_t i) {
    reads[i].status = m.decoder.DecodeSegments(*pages, reads[i].page, reads[i].ordinals, *tables, &reads[i].segments);
    return Status::Ok();
  });
  if (!ran.ok()) {  // the pool could not start a thread: some pages were not read
    for (const Wanted& w : wanted) out[w.slot] = ran;
    return out;
  }
  const auto read_of = [&](uint32_t p) -> PageRead& {
    return *std::lower_bound(reads.begin(), reads.end(), p, [](const PageRead& r, uint32_t q) { return r.page < q; });
  };
  for (const Wanted& w : wanted) {
    std::vector<Segment*> parts;  // the trace's segment of each of its pages, in page order
    Status failed;
    for (uint32_t p : w.pages) {
      PageRead& read = read_of(p);
      auto it = std::find_if(read.segments.begin(), read.segments.end(),
                             [&](const Segment& segment) { return segment.trace == w.ordinal; });
      if (it != read.segments.end()) {
        parts.push_back(&*it);
      } else if (!read.status.ok()) {
        failed = read.status;
      }
    }
    if (!failed.ok()) {
      out[w.slot] = std::move(failed);
      continue;
    }
    model::Traces& trace = *out[w.slot];
    TraceAssembler assemble(ids[w.slot], *tables, &trace);
    size_t total = 0;
    for (Segment* segment : parts) {  // pages ascend, so the spans come in the order they were added
      total += segment->spans.size();
      for (auto& s : segment->spans) assemble.Add(std::move(s));
    }
    if (total != w.row.count) {
      trace = {};
      out[w.slot] = m.io.SectionCorrupt(SectionId::kTraces, "span count disagrees with the pages");
    }
  }
  for (const auto& [slot, earlier] : repeats) out[slot] = out[earlier];
  return out;
}

struct TraceScan::State {
  explicit State(const BlockReader::Impl& b) : block(b) {}
  const BlockReader::Impl& block;
  bool started = false;
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  Bytes traces;
  TraceHeader header;
  uint32_t next_page = 0;
  std::deque<Segment> decoded;  // segments of the pages read, not yet returned

  Status DecodeNextPage() {
    std::vector<Segment> segments;
    const PageInfo& info = (*pages)[next_page];
    std::vector<uint32_t> every_trace(info.last_trace - info.first_trace + 1);
    std::iota(every_trace.begin(), every_trace.end(), info.first_trace);
    TB_RETURN_IF_ERROR(block.decoder.DecodeSegments(*pages, next_page, every_trace, *tables, &segments));
    ++next_page;
    for (auto& s : segments) decoded.push_back(std::move(s));
    return Status::Ok();
  }
};

TraceScan::TraceScan(const BlockReader::Impl& block) : state_(std::make_unique<State>(block)) {}
TraceScan::~TraceScan() = default;

std::unique_ptr<TraceScan> BlockReader::ScanTraces() const { return std::unique_ptr<TraceScan>(new TraceScan(*impl_)); }

Result<bool> TraceScan::Next(ScannedTrace* out) {
  State& st = *state_;
  if (st.block.io.meta.trace_count == 0) return false;
  if (!st.started) {
    TB_RETURN_IF_ERROR(st.block.index.Basics(&st.pages, &st.tables, true));
    TB_RETURN_IF_ERROR(st.block.index.TraceTable(&st.traces, &st.header));
    st.started = true;
  }
  if (st.decoded.empty()) {
    if (st.next_page == st.pages->size()) return false;
    TB_RETURN_IF_ERROR(st.DecodeNextPage());
  }
  const uint32_t t = st.decoded.front().trace;
  if (t >= st.header.n) return st.block.io.SectionCorrupt(SectionId::kPages, "trace ordinal beyond the trace table");
  const TraceRow row = st.block.index.ParseRow(
      st.header,
      std::string_view(*st.traces).substr(st.header.prefix_len + uint64_t{t} * st.header.row_size, st.header.row_size));
  *out = ScannedTrace{row.id, row.min_start, {}};
  TraceAssembler assemble(out->id, *st.tables, &out->spans);
  uint64_t spans = 0;
  while (true) {
    while (!st.decoded.empty() && st.decoded.front().trace == t) {
      for (auto& s : st.decoded.front().spans) assemble.Add(std::move(s));
      spans += st.decoded.front().spans.size();
      st.decoded.pop_front();
    }
    // The trace goes on in the next page only when that page starts with it.
    if (!st.decoded.empty() || st.next_page == st.pages->size() || (*st.pages)[st.next_page].first_trace != t) break;
    TB_RETURN_IF_ERROR(st.DecodeNextPage());
  }
  if (spans != row.count) return st.block.io.SectionCorrupt(SectionId::kTraces, "span count disagrees with the pages");
  return true;
}

Status BlockReader::FindTraces(const query::SpanMatcher& matcher, size_t limit,
                               std::vector<query::TraceHit>* hits) const {
  const Impl& m = *impl_;
  if (!matcher.satisfiable() || limit == 0 || m.io.meta.trace_count == 0) return Status::Ok();
  const query::TraceQuery& q = matcher.query();
  const uint64_t qmin = q.start_time_min_unix_nano.value_or(0);
  const uint64_t qmax = q.start_time_max_unix_nano.value_or(UINT64_MAX);
  if (qmin > m.io.meta.max_span_start || qmax < m.io.meta.min_span_start) return Status::Ok();

  // 1. Candidate pages from the posting lists, and bloom filters for high-cardinality keys.
  const bool indexed = !q.service_name.empty() || !q.operation_name.empty() || !matcher.plain_attributes().empty() ||
                       matcher.wants_error_spans();
  if (indexed && m.io.cache != nullptr) {
    // Sections 2-4 are adjacent: one GET warms the cache for all three.
    std::vector<Bytes> unused;
    TB_RETURN_IF_ERROR(m.io.LoadSections({SectionId::kPages, SectionId::kDict, SectionId::kPostingKeys}, &unused));
  }
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  TB_RETURN_IF_ERROR(m.index.Basics(&pages, &tables, false));
  const Dictionary& dict = tables->dict;
  std::optional<Bitmap> candidates;
  struct PageFilter {
    BloomHash hash;
    uint32_t partition;
  };
  std::vector<PageFilter> page_filters;
  std::shared_ptr<const PostingDir> dir;
  if (indexed) {
    {
      std::vector<Bytes> got;
      TB_RETURN_IF_ERROR(m.io.LoadSections({SectionId::kPostingKeys}, &got));
      TB_ASSIGN_OR_RETURN(dir, m.index.ParsePostings(got[0], dict.size()));
    }
    // Each group is a union of lists; the candidate pages are the intersection of the groups.
    std::vector<std::vector<const PostingEntry*>> groups;
    int64_t svc = -1;
    if (!q.service_name.empty()) {
      svc = dict.Find(q.service_name);
      const PostingEntry* e = svc < 0 ? nullptr : dir->Find(kPostService, static_cast<uint32_t>(svc), 0, 0);
      if (e == nullptr) return Status::Ok();
      groups.push_back({e});
    }
    if (!q.operation_name.empty()) {
      const int64_t op = dict.Find(q.operation_name);
      if (op < 0) return Status::Ok();
      std::vector<const PostingEntry*> g;
      if (svc >= 0) {
        for (uint8_t k = 0; k <= 5; ++k)
          if (auto* e = dir->Find(kPostOperation, static_cast<uint32_t>(svc), static_cast<uint32_t>(op), k))
            g.push_back(e);
      } else if (auto* e = dir->Find(kPostName, static_cast<uint32_t>(op), 0, 0)) {
        g.push_back(e);
      }
      if (g.empty()) return Status::Ok();
      groups.push_back(std::move(g));
    }
    if (matcher.wants_error_spans()) {
      const PostingEntry* e = dir->Find(kPostError, 0, 0, 0);
      if (e == nullptr) return Status::Ok();
      groups.push_back({e});
    }
    for (const auto* f : matcher.plain_attributes()) {
      const int64_t key = dict.Find(f->key);
      if (key < 0) return Status::Ok();
      if (dir->high_card[static_cast<size_t>(key)]) {
        const BloomHash h = HashKeyValue(f->key, f->value);
        page_filters.push_back({h, BloomPartition(h, static_cast<uint32_t>(dir->bloom_partitions.size()))});
        continue;
      }
      const int64_t value = dict.Find(f->value);
      const PostingEntry* e =
          value < 0 ? nullptr : dir->Find(kPostAttribute, static_cast<uint32_t>(key), static_cast<uint32_t>(value), 0);
      if (e == nullptr) return Status::Ok();
      groups.push_back({e});
    }
    std::vector<const PostingEntry*> flat;
    for (const auto& g : groups) flat.insert(flat.end(), g.begin(), g.end());
    std::vector<std::optional<Bitmap>> lists(flat.size());
    TB_RETURN_IF_ERROR(
        tb::ParallelFor(flat.size(), static_cast<size_t>(m.io.max_parallel_reads), [&](size_t i) -> Status {
          TB_ASSIGN_OR_RETURN(Bitmap b, m.index.PostingList(*flat[i]));
          lists[i] = std::move(b);
          return Status::Ok();
        }));
    size_t i = 0;
    for (const auto& g : groups) {
      Bitmap u;
      for (size_t j = 0; j < g.size(); ++j, ++i) roaring_bitmap_or_inplace(u.get(), lists[i]->get());
      if (!candidates) {
        candidates = std::move(u);
      } else {
        roaring_bitmap_and_inplace(candidates->get(), u.get());
      }
    }
    if (candidates && roaring_bitmap_is_empty(candidates->get())) return Status::Ok();
  }
  // The bloom partitions of the high-cardinality filters, in parallel.
  std::vector<PageBlooms> blooms(page_filters.size());
  TB_RETURN_IF_ERROR(
      tb::ParallelFor(page_filters.size(), static_cast<size_t>(m.io.max_parallel_reads), [&](size_t i) -> Status {
        TB_ASSIGN_OR_RETURN(blooms[i], m.index.BloomPartition(*dir, page_filters[i].partition));
        return Status::Ok();
      }));

  // 2. Candidate pages: overlapping the time window, in every posting group, passing the blooms.
  std::vector<uint32_t> todo;
  for (uint32_t p = 0; p < pages->size(); ++p) {
    const PageInfo& info = (*pages)[p];
    if (info.max_start < qmin || info.min_start > qmax) continue;
    if (candidates && !roaring_bitmap_contains(candidates->get(), p)) continue;
    bool pass = true;
    for (size_t i = 0; i < page_filters.size() && pass; ++i)
      pass = BloomMayContain(blooms[i].blooms[p], dir->bloom_k, page_filters[i].hash);
    if (pass) todo.push_back(p);
  }
  // A trace's newest span start is at most the newest start of the pages it spans; pages chained by
  // a split trace share that bound.
  std::vector<uint64_t> bound(pages->size());
  for (size_t p = 0, run = 0; p <= pages->size(); ++p) {
    if (p == pages->size() || (p > 0 && (*pages)[p].first_trace != (*pages)[p - 1].last_trace)) {
      uint64_t b = 0;
      for (size_t i = run; i < p; ++i) b = std::max(b, (*pages)[i].max_start);
      for (size_t i = run; i < p; ++i) bound[i] = b;
      run = p;
    }
  }
  std::stable_sort(todo.begin(), todo.end(), [&](uint32_t a, uint32_t b) { return bound[a] > bound[b]; });
  if (!todo.empty()) m.io.metrics.blocks.Add();

  // 3. Match candidate pages newest first, in waves, on their encoded columns (MatchPage).
  // The columns a query reads: segments, pairs, starts and durations always; names for an
  // operation; kind/status for error, span.kind and span.status; the lists and values for plain
  // attribute filters. One contiguous range up to the last is fetched, only these are decompressed.
  uint32_t columns = 1u << kColTraces | 1u << kColResourceScope | 1u << kColStart | 1u << kColDuration;
  if (!q.operation_name.empty()) columns |= 1u << kColName;
  for (const auto& f : q.attributes)
    if (f.key == "error" || f.key == "span.kind" || f.key == "span.status") columns |= 1u << kColKindStatus;
  if (!matcher.plain_attributes().empty())
    columns |= 1u << kColAttributes | 1u << kColValues | 1u << kColEvents | 1u << kColLinks;
  SearchPrefilter pre;
  pre.pair_ok.resize(tables->pairs.size());
  for (size_t i = 0; i < tables->pairs.size(); ++i)
    pre.pair_ok[i] =
        q.service_name.empty() || model::ServiceName(tables->resources[tables->pairs[i].first]) == q.service_name;
  if (!q.operation_name.empty()) {
    pre.name = dict.Find(q.operation_name);
    pre.name_text = q.operation_name;
  }
  pre.error_only = matcher.wants_error_spans();
  pre.start_min = qmin;
  pre.start_max = qmax;
  pre.duration_min = q.duration_min_nanos.value_or(0);
  pre.duration_max = q.duration_max_nanos.value_or(UINT64_MAX);
  pre.attribute_key.assign(dict.size(), false);
  for (const auto* f : matcher.plain_attributes()) {
    if (const int64_t k = dict.Find(f->key); k >= 0) pre.attribute_key[static_cast<size_t>(k)] = true;
    pre.attribute_key_text.push_back(f->key);
  }
  std::map<uint32_t, uint64_t> matched;  // trace ordinal → newest start seen (a lower bound)
  auto process = [&](const std::vector<uint32_t>& wave) -> Status {
    std::vector<std::vector<std::pair<uint32_t, uint64_t>>> found(wave.size());
    TB_RETURN_IF_ERROR(tb::ParallelFor(wave.size(), static_cast<size_t>(m.io.max_parallel_reads), [&](size_t i) {
      return m.decoder.MatchPage(*pages, wave[i], columns, *tables, pre, matcher, &found[i]);
    }));
    for (const auto& page_found : found)
      for (const auto& [trace, newest] : page_found) {
        auto& v = matched[trace];
        v = std::max(v, newest);
      }
    return Status::Ok();
  };
  const size_t wave_size = static_cast<size_t>(std::max(1, m.io.max_parallel_reads));
  size_t next = 0;
  while (next < todo.size()) {
    std::vector<uint32_t> wave(todo.begin() + static_cast<ptrdiff_t>(next),
                               todo.begin() + static_cast<ptrdiff_t>(std::min(todo.size(), next + wave_size)));
    next += wave.size();
    TB_RETURN_IF_ERROR(process(wave));
    if (matched.size() >= limit && next < todo.size()) {
      std::vector<uint64_t> newest;
      for (const auto& [t, n] : matched) newest.push_back(n);
      std::nth_element(newest.begin(), newest.begin() + static_cast<ptrdiff_t>(limit - 1), newest.end(),
                       std::greater<>());
      if (newest[limit - 1] > bound[todo[next]]) break;  // no later page can hold a newer match
    }
  }
  // 4. Exact times from the trace table, newest first.
  std::vector<uint32_t> ordinals;
  for (const auto& [t, n] : matched) ordinals.push_back(t);
  std::vector<TraceRow> rows;
  TB_RETURN_IF_ERROR(m.index.Rows(ordinals, &rows));
  std::vector<query::TraceHit> result;
  for (const auto& r : rows) result.push_back({r.id, r.newest, r.min_start, r.max_end});
  auto newer = [](const query::TraceHit& a, const query::TraceHit& b) {
    if (a.newest_span_start_unix_nano != b.newest_span_start_unix_nano)
      return a.newest_span_start_unix_nano > b.newest_span_start_unix_nano;
    return a.trace_id < b.trace_id;
  };
  std::sort(result.begin(), result.end(), newer);
  if (result.size() > limit) result.resize(limit);
  hits->insert(hits->end(), result.begin(), result.end());
  return Status::Ok();
}

Status BlockReader::PinTraceBloom() const { return impl_->index.PinTraceBloom(); }

Status BlockReader::PlanHints(block::PlanHints* hints) const {
  const Impl& m = *impl_;
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  TB_RETURN_IF_ERROR(m.index.Basics(&pages, &tables, false));
  std::vector<Bytes> got;
  TB_RETURN_IF_ERROR(m.io.LoadSections({SectionId::kPostingKeys}, &got));
  TB_ASSIGN_OR_RETURN(std::shared_ptr<const PostingDir> dir, m.index.ParsePostings(got[0], tables->dict.size()));
  const auto& dict = tables->dict;
  for (size_t i = 0; i < dict.size(); ++i)
    if (dir->high_card[i]) {
      hints->strings.emplace_back(dict.at(i));
      hints->high_card_keys.emplace_back(dict.at(i));
    }
  // A posting key names every string a trace needs in the dictionary but high-cardinality keys.
  for (const PostingEntry& e : dir->entries) {
    switch (e.kind) {
      case kPostService:
      case kPostName: hints->strings.emplace_back(dict.at(e.a)); break;
      case kPostOperation:
        hints->strings.emplace_back(dict.at(e.a));
        hints->strings.emplace_back(dict.at(e.b));
        break;
      case kPostAttribute:
        hints->strings.emplace_back(dict.at(e.a));
        hints->values.emplace_back(dict.at(e.a), dict.at(e.b));
        break;
      default: break;
    }
  }
  return Status::Ok();
}

Status BlockReader::Services(std::set<std::string>* out) const {
  ServiceTable table;
  TB_RETURN_IF_ERROR(impl_->index.LoadServices(&table));
  for (std::string_view s : table.services)
    if (!s.empty()) out->emplace(s);
  return Status::Ok();
}

Status BlockReader::Operations(const std::string& service, const std::string& span_kind,
                               std::set<query::Operation>* out) const {
  ServiceTable table;
  TB_RETURN_IF_ERROR(impl_->index.LoadServices(&table));
  for (const auto& op : table.operations) {
    if (table.services[op.service] != service) continue;
    const std::string kind_name(model::SpanKindName(static_cast<model::SpanKind>(op.kind)));
    if (span_kind.empty() || kind_name == span_kind) out->insert({std::string(op.name), kind_name});
  }
  return Status::Ok();
}

Status BlockReader::Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano, query::DependencyCounts* out) const {
  const BlockMeta& meta = impl_->io.meta;
  // Like the head's per-trace rule, applied to the block as a whole: counted only when every span
  // of the block lies in the window.
  if (meta.trace_count == 0 || meta.min_span_start < start_unix_nano || meta.max_span_end > end_unix_nano)
    return Status::Ok();
  std::vector<Bytes> got;
  TB_RETURN_IF_ERROR(impl_->io.LoadSections({SectionId::kDependencies}, &got));
  query::DependencyCounts found;
  TB_RETURN_IF_ERROR(impl_->index.ParseDependencies(got[0], &found));
  for (const auto& [k, v] : found) (*out)[k] += v;
  return Status::Ok();
}

Status BlockReader::Describe(BlockLayout* out) const {
  const Impl& m = *impl_;
  std::vector<SectionId> ids;
  for (int id = 1; id <= kSectionCount; ++id) ids.push_back(static_cast<SectionId>(id));
  std::vector<Bytes> got;
  TB_RETURN_IF_ERROR(m.io.LoadSections(ids, &got));
  for (size_t i = 0; i < ids.size(); ++i) {
    ByteReader r(*got[i]);
    r.Bytes(2);
    const uint8_t encoding = r.U8();
    r.U8();
    const uint32_t raw = r.U32();
    if (r.failed()) return m.io.SectionCorrupt(ids[i], "truncated frame");
    out->sections.push_back({SectionName(ids[i]), encoding == kEncodingZstd ? "zstd" : "raw", got[i]->size(),
                             kSectionHeaderSize + uint64_t{raw}});
  }
  TB_ASSIGN_OR_RETURN(auto pages, m.index.Pages(got[static_cast<size_t>(SectionId::kPages) - 1]));
  for (int c = 0; c < kColumnCount; ++c) {
    BlockLayout::Part part{ColumnName(c), "zstd", 0, 0};
    for (const PageInfo& p : *pages) {
      part.stored_bytes += p.col_len[c];
      part.raw_bytes += p.col_raw[c];
    }
    out->columns.push_back(std::move(part));
  }
  ServiceTable services;
  TB_RETURN_IF_ERROR(m.index.ParseServices(got[static_cast<size_t>(SectionId::kServices) - 1], &services));
  for (std::string_view s : services.services) out->services.emplace_back(s);
  out->operations = services.operations.size();
  return Status::Ok();
}

std::vector<Status> BlockReader::Verify(const std::function<void(uint64_t bytes)>& on_read, size_t max_problems) const {
  const Impl& m = *impl_;
  std::vector<Status> problems;
  const auto note = [&](const Status& s) {
    if (!s.ok() && problems.size() < max_problems) problems.push_back(s);
    return s.ok();
  };
  if (!note(m.io.CheckFormatVersion())) return problems;

  // 1. The index object whole; each section against the meta's checksum, then parsed.
  auto index = m.io.store->Get(m.io.prefix + kIndexObject);
  on_read(m.io.meta.index_size);
  if (!index.ok()) {
    note(index.status().code() == StatusCode::kNotFound ? m.io.Corrupt(kIndexObject, "object", "missing")
                                                        : index.status().WithContext(m.io.Where(kIndexObject)));
    return problems;
  }
  if (index->size() != m.io.meta.index_size) {
    note(m.io.Corrupt(kIndexObject, "object",
                      std::to_string(index->size()) + " bytes, the meta says " + std::to_string(m.io.meta.index_size)));
    return problems;
  }
  std::map<SectionId, Bytes> sections;  // those whose checksum holds
  for (const SectionRef& ref : m.io.meta.sections) {
    auto bytes = std::make_shared<const std::string>(index->substr(ref.offset, ref.length));
    if (note(Checksum64(*bytes) == ref.checksum ? Status::Ok() : m.io.SectionCorrupt(ref.id, "checksum mismatch")))
      sections[ref.id] = std::move(bytes);
  }
  const auto section = [&](SectionId id) { return sections.contains(id) ? sections[id] : nullptr; };
  std::vector<TraceRow> rows;
  if (auto b = section(SectionId::kTraces)) note(m.index.CheckTraceTable(*b, &rows));
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  if (auto b = section(SectionId::kPages)) {
    auto parsed = m.index.Pages(b);
    if (note(parsed.status())) pages = *parsed;
  }
  if (auto b = section(SectionId::kDict)) {
    auto parsed = m.index.ParseTables(b);
    if (note(parsed.status())) tables = *parsed;
  }
  if (auto b = section(SectionId::kPostingKeys); b && tables) {
    auto dir = m.index.ParsePostings(b, tables->dict.size());
    if (note(dir.status())) {
      if (section(SectionId::kPostingLists))
        for (const PostingEntry& e : (*dir)->entries)
          note(m.index.CheckedPostingList(e, std::string_view(*index).substr(e.offset, e.length)).status());
      if (section(SectionId::kPageBlooms))
        for (uint32_t j = 0; j < (*dir)->bloom_partitions.size(); ++j) {
          const BloomPartitionRef& ref = (*dir)->bloom_partitions[j];
          note(m.index
                   .CheckedBloomPartition(**dir, j,
                                          std::make_shared<const std::string>(index->substr(ref.offset, ref.length)))
                   .status());
        }
    }
  }
  if (auto b = section(SectionId::kDependencies)) {
    query::DependencyCounts counts;
    note(m.index.ParseDependencies(b, &counts));
  }
  if (auto b = section(SectionId::kServices)) {
    ServiceTable services;
    note(m.index.ParseServices(b, &services));
  }

  // 2. Every page, decoded whole; then the spans per trace against the trace table.
  if (!pages || !tables) {
    on_read(m.io.meta.data_size);
    return problems;
  }
  std::vector<uint64_t> spans_per_trace(m.io.meta.trace_count, 0);
  bool pages_intact = true;
  uint64_t data_read = 0;
  for (uint32_t p = 0; p < pages->size() && problems.size() < max_problems; ++p) {
    pages_intact &= note(m.decoder.CheckPage(*pages, p, *tables, &spans_per_trace));
    on_read((*pages)[p].length);
    data_read += (*pages)[p].length;
  }
  if (data_read < m.io.meta.data_size) on_read(m.io.meta.data_size - data_read);
  if (pages_intact && rows.size() == spans_per_trace.size()) {
    for (size_t t = 0; t < rows.size(); ++t) {
      if (rows[t].count == spans_per_trace[t]) continue;
      note(m.io.SectionCorrupt(SectionId::kTraces, "trace " + model::HexEncode(rows[t].id) + " has " +
                                                       std::to_string(rows[t].count) + " spans in the trace table, " +
                                                       std::to_string(spans_per_trace[t]) + " in the pages"));
      break;
    }
  }
  return problems;
}

}  // namespace tb::block
