#include "ingest/ingester.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "model/random_traces.h"
#include "wire/otlp_codec.h"

namespace tb::ingest {
namespace {

using model::AnyValue;

model::Traces OneSpan(uint8_t trace, uint8_t span) {
  model::Traces t;
  t.resource_spans.resize(1);
  t.resource_spans[0].resource.attributes = {{"service.name", AnyValue::String("svc")}};
  t.resource_spans[0].scope_spans.resize(1);
  model::Span s;
  s.trace_id[15] = trace;
  s.span_id[7] = span;
  s.name = "op";
  t.resource_spans[0].scope_spans[0].spans.push_back(s);
  return t;
}

class IngesterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("tb_ingest_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Opens a fresh head over the WAL in dir_, replaying what is there.
  void Open(uint64_t budget = 1ull << 30, Limits limits = {}, SpanRateLimiter::Clock clock = {}) {
    ingester_.reset();
    if (wal_) {
      ASSERT_TRUE(wal_->Close().ok());
    }
    wal_.reset();
    head_ = std::make_shared<head::Head>(head::Options{budget, nullptr});
    wal::Options options;
    options.dir = dir_.string();
    wal::ReplayStats stats;
    auto wal = Ingester::RecoverWal(options, covered_through_, expired_before_, &expired_spans_, head_.get(), &stats);
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    wal_ = std::move(*wal);
    ingester_ =
        std::make_unique<Ingester>(limits, head_, wal_.get(), admission_, Ingester::AfterWrite{}, std::move(clock));
  }

  // Closes the WAL and returns every record payload in it.
  std::vector<std::string> WalPayloads() {
    ingester_.reset();
    if (wal_) {
      EXPECT_TRUE(wal_->Close().ok());
    }
    wal_.reset();
    std::vector<std::string> payloads;
    wal::Options options;
    options.dir = dir_.string();
    auto wal = wal::Wal::Open(
        options,
        [&](uint64_t, std::string_view payload) {
          payloads.emplace_back(payload);
          return Status::Ok();
        },
        nullptr);
    EXPECT_TRUE(wal.ok()) << wal.status().ToString();
    return payloads;
  }

  std::filesystem::path dir_;
  uint64_t covered_through_ = 0;  // WAL records a block would already hold
  uint64_t expired_before_ = 0;   // retention: spans that started earlier are not replayed
  uint64_t expired_spans_ = 0;    // how many the last replay dropped
  std::shared_ptr<head::Head> head_;
  std::unique_ptr<wal::Wal> wal_;
  // Swaps in a head whose budget has room for `held` but not for `next` beside it, and writes `held`.
  std::shared_ptr<head::MemoryBudget> FillHead(const model::Traces& held, const model::Traces& next) {
    auto budget = std::make_shared<head::MemoryBudget>(head::EstimateMemory(held) + head::EstimateMemory(next) - 1);
    ingester_->Cut(std::make_shared<head::Head>(head::Options{0, budget}));
    EXPECT_TRUE(ingester_->Ingest(model::Traces(held)).ok());
    return budget;
  }

  std::unique_ptr<Ingester> ingester_;
  Admission admission_;  // of the next Open
};

TEST_F(IngesterTest, AcknowledgedSpansSurviveReopenExactly) {
  Open();
  model::Traces batch = model::RandomTraces(11);
  model::Traces copy = batch;
  auto r = ingester_->Ingest(std::move(batch));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->accepted_spans, copy.SpanCount());
  EXPECT_EQ(r->rejected_spans, 0u);
  Open();
  EXPECT_EQ(head_->Stats().spans, copy.SpanCount());
  // Every span comes back with its resource and scope, compared trace by trace.
  std::set<model::TraceId> ids;
  for (const auto& rs : copy.resource_spans)
    for (const auto& ss : rs.scope_spans)
      for (const auto& s : ss.spans) ids.insert(s.trace_id);
  size_t spans = 0;
  for (const auto& id : ids) {
    model::Traces t;
    ASSERT_TRUE(head_->ReadTrace(id, &t).ok());
    for (const auto& rs : t.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& s : ss.spans) {
          ++spans;
          bool found = false;
          for (const auto& crs : copy.resource_spans)
            for (const auto& css : crs.scope_spans)
              for (const auto& cs : css.spans) found |= cs == s && crs.resource == rs.resource && css.scope == ss.scope;
          EXPECT_TRUE(found);
        }
  }
  EXPECT_EQ(spans, copy.SpanCount());
}

// An unknown field (number 99, varint 1) appended to an encoded request: protobuf parsers keep or
// skip it, and only the received bytes carry it.
std::string WithUnknownField(std::string encoded) { return encoded + std::string("\x98\x06\x01", 3); }

TEST_F(IngesterTest, ReceivedBytesBecomeTheWalRecordWhenNoLimitChangesTheBatch) {
  Open();
  model::Traces batch = model::RandomTraces(5);
  const model::Traces copy = batch;
  const std::string received = WithUnknownField(wire::EncodeOtlpProtobuf(batch));
  ASSERT_TRUE(ingester_->Ingest(std::move(batch), received).ok());
  const std::vector<std::string> payloads = WalPayloads();
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0], received);
  auto replayed = wire::DecodeOtlpProtobuf(payloads[0]);
  ASSERT_TRUE(replayed.ok());
  EXPECT_EQ(*replayed, copy);
}

TEST_F(IngesterTest, ATrimmedBatchIsEncodedAgainForTheWal) {
  Limits limits;
  limits.max_attributes_per_span = 1;
  Open(1ull << 30, limits);
  model::Traces batch = OneSpan(1, 1);
  batch.resource_spans[0].scope_spans[0].spans[0].attributes = {{"a", AnyValue::Int(1)}, {"b", AnyValue::Int(2)}};
  const std::string received = WithUnknownField(wire::EncodeOtlpProtobuf(batch));
  ASSERT_TRUE(ingester_->Ingest(std::move(batch), received).ok());
  const std::vector<std::string> payloads = WalPayloads();
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_NE(payloads[0], received);
  auto replayed = wire::DecodeOtlpProtobuf(payloads[0]);
  ASSERT_TRUE(replayed.ok());
  const model::Span& span = replayed->resource_spans[0].scope_spans[0].spans[0];
  EXPECT_EQ(span.attributes.size(), 1u);
  EXPECT_EQ(span.dropped_attributes_count, 1u);
}

TEST_F(IngesterTest, ThePartialSuccessMessageNamesEveryLimitThatCut) {
  Limits limits;
  limits.max_string_bytes = 4;
  limits.max_array_values = 1;
  limits.max_attribute_value_bytes = 2;
  Open(1ull << 30, limits);
  model::Traces batch = OneSpan(1, 1);
  auto& span = batch.resource_spans[0].scope_spans[0].spans[0];
  span.name = "GET /a/very/long/route";
  // With the resource's "service.name": "svc", two values and two strings are cut.
  span.attributes = {{"v", AnyValue::String("abc")}, {"a", AnyValue::Array({AnyValue::Int(1), AnyValue::Int(2)})}};
  auto result = ingester_->Ingest(std::move(batch));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->accepted_spans, 1u);
  EXPECT_NE(result->message.find("2 attribute values truncated to 2 bytes (limits.max_attribute_value_size)"),
            std::string::npos)
      << result->message;
  EXPECT_NE(result->message.find("2 names, keys or other strings truncated to 4 bytes (limits.max_string_size)"),
            std::string::npos)
      << result->message;
  EXPECT_NE(result->message.find("1 array or key-value-list elements dropped beyond 1 (limits.max_array_values)"),
            std::string::npos)
      << result->message;
  model::Traces stored;
  ASSERT_TRUE(head_->ReadTrace(span.trace_id, &stored).ok());
  EXPECT_EQ(stored.resource_spans[0].scope_spans[0].spans[0].name, "GET ");
}

TEST_F(IngesterTest, FullHeadRefusesBeforeTheWal) {
  Open(/*budget=*/1);
  auto r = ingester_->Ingest(OneSpan(1, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  Open();
  EXPECT_EQ(head_->Stats().spans, 0u);  // nothing refused was made durable
}

TEST_F(IngesterTest, SpansBeyondTheTraceLimitAreRejectedAndCounted) {
  Limits limits;
  limits.max_spans_per_trace = 3;
  Open(1ull << 30, limits);
  ASSERT_TRUE(ingester_->Ingest(OneSpan(1, 1)).ok());
  model::Traces batch = OneSpan(1, 2);
  auto& spans = batch.resource_spans[0].scope_spans[0].spans;
  spans.push_back(spans[0]);
  spans.push_back(spans[0]);
  spans.push_back(OneSpan(2, 1).resource_spans[0].scope_spans[0].spans[0]);
  auto r = ingester_->Ingest(std::move(batch));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted_spans, 3u);
  EXPECT_EQ(r->rejected_spans, 1u);
  EXPECT_NE(r->message.find("limit of 3 spans per trace"), std::string::npos);
  EXPECT_EQ(head_->SpanCount(model::TraceId{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), 3u);
}

// N spans of one trace each, trace IDs from `first`.
model::Traces SpansOfTraces(uint8_t first, int n) {
  model::Traces t = OneSpan(first, 1);
  for (int i = 1; i < n; ++i)
    t.resource_spans[0].scope_spans[0].spans.push_back(
        OneSpan(static_cast<uint8_t>(first + i), 1).resource_spans[0].scope_spans[0].spans[0]);
  return t;
}

TEST_F(IngesterTest, IngestRateRefusesBeyondTheBurstAndRefillsWithTime) {
  Limits limits;
  limits.ingest_spans_per_second = 10;
  limits.ingest_burst_spans = 20;
  auto now = std::chrono::steady_clock::time_point(std::chrono::seconds(100));
  Open(1ull << 30, limits, [&] { return now; });
  ASSERT_TRUE(ingester_->Ingest(SpansOfTraces(1, 15)).ok());  // 20 → 5
  auto refused = ingester_->Ingest(SpansOfTraces(30, 6));     // 5 < 6
  ASSERT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("10 spans/s with a burst of 20"), std::string::npos)
      << refused.status().message();
  ASSERT_TRUE(ingester_->Ingest(SpansOfTraces(30, 5)).ok());  // 5 → 0
  EXPECT_EQ(ingester_->CheckCapacity().code(), StatusCode::kResourceExhausted);
  now += std::chrono::milliseconds(500);  // +5
  EXPECT_TRUE(ingester_->CheckCapacity().ok());
  EXPECT_EQ(ingester_->Ingest(SpansOfTraces(40, 6)).status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(ingester_->Ingest(SpansOfTraces(40, 5)).ok());
  // Only what was acknowledged is stored: 15 + 5 + 5 spans.
  EXPECT_EQ(head_->Stats().spans, 25u);
  EXPECT_EQ(WalPayloads().size(), 3u);
}

TEST_F(IngesterTest, ABatchLargerThanTheBurstPassesOnceTheBucketIsFullAndLeavesADebt) {
  Limits limits;
  limits.ingest_spans_per_second = 10;  // burst 0: one second's spans, 10
  auto now = std::chrono::steady_clock::time_point(std::chrono::seconds(100));
  Open(1ull << 30, limits, [&] { return now; });
  ASSERT_TRUE(ingester_->Ingest(SpansOfTraces(1, 30)).ok());  // 10 → -20
  EXPECT_EQ(ingester_->Ingest(SpansOfTraces(50, 1)).status().code(), StatusCode::kResourceExhausted);
  now += std::chrono::seconds(2);  // -20 → 0: still nothing
  EXPECT_EQ(ingester_->Ingest(SpansOfTraces(50, 1)).status().code(), StatusCode::kResourceExhausted);
  now += std::chrono::milliseconds(100);  // → 1
  EXPECT_TRUE(ingester_->Ingest(SpansOfTraces(50, 1)).ok());
  // Over 2.1 s at 10 spans/s with a first burst of 10: 31 spans, the rate's own figure.
  EXPECT_EQ(head_->Stats().spans, 31u);
}

TEST_F(IngesterTest, SpansTheHeadRefusesDoNotUseUpTheRate) {
  Limits limits;
  limits.ingest_spans_per_second = 10;
  auto now = std::chrono::steady_clock::time_point(std::chrono::seconds(100));
  Open(1, limits, [&] { return now; });  // a head with no room
  for (int i = 0; i < 5; ++i)
    EXPECT_NE(ingester_->Ingest(SpansOfTraces(1, 10)).status().message().find("head memory budget full"),
              std::string::npos);
  Open(1ull << 30, limits, [&] { return now; });
  EXPECT_TRUE(ingester_->Ingest(SpansOfTraces(1, 10)).ok());
}

// A write that finds the heads' budget used up waits for a flush to free memory, instead of being
// refused at once; it waits without holding the head, whose memory only comes back once nothing
// holds it, and outside the exclusion, which the flush's cut needs.
TEST_F(IngesterTest, AWriteToAFullHeadWaitsUntilAFlushFreesItsMemory) {
  admission_.wait = std::chrono::seconds(30);
  Open();
  const model::Traces first = SpansOfTraces(1, 10), second = SpansOfTraces(20, 10);
  const auto budget = FillHead(first, second);
  const auto start = std::chrono::steady_clock::now();
  auto waiting = std::async(
      std::launch::async, [&] { return ingester_->Ingest(model::Traces(second), {}, ingester_->AdmissionDeadline()); });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  // Without a deadline, the door's default, a write is refused at once.
  EXPECT_EQ(ingester_->Ingest(SpansOfTraces(40, 10)).status().code(), StatusCode::kResourceExhausted);
  // The flush: the full head is cut, then dropped once its block is stored.
  CutHead cut = ingester_->Cut(std::make_shared<head::Head>(head::Options{0, budget}));
  EXPECT_EQ(cut.head->Stats().spans, 10u);
  cut.head.reset();
  auto r = waiting.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));  // woken, not timed out
  EXPECT_EQ(ingester_->active_head()->Stats().spans, 10u);
  EXPECT_EQ(WalPayloads().size(), 2u);
}

TEST_F(IngesterTest, AWriteIsRefusedWhenTheHeadStaysFullForTheAdmissionWait) {
  admission_.wait = std::chrono::milliseconds(300);
  prometheus::Histogram waits({0.1, 1, 10});
  admission_.wait_seconds = metrics::HistogramRef(&waits);
  Open();
  const model::Traces first = SpansOfTraces(1, 10), second = SpansOfTraces(20, 10);
  FillHead(first, second);
  const auto start = std::chrono::steady_clock::now();
  auto refused = ingester_->Ingest(model::Traces(second), {}, ingester_->AdmissionDeadline());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_GE(std::chrono::steady_clock::now() - start, admission_.wait);
  EXPECT_EQ(ingester_->active_head()->Stats().spans, 10u);
  // The wait is observed once, refusal and all.
  const prometheus::ClientMetric observed = waits.Collect();
  EXPECT_EQ(observed.histogram.sample_count, 1u);
  EXPECT_GE(observed.histogram.sample_sum, 0.3);
  // A batch larger than the whole budget can never fit: refused without waiting.
  admission_.wait = std::chrono::seconds(30);
  Open(1);
  const auto again = std::chrono::steady_clock::now();
  EXPECT_EQ(ingester_->Ingest(SpansOfTraces(1, 10), {}, ingester_->AdmissionDeadline()).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::seconds(10));
}

// The door's check before decoding waits too, until the head is no longer used up, and within the
// deadline it is given: the client's, when that comes before the admission wait's end.
TEST_F(IngesterTest, TheCapacityCheckWaitsForRoomWithinTheDeadlineItIsGiven) {
  admission_.wait = std::chrono::seconds(30);
  Open();
  const model::Traces first = SpansOfTraces(1, 10);
  auto budget = std::make_shared<head::MemoryBudget>(head::EstimateMemory(first));  // exactly full
  ingester_->Cut(std::make_shared<head::Head>(head::Options{0, budget}));
  ASSERT_TRUE(ingester_->Ingest(model::Traces(first)).ok());
  EXPECT_EQ(ingester_->CheckCapacity().code(), StatusCode::kResourceExhausted);
  const auto start = std::chrono::steady_clock::now();
  const auto client_deadline = start + std::chrono::milliseconds(200);
  EXPECT_EQ(ingester_->CheckCapacity(ingester_->AdmissionDeadline(client_deadline)).code(),
            StatusCode::kResourceExhausted);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  EXPECT_LT(waited, std::chrono::seconds(10));
  auto waiting =
      std::async(std::launch::async, [&] { return ingester_->CheckCapacity(ingester_->AdmissionDeadline()); });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  ingester_->Cut(std::make_shared<head::Head>(head::Options{0, budget})).head.reset();
  EXPECT_TRUE(waiting.get().ok());
}

TEST_F(IngesterTest, PurgeDeletesDurableData) {
  Open();
  ASSERT_TRUE(ingester_->Ingest(OneSpan(1, 1)).ok());
  ASSERT_TRUE(ingester_->Purge().ok());
  EXPECT_EQ(head_->Stats().spans, 0u);
  ASSERT_TRUE(ingester_->Ingest(OneSpan(2, 1)).ok());
  Open();
  EXPECT_EQ(head_->Stats().spans, 1u);
  EXPECT_EQ(head_->SpanCount(model::TraceId{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}), 1u);
}

TEST_F(IngesterTest, CutFreezesTheHeadAndReplaySkipsCoveredRecords) {
  Open();
  ASSERT_TRUE(ingester_->Ingest(OneSpan(1, 1)).ok());
  ASSERT_TRUE(ingester_->Ingest(OneSpan(2, 1)).ok());
  auto fresh = std::make_shared<head::Head>(head::Options{});
  CutHead cut = ingester_->Cut(fresh);
  EXPECT_EQ(cut.wal_last_sequence, 2u);
  EXPECT_EQ(cut.head->Stats().spans, 2u);
  ASSERT_TRUE(ingester_->Ingest(OneSpan(3, 1)).ok());
  EXPECT_EQ(fresh->Stats().spans, 1u);
  EXPECT_EQ(cut.head->Stats().spans, 2u);    // frozen
  covered_through_ = cut.wal_last_sequence;  // as if the cut head had been flushed to a block
  Open();
  EXPECT_EQ(head_->Stats().spans, 1u);
  EXPECT_EQ(head_->SpanCount(model::TraceId{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3}), 1u);
}

TEST_F(IngesterTest, ReplayDropsSpansOlderThanRetention) {
  Open();
  model::Traces mixed = OneSpan(1, 1);  // starts at 100 and at 300: one span expires, its trace stays
  mixed.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano = 100;
  auto later = mixed.resource_spans[0].scope_spans[0].spans[0];
  later.span_id[7] = 2;
  later.start_time_unix_nano = 300;
  mixed.resource_spans[0].scope_spans[0].spans.push_back(later);
  model::Traces old = OneSpan(2, 1);  // starts at 100: the whole record expires
  old.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano = 100;
  ASSERT_TRUE(ingester_->Ingest(std::move(mixed)).ok());
  ASSERT_TRUE(ingester_->Ingest(std::move(old)).ok());
  expired_before_ = 200;
  Open();
  EXPECT_EQ(expired_spans_, 2u);
  EXPECT_EQ(head_->Stats().spans, 1u);
  model::Traces t;
  ASSERT_TRUE(head_->ReadTrace(model::TraceId{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, &t).ok());
  ASSERT_EQ(t.SpanCount(), 1u);
  EXPECT_EQ(t.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano, 300u);
  EXPECT_EQ(head_->SpanCount(model::TraceId{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}), 0u);
}

TEST(ApplySpanLimitsTest, TrimsAndCounts) {
  Limits limits;
  limits.max_attributes_per_span = 2;
  limits.max_attribute_value_bytes = 4;
  limits.max_events_per_span = 1;
  limits.max_links_per_span = 0;
  model::Traces t = OneSpan(1, 1);
  auto& s = t.resource_spans[0].scope_spans[0].spans[0];
  s.attributes = {{"a", AnyValue::String("ééé")},  // 6 bytes: cut at a character boundary
                  {"b", AnyValue::Array({AnyValue::FromBytes("123456")})},
                  {"c", AnyValue::Int(1)}};
  s.dropped_attributes_count = 5;
  s.events.resize(3);
  s.links.resize(2);
  const LimitsApplied applied = ApplySpanLimits(limits, &t);
  EXPECT_EQ(applied.truncated_values, 2u);
  EXPECT_TRUE(applied.changed);
  EXPECT_EQ(s.attributes.size(), 2u);
  EXPECT_EQ(s.dropped_attributes_count, 6u);
  EXPECT_EQ(s.attributes[0].value.string_value(), "éé");
  EXPECT_EQ(s.attributes[1].value.array_value()[0].bytes_value(), "1234");
  EXPECT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.dropped_events_count, 2u);
  EXPECT_TRUE(s.links.empty());
  EXPECT_EQ(s.dropped_links_count, 2u);
}

TEST(ApplySpanLimitsTest, CapsEveryStringAndArray) {
  Limits limits;
  limits.max_string_bytes = 3;
  limits.max_array_values = 2;
  model::Traces t = OneSpan(1, 1);
  auto& rs = t.resource_spans[0];
  auto& ss = rs.scope_spans[0];
  auto& s = ss.spans[0];
  rs.resource.schema_url = "https://schema";
  ss.scope.name = "scope-name";
  ss.scope.version = "1.2.3.4";
  ss.scope.schema_url = "https://x";
  s.name = "a-long-span-name";
  s.trace_state = "k=v,k2=v2";
  s.status.message = "ééé";  // 6 bytes: cut at a character boundary
  s.attributes = {{"long-key", AnyValue::Int(1)},
                  {"arr", AnyValue::Array({AnyValue::Int(1), AnyValue::Int(2), AnyValue::Int(3)})},
                  {"kv", AnyValue::KvList({{"nested-key", AnyValue::Array({AnyValue::Int(1), AnyValue::Int(2),
                                                                           AnyValue::Int(3), AnyValue::Int(4)})}})}};
  s.events.resize(1);
  s.events[0].name = "event-name";
  s.links.resize(1);
  s.links[0].trace_state = "a=b";  // within the limit: kept
  const LimitsApplied applied = ApplySpanLimits(limits, &t);
  EXPECT_TRUE(applied.changed);
  EXPECT_EQ(rs.resource.schema_url, "htt");
  EXPECT_EQ(ss.scope.name, "sco");
  EXPECT_EQ(ss.scope.version, "1.2");
  EXPECT_EQ(ss.scope.schema_url, "htt");
  EXPECT_EQ(s.name, "a-l");
  EXPECT_EQ(s.trace_state, "k=v");
  EXPECT_EQ(s.status.message, "é");
  EXPECT_EQ(s.attributes[0].key, "lon");
  EXPECT_EQ(s.attributes[1].value.array_value().size(), 2u);
  const auto& kv = s.attributes[2].value.kvlist_value();
  ASSERT_EQ(kv.size(), 1u);
  EXPECT_EQ(kv[0].key, "nes");
  EXPECT_EQ(kv[0].value.array_value().size(), 2u);
  EXPECT_EQ(s.events[0].name, "eve");
  EXPECT_EQ(s.links[0].trace_state, "a=b");
  EXPECT_EQ(rs.resource.attributes[0].key, "ser");  // "service.name": resource keys too
  EXPECT_EQ(applied.truncated_strings, 11u);
  EXPECT_EQ(applied.dropped_elements, 3u);  // one of "arr", two of the nested array
  EXPECT_EQ(applied.truncated_values, 0u);
}

TEST(ApplySpanLimitsTest, ReportsWhetherAnythingChanged) {
  Limits limits;
  limits.max_events_per_span = 1;
  model::Traces t = OneSpan(1, 1);
  t.resource_spans[0].scope_spans[0].spans[0].events.resize(1);
  EXPECT_FALSE(ApplySpanLimits(limits, &t).changed);  // within every limit
  t.resource_spans[0].scope_spans[0].spans[0].events.resize(2);
  const LimitsApplied applied = ApplySpanLimits(limits, &t);
  EXPECT_TRUE(applied.changed);  // an event dropped, no value truncated
  EXPECT_EQ(applied.truncated_values, 0u);
}

}  // namespace
}  // namespace tb::ingest
