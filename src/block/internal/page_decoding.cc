#include "block/internal/page_decoding.h"

#include <algorithm>

namespace tb::block::internal {

namespace {

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

const char* DecodeSpan(ByteReader col[kColumnCount], const Decoder& dec, ValueCursors& cursors,
                       const std::vector<uint64_t>& starts, const std::vector<uint64_t>& durations, size_t i,
                       uint64_t base, uint64_t segment_spans, size_t pair_count, DecodedSpan* d, uint64_t* parent_ref) {
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

bool SkipAttributes(ByteReader& r, const Decoder& dec, ValueCursors& cursors) {
  for (size_t n = r.Count(1); n > 0; --n) {
    const uint64_t key_ref = ByteReader(r).Varint();
    dec.SkipRef(r);
    const bool in_run = !(key_ref & 1);
    if (in_run ? !cursors.Skip(static_cast<uint32_t>(key_ref >> 1), dec) : !dec.SkipValue(r)) return false;
  }
  return !r.failed();
}

const char* SkipSpan(ByteReader col[kColumnCount], const Decoder& dec, ValueCursors& cursors, uint64_t segment_spans,
                     size_t pair_count) {
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
}  // namespace

Status PageDecoder::PageColumns(const PageInfo& info, uint32_t p, int last_column, std::string raw[kColumnCount],
                                uint32_t decompress) const {
  io_.metrics.pages.Add();
  const std::string full_key = io_.PageKey(p);
  Bytes bytes = io_.cache != nullptr ? io_.cache->Get(full_key) : nullptr;
  if (bytes == nullptr) {
    const uint64_t len = info.ColumnOffset(last_column + 1) - info.offset;
    const std::string key = last_column == kColumnCount - 1 ? full_key : full_key + "c" + std::to_string(last_column);
    TB_ASSIGN_OR_RETURN(bytes, io_.GetRange(kDataObject, info.offset, len, key));
    io_.CachePut(key, bytes);
  }
  uint64_t off = 0;
  for (int c = 0; c <= last_column; ++c) {
    const std::string_view z = std::string_view(*bytes).substr(off, info.col_len[c]);
    off += info.col_len[c];
    if (!(decompress & (1u << c))) continue;
    if (Checksum32(z) != info.col_sum[c]) return io_.PageCorrupt(p, ColumnName(c), "checksum mismatch");
    if (!Decompress(z, info.col_raw[c], &raw[c])) return io_.PageCorrupt(p, ColumnName(c), "does not decompress");
  }
  return Status::Ok();
}

Status PageDecoder::OpenPageSpans(const PageInfo& info, uint32_t p, PageSpans* page) const {
  TB_RETURN_IF_ERROR(PageColumns(info, p, kColumnCount - 1, page->raw));
  for (int c = 0; c < kColumnCount; ++c) page->col[c] = ByteReader(page->raw[c]);
  if (!page->cursors.Parse(page->raw[kColValues])) return io_.PageCorrupt(p, "values", "malformed");
  if (!DecodeIntegers(page->raw[kColStart], info.span_count, &page->starts))
    return io_.PageCorrupt(p, "start", "malformed");
  if (!DecodeIntegers(page->raw[kColDuration], info.span_count, &page->durations))
    return io_.PageCorrupt(p, "duration", "malformed");
  return Status::Ok();
}

Status PageDecoder::CheckPage(const std::vector<PageInfo>& pages, uint32_t p, const Tables& tables,
                              std::vector<uint64_t>* spans_per_trace) const {
  const PageInfo& info = pages[p];
  const auto bad = [&](std::string_view column, std::string_view what) { return io_.PageCorrupt(p, column, what); };
  PageSpans page;
  TB_RETURN_IF_ERROR(OpenPageSpans(info, p, &page));
  const Decoder dec(tables.dict);
  std::vector<std::pair<uint32_t, uint64_t>> segments;  // (trace ordinal, spans)
  uint64_t seen = 0, min_start = UINT64_MAX, max_start = 0;
  for (uint32_t trace = info.first_trace; seen < info.span_count; ++trace) {
    if (trace > info.last_trace) return bad("traces", "more segments than traces");
    const uint64_t count = page.col[kColTraces].Varint();
    const uint64_t base = io_.meta.min_span_start + page.col[kColTraces].Varint();
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

Status PageDecoder::DecodeSegments(const std::vector<PageInfo>& pages, uint32_t p, const std::vector<uint32_t>& wanted,
                                   const Tables& tables, std::vector<Segment>* out) const {
  const PageInfo& info = pages[p];
  const auto bad = [&](std::string_view column, std::string_view what) { return io_.PageCorrupt(p, column, what); };
  if (wanted.empty()) return Status::Ok();
  if (wanted.front() < info.first_trace || wanted.back() > info.last_trace)
    return bad("traces", "trace not in the page's range");
  PageSpans page;
  TB_RETURN_IF_ERROR(OpenPageSpans(info, p, &page));
  const Decoder dec(tables.dict);
  std::vector<uint64_t> parent_ref;
  auto next_wanted = wanted.begin();
  uint64_t seen = 0;
  for (uint32_t trace = info.first_trace; next_wanted != wanted.end(); ++trace) {
    if (seen == info.span_count) return bad("traces", "fewer segments than traces");
    const uint64_t count = page.col[kColTraces].Varint();
    const uint64_t base = io_.meta.min_span_start + page.col[kColTraces].Varint();
    if (page.col[kColTraces].failed() || count == 0 || count > info.span_count - seen)
      return bad("traces", "malformed");
    const bool keep = trace == *next_wanted;
    Segment segment{trace, {}};  // appended to `out` once whole
    if (keep) {
      ++next_wanted;
      segment.spans.reserve(count);
      parent_ref.clear();
    }
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t pref = 0;
      const char* column =
          keep ? DecodeSpan(page.col, dec, page.cursors, page.starts, page.durations, seen + i, base, count,
                            tables.pairs.size(), &segment.spans.emplace_back(DecodedSpan{0, {}}), &pref)
               : SkipSpan(page.col, dec, page.cursors, count, tables.pairs.size());
      if (column != nullptr) return bad(column, "malformed");
      if (keep) parent_ref.push_back(pref);
    }
    seen += count;
    if (keep) {
      std::vector<DecodedSpan>& spans = segment.spans;
      for (size_t i = 0; i < parent_ref.size(); ++i)
        if (parent_ref[i] >= 2) spans[i].span.parent_span_id = spans[parent_ref[i] - 2].span.span_id;
      out->push_back(std::move(segment));
    }
  }
  return Status::Ok();
}

Status PageDecoder::MatchPage(const std::vector<PageInfo>& pages, uint32_t p, uint32_t columns, const Tables& t,
                              const SearchPrefilter& pre, const query::SpanMatcher& matcher,
                              std::vector<std::pair<uint32_t, uint64_t>>* found) const {
  const PageInfo& info = pages[p];
  const auto bad = [&](std::string_view column, std::string_view what) { return io_.PageCorrupt(p, column, what); };
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
    const uint64_t base = io_.meta.min_span_start + traces.Varint();
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

}  // namespace tb::block::internal
