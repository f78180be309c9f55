// Page decoding (docs/format/block.md §3): fetching a page's columns through the cache, decoding
// its spans whole or only the segments of some traces, matching a search on the encoded columns,
// and regrouping a trace's spans under their resources and scopes. Private to the block library.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "block/internal/block_objects.h"
#include "block/internal/index_sections.h"
#include "query/trace_query.h"

namespace tb::block::internal {

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

// Reads pages of one block; holds no state of its own, so it may be used from any thread.
class PageDecoder {
 public:
  explicit PageDecoder(const BlockObjects& io) : io_(io) {}

  // Fetches columns [0, last_column] of page p (through the cache; the whole page when cached) and
  // verifies and decompresses into raw[c] those in `decompress` (bit c for column c).
  Status PageColumns(const PageInfo& info, uint32_t p, int last_column, std::string raw[kColumnCount],
                     uint32_t decompress = ~0u) const;
  // Search over one page's encoded columns (bit c of `columns` for column c): `found` gets, per trace segment with a
  // span that `matcher` accepts, (trace ordinal, newest span start of the segment). Spans are not
  // materialised: the cheap per-span tests of `pre` run on the columns, and only the spans that pass
  // them are rebuilt into one reused span for the matcher's exact check.
  Status MatchPage(const std::vector<PageInfo>& pages, uint32_t p, uint32_t columns, const Tables& t,
                   const SearchPrefilter& pre, const query::SpanMatcher& matcher,
                   std::vector<std::pair<uint32_t, uint64_t>>* found) const;
  // Page p with every column fetched, checked and decompressed, and what a decoder of whole spans
  // needs parsed: a reader per column, the per-key value runs, the start and duration columns. The
  // readers point into `raw`, so a PageSpans is filled in place and never copied or moved.
  struct PageSpans {
    std::string raw[kColumnCount];
    ByteReader col[kColumnCount];
    ValueCursors cursors;
    std::vector<uint64_t> starts, durations;
  };
  Status OpenPageSpans(const PageInfo& info, uint32_t p, PageSpans* page) const;
  // For Verify: decodes every span of page p, reading every column to its last byte and every run
  // of `values` to its end, and checks the page's start range against the directory. Adds each
  // trace segment's span count to spans_per_trace[trace ordinal].
  Status CheckPage(const std::vector<PageInfo>& pages, uint32_t p, const Tables& tables,
                   std::vector<uint64_t>* spans_per_trace) const;
  // Decodes page p's segments of the traces whose ordinals are in `wanted` (strictly ascending, in the
  // page's trace range) into `out`, one entry per segment in page order (whole pages are fetched,
  // through the cache). The spans of the other traces before the last wanted one are passed
  // without being built (their values in the per-key runs are passed, since the cursors must
  // advance past them), and the spans after it are not read at all. So, unlike a search, a lookup
  // verifies the checksum of every column and the structure of the spans up to its last segment,
  // not the page's tail. On an error, `out` holds the wanted segments decoded whole before it.
  Status DecodeSegments(const std::vector<PageInfo>& pages, uint32_t p, const std::vector<uint32_t>& wanted,
                        const Tables& tables, std::vector<Segment>* out) const;

 private:
  const BlockObjects& io_;
};

}  // namespace tb::block::internal
