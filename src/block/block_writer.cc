#include "block/block_writer.h"

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <fcntl.h>
#include <roaring/roaring.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "block/codec.h"
#include "model/jaeger.h"
#include "model/text.h"
#include "query/trace_source.h"

namespace tb::block {
namespace {

using model::AnyValue;

struct PostingKey {
  uint8_t kind = 0;
  uint8_t c = 0;
  uint32_t a = 0;
  uint32_t b = 0;
  auto operator<=>(const PostingKey&) const = default;
};
struct PostingKeyHash {
  size_t operator()(const PostingKey& k) const {
    uint64_t x = (static_cast<uint64_t>(k.a) << 32 | k.b) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(x ^ (static_cast<uint64_t>(k.kind) << 8 | k.c) * 0xC2B2AE3D27D4EB4Full);
  }
};

uint64_t SpanIdKey(const model::SpanId& id) {
  uint64_t v;
  std::memcpy(&v, id.data(), 8);
  return v;
}

int WidthOf(uint64_t max_value) {
  int w = 1;
  while (w < 8 && (max_value >> (8 * w)) != 0) ++w;
  return w;
}

uint64_t ZigzagOf(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }

// Rough uncompressed size of a span in a page, used to cut pages before encoding.
size_t EstimateValue(const AnyValue& v) {
  switch (v.type()) {
    case AnyValue::Type::kString: return 2 + v.string_value().size();
    case AnyValue::Type::kBytes: return 2 + v.bytes_value().size();
    case AnyValue::Type::kArray: {
      size_t n = 2;
      for (const auto& e : v.array_value()) n += EstimateValue(e);
      return n;
    }
    case AnyValue::Type::kKvList: {
      size_t n = 2;
      for (const auto& kv : v.kvlist_value()) n += 2 + kv.key.size() + EstimateValue(kv.value);
      return n;
    }
    default: return 9;
  }
}
size_t EstimateAttributes(const model::Attributes& a) {
  size_t n = 1;
  for (const auto& kv : a) n += 2 + EstimateValue(kv.value);
  return n;
}
size_t EstimateSpan(const model::Span& s) {
  size_t n = 40 + s.trace_state.size() + s.status.message.size() + EstimateAttributes(s.attributes);
  for (const auto& e : s.events) n += 8 + e.name.size() + EstimateAttributes(e.attributes);
  for (const auto& l : s.links) n += 30 + l.trace_state.size() + EstimateAttributes(l.attributes);
  return n;
}

// Writes all of `data` to the file `fd`.
Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError("write", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Canonical string of a value without copying strings.
std::string_view Canonical(const AnyValue& v, std::string* scratch) {
  if (v.type() == AnyValue::Type::kString) return v.string_value();
  *scratch = model::CanonicalString(v);
  return *scratch;
}

// A block's resource, scope and (resource, scope) pair tables, built as spans are added: each
// distinct content once, by ordinal.
struct PairTable {
  std::vector<model::Resource> resources;
  std::unordered_map<std::string, uint32_t> resource_index;  // by encoded content
  std::vector<model::Scope> scopes;
  std::unordered_map<std::string, uint32_t> scope_index;  // by encoded content
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> pair_index;
  // The pair of each (resource, scope) address seen, so that only a new address is encoded to
  // find its content's ordinal; the last one is checked first (spans arrive grouped by them).
  std::map<std::pair<const model::Resource*, const model::Scope*>, uint32_t> pair_by_address;
  std::pair<const model::Resource*, const model::Scope*> last_address{nullptr, nullptr};
  uint32_t last_pair = 0;

  uint32_t PairOf(const model::Resource& resource, const model::Scope& scope);
  // Forgets the addresses seen: once what they pointed to is freed (a streamed trace), the same
  // addresses may hold other content.
  void ForgetAddresses() {
    pair_by_address.clear();
    last_address = {nullptr, nullptr};
  }
};

// A span of the block and the pair of its resource and scope.
struct StoredSpan {
  const model::Span& span;  // held by the writer, or by AddUncopied's caller
  uint32_t pair;
};

}  // namespace

struct BlockWriter::State {
  PairTable table;
  std::deque<model::Traces> copies;  // what Add() copied
  std::vector<StoredSpan> spans;
};

uint32_t PairTable::PairOf(const model::Resource& resource, const model::Scope& scope) {
  const std::pair address{&resource, &scope};
  if (address == last_address) return last_pair;
  auto [known, fresh] = pair_by_address.emplace(address, 0);
  if (fresh) {
    const Encoder raw(nullptr, nullptr);
    ByteWriter rk;
    raw.Attributes(rk, resource.attributes, nullptr);
    rk.Varint(resource.dropped_attributes_count);
    rk.LenBytes(resource.schema_url);
    auto [rit, rnew] = resource_index.emplace(rk.Take(), static_cast<uint32_t>(resources.size()));
    if (rnew) resources.push_back(resource);
    ByteWriter sk;
    sk.LenBytes(scope.name);
    sk.LenBytes(scope.version);
    raw.Attributes(sk, scope.attributes, nullptr);
    sk.Varint(scope.dropped_attributes_count);
    sk.LenBytes(scope.schema_url);
    auto [sit, snew] = scope_index.emplace(sk.Take(), static_cast<uint32_t>(scopes.size()));
    if (snew) scopes.push_back(scope);
    auto [pit, pnew] = pair_index.emplace(std::pair{rit->second, sit->second}, static_cast<uint32_t>(pairs.size()));
    if (pnew) pairs.emplace_back(rit->second, sit->second);
    known->second = pit->second;
  }
  last_address = address;
  last_pair = known->second;
  return last_pair;
}

BlockWriter::BlockWriter(const BlockWriterOptions& options) : options_(options), state_(std::make_unique<State>()) {}
BlockWriter::~BlockWriter() = default;

size_t BlockWriter::span_count() const { return state_->spans.size(); }

void BlockWriter::Add(const model::Traces& batch) { Add(model::Traces(batch)); }

void BlockWriter::Add(model::Traces&& batch) {
  const model::Traces& copy = state_->copies.emplace_back(std::move(batch));
  for (const auto& rs : copy.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& span : ss.spans) AddUncopied(rs.resource, ss.scope, span);
}

void BlockWriter::AddUncopied(const model::Resource& resource, const model::Scope& scope, const model::Span& span) {
  state_->spans.push_back({span, state_->table.PairOf(resource, scope)});
}

namespace {

// One block's encoding, in steps. The in-memory path (BlockWriter::Build, Run) takes all of them
// over the spans it holds. The streaming path (StreamingBlockWriter) takes steps 1-4 over a sample
// of whole traces, which freezes the plan (high-cardinality and inline keys, dictionary), then
// step 5 for each trace as it arrives, with its pages spilled to a file, then step 6.
class Builder {
 public:
  struct Trace {
    model::TraceId id;
    std::vector<uint32_t> members;  // indices of its spans, in arrival order
  };

  // `table` grows while a streaming build runs (IndexNewPairs picks up its new pairs).
  Builder(const BlockWriterOptions& o, const PairTable& table, const std::atomic<bool>* cancel)
      : o_(o), resources_(table.resources), scopes_(table.scopes), pairs_(table.pairs), cancel_(cancel) {}

  // All the steps over `spans`. The block's objects; empty and cancelled() when `cancel` turned
  // true before the end.
  template <typename Spans>
  BlockObjects Run(const Spans& spans, const BlockIdentity& identity);
  bool cancelled() const { return cancelled_; }

  // 1. The traces of `spans` in block order: by earliest span start, ties by trace ID. The trace
  // ordinal is this order, so pages hold traces of adjacent times and a search window or a
  // newest-first scan prunes whole pages.
  template <typename Spans>
  static std::vector<Trace> OrderTraces(const Spans& spans);
  // 2. From the cardinality of every attribute key over the tables and `traces`: the
  // high-cardinality keys, and those of them whose strings are stored inline.
  template <typename Spans>
  void ChooseKeys(const Spans& spans, const std::vector<Trace>& traces);
  // Makes `keys` high-cardinality too (a streaming plan's hints). Between steps 2 and 3.
  void AddHighCardKeys(const std::vector<std::string>& keys) { high_card_names_.insert(keys.begin(), keys.end()); }
  bool IsHighCard(const std::string& key) const { return high_card_names_.count(key) != 0; }
  // 3. The dictionary: names, keys, posting values and any other string seen twice in the tables
  // and `spans`, and every string of `extra`. Its strings are referenced from then on; the strings
  // of `spans` need not outlive the step.
  template <typename Spans>
  void ChooseDictionary(const Spans& spans, const std::vector<std::string>& extra);
  // 4. The service and the index entries of every pair added to the table since the last call.
  // Needs the dictionary: a pair's service name and low-cardinality attributes must be in it.
  void IndexNewPairs();
  // Whether the dictionary holds every string that `trace` needs there (span names, attribute
  // keys, service names, values of low-cardinality keys): a trace that fails this cannot join a
  // block whose plan is frozen.
  bool Covers(const model::Traces& trace) const;
  // Sends pages to `fd` (a file open for writing) as they are cut instead of holding them: Finish
  // then returns no data, which is the file's content. Before step 5.
  void SpillTo(int fd) { spill_fd_ = fd; }
  // 5. Appends one trace, `members` of `spans`, whose pairs are indexed: its pages, its row in the
  // trace table, its index entries and dependencies. Traces come in block order; the first sets
  // the block's base time.
  template <typename Spans>
  void EncodeTrace(const Spans& spans, const std::vector<uint32_t>& members, const model::TraceId& id);
  // 6. Cuts the last page and writes the index sections and the meta. An error if a spilled page
  // could not be written.
  Result<BlockObjects> Finish(const BlockIdentity& identity);
  uint64_t span_count() const { return span_count_; }

 private:
  struct KeyStats {
    absl::flat_hash_set<uint64_t> distinct;  // value hashes
    uint64_t trace_values = 0;               // distinct (trace, value) pairs
    uint64_t key_mix = 0;                    // mixed into value hashes for `in_trace`
  };
  struct Page {
    ByteWriter cols[kColumnCount];
    std::vector<uint64_t> starts, durations;  // kColStart, kColDuration (EncodeIntegers)
    ValueRuns runs;
    std::vector<BloomHash> blooms;
    uint32_t first_trace = 0, last_trace = 0, first_span_offset = 0, span_count = 0;
    uint64_t min_start = std::numeric_limits<uint64_t>::max(), max_start = 0;
    size_t estimate = 0;
    bool empty() const { return span_count == 0; }
  };
  struct PageRef {
    uint64_t offset;
    uint32_t length;
    uint32_t first_trace, last_trace, first_span_offset, span_count;
    uint64_t min_start, max_start;
    uint32_t col_len[kColumnCount], col_raw[kColumnCount], col_sum[kColumnCount];
  };

  // Counts a value of `key`; `in_trace` collects the (key, value) pairs seen in the current trace.
  // `key` must outlive ChooseKeys().
  void CountKey(const std::string& key, const AnyValue& v, absl::flat_hash_set<uint64_t>* in_trace) {
    std::string scratch;
    auto [it, fresh] = key_stats_.try_emplace(key);
    KeyStats& ks = it->second;
    if (fresh) ks.key_mix = Checksum64(key) * 0x9E3779B97F4A7C15ull;
    const std::string_view c = Canonical(v, &scratch);
    const uint64_t h = Checksum64(c) ^ static_cast<uint64_t>(v.type());
    ks.distinct.insert(h);
    if (in_trace->insert(h ^ ks.key_mix).second) ks.trace_values++;
  }
  // `s` must outlive ChooseDictionary(): a string of a span, resource or scope, or an extra.
  void Candidate(std::string_view s, uint32_t weight = 1) { candidates_[s] += weight; }
  // A string made here (the canonical form of a non-string value) is kept only if it is new.
  void CandidateMade(std::string&& s, uint32_t weight) {
    auto it = candidates_.find(s);
    if (it == candidates_.end()) it = candidates_.emplace(made_candidates_.emplace_back(std::move(s)), 0).first;
    it->second += weight;
  }
  void CandidateValue(const AnyValue& v) {
    if (v.type() == AnyValue::Type::kString) Candidate(v.string_value());
    if (v.type() == AnyValue::Type::kArray)
      for (const auto& e : v.array_value()) CandidateValue(e);
    if (v.type() == AnyValue::Type::kKvList)
      for (const auto& kv : v.kvlist_value()) {
        Candidate(kv.key);
        CandidateValue(kv.value);
      }
  }
  bool IsInline(const std::string& key) const { return inline_names_.count(key) != 0; }
  void CandidateAttributes(const model::Attributes& a) {
    for (const auto& kv : a) {
      Candidate(kv.key, 2);
      if (IsHighCard(kv.key)) {
        // Packed in the pages when inline; else in the dictionary if seen twice.
        if (!IsInline(kv.key) || kv.value.type() != AnyValue::Type::kString) CandidateValue(kv.value);
        continue;
      }
      // A posting value must be in the dictionary (weight 2), and counts as a value too.
      if (kv.value.type() == AnyValue::Type::kString) {
        Candidate(kv.value.string_value(), 3);
      } else {
        CandidateValue(kv.value);
        CandidateMade(model::CanonicalString(kv.value), 2);
      }
    }
  }
  uint32_t Ord(std::string_view s) const { return dict_index_.find(s)->second; }

  // Posting keys (low cardinality) or bloom hashes (high cardinality) of one attribute set.
  void IndexAttributes(const model::Attributes& a, std::vector<PostingKey>* keys, std::vector<BloomHash>* hashes) {
    std::string scratch;
    for (const auto& kv : a) {
      const std::string_view c = Canonical(kv.value, &scratch);
      if (IsHighCard(kv.key)) {
        hashes->push_back(HashKeyValue(kv.key, c));
      } else {
        keys->push_back({kPostAttribute, 0, Ord(kv.key), Ord(c)});
      }
    }
  }
  // Posting lists hold page ordinals: the span being indexed is in the page being built.
  void Post(const PostingKey& k) {
    const auto page = static_cast<uint32_t>(pages_.size());
    auto& v = postings_[k];
    if (v.empty() || v.back() != page) v.push_back(page);
  }

  void FlushPage();
  // `estimate`: the EstimateSpan sum of the segment's spans.
  template <typename Spans>
  void EncodeSegment(const Spans& spans, const std::vector<uint32_t>& members, size_t begin, size_t end, uint32_t trace,
                     size_t estimate);

  const BlockWriterOptions& o_;
  const std::vector<model::Resource>& resources_;
  const std::vector<model::Scope>& scopes_;
  const std::vector<std::pair<uint32_t, uint32_t>>& pairs_;
  const std::atomic<bool>* cancel_;  // may be null
  bool cancelled_ = false;

  // Strings by view, hashed with XXH3 (std::hash showed up in profiles), in open-addressed tables:
  // every attribute of every span is counted here, and neither table's order reaches the block
  // (the dictionary is sorted, the key choice is a set).
  struct ViewHash {
    size_t operator()(std::string_view s) const { return static_cast<size_t>(Checksum64(s)); }
  };
  absl::flat_hash_map<std::string_view, KeyStats, ViewHash> key_stats_;
  std::unordered_set<std::string> high_card_names_;
  std::unordered_set<std::string> inline_names_;  // high-cardinality keys whose strings are packed
  // Occurrences of every string (Candidate).
  absl::flat_hash_map<std::string_view, uint32_t, ViewHash> candidates_;
  std::deque<std::string> made_candidates_;  // the strings of CandidateMade
  std::vector<std::string> dict_;
  StringIndex dict_index_;
  std::vector<bool> high_card_;    // by dictionary ordinal
  std::vector<bool> inline_keys_;  // by dictionary ordinal
  std::vector<std::vector<PostingKey>> pair_keys_;
  std::vector<std::vector<BloomHash>> pair_hashes_;
  std::vector<uint32_t> pair_service_;       // service ordinal per pair
  std::vector<uint32_t> pair_indexed_page_;  // per pair: 1 + the last page holding its index entries
  std::unordered_map<PostingKey, std::vector<uint32_t>, PostingKeyHash> postings_;
  // Scratch of EncodeSegment, kept to reuse their memory: span id → first ordinal in the segment,
  // and the posting keys of one span's attributes.
  std::unordered_map<uint64_t, uint32_t> segment_first_index_;
  std::vector<PostingKey> span_keys_;

  // The trace table (step 5), by trace ordinal.
  struct Row {
    uint32_t count;
    uint64_t min_start, max_end, newest;
  };
  std::vector<Row> rows_;
  std::vector<model::TraceId> trace_ids_;
  // Dependencies by dictionary ordinal (the dictionary is sorted, so ordinals order like the
  // strings): no string is built per span.
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> deps_;  // (parent service, child service)
  // Scratch of EncodeTrace: span id → pair, and EstimateSpan of each member of the trace.
  std::unordered_map<uint64_t, uint32_t> by_span_;
  std::vector<size_t> span_estimates_;
  uint64_t span_count_ = 0;
  uint64_t min_span_end_ = std::numeric_limits<uint64_t>::max(), max_span_start_ = 0, max_span_end_ = 0;

  uint64_t block_min_ = 0;
  Page page_;
  std::vector<PageRef> pages_;
  std::string data_;  // the pages; with spill_fd_, only the page being written
  uint64_t data_size_ = 0;
  int spill_fd_ = -1;
  Status spill_status_;
  std::vector<std::vector<BloomHash>> page_hashes_;  // per page: sorted, unique
  BlockObjects out_;
};

void Builder::FlushPage() {
  if (page_.empty()) return;
  PageRef ref{};
  ref.offset = data_size_;
  const size_t page_begin = data_.size();
  ref.first_trace = page_.first_trace;
  ref.last_trace = page_.last_trace;
  ref.first_span_offset = page_.first_span_offset;
  ref.span_count = page_.span_count;
  ref.min_start = page_.min_start;
  ref.max_start = page_.max_start;
  page_.cols[kColStart].Bytes(EncodeIntegers(page_.starts, o_.zstd_level));
  page_.cols[kColDuration].Bytes(EncodeIntegers(page_.durations, o_.zstd_level));
  WriteValuesColumn(page_.runs, page_.cols[kColValues]);
  if (o_.measure_value_runs) {
    for (auto& [k, run] : page_.runs) {
      BlockObjects::RunBytes& m = out_.value_run_bytes[dict_[k]];
      int i = 0;
      for (ByteWriter* stream : {&run.values, &run.shapes, &run.text, &run.binary}) {
        m.raw[i] += stream->size();
        m.compressed[i++] += stream->size() == 0 ? 0 : Compress(stream->out(), o_.zstd_level).size();
      }
    }
  }
  for (int c = 0; c < kColumnCount; ++c) {
    const std::string& raw = page_.cols[c].out();
    const std::string z = Compress(raw, o_.zstd_level);
    ref.col_len[c] = static_cast<uint32_t>(z.size());
    ref.col_raw[c] = static_cast<uint32_t>(raw.size());
    ref.col_sum[c] = Checksum32(z);
    out_.column_bytes[c] += z.size();
    out_.column_raw_bytes[c] += raw.size();
    data_ += z;
  }
  ref.length = static_cast<uint32_t>(data_.size() - page_begin);
  data_size_ += ref.length;
  pages_.push_back(ref);
  if (spill_fd_ >= 0) {
    if (spill_status_.ok()) spill_status_ = WriteAll(spill_fd_, data_);
    data_.clear();
  }
  // The page's high-cardinality (key, value) hashes, for its blooms (built once the partition
  // count is known).
  auto& h = page_.blooms;
  std::sort(h.begin(), h.end(),
            [](const BloomHash& a, const BloomHash& b) { return std::tie(a.h1, a.h2) < std::tie(b.h1, b.h2); });
  h.erase(std::unique(h.begin(), h.end(),
                      [](const BloomHash& a, const BloomHash& b) { return a.h1 == b.h1 && a.h2 == b.h2; }),
          h.end());
  page_hashes_.push_back(std::move(h));
  page_ = Page();
}

template <typename Spans>
void Builder::EncodeSegment(const Spans& spans, const std::vector<uint32_t>& members, size_t begin, size_t end,
                            uint32_t trace, size_t estimate) {
  const Encoder enc(&dict_index_, &inline_keys_);
  Page& p = page_;
  if (p.empty()) {
    p.first_trace = trace;
    p.first_span_offset = static_cast<uint32_t>(begin);
  }
  p.last_trace = trace;
  p.estimate += estimate;
  uint64_t base = std::numeric_limits<uint64_t>::max();
  std::unordered_map<uint64_t, uint32_t>& first_index = segment_first_index_;
  first_index.clear();
  for (size_t i = begin; i < end; ++i) {
    const auto& s = spans[members[i]].span;
    base = std::min(base, s.start_time_unix_nano);
    first_index.emplace(SpanIdKey(s.span_id), static_cast<uint32_t>(i - begin));
  }
  p.cols[kColTraces].Varint(end - begin);
  p.cols[kColTraces].Varint(base - block_min_);
  for (size_t i = begin; i < end; ++i) {
    const auto& stored = spans[members[i]];
    const model::Span& s = stored.span;
    p.span_count++;
    p.min_start = std::min(p.min_start, s.start_time_unix_nano);
    p.max_start = std::max(p.max_start, s.start_time_unix_nano);
    p.cols[kColResourceScope].Varint(stored.pair);
    // A span name is always in the dictionary (candidate weight 2): its reference is its ordinal.
    const uint32_t op = Ord(s.name);
    p.cols[kColName].Varint(uint64_t{op} << 1);
    p.cols[kColKindStatus].U8(
        static_cast<uint8_t>(static_cast<uint8_t>(s.kind) | static_cast<uint8_t>(s.status.code) << 3));
    p.starts.push_back(s.start_time_unix_nano - base);
    p.durations.push_back(ZigzagOf(static_cast<int64_t>(s.end_time_unix_nano - s.start_time_unix_nano)));
    enc.Attributes(p.cols[kColAttributes], s.attributes, &p.runs);
    ByteWriter& ev = p.cols[kColEvents];
    ev.Varint(s.events.size());
    for (const auto& e : s.events) {
      ev.Zigzag(static_cast<int64_t>(e.time_unix_nano - s.start_time_unix_nano));
      enc.Ref(ev, e.name);
      ev.Varint(e.dropped_attributes_count);
      enc.Attributes(ev, e.attributes, &p.runs);
    }
    ByteWriter& lk = p.cols[kColLinks];
    lk.Varint(s.links.size());
    for (const auto& l : s.links) {
      lk.Bytes(std::string_view(reinterpret_cast<const char*>(l.trace_id.data()), 16));
      lk.Bytes(std::string_view(reinterpret_cast<const char*>(l.span_id.data()), 8));
      enc.Ref(lk, l.trace_state);
      lk.Varint(l.flags);
      lk.Varint(l.dropped_attributes_count);
      enc.Attributes(lk, l.attributes, &p.runs);
    }
    p.cols[kColSpanId].Bytes(std::string_view(reinterpret_cast<const char*>(s.span_id.data()), 8));
    if (!s.has_parent()) {
      p.cols[kColParent].Varint(0);
    } else {
      auto it = first_index.find(SpanIdKey(s.parent_span_id));
      if (it != first_index.end()) {
        p.cols[kColParent].Varint(uint64_t{it->second} + 2);
      } else {
        p.cols[kColParent].Varint(1);
        p.cols[kColParentRaw].Bytes(std::string_view(reinterpret_cast<const char*>(s.parent_span_id.data()), 8));
      }
    }
    ByteWriter& misc = p.cols[kColMisc];
    const uint64_t mask = (s.flags != 0 ? 1 : 0) | (!s.trace_state.empty() ? 2 : 0) |
                          (!s.status.message.empty() ? 4 : 0) | (s.dropped_attributes_count != 0 ? 8 : 0) |
                          (s.dropped_events_count != 0 ? 16 : 0) | (s.dropped_links_count != 0 ? 32 : 0);
    misc.Varint(mask);
    if (mask & 1) misc.Varint(s.flags);
    if (mask & 2) enc.Ref(misc, s.trace_state);
    if (mask & 4) enc.Ref(misc, s.status.message);
    if (mask & 8) misc.Varint(s.dropped_attributes_count);
    if (mask & 16) misc.Varint(s.dropped_events_count);
    if (mask & 32) misc.Varint(s.dropped_links_count);

    // Index entries of this span: postings by trace ordinal, blooms by page.
    const uint32_t svc = pair_service_[stored.pair];
    Post({kPostOperation, static_cast<uint8_t>(s.kind), svc, op});
    Post({kPostName, 0, op, 0});
    if (s.status.code == model::StatusCode::kError) Post({kPostError, 0, 0, 0});
    // A pair's entries (its service, resource and scope attributes) are the same for all of its
    // spans, and postings and blooms are by page: once per page is enough.
    if (pair_indexed_page_[stored.pair] != pages_.size() + 1) {
      pair_indexed_page_[stored.pair] = static_cast<uint32_t>(pages_.size() + 1);
      Post({kPostService, 0, svc, 0});
      for (const auto& k : pair_keys_[stored.pair]) Post(k);
      for (const auto& h : pair_hashes_[stored.pair]) p.blooms.push_back(h);
    }
    std::vector<PostingKey>& keys = span_keys_;
    keys.clear();
    IndexAttributes(s.attributes, &keys, &p.blooms);
    for (const auto& e : s.events) IndexAttributes(e.attributes, &keys, &p.blooms);
    for (const auto& l : s.links) IndexAttributes(l.attributes, &keys, &p.blooms);
    for (const auto& k : keys) Post(k);
  }
}

template <typename Spans>
std::vector<Builder::Trace> Builder::OrderTraces(const Spans& spans) {
  // Grouped through a hash map, then the traces (not the spans) sorted: a std::map compared
  // 16-byte IDs about log2(traces) times per span.
  struct TraceIdHash {
    size_t operator()(const model::TraceId& id) const { return static_cast<size_t>(HashTraceId(id.data()).h1); }
  };
  std::vector<Trace> grouped;
  {
    std::unordered_map<model::TraceId, uint32_t, TraceIdHash> slot_of;
    for (size_t i = 0; i < spans.size(); ++i) {
      const model::TraceId& id = spans[i].span.trace_id;
      auto [it, fresh] = slot_of.try_emplace(id, static_cast<uint32_t>(grouped.size()));
      if (fresh) grouped.push_back({id, {}});
      grouped[it->second].members.push_back(static_cast<uint32_t>(i));
    }
  }
  std::vector<std::tuple<uint64_t, model::TraceId, uint32_t>> order;  // (min start, ID, slot)
  order.reserve(grouped.size());
  for (uint32_t g = 0; g < grouped.size(); ++g) {
    uint64_t min_start = std::numeric_limits<uint64_t>::max();
    for (uint32_t i : grouped[g].members) min_start = std::min(min_start, spans[i].span.start_time_unix_nano);
    order.emplace_back(min_start, grouped[g].id, g);
  }
  std::sort(order.begin(), order.end());
  std::vector<Trace> sorted;
  sorted.reserve(grouped.size());
  for (const auto& [start, id, g] : order) sorted.push_back(std::move(grouped[g]));
  return sorted;
}

template <typename Spans>
void Builder::ChooseKeys(const Spans& spans, const std::vector<Trace>& traces) {
  absl::flat_hash_set<uint64_t> in_trace;  // resources and scopes count as one "trace" each
  for (const auto& r : resources_) {
    in_trace.clear();
    for (const auto& kv : r.attributes) CountKey(kv.key, kv.value, &in_trace);
  }
  for (const auto& s : scopes_) {
    in_trace.clear();
    for (const auto& kv : s.attributes) CountKey(kv.key, kv.value, &in_trace);
  }
  for (const auto& trace : traces) {
    in_trace.clear();
    for (uint32_t m : trace.members) {
      const model::Span& span = spans[m].span;
      for (const auto& kv : span.attributes) CountKey(kv.key, kv.value, &in_trace);
      for (const auto& e : span.events)
        for (const auto& kv : e.attributes) CountKey(kv.key, kv.value, &in_trace);
      for (const auto& l : span.links)
        for (const auto& kv : l.attributes) CountKey(kv.key, kv.value, &in_trace);
    }
  }
  for (const auto& [key, ks] : key_stats_) {
    const auto d = static_cast<double>(ks.distinct.size());
    if (ks.distinct.size() < o_.high_card_min_distinct ||
        d < o_.high_card_min_ratio * static_cast<double>(traces.size()))
      continue;
    high_card_names_.emplace(key);
    if (d >= o_.inline_min_ratio * static_cast<double>(ks.trace_values)) inline_names_.emplace(key);
  }
  key_stats_.clear();
}

template <typename Spans>
void Builder::ChooseDictionary(const Spans& spans, const std::vector<std::string>& extra) {
  Candidate("", 2);
  for (const auto& r : resources_) {
    Candidate(model::ServiceName(r), 2);
    CandidateAttributes(r.attributes);
    Candidate(r.schema_url);
  }
  for (const auto& s : scopes_) {
    Candidate(s.name);
    Candidate(s.version);
    CandidateAttributes(s.attributes);
    Candidate(s.schema_url);
  }
  for (const auto& st : spans) {
    const auto& s = st.span;
    Candidate(s.name, 2);
    if (!s.trace_state.empty()) Candidate(s.trace_state);
    if (!s.status.message.empty()) Candidate(s.status.message);
    CandidateAttributes(s.attributes);
    for (const auto& e : s.events) {
      Candidate(e.name);
      CandidateAttributes(e.attributes);
    }
    for (const auto& l : s.links) {
      if (!l.trace_state.empty()) Candidate(l.trace_state);
      CandidateAttributes(l.attributes);
    }
  }
  for (const auto& s : extra) Candidate(s, 2);
  for (auto& [s, n] : candidates_)
    if (n >= 2) dict_.emplace_back(s);
  candidates_.clear();
  made_candidates_.clear();
  std::sort(dict_.begin(), dict_.end());
  for (size_t i = 0; i < dict_.size(); ++i) dict_index_.emplace(dict_[i], static_cast<uint32_t>(i));
  high_card_.assign(dict_.size(), false);
  inline_keys_.assign(dict_.size(), false);
  for (const auto& k : high_card_names_) {
    auto it = dict_index_.find(k);
    if (it == dict_index_.end()) continue;
    high_card_[it->second] = true;
    inline_keys_[it->second] = inline_names_.count(k) != 0;
  }
}

void Builder::IndexNewPairs() {
  for (size_t p = pair_service_.size(); p < pairs_.size(); ++p) {
    const auto [r, s] = pairs_[p];
    pair_service_.push_back(Ord(model::ServiceName(resources_[r])));
    pair_keys_.emplace_back();
    pair_hashes_.emplace_back();
    IndexAttributes(resources_[r].attributes, &pair_keys_.back(), &pair_hashes_.back());
    IndexAttributes(scopes_[s].attributes, &pair_keys_.back(), &pair_hashes_.back());
  }
  pair_indexed_page_.resize(pairs_.size(), 0);
}

bool Builder::Covers(const model::Traces& trace) const {
  std::string scratch;
  const auto known = [&](std::string_view s) { return dict_index_.find(s) != dict_index_.end(); };
  const auto covered = [&](const model::Attributes& a) {
    for (const auto& kv : a)
      if (!known(kv.key) || (!IsHighCard(kv.key) && !known(Canonical(kv.value, &scratch)))) return false;
    return true;
  };
  for (const auto& rs : trace.resource_spans) {
    if (!known(model::ServiceName(rs.resource)) || !covered(rs.resource.attributes)) return false;
    for (const auto& ss : rs.scope_spans) {
      if (!covered(ss.scope.attributes)) return false;
      for (const auto& s : ss.spans) {
        if (!known(s.name) || !covered(s.attributes)) return false;
        for (const auto& e : s.events)
          if (!covered(e.attributes)) return false;
        for (const auto& l : s.links)
          if (!covered(l.attributes)) return false;
      }
    }
  }
  return true;
}

template <typename Spans>
void Builder::EncodeTrace(const Spans& spans, const std::vector<uint32_t>& members, const model::TraceId& id) {
  const auto t = static_cast<uint32_t>(rows_.size());
  Row row{static_cast<uint32_t>(members.size()), std::numeric_limits<uint64_t>::max(), 0, 0};
  size_t estimate = 0;
  by_span_.clear();
  span_estimates_.clear();
  for (uint32_t m : members) {
    const auto& st = spans[m];
    row.min_start = std::min(row.min_start, st.span.start_time_unix_nano);
    row.max_end = std::max(row.max_end, st.span.end_time_unix_nano);
    row.newest = std::max(row.newest, st.span.start_time_unix_nano);
    min_span_end_ = std::min(min_span_end_, st.span.end_time_unix_nano);
    estimate += span_estimates_.emplace_back(EstimateSpan(st.span));
    by_span_.emplace(SpanIdKey(st.span.span_id), st.pair);
  }
  if (t == 0) block_min_ = row.min_start;  // the earliest start of the block: traces come in order
  max_span_start_ = std::max(max_span_start_, row.newest);
  max_span_end_ = std::max(max_span_end_, row.max_end);
  span_count_ += members.size();
  for (uint32_t m : members) {
    const auto& st = spans[m];
    const model::SpanId parent_id = model::jaeger::DependencyParent(st.span);
    if (parent_id == model::SpanId{}) continue;
    auto it = by_span_.find(SpanIdKey(parent_id));
    if (it == by_span_.end()) continue;
    ++deps_[{pair_service_[it->second], pair_service_[st.pair]}];
  }
  // Cut before a trace that would overflow the page; split only a trace that alone exceeds it.
  if (!page_.empty() && page_.estimate + estimate > o_.target_page_bytes) FlushPage();
  size_t begin = 0, acc = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    acc += span_estimates_[i];
    if (estimate > o_.target_page_bytes && acc >= o_.target_page_bytes && i + 1 < members.size()) {
      EncodeSegment(spans, members, begin, i + 1, t, acc);
      FlushPage();
      begin = i + 1;
      acc = 0;
    }
  }
  EncodeSegment(spans, members, begin, members.size(), t, acc);
  rows_.push_back(row);
  trace_ids_.push_back(id);
}

template <typename Spans>
BlockObjects Builder::Run(const Spans& spans, const BlockIdentity& identity) {
  const std::vector<Trace> traces = OrderTraces(spans);
  ChooseKeys(spans, traces);
  ChooseDictionary(spans, {});
  IndexNewPairs();
  for (uint32_t t = 0; t < traces.size(); ++t) {
    if (t % 1024 == 0 && cancel_ != nullptr && cancel_->load(std::memory_order_relaxed)) {
      cancelled_ = true;
      return {};
    }
    EncodeTrace(spans, traces[t].members, traces[t].id);
  }
  Result<BlockObjects> done = Finish(identity);  // cannot fail: no page was spilled
  return std::move(*done);
}

Result<BlockObjects> Builder::Finish(const BlockIdentity& identity) {
  FlushPage();
  TB_RETURN_IF_ERROR(spill_status_.WithContext("spilling block pages to a temporary file"));
  BlockMeta meta;
  meta.block_id = identity.block_id;
  meta.writer_id = identity.writer_id;
  meta.wal_first = identity.wal_first;
  meta.wal_last = identity.wal_last;
  meta.created_unix_nano = identity.created_unix_nano != 0
                               ? identity.created_unix_nano
                               : static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                           std::chrono::system_clock::now().time_since_epoch())
                                                           .count());
  meta.span_count = span_count_;
  meta.trace_count = rows_.size();
  if (span_count_ != 0) {
    meta.min_span_start = block_min_;
    meta.max_span_start = max_span_start_;
    meta.min_span_end = min_span_end_;
    meta.max_span_end = max_span_end_;
  }
  meta.page_count = static_cast<uint32_t>(pages_.size());
  // `by_id`: the trace ordinals in trace-ID order, for lookups.
  std::vector<uint32_t> by_id(trace_ids_.size());
  for (uint32_t t = 0; t < by_id.size(); ++t) by_id[t] = t;
  std::sort(by_id.begin(), by_id.end(), [&](uint32_t x, uint32_t y) { return trace_ids_[x] < trace_ids_[y]; });

  // Index sections.
  std::vector<std::pair<SectionId, std::string>> sections;
  const int level = o_.zstd_level;
  {  // traces: header, row-group checksums, prefix checksum, rows, bloom
    const uint32_t n = static_cast<uint32_t>(rows_.size());
    const uint32_t g = kTraceRowsPerGroup;
    uint64_t max_count = 0, max_start = 0, max_end = 0, max_newest = 0;
    for (const auto& r : rows_) {
      max_count = std::max<uint64_t>(max_count, r.count);
      max_start = std::max(max_start, r.min_start - block_min_);
      max_end = std::max(max_end, ZigzagOf(static_cast<int64_t>(r.max_end - r.min_start)));
      max_newest = std::max(max_newest, r.newest - r.min_start);
    }
    const int wc = WidthOf(max_count), ws = WidthOf(max_start), we = WidthOf(max_end), wn = WidthOf(max_newest);
    const int wo = WidthOf(n > 0 ? n - 1 : 0);
    const uint32_t row_size = static_cast<uint32_t>(16 + wc + ws + we + wn);
    ByteWriter rw;
    for (uint32_t t = 0; t < n; ++t) {
      const Row& r = rows_[t];
      rw.Bytes(std::string_view(reinterpret_cast<const char*>(trace_ids_[t].data()), 16));
      rw.Fixed(r.count, wc);
      rw.Fixed(r.min_start - block_min_, ws);
      rw.Fixed(ZigzagOf(static_cast<int64_t>(r.max_end - r.min_start)), we);
      rw.Fixed(r.newest - r.min_start, wn);
    }
    const double bpk = o_.trace_bloom_bits_per_key;
    std::string bloom(BloomBytes(n, bpk), '\0');
    const int k = BloomProbes(bpk);
    for (const auto& id : trace_ids_) BloomAdd(bloom, k, HashTraceId(id.data()));
    ByteWriter w;  // the whole section, framing included
    w.U8(static_cast<uint8_t>(SectionId::kTraces));
    w.U8(kSectionVersion);
    w.U8(kEncodingRaw);
    w.U8(0);
    const size_t groups = (n + g - 1) / g;
    ByteWriter id_order;  // the row ordinals in trace-ID order, for binary search by ID
    for (uint32_t o : by_id) id_order.Fixed(o, wo);
    const size_t payload = 32 + 8 * groups + 8 + rw.size() + id_order.size() + bloom.size();
    w.U32(static_cast<uint32_t>(payload));
    w.U32(n);
    w.U32(g);
    for (int x : {wc, ws, we, wn, k, wo}) w.U8(static_cast<uint8_t>(x));
    w.U16(0);
    w.U32(row_size);
    w.U32(static_cast<uint32_t>(bloom.size()));
    w.U64(block_min_);
    const std::string& rb = rw.out();
    for (size_t i = 0; i < groups; ++i) {
      const size_t off = i * g * row_size;
      w.U64(Checksum64(std::string_view(rb).substr(off, std::min<size_t>(g * row_size, rb.size() - off))));
    }
    w.U64(Checksum64(w.out()));
    w.Bytes(rb);
    w.Bytes(id_order.out());
    w.Bytes(bloom);
    sections.emplace_back(SectionId::kTraces, w.Take());
  }
  {  // page directory
    ByteWriter w;
    w.Varint(pages_.size());
    for (const auto& p : pages_) {
      w.U64(p.offset);
      w.U32(p.length);
      w.U32(p.first_trace);
      w.U32(p.last_trace);
      w.U32(p.first_span_offset);
      w.U32(p.span_count);
      w.U64(p.min_start);
      w.U64(p.max_start);
      w.U8(kColumnCount);
      for (int c = 0; c < kColumnCount; ++c) {
        w.U32(p.col_len[c]);
        w.U32(p.col_raw[c]);
        w.U32(p.col_sum[c]);
      }
    }
    sections.emplace_back(SectionId::kPages, FrameSection(SectionId::kPages, w.out(), true, level));
  }
  {  // dictionary and tables
    ByteWriter w;
    const Encoder enc(&dict_index_, &inline_keys_);
    w.Varint(dict_.size());
    for (const auto& s : dict_) w.Varint(s.size());
    for (const auto& s : dict_) w.Bytes(s);
    w.Varint(resources_.size());
    for (const auto& r : resources_) {
      enc.Attributes(w, r.attributes, nullptr);
      w.Varint(r.dropped_attributes_count);
      enc.Ref(w, r.schema_url);
    }
    w.Varint(scopes_.size());
    for (const auto& s : scopes_) {
      enc.Ref(w, s.name);
      enc.Ref(w, s.version);
      enc.Attributes(w, s.attributes, nullptr);
      w.Varint(s.dropped_attributes_count);
      enc.Ref(w, s.schema_url);
    }
    w.Varint(pairs_.size());
    for (const auto& [r, s] : pairs_) {
      w.Varint(r);
      w.Varint(s);
    }
    sections.emplace_back(SectionId::kDict, FrameSection(SectionId::kDict, w.out(), true, level));
  }
  // Page blooms, hash-partitioned: partition j holds, per page, a bloom of the page's hashes that
  // fall in j. A search reads only the partition of each value it looks for.
  const int bloom_k = BloomProbes(o_.page_bloom_bits_per_key);
  std::vector<std::string> partitions;
  {
    size_t hashes = 0;
    for (const auto& h : page_hashes_) hashes += h.size();
    const double bytes = static_cast<double>(hashes) * o_.page_bloom_bits_per_key / 8;
    const auto count = static_cast<uint32_t>(std::clamp<double>(
        std::ceil(bytes / static_cast<double>(std::max<size_t>(1, o_.bloom_partition_bytes))), 1, kMaxBloomPartitions));
    std::vector<std::vector<std::vector<BloomHash>>> split(count, std::vector<std::vector<BloomHash>>(pages_.size()));
    for (size_t p = 0; p < page_hashes_.size(); ++p)
      for (const auto& h : page_hashes_[p]) split[BloomPartition(h, count)][p].push_back(h);
    for (const auto& part : split) {
      ByteWriter w;
      std::string blooms;
      for (const auto& hs : part) {
        std::string bits(BloomBytes(hs.size(), o_.page_bloom_bits_per_key), '\0');
        for (const auto& h : hs) BloomAdd(bits, bloom_k, h);
        w.Varint(bits.size() / 8);
        blooms += bits;
      }
      w.Bytes(blooms);
      partitions.push_back(w.Take());
    }
  }
  {  // postings: directory (zstd) and roaring lists (raw)
    std::vector<PostingKey> keys;
    keys.reserve(postings_.size());
    for (const auto& [k, v] : postings_) keys.push_back(k);
    std::sort(keys.begin(), keys.end(), [](const PostingKey& x, const PostingKey& y) {
      return std::tie(x.kind, x.a, x.b, x.c) < std::tie(y.kind, y.a, y.b, y.c);
    });
    ByteWriter dir, lists;
    std::vector<uint32_t> hc;
    for (size_t i = 0; i < high_card_.size(); ++i)
      if (high_card_[i]) hc.push_back(static_cast<uint32_t>(i));
    dir.Varint(hc.size());
    for (uint32_t k : hc) dir.Varint(k);
    dir.Varint(keys.size());
    for (const auto& k : keys) {
      const auto& v = postings_[k];
      roaring_bitmap_t* bm = roaring_bitmap_of_ptr(v.size(), v.data());
      roaring_bitmap_run_optimize(bm);
      std::string bytes(roaring_bitmap_portable_size_in_bytes(bm), '\0');
      roaring_bitmap_portable_serialize(bm, bytes.data());
      roaring_bitmap_free(bm);
      dir.U8(k.kind);
      dir.Varint(k.a);
      dir.Varint(k.b);
      dir.U8(k.c);
      dir.Varint(bytes.size());
      dir.U32(Checksum32(bytes));
      out_.posting_bytes[k.kind] += bytes.size();
      lists.Bytes(bytes);
    }
    dir.U8(static_cast<uint8_t>(bloom_k));
    dir.Varint(partitions.size());
    for (const auto& part : partitions) {
      dir.Varint(part.size());
      dir.U32(Checksum32(part));
    }
    sections.emplace_back(SectionId::kPostingKeys, FrameSection(SectionId::kPostingKeys, dir.out(), true, level));
    sections.emplace_back(SectionId::kPostingLists, FrameSection(SectionId::kPostingLists, lists.out(), false, level));
  }
  {  // page blooms: the partitions back to back
    ByteWriter w;
    for (const auto& part : partitions) w.Bytes(part);
    sections.emplace_back(SectionId::kPageBlooms, FrameSection(SectionId::kPageBlooms, w.out(), false, level));
  }
  {  // dependencies
    ByteWriter w;
    w.Varint(deps_.size());
    for (const auto& [k, n] : deps_) {
      w.LenBytes(dict_[k.first]);
      w.LenBytes(dict_[k.second]);
      w.Varint(n);
    }
    sections.emplace_back(SectionId::kDependencies, FrameSection(SectionId::kDependencies, w.out(), true, level));
  }
  {  // services and operations: those of the service and operation posting keys
    std::set<uint32_t> services;
    std::set<std::tuple<uint32_t, uint32_t, uint8_t>> operations;  // (service, name, kind) ordinals
    for (const auto& [k, pages] : postings_) {
      if (k.kind == kPostService) services.insert(k.a);
      if (k.kind == kPostOperation) operations.emplace(k.a, k.b, k.c);
    }
    ByteWriter w;
    std::vector<uint32_t> svc(services.begin(), services.end());
    w.Varint(svc.size());
    for (uint32_t s : svc) w.LenBytes(dict_[s]);
    w.Varint(operations.size());
    for (const auto& [s, name, kind] : operations) {
      w.Varint(static_cast<uint64_t>(std::lower_bound(svc.begin(), svc.end(), s) - svc.begin()));
      w.LenBytes(dict_[name]);
      w.U8(kind);
    }
    sections.emplace_back(SectionId::kServices, FrameSection(SectionId::kServices, w.out(), true, level));
  }
  for (auto& [id, bytes] : sections) {
    SectionRef ref;
    ref.id = id;
    ref.offset = out_.index.size();
    ref.length = bytes.size();
    ref.checksum = Checksum64(bytes);
    meta.sections.push_back(ref);
    out_.index += bytes;
  }
  meta.data_size = data_size_;
  meta.index_size = out_.index.size();
  out_.data = std::move(data_);
  out_.meta = EncodeMeta(meta);
  out_.parsed_meta = std::move(meta);
  return std::move(out_);
}

}  // namespace

namespace {
Status CheckNotCancelled(const std::atomic<bool>* cancel) {
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return Status::Unavailable("block build cancelled");
  return Status::Ok();
}
}  // namespace

Result<BlockObjects> BlockWriter::Build(const BlockIdentity& identity, const std::atomic<bool>* cancel) const {
  if (state_->table.pairs.size() > 0xffffffffull || state_->spans.size() > 0xffffffffull)
    return Status::InvalidArgument("block too large");
  Builder b(options_, state_->table, cancel);
  BlockObjects objects = b.Run(state_->spans, identity);
  if (b.cancelled()) return CheckNotCancelled(cancel);
  return objects;
}

namespace {

// Stores `<prefix>data` (`data`), `<prefix>index`, then `<prefix>meta`; `cancel` is checked before
// each, so a cancelled block has no meta.
Result<BlockMeta> StoreBlock(objstore::ObjectStore& store, const std::string& prefix, std::string_view data,
                             BlockObjects& objects, const std::atomic<bool>* cancel) {
  TB_RETURN_IF_ERROR(CheckNotCancelled(cancel));
  TB_RETURN_IF_ERROR(store.Put(prefix + kDataObject, data).WithContext("writing block data"));
  TB_RETURN_IF_ERROR(CheckNotCancelled(cancel));
  TB_RETURN_IF_ERROR(store.Put(prefix + kIndexObject, objects.index).WithContext("writing block index"));
  TB_RETURN_IF_ERROR(CheckNotCancelled(cancel));
  TB_RETURN_IF_ERROR(store.Put(prefix + kMetaObject, objects.meta).WithContext("writing block meta"));
  return std::move(objects.parsed_meta);
}

// An unnamed temporary file: unlinked as soon as it is made, so that nothing outlives the process.
class SpillFile {
 public:
  static Result<std::unique_ptr<SpillFile>> Create() {
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
    if (ec) return Status::IoError("finding the temporary folder", ec.value());
    std::string path = (dir / "tb-block-XXXXXX").string();
    const int fd = ::mkstemp(path.data());
    if (fd < 0) return Status::IoError("creating a temporary file in " + dir.string(), errno);
    ::unlink(path.c_str());
    return std::unique_ptr<SpillFile>(new SpillFile(fd));
  }
  ~SpillFile() {
    if (map_ != nullptr) ::munmap(map_, mapped_);
    ::close(fd_);
  }
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  int fd() const { return fd_; }
  // The first `size` bytes, mapped read-only until the file is destroyed. Once.
  Result<std::string_view> Map(uint64_t size) {
    if (size == 0) return std::string_view();
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return Status::IoError("mapping a block's temporary file", errno);
    map_ = p;
    mapped_ = size;
    return std::string_view(static_cast<const char*>(p), size);
  }

 private:
  explicit SpillFile(int fd) : fd_(fd) {}
  const int fd_;
  void* map_ = nullptr;
  size_t mapped_ = 0;
};

}  // namespace

Result<BlockMeta> BlockWriter::Finish(objstore::ObjectStore& store, const std::string& prefix,
                                      const BlockIdentity& identity, const std::atomic<bool>* cancel) const {
  TB_ASSIGN_OR_RETURN(BlockObjects objects, Build(identity, cancel));
  return StoreBlock(store, prefix, objects.data, objects, cancel);
}

struct StreamingBlockWriter::State {
  PairTable table;
  // Until Plan(): the traces added, their spans, and the hints.
  std::deque<model::Traces> sample;
  std::vector<StoredSpan> sample_spans;
  PlanHints hints;
  // From Plan() on.
  std::unique_ptr<SpillFile> spill;
  std::unique_ptr<Builder> builder;
  std::vector<StoredSpan> trace_spans;  // the trace being encoded
  std::vector<uint32_t> members;
  // The last trace added, for the order check.
  bool any = false;
  uint64_t last_start = 0;
  model::TraceId last_id{};
};

StreamingBlockWriter::StreamingBlockWriter(const BlockWriterOptions& options)
    : options_(options), state_(std::make_unique<State>()) {}
StreamingBlockWriter::~StreamingBlockWriter() = default;

bool StreamingBlockWriter::planned() const { return state_->builder != nullptr; }

size_t StreamingBlockWriter::span_count() const {
  return planned() ? state_->builder->span_count() : state_->sample_spans.size();
}

void StreamingBlockWriter::AddPlanHints(const PlanHints& hints) {
  PlanHints& h = state_->hints;
  h.strings.insert(h.strings.end(), hints.strings.begin(), hints.strings.end());
  h.high_card_keys.insert(h.high_card_keys.end(), hints.high_card_keys.begin(), hints.high_card_keys.end());
  h.values.insert(h.values.end(), hints.values.begin(), hints.values.end());
}

Result<bool> StreamingBlockWriter::Add(model::Traces&& trace) {
  State& st = *state_;
  std::optional<model::TraceId> id;
  uint64_t min_start = std::numeric_limits<uint64_t>::max();
  for (const auto& rs : trace.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& span : ss.spans) {
        if (id.has_value() && span.trace_id != *id)
          return Status::InvalidArgument("a trace given to a streaming block writer holds several trace IDs");
        id = span.trace_id;
        min_start = std::min(min_start, span.start_time_unix_nano);
      }
  if (!id.has_value()) return Status::InvalidArgument("an empty trace given to a streaming block writer");
  if (st.any && !(std::tie(st.last_start, st.last_id) < std::tie(min_start, *id)))
    return Status::InvalidArgument("traces given to a streaming block writer out of block order");
  if (planned() && !st.builder->Covers(trace)) return false;
  st.any = true;
  st.last_start = min_start;
  st.last_id = *id;
  if (!planned()) {
    const model::Traces& kept = st.sample.emplace_back(std::move(trace));
    for (const auto& rs : kept.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& span : ss.spans) st.sample_spans.push_back({span, st.table.PairOf(rs.resource, ss.scope)});
    return true;
  }
  st.trace_spans.clear();
  st.members.clear();
  for (const auto& rs : trace.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& span : ss.spans) {
        st.members.push_back(static_cast<uint32_t>(st.trace_spans.size()));
        st.trace_spans.push_back({span, st.table.PairOf(rs.resource, ss.scope)});
      }
  st.builder->IndexNewPairs();
  st.builder->EncodeTrace(st.trace_spans, st.members, *id);
  st.trace_spans.clear();
  st.table.ForgetAddresses();  // `trace` is freed on return
  return true;
}

Status StreamingBlockWriter::Plan() {
  State& st = *state_;
  if (planned()) return Status::Ok();
  TB_ASSIGN_OR_RETURN(st.spill, SpillFile::Create());
  auto builder = std::make_unique<Builder>(options_, st.table, nullptr);
  builder->SpillTo(st.spill->fd());
  const std::vector<Builder::Trace> traces = Builder::OrderTraces(st.sample_spans);
  builder->ChooseKeys(st.sample_spans, traces);
  builder->AddHighCardKeys(st.hints.high_card_keys);
  // The hinted values of keys that stay low-cardinality; those of the others would only bloat the
  // dictionary (a merge of small blocks hints values that, at the output's size, are ids).
  std::vector<std::string> seed = std::move(st.hints.strings);
  for (auto& [key, value] : st.hints.values)
    if (!builder->IsHighCard(key)) seed.push_back(std::move(value));
  builder->ChooseDictionary(st.sample_spans, seed);
  builder->IndexNewPairs();
  for (const auto& t : traces) builder->EncodeTrace(st.sample_spans, t.members, t.id);
  st.builder = std::move(builder);
  std::vector<StoredSpan>().swap(st.sample_spans);
  std::deque<model::Traces>().swap(st.sample);
  st.hints = PlanHints();
  st.table.ForgetAddresses();
  return Status::Ok();
}

Result<BlockMeta> StreamingBlockWriter::Finish(objstore::ObjectStore& store, const std::string& prefix,
                                               const BlockIdentity& identity, const std::atomic<bool>* cancel) {
  TB_RETURN_IF_ERROR(Plan());
  TB_ASSIGN_OR_RETURN(BlockObjects objects, state_->builder->Finish(identity));
  TB_ASSIGN_OR_RETURN(std::string_view data, state_->spill->Map(objects.parsed_meta.data_size));
  return StoreBlock(store, prefix, data, objects, cancel);
}

}  // namespace tb::block
