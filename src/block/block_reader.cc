#include "block/block_reader.h"

#include <roaring/roaring.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <thread>
#include <tuple>

#include "block/block_writer.h"
#include "block/codec.h"
#include "model/text.h"
#include "util/parallel.h"

namespace tb::block {

// ---------------------------------------------------------------------------------------------
// LruBlockCache

std::shared_ptr<const std::string> LruBlockCache::Get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void LruBlockCache::Put(const std::string& key, std::shared_ptr<const std::string> value) {
  if (value == nullptr || value->size() > capacity_) return;
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    bytes_ -= it->second->second->size();
    lru_.erase(it->second);
    map_.erase(it);
  }
  bytes_ += value->size();
  lru_.emplace_front(key, std::move(value));
  map_[key] = lru_.begin();
  while (bytes_ > capacity_ && !lru_.empty()) {
    bytes_ -= lru_.back().second->size();
    map_.erase(lru_.back().first);
    lru_.pop_back();
    ++evictions_;
  }
}

uint64_t LruBlockCache::size_bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

LruBlockCache::Stats LruBlockCache::stats() const {
  std::lock_guard lock(mu_);
  return Stats{hits_, misses_, evictions_, bytes_};
}

void LruBlockCache::Clear() {
  std::lock_guard lock(mu_);
  lru_.clear();
  map_.clear();
  bytes_ = 0;
}

Result<BlockMeta> ReadBlockMeta(objstore::ObjectStore& store, const std::string& prefix) {
  const std::string key = prefix + kMetaObject;
  TB_ASSIGN_OR_RETURN(std::string bytes, store.Get(key));
  return DecodeMeta(bytes, store.Describe() + "/" + key);
}

namespace {

using Bytes = std::shared_ptr<const std::string>;

struct PageInfo {
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t first_trace = 0, last_trace = 0, first_span_offset = 0, span_count = 0;
  uint64_t min_start = 0, max_start = 0;
  uint32_t col_len[kColumnCount] = {}, col_raw[kColumnCount] = {}, col_sum[kColumnCount] = {};
  uint64_t ColumnOffset(int c) const {
    uint64_t o = offset;
    for (int i = 0; i < c; ++i) o += col_len[i];
    return o;
  }
  uint64_t RawBytes() const {
    uint64_t n = 0;
    for (uint32_t raw : col_raw) n += raw;
    return n;
  }
};

struct TraceHeader {
  uint32_t n = 0, group = 1;
  int wc = 0, ws = 0, we = 0, wn = 0, k = 0;
  int wo = 0;  // byte width of an entry of the trace-ID order
  uint32_t row_size = 0, bloom_bytes = 0;
  uint64_t base = 0;
  std::vector<uint64_t> group_sums;
  size_t prefix_len = 0;  // bytes of the section before the rows
  size_t groups() const { return (n + group - 1) / group; }
  // Offset of the trace-ID order (after the rows) in the section.
  uint64_t IdOrderOffset() const { return prefix_len + uint64_t{n} * row_size; }
  // Bytes of the whole section that the header implies.
  uint64_t SectionLength() const { return IdOrderOffset() + uint64_t{n} * wo + bloom_bytes; }
};

struct TraceRow {
  model::TraceId id{};
  uint32_t count = 0;
  uint64_t min_start = 0, max_end = 0, newest = 0;
};

struct Tables {
  Dictionary dict;
  std::vector<model::Resource> resources;
  std::vector<model::Scope> scopes;
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
};

struct PostingEntry {
  uint8_t kind, c;
  uint32_t a, b;
  uint64_t offset;
  uint32_t length, checksum;
};

struct BloomPartitionRef {
  uint64_t offset;
  uint32_t length, checksum;
};

struct PostingDir {
  std::vector<bool> high_card;  // by key ordinal
  std::vector<PostingEntry> entries;
  int bloom_k = 0;
  std::vector<BloomPartitionRef> bloom_partitions;
  const PostingEntry* Find(uint8_t kind, uint32_t a, uint32_t b, uint8_t c) const {
    auto key = std::make_tuple(kind, a, b, c);
    auto it = std::lower_bound(entries.begin(), entries.end(), key, [](const PostingEntry& e, const auto& k) {
      return std::make_tuple(e.kind, e.a, e.b, e.c) < k;
    });
    return it != entries.end() && std::make_tuple(it->kind, it->a, it->b, it->c) == key ? &*it : nullptr;
  }
};

// One partition of the page blooms: a bloom per page (empty when the page has no hash there).
struct PageBlooms {
  std::vector<std::string_view> blooms;
  Bytes bytes;
};

// A span decoded from a page, with its (resource, scope) pair ordinal.
struct DecodedSpan {
  uint32_t pair;
  model::Span span;
};

// The spans of one trace in one page.
struct Segment {
  uint32_t trace;  // ordinal
  std::vector<DecodedSpan> spans;
};

// Regroups decoded spans of one trace under their resources and scopes, in order of first
// appearance.
class TraceAssembler {
 public:
  TraceAssembler(const model::TraceId& id, const Tables& tables, model::Traces* out)
      : id_(id), tables_(tables), out_(out) {}
  void Add(DecodedSpan&& s) {
    s.span.trace_id = id_;
    const uint32_t resource = tables_.pairs[s.pair].first;
    auto [rit, rnew] = resource_slot_.emplace(resource, out_->resource_spans.size());
    if (rnew) out_->resource_spans.push_back({tables_.resources[resource], {}});
    auto& scopes = out_->resource_spans[rit->second].scope_spans;
    auto [sit, snew] = pair_slot_.emplace(s.pair, scopes.size());
    if (snew) scopes.push_back({tables_.scopes[tables_.pairs[s.pair].second], {}});
    scopes[sit->second].spans.push_back(std::move(s.span));
  }

 private:
  const model::TraceId& id_;
  const Tables& tables_;
  model::Traces* out_;
  std::map<uint32_t, size_t> resource_slot_;  // resource ordinal → index in out_->resource_spans
  std::map<uint32_t, size_t> pair_slot_;      // pair ordinal → index in its resource's scope_spans
};

// The tests of a search that the encoded columns answer without rebuilding a span. They only
// reject spans the SpanMatcher would reject too; a span that passes is still checked exactly.
struct SearchPrefilter {
  std::vector<bool> pair_ok;   // by (resource, scope) pair: its service is the wanted one (or any)
  int64_t name = -1;           // dictionary ordinal of the wanted span name; -1: any name
  std::string_view name_text;  // the wanted span name (for inline string refs)
  bool error_only = false;     // only status ERROR can match
  uint64_t start_min = 0, start_max = UINT64_MAX;
  uint64_t duration_min = 0, duration_max = UINT64_MAX;  // of zigzag-decoded end - start, as uint64
  // The keys of the plain attribute filters: by dictionary ordinal, and as text (inline keys).
  std::vector<bool> attribute_key;
  std::vector<std::string_view> attribute_key_text;
};

// Reads one page attribute list and appends to `out` only the attributes whose key is a filter key
// of `pre`. Runs are per key, so the values of other dictionary keys are never read; a value
// stored in the list itself (inline key) is decoded and dropped. False if malformed.
bool FilterAttributes(ByteReader& r, const Dictionary& dict, const Decoder& dec, ValueCursors& cursors,
                      const SearchPrefilter& pre, model::Attributes* out) {
  const size_t n = r.Count();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t ref = r.Varint();
    if (r.failed()) return false;
    if (!(ref & 1)) {
      const uint64_t key = ref >> 1;
      if (key >= dict.size()) return r.Fail(), false;
      if (!pre.attribute_key[static_cast<size_t>(key)]) continue;
      model::KeyValue& kv = out->emplace_back();
      kv.key = dict.at(static_cast<size_t>(key));
      if (!cursors.Next(static_cast<uint32_t>(key), dec, &kv.value)) return r.Fail(), false;
      continue;
    }
    const std::string_view key = r.Bytes(static_cast<size_t>(ref >> 1));
    model::AnyValue value;
    if (!dec.Value(r, &value)) return false;
    if (std::find(pre.attribute_key_text.begin(), pre.attribute_key_text.end(), key) != pre.attribute_key_text.end())
      out->push_back({std::string(key), std::move(value)});
  }
  return !r.failed();
}

// The services section (docs/format/block.md §2.7): service names, and (service index, span name, span kind) triples.
struct ServiceTable {
  struct Op {
    uint64_t service;
    std::string_view name;
    uint8_t kind;
  };
  std::string payload;  // the views below point into it
  std::vector<std::string_view> services;
  std::vector<Op> operations;
};

class Bitmap {
 public:
  Bitmap() : b_(roaring_bitmap_create()) {}
  explicit Bitmap(roaring_bitmap_t* b) : b_(b) {}
  Bitmap(Bitmap&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
  Bitmap& operator=(Bitmap&& o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~Bitmap() {
    if (b_ != nullptr) roaring_bitmap_free(b_);
  }
  roaring_bitmap_t* get() const { return b_; }

 private:
  roaring_bitmap_t* b_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct BlockReader::Impl {
  // The trace-table section (bloom included) and its parsed header, loading them if needed.
  Status TraceTable(Bytes* section, TraceHeader* header) const;
  // Looks `id` up in the trace bloom and the trace table.
  Status FindTraceRow(const model::TraceId& id, bool* found, uint32_t* ordinal, TraceRow* row) const;

  objstore::ObjectStore* store;
  std::string prefix;
  BlockMeta meta;
  BlockCache* cache;
  BlockReaderOptions options;

  mutable std::mutex mu;      // guards the parsed sections below
  mutable Bytes traces_full;  // whole traces section, verified
  mutable std::optional<TraceHeader> trace_header;
  mutable std::shared_ptr<const std::vector<PageInfo>> pages;
  mutable std::shared_ptr<const Tables> tables;
  mutable std::shared_ptr<const PostingDir> postings;

  std::string Where(std::string_view object) const {
    return "block " + meta.block_id + " (" + store->Describe() + "/" + prefix + std::string(object) + ")";
  }
  Status Corrupt(std::string_view object, std::string_view part, std::string_view what) const {
    return Status::DataLoss(Where(object) + " " + std::string(part) + ": " + std::string(what));
  }
  Status SectionCorrupt(SectionId id, std::string_view what) const {
    return Corrupt(kIndexObject, std::string("section ") + SectionName(id), what);
  }

  // A byte range of an object, through the cache. A short read is DATA_LOSS.
  Result<Bytes> GetRange(const char* object, uint64_t offset, uint64_t length, const std::string& cache_key) const {
    if (cache != nullptr) {
      if (auto hit = cache->Get(cache_key)) return hit;
    }
    auto got = store->Get(prefix + object, offset, length);
    if (!got.ok()) {
      if (got.status().code() == StatusCode::kInvalidArgument || got.status().code() == StatusCode::kNotFound)
        return Corrupt(object, "range " + std::to_string(offset) + "+" + std::to_string(length),
                       "missing: " + got.status().ToString());
      return got.status().WithContext(Where(object));
    }
    options.metrics.bytes.Add(static_cast<double>(got->size()));
    if (got->size() != length)
      return Corrupt(object, "range " + std::to_string(offset) + "+" + std::to_string(length), "object truncated");
    return std::make_shared<const std::string>(std::move(got).value());
  }
  void CachePut(const std::string& key, const Bytes& b) const {
    if (cache != nullptr) cache->Put(key, b);
  }
  std::string SectionKey(SectionId id) const { return prefix + kIndexObject + "#" + SectionName(id); }
  // The cache key of page p fetched whole.
  std::string PageKey(uint32_t p) const { return prefix + kDataObject + "#p" + std::to_string(p); }

  Status CheckFormatVersion() const {
    if (meta.format_version == kFormatVersion) return Status::Ok();
    return Corrupt(kMetaObject, "format version",
                   "block format version " + std::to_string(meta.format_version) +
                       " is no longer readable (this build reads version " + std::to_string(kFormatVersion) + ")");
  }

  // Whole sections, verified against the meta's checksums. Adjacent missing sections are fetched
  // with one GET.
  Status LoadSections(std::vector<SectionId> ids, std::vector<Bytes>* out) const {
    out->assign(ids.size(), nullptr);
    // Every read starts with index sections, so this is where an older block is refused.
    TB_RETURN_IF_ERROR(CheckFormatVersion());
    std::vector<size_t> missing;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (cache != nullptr) (*out)[i] = cache->Get(SectionKey(ids[i]));
      if ((*out)[i] == nullptr) missing.push_back(i);
    }
    // Group into runs of adjacent sections.
    std::sort(missing.begin(), missing.end(),
              [&](size_t a, size_t b) { return meta.Section(ids[a])->offset < meta.Section(ids[b])->offset; });
    std::vector<std::vector<size_t>> runs;
    for (size_t i : missing) {
      const SectionRef* s = meta.Section(ids[i]);
      if (!runs.empty()) {
        const SectionRef* prev = meta.Section(ids[runs.back().back()]);
        if (prev->offset + prev->length == s->offset) {
          runs.back().push_back(i);
          continue;
        }
      }
      runs.push_back({i});
    }
    return tb::ParallelFor(runs.size(), static_cast<size_t>(options.max_parallel_reads), [&](size_t r) -> Status {
      const SectionRef* first = meta.Section(ids[runs[r].front()]);
      const SectionRef* last = meta.Section(ids[runs[r].back()]);
      const uint64_t len = last->offset + last->length - first->offset;
      auto got = store->Get(prefix + kIndexObject, first->offset, len);
      if (!got.ok()) return got.status().WithContext(Where(kIndexObject));
      options.metrics.bytes.Add(static_cast<double>(got->size()));
      if (got->size() != len) return SectionCorrupt(ids[runs[r].front()], "index object truncated");
      for (size_t i : runs[r]) {
        const SectionRef* s = meta.Section(ids[i]);
        auto bytes = std::make_shared<const std::string>(got->substr(s->offset - first->offset, s->length));
        if (Checksum64(*bytes) != s->checksum) return SectionCorrupt(ids[i], "checksum mismatch");
        CachePut(SectionKey(ids[i]), bytes);
        (*out)[i] = std::move(bytes);
      }
      return Status::Ok();
    });
  }

  Result<std::string> Payload(SectionId id, const Bytes& bytes) const {
    return UnframeSection(*bytes, id, Where(kIndexObject) + " section " + SectionName(id));
  }

  // ---- section parsers ----
  Result<TraceHeader> ParseTraceHeader(std::string_view b) const {
    const auto bad = [&](std::string_view what) { return SectionCorrupt(SectionId::kTraces, what); };
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
    if (h.n != meta.trace_count || h.group != kTraceRowsPerGroup) return bad("trace count or group size wrong");
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

  // The header (prefix) of the trace section: from the whole section if loaded, else one GET.
  Result<TraceHeader> TraceHeaderOnly() const {
    {
      std::lock_guard lock(mu);
      if (trace_header) return *trace_header;
    }
    const SectionRef* s = meta.Section(SectionId::kTraces);
    Bytes whole = cache != nullptr ? cache->Get(SectionKey(SectionId::kTraces)) : nullptr;
    Bytes prefix_bytes = whole;
    if (whole == nullptr) {
      // Framing, fixed header, group checksums and the prefix checksum.
      const uint64_t groups = (meta.trace_count + kTraceRowsPerGroup - 1) / kTraceRowsPerGroup;
      const uint64_t len = std::min<uint64_t>(s->length, kSectionHeaderSize + 32 + 8 * groups + 8);
      TB_ASSIGN_OR_RETURN(prefix_bytes,
                          GetRange(kIndexObject, s->offset, len, SectionKey(SectionId::kTraces) + "#head"));
    }
    TB_ASSIGN_OR_RETURN(TraceHeader h, ParseTraceHeader(*prefix_bytes));
    if (whole == nullptr) CachePut(SectionKey(SectionId::kTraces) + "#head", prefix_bytes);
    if (h.SectionLength() != s->length) return SectionCorrupt(SectionId::kTraces, "length disagrees with its header");
    std::lock_guard lock(mu);
    trace_header = h;
    return h;
  }

  TraceRow ParseRow(const TraceHeader& h, std::string_view row) const {
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

  Result<std::shared_ptr<const std::vector<PageInfo>>> Pages(const Bytes& section) const {
    {
      std::lock_guard lock(mu);
      if (pages) return pages;
    }
    const auto bad = [&](std::string_view what) { return SectionCorrupt(SectionId::kPages, what); };
    TB_ASSIGN_OR_RETURN(std::string payload, Payload(SectionId::kPages, section));
    ByteReader r(payload);
    const size_t n = r.Count(50);
    if (n != meta.page_count) return bad("page count disagrees with the meta");
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
      if (p.RawBytes() > options.max_page_bytes)
        return bad("page " + std::to_string(&p - out->data()) + " decodes to " + std::to_string(p.RawBytes()) +
                   " bytes, more than limits.max_decoded_page_size (" + std::to_string(options.max_page_bytes) + ")");
      // Pages tile `data` and the trace ordinals in order; a trace may continue into the next page.
      if (p.offset != expect_offset || sum != p.length || p.first_trace > p.last_trace ||
          p.last_trace >= meta.trace_count || p.span_count == 0 ||
          !(p.first_trace == expect_trace || (expect_trace > 0 && p.first_trace == expect_trace - 1)))
        return bad("page entry inconsistent");
      expect_offset += p.length;
      expect_trace = p.last_trace + 1;
      spans += p.span_count;
    }
    if (!r.done() || expect_offset != meta.data_size || spans != meta.span_count ||
        (n > 0 && expect_trace != meta.trace_count))
      return bad("pages do not cover the block");
    std::lock_guard lock(mu);
    pages = out;
    return pages;
  }

  Result<std::shared_ptr<const Tables>> ParseTables(const Bytes& section) const {
    {
      std::lock_guard lock(mu);
      if (tables) return tables;
    }
    const auto bad = [&](std::string_view what) { return SectionCorrupt(SectionId::kDict, what); };
    TB_ASSIGN_OR_RETURN(std::string payload, Payload(SectionId::kDict, section));
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

  Result<std::shared_ptr<const PostingDir>> ParsePostings(const Bytes& section, size_t dict_size) const {
    {
      std::lock_guard lock(mu);
      if (postings) return postings;
    }
    const auto bad = [&](std::string_view what) { return SectionCorrupt(SectionId::kPostingKeys, what); };
    TB_ASSIGN_OR_RETURN(std::string payload, Payload(SectionId::kPostingKeys, section));
    const SectionRef* lists = meta.Section(SectionId::kPostingLists);
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
    const SectionRef* blooms = meta.Section(SectionId::kPageBlooms);
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

  Result<Bitmap> PostingList(const PostingEntry& e) const {
    TB_ASSIGN_OR_RETURN(Bytes b, GetRange(kIndexObject, e.offset, e.length,
                                          prefix + kIndexObject + "#post@" + std::to_string(e.offset)));
    return CheckedPostingList(e, *b);
  }

  // The list of `e` from its bytes, verified against its checksum and the page count.
  Result<Bitmap> CheckedPostingList(const PostingEntry& e, std::string_view b) const {
    const std::string part = "section posting_lists list at " + std::to_string(e.offset);
    if (Checksum32(b) != e.checksum) return Corrupt(kIndexObject, part, "checksum mismatch");
    roaring_bitmap_t* bm = roaring_bitmap_portable_deserialize_safe(b.data(), b.size());
    if (bm == nullptr) return Corrupt(kIndexObject, part, "malformed bitmap");
    Bitmap out(bm);
    if (!roaring_bitmap_is_empty(bm) && roaring_bitmap_maximum(bm) >= meta.page_count)
      return Corrupt(kIndexObject, part, "page ordinal out of range");
    return out;
  }

  // One partition of the page blooms, by ranged GET, verified against its checksum.
  Result<PageBlooms> BloomPartition(const PostingDir& dir, uint32_t j) const {
    const BloomPartitionRef& ref = dir.bloom_partitions[j];
    TB_ASSIGN_OR_RETURN(Bytes bytes, GetRange(kIndexObject, ref.offset, ref.length,
                                              SectionKey(SectionId::kPageBlooms) + "#" + std::to_string(j)));
    TB_ASSIGN_OR_RETURN(PageBlooms pb, CheckedBloomPartition(dir, j, std::move(bytes)));
    CachePut(SectionKey(SectionId::kPageBlooms) + "#" + std::to_string(j), pb.bytes);
    return pb;
  }

  // Partition j from its bytes, verified against its checksum and split into one bloom per page.
  Result<PageBlooms> CheckedBloomPartition(const PostingDir& dir, uint32_t j, Bytes bytes) const {
    const std::string part = "section page_blooms partition " + std::to_string(j);
    PageBlooms pb;
    pb.bytes = std::move(bytes);
    if (Checksum32(*pb.bytes) != dir.bloom_partitions[j].checksum)
      return Corrupt(kIndexObject, part, "checksum mismatch");
    // One varint of at least a byte per page: a page count beyond the partition's size is a lie,
    // and would otherwise size the vector below from untrusted bytes.
    if (meta.page_count > pb.bytes->size()) return Corrupt(kIndexObject, part, "more pages than bytes");
    ByteReader r(*pb.bytes);
    std::vector<uint64_t> words(meta.page_count);
    for (auto& w : words) w = r.Varint();
    for (uint64_t w : words) {
      if (w > r.remaining() / 8) return Corrupt(kIndexObject, part, "malformed");
      pb.blooms.push_back(r.Bytes(static_cast<size_t>(w * 8)));
    }
    if (r.failed() || !r.done()) return Corrupt(kIndexObject, part, "malformed");
    return pb;
  }

  // Loads the index sections every query needs (pages, dict) and returns them parsed.
  Status Basics(std::shared_ptr<const std::vector<PageInfo>>* p, std::shared_ptr<const Tables>* t,
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
    TB_RETURN_IF_ERROR(LoadSections(ids, &got));
    if (with_traces) {
      TB_ASSIGN_OR_RETURN(TraceHeader h, ParseTraceHeader(*got[0]));
      if (h.SectionLength() != got[0]->size())
        return SectionCorrupt(SectionId::kTraces, "length disagrees with its header");
      std::lock_guard lock(mu);
      traces_full = got[0];
      trace_header = h;
      got.erase(got.begin());
    }
    TB_ASSIGN_OR_RETURN(*p, Pages(got[0]));
    TB_ASSIGN_OR_RETURN(*t, ParseTables(got[1]));
    return Status::Ok();
  }

  // Rows for the given (sorted, unique) trace ordinals: from the whole section when cached, else
  // by ranged reads of their row groups, each verified.
  Status Rows(const std::vector<uint32_t>& ordinals, std::vector<TraceRow>* out) const {
    out->clear();
    if (ordinals.empty()) return Status::Ok();
    TB_ASSIGN_OR_RETURN(TraceHeader h, TraceHeaderOnly());
    Bytes whole;
    {
      std::lock_guard lock(mu);
      whole = traces_full;
    }
    if (whole == nullptr && cache != nullptr) whole = cache->Get(SectionKey(SectionId::kTraces));
    const SectionRef* s = meta.Section(SectionId::kTraces);
    std::vector<uint32_t> groups;
    for (uint32_t o : ordinals)
      if (groups.empty() || groups.back() != o / h.group) groups.push_back(o / h.group);
    if (whole == nullptr && groups.size() * 4 > h.groups()) {
      std::vector<Bytes> got;
      TB_RETURN_IF_ERROR(LoadSections({SectionId::kTraces}, &got));
      whole = got[0];
      std::lock_guard lock(mu);
      traces_full = whole;
    }
    std::map<uint32_t, Bytes> group_bytes;
    if (whole == nullptr) {
      std::vector<Bytes> fetched(groups.size());
      TB_RETURN_IF_ERROR(
          tb::ParallelFor(groups.size(), static_cast<size_t>(options.max_parallel_reads), [&](size_t i) -> Status {
            const uint32_t g = groups[i];
            const uint64_t first = uint64_t{g} * h.group;
            const uint64_t rows = std::min<uint64_t>(h.group, h.n - first);
            TB_ASSIGN_OR_RETURN(fetched[i],
                                GetRange(kIndexObject, s->offset + h.prefix_len + first * h.row_size, rows * h.row_size,
                                         SectionKey(SectionId::kTraces) + "#g" + std::to_string(g)));
            if (Checksum64(*fetched[i]) != h.group_sums[g])
              return SectionCorrupt(SectionId::kTraces, "row group " + std::to_string(g) + " checksum mismatch");
            CachePut(SectionKey(SectionId::kTraces) + "#g" + std::to_string(g), fetched[i]);
            return Status::Ok();
          }));
      for (size_t i = 0; i < groups.size(); ++i) group_bytes[groups[i]] = fetched[i];
    }
    for (uint32_t o : ordinals) {
      if (o >= h.n) return SectionCorrupt(SectionId::kTraces, "trace ordinal out of range");
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

  // Section 8 parsed whole (every entry checked); `out` keeps its payload, which its views point into.
  Status ParseServices(const Bytes& section, ServiceTable* out) const {
    TB_ASSIGN_OR_RETURN(out->payload, Payload(SectionId::kServices, section));
    ByteReader r(out->payload);
    out->services.resize(r.Count());
    for (auto& s : out->services) s = r.LenBytes();
    out->operations.resize(r.Count(3));
    for (auto& op : out->operations) {
      op.service = r.Varint();
      op.name = r.LenBytes();
      op.kind = r.U8();
      if (r.failed() || op.service >= out->services.size() || op.kind > 5)
        return SectionCorrupt(SectionId::kServices, "malformed operation");
    }
    if (r.failed() || !r.done()) return SectionCorrupt(SectionId::kServices, "malformed");
    return Status::Ok();
  }
  Status LoadServices(ServiceTable* out) const {
    std::vector<Bytes> got;
    TB_RETURN_IF_ERROR(LoadSections({SectionId::kServices}, &got));
    return ParseServices(got[0], out);
  }

  // Section 7: parent → child call counts.
  Status ParseDependencies(const Bytes& section, query::DependencyCounts* out) const {
    TB_ASSIGN_OR_RETURN(std::string payload, Payload(SectionId::kDependencies, section));
    ByteReader r(payload);
    const size_t n = r.Count(3);
    for (size_t i = 0; i < n && !r.failed(); ++i) {
      std::string parent(r.LenBytes()), child(r.LenBytes());
      (*out)[{std::move(parent), std::move(child)}] += r.Varint();
    }
    if (r.failed() || !r.done()) return SectionCorrupt(SectionId::kDependencies, "malformed");
    return Status::Ok();
  }

  Status PageCorrupt(uint32_t p, std::string_view column, std::string_view what) const {
    return Corrupt(kDataObject, "page " + std::to_string(p) + " column " + std::string(column), what);
  }

  // Fetches columns [0, last_column] of page p (through the cache; the whole page when cached) and
  // verifies and decompresses into raw[c] those in `decompress` (bit c for column c).
  Status PageColumns(const PageInfo& info, uint32_t p, int last_column, std::string raw[kColumnCount],
                     uint32_t decompress = ~0u) const {
    options.metrics.pages.Add();
    const std::string full_key = PageKey(p);
    Bytes bytes = cache != nullptr ? cache->Get(full_key) : nullptr;
    if (bytes == nullptr) {
      const uint64_t len = info.ColumnOffset(last_column + 1) - info.offset;
      const std::string key = last_column == kColumnCount - 1 ? full_key : full_key + "c" + std::to_string(last_column);
      TB_ASSIGN_OR_RETURN(bytes, GetRange(kDataObject, info.offset, len, key));
      CachePut(key, bytes);
    }
    uint64_t off = 0;
    for (int c = 0; c <= last_column; ++c) {
      const std::string_view z = std::string_view(*bytes).substr(off, info.col_len[c]);
      off += info.col_len[c];
      if (!(decompress & (1u << c))) continue;
      if (Checksum32(z) != info.col_sum[c]) return PageCorrupt(p, ColumnName(c), "checksum mismatch");
      if (!Decompress(z, info.col_raw[c], &raw[c])) return PageCorrupt(p, ColumnName(c), "does not decompress");
    }
    return Status::Ok();
  }

  // Search over one page's encoded columns (bit c of `columns` for column c): `found` gets, per trace segment with a
  // span that `matcher` accepts, (trace ordinal, newest span start of the segment). Spans are not
  // materialised: the cheap per-span tests of `pre` run on the columns, and only the spans that pass
  // them are rebuilt into one reused span for the matcher's exact check.
  Status MatchPage(const std::vector<PageInfo>& pages, uint32_t p, uint32_t columns, const Tables& t,
                   const SearchPrefilter& pre, const query::SpanMatcher& matcher,
                   std::vector<std::pair<uint32_t, uint64_t>>* found) const;

  // Decodes span `i` of a page into `d`: its columns are read at the readers' positions, its start and duration are
  // element `i` of the page's integer columns. `parent_ref` gets the span's `parent` column entry; an in-segment parent
  // (≥ 2) is resolved by the caller. `segment_spans` bounds that entry. On malformed input, returns the name of the
  // column at fault.
  static const char* DecodeSpan(ByteReader col[kColumnCount], const Decoder& dec, ValueCursors& cursors,
                                const std::vector<uint64_t>& starts, const std::vector<uint64_t>& durations, size_t i,
                                uint64_t base, uint64_t segment_spans, size_t pair_count, DecodedSpan* d,
                                uint64_t* parent_ref) {
    model::Span& s = d->span;
    d->pair = col[kColResourceScope].Varint32();
    if (col[kColResourceScope].failed() || d->pair >= pair_count) return "resource_scope";
    if (!dec.Ref(col[kColName], &s.name)) return "name";
    const uint8_t ks = col[kColKindStatus].U8();
    if ((ks & 7) > 5 || (ks >> 3) > 2 || col[kColKindStatus].failed()) return "kind_status";
    s.kind = static_cast<model::SpanKind>(ks & 7);
    s.status.code = static_cast<model::StatusCode>(ks >> 3);
    const uint64_t z = durations[i];
    s.start_time_unix_nano = base + starts[i];
    s.end_time_unix_nano =
        s.start_time_unix_nano + static_cast<uint64_t>(static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1)));
    if (!dec.Attributes(col[kColAttributes], &s.attributes, &cursors)) return "attributes";
    ByteReader& ev = col[kColEvents];
    s.events.resize(ev.Count(4));
    for (auto& e : s.events) {
      e.time_unix_nano = s.start_time_unix_nano + static_cast<uint64_t>(ev.Zigzag());
      if (!dec.Ref(ev, &e.name)) return "events";
      e.dropped_attributes_count = ev.Varint32();
      if (!dec.Attributes(ev, &e.attributes, &cursors)) return "events";
    }
    if (ev.failed()) return "events";
    ByteReader& lk = col[kColLinks];
    s.links.resize(lk.Count(28));
    for (auto& l : s.links) {
      const std::string_view tid = lk.Bytes(16), sid = lk.Bytes(8);
      if (lk.failed()) return "links";
      std::memcpy(l.trace_id.data(), tid.data(), 16);
      std::memcpy(l.span_id.data(), sid.data(), 8);
      if (!dec.Ref(lk, &l.trace_state)) return "links";
      l.flags = lk.Varint32();
      l.dropped_attributes_count = lk.Varint32();
      if (!dec.Attributes(lk, &l.attributes, &cursors)) return "links";
    }
    const std::string_view sid = col[kColSpanId].Bytes(8);
    if (col[kColSpanId].failed()) return "span_id";
    std::memcpy(s.span_id.data(), sid.data(), 8);
    const uint64_t pref = col[kColParent].Varint();
    if (col[kColParent].failed() || (pref >= 2 && pref - 2 >= segment_spans)) return "parent";
    s.parent_span_id = {};
    if (pref == 1) {
      const std::string_view pid = col[kColParentRaw].Bytes(8);
      if (col[kColParentRaw].failed()) return "parent_raw";
      std::memcpy(s.parent_span_id.data(), pid.data(), 8);
    }
    *parent_ref = pref;
    ByteReader& m = col[kColMisc];
    const uint64_t mask = m.Varint();
    if (mask & ~uint64_t{63}) return "misc";
    s.flags = (mask & 1) ? m.Varint32() : 0;
    s.trace_state.clear();
    s.status.message.clear();
    if ((mask & 2) && !dec.Ref(m, &s.trace_state)) return "misc";
    if ((mask & 4) && !dec.Ref(m, &s.status.message)) return "misc";
    s.dropped_attributes_count = (mask & 8) ? m.Varint32() : 0;
    s.dropped_events_count = (mask & 16) ? m.Varint32() : 0;
    s.dropped_links_count = (mask & 32) ? m.Varint32() : 0;
    if (m.failed()) return "misc";
    return nullptr;
  }

  // Passes a page attribute list, building nothing: keys are not copied, and values (in the list,
  // or of a dictionary key in its run, which must advance for the spans after it) are only passed.
  static bool SkipAttributes(ByteReader& r, const Decoder& dec, ValueCursors& cursors) {
    for (size_t n = r.Count(1); n > 0; --n) {
      const uint64_t key_ref = ByteReader(r).Varint();
      dec.SkipRef(r);
      const bool in_run = !(key_ref & 1);
      if (in_run ? !cursors.Skip(static_cast<uint32_t>(key_ref >> 1), dec) : !dec.SkipValue(r)) return false;
    }
    return !r.failed();
  }

  // Passes one span of a page in every column but the integer ones, building nothing. Returns the
  // name of the column at fault, or null.
  static const char* SkipSpan(ByteReader col[kColumnCount], const Decoder& dec, ValueCursors& cursors,
                              uint64_t segment_spans, size_t pair_count) {
    if (col[kColResourceScope].Varint() >= pair_count || col[kColResourceScope].failed()) return "resource_scope";
    dec.SkipRef(col[kColName]);
    if (col[kColName].failed()) return "name";
    const uint8_t ks = col[kColKindStatus].U8();
    if ((ks & 7) > 5 || (ks >> 3) > 2 || col[kColKindStatus].failed()) return "kind_status";
    if (!SkipAttributes(col[kColAttributes], dec, cursors)) return "attributes";
    ByteReader& ev = col[kColEvents];
    for (size_t n = ev.Count(4); n > 0; --n) {
      ev.Zigzag();
      dec.SkipRef(ev);
      ev.Varint();
      if (!SkipAttributes(ev, dec, cursors)) return "events";
    }
    if (ev.failed()) return "events";
    ByteReader& lk = col[kColLinks];
    for (size_t n = lk.Count(28); n > 0; --n) {
      lk.Bytes(24);  // trace and span ID
      dec.SkipRef(lk);
      lk.Varint();
      lk.Varint();
      if (!SkipAttributes(lk, dec, cursors)) return "links";
    }
    if (lk.failed()) return "links";
    col[kColSpanId].Bytes(8);
    if (col[kColSpanId].failed()) return "span_id";
    const uint64_t pref = col[kColParent].Varint();
    if (col[kColParent].failed() || (pref >= 2 && pref - 2 >= segment_spans)) return "parent";
    if (pref == 1) {
      col[kColParentRaw].Bytes(8);
      if (col[kColParentRaw].failed()) return "parent_raw";
    }
    ByteReader& m = col[kColMisc];
    const uint64_t mask = m.Varint();
    if (mask & ~uint64_t{63}) return "misc";
    if (mask & 1) m.Varint();
    if (mask & 2) dec.SkipRef(m);
    if (mask & 4) dec.SkipRef(m);
    for (uint64_t bit : {8, 16, 32})
      if (mask & bit) m.Varint();
    if (m.failed()) return "misc";
    return nullptr;
  }

  // For Verify: the whole trace table — header, every row group, rows in time order, the trace-ID
  // order a sorted permutation of the rows, every ID in the bloom, span counts adding up to the
  // meta's. `rows` gets the rows.
  Status CheckTraceTable(std::string_view b, std::vector<TraceRow>* rows) const {
    const auto bad = [&](std::string_view what) { return SectionCorrupt(SectionId::kTraces, what); };
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
    if (spans != meta.span_count) return bad("span counts do not add up to the meta's");
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

  // Page p with every column fetched, checked and decompressed, and what a decoder of whole spans
  // needs parsed: a reader per column, the per-key value runs, the start and duration columns. The
  // readers point into `raw`, so a PageSpans is filled in place and never copied or moved.
  struct PageSpans {
    std::string raw[kColumnCount];
    ByteReader col[kColumnCount];
    ValueCursors cursors;
    std::vector<uint64_t> starts, durations;
  };
  Status OpenPageSpans(const PageInfo& info, uint32_t p, PageSpans* page) const {
    TB_RETURN_IF_ERROR(PageColumns(info, p, kColumnCount - 1, page->raw));
    for (int c = 0; c < kColumnCount; ++c) page->col[c] = ByteReader(page->raw[c]);
    if (!page->cursors.Parse(page->raw[kColValues])) return PageCorrupt(p, "values", "malformed");
    if (!DecodeIntegers(page->raw[kColStart], info.span_count, &page->starts))
      return PageCorrupt(p, "start", "malformed");
    if (!DecodeIntegers(page->raw[kColDuration], info.span_count, &page->durations))
      return PageCorrupt(p, "duration", "malformed");
    return Status::Ok();
  }

  // For Verify: decodes every span of page p, reading every column to its last byte and every run
  // of `values` to its end, and checks the page's start range against the directory. Adds each
  // trace segment's span count to spans_per_trace[trace ordinal].
  Status CheckPage(const std::vector<PageInfo>& pages, uint32_t p, const Tables& tables,
                   std::vector<uint64_t>* spans_per_trace) const {
    const PageInfo& info = pages[p];
    const auto bad = [&](std::string_view column, std::string_view what) { return PageCorrupt(p, column, what); };
    PageSpans page;
    TB_RETURN_IF_ERROR(OpenPageSpans(info, p, &page));
    const Decoder dec(tables.dict);
    std::vector<std::pair<uint32_t, uint64_t>> segments;  // (trace ordinal, spans)
    uint64_t seen = 0, min_start = UINT64_MAX, max_start = 0;
    for (uint32_t trace = info.first_trace; seen < info.span_count; ++trace) {
      if (trace > info.last_trace) return bad("traces", "more segments than traces");
      const uint64_t count = page.col[kColTraces].Varint();
      const uint64_t base = meta.min_span_start + page.col[kColTraces].Varint();
      if (page.col[kColTraces].failed() || count == 0 || count > info.span_count - seen)
        return bad("traces", "malformed");
      for (uint64_t i = 0; i < count; ++i) {
        DecodedSpan span{};
        uint64_t parent_ref = 0;
        if (const char* column = DecodeSpan(page.col, dec, page.cursors, page.starts, page.durations, seen + i, base,
                                            count, tables.pairs.size(), &span, &parent_ref))
          return bad(column, "malformed");
        min_start = std::min(min_start, span.span.start_time_unix_nano);
        max_start = std::max(max_start, span.span.start_time_unix_nano);
      }
      segments.emplace_back(trace, count);
      seen += count;
    }
    if (segments.back().first != info.last_trace) return bad("traces", "fewer segments than traces");
    for (int c = 0; c < kColumnCount; ++c)
      if (c != kColStart && c != kColDuration && c != kColValues && !page.col[c].done())
        return bad(ColumnName(c), "trailing bytes");
    if (!page.cursors.Exhausted()) return bad("values", "values left over");
    if (min_start != info.min_start || max_start != info.max_start)
      return bad("start", "span starts disagree with the page directory");
    for (const auto& [trace, count] : segments) (*spans_per_trace)[trace] += count;
    return Status::Ok();
  }

  // Decodes page p's segments of the traces with ordinals in [first, last] into `out`, one entry
  // per segment in page order (whole pages are fetched, through the cache). The spans of the page's
  // earlier traces are passed without being built (their values in the per-key runs are passed,
  // since the cursors must advance past them), and the spans after `last` are not read at all. So,
  // unlike a search, a lookup verifies the checksum of every column and the structure of the spans
  // up to its last segment, not the page's tail.
  Status DecodeSegments(const std::vector<PageInfo>& pages, uint32_t p, uint32_t first, uint32_t last,
                        const Tables& tables, std::vector<Segment>* out) const {
    const PageInfo& info = pages[p];
    const auto bad = [&](std::string_view column, std::string_view what) { return PageCorrupt(p, column, what); };
    PageSpans page;
    TB_RETURN_IF_ERROR(OpenPageSpans(info, p, &page));
    const Decoder dec(tables.dict);
    if (first > info.last_trace || last < info.first_trace) return bad("traces", "trace not in the page's range");
    std::vector<uint64_t> parent_ref;
    uint64_t seen = 0;
    for (uint32_t trace = info.first_trace; trace <= std::min(last, info.last_trace); ++trace) {
      if (seen == info.span_count) return bad("traces", "fewer segments than traces");
      const uint64_t count = page.col[kColTraces].Varint();
      const uint64_t base = meta.min_span_start + page.col[kColTraces].Varint();
      if (page.col[kColTraces].failed() || count == 0 || count > info.span_count - seen)
        return bad("traces", "malformed");
      const bool keep = trace >= first;
      std::vector<DecodedSpan>* spans = nullptr;
      if (keep) {
        out->push_back(Segment{trace, {}});
        spans = &out->back().spans;
        spans->reserve(count);
        parent_ref.clear();
      }
      for (uint64_t i = 0; i < count; ++i) {
        uint64_t pref = 0;
        const char* column =
            keep ? DecodeSpan(page.col, dec, page.cursors, page.starts, page.durations, seen + i, base, count,
                              tables.pairs.size(), &spans->emplace_back(DecodedSpan{0, {}}), &pref)
                 : SkipSpan(page.col, dec, page.cursors, count, tables.pairs.size());
        if (column != nullptr) return bad(column, "malformed");
        if (keep) parent_ref.push_back(pref);
      }
      seen += count;
      if (keep) {
        for (size_t i = 0; i < parent_ref.size(); ++i)
          if (parent_ref[i] >= 2) (*spans)[i].span.parent_span_id = (*spans)[parent_ref[i] - 2].span.span_id;
      }
    }
    return Status::Ok();
  }

  // Decodes the segment of trace t in page p.
  Status DecodeTraceSegment(const std::vector<PageInfo>& pages, uint32_t p, uint32_t t, const Tables& tables,
                            std::vector<DecodedSpan>* out) const {
    std::vector<Segment> segments;
    TB_RETURN_IF_ERROR(DecodeSegments(pages, p, t, t, tables, &segments));
    if (!segments.empty()) *out = std::move(segments.front().spans);
    return Status::Ok();
  }
};

BlockReader::BlockReader(objstore::ObjectStore* store, std::string prefix, BlockMeta meta, BlockCache* cache,
                         const BlockReaderOptions& options)
    : impl_(std::make_unique<Impl>()), meta_(impl_->meta) {
  impl_->store = store;
  impl_->prefix = std::move(prefix);
  impl_->meta = std::move(meta);
  impl_->cache = cache;
  impl_->options = options;
}

BlockReader::~BlockReader() = default;

Status BlockReader::Impl::TraceTable(Bytes* section, TraceHeader* header) const {
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  TB_RETURN_IF_ERROR(Basics(&pages, &tables, true));
  std::lock_guard lock(mu);
  *section = traces_full;
  *header = *trace_header;
  return Status::Ok();
}

Status BlockReader::Impl::FindTraceRow(const model::TraceId& id, bool* found, uint32_t* ordinal, TraceRow* row) const {
  *found = false;
  if (meta.trace_count == 0) return Status::Ok();
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
    if (!row_at_rank(mid, &at)) return SectionCorrupt(SectionId::kTraces, "trace-ID order names a missing row");
    if (section.substr(h.prefix_len + uint64_t{at} * h.row_size, 16) < key) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == h.n) return Status::Ok();
  if (!row_at_rank(lo, &at)) return SectionCorrupt(SectionId::kTraces, "trace-ID order names a missing row");
  const std::string_view row_bytes = section.substr(h.prefix_len + uint64_t{at} * h.row_size, h.row_size);
  if (row_bytes.substr(0, 16) != key) return Status::Ok();
  *found = true;
  *ordinal = at;
  *row = ParseRow(h, row_bytes);
  return Status::Ok();
}

Status BlockReader::Impl::MatchPage(const std::vector<PageInfo>& pages, uint32_t p, uint32_t columns, const Tables& t,
                                    const SearchPrefilter& pre, const query::SpanMatcher& matcher,
                                    std::vector<std::pair<uint32_t, uint64_t>>* found) const {
  const PageInfo& info = pages[p];
  const auto bad = [&](std::string_view column, std::string_view what) { return PageCorrupt(p, column, what); };
  std::string raw[kColumnCount];
  int last_column = 0;
  while ((columns >> (last_column + 1)) != 0) ++last_column;
  TB_RETURN_IF_ERROR(PageColumns(info, p, last_column, raw, columns));
  ByteReader traces(raw[kColTraces]), pair_col(raw[kColResourceScope]), name_col(raw[kColName]),
      kind_col(raw[kColKindStatus]), attr_col(raw[kColAttributes]), event_col(raw[kColEvents]),
      link_col(raw[kColLinks]);
  std::vector<uint64_t> starts, durations;
  if (!DecodeIntegers(raw[kColStart], info.span_count, &starts)) return bad("start", "malformed");
  if (!DecodeIntegers(raw[kColDuration], info.span_count, &durations)) return bad("duration", "malformed");
  const bool with_name = columns & (1u << kColName), with_kind = columns & (1u << kColKindStatus);
  const bool attrs = columns & (1u << kColLinks);
  const Decoder dec(t.dict);
  ValueCursors cursors;
  if (attrs && !cursors.Parse(raw[kColValues])) return bad("values", "malformed");
  model::Span span;  // reused: only the fields a matcher reads are set
  uint32_t trace = info.first_trace;
  uint64_t seen = 0;
  for (bool first = true; seen < info.span_count; first = false) {
    if (!first) ++trace;
    if (trace > info.last_trace) return bad("traces", "more segments than traces");
    const uint64_t count = traces.Varint();
    const uint64_t base = meta.min_span_start + traces.Varint();
    if (traces.failed() || count == 0 || count > info.span_count - seen) return bad("traces", "malformed");
    bool matched = false;
    uint64_t newest = 0;
    for (uint64_t i = seen; i < seen + count; ++i) {
      const uint32_t pair = pair_col.Varint32();
      if (pair >= t.pairs.size()) return bad("resource_scope", "pair out of range");
      // String ref (§4): even = dictionary ordinal × 2, odd = inline length × 2 + 1.
      uint64_t name_ref = 0;
      std::string_view inline_name;
      if (with_name) {
        name_ref = name_col.Varint();
        if (name_ref & 1) inline_name = name_col.Bytes(static_cast<size_t>(name_ref >> 1));
        if (name_col.failed() || (!(name_ref & 1) && (name_ref >> 1) >= t.dict.size())) return bad("name", "malformed");
      }
      uint8_t kind_status = 0;
      if (with_kind) {
        kind_status = kind_col.U8();
        if ((kind_status & 7) > 5 || (kind_status >> 3) > 2 || kind_col.failed())
          return bad("kind_status", "malformed");
      }
      const uint64_t start = base + starts[i];
      const uint64_t z = durations[i];
      const auto signed_duration = static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
      newest = std::max(newest, start);
      if (attrs) {
        // Every span's lists are walked (the columns are sequential), keeping only the filter keys'
        // attributes of the span, its events and links, all in span.attributes: a plain filter
        // holds when any of those sets (or the resource's, the scope's) has its pair.
        span.attributes.clear();
        if (!FilterAttributes(attr_col, t.dict, dec, cursors, pre, &span.attributes))
          return bad("attributes", "malformed");
        for (size_t e = event_col.Count(4); e > 0; --e) {
          event_col.Zigzag();
          dec.SkipRef(event_col);
          event_col.Varint();
          if (!FilterAttributes(event_col, t.dict, dec, cursors, pre, &span.attributes))
            return bad("events", "malformed");
        }
        if (event_col.failed()) return bad("events", "malformed");
        for (size_t l = link_col.Count(28); l > 0; --l) {
          link_col.Bytes(24);  // trace ID, span ID
          dec.SkipRef(link_col);
          link_col.Varint();
          link_col.Varint();
          if (!FilterAttributes(link_col, t.dict, dec, cursors, pre, &span.attributes))
            return bad("links", "malformed");
        }
        if (link_col.failed()) return bad("links", "malformed");
      }
      if (matched) continue;
      const uint64_t duration = signed_duration > 0 ? static_cast<uint64_t>(signed_duration) : 0;
      if (!pre.pair_ok[pair] || start < pre.start_min || start > pre.start_max || duration < pre.duration_min ||
          duration > pre.duration_max || (pre.error_only && (kind_status >> 3) != 2))
        continue;
      if (pre.name >= 0 &&
          ((name_ref & 1) ? inline_name != pre.name_text : static_cast<int64_t>(name_ref >> 1) != pre.name))
        continue;
      if (with_name) span.name = (name_ref & 1) ? inline_name : t.dict.at(static_cast<size_t>(name_ref >> 1));
      span.kind = static_cast<model::SpanKind>(kind_status & 7);
      span.status.code = static_cast<model::StatusCode>(kind_status >> 3);
      span.start_time_unix_nano = start;
      span.end_time_unix_nano = start + static_cast<uint64_t>(signed_duration);
      const auto& [r, sc] = t.pairs[pair];
      matched = matcher.Matches(query::SpanView{span, t.resources[r], t.scopes[sc]});
    }
    seen += count;
    if (matched) found->emplace_back(trace, newest);
  }
  if (trace != info.last_trace) return bad("traces", "fewer segments than traces");
  ByteReader* used[] = {&traces, &pair_col, &name_col, &kind_col, &attr_col, &event_col, &link_col};
  const int used_column[] = {kColTraces,     kColResourceScope, kColName, kColKindStatus,
                             kColAttributes, kColEvents,        kColLinks};
  for (size_t i = 0; i < std::size(used); ++i)
    if ((columns & (1u << used_column[i])) && (!used[i]->done() || used[i]->failed()))
      return bad(ColumnName(used_column[i]), "trailing or malformed bytes");
  return Status::Ok();  // the runs of keys not filtered on are not read, so not checked for leftovers
}

Status BlockReader::TracesInWindow(uint64_t start_unix_nano, uint64_t end_unix_nano,
                                   std::vector<query::TraceHit>* out) const {
  const Impl& m = *impl_;
  if (m.meta.trace_count == 0 || m.meta.max_span_end < start_unix_nano || m.meta.min_span_start > end_unix_nano)
    return Status::Ok();
  Bytes traces;
  TraceHeader h;
  TB_RETURN_IF_ERROR(m.TraceTable(&traces, &h));
  const std::string_view section(*traces);
  for (uint32_t t = 0; t < h.n; ++t) {
    const TraceRow row = m.ParseRow(h, section.substr(h.prefix_len + uint64_t{t} * h.row_size, h.row_size));
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
    TB_RETURN_IF_ERROR(impl_->FindTraceRow(id, &found, &ordinal, &row));
    if (found) out->push_back(query::TraceHit{id, row.newest, row.min_start, row.max_end});
  }
  return Status::Ok();
}

namespace {

// The pages holding trace ordinal t: the first whose last trace is t or later, and those after it
// that continue t (the directory's trace ranges are ascending).
std::vector<uint32_t> PagesOfTrace(const std::vector<PageInfo>& pages, uint32_t t) {
  std::vector<uint32_t> list;
  const auto first =
      std::partition_point(pages.begin(), pages.end(), [t](const PageInfo& p) { return p.last_trace < t; });
  for (auto p = first; p != pages.end() && p->first_trace <= t; ++p)
    list.push_back(static_cast<uint32_t>(p - pages.begin()));
  return list;
}

}  // namespace

query::TraceReadPlan BlockReader::PlanReadTrace(const model::TraceId& id) const {
  const Impl& m = *impl_;
  if (m.meta.trace_count == 0) return query::TraceReadPlan::kAbsent;
  std::shared_ptr<const std::vector<PageInfo>> pages;
  {
    std::lock_guard lock(m.mu);
    if (!m.traces_full || !m.pages || !m.tables) return query::TraceReadPlan::kMayWait;  // index not loaded
    pages = m.pages;
  }
  bool found = false;
  uint32_t t = 0;
  TraceRow row;
  // From memory now; an error (a corrupt table) is left for ReadTrace to report.
  if (!m.FindTraceRow(id, &found, &t, &row).ok()) return query::TraceReadPlan::kMayWait;
  if (!found) return query::TraceReadPlan::kAbsent;
  if (m.cache == nullptr) return query::TraceReadPlan::kMayWait;
  for (uint32_t p : PagesOfTrace(*pages, t))
    if (m.cache->Get(m.PageKey(p)) == nullptr) return query::TraceReadPlan::kMayWait;
  return query::TraceReadPlan::kFromMemory;
}

Status BlockReader::ReadTrace(const model::TraceId& id, model::Traces* out) const {
  const Impl& m = *impl_;
  bool found = false;
  uint32_t t = 0;
  TraceRow row;
  TB_RETURN_IF_ERROR(m.FindTraceRow(id, &found, &t, &row));
  if (!found) return Status::Ok();
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  TB_RETURN_IF_ERROR(m.Basics(&pages, &tables, true));
  const std::vector<uint32_t> page_list = PagesOfTrace(*pages, t);
  if (page_list.empty()) return m.SectionCorrupt(SectionId::kPages, "no page holds trace " + std::to_string(t));
  uint64_t raw = 0;
  for (uint32_t p : page_list) raw += (*pages)[p].RawBytes();
  if (raw > m.options.max_trace_bytes)
    return m.SectionCorrupt(SectionId::kPages, "trace " + std::to_string(t) + " decodes to " + std::to_string(raw) +
                                                   " bytes, more than limits.max_decoded_trace_size (" +
                                                   std::to_string(m.options.max_trace_bytes) + ")");
  m.options.metrics.blocks.Add();
  std::vector<std::vector<DecodedSpan>> decoded(page_list.size());
  TB_RETURN_IF_ERROR(
      tb::ParallelFor(page_list.size(), static_cast<size_t>(m.options.max_parallel_reads),
                      [&](size_t i) { return m.DecodeTraceSegment(*pages, page_list[i], t, *tables, &decoded[i]); }));
  size_t total = 0;
  for (const auto& d : decoded) total += d.size();
  if (total != row.count) return m.SectionCorrupt(SectionId::kTraces, "span count disagrees with the pages");
  TraceAssembler assemble(id, *tables, out);
  for (auto& d : decoded)
    for (auto& s : d) assemble.Add(std::move(s));
  return Status::Ok();
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
    TB_RETURN_IF_ERROR(block.DecodeSegments(*pages, next_page, info.first_trace, info.last_trace, *tables, &segments));
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
  if (st.block.meta.trace_count == 0) return false;
  if (!st.started) {
    TB_RETURN_IF_ERROR(st.block.Basics(&st.pages, &st.tables, true));
    TB_RETURN_IF_ERROR(st.block.TraceTable(&st.traces, &st.header));
    st.started = true;
  }
  if (st.decoded.empty()) {
    if (st.next_page == st.pages->size()) return false;
    TB_RETURN_IF_ERROR(st.DecodeNextPage());
  }
  const uint32_t t = st.decoded.front().trace;
  if (t >= st.header.n) return st.block.SectionCorrupt(SectionId::kPages, "trace ordinal beyond the trace table");
  const TraceRow row = st.block.ParseRow(
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
  if (spans != row.count) return st.block.SectionCorrupt(SectionId::kTraces, "span count disagrees with the pages");
  return true;
}

Status BlockReader::FindTraces(const query::SpanMatcher& matcher, size_t limit,
                               std::vector<query::TraceHit>* hits) const {
  const Impl& m = *impl_;
  if (!matcher.satisfiable() || limit == 0 || m.meta.trace_count == 0) return Status::Ok();
  const query::TraceQuery& q = matcher.query();
  const uint64_t qmin = q.start_time_min_unix_nano.value_or(0);
  const uint64_t qmax = q.start_time_max_unix_nano.value_or(UINT64_MAX);
  if (qmin > m.meta.max_span_start || qmax < m.meta.min_span_start) return Status::Ok();

  // 1. Candidate pages from the posting lists, and bloom filters for high-cardinality keys.
  const bool indexed = !q.service_name.empty() || !q.operation_name.empty() || !matcher.plain_attributes().empty() ||
                       matcher.wants_error_spans();
  if (indexed && m.cache != nullptr) {
    // Sections 2-4 are adjacent: one GET warms the cache for all three.
    std::vector<Bytes> unused;
    TB_RETURN_IF_ERROR(m.LoadSections({SectionId::kPages, SectionId::kDict, SectionId::kPostingKeys}, &unused));
  }
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  TB_RETURN_IF_ERROR(m.Basics(&pages, &tables, false));
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
      TB_RETURN_IF_ERROR(m.LoadSections({SectionId::kPostingKeys}, &got));
      TB_ASSIGN_OR_RETURN(dir, m.ParsePostings(got[0], dict.size()));
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
        tb::ParallelFor(flat.size(), static_cast<size_t>(m.options.max_parallel_reads), [&](size_t i) -> Status {
          TB_ASSIGN_OR_RETURN(Bitmap b, m.PostingList(*flat[i]));
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
      tb::ParallelFor(page_filters.size(), static_cast<size_t>(m.options.max_parallel_reads), [&](size_t i) -> Status {
        TB_ASSIGN_OR_RETURN(blooms[i], m.BloomPartition(*dir, page_filters[i].partition));
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
  if (!todo.empty()) m.options.metrics.blocks.Add();

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
    TB_RETURN_IF_ERROR(tb::ParallelFor(wave.size(), static_cast<size_t>(m.options.max_parallel_reads), [&](size_t i) {
      return m.MatchPage(*pages, wave[i], columns, *tables, pre, matcher, &found[i]);
    }));
    for (const auto& page_found : found)
      for (const auto& [trace, newest] : page_found) {
        auto& v = matched[trace];
        v = std::max(v, newest);
      }
    return Status::Ok();
  };
  const size_t wave_size = static_cast<size_t>(std::max(1, m.options.max_parallel_reads));
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
  TB_RETURN_IF_ERROR(m.Rows(ordinals, &rows));
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

Status BlockReader::PlanHints(std::vector<std::string>* dictionary, std::vector<std::string>* high_card_keys) const {
  const Impl& m = *impl_;
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  TB_RETURN_IF_ERROR(m.Basics(&pages, &tables, false));
  std::vector<Bytes> got;
  TB_RETURN_IF_ERROR(m.LoadSections({SectionId::kPostingKeys}, &got));
  TB_ASSIGN_OR_RETURN(std::shared_ptr<const PostingDir> dir, m.ParsePostings(got[0], tables->dict.size()));
  for (size_t i = 0; i < tables->dict.size(); ++i) {
    dictionary->emplace_back(tables->dict.at(i));
    if (dir->high_card[i]) high_card_keys->emplace_back(tables->dict.at(i));
  }
  return Status::Ok();
}

Status BlockReader::Services(std::set<std::string>* out) const {
  ServiceTable table;
  TB_RETURN_IF_ERROR(impl_->LoadServices(&table));
  for (std::string_view s : table.services)
    if (!s.empty()) out->emplace(s);
  return Status::Ok();
}

Status BlockReader::Operations(const std::string& service, const std::string& span_kind,
                               std::set<query::Operation>* out) const {
  ServiceTable table;
  TB_RETURN_IF_ERROR(impl_->LoadServices(&table));
  for (const auto& op : table.operations) {
    if (table.services[op.service] != service) continue;
    const std::string kind_name(model::SpanKindName(static_cast<model::SpanKind>(op.kind)));
    if (span_kind.empty() || kind_name == span_kind) out->insert({std::string(op.name), kind_name});
  }
  return Status::Ok();
}

Status BlockReader::Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano, query::DependencyCounts* out) const {
  const BlockMeta& meta = impl_->meta;
  // Like the head's per-trace rule, applied to the block as a whole: counted only when every span
  // of the block lies in the window.
  if (meta.trace_count == 0 || meta.min_span_start < start_unix_nano || meta.max_span_end > end_unix_nano)
    return Status::Ok();
  std::vector<Bytes> got;
  TB_RETURN_IF_ERROR(impl_->LoadSections({SectionId::kDependencies}, &got));
  query::DependencyCounts found;
  TB_RETURN_IF_ERROR(impl_->ParseDependencies(got[0], &found));
  for (const auto& [k, v] : found) (*out)[k] += v;
  return Status::Ok();
}

Status BlockReader::Describe(BlockLayout* out) const {
  const Impl& m = *impl_;
  std::vector<SectionId> ids;
  for (int id = 1; id <= kSectionCount; ++id) ids.push_back(static_cast<SectionId>(id));
  std::vector<Bytes> got;
  TB_RETURN_IF_ERROR(m.LoadSections(ids, &got));
  for (size_t i = 0; i < ids.size(); ++i) {
    ByteReader r(*got[i]);
    r.Bytes(2);
    const uint8_t encoding = r.U8();
    r.U8();
    const uint32_t raw = r.U32();
    if (r.failed()) return m.SectionCorrupt(ids[i], "truncated frame");
    out->sections.push_back({SectionName(ids[i]), encoding == kEncodingZstd ? "zstd" : "raw", got[i]->size(),
                             kSectionHeaderSize + uint64_t{raw}});
  }
  TB_ASSIGN_OR_RETURN(auto pages, m.Pages(got[static_cast<size_t>(SectionId::kPages) - 1]));
  for (int c = 0; c < kColumnCount; ++c) {
    BlockLayout::Part part{ColumnName(c), "zstd", 0, 0};
    for (const PageInfo& p : *pages) {
      part.stored_bytes += p.col_len[c];
      part.raw_bytes += p.col_raw[c];
    }
    out->columns.push_back(std::move(part));
  }
  ServiceTable services;
  TB_RETURN_IF_ERROR(m.ParseServices(got[static_cast<size_t>(SectionId::kServices) - 1], &services));
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
  if (!note(m.CheckFormatVersion())) return problems;

  // 1. The index object whole; each section against the meta's checksum, then parsed.
  auto index = m.store->Get(m.prefix + kIndexObject);
  on_read(m.meta.index_size);
  if (!index.ok()) {
    note(index.status().code() == StatusCode::kNotFound ? m.Corrupt(kIndexObject, "object", "missing")
                                                        : index.status().WithContext(m.Where(kIndexObject)));
    return problems;
  }
  if (index->size() != m.meta.index_size) {
    note(m.Corrupt(kIndexObject, "object",
                   std::to_string(index->size()) + " bytes, the meta says " + std::to_string(m.meta.index_size)));
    return problems;
  }
  std::map<SectionId, Bytes> sections;  // those whose checksum holds
  for (const SectionRef& ref : m.meta.sections) {
    auto bytes = std::make_shared<const std::string>(index->substr(ref.offset, ref.length));
    if (note(Checksum64(*bytes) == ref.checksum ? Status::Ok() : m.SectionCorrupt(ref.id, "checksum mismatch")))
      sections[ref.id] = std::move(bytes);
  }
  const auto section = [&](SectionId id) { return sections.contains(id) ? sections[id] : nullptr; };
  std::vector<TraceRow> rows;
  if (auto b = section(SectionId::kTraces)) note(m.CheckTraceTable(*b, &rows));
  std::shared_ptr<const std::vector<PageInfo>> pages;
  std::shared_ptr<const Tables> tables;
  if (auto b = section(SectionId::kPages)) {
    auto parsed = m.Pages(b);
    if (note(parsed.status())) pages = *parsed;
  }
  if (auto b = section(SectionId::kDict)) {
    auto parsed = m.ParseTables(b);
    if (note(parsed.status())) tables = *parsed;
  }
  if (auto b = section(SectionId::kPostingKeys); b && tables) {
    auto dir = m.ParsePostings(b, tables->dict.size());
    if (note(dir.status())) {
      if (section(SectionId::kPostingLists))
        for (const PostingEntry& e : (*dir)->entries)
          note(m.CheckedPostingList(e, std::string_view(*index).substr(e.offset, e.length)).status());
      if (section(SectionId::kPageBlooms))
        for (uint32_t j = 0; j < (*dir)->bloom_partitions.size(); ++j) {
          const BloomPartitionRef& ref = (*dir)->bloom_partitions[j];
          note(m.CheckedBloomPartition(**dir, j,
                                       std::make_shared<const std::string>(index->substr(ref.offset, ref.length)))
                   .status());
        }
    }
  }
  if (auto b = section(SectionId::kDependencies)) {
    query::DependencyCounts counts;
    note(m.ParseDependencies(b, &counts));
  }
  if (auto b = section(SectionId::kServices)) {
    ServiceTable services;
    note(m.ParseServices(b, &services));
  }

  // 2. Every page, decoded whole; then the spans per trace against the trace table.
  if (!pages || !tables) {
    on_read(m.meta.data_size);
    return problems;
  }
  std::vector<uint64_t> spans_per_trace(m.meta.trace_count, 0);
  bool pages_intact = true;
  uint64_t data_read = 0;
  for (uint32_t p = 0; p < pages->size() && problems.size() < max_problems; ++p) {
    pages_intact &= note(m.CheckPage(*pages, p, *tables, &spans_per_trace));
    on_read((*pages)[p].length);
    data_read += (*pages)[p].length;
  }
  if (data_read < m.meta.data_size) on_read(m.meta.data_size - data_read);
  if (pages_intact && rows.size() == spans_per_trace.size()) {
    for (size_t t = 0; t < rows.size(); ++t) {
      if (rows[t].count == spans_per_trace[t]) continue;
      note(m.SectionCorrupt(SectionId::kTraces, "trace " + model::HexEncode(rows[t].id) + " has " +
                                                    std::to_string(rows[t].count) + " spans in the trace table, " +
                                                    std::to_string(spans_per_trace[t]) + " in the pages"));
      break;
    }
  }
  return problems;
}

}  // namespace tb::block
