#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <random>

#include "block/block_reader.h"
#include "block/block_writer.h"
#include "block/codec.h"
#include "block_image.h"
#include "head/head.h"
#include "model/random_traces.h"
#include "model/text.h"
#include "objstore/memory_store.h"
#include "objstore/metering_store.h"
#include "workload.h"

namespace tb::block {
namespace {

// The unit-test store: objects in memory, every call and byte counted.
struct Store {
  std::shared_ptr<objstore::MemoryStore> memory = std::make_shared<objstore::MemoryStore>();
  objstore::MeteringStore metered{memory};
  uint64_t gets() const { return metered.snapshot().gets; }
  uint64_t bytes() const { return metered.snapshot().get_bytes; }
};

const std::string kPrefix = "tenants/default/blocks/b1/";

BlockMeta Write(objstore::ObjectStore& store, const model::Traces& traces, const BlockWriterOptions& options = {}) {
  BlockWriter w(options);
  w.Add(traces);
  auto meta = w.Finish(store, kPrefix, BlockIdentity{"b1", "writer-1", 10, 20, 0});
  EXPECT_TRUE(meta.ok()) << meta.status().ToString();
  return *meta;
}

std::vector<model::TraceId> TraceIds(const model::Traces& t) {
  std::set<model::TraceId> ids;
  for (const auto& rs : t.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& s : ss.spans) ids.insert(s.trace_id);
  return {ids.begin(), ids.end()};
}

struct Triple {
  model::Resource r;
  model::Scope s;
  model::Span span;
  bool operator==(const Triple&) const = default;
};
std::vector<Triple> Flatten(const model::Traces& t, const model::TraceId* only) {
  std::vector<Triple> out;
  for (const auto& rs : t.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& s : ss.spans)
        if (only == nullptr || s.trace_id == *only) out.push_back({rs.resource, ss.scope, s});
  return out;
}
bool SameMultiset(std::vector<Triple> a, std::vector<Triple> b) {
  if (a.size() != b.size()) return false;
  for (const auto& x : a) {
    auto it = std::find(b.begin(), b.end(), x);
    if (it == b.end()) return false;
    b.erase(it);
  }
  return true;
}

std::unique_ptr<head::Head> MakeHead(const model::Traces& t) {
  auto h = std::make_unique<head::Head>(head::Options{});
  model::Traces copy = t;
  h->Insert(std::move(copy), head::Reservation());
  return h;
}

TEST(BlockFormat, MetaRoundTripAndChecksum) {
  BlockMeta m;
  m.block_id = "01J";
  m.writer_id = "w";
  m.wal_first = 5;
  m.wal_last = 9;
  m.index_size = 100;
  for (int i = 1; i <= kSectionCount; ++i) m.sections.push_back({static_cast<SectionId>(i), 1, 0, 10, 42});
  const std::string bytes = EncodeMeta(m);
  auto back = DecodeMeta(bytes, "m");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 0x20;
    auto r = DecodeMeta(bad, "m");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  }
}

// Every trace of many random batches comes back exactly, with several page sizes.
TEST(BlockRoundTrip, RandomTracesEveryTraceExact) {
  const model::RandomTracesOptions shapes[] = {{1, 1, 1, 1}, {3, 2, 5, 4}, {4, 3, 20, 30}, {2, 2, 60, 3}};
  for (uint64_t seed = 1; seed <= 25; ++seed) {
    for (const auto& shape : shapes) {
      for (size_t page : {size_t{1} << 10, size_t{512} << 10}) {
        const model::Traces input = model::RandomTraces(seed, shape);
        Store store;
        BlockWriterOptions o;
        o.target_page_bytes = page;
        if (seed % 3 == 0) o.high_card_min_distinct = 1, o.high_card_min_ratio = 0;  // everything high-card
        const BlockMeta meta = Write(store.metered, input, o);
        auto read_meta = ReadBlockMeta(store.metered, kPrefix);
        ASSERT_TRUE(read_meta.ok()) << read_meta.status().ToString();
        ASSERT_EQ(*read_meta, meta);
        EXPECT_EQ(meta.span_count, input.SpanCount());
        LruBlockCache cache(64 << 20);
        BlockReader reader(&store.metered, kPrefix, meta, &cache);
        auto head = MakeHead(input);
        for (const auto& id : TraceIds(input)) {
          model::Traces got;
          {
            const Status st = reader.ReadTrace(id, &got);
            ASSERT_TRUE(st.ok()) << st.ToString();
          }
          ASSERT_TRUE(SameMultiset(Flatten(got, nullptr), Flatten(input, &id))) << "seed " << seed;
          model::Traces from_head;
          ASSERT_TRUE(head->ReadTrace(id, &from_head).ok());
          ASSERT_EQ(got, from_head) << "seed " << seed;  // same grouping and order
        }
        model::Traces none;
        ASSERT_TRUE(reader.ReadTrace(model::TraceId{9, 9, 9}, &none).ok());
        EXPECT_TRUE(none.resource_spans.empty());
      }
    }
  }
}

// Db flushes a frozen head through AddUncopied; the block must be the one Add() writes.
TEST(BlockRoundTrip, SpansAddedUncopiedFromAHeadMakeTheSameBlock) {
  const model::Traces input = model::RandomTraces(7, {4, 3, 20, 30});
  const BlockIdentity identity{"b1", "writer-1", 10, 20, 1'700'000'000'000'000'000};
  BlockWriter copied;
  copied.Add(input);
  auto head = MakeHead(input);
  BlockWriter borrowed;
  ASSERT_TRUE(head->ForEachSpan([&](const model::Resource& r, const model::Scope& s, const model::Span& span) {
    borrowed.AddUncopied(r, s, span);
    return true;
  }));
  ASSERT_EQ(borrowed.span_count(), input.SpanCount());
  auto a = copied.Build(identity);
  auto b = borrowed.Build(identity);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->data, b->data);
  EXPECT_EQ(a->index, b->index);
  EXPECT_EQ(a->meta, b->meta);
}

TEST(BlockRoundTrip, EdgeCases) {
  // Empty block, duplicate span IDs, end before start, parents outside the trace, huge trace.
  Store store;
  {
    const BlockMeta meta = Write(store.metered, model::Traces{});
    BlockReader reader(&store.metered, kPrefix, meta, nullptr);
    model::Traces out;
    EXPECT_TRUE(reader.ReadTrace(model::TraceId{1}, &out).ok());
    std::vector<query::TraceHit> hits;
    EXPECT_TRUE(reader.FindTraces(query::SpanMatcher(query::TraceQuery{}), 10, &hits).ok());
    EXPECT_TRUE(hits.empty());
  }
  model::Traces t;
  t.resource_spans.resize(1);
  t.resource_spans[0].scope_spans.resize(1);
  auto& spans = t.resource_spans[0].scope_spans[0].spans;
  for (int i = 0; i < 3000; ++i) {
    model::Span s;
    s.trace_id = model::TraceId{7};
    s.span_id = model::SpanId{static_cast<uint8_t>(i % 5 + 1)};
    s.parent_span_id = model::SpanId{static_cast<uint8_t>(i % 7)};
    s.start_time_unix_nano = 1000 + static_cast<uint64_t>(i % 11);
    s.end_time_unix_nano = i % 2 ? 5 : UINT64_MAX;
    s.name = "op" + std::to_string(i % 3);
    s.attributes = {{"x", model::AnyValue::Double(-0.0)}, {"n", model::AnyValue::Int(INT64_MIN)}};
    spans.push_back(s);
  }
  BlockWriterOptions o;
  o.target_page_bytes = 4096;
  const BlockMeta meta = Write(store.metered, t, o);
  EXPECT_GT(meta.page_count, 3u);
  BlockReader reader(&store.metered, kPrefix, meta, nullptr);
  model::Traces out;
  ASSERT_TRUE(reader.ReadTrace(model::TraceId{7}, &out).ok());
  EXPECT_EQ(out, t);
  std::vector<query::TraceHit> hits;
  query::TraceQuery q;
  q.operation_name = "op2";
  ASSERT_TRUE(reader.FindTraces(query::SpanMatcher(q), 10, &hits).ok());
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].min_start_unix_nano, 1000u);
  EXPECT_EQ(hits[0].newest_span_start_unix_nano, 1010u);
  EXPECT_EQ(hits[0].max_end_unix_nano, UINT64_MAX);
}

// Strings of inline keys are packed by form (decimal, hex, UUID, text + decimal, raw): every
// boundary of every form comes back byte for byte, also as a search value.
TEST(BlockRoundTrip, PackedStringsExact) {
  const std::vector<std::string> values = {"",
                                           "0",
                                           "00",
                                           "007",
                                           "7",
                                           "255",
                                           "256",
                                           "18446744073709551615",
                                           "18446744073709551616",
                                           "99999999999999999999",
                                           "-5",
                                           "+5",
                                           "abc",
                                           "f",
                                           "0f",
                                           "deadbeef",
                                           "DEADBEEF",
                                           "dEadbeef",
                                           "123e4567-e89b-12d3-a456-426614174000",
                                           "123E4567-E89B-12D3-A456-426614174000",
                                           "123e4567-e89b-12d3-a456-42661417400g",
                                           "123e4567e89b-12d3-a456-4266141740000",
                                           "user-0",
                                           "user-01",
                                           "user-18446744073709551616",
                                           "https://shop.example.com/api/v1/orders/42",
                                           "https://shop.example.com/api/v1/orders/42?page=3&sort=created",
                                           "SELECT * FROM t WHERE id = 0 AND v = 18446744073709551615 LIMIT 10",
                                           "x 18446744073709551616 y 7",
                                           "x 007 y 7 z 0",
                                           "123abc456",
                                           "ünïcödé 12",
                                           "抹茶ラテ 3 個",
                                           "12 ",
                                           std::string("nul\0"
                                                       "9",
                                                       5)};
  model::Traces t;
  t.resource_spans.resize(1);
  t.resource_spans[0].scope_spans.resize(1);
  for (size_t i = 0; i < values.size() * 20; ++i) {
    model::Span s;
    s.trace_id = model::TraceId{static_cast<uint8_t>(i % 251), static_cast<uint8_t>(i / 251 + 1)};
    s.span_id = model::SpanId{static_cast<uint8_t>(i + 1)};
    s.start_time_unix_nano = 1000 + i;
    s.end_time_unix_nano = 2000 + i;
    s.name = "op";
    s.attributes = {
        {"v", model::AnyValue::String(values[i % values.size()] + (i < values.size() ? "" : std::to_string(i)))},
        {"w", model::AnyValue::String(values[i % values.size()])}};
    t.resource_spans[0].scope_spans[0].spans.push_back(std::move(s));
  }
  BlockWriterOptions o;
  o.high_card_min_distinct = 1;
  o.high_card_min_ratio = 0;
  o.inline_min_ratio = 0;  // every string packed in the pages
  o.target_page_bytes = 4096;
  Store store;
  const BlockMeta meta = Write(store.metered, t, o);
  BlockReader reader(&store.metered, kPrefix, meta, nullptr);
  for (const auto& id : TraceIds(t)) {
    model::Traces got;
    ASSERT_TRUE(reader.ReadTrace(id, &got).ok());
    ASSERT_TRUE(SameMultiset(Flatten(got, nullptr), Flatten(t, &id)));
  }
  for (const auto& v : values) {
    query::TraceQuery q;
    q.attributes = {{"w", v}};
    q.search_depth = 1000;
    std::vector<query::TraceHit> hits;
    ASSERT_TRUE(reader.FindTraces(query::SpanMatcher(q), q.Limit(), &hits).ok());
    EXPECT_EQ(hits.size(), 20u) << v;
  }
}

// Every packed form read back from a values column, in order, including repeats of the previous
// string and templates shared by strings that differ only in their numbers.
TEST(BlockCodec, PackedStringFormsRoundTrip) {
  const std::vector<std::string> strings = {"",
                                            "",
                                            "0",
                                            "0",
                                            "00",
                                            "7",
                                            "18446744073709551615",
                                            "18446744073709551616",
                                            "deadbeef",
                                            "123e4567-e89b-12d3-a456-426614174000",
                                            "123e4567-e89b-12d3-a456-426614174000",
                                            "user-1",
                                            "user-01",
                                            "id 1 of 2",
                                            "id 3 of 4",
                                            "id 0 of 18446744073709551615",
                                            "id 1 of 18446744073709551616",
                                            "a 007 b 8",
                                            "ünï 5 cödé",
                                            "ünï 6 cödé",
                                            "12abc",
                                            "no digits",
                                            std::string("nul\0 9", 7),
                                            "9 "};
  ValueRuns runs;
  for (const auto& str : strings) {
    runs[3].values.U8(kTagPacked);
    PackString(runs[3], str);
  }
  ByteWriter column;
  WriteValuesColumn(runs, column);
  ValueCursors cursors;
  ASSERT_TRUE(cursors.Parse(column.out()));
  const Dictionary dict;
  const Decoder dec(dict);
  for (const auto& str : strings) {
    model::AnyValue v;
    ASSERT_TRUE(cursors.Next(3, dec, &v)) << str;
    EXPECT_EQ(v, model::AnyValue::String(str));
  }
  EXPECT_TRUE(cursors.Exhausted());
  model::AnyValue past_end;
  EXPECT_FALSE(cursors.Next(3, dec, &past_end));
}

// A value equal to the previous one of its key's run (same encoding, bit for bit) is one tag byte
// and reads back as that value; other keys' runs in between do not break the repeat.
TEST(BlockCodec, RepeatedValuesRoundTrip) {
  const StringIndex dict_index = {{"a", 0}, {"b", 1}};
  const std::vector<bool> inline_keys = {false, false};
  const Encoder enc(&dict_index, &inline_keys);
  const std::vector<model::Attributes> lists = {
      {{"a", model::AnyValue::Int(5)}, {"b", model::AnyValue::String("b")}},
      {{"a", model::AnyValue::Int(5)}, {"b", model::AnyValue::String("b")}},
      {{"a", model::AnyValue::Double(-0.0)}},
      {{"a", model::AnyValue::Double(0.0)}},
      {{"a", model::AnyValue::Double(0.0)}, {"b", model::AnyValue::Array({model::AnyValue::Int(1)})}},
      {{"b", model::AnyValue::Array({model::AnyValue::Int(1)})}, {"a", model::AnyValue()}},
      {{"a", model::AnyValue()}, {"b", model::AnyValue::Int(1)}}};
  ValueRuns runs;
  ByteWriter attributes;
  for (const auto& list : lists) enc.Attributes(attributes, list, &runs);
  EXPECT_EQ(runs[0].values.size(), 1u + 1 + 1 + 8 + 1 + 8 + 1 + 1 + 1 + 1);  // int, 3 repeats, 2 doubles
  ByteWriter column;
  WriteValuesColumn(runs, column);
  Dictionary dict;
  dict.blob = "ab";
  dict.offsets = {0, 1, 2};
  const Decoder dec(dict);
  ValueCursors cursors;
  ASSERT_TRUE(cursors.Parse(column.out()));
  ByteReader r(attributes.out());
  for (const auto& list : lists) {
    model::Attributes got;
    ASSERT_TRUE(dec.Attributes(r, &got, &cursors));
    EXPECT_EQ(got, list);
    ASSERT_EQ(got.size(), list.size());
    if (got[0].value.type() == model::AnyValue::Type::kDouble) {
      EXPECT_EQ(std::signbit(got[0].value.double_value()), std::signbit(list[0].value.double_value()));
    }
  }
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(cursors.Exhausted());
}

// Skipping values of a run and reading the rest gives what reading every value gives, for every
// value form: packed strings (raw, decimal, hex, UUID, templates on first and later use, repeats,
// including a repeat whose previous string was skipped) and values in the run (ints, doubles,
// strings by reference and inline, arrays, key-value lists, repeats).
TEST(BlockCodec, SkipThenNextReadsTheSameValues) {
  const StringIndex dict_index = {{"p", 0}, {"v", 1}};
  const std::vector<bool> inline_keys = {true, false};  // "p" packs its strings, "v" does not
  const Encoder enc(&dict_index, &inline_keys);
  const std::vector<std::string> packed = {"user-1",
                                           "user-1",
                                           "7",
                                           "deadbeef",
                                           "123e4567-e89b-12d3-a456-426614174000",
                                           "123e4567-e89b-12d3-a456-426614174000",
                                           "id 1 of 2",
                                           "id 1 of 2",
                                           "id 3 of 4",
                                           "ünï 5 cödé",
                                           "id 5 of 6",
                                           "id 5 of 6",
                                           "no digits",
                                           ""};
  const std::vector<model::AnyValue> unpacked = {
      model::AnyValue::Int(-3),
      model::AnyValue::Int(-3),
      model::AnyValue::Double(2.5),
      model::AnyValue::String("p"),  // a dictionary string: a reference
      model::AnyValue::String("inline text"),
      model::AnyValue::String("inline text"),
      model::AnyValue::Array({model::AnyValue::Int(1), model::AnyValue::String("p")}),
      model::AnyValue::KvList({{"v", model::AnyValue::Bool(true)}, {"k", model::AnyValue()}}),
      model::AnyValue::KvList({{"v", model::AnyValue::Bool(true)}, {"k", model::AnyValue()}}),
      model::AnyValue::FromBytes("\x01\x02"),
      model::AnyValue()};
  // One attribute per list, the two keys interleaved.
  std::vector<std::pair<uint32_t, model::AnyValue>> values;
  for (size_t i = 0; i < std::max(packed.size(), unpacked.size()); ++i) {
    if (i < packed.size()) values.emplace_back(0, model::AnyValue::String(packed[i]));
    if (i < unpacked.size()) values.emplace_back(1, unpacked[i]);
  }
  ValueRuns runs;
  ByteWriter attributes;
  for (const auto& [key, value] : values) enc.Attributes(attributes, {{key == 0 ? "p" : "v", value}}, &runs);
  ASSERT_FALSE(runs[0].templates.empty());
  ByteWriter column;
  WriteValuesColumn(runs, column);
  Dictionary dict;
  dict.blob = "pv";
  dict.offsets = {0, 1, 2};
  const Decoder dec(dict);
  // Patterns of which values to skip: every one, none, every m-th at each offset, all before i.
  std::vector<std::vector<bool>> patterns = {std::vector<bool>(values.size(), true),
                                             std::vector<bool>(values.size(), false)};
  for (size_t m = 2; m <= 3; ++m)
    for (size_t r = 0; r < m; ++r) {
      auto& skip = patterns.emplace_back(values.size());
      for (size_t i = 0; i < values.size(); ++i) skip[i] = i % m != r;
    }
  for (size_t first_read = 1; first_read < values.size(); ++first_read) {
    auto& skip = patterns.emplace_back(values.size(), false);
    for (size_t i = 0; i < first_read; ++i) skip[i] = true;
  }
  for (size_t n = 0; n < patterns.size(); ++n) {
    ValueCursors cursors;
    ASSERT_TRUE(cursors.Parse(column.out()));
    for (size_t i = 0; i < values.size(); ++i) {
      const auto& [key, expected] = values[i];
      if (patterns[n][i]) {
        ASSERT_TRUE(cursors.Skip(key, dec)) << "pattern " << n << " value " << i;
        continue;
      }
      model::AnyValue got;
      ASSERT_TRUE(cursors.Next(key, dec, &got)) << "pattern " << n << " value " << i;
      EXPECT_EQ(got, expected) << "pattern " << n << " value " << i;
    }
    EXPECT_TRUE(cursors.Exhausted()) << "pattern " << n;
    EXPECT_FALSE(cursors.Skip(0, dec));
    EXPECT_FALSE(cursors.Skip(1, dec));
  }
}

// SQL that differs only in its numbers stores its text once per page: the rest is numbers.
TEST(BlockCodec, TemplateTextStoredOncePerRun) {
  KeyRun run;
  const std::string sql = "SELECT t.id FROM orders t WHERE t.customer_id = ";
  for (int i = 0; i < 100; ++i) PackString(run, sql + std::to_string(1000000 + 7919 * i) + " LIMIT 20");
  EXPECT_LT(run.text.size(), sql.size() + 16);
  EXPECT_LE(run.binary.size(), 100u * (3 + 1));  // a 3-byte varint per ID, 1 byte for the 20
  EXPECT_EQ(run.templates.size(), 1u);
}

// Malformed runs fail both Next and Skip, which check the same things: a packed shape with an
// undefined template or an unknown form, a repeat with nothing before it (packed or tagged), a
// reference past the dictionary.
// A page's values column names each key's run once: a second run of a key is malformed.
TEST(BlockCodec, AKeyWithTwoRunsIsMalformed) {
  const auto column = [](uint8_t second_key) {
    // Two runs, every stream empty: count, then (key, values, shapes, text, binary lengths) each.
    return std::string{'\x02', '\x07', 0, 0, 0, 0, static_cast<char>(second_key), 0, 0, 0, 0};
  };
  ValueCursors cursors;
  EXPECT_TRUE(cursors.Parse(column(8)));
  EXPECT_TRUE(cursors.Exhausted());
  EXPECT_FALSE(cursors.Parse(column(7)));
}

TEST(BlockCodec, MalformedRunsFailNextAndSkip) {
  std::vector<ValueRuns> malformed;
  for (const uint64_t shape : {uint64_t{(1 << 3) | 4}, uint64_t{5}, uint64_t{(1 << 3) | 5}, uint64_t{6}}) {
    ValueRuns& runs = malformed.emplace_back();
    runs[1].values.U8(kTagPacked);
    runs[1].shapes.Varint(shape);
  }
  malformed.emplace_back()[1].values.U8(kTagRepeat);
  ValueRuns& past_dictionary = malformed.emplace_back();
  past_dictionary[1].values.U8(kTagString);
  past_dictionary[1].values.Varint(4 << 1);
  const Dictionary dict;
  const Decoder dec(dict);
  for (size_t i = 0; i < malformed.size(); ++i) {
    ByteWriter column;
    WriteValuesColumn(malformed[i], column);
    ValueCursors for_next, for_skip;
    ASSERT_TRUE(for_next.Parse(column.out()));
    ASSERT_TRUE(for_skip.Parse(column.out()));
    model::AnyValue v;
    EXPECT_FALSE(for_next.Next(1, dec, &v)) << "case " << i;
    EXPECT_FALSE(for_skip.Skip(1, dec)) << "case " << i;
  }
}

// ---- search equivalence with the head ----

struct Picked {
  const model::Resource* r;
  const model::Scope* s;
  const model::Span* span;
};

query::TraceQuery RandomQuery(std::mt19937_64& rng, const std::vector<Picked>& all) {
  auto u = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  const Picked& p = all[u(all.size())];
  query::TraceQuery q;
  if (u(2)) q.service_name = u(10) ? std::string(model::ServiceName(*p.r)) : "no-such-service";
  if (u(3) == 0) q.operation_name = u(10) ? p.span->name : "no-such-op";
  for (int n = static_cast<int>(u(3)); n > 0; --n) {
    const model::Attributes* sets[] = {&p.span->attributes, &p.r->attributes, &p.s->attributes,
                                       p.span->events.empty() ? &p.span->attributes : &p.span->events[0].attributes,
                                       p.span->links.empty() ? &p.span->attributes : &p.span->links[0].attributes};
    const model::Attributes& a = *sets[u(5)];
    switch (u(8)) {
      case 0: q.attributes.push_back({"error", u(2) ? "true" : "false"}); break;
      case 1: q.attributes.push_back({"span.kind", std::string(model::SpanKindName(p.span->kind))}); break;
      case 2: q.attributes.push_back({"span.status", u(2) ? "error" : "ok"}); break;
      case 3: q.attributes.push_back({"scope.name", p.s->name}); break;
      default:
        if (a.empty()) break;
        const auto& kv = a[u(a.size())];
        q.attributes.push_back({kv.key, u(12) ? model::CanonicalString(kv.value) : "zzz"});
    }
  }
  if (u(4) == 0) {
    q.start_time_min_unix_nano = p.span->start_time_unix_nano - u(1'000'000'000'000);
    q.start_time_max_unix_nano = p.span->start_time_unix_nano + u(1'000'000'000'000);
  } else if (u(6) == 0) {
    q.start_time_min_unix_nano = p.span->start_time_unix_nano;
  }
  if (u(5) == 0) {
    q.duration_min_nanos = p.span->duration_nanos() / 2;
    if (u(2)) q.duration_max_nanos = p.span->duration_nanos() + u(1'000'000'000);
  }
  const int depths[] = {1, 2, 5, 20, 1000};
  q.search_depth = depths[u(5)];
  return q;
}

void ExpectSameSearches(const model::Traces& input, const BlockWriterOptions& o, uint64_t seed, int queries) {
  Store store;
  const BlockMeta meta = Write(store.metered, input, o);
  LruBlockCache cache(64 << 20);
  BlockReader reader(&store.metered, kPrefix, meta, &cache);
  auto head = MakeHead(input);
  std::vector<Picked> all;
  for (const auto& rs : input.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& s : ss.spans) all.push_back({&rs.resource, &ss.scope, &s});
  std::mt19937_64 rng(seed);
  for (int i = 0; i < queries; ++i) {
    const query::TraceQuery q = RandomQuery(rng, all);
    const query::SpanMatcher m(q);
    std::vector<query::TraceHit> want, got;
    ASSERT_TRUE(head->FindTraces(m, q.Limit(), &want).ok());
    const Status s = reader.FindTraces(m, q.Limit(), &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(got.size(), want.size()) << "seed " << seed << " query " << i;
    for (size_t j = 0; j < got.size(); ++j) {
      EXPECT_EQ(got[j].trace_id, want[j].trace_id) << "seed " << seed << " query " << i;
      EXPECT_EQ(got[j].newest_span_start_unix_nano, want[j].newest_span_start_unix_nano);
      EXPECT_EQ(got[j].min_start_unix_nano, want[j].min_start_unix_nano);
      EXPECT_EQ(got[j].max_end_unix_nano, want[j].max_end_unix_nano);
    }
  }
  std::set<std::string> hs, bs;
  ASSERT_TRUE(head->Services(&hs).ok());
  ASSERT_TRUE(reader.Services(&bs).ok());
  EXPECT_EQ(hs, bs);
  for (const auto& svc : hs) {
    for (const std::string kind : {"", "server", "client", "internal"}) {
      std::set<query::Operation> ho, bo;
      ASSERT_TRUE(head->Operations(svc, kind, &ho).ok());
      ASSERT_TRUE(reader.Operations(svc, kind, &bo).ok());
      EXPECT_EQ(ho, bo);
    }
  }
  query::DependencyCounts hd, bd, none;
  ASSERT_TRUE(head->Dependencies(0, UINT64_MAX, &hd).ok());
  ASSERT_TRUE(reader.Dependencies(0, UINT64_MAX, &bd).ok());
  EXPECT_EQ(hd, bd);
  ASSERT_TRUE(reader.Dependencies(meta.min_span_start + 1, UINT64_MAX, &none).ok());
  EXPECT_TRUE(none.empty());
}

TEST(BlockSearch, SameAsHeadOnRandomTraces) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const model::Traces input = model::RandomTraces(seed, {5, 2, 40, 25});
    BlockWriterOptions o;
    o.target_page_bytes = seed % 2 ? 2048 : 512 << 10;
    ExpectSameSearches(input, o, seed, 150);
    o.high_card_min_distinct = 1;  // every key high-cardinality: page blooms instead of postings
    o.high_card_min_ratio = 0;
    ExpectSameSearches(input, o, seed + 1000, 150);
  }
}

TEST(BlockSearch, SameAsHeadOnWorkload) {
  bench::Workload w({.seed = 3});
  const model::Traces input = w.NextBatch(20'000);
  BlockWriterOptions o;
  o.target_page_bytes = 64 << 10;
  ExpectSameSearches(input, o, 7, 300);
}

// ---- time order of pages (format version 3) ----

// Pages hold traces in time order, so a narrow window reads only the few pages that overlap it and
// a newest-first search with a small limit stops after the newest pages. Under trace-ID order every
// page spans the whole block and both read every page.
TEST(BlockSearch, WindowAndLimitReadOnlyTheirPages) {
  bench::Workload w({.seed = 5});
  const model::Traces input = w.NextBatch(100'000);
  Store store;
  BlockWriterOptions o;
  o.target_page_bytes = 64 << 10;
  const BlockMeta meta = Write(store.metered, input, o);
  ASSERT_GE(meta.page_count, 40u);
  auto head = MakeHead(input);
  // Index sections (at most 3 GETs: traces prefix, pages+dict+postings, one posting list) and a
  // row group or two besides the pages.
  const uint64_t index_gets = 8;
  const auto run = [&](const query::TraceQuery& q, size_t limit) {
    LruBlockCache cache(256 << 20);
    BlockReader reader(&store.metered, kPrefix, meta, &cache);
    store.metered.Reset();
    const query::SpanMatcher m(q);
    std::vector<query::TraceHit> got, want;
    EXPECT_TRUE(reader.FindTraces(m, limit, &got).ok());
    EXPECT_TRUE(head->FindTraces(m, limit, &want).ok());
    EXPECT_EQ(got.size(), want.size());
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) EXPECT_EQ(got[i].trace_id, want[i].trace_id);
    EXPECT_GE(got.size(), 1u);
    return store.gets();
  };
  const uint64_t range = meta.max_span_start - meta.min_span_start;
  query::TraceQuery window;
  window.service_name = std::string(model::ServiceName(input.resource_spans[0].resource));
  window.start_time_min_unix_nano = meta.min_span_start + range / 2;
  window.start_time_max_unix_nano = meta.min_span_start + range / 2 + range / 20;
  const uint64_t window_gets = run(window, 1'000'000);
  std::printf("5%% window: %llu GETs of %u pages\n", static_cast<unsigned long long>(window_gets), meta.page_count);
  EXPECT_LE(window_gets, meta.page_count / 10 + index_gets);

  query::TraceQuery newest;
  newest.service_name = window.service_name;
  const uint64_t newest_gets = run(newest, 20);
  std::printf("newest 20: %llu GETs of %u pages\n", static_cast<unsigned long long>(newest_gets), meta.page_count);
  EXPECT_LE(newest_gets, 12 + index_gets);  // three waves of 4 parallel page reads
}

// A block of another format version is refused by name, not misread.
// A cancelled build stores nothing (no meta: no block); the same writer builds once uncancelled.
// The traces of a block in block order, through a StreamingBlockWriter planned after `sample`
// of them (with the block's own plan hints when `hints`): every trace reads back exact
// and the block verifies clean. Returns how many traces the frozen plan refused.
size_t Restream(const model::Traces& input, size_t sample, bool hints) {
  Store store;
  const BlockMeta meta = Write(store.metered, input);
  BlockReader source(&store.metered, kPrefix, meta, nullptr);
  StreamingBlockWriter w;
  if (hints) {
    PlanHints own;
    EXPECT_TRUE(source.PlanHints(&own).ok());
    w.AddPlanHints(own);
  }
  auto scan = source.ScanTraces();
  ScannedTrace trace;
  size_t n = 0, refused = 0;
  std::vector<model::TraceId> ids;
  while (*scan->Next(&trace)) {
    if (n++ == sample) {
      EXPECT_TRUE(w.Plan().ok());
    }
    auto added = w.Add(std::move(trace.spans));
    EXPECT_TRUE(added.ok()) << added.status().ToString();
    if (added.ok() && !*added) {
      ++refused;
      continue;
    }
    ids.push_back(trace.id);
  }
  const std::string prefix = "tenants/default/blocks/b2/";
  auto streamed = w.Finish(store.metered, prefix, BlockIdentity{"b2", "writer-1", 0, 0, 0});
  EXPECT_TRUE(streamed.ok()) << streamed.status().ToString();
  if (!streamed.ok()) return refused;
  BlockReader reader(&store.metered, prefix, *streamed, nullptr);
  EXPECT_TRUE(reader.Verify([](uint64_t) {}).empty());
  for (const auto& id : ids) {
    model::Traces got;
    EXPECT_TRUE(reader.ReadTrace(id, &got).ok());
    EXPECT_TRUE(SameMultiset(Flatten(got, nullptr), Flatten(input, &id)));
  }
  if (refused == 0) {
    EXPECT_EQ(streamed->span_count, input.SpanCount());
  }
  return refused;
}

TEST(StreamingBlockWriter, TracesReadBackExactWhereverThePlanIsFrozen) {
  const model::Traces input = model::RandomTraces(21, {4, 3, 30, 40});
  EXPECT_EQ(Restream(input, 1000, false), 0u);  // planned at Finish: from every trace
  EXPECT_EQ(Restream(input, 3, true), 0u);      // from 3 traces and the hints: nothing refused
  EXPECT_GT(Restream(input, 1, false), 0u);     // from one trace alone: the others' strings miss
}

// The raw size of the dictionary section of `input` streamed through a writer given `hints`.
uint64_t StreamedDictBytes(const model::Traces& input, const PlanHints& hints) {
  Store store;
  const BlockMeta meta = Write(store.metered, input);
  BlockReader source(&store.metered, kPrefix, meta, nullptr);
  StreamingBlockWriter w;
  w.AddPlanHints(hints);
  auto scan = source.ScanTraces();
  ScannedTrace trace;
  while (*scan->Next(&trace)) EXPECT_TRUE(*w.Add(std::move(trace.spans)));
  const std::string prefix = "tenants/default/blocks/b2/";
  auto streamed = w.Finish(store.metered, prefix, BlockIdentity{"b2", "writer-1", 0, 0, 0});
  EXPECT_TRUE(streamed.ok()) << streamed.status().ToString();
  if (!streamed.ok()) return 0;
  BlockReader reader(&store.metered, prefix, *streamed, nullptr);
  BlockLayout layout;
  EXPECT_TRUE(reader.Describe(&layout).ok());
  for (const auto& part : layout.sections)
    if (part.name == "dict") return part.raw_bytes;
  ADD_FAILURE() << "no dict section";
  return 0;
}

// Hinted values join the dictionary only while their key stays low-cardinality: a merge of small
// blocks must not carry into its output the values of keys that are ids at the output's size.
TEST(StreamingBlockWriter, HintedValuesOfHighCardinalityKeysStayOutOfTheDictionary) {
  const model::Traces input = model::RandomTraces(21, {4, 3, 30, 40});
  PlanHints values;
  for (int i = 0; i < 1000; ++i) values.values.emplace_back("hinted.id", "hinted-value-" + std::to_string(i));
  PlanHints high_card = values;
  high_card.high_card_keys.push_back("hinted.id");
  const uint64_t none = StreamedDictBytes(input, {});
  EXPECT_GE(StreamedDictBytes(input, values), none + 1000 * 14);  // low-cardinality: every value
  EXPECT_EQ(StreamedDictBytes(input, high_card), none);           // high-cardinality: none
}

TEST(StreamingBlockWriter, RefusesTracesOutOfOrderOrMixed) {
  model::Traces a = model::RandomTraces(1, {1, 1, 2, 1});
  model::Traces b = a;
  for (auto& s : b.resource_spans[0].scope_spans[0].spans) s.start_time_unix_nano -= 1000;
  StreamingBlockWriter w;
  ASSERT_TRUE(*w.Add(std::move(a)));
  auto late = w.Add(std::move(b));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kInvalidArgument);
  model::Traces mixed = model::RandomTraces(2, {1, 1, 4, 2});
  auto bad = w.Add(std::move(mixed));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(BlockWriterCancel, ACancelledFinishStoresNoObject) {
  Store store;
  BlockWriter w;
  w.Add(model::RandomTraces(3, {}));
  std::atomic<bool> cancel = true;
  auto cancelled = w.Finish(store.metered, kPrefix, BlockIdentity{"b1", "writer-1", 10, 20, 0}, &cancel);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store.metered.snapshot().puts, 0u);
  cancel = false;
  auto built = w.Finish(store.metered, kPrefix, BlockIdentity{"b1", "writer-1", 10, 20, 0}, &cancel);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(store.metered.snapshot().puts, 3u);
}

TEST(BlockFormat, UnknownVersionsAreDataLoss) {
  for (uint32_t version : {kOldestListedFormatVersion - 1, kFormatVersion + 1}) {
    BlockMeta m;
    m.format_version = version;
    m.block_id = "old";
    for (int i = 1; i <= kSectionCount; ++i) m.sections.push_back({static_cast<SectionId>(i), 1, 0, 0, 0});
    auto r = DecodeMeta(EncodeMeta(m), "old/meta");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(r.status().message().find("unsupported block format version " + std::to_string(version)),
              std::string::npos)
        << r.status().ToString();
  }
}

// A version-2 meta decodes (same layout), so the block lists; its reader refuses every read.
TEST(BlockFormat, AVersion2BlockListsButIsNotRead) {
  Store store;
  const model::Traces input = model::RandomTraces(5, {});
  BlockMeta meta = Write(store.metered, input);
  meta.format_version = 2;
  auto decoded = DecodeMeta(EncodeMeta(meta), "b1/meta");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->format_version, 2u);
  BlockReader reader(&store.metered, kPrefix, *decoded, nullptr);
  model::Traces out;
  const Status read = reader.ReadTrace(TraceIds(input).front(), &out);
  EXPECT_EQ(read.code(), StatusCode::kDataLoss);
  EXPECT_NE(read.message().find("block format version 2 is no longer readable"), std::string::npos) << read.ToString();
  std::vector<query::TraceHit> hits;
  EXPECT_EQ(reader.FindTraces(query::SpanMatcher(query::TraceQuery{}), 10, &hits).code(), StatusCode::kDataLoss);
  EXPECT_TRUE(hits.empty());
  EXPECT_TRUE(out.resource_spans.empty());
}

// ---- reads and bytes on a large block ----

TEST(BlockMetering, SelectiveSearchAndTraceById) {
  bench::Workload w({.seed = 11});
  const model::Traces input = w.NextBatch(200'000);
  Store store;
  const BlockMeta meta = Write(store.metered, input);
  const uint64_t total = meta.data_size + meta.index_size;
  std::printf("block: %llu spans, %llu traces, %u pages, data %llu B, index %llu B (%.1f B/span)\n",
              static_cast<unsigned long long>(meta.span_count), static_cast<unsigned long long>(meta.trace_count),
              meta.page_count, static_cast<unsigned long long>(meta.data_size),
              static_cast<unsigned long long>(meta.index_size), static_cast<double>(total) / meta.span_count);
  auto head = MakeHead(input);

  // A span that carries a user ID (a value of a few traces) and a request ID (near-unique): the
  // 1000th such span, so that the target is not at the block's edge.
  const auto attribute = [](const model::Span& s, std::string_view key) -> std::string {
    for (const auto& kv : s.attributes)
      if (kv.key == key) return model::CanonicalString(kv.value);
    return "";
  };
  const model::Span* target = nullptr;
  const model::Resource* target_resource = nullptr;
  int seen = 0;
  for (const auto& rs : input.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& s : ss.spans)
        if (!attribute(s, "user.id").empty() && !attribute(s, "request.id").empty() && ++seen == 1000)
          target = &s, target_resource = &rs.resource;
  ASSERT_NE(target, nullptr);
  auto search = [&](const query::TraceQuery& q, const char* label) -> uint64_t {
    LruBlockCache cache(256 << 20);
    BlockReader reader(&store.metered, kPrefix, meta, &cache);
    store.metered.Reset();
    std::vector<query::TraceHit> got, want;
    const query::SpanMatcher m(q);
    EXPECT_TRUE(reader.FindTraces(m, 20, &got).ok());
    EXPECT_TRUE(head->FindTraces(m, 20, &want).ok());
    EXPECT_EQ(got.size(), want.size());
    EXPECT_GE(got.size(), 1u);
    if (got.size() != want.size()) return ~uint64_t{0};
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].trace_id, want[i].trace_id);
    std::printf("%s: %zu traces, %llu GETs, %llu B read = %.2f%% of the block\n", label, got.size(),
                static_cast<unsigned long long>(store.gets()), static_cast<unsigned long long>(store.bytes()),
                100.0 * static_cast<double>(store.bytes()) / static_cast<double>(total));
    return store.bytes();
  };
  query::TraceQuery q;
  q.service_name = std::string(model::ServiceName(*target_resource));
  q.attributes = {{"user.id", attribute(*target, "user.id")}};
  EXPECT_LT(search(q, "service + user.id"), total / 20);
  query::TraceQuery q2;
  q2.attributes = {{"request.id", attribute(*target, "request.id")}};
  EXPECT_LT(search(q2, "request.id (page blooms)"), total / 20);

  // Trace by ID: cold ≤ 2 GETs, warm 0.
  LruBlockCache cache(256 << 20);
  BlockReader reader(&store.metered, kPrefix, meta, &cache);
  store.metered.Reset();
  model::Traces cold, warm;
  ASSERT_TRUE(reader.ReadTrace(target->trace_id, &cold).ok());
  std::printf("trace by id cold: %llu GETs, %llu B\n", static_cast<unsigned long long>(store.gets()),
              static_cast<unsigned long long>(store.bytes()));
  EXPECT_LE(store.gets(), 2u);
  store.metered.Reset();
  ASSERT_TRUE(reader.ReadTrace(target->trace_id, &warm).ok());
  EXPECT_EQ(store.gets(), 0u);
  EXPECT_EQ(cold, warm);
  model::Traces from_head;
  ASSERT_TRUE(head->ReadTrace(target->trace_id, &from_head).ok());
  EXPECT_EQ(cold, from_head);
  // A second reader sharing the cache (the index is cached, the page too): 0 GETs.
  BlockReader again(&store.metered, kPrefix, meta, &cache);
  store.metered.Reset();
  model::Traces third;
  ASSERT_TRUE(again.ReadTrace(target->trace_id, &third).ok());
  EXPECT_EQ(store.gets(), 0u);
}

// ---- corruption ----

TEST(BlockCorruption, FlippedBytesGiveDataLossOrTheRightAnswer) {
  const model::Traces input = model::RandomTraces(5, {3, 2, 30, 12});
  BlockWriterOptions o;
  o.target_page_bytes = 2048;
  Store clean;
  const BlockMeta meta = Write(clean.metered, input, o);
  const auto ids = TraceIds(input);
  std::vector<query::TraceQuery> queries(4);
  queries[0].service_name = "service-1";
  queries[1].attributes = {{input.resource_spans[0].scope_spans[0].spans[0].attributes.empty()
                                ? "k1"
                                : input.resource_spans[0].scope_spans[0].spans[0].attributes[0].key,
                            "x"}};
  queries[2].operation_name = input.resource_spans[1].scope_spans[0].spans[0].name;
  queries[3].search_depth = 5;
  // The right answers, from the clean block.
  std::vector<model::Traces> want_traces(ids.size());
  std::vector<std::vector<query::TraceHit>> want_hits(queries.size());
  {
    BlockReader r(&clean.metered, kPrefix, meta, nullptr);
    for (size_t i = 0; i < ids.size(); ++i) ASSERT_TRUE(r.ReadTrace(ids[i], &want_traces[i]).ok());
    for (size_t i = 0; i < queries.size(); ++i)
      ASSERT_TRUE(r.FindTraces(query::SpanMatcher(queries[i]), queries[i].Limit(), &want_hits[i]).ok());
  }
  auto check = [](const Status& s) {
    if (!s.ok()) {
      EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
      EXPECT_NE(s.message().find("block b1"), std::string::npos) << s.ToString();
    }
    return s.ok();
  };
  int errors = 0, flips = 0;
  for (const char* object : {kDataObject, kIndexObject, kMetaObject}) {
    const std::string key = kPrefix + object;
    const std::string original = *clean.memory->Get(key);
    const size_t size = original.size();
    const size_t step = std::max<size_t>(1, size / 400);
    for (size_t off = 0; off < size; off += step) {
      Store store;
      for (const char* o2 : {kDataObject, kIndexObject, kMetaObject})
        ASSERT_TRUE(store.memory->Put(kPrefix + o2, *clean.memory->Get(kPrefix + o2)).ok());
      std::string flipped = original;
      flipped[off] ^= static_cast<char>(1 + off % 255);
      ASSERT_TRUE(store.memory->Put(key, flipped).ok());
      ++flips;
      auto m = ReadBlockMeta(store.metered, kPrefix);
      if (!m.ok()) {
        EXPECT_EQ(m.status().code(), StatusCode::kDataLoss);
        ++errors;
        continue;
      }
      LruBlockCache cache(1 << 20);
      BlockReader r(&store.metered, kPrefix, *m, &cache);
      std::vector<bool> read_alone(ids.size());
      for (size_t i = 0; i < ids.size(); ++i) {
        model::Traces got;
        read_alone[i] = check(r.ReadTrace(ids[i], &got));
        if (read_alone[i]) {
          EXPECT_EQ(got, want_traces[i]) << object << " offset " << off;
        } else {
          ++errors;
        }
      }
      // Read together, every trace gets the answer it got alone: damage past one trace's segment
      // does not fail it because another trace of its page was asked for too.
      const std::vector<Result<model::Traces>> together =
          BlockReader(&store.metered, kPrefix, *m, nullptr).ReadTraces(ids);
      for (size_t i = 0; i < ids.size(); ++i) {
        EXPECT_EQ(together[i].ok(), read_alone[i]) << object << " offset " << off << " trace " << i;
        if (together[i].ok() && read_alone[i]) {
          EXPECT_EQ(*together[i], want_traces[i]) << object << " offset " << off;
        }
      }
      for (size_t i = 0; i < queries.size(); ++i) {
        std::vector<query::TraceHit> got;
        if (check(r.FindTraces(query::SpanMatcher(queries[i]), queries[i].Limit(), &got))) {
          ASSERT_EQ(got.size(), want_hits[i].size()) << object << " offset " << off;
          for (size_t j = 0; j < got.size(); ++j) EXPECT_EQ(got[j].trace_id, want_hits[i][j].trace_id);
        } else {
          ++errors;
        }
      }
      std::set<std::string> services;
      query::DependencyCounts deps;
      std::set<query::Operation> ops;
      check(r.Services(&services));
      check(r.Operations("service-1", "", &ops));
      check(r.Dependencies(0, UINT64_MAX, &deps));
    }
  }
  std::printf("%d flips, %d errors reported\n", flips, errors);
  EXPECT_GT(errors, flips / 2);
}

// Verify reads every byte of data and index: an intact block has no problem and is read exactly
// once; every flipped byte of either object is found, as DATA_LOSS naming the block.
// A zstd frame that declares `size` bytes of content but holds one 8-byte RLE block: what a crafted
// block carries to make a reader that trusts the claim allocate `size` bytes.
std::string FrameClaiming(uint32_t size) {
  std::string frame = {'\x28', '\xb5', '\x2f', '\xfd', '\xe0'};  // magic; 8-byte size, one segment
  for (int i = 0; i < 8; ++i) frame += static_cast<char>(uint64_t{size} >> (8 * i));
  const uint32_t block = (8u << 3) | (1u << 1) | 1u;  // 8 bytes, RLE, last
  frame += {static_cast<char>(block), static_cast<char>(block >> 8), static_cast<char>(block >> 16), 'x'};
  return frame;
}

// Lets `edit` change the last column of the last page of a stored block (its frame and the raw
// length its directory entry claims), and re-checksums what that touches (directory, index, meta),
// as a crafted block would be.
void CraftLastColumn(objstore::ObjectStore& store, BlockMeta* meta,
                     const std::function<void(std::string* frame, uint32_t* raw)>& edit) {
  std::string index = *store.Get(kPrefix + kIndexObject), data = *store.Get(kPrefix + kDataObject);
  SectionRef* ref = nullptr;
  for (auto& s : meta->sections)
    if (s.id == SectionId::kPages) ref = &s;
  ASSERT_NE(ref, nullptr);
  auto payload = UnframeSection(std::string_view(index).substr(ref->offset, ref->length), SectionId::kPages, "pages");
  ASSERT_TRUE(payload.ok());
  // Page entries (docs/format/block.md §2.2) follow the varint count; per column, from byte 45 of
  // its entry: u32 compressed length, u32 raw length, u32 checksum32.
  const size_t entry_bytes = 45 + 12 * kColumnCount;
  const size_t last = payload->size() - entry_bytes;
  const auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>((*payload)[at + i])} << (8 * i);
    return v;
  };
  const auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) (*payload)[at + i] = static_cast<char>(v >> (8 * i));
  };
  int c = kColumnCount - 1;
  while (u32(last + 45 + 12 * c) == 0) --c;  // the last column with bytes ends the data object
  const size_t col = last + 45 + 12 * c;
  std::string frame = data.substr(data.size() - u32(col));
  uint32_t raw = u32(col + 4);
  edit(&frame, &raw);
  data.resize(data.size() - u32(col));
  data += frame;
  put32(last + 8, u32(last + 8) - u32(col) + static_cast<uint32_t>(frame.size()));  // page length
  put32(col, static_cast<uint32_t>(frame.size()));
  put32(col + 4, raw);
  put32(col + 8, Checksum32(frame));
  const std::string section = FrameSection(SectionId::kPages, *payload, true, 3);
  index.replace(ref->offset, ref->length, section);
  const int64_t grown = static_cast<int64_t>(section.size()) - static_cast<int64_t>(ref->length);
  for (auto& s : meta->sections)
    if (s.offset > ref->offset) s.offset += grown;
  ref->length = section.size();
  ref->checksum = Checksum64(section);
  meta->index_size = index.size();
  meta->data_size = data.size();
  ASSERT_TRUE(store.Put(kPrefix + kIndexObject, index).ok());
  ASSERT_TRUE(store.Put(kPrefix + kDataObject, data).ok());
  ASSERT_TRUE(store.Put(kPrefix + kMetaObject, EncodeMeta(*meta)).ok());
}

// A crafted page that claims 1.5 GiB decoded (its frame says so too) makes the block DATA_LOSS
// naming the cap, for every question, before any page is fetched or decoded. The same crafting
// that leaves the column as it was gives a block that reads exactly (the crafting is sound).
TEST(BlockCorruption, APageDecodingPastTheCapIsDataLossNotAnAllocation) {
  const model::Traces input = model::RandomTraces(5, {3, 2, 30, 12});
  BlockWriterOptions o;
  o.target_page_bytes = 2048;
  const auto ids = TraceIds(input);
  {
    Store store;
    BlockMeta meta = Write(store.metered, input, o);
    CraftLastColumn(*store.memory, &meta, [](std::string* frame, uint32_t* raw) {
      *frame = FrameClaiming(3u << 29);
      *raw = 3u << 29;
    });
    BlockReader r(&store.metered, kPrefix, meta, nullptr);
    const uint64_t gets = store.gets();
    model::Traces trace;
    const Status read = r.ReadTrace(ids.back(), &trace);
    EXPECT_EQ(read.code(), StatusCode::kDataLoss);
    EXPECT_NE(read.message().find(" bytes, more than limits.max_decoded_page_size (67108864)"), std::string::npos)
        << read.message();
    std::vector<query::TraceHit> hits;
    EXPECT_EQ(r.FindTraces(query::SpanMatcher(query::TraceQuery{}), 10, &hits).code(), StatusCode::kDataLoss);
    EXPECT_LE(store.gets() - gets, 2u);  // the meta and the index, never a page
  }
  {
    Store store;
    BlockMeta meta = Write(store.metered, input, o);
    CraftLastColumn(*store.memory, &meta, [](std::string*, uint32_t*) {});
    BlockReader r(&store.metered, kPrefix, meta, nullptr);
    for (const auto& id : ids) {
      model::Traces trace;
      ASSERT_TRUE(r.ReadTrace(id, &trace).ok());
      EXPECT_TRUE(SameMultiset(Flatten(trace, &id), Flatten(input, &id)));
    }
  }
}

// A trace read that needs more decoded bytes from one block than the trace cap is DATA_LOSS for
// that read, naming the cap; a smaller trace of the same block is read.
TEST(BlockCorruption, ATraceReadPastTheCapIsDataLoss) {
  model::Traces input = model::RandomTraces(3, {1, 1, 400, 1});  // one trace over many pages
  const model::Traces small = model::RandomTraces(4, {1, 1, 2, 1});
  input.resource_spans.push_back(small.resource_spans[0]);
  BlockWriterOptions o;
  o.target_page_bytes = 2048;
  Store store;
  const BlockMeta meta = Write(store.metered, input, o);
  BlockReaderOptions capped;
  capped.max_trace_bytes = 16 << 10;
  BlockReader r(&store.metered, kPrefix, meta, nullptr, capped);
  model::Traces trace;
  const Status big = r.ReadTrace(
      TraceIds(input).front() == TraceIds(small).front() ? TraceIds(input).back() : TraceIds(input).front(), &trace);
  EXPECT_EQ(big.code(), StatusCode::kDataLoss);
  EXPECT_NE(big.message().find("more than limits.max_decoded_trace_size (16384)"), std::string::npos) << big.message();
  model::Traces little;
  ASSERT_TRUE(r.ReadTrace(TraceIds(small).front(), &little).ok());
  EXPECT_EQ(little.SpanCount(), 2u);
}

TEST(BlockVerify, IntactHasNoProblemAndEveryFlippedByteIsFound) {
  const model::Traces input = model::RandomTraces(11, {3, 2, 30, 12});
  BlockWriterOptions o;
  o.target_page_bytes = 2048;
  Store clean;
  const BlockMeta meta = Write(clean.metered, input, o);
  ASSERT_GT(meta.page_count, 3u);
  {
    BlockReader r(&clean.metered, kPrefix, meta, nullptr);
    uint64_t read = 0;
    const std::vector<Status> problems = r.Verify([&](uint64_t n) { read += n; });
    for (const auto& p : problems) ADD_FAILURE() << p.ToString();
    EXPECT_EQ(read, meta.data_size + meta.index_size);
  }
  int flips = 0;
  for (const char* object : {kDataObject, kIndexObject}) {
    const std::string original = *clean.memory->Get(kPrefix + object);
    for (size_t off = 0; off < original.size(); off += std::max<size_t>(1, original.size() / 300)) {
      Store store;
      for (const char* o2 : {kDataObject, kIndexObject, kMetaObject})
        ASSERT_TRUE(store.memory->Put(kPrefix + o2, *clean.memory->Get(kPrefix + o2)).ok());
      std::string flipped = original;
      flipped[off] ^= static_cast<char>(1 + off % 255);
      ASSERT_TRUE(store.memory->Put(kPrefix + object, flipped).ok());
      ++flips;
      BlockReader r(&store.metered, kPrefix, meta, nullptr);
      const std::vector<Status> problems = r.Verify([](uint64_t) {});
      ASSERT_FALSE(problems.empty()) << object << " offset " << off << " flipped, and Verify found nothing";
      for (const auto& p : problems) {
        EXPECT_EQ(p.code(), StatusCode::kDataLoss) << p.ToString();
        EXPECT_NE(p.message().find("block b1"), std::string::npos) << p.ToString();
      }
      // Describe reads every index section (no page): a flipped index byte fails it the same way.
      if (std::string_view(object) == kIndexObject) {
        BlockLayout layout;
        const Status described = r.Describe(&layout);
        EXPECT_EQ(described.code(), StatusCode::kDataLoss) << "offset " << off << ": " << described.ToString();
      }
    }
  }
  EXPECT_GT(flips, 500);
  // The meta is checked where it is read (verify reads it before the block): every flipped byte
  // of it is DATA_LOSS naming the object.
  const std::string meta_bytes = *clean.memory->Get(kPrefix + kMetaObject);
  for (size_t off = 0; off < meta_bytes.size(); ++off) {
    std::string flipped = meta_bytes;
    flipped[off] ^= static_cast<char>(1 + off % 255);
    Store store;
    ASSERT_TRUE(store.memory->Put(kPrefix + kMetaObject, flipped).ok());
    const auto read = ReadBlockMeta(store.metered, kPrefix);
    ASSERT_FALSE(read.ok()) << "meta offset " << off << " flipped, and the meta was accepted";
    EXPECT_EQ(read.status().code(), StatusCode::kDataLoss) << read.status().ToString();
    EXPECT_NE(read.status().message().find(kMetaObject), std::string::npos) << read.status().ToString();
  }
  // A missing page object is a problem too, not a crash.
  Store gone;
  ASSERT_TRUE(gone.memory->Put(kPrefix + kIndexObject, *clean.memory->Get(kPrefix + kIndexObject)).ok());
  BlockReader r(&gone.metered, kPrefix, meta, nullptr);
  EXPECT_FALSE(r.Verify([](uint64_t) {}).empty());
}

// Describe accounts for every byte of index and data and names the block's services.
TEST(BlockVerify, DescribeAddsUpToTheObjects) {
  const model::Traces input = model::RandomTraces(12, {3, 2, 30, 12});
  Store store;
  const BlockMeta meta = Write(store.metered, input);
  BlockReader r(&store.metered, kPrefix, meta, nullptr);
  BlockLayout layout;
  ASSERT_TRUE(r.Describe(&layout).ok());
  ASSERT_EQ(layout.sections.size(), 8u);
  ASSERT_EQ(layout.columns.size(), static_cast<size_t>(kColumnCount));
  uint64_t index = 0, data = 0, data_raw = 0;
  for (const auto& s : layout.sections) {
    index += s.stored_bytes;
    if (s.encoding == "raw") {
      EXPECT_EQ(s.raw_bytes, s.stored_bytes) << s.name;
    }
  }
  for (const auto& c : layout.columns) {
    data += c.stored_bytes;
    data_raw += c.raw_bytes;
  }
  EXPECT_EQ(index, meta.index_size);
  EXPECT_EQ(data, meta.data_size);
  EXPECT_GT(data_raw, data);
  std::set<std::string> services;
  ASSERT_TRUE(r.Services(&services).ok());
  std::set<std::string> described;
  for (const auto& s : layout.services)
    if (!s.empty()) described.insert(s);  // Services() leaves the empty name out
  EXPECT_EQ(described, services);
  EXPECT_GT(layout.operations, 0u);
}

// Trace by ID decodes only its trace's segment of a page, passing the earlier traces' values in
// the per-key runs. Every trace of pages holding many traces comes back exactly: traces at page
// starts and ends, a trace split over several pages, spans with events and links, values packed
// as repeats and templates whose previous value belongs to an earlier trace of the page.
// 80 traces of 1 to 7 spans over two resources, and trace 40 of 700 spans, which alone exceeds a
// page of 4 KiB: values repeated across traces, events and links on every third span.
model::Traces TracesSharingPages() {
  model::Traces input;
  input.resource_spans.resize(2);
  for (int r = 0; r < 2; ++r) {
    input.resource_spans[r].resource.attributes = {
        {"service.name", model::AnyValue::String("svc" + std::to_string(r))}};
    input.resource_spans[r].scope_spans.resize(1);
  }
  for (int t = 0; t < 80; ++t) {
    const int spans = t == 40 ? 700 : 1 + t % 7;  // trace 40 alone exceeds a page
    for (int i = 0; i < spans; ++i) {
      model::Span s;
      s.trace_id = model::TraceId{static_cast<uint8_t>(t + 1), 0x5a};
      s.span_id = model::SpanId{static_cast<uint8_t>(i + 1), static_cast<uint8_t>(i >> 8), 1};
      if (i > 0) s.parent_span_id = model::SpanId{static_cast<uint8_t>(i), static_cast<uint8_t>((i - 1) >> 8), 1};
      s.start_time_unix_nano = 1'000'000 + static_cast<uint64_t>(t) * 1000 + static_cast<uint64_t>(i);
      s.end_time_unix_nano = s.start_time_unix_nano + 50 + static_cast<uint64_t>(i % 13);
      s.name = "op" + std::to_string(i % 4);
      s.attributes = {{"user.id", model::AnyValue::String("same-user")},  // a repeat across traces
                      {"http.url", model::AnyValue::String("/item/" + std::to_string(t * 1000 + i) + "/x")},
                      {"request.id", model::AnyValue::String("ab" + std::to_string(t) + "cd")},
                      {"n", model::AnyValue::Int(i - t)}};
      if (i % 3 == 1) {
        s.events.push_back({s.start_time_unix_nano + 1, "ev", {{"http.url", model::AnyValue::String("/ev/1")}}, 0});
        s.links.push_back({model::TraceId{static_cast<uint8_t>(t)},
                           model::SpanId{1},
                           "ts=1",
                           {{"user.id", model::AnyValue::String("linked")}},
                           2,
                           0});
      }
      if (i % 5 == 2) s.status = {model::StatusCode::kError, "failed " + std::to_string(t)};
      input.resource_spans[static_cast<size_t>(i % 2)].scope_spans[0].spans.push_back(std::move(s));
    }
  }
  return input;
}

TEST(BlockTraceById, SegmentOfAPageExactAtStartsEndsAndSplits) {
  const model::Traces input = TracesSharingPages();
  for (bool all_inline : {false, true}) {
    Store store;
    BlockWriterOptions o;
    o.target_page_bytes = 4096;
    if (all_inline) o.high_card_min_distinct = 1, o.high_card_min_ratio = 0, o.inline_min_ratio = 0;
    const BlockMeta meta = Write(store.metered, input, o);
    ASSERT_GT(meta.page_count, 20u);  // many traces per page, and the large one split
    LruBlockCache cache(64 << 20);
    BlockReader reader(&store.metered, kPrefix, meta, &cache);
    auto head = MakeHead(input);
    for (const auto& id : TraceIds(input)) {
      model::Traces got, want;
      const Status st = reader.ReadTrace(id, &got);
      ASSERT_TRUE(st.ok()) << st.ToString();
      ASSERT_TRUE(head->ReadTrace(id, &want).ok());
      ASSERT_EQ(got, want) << "trace " << static_cast<int>(id[0]) << (all_inline ? " (all inline)" : "");
    }
  }
}

// `input` in pages of 4 KiB.
BlockMeta WriteInSmallPages(Store& store, const model::Traces& input) {
  BlockWriterOptions o;
  o.target_page_bytes = 4096;
  return Write(store.metered, input, o);
}

// A batch decodes each page once, however many of its traces it asks for, and gives each trace as
// a read of it alone does; a trace the block does not hold comes back empty.
TEST(BlockTraceById, ABatchDecodesEachPageOnceAndMatchesSingleReads) {
  const model::Traces input = TracesSharingPages();
  Store store;
  const BlockMeta meta = WriteInSmallPages(store, input);
  const std::vector<model::TraceId> ids = TraceIds(input);
  ASSERT_LT(meta.page_count, ids.size());                      // pages hold several traces
  BlockReader reader(&store.metered, kPrefix, meta, nullptr);  // no cache: a page decoded is a GET
  model::Traces first;
  ASSERT_TRUE(reader.ReadTrace(ids.front(), &first).ok());      // the index sections, kept by the reader
  std::vector<model::TraceId> asked(ids.rbegin(), ids.rend());  // any order
  const model::TraceId unknown{0xee, 0xee};
  asked.insert(asked.begin() + 3, unknown);
  asked.push_back(ids[5]);  // asked twice: read once, answered whole twice
  const uint64_t before = store.gets();
  std::vector<Result<model::Traces>> got = reader.ReadTraces(asked);
  EXPECT_EQ(store.gets() - before, meta.page_count) << "every page once";
  ASSERT_EQ(got.size(), asked.size());
  auto head = MakeHead(input);
  for (size_t k = 0; k < asked.size(); ++k) {
    ASSERT_TRUE(got[k].ok()) << got[k].status().ToString();
    model::Traces want;
    ASSERT_TRUE(head->ReadTrace(asked[k], &want).ok());
    EXPECT_EQ(*got[k], want) << "trace " << static_cast<int>(asked[k][0]);
  }
  EXPECT_EQ(got[3]->SpanCount(), 0u);
}

// Damage behind valid checksums (the block unsealed, changed and sealed again, as the fuzz target
// does): the second trace of the first page has a malformed segment. Read together with the first
// trace, only the second fails; the first reads as it does alone, where the decoder stops after
// its segment.
TEST(BlockTraceById, DamageAfterATracesSegmentFailsOnlyTheTracesFromThere) {
  const model::Traces input = TracesSharingPages();
  Store store;
  WriteInSmallPages(store, input);
  fuzz::BlockImage sealed{*store.memory->Get(kPrefix + kMetaObject), *store.memory->Get(kPrefix + kIndexObject),
                          *store.memory->Get(kPrefix + kDataObject)};
  fuzz::BlockImage image;
  ASSERT_TRUE(fuzz::Unseal(sealed, &image));
  // The first page's `traces` column opens the plain data: (span count, start offset 0) of trace
  // ordinal 0, each one byte, then the span count of ordinal 1, which 0 makes malformed.
  ASSERT_GT(image.data.size(), 2u);
  ASSERT_NE(image.data[2], '\0');
  image.data[2] = '\0';
  sealed = fuzz::Seal(image);
  for (const auto& [object, bytes] : {std::pair{kMetaObject, &sealed.meta}, std::pair{kIndexObject, &sealed.index},
                                      std::pair{kDataObject, &sealed.data}})
    ASSERT_TRUE(store.memory->Put(kPrefix + object, *bytes).ok());
  auto resealed = ReadBlockMeta(store.metered, kPrefix);
  ASSERT_TRUE(resealed.ok()) << resealed.status().ToString();
  const std::vector<model::TraceId> ids = TraceIds(input);  // by ID: ordinals 0 and 1 are t = 0, 1
  BlockReader reader(&store.metered, kPrefix, *resealed, nullptr);
  const std::vector<Result<model::Traces>> together = reader.ReadTraces({ids[0], ids[1]});
  auto head = MakeHead(input);
  model::Traces want;
  ASSERT_TRUE(head->ReadTrace(ids[0], &want).ok());
  ASSERT_TRUE(together[0].ok()) << together[0].status().ToString();
  EXPECT_EQ(*together[0], want);
  EXPECT_EQ(together[1].status().code(), StatusCode::kDataLoss) << together[1].status().ToString();
  model::Traces alone;
  ASSERT_TRUE(reader.ReadTrace(ids[0], &alone).ok());
  EXPECT_EQ(alone, want);
}

// A damaged page fails, in a batch, only the traces it holds.
TEST(BlockTraceById, ADamagedPageFailsOnlyItsTracesInABatch) {
  const model::Traces input = TracesSharingPages();
  Store store;
  const BlockMeta meta = WriteInSmallPages(store, input);
  const std::string data_key = kPrefix + kDataObject;
  std::string data = *store.memory->Get(data_key);
  data[data.size() / 2] ^= 0x40;  // inside some page's columns: its checksum no longer matches
  ASSERT_TRUE(store.memory->Put(data_key, data).ok());
  BlockReader reader(&store.metered, kPrefix, meta, nullptr);
  const std::vector<model::TraceId> ids = TraceIds(input);
  std::vector<Result<model::Traces>> got = reader.ReadTraces(ids);
  ASSERT_EQ(got.size(), ids.size());
  auto head = MakeHead(input);
  size_t failed = 0;
  for (size_t k = 0; k < ids.size(); ++k) {
    if (!got[k].ok()) {
      EXPECT_EQ(got[k].status().code(), StatusCode::kDataLoss) << got[k].status().ToString();
      ++failed;
      continue;
    }
    model::Traces want;
    ASSERT_TRUE(head->ReadTrace(ids[k], &want).ok());
    EXPECT_EQ(*got[k], want) << "trace " << static_cast<int>(ids[k][0]);
  }
  EXPECT_GE(failed, 1u);
  EXPECT_LT(failed, ids.size() / 4) << "a page holds a few traces, not the block's";
}

}  // namespace
}  // namespace tb::block
