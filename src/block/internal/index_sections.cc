#include "block/internal/index_sections.h"

#include <algorithm>
#include <map>

#include "model/text.h"
#include "util/parallel.h"

namespace tb::block::internal {

std::vector<uint32_t> PagesOfTrace(const std::vector<PageInfo>& pages, uint32_t t) {
  std::vector<uint32_t> list;
  const auto first =
      std::partition_point(pages.begin(), pages.end(), [t](const PageInfo& p) { return p.last_trace < t; });
  for (auto p = first; p != pages.end() && p->first_trace <= t; ++p)
    list.push_back(static_cast<uint32_t>(p - pages.begin()));
  return list;
}

std::shared_ptr<const std::vector<PageInfo>> IndexSections::LoadedForLookups() const {
  std::lock_guard lock(mu);
  return traces_full && pages && tables ? pages : nullptr;
}

Result<TraceHeader> IndexSections::ParseTraceHeader(std::string_view b) const {
  const auto bad = [&](std::string_view what) { return io_.SectionCorrupt(SectionId::kTraces, what); };
  ByteReader r(b);
  if (r.U8() != static_cast<uint8_t>(SectionId::kTraces) || r.U8() != kSectionVersion || r.U8() != kEncodingRaw)
    return bad("bad section header");
  r.U8();
  r.U32();
  TraceHeader h;
  h.n = r.U32();
  h.group = r.U32();
  h.wc = r.U8(), h.ws = r.U8(), h.we = r.U8(), h.wn = r.U8(), h.k = r.U8(), h.wo = r.U8();
  r.U16();
  h.row_size = r.U32();
  h.bloom_bytes = r.U32();
  h.base = r.U64();
  if (r.failed()) return bad("truncated header");
  if (h.n != io_.meta.trace_count || h.group != kTraceRowsPerGroup) return bad("trace count or group size wrong");
  for (int w : {h.wc, h.ws, h.we, h.wn, h.wo})
    if (w < 1 || w > 8) return bad("bad field width");
  if (h.row_size != 16u + h.wc + h.ws + h.we + h.wn || h.k < 1 || h.k > 16) return bad("bad row layout");
  if (h.groups() > r.remaining() / 8) return bad("truncated group checksums");
  for (size_t i = 0; i < h.groups(); ++i) h.group_sums.push_back(r.U64());
  const size_t before = b.size() - r.remaining();
  if (r.U64() != Checksum64(b.substr(0, before))) return bad("header checksum mismatch");
  h.prefix_len = before + 8;
  return h;
}

Result<TraceHeader> IndexSections::TraceHeaderOnly() const {
  {
    std::lock_guard lock(mu);
    if (trace_header) return *trace_header;
  }
  const SectionRef* s = io_.meta.Section(SectionId::kTraces);
  Bytes whole = io_.cache != nullptr ? io_.cache->Get(io_.SectionKey(SectionId::kTraces)) : nullptr;
  Bytes prefix_bytes = whole;
  if (whole == nullptr) {
    // Framing, fixed header, group checksums and the prefix checksum.
    const uint64_t groups = (io_.meta.trace_count + kTraceRowsPerGroup - 1) / kTraceRowsPerGroup;
    const uint64_t len = std::min<uint64_t>(s->length, kSectionHeaderSize + 32 + 8 * groups + 8);
    TB_ASSIGN_OR_RETURN(prefix_bytes,
                        io_.GetRange(kIndexObject, s->offset, len, io_.SectionKey(SectionId::kTraces) + "#head"));
  }
  TB_ASSIGN_OR_RETURN(TraceHeader h, ParseTraceHeader(*prefix_bytes));
  if (whole == nullptr) io_.CachePut(io_.SectionKey(SectionId::kTraces) + "#head", prefix_bytes);
  if (h.SectionLength() != s->length) return io_.SectionCorrupt(SectionId::kTraces, "length disagrees with its header");
  std::lock_guard lock(mu);
  trace_header = h;
  return h;
}

TraceRow IndexSections::ParseRow(const TraceHeader& h, std::string_view row) const {
  ByteReader r(row);
  TraceRow t;
  std::memcpy(t.id.data(), r.Bytes(16).data(), 16);
  t.count = static_cast<uint32_t>(r.Fixed(h.wc));
  t.min_start = h.base + r.Fixed(h.ws);
  const uint64_t z = r.Fixed(h.we);
  t.max_end = t.min_start + static_cast<uint64_t>(static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1)));
  t.newest = t.min_start + r.Fixed(h.wn);
  return t;
}

Result<std::shared_ptr<const std::vector<PageInfo>>> IndexSections::Pages(const Bytes& section) const {
  {
    std::lock_guard lock(mu);
    if (pages) return pages;
  }
  const auto bad = [&](std::string_view what) { return io_.SectionCorrupt(SectionId::kPages, what); };
  TB_ASSIGN_OR_RETURN(std::string payload, io_.Payload(SectionId::kPages, section));
  ByteReader r(payload);
  const size_t n = r.Count(50);
  if (n != io_.meta.page_count) return bad("page count disagrees with the meta");
  auto out = std::make_shared<std::vector<PageInfo>>(n);
  uint64_t expect_offset = 0;
  uint32_t expect_trace = 0;
  uint64_t spans = 0;
  for (auto& p : *out) {
    p.offset = r.U64();
    p.length = r.U32();
    p.first_trace = r.U32();
    p.last_trace = r.U32();
    p.first_span_offset = r.U32();
    p.span_count = r.U32();
    p.min_start = r.U64();
    p.max_start = r.U64();
    if (r.U8() != kColumnCount) return bad("unexpected column count");
    uint64_t sum = 0;
    for (int c = 0; c < kColumnCount; ++c) {
      p.col_len[c] = r.U32();
      p.col_raw[c] = r.U32();
      p.col_sum[c] = r.U32();
      sum += p.col_len[c];
    }
    if (r.failed()) return bad("truncated");
    if (p.RawBytes() > io_.max_page_bytes)
      return bad("page " + std::to_string(&p - out->data()) + " decodes to " + std::to_string(p.RawBytes()) +
                 " bytes, more than limits.max_decoded_page_size (" + std::to_string(io_.max_page_bytes) + ")");
    // Pages tile `data` and the trace ordinals in order; a trace may continue into the next page.
    // Each trace of a page has a span there, so a page names no more traces than it has spans.
    if (p.offset != expect_offset || sum != p.length || p.first_trace > p.last_trace ||
        p.last_trace >= io_.meta.trace_count || p.span_count == 0 || p.last_trace - p.first_trace >= p.span_count ||
        !(p.first_trace == expect_trace || (expect_trace > 0 && p.first_trace == expect_trace - 1)))
      return bad("page entry inconsistent");
    expect_offset += p.length;
    expect_trace = p.last_trace + 1;
    spans += p.span_count;
  }
  if (!r.done() || expect_offset != io_.meta.data_size || spans != io_.meta.span_count ||
      (n > 0 && expect_trace != io_.meta.trace_count))
    return bad("pages do not cover the block");
  std::lock_guard lock(mu);
  pages = out;
  return pages;
}

Result<std::shared_ptr<const Tables>> IndexSections::ParseTables(const Bytes& section) const {
  {
    std::lock_guard lock(mu);
    if (tables) return tables;
  }
  const auto bad = [&](std::string_view what) { return io_.SectionCorrupt(SectionId::kDict, what); };
  TB_ASSIGN_OR_RETURN(std::string payload, io_.Payload(SectionId::kDict, section));
  ByteReader r(payload);
  auto t = std::make_shared<Tables>();
  const size_t n = r.Count();
  t->dict.offsets.reserve(n + 1);
  uint64_t total = 0;
  t->dict.offsets.push_back(0);
  for (size_t i = 0; i < n; ++i) {
    total += r.Varint();
    if (total > payload.size()) return bad("string lengths exceed the section");
    t->dict.offsets.push_back(static_cast<uint32_t>(total));
  }
  t->dict.blob = std::string(r.Bytes(static_cast<size_t>(total)));
  if (r.failed()) return bad("truncated strings");
  for (size_t i = 1; i < n; ++i)
    if (!(t->dict.at(i - 1) < t->dict.at(i))) return bad("dictionary not sorted");
  const Decoder dec(t->dict);
  t->resources.resize(r.Count(3));
  for (auto& res : t->resources) {
    if (!dec.Attributes(r, &res.attributes, nullptr)) return bad("malformed resource");
    res.dropped_attributes_count = r.Varint32();
    if (!dec.Ref(r, &res.schema_url)) return bad("malformed resource");
  }
  t->scopes.resize(r.Count(5));
  for (auto& s : t->scopes) {
    if (!dec.Ref(r, &s.name) || !dec.Ref(r, &s.version) || !dec.Attributes(r, &s.attributes, nullptr))
      return bad("malformed scope");
    s.dropped_attributes_count = r.Varint32();
    if (!dec.Ref(r, &s.schema_url)) return bad("malformed scope");
  }
  t->pairs.resize(r.Count(2));
  for (auto& [a, b] : t->pairs) {
    a = r.Varint32();
    b = r.Varint32();
    if (a >= t->resources.size() || b >= t->scopes.size()) return bad("pair refers to a missing resource or scope");
  }
  if (r.failed() || !r.done()) return bad("malformed tables");
  std::lock_guard lock(mu);
  tables = t;
  return tables;
}

Result<std::shared_ptr<const PostingDir>> IndexSections::ParsePostings(const Bytes& section, size_t dict_size) const {
  {
    std::lock_guard lock(mu);
    if (postings) return postings;
  }
  const auto bad = [&](std::string_view what) { return io_.SectionCorrupt(SectionId::kPostingKeys, what); };
  TB_ASSIGN_OR_RETURN(std::string payload, io_.Payload(SectionId::kPostingKeys, section));
  const SectionRef* lists = io_.meta.Section(SectionId::kPostingLists);
  ByteReader r(payload);
  auto d = std::make_shared<PostingDir>();
  d->high_card.assign(dict_size, false);
  for (size_t i = r.Count(); i > 0; --i) {
    const uint32_t k = r.Varint32();
    if (k >= dict_size) return bad("high-cardinality key outside the dictionary");
    d->high_card[k] = true;
  }
  const size_t n = r.Count(9);
  d->entries.reserve(n);
  uint64_t offset = lists->offset + kSectionHeaderSize;
  for (size_t i = 0; i < n; ++i) {
    PostingEntry e;
    e.kind = r.U8();
    e.a = r.Varint32();
    e.b = r.Varint32();
    e.c = r.U8();
    e.length = r.Varint32();
    e.checksum = r.U32();
    e.offset = offset;
    offset += e.length;
    if (r.failed()) return bad("truncated");
    if (!d->entries.empty()) {
      const auto& p = d->entries.back();
      if (std::make_tuple(p.kind, p.a, p.b, p.c) >= std::make_tuple(e.kind, e.a, e.b, e.c))
        return bad("keys not sorted");
    }
    d->entries.push_back(e);
  }
  if (offset != lists->offset + lists->length) return bad("lists do not match the posting_lists section");
  d->bloom_k = r.U8();
  const SectionRef* blooms = io_.meta.Section(SectionId::kPageBlooms);
  const size_t partitions = r.Count(5);
  if (d->bloom_k < 1 || d->bloom_k > 16 || partitions == 0) return bad("bad bloom partition directory");
  uint64_t bloom_offset = blooms->offset + kSectionHeaderSize;
  for (size_t i = 0; i < partitions; ++i) {
    BloomPartitionRef b;
    b.offset = bloom_offset;
    b.length = r.Varint32();
    b.checksum = r.U32();
    bloom_offset += b.length;
    d->bloom_partitions.push_back(b);
  }
  if (r.failed() || !r.done() || bloom_offset != blooms->offset + blooms->length)
    return bad("bloom partitions do not match the page_blooms section");
  std::lock_guard lock(mu);
  postings = d;
  return postings;
}

Result<Bitmap> IndexSections::PostingList(const PostingEntry& e) const {
  TB_ASSIGN_OR_RETURN(Bytes b, io_.GetRange(kIndexObject, e.offset, e.length,
                                            io_.prefix + kIndexObject + "#post@" + std::to_string(e.offset)));
  return CheckedPostingList(e, *b);
}

Result<Bitmap> IndexSections::CheckedPostingList(const PostingEntry& e, std::string_view b) const {
  const std::string part = "section posting_lists list at " + std::to_string(e.offset);
  if (Checksum32(b) != e.checksum) return io_.Corrupt(kIndexObject, part, "checksum mismatch");
  roaring_bitmap_t* bm = roaring_bitmap_portable_deserialize_safe(b.data(), b.size());
  if (bm == nullptr) return io_.Corrupt(kIndexObject, part, "malformed bitmap");
  Bitmap out(bm);
  if (!roaring_bitmap_is_empty(bm) && roaring_bitmap_maximum(bm) >= io_.meta.page_count)
    return io_.Corrupt(kIndexObject, part, "page ordinal out of range");
  return out;
}

Result<PageBlooms> IndexSections::BloomPartition(const PostingDir& dir, uint32_t j) const {
  const BloomPartitionRef& ref = dir.bloom_partitions[j];
  TB_ASSIGN_OR_RETURN(Bytes bytes, io_.GetRange(kIndexObject, ref.offset, ref.length,
                                                io_.SectionKey(SectionId::kPageBlooms) + "#" + std::to_string(j)));
  TB_ASSIGN_OR_RETURN(PageBlooms pb, CheckedBloomPartition(dir, j, std::move(bytes)));
  io_.CachePut(io_.SectionKey(SectionId::kPageBlooms) + "#" + std::to_string(j), pb.bytes);
  return pb;
}

Result<PageBlooms> IndexSections::CheckedBloomPartition(const PostingDir& dir, uint32_t j, Bytes bytes) const {
  const std::string part = "section page_blooms partition " + std::to_string(j);
  PageBlooms pb;
  pb.bytes = std::move(bytes);
  if (Checksum32(*pb.bytes) != dir.bloom_partitions[j].checksum)
    return io_.Corrupt(kIndexObject, part, "checksum mismatch");
  // One varint of at least a byte per page: a page count beyond the partition's size is a lie,
  // and would otherwise size the vector below from untrusted bytes.
  if (io_.meta.page_count > pb.bytes->size()) return io_.Corrupt(kIndexObject, part, "more pages than bytes");
  ByteReader r(*pb.bytes);
  std::vector<uint64_t> words(io_.meta.page_count);
  for (auto& w : words) w = r.Varint();
  for (uint64_t w : words) {
    if (w > r.remaining() / 8) return io_.Corrupt(kIndexObject, part, "malformed");
    pb.blooms.push_back(r.Bytes(static_cast<size_t>(w * 8)));
  }
  if (r.failed() || !r.done()) return io_.Corrupt(kIndexObject, part, "malformed");
  return pb;
}

Status IndexSections::Basics(std::shared_ptr<const std::vector<PageInfo>>* p, std::shared_ptr<const Tables>* t,
                             bool with_traces) const {
  {
    std::lock_guard lock(mu);
    if (pages && tables && (!with_traces || traces_full)) {
      *p = pages;
      *t = tables;
      return Status::Ok();
    }
  }
  std::vector<SectionId> ids = {SectionId::kPages, SectionId::kDict};
  if (with_traces) ids.insert(ids.begin(), SectionId::kTraces);
  std::vector<Bytes> got;
  TB_RETURN_IF_ERROR(io_.LoadSections(ids, &got));
  if (with_traces) {
    TB_ASSIGN_OR_RETURN(TraceHeader h, ParseTraceHeader(*got[0]));
    if (h.SectionLength() != got[0]->size())
      return io_.SectionCorrupt(SectionId::kTraces, "length disagrees with its header");
    std::lock_guard lock(mu);
    traces_full = got[0];
    trace_header = h;
    got.erase(got.begin());
  }
  TB_ASSIGN_OR_RETURN(*p, Pages(got[0]));
  TB_ASSIGN_OR_RETURN(*t, ParseTables(got[1]));
  return Status::Ok();
}

Status IndexSections::Rows(const std::vector<uint32_t>& ordinals, std::vector<TraceRow>* out) const {
  out->clear();
  if (ordinals.empty()) return Status::Ok();
  TB_ASSIGN_OR_RETURN(TraceHeader h, TraceHeaderOnly());
  Bytes whole;
  {
    std::lock_guard lock(mu);
    whole = traces_full;
  }
  if (whole == nullptr && io_.cache != nullptr) whole = io_.cache->Get(io_.SectionKey(SectionId::kTraces));
  const SectionRef* s = io_.meta.Section(SectionId::kTraces);
  std::vector<uint32_t> groups;
  for (uint32_t o : ordinals)
    if (groups.empty() || groups.back() != o / h.group) groups.push_back(o / h.group);
  if (whole == nullptr && groups.size() * 4 > h.groups()) {
    std::vector<Bytes> got;
    TB_RETURN_IF_ERROR(io_.LoadSections({SectionId::kTraces}, &got));
    whole = got[0];
    std::lock_guard lock(mu);
    traces_full = whole;
  }
  std::map<uint32_t, Bytes> group_bytes;
  if (whole == nullptr) {
    std::vector<Bytes> fetched(groups.size());
    TB_RETURN_IF_ERROR(
        tb::ParallelFor(groups.size(), static_cast<size_t>(io_.max_parallel_reads), [&](size_t i) -> Status {
          const uint32_t g = groups[i];
          const uint64_t first = uint64_t{g} * h.group;
          const uint64_t rows = std::min<uint64_t>(h.group, h.n - first);
          TB_ASSIGN_OR_RETURN(
              fetched[i], io_.GetRange(kIndexObject, s->offset + h.prefix_len + first * h.row_size, rows * h.row_size,
                                       io_.SectionKey(SectionId::kTraces) + "#g" + std::to_string(g)));
          if (Checksum64(*fetched[i]) != h.group_sums[g])
            return io_.SectionCorrupt(SectionId::kTraces, "row group " + std::to_string(g) + " checksum mismatch");
          io_.CachePut(io_.SectionKey(SectionId::kTraces) + "#g" + std::to_string(g), fetched[i]);
          return Status::Ok();
        }));
    for (size_t i = 0; i < groups.size(); ++i) group_bytes[groups[i]] = fetched[i];
  }
  for (uint32_t o : ordinals) {
    if (o >= h.n) return io_.SectionCorrupt(SectionId::kTraces, "trace ordinal out of range");
    std::string_view row;
    if (whole != nullptr) {
      row = std::string_view(*whole).substr(h.prefix_len + uint64_t{o} * h.row_size, h.row_size);
    } else {
      const uint32_t g = o / h.group;
      row = std::string_view(*group_bytes[g]).substr(uint64_t{o - g * h.group} * h.row_size, h.row_size);
    }
    out->push_back(ParseRow(h, row));
  }
  return Status::Ok();
}

Status IndexSections::ParseServices(const Bytes& section, ServiceTable* out) const {
  TB_ASSIGN_OR_RETURN(out->payload, io_.Payload(SectionId::kServices, section));
  ByteReader r(out->payload);
  out->services.resize(r.Count());
  for (auto& s : out->services) s = r.LenBytes();
  out->operations.resize(r.Count(3));
  for (auto& op : out->operations) {
    op.service = r.Varint();
    op.name = r.LenBytes();
    op.kind = r.U8();
    if (r.failed() || op.service >= out->services.size() || op.kind > 5)
      return io_.SectionCorrupt(SectionId::kServices, "malformed operation");
  }
  if (r.failed() || !r.done()) return io_.SectionCorrupt(SectionId::kServices, "malformed");
  return Status::Ok();
}

Status IndexSections::LoadServices(ServiceTable* out) const {
  std::vector<Bytes> got;
  TB_RETURN_IF_ERROR(io_.LoadSections({SectionId::kServices}, &got));
  return ParseServices(got[0], out);
}

Status IndexSections::ParseDependencies(const Bytes& section, query::DependencyCounts* out) const {
  TB_ASSIGN_OR_RETURN(std::string payload, io_.Payload(SectionId::kDependencies, section));
  ByteReader r(payload);
  const size_t n = r.Count(3);
  for (size_t i = 0; i < n && !r.failed(); ++i) {
    std::string parent(r.LenBytes()), child(r.LenBytes());
    (*out)[{std::move(parent), std::move(child)}] += r.Varint();
  }
  if (r.failed() || !r.done()) return io_.SectionCorrupt(SectionId::kDependencies, "malformed");
  return Status::Ok();
}

Status IndexSections::CheckTraceTable(std::string_view b, std::vector<TraceRow>* rows) const {
  const auto bad = [&](std::string_view what) { return io_.SectionCorrupt(SectionId::kTraces, what); };
  TB_ASSIGN_OR_RETURN(TraceHeader h, ParseTraceHeader(b));
  if (h.SectionLength() != b.size()) return bad("length disagrees with its header");
  for (size_t g = 0; g < h.groups(); ++g) {
    const uint64_t first = uint64_t{g} * h.group, n = std::min<uint64_t>(h.group, h.n - first);
    if (Checksum64(b.substr(h.prefix_len + first * h.row_size, n * h.row_size)) != h.group_sums[g])
      return bad("row group " + std::to_string(g) + " checksum mismatch");
  }
  uint64_t spans = 0;
  for (uint32_t t = 0; t < h.n; ++t) {
    rows->push_back(ParseRow(h, b.substr(h.prefix_len + uint64_t{t} * h.row_size, h.row_size)));
    const TraceRow& row = rows->back();
    if (row.count == 0) return bad("trace " + std::to_string(t) + " has no spans");
    if (t > 0 && std::tie(row.min_start, row.id) <= std::tie((*rows)[t - 1].min_start, (*rows)[t - 1].id))
      return bad("rows not in time order at trace " + std::to_string(t));
    spans += row.count;
  }
  if (spans != io_.meta.span_count) return bad("span counts do not add up to the meta's");
  std::vector<bool> named(h.n, false);
  const std::string_view bloom = b.substr(b.size() - h.bloom_bytes);
  for (uint32_t rank = 0; rank < h.n; ++rank) {
    ByteReader r(b.substr(h.IdOrderOffset() + uint64_t{rank} * h.wo, h.wo));
    const uint64_t t = r.Fixed(h.wo);
    if (t >= h.n || named[t]) return bad("trace-ID order is not a permutation of the rows");
    named[t] = true;
    if (rank > 0) {
      ByteReader prev(b.substr(h.IdOrderOffset() + uint64_t{rank - 1} * h.wo, h.wo));
      if (!((*rows)[prev.Fixed(h.wo)].id < (*rows)[t].id)) return bad("trace-ID order not sorted");
    }
    if (!BloomMayContain(bloom, h.k, HashTraceId((*rows)[t].id.data())))
      return bad("trace " + model::HexEncode((*rows)[t].id) + " is missing from the bloom");
  }
  return Status::Ok();
}
Status IndexSections::TraceTable(Bytes* section, TraceHeader* header) const {
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  TB_RETURN_IF_ERROR(Basics(&pages, &tables, true));
  std::lock_guard lock(mu);
  *section = traces_full;
  *header = *trace_header;
  return Status::Ok();
}

Status IndexSections::PinTraceBloom() const {
  if (io_.meta.trace_count == 0) return Status::Ok();
  TB_RETURN_IF_ERROR(io_.CheckFormatVersion());
  TB_ASSIGN_OR_RETURN(TraceHeader h, TraceHeaderOnly());
  const SectionRef* s = io_.meta.Section(SectionId::kTraces);
  // Not through the cache: the reader holds it, so a cached copy would only take another's room.
  auto got = io_.store->Get(io_.prefix + kIndexObject, s->offset + s->length - h.bloom_bytes, h.bloom_bytes);
  if (!got.ok()) return got.status().WithContext(io_.Where(kIndexObject));
  io_.metrics.bytes.Add(static_cast<double>(got->size()));
  if (got->size() != h.bloom_bytes) return io_.SectionCorrupt(SectionId::kTraces, "index object truncated");
  std::lock_guard lock(mu);
  pinned_bloom = std::make_shared<const std::string>(std::move(got).value());
  return Status::Ok();
}

bool IndexSections::PinnedBloomRulesOut(const model::TraceId& id) const {
  std::lock_guard lock(mu);
  return pinned_bloom != nullptr && !BloomMayContain(*pinned_bloom, trace_header->k, HashTraceId(id.data()));
}

Status IndexSections::FindTraceRow(const model::TraceId& id, bool* found, uint32_t* ordinal, TraceRow* row) const {
  *found = false;
  if (io_.meta.trace_count == 0 || PinnedBloomRulesOut(id)) return Status::Ok();
  Bytes traces;
  TraceHeader h;
  TB_RETURN_IF_ERROR(TraceTable(&traces, &h));
  const std::string_view section(*traces);
  const std::string_view bloom = section.substr(section.size() - h.bloom_bytes);
  if (!BloomMayContain(bloom, h.k, HashTraceId(id.data()))) return Status::Ok();
  // Rows are in time order; the trace-ID order after them names the row of each rank by ID.
  const std::string_view key(reinterpret_cast<const char*>(id.data()), 16);
  const auto row_at_rank = [&](uint32_t rank, uint32_t* row_ordinal) {
    ByteReader r(section.substr(h.IdOrderOffset() + uint64_t{rank} * h.wo, h.wo));
    *row_ordinal = static_cast<uint32_t>(r.Fixed(h.wo));
    return *row_ordinal < h.n;
  };
  uint32_t lo = 0, hi = h.n, at = 0;
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (!row_at_rank(mid, &at)) return io_.SectionCorrupt(SectionId::kTraces, "trace-ID order names a missing row");
    if (section.substr(h.prefix_len + uint64_t{at} * h.row_size, 16) < key) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == h.n) return Status::Ok();
  if (!row_at_rank(lo, &at)) return io_.SectionCorrupt(SectionId::kTraces, "trace-ID order names a missing row");
  const std::string_view row_bytes = section.substr(h.prefix_len + uint64_t{at} * h.row_size, h.row_size);
  if (row_bytes.substr(0, 16) != key) return Status::Ok();
  *found = true;
  *ordinal = at;
  *row = ParseRow(h, row_bytes);
  return Status::Ok();
}

}  // namespace tb::block::internal
