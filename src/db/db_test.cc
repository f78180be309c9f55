#include "db/db.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "db/block_list.h"
#include "model/random_traces.h"
#include "objstore/disk_cache_store.h"
#include "objstore/fault_store.h"
#include "objstore/memory_store.h"
#include "objstore/metering_store.h"
#include "util/test_sync.h"

namespace tb::db {
namespace {

using model::AnyValue;

model::Span MakeSpan(uint8_t trace, uint16_t span, uint64_t start) {
  model::Span s;
  s.trace_id[15] = trace;
  s.span_id[6] = static_cast<uint8_t>(span >> 8);
  s.span_id[7] = static_cast<uint8_t>(span);
  s.name = "op-" + std::to_string(span % 3);
  s.start_time_unix_nano = start;
  s.end_time_unix_nano = start + 1000;
  s.attributes = {{"n", AnyValue::Int(span)}};
  return s;
}

model::Traces Batch(const std::string& service, std::vector<model::Span> spans) {
  model::Traces t;
  t.resource_spans.resize(1);
  t.resource_spans[0].resource.attributes = {{"service.name", AnyValue::String(service)}};
  t.resource_spans[0].scope_spans.resize(1);
  t.resource_spans[0].scope_spans[0].spans = std::move(spans);
  return t;
}

// The distinct trace IDs of `batches`, sorted.
std::vector<model::TraceId> TraceIdsOf(std::initializer_list<const model::Traces*> batches) {
  std::vector<model::TraceId> ids;
  for (const auto* b : batches)
    for (const auto& rs : b->resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& s : ss.spans) ids.push_back(s.trace_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// (trace, span id, start) of every span the engine returns for `ids`: a multiset, so duplicates count.
std::multiset<std::tuple<model::TraceId, model::SpanId, uint64_t>> SpansOf(const query::QueryEngine& engine,
                                                                           const std::vector<model::TraceId>& ids) {
  std::multiset<std::tuple<model::TraceId, model::SpanId, uint64_t>> out;
  Status s = engine.GetTraces(ids, [&](const model::TraceId&, model::Traces&& t) {
    for (const auto& rs : t.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& span : ss.spans) out.emplace(span.trace_id, span.span_id, span.start_time_unix_nano);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

class DbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("tb_db_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  DbOptions Options() const {
    DbOptions o;
    o.data_dir = dir_.string();
    o.background_flush = false;
    o.background_compaction = false;
    o.head_memory_budget_bytes = head_budget_;
    o.flush_every_write = flush_every_write_;
    o.blocklist_refresh_interval = std::chrono::milliseconds(0);  // tests call Refresh()
    o.retention = retention_;
    o.spool_max_bytes = spool_max_;
    o.wal_segment_bytes = wal_segment_bytes_;
    o.clock = [this] { return now_; };
    return o;
  }
  // A second process on the same store: its own data dir (WAL, instance ID).
  std::unique_ptr<Db> OpenOther(std::shared_ptr<objstore::ObjectStore> store, const std::string& name) {
    DbOptions o = Options();
    o.data_dir = (dir_ / name).string();
    auto db = Db::Open(o, std::move(store));
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(*db) : nullptr;
  }
  void Open(std::shared_ptr<objstore::ObjectStore> store) {
    db_.reset();
    auto db = Db::Open(Options(), std::move(store));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
  }
  void Ingest(model::Traces batch) { ASSERT_TRUE(db_->ingester().Ingest(std::move(batch)).ok()); }
  // Two blocks: trace 1 (service "a", start 100), then trace 2 (service "b", start 200).
  void FlushTwoBlocks() {
    Ingest(Batch("a", {MakeSpan(1, 1, 100)}));
    ASSERT_TRUE(db_->Flush().ok());
    Ingest(Batch("b", {MakeSpan(2, 1, 200)}));
    ASSERT_TRUE(db_->Flush().ok());
  }
  static model::TraceId Trace(uint8_t n) { return MakeSpan(n, 0, 0).trace_id; }
  // The traces among Trace(1..3) that `engine` reads by ID; an unbounded search must find exactly
  // those.
  static std::set<model::TraceId> ReadableOfThree(const query::QueryEngine& engine) {
    std::set<model::TraceId> read;
    EXPECT_TRUE(engine
                    .GetTraces({Trace(1), Trace(2), Trace(3)},
                               [&](const model::TraceId& id, model::Traces&&) {
                                 read.insert(id);
                                 return Status::Ok();
                               })
                    .ok());
    query::TraceQuery everything;
    everything.search_depth = 10;
    auto found = engine.FindTraceIds(everything);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    std::set<model::TraceId> found_ids;
    if (found.ok())
      for (const auto& hit : *found) found_ids.insert(hit.trace_id);
    EXPECT_EQ(found_ids, read);
    return read;
  }

  std::filesystem::path dir_;
  bool flush_every_write_ = false;
  std::chrono::milliseconds retention_{0};
  uint64_t head_budget_ = 256 << 20;
  uint64_t spool_max_ = 10ull << 30;
  uint64_t wal_segment_bytes_ = 64ull << 20;
  std::chrono::system_clock::time_point now_ = std::chrono::system_clock::now();
  std::shared_ptr<objstore::MemoryStore> memory_ = std::make_shared<objstore::MemoryStore>();
  std::unique_ptr<Db> db_;
};

TEST_F(DbTest, TraceSplitAcrossHeadAndBlocksComesBackWhole) {
  Open(memory_);
  Ingest(Batch("a", {MakeSpan(1, 1, 100), MakeSpan(2, 1, 100)}));
  ASSERT_TRUE(db_->Flush().ok());
  Ingest(Batch("b", {MakeSpan(1, 2, 200)}));
  ASSERT_TRUE(db_->Flush().ok());
  Ingest(Batch("c", {MakeSpan(1, 3, 300), MakeSpan(1, 3, 300)}));  // a duplicate, kept
  EXPECT_EQ(db_->Stats().blocks, 2u);
  EXPECT_EQ(db_->Stats().active_head.spans, 2u);

  model::TraceId t1{};
  t1[15] = 1;
  EXPECT_EQ(SpansOf(db_->engine(), {t1}).size(), 4u);

  query::TraceQuery q;
  q.service_name = "b";
  auto hits = db_->engine().FindTraceIds(q);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].trace_id, t1);
  EXPECT_EQ((*hits)[0].newest_span_start_unix_nano, 300u);  // merged over head and blocks
  EXPECT_EQ(*db_->engine().Services(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(DbTest, DependenciesCountCallsAcrossHeadAndBlocks) {
  Open(memory_);
  auto root = MakeSpan(1, 1, 100);
  auto call = MakeSpan(1, 2, 110);
  call.parent_span_id = root.span_id;
  auto local = MakeSpan(1, 3, 120);
  local.parent_span_id = call.span_id;
  Ingest(Batch("front", {root}));
  ASSERT_TRUE(db_->Flush().ok());  // the parent is in a block
  auto job = MakeSpan(1, 4, 130);  // no parent: linked to the root, so hangs off it as in Jaeger
  job.links.push_back({root.trace_id, root.span_id, "", {}, 0, 0});
  Ingest(Batch("db", {call}));     // its child in the head
  Ingest(Batch("db", {local}));    // a call inside one service: no edge (Jaeger's rule)
  Ingest(Batch("worker", {job}));  // a link that crosses from the head into the block
  auto deps = db_->engine().Dependencies(0, 1'000'000);
  ASSERT_TRUE(deps.ok());
  const query::DependencyCounts want = {{{"front", "db"}, 1}, {{"front", "worker"}, 1}};
  EXPECT_EQ(*deps, want);
}

TEST_F(DbTest, RestartServesBlocksAndWalWithoutDuplicates) {
  Open(memory_);
  model::RandomTracesOptions options;
  options.traces = 20;
  auto first = model::RandomTraces(1, options);
  auto second = model::RandomTraces(2, options);
  Ingest(first);
  ASSERT_TRUE(db_->Flush().ok());
  Ingest(second);
  const auto ids = TraceIdsOf({&first, &second});
  const auto before = SpansOf(db_->engine(), ids);
  EXPECT_EQ(before.size(), first.SpanCount() + second.SpanCount());

  Open(memory_);  // a restart on the same data dir and bucket
  EXPECT_EQ(db_->Stats().blocks, 1u);
  EXPECT_EQ(SpansOf(db_->engine(), ids), before);
  ASSERT_TRUE(db_->Flush().ok());
  Open(memory_);
  EXPECT_EQ(db_->Stats().blocks, 2u);
  EXPECT_EQ(db_->Stats().active_head.spans, 0u);
  EXPECT_EQ(SpansOf(db_->engine(), ids), before);
}

TEST_F(DbTest, AFlushAfterCloseWritesNothingAndTheWalKeepsEverySpan) {
  Open(memory_);
  model::RandomTracesOptions options;
  options.traces = 20;
  auto batch = model::RandomTraces(3, options);
  Ingest(batch);
  const auto ids = TraceIdsOf({&batch});
  const auto before = SpansOf(db_->engine(), ids);
  ASSERT_EQ(before.size(), batch.SpanCount());

  ASSERT_TRUE(db_->Close().ok());
  EXPECT_EQ(db_->Flush().code(), StatusCode::kUnavailable);
  auto objects = objstore::ListAll(*memory_, "");
  ASSERT_TRUE(objects.ok());
  for (const auto& o : *objects) EXPECT_EQ(o.key.find("/blocks/"), std::string::npos) << o.key;

  Open(memory_);  // the restart replays the WAL: every span once, no block
  EXPECT_EQ(db_->Stats().blocks, 0u);
  EXPECT_EQ(SpansOf(db_->engine(), ids), before);
}

TEST(BlockListTest, OnlyBlockDataAndIndexAreImmutable) {
  EXPECT_TRUE(IsImmutableBlockObject(BlockPrefix("default", "0001-02-0003") + block::kDataObject));
  EXPECT_TRUE(IsImmutableBlockObject(BlockPrefix("acme", "x") + block::kIndexObject));
  for (std::string_view key : {"tenants/default/blocks/x/meta", "tenants/default/blocklist/00000000000000000001",
                               "tenants/default/blocks//data", "tenants/default/blocks/x/data/y", "blocks/x/data",
                               "tenants/default/other/x/data", "tenants/default"}) {
    EXPECT_FALSE(IsImmutableBlockObject(key)) << key;
  }
}

// The disk tier of the block cache (objstore::DiskCacheStore with IsImmutableBlockObject) makes a
// restarted process's first lookups local: no GET of a block's data or index reaches the bucket.
TEST_F(DbTest, DiskCacheServesBlockReadsAfterARestart) {
  const std::string cache_dir = (dir_ / "cache").string();
  std::shared_ptr<objstore::MeteringStore> meter;
  auto open_cached = [&] {
    meter = std::make_shared<objstore::MeteringStore>(memory_);
    objstore::DiskCacheOptions options;
    options.dir = cache_dir;
    options.capacity_bytes = 64 << 20;
    options.cacheable = IsImmutableBlockObject;
    auto cache = objstore::DiskCacheStore::Open(meter, options);
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    Open(*cache);
  };
  open_cached();
  model::RandomTracesOptions options;
  options.traces = 30;
  const auto batch = model::RandomTraces(7, options);
  Ingest(batch);
  ASSERT_TRUE(db_->Flush().ok());
  const auto ids = TraceIdsOf({&batch});
  const auto expected = SpansOf(db_->engine(), ids);  // reads every block range once: now on disk
  ASSERT_EQ(expected.size(), batch.SpanCount());

  open_cached();  // restart: empty memory cache, same disk cache
  meter->Reset();
  EXPECT_EQ(SpansOf(db_->engine(), ids), expected);
  EXPECT_EQ(meter->snapshot().gets, 0u);

  // Without the disk tier the same lookups go to the bucket.
  auto uncached = std::make_shared<objstore::MeteringStore>(memory_);
  Open(uncached);
  EXPECT_EQ(SpansOf(db_->engine(), ids), expected);
  EXPECT_GT(uncached->snapshot().gets, 1u);
}

// A crash after every possible number of object-store writes of a flush: the restarted process
// finds the same multiset of spans, none lost, none twice.
TEST_F(DbTest, CrashAtEveryStepOfAFlushLosesNothingAndShowsNothingTwice) {
  std::vector<model::TraceId> ids;
  for (int crash_after = 0; crash_after < 8; ++crash_after) {
    SCOPED_TRACE("crash after " + std::to_string(crash_after) + " mutations");
    std::filesystem::remove_all(dir_);
    auto memory = std::make_shared<objstore::MemoryStore>();
    auto faults = std::make_shared<objstore::FaultStore>(memory);
    Open(faults);
    Ingest(Batch("a", {MakeSpan(1, 1, 100), MakeSpan(2, 1, 100)}));
    ASSERT_TRUE(db_->Flush().ok());  // one block already published
    Ingest(Batch("a", {MakeSpan(1, 2, 200), MakeSpan(3, 1, 300), MakeSpan(3, 1, 300)}));
    ids = {MakeSpan(1, 0, 0).trace_id, MakeSpan(2, 0, 0).trace_id, MakeSpan(3, 0, 0).trace_id};
    const auto expected = SpansOf(db_->engine(), ids);
    ASSERT_EQ(expected.size(), 5u);

    faults->CrashAfterMutations(crash_after);
    Status flushed = db_->Flush();
    const bool crashed = faults->crashed();
    db_.reset();  // the process dies (the WAL is closed; its records were already durable)

    Open(memory);  // restart on what reached the bucket
    EXPECT_EQ(SpansOf(db_->engine(), ids), expected) << "flush: " << flushed.ToString();
    if (!crashed) {
      EXPECT_TRUE(flushed.ok());
      break;  // the flush needs fewer writes than this: every crash point was covered
    }
  }
}

// A flush that fails (store down, then the block list write lost) is retried by the next one;
// nothing is lost, nothing is written twice, and the WAL keeps the records until a block has them.
TEST_F(DbTest, FailedFlushesAreRetriedWithoutLossOrDuplicates) {
  auto faults = std::make_shared<objstore::FaultStore>(memory_);
  Open(faults);
  Ingest(Batch("a", {MakeSpan(1, 1, 100)}));
  faults->FailWhen([](objstore::StoreOp, std::string_view) { return true; }, Status::Unavailable("store down"));
  EXPECT_FALSE(db_->Flush().ok());
  faults->Clear();
  Ingest(Batch("a", {MakeSpan(2, 1, 200)}));
  // Data and meta land, then publishing the block list fails once.
  bool failed_once = false;
  faults->FailWhen(
      [&](objstore::StoreOp op, std::string_view key) {
        if (failed_once || op != objstore::StoreOp::kPut || key.find("/blocklist/") == std::string_view::npos)
          return false;
        return failed_once = true;
      },
      Status::Unavailable("lost"));
  EXPECT_FALSE(db_->Flush().ok());
  EXPECT_TRUE(db_->Flush().ok());  // retries the pending heads, oldest first
  EXPECT_EQ(db_->Stats().frozen_heads, 0u);
  const std::vector<model::TraceId> ids = {MakeSpan(1, 0, 0).trace_id, MakeSpan(2, 0, 0).trace_id};
  EXPECT_EQ(SpansOf(db_->engine(), ids).size(), 2u);
  Open(memory_);  // restart: blocks and WAL hold each span once
  EXPECT_EQ(SpansOf(db_->engine(), ids).size(), 2u);
  std::set<std::string> with_meta, without_meta;
  ASSERT_TRUE(BlockListStore(memory_.get(), "default").ScanBlocks(&with_meta, &without_meta).ok());
  EXPECT_EQ(with_meta.size(), db_->Stats().blocks);  // no block written twice
}

// Files under the spool folder (the LocalStore may leave empty folders behind).
size_t SpooledFiles(const std::filesystem::path& data_dir) {
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(data_dir / "spool"))
    if (entry.is_regular_file()) ++files;
  return files;
}

// A store that answers nothing, as when the S3 server is stopped.
void FailEverything(objstore::FaultStore& faults) {
  faults.FailWhen([](objstore::StoreOp, std::string_view) { return true; }, Status::Unavailable("store down"));
}

// The block IDs in the bucket with and without a meta.
std::pair<std::set<std::string>, std::set<std::string>> BlocksIn(objstore::ObjectStore* store) {
  std::set<std::string> with_meta, without_meta;
  EXPECT_TRUE(BlockListStore(store, "default").ScanBlocks(&with_meta, &without_meta).ok());
  return {with_meta, without_meta};
}

TEST_F(DbTest, AStoreOutageSpoolsFlushesAndUploadsEachBlockOnceItReturns) {
  // A head budget that three of the batches below would fill: ingest goes past it only because
  // each flush leaves memory for the spool.
  head_budget_ = 512 << 10;
  wal_segment_bytes_ = 16 << 10;  // several segments, so that spooling can free some
  auto faults = std::make_shared<objstore::FaultStore>(memory_);
  Open(faults);
  FailEverything(*faults);
  constexpr int kFlushes = 12;
  constexpr uint16_t kSpansPerTrace = 100;
  std::vector<model::TraceId> ids;
  for (uint8_t t = 1; t <= kFlushes; ++t) {
    std::vector<model::Span> spans;
    for (uint16_t i = 0; i < kSpansPerTrace; ++i) spans.push_back(MakeSpan(t, i, 1000 * t + i));
    Ingest(Batch("a", std::move(spans)));
    ids.push_back(Trace(t));
    Status flushed = db_->Flush();
    EXPECT_EQ(flushed.code(), StatusCode::kUnavailable) << flushed.ToString();
    ASSERT_EQ(db_->Stats().frozen_heads, 0u);  // the head left memory at once
  }
  const DbStats down = db_->Stats();
  EXPECT_EQ(down.frozen_memory_bytes, 0u);
  EXPECT_EQ(down.spooled_blocks, static_cast<size_t>(kFlushes));
  EXPECT_GT(down.spooled_bytes, 0u);
  EXPECT_EQ(down.blocks, 0u);
  EXPECT_EQ(down.wal_covered_through, 0u);       // nothing is published...
  EXPECT_EQ(down.wal_usage.segments, 1u);        // ...but the spool let every full WAL segment go
  EXPECT_EQ(SpooledFiles(dir_), 3u * kFlushes);  // data, index, meta each
  EXPECT_EQ(SpansOf(db_->engine(), ids).size(), size_t{kFlushes} * kSpansPerTrace);  // served from the spool
  EXPECT_TRUE(BlocksIn(memory_.get()).first.empty());                                // nothing reached the bucket

  faults->Clear();
  ASSERT_TRUE(db_->Flush().ok());  // uploads the spooled blocks oldest first
  const DbStats up = db_->Stats();
  EXPECT_EQ(up.spooled_blocks, 0u);
  EXPECT_EQ(up.spooled_bytes, 0u);
  EXPECT_EQ(up.blocks, static_cast<size_t>(kFlushes));
  EXPECT_EQ(SpooledFiles(dir_), 0u);
  EXPECT_EQ(SpansOf(db_->engine(), ids).size(), size_t{kFlushes} * kSpansPerTrace);
  const auto [with_meta, without_meta] = BlocksIn(memory_.get());
  EXPECT_EQ(with_meta.size(), static_cast<size_t>(kFlushes));  // each published once
  EXPECT_TRUE(without_meta.empty());
  const std::vector<ListedBlock> published = db_->PublishedBlocks();
  for (size_t i = 1; i < published.size(); ++i)  // in WAL order, without a gap
    EXPECT_EQ(published[i].meta.wal_first, published[i - 1].meta.wal_last + 1);
  Open(memory_);  // restart: every span once, nothing replayed
  EXPECT_EQ(SpansOf(db_->engine(), ids).size(), size_t{kFlushes} * kSpansPerTrace);
  EXPECT_EQ(db_->Stats().active_head.spans, 0u);
}

TEST_F(DbTest, ARestartReplaysTheSpoolAndUploadsItOnceTheStoreAnswers) {
  wal_segment_bytes_ = 4 << 10;
  auto faults = std::make_shared<objstore::FaultStore>(memory_);
  Open(faults);
  FailEverything(*faults);
  for (uint8_t t = 1; t <= 3; ++t) {
    std::vector<model::Span> spans;
    for (uint16_t i = 0; i < 20; ++i) spans.push_back(MakeSpan(t, i, 100 * t + i));
    Ingest(Batch("a", std::move(spans)));
    EXPECT_FALSE(db_->Flush().ok());
  }
  Ingest(Batch("a", {MakeSpan(4, 1, 400)}));  // in the WAL and the head only
  ASSERT_EQ(db_->Stats().spooled_blocks, 3u);
  const std::vector<model::TraceId> ids = {Trace(1), Trace(2), Trace(3), Trace(4)};

  // The store answers again, but the process restarts before it uploads anything.
  faults->Clear();
  Open(faults);
  DbStats reopened = db_->Stats();
  EXPECT_EQ(reopened.spooled_blocks, 3u);     // the spool is taken back...
  EXPECT_EQ(reopened.active_head.spans, 1u);  // ...and the WAL replays only what it does not hold
  EXPECT_EQ(SpansOf(db_->engine(), ids).size(), 61u);
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_EQ(db_->Stats().blocks, 4u);
  EXPECT_EQ(SpooledFiles(dir_), 0u);
  EXPECT_EQ(SpansOf(db_->engine(), ids).size(), 61u);
  Open(memory_);
  EXPECT_EQ(SpansOf(db_->engine(), ids).size(), 61u);
  EXPECT_EQ(BlocksIn(memory_.get()).first.size(), 4u);
}

TEST_F(DbTest, ARestartAfterASpooledBlockWasUploadedButNotPublishedShowsItOnce) {
  auto faults = std::make_shared<objstore::FaultStore>(memory_);
  Open(faults);
  FailEverything(*faults);
  Ingest(Batch("a", {MakeSpan(1, 1, 100), MakeSpan(1, 2, 101)}));
  EXPECT_FALSE(db_->Flush().ok());
  ASSERT_EQ(db_->Stats().spooled_blocks, 1u);
  // The upload lands, the block list PUT does not; the process dies before deleting the copy.
  faults->Clear();
  faults->FailWhen(
      [](objstore::StoreOp op, std::string_view key) {
        return op == objstore::StoreOp::kPut && key.find("/blocklist/") != std::string_view::npos;
      },
      Status::Unavailable("list PUT lost"));
  EXPECT_FALSE(db_->Flush().ok());
  ASSERT_EQ(BlocksIn(memory_.get()).first.size(), 1u);
  ASSERT_EQ(SpooledFiles(dir_), 3u);
  faults->Clear();
  Open(faults);  // recovery publishes the uploaded block; its spooled copy goes
  EXPECT_EQ(db_->Stats().spooled_blocks, 0u);
  EXPECT_EQ(db_->Stats().blocks, 1u);
  EXPECT_EQ(SpooledFiles(dir_), 0u);
  EXPECT_EQ(db_->Stats().active_head.spans, 0u);
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1)}).size(), 2u);
}

TEST_F(DbTest, AFullSpoolKeepsTheHeadInMemoryAndIngestGetsBackPressure) {
  spool_max_ = 1;  // the first block passes it
  head_budget_ = 256 << 10;
  auto faults = std::make_shared<objstore::FaultStore>(memory_);
  Open(faults);
  FailEverything(*faults);
  Ingest(Batch("a", {MakeSpan(1, 1, 100)}));
  EXPECT_FALSE(db_->Flush().ok());
  EXPECT_EQ(db_->Stats().spooled_blocks, 1u);
  Ingest(Batch("a", {MakeSpan(2, 1, 200)}));
  Status flushed = db_->Flush();
  EXPECT_NE(flushed.message().find("flush.spool_max_size"), std::string::npos) << flushed.ToString();
  EXPECT_EQ(db_->Stats().spooled_blocks, 1u);
  EXPECT_EQ(db_->Stats().frozen_heads, 1u);  // kept in memory, and queryable
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2)}).size(), 2u);
  // With the spool full, the head's budget pushes back.
  Status refused = Status::Ok();
  for (uint16_t i = 0; i < 2000 && refused.ok(); ++i) {
    std::vector<model::Span> spans;
    for (uint16_t j = 0; j < 10; ++j) spans.push_back(MakeSpan(3, static_cast<uint16_t>(i * 10 + j), 300 + j));
    refused = db_->ingester().Ingest(Batch("a", std::move(spans))).status();
  }
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused.ToString();
  faults->Clear();
  ASSERT_TRUE(db_->Flush().ok());  // the store is back: everything is published
  EXPECT_EQ(db_->Stats().spooled_blocks, 0u);
  EXPECT_EQ(db_->Stats().frozen_heads, 0u);
  EXPECT_EQ(db_->Stats().blocks, 3u);
}

TEST_F(DbTest, TheBackgroundLoopUploadsTheSpoolByItself) {
  auto faults = std::make_shared<objstore::FaultStore>(memory_);
  Open(faults);
  FailEverything(*faults);
  Ingest(Batch("a", {MakeSpan(1, 1, 100)}));
  EXPECT_FALSE(db_->Flush().ok());
  ASSERT_EQ(db_->Stats().spooled_blocks, 1u);
  faults->Clear();
  DbOptions o = Options();
  o.background_flush = true;
  db_.reset();
  auto db = Db::Open(o, faults);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  db_ = std::move(*db);
  // No flush is due (the head is empty): the retry of the pending blocks uploads it.
  for (int i = 0; i < 100 && db_->Stats().spooled_blocks > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(db_->Stats().spooled_blocks, 0u);
  EXPECT_EQ(db_->Stats().blocks, 1u);
}

// The object store fails every read of one block: a query with a warning list answers from the
// head and the other block and names the unreadable one; a query without one fails.
TEST_F(DbTest, AnUnreadableBlockIsLeftOutOfAQueryThatReportsItAndFailsOneThatCannot) {
  auto faults = std::make_shared<objstore::FaultStore>(memory_);
  Open(faults);
  FlushTwoBlocks();
  Ingest(Batch("c", {MakeSpan(3, 1, 300)}));  // in the head
  std::set<std::string> blocks, meta_less;
  ASSERT_TRUE(BlockListStore(memory_.get(), "default").ScanBlocks(&blocks, &meta_less).ok());
  ASSERT_EQ(blocks.size(), 2u);
  const std::string unreadable = *blocks.begin();
  faults->FailWhen([&](objstore::StoreOp, std::string_view key) { return key.find(unreadable) != key.npos; },
                   Status::Unavailable("store down"));

  query::QueryWarnings warnings;
  const std::set<model::TraceId> read = ReadableOfThree(db_->engine().WithWarnings(&warnings));
  EXPECT_EQ(read.size(), 2u);  // the head's trace and the readable block's
  EXPECT_TRUE(read.contains(Trace(3)));
  const std::vector<query::SourceWarning> list = warnings.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].source, "block " + unreadable);
  EXPECT_EQ(list[0].reason.code(), StatusCode::kUnavailable);

  const Status strict = db_->engine().GetTraces({Trace(1), Trace(2)},
                                                [](const model::TraceId&, model::Traces&&) { return Status::Ok(); });
  EXPECT_EQ(strict.code(), StatusCode::kUnavailable) << strict.ToString();
}

// The object store down after one flush: the next flush is spooled. A query with a warning list
// answers from the head and the spooled block (local, so readable) and names only the block in the
// bucket; the spooled one is never reported.
TEST_F(DbTest, WhileTheStoreIsDownASpooledBlockIsServedAndTheBucketBlockIsNamed) {
  auto faults = std::make_shared<objstore::FaultStore>(memory_);
  Open(faults);
  Ingest(Batch("a", {MakeSpan(1, 1, 100)}));
  ASSERT_TRUE(db_->Flush().ok());
  const std::set<std::string> in_bucket = BlocksIn(memory_.get()).first;
  ASSERT_EQ(in_bucket.size(), 1u);
  FailEverything(*faults);
  Ingest(Batch("b", {MakeSpan(2, 1, 200)}));
  EXPECT_EQ(db_->Flush().code(), StatusCode::kUnavailable);
  ASSERT_EQ(db_->Stats().spooled_blocks, 1u);
  Ingest(Batch("c", {MakeSpan(3, 1, 300)}));  // in the head

  query::QueryWarnings warnings;
  EXPECT_EQ(ReadableOfThree(db_->engine().WithWarnings(&warnings)),
            (std::set<model::TraceId>{Trace(2), Trace(3)}));  // spooled block and head
  const std::vector<query::SourceWarning> list = warnings.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].source, "block " + *in_bucket.begin());
  EXPECT_EQ(list[0].reason.code(), StatusCode::kUnavailable);

  // The store answers again: the spooled block is uploaded and nothing is left out.
  faults->Clear();
  ASSERT_TRUE(db_->Flush().ok());
  query::QueryWarnings after;
  EXPECT_EQ(ReadableOfThree(db_->engine().WithWarnings(&after)).size(), 3u);
  EXPECT_TRUE(after.empty());
}

// flush_every_write: a write returns only once its spans are in a published block, so the head is
// empty whenever no write is in flight; concurrent writers share blocks but every span is there once.
TEST_F(DbTest, FlushEveryWritePutsEachAcknowledgedWriteInABlock) {
  flush_every_write_ = true;
  Open(memory_);
  for (uint8_t i = 1; i <= 3; ++i) {
    Ingest(Batch("a", {MakeSpan(i, 1, 100 * i), MakeSpan(i, 2, 100 * i)}));
    const DbStats stats = db_->Stats();
    EXPECT_EQ(stats.blocks, i);
    EXPECT_EQ(stats.active_head.spans, 0u);
    EXPECT_EQ(stats.frozen_heads, 0u);
  }
  // A write whose spans are all refused stores nothing and so flushes nothing.
  auto refused = db_->ingester().Ingest(model::Traces{});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(db_->Stats().blocks, 3u);

  std::vector<std::thread> writers;
  for (uint8_t w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (uint16_t n = 0; n < 10; ++n) {
        auto written = db_->ingester().Ingest(Batch("b", {MakeSpan(10 + w, n, 1000 + n)}));
        EXPECT_TRUE(written.ok()) << written.status().ToString();
      }
    });
  }
  for (auto& t : writers) t.join();
  const DbStats stats = db_->Stats();
  EXPECT_EQ(stats.active_head.spans, 0u);
  EXPECT_EQ(stats.frozen_heads, 0u);
  EXPECT_GT(stats.blocks, 3u);
  EXPECT_LE(stats.blocks, 3u + 40u);
  std::vector<model::TraceId> ids;
  for (uint8_t t : {1, 2, 3, 10, 11, 12, 13}) ids.push_back(Trace(t));
  EXPECT_EQ(SpansOf(db_->engine(), ids).size(), 6u + 40u);
}

// When the flush after a write fails, the write fails with the flush's error, but its spans stay
// stored (WAL and a pending head); queries read blocks only, so they appear with the next flush
// that succeeds, and spans the WAL replays on start are flushed by Open.
TEST_F(DbTest, FlushEveryWriteFailsTheWriteWhenItsFlushFails) {
  flush_every_write_ = true;
  auto faults = std::make_shared<objstore::FaultStore>(memory_);
  Open(faults);
  faults->FailWhen([](objstore::StoreOp, std::string_view) { return true; }, Status::Unavailable("store down"));
  auto failed = db_->ingester().Ingest(Batch("a", {MakeSpan(1, 1, 100)}));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.status().message().find("spans are stored"), std::string::npos) << failed.status().message();
  EXPECT_EQ(db_->Stats().frozen_heads, 1u);
  EXPECT_TRUE(SpansOf(db_->engine(), {Trace(1)}).empty());  // in a head, so not served
  faults->Clear();
  Ingest(Batch("a", {MakeSpan(2, 1, 200)}));
  EXPECT_EQ(db_->Stats().blocks, 2u);
  EXPECT_EQ(db_->Stats().frozen_heads, 0u);
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2)}).size(), 2u);

  // A write whose flush fails, then a restart: the WAL replays it, and Open puts it in a block.
  faults->FailWhen([](objstore::StoreOp, std::string_view) { return true; }, Status::Unavailable("store down"));
  ASSERT_FALSE(db_->ingester().Ingest(Batch("a", {MakeSpan(3, 1, 300)})).ok());
  ASSERT_TRUE(db_->Close().ok());
  faults->Clear();
  Open(faults);
  EXPECT_EQ(db_->Stats().blocks, 3u);
  EXPECT_EQ(db_->Stats().active_head.spans, 0u);
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2), Trace(3)}).size(), 3u);
}

TEST_F(DbTest, PurgeDeletesBlocksToo) {
  Open(memory_);
  Ingest(Batch("a", {MakeSpan(1, 1, 100)}));
  ASSERT_TRUE(db_->Flush().ok());
  Ingest(Batch("b", {MakeSpan(2, 1, 100)}));
  ASSERT_TRUE(db_->Purge().ok());
  EXPECT_TRUE(db_->engine().Services()->empty());
  EXPECT_TRUE(objstore::ListAll(*memory_, "")->empty());
  Open(memory_);
  EXPECT_TRUE(db_->engine().Services()->empty());
}

TEST_F(DbTest, ACorruptBlockIsReportedAndTheOthersStillServe) {
  Open(memory_);
  FlushTwoBlocks();
  // Flip one byte in the index of the first block.
  auto objects = objstore::ListAll(*memory_, "tenants/default/blocks/");
  ASSERT_TRUE(objects.ok());
  std::string index_key;
  for (const auto& o : *objects)
    if (o.key.ends_with("/index")) {
      index_key = o.key;
      break;
    }
  ASSERT_FALSE(index_key.empty());
  std::string bytes = *memory_->Get(index_key);
  bytes[bytes.size() / 2] ^= 0x40;
  ASSERT_TRUE(memory_->Put(index_key, bytes).ok());
  Open(memory_);                                                       // cold cache: the corrupt bytes are read
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2)}).size(), 1u);  // the healthy block still answers
}

// A block of an older format (its meta still decodes) does not stop the Db from opening: queries
// skip it, the other blocks answer, and later publications keep it in the block list.
TEST_F(DbTest, ABlockOfAnOlderFormatIsKeptButNotQueried) {
  Open(memory_);
  FlushTwoBlocks();
  db_.reset();
  // Relabel the block holding trace 1 as format version 2, in its meta and in the block list.
  BlockListStore lists(memory_.get(), "default");
  auto list = lists.LoadLatest();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->blocks.size(), 2u);
  auto old = std::find_if(list->blocks.begin(), list->blocks.end(),
                          [](const auto& b) { return b.meta.min_span_start == 100; });
  ASSERT_NE(old, list->blocks.end());
  block::BlockMeta relabeled = old->meta;
  relabeled.format_version = 2;
  ASSERT_TRUE(
      memory_->Put("tenants/default/blocks/" + relabeled.block_id + "/meta", block::EncodeMeta(relabeled)).ok());
  ASSERT_TRUE(lists.Update({relabeled}, {}).ok());

  Open(memory_);
  EXPECT_EQ(db_->Stats().blocks, 1u);
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2)}).size(), 1u);  // trace 2's block answers
  Ingest(Batch("c", {MakeSpan(3, 1, 300)}));
  ASSERT_TRUE(db_->Flush().ok());
  auto after = lists.LoadLatest();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ASSERT_EQ(after->blocks.size(), 3u);
  EXPECT_EQ(std::count_if(after->blocks.begin(), after->blocks.end(),
                          [](const auto& b) { return b.meta.format_version == 2; }),
            1);
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2), Trace(3)}).size(), 2u);
}

// What a compaction by another process does to this one's blocks: one block written by another
// writer (no WAL range) holds their spans, and a list version retires them.
void MergeEveryBlockElsewhere(objstore::ObjectStore& store, const std::vector<model::Traces>& spans) {
  BlockListStore lists(&store, "default");
  auto list = lists.LoadLatest();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  block::BlockWriter writer;
  for (const auto& batch : spans) writer.Add(batch);
  block::BlockIdentity identity;
  identity.block_id = "000000000000ffff-00000000000000aa-0001";
  identity.writer_id = "00000000000000aa";
  auto meta = writer.Finish(store, BlockPrefix("default", identity.block_id), identity);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  BlockListChange change;
  change.add = {{*meta, 1, false}};
  for (const auto& b : list->blocks) change.retire.insert(b.meta.block_id);
  change.retire_only_live = true;
  ASSERT_TRUE(lists.Update(change).ok());
}

// The WAL watermark lives in the block list: after this process's blocks were merged into a block
// of another writer, a restart still skips the WAL records they held.
TEST_F(DbTest, TheWalWatermarkSurvivesBlocksMergedByAnotherWriter) {
  Open(memory_);
  FlushTwoBlocks();
  Ingest(Batch("c", {MakeSpan(3, 1, 300)}));  // in the head and the WAL only
  db_.reset();
  MergeEveryBlockElsewhere(*memory_, {Batch("a", {MakeSpan(1, 1, 100)}), Batch("b", {MakeSpan(2, 1, 200)})});

  Open(memory_);
  EXPECT_EQ(db_->Stats().blocks, 1u);
  EXPECT_EQ(db_->Stats().active_head.spans, 1u);  // only the record no block holds
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2), Trace(3)}).size(), 3u);
}

// Recovery republishes a flushed block that missed its publication, but never a retired block
// (whose spans are in the compaction's output), and it deletes its own unpublished outputs.
TEST_F(DbTest, RecoveryNeverRepublishesRetiredBlocksOrUnpublishedOutputs) {
  Open(memory_);
  FlushTwoBlocks();
  db_.reset();
  MergeEveryBlockElsewhere(*memory_, {Batch("a", {MakeSpan(1, 1, 100)}), Batch("b", {MakeSpan(2, 1, 200)})});
  std::ifstream instance_file(dir_ / "INSTANCE");
  std::string instance;
  instance_file >> instance;
  // An output of this instance's compaction that died before publishing, holding trace 2 again.
  block::BlockWriter writer;
  writer.Add(Batch("b", {MakeSpan(2, 1, 200)}));
  const std::string orphan = "000000000000ffff-" + instance + "-0009";
  ASSERT_TRUE(writer.Finish(*memory_, BlockPrefix("default", orphan), {orphan, instance, 0, 0, 0}).ok());

  Open(memory_);
  EXPECT_EQ(db_->Stats().blocks, 1u);
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2)}).size(), 2u);
  EXPECT_EQ(memory_->Head(BlockPrefix("default", orphan) + "meta").status().code(), StatusCode::kNotFound);
  auto list = BlockListStore(memory_.get(), "default").LoadLatest();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->blocks.size(), 1u);
  EXPECT_EQ(list->retired.size(), 2u);
}

// A purge that dies at any of its writes brings no span back on restart.
TEST_F(DbTest, CrashAtEveryStepOfAPurgeBringsNothingBack) {
  for (int crash_after = 0; crash_after < 40; ++crash_after) {
    SCOPED_TRACE("crash after " + std::to_string(crash_after) + " mutations");
    std::filesystem::remove_all(dir_);
    auto memory = std::make_shared<objstore::MemoryStore>();
    auto faults = std::make_shared<objstore::FaultStore>(memory);
    Open(faults);
    FlushTwoBlocks();
    faults->CrashAfterMutations(crash_after);
    Status purged = db_->Purge();
    const bool crashed = faults->crashed();
    db_.reset();
    std::filesystem::remove_all(dir_ / "wal");  // the WAL's own purge is not under test
    Open(memory);
    const size_t left = SpansOf(db_->engine(), {Trace(1), Trace(2)}).size();
    // Before the retiring write lands nothing is gone; after it, nothing comes back.
    EXPECT_TRUE(left == 0 || (crash_after == 0 && left == 2)) << left << " spans; purge: " << purged.ToString();
    if (!crashed) {
      EXPECT_TRUE(purged.ok()) << purged.ToString();
      EXPECT_EQ(memory->TotalBytes(), 0u);  // nothing left in the bucket
      break;
    }
  }
}

// A store whose first read of each block (each folder), once armed, waits at a rendezvous for the
// first reads of `blocks` blocks: they all meet only if the blocks are read in parallel.
class MeetingStore final : public objstore::ForwardingStore {
 public:
  MeetingStore(std::shared_ptr<objstore::ObjectStore> base, int blocks)
      : ForwardingStore(std::move(base)), first_reads_(blocks) {}
  void Arm() { armed_ = true; }
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = objstore::kToEnd) override {
    if (armed_ && FirstOfItsFolder(key) && !first_reads_.ArriveAndWait()) all_met_ = false;
    return base().Get(key, offset, length);
  }
  bool all_met() const { return all_met_; }
  size_t folders_read() const {
    std::lock_guard lock(mu_);
    return folders_.size();
  }

 private:
  bool FirstOfItsFolder(std::string_view key) {
    std::lock_guard lock(mu_);
    return folders_.emplace(key.substr(0, key.rfind('/'))).second;
  }

  test_sync::Rendezvous first_reads_;
  std::atomic<bool> armed_ = false;
  std::atomic<bool> all_met_ = true;
  mutable std::mutex mu_;
  std::set<std::string> folders_;  // GUARDED_BY(mu_)
};

// A cold lookup of a trace with a span in each of 8 blocks reads the 8 blocks at the same time.
TEST_F(DbTest, QueriesOverManyBlocksReadThemInParallel) {
  Open(memory_);
  for (uint8_t b = 1; b <= 8; ++b) {
    Ingest(Batch("svc", {MakeSpan(b, 1, 100 * b), MakeSpan(42, b, 100 * b)}));
    ASSERT_TRUE(db_->Flush().ok());
  }
  auto meeting = std::make_shared<MeetingStore>(memory_, 8);
  Open(meeting);  // cold: nothing cached
  model::TraceId shared{};
  shared[15] = 42;
  meeting->Arm();
  const auto spans = SpansOf(db_->engine(), {shared});
  EXPECT_EQ(spans.size(), 8u);  // one span in each block
  EXPECT_EQ(meeting->folders_read(), 8u);
  EXPECT_TRUE(meeting->all_met()) << "the blocks were not read at the same time";
}

// Two processes on one bucket: what one publishes, the other serves after a refresh, and a block
// that leaves the list leaves its queries, but not one that already started.
TEST_F(DbTest, AnotherProcessFollowsTheBlockListThroughRefresh) {
  Open(memory_);
  std::unique_ptr<Db> reader = OpenOther(memory_, "reader");
  ASSERT_NE(reader, nullptr);
  Ingest(Batch("a", {MakeSpan(1, 1, 100), MakeSpan(2, 1, 100)}));
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_EQ(reader->Stats().blocks, 0u);
  EXPECT_TRUE(SpansOf(reader->engine(), {Trace(1)}).empty());
  ASSERT_TRUE(reader->Refresh().ok());
  EXPECT_EQ(reader->Stats().blocks, 1u);
  EXPECT_EQ(SpansOf(reader->engine(), {Trace(1), Trace(2)}).size(), 2u);
  EXPECT_EQ(*reader->engine().Services(), std::vector<std::string>{"a"});

  // The writer's next block joins; the reader's earlier reader object is kept (its cache warm).
  Ingest(Batch("b", {MakeSpan(3, 1, 200)}));
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_TRUE(reader->Refresh().ok());
  EXPECT_EQ(reader->Stats().blocks, 2u);
  EXPECT_EQ(SpansOf(reader->engine(), {Trace(1), Trace(2), Trace(3)}).size(), 3u);

  // The first block leaves the list while a query is reading: that query still gets both of its
  // traces; the next query sees neither.
  BlockListStore lists(memory_.get(), "default");
  auto list = lists.LoadLatest();
  ASSERT_TRUE(list.ok());
  const auto first = std::find_if(list->blocks.begin(), list->blocks.end(),
                                  [](const auto& b) { return b.meta.min_span_start == 100; });
  ASSERT_NE(first, list->blocks.end());
  ASSERT_TRUE(lists.Update({}, {first->meta.block_id}).ok());
  size_t during = 0;
  ASSERT_TRUE(reader->engine()
                  .GetTraces({Trace(1), Trace(2)},
                             [&](const model::TraceId&, model::Traces&& t) {
                               during += t.SpanCount();
                               return reader->Refresh();  // drops the block mid-query
                             })
                  .ok());
  EXPECT_EQ(during, 2u);
  EXPECT_EQ(reader->Stats().blocks, 1u);
  EXPECT_TRUE(SpansOf(reader->engine(), {Trace(1), Trace(2)}).empty());
  EXPECT_EQ(SpansOf(reader->engine(), {Trace(3)}).size(), 1u);

  // The writer follows too: its own blocks are neither doubled nor lost.
  ASSERT_TRUE(db_->Refresh().ok());
  EXPECT_EQ(db_->Stats().blocks, 1u);
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2), Trace(3)}).size(), 1u);
}

TEST_F(DbTest, RefreshOfAnUnchangedListCostsOneRequest) {
  auto meter = std::make_shared<objstore::MeteringStore>(memory_);
  Open(meter);
  Ingest(Batch("a", {MakeSpan(1, 1, 100)}));
  ASSERT_TRUE(db_->Flush().ok());
  meter->Reset();
  ASSERT_TRUE(db_->Refresh().ok());  // its own flush already adopted the newest version
  EXPECT_EQ(meter->snapshot().requests(), 1u);
  EXPECT_EQ(meter->snapshot().lists, 1u);
}

// Both processes write; each sees the other's blocks and its own exactly once, and so does a
// flush that publishes on top of a version it had not seen.
TEST_F(DbTest, TwoWritersSeeEachOthersBlocksExactlyOnce) {
  Open(memory_);
  std::unique_ptr<Db> other = OpenOther(memory_, "other");
  ASSERT_NE(other, nullptr);
  Ingest(Batch("a", {MakeSpan(1, 1, 100), MakeSpan(3, 1, 100)}));
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_TRUE(other->ingester().Ingest(Batch("b", {MakeSpan(2, 1, 200), MakeSpan(3, 2, 200)})).ok());
  ASSERT_TRUE(other->Flush().ok());  // publishes on top of db_'s block, and adopts both
  EXPECT_EQ(other->Stats().blocks, 2u);
  ASSERT_TRUE(db_->Refresh().ok());
  ASSERT_TRUE(db_->Refresh().ok());
  for (Db* db : {db_.get(), other.get()}) {
    EXPECT_EQ(db->Stats().blocks, 2u);
    EXPECT_EQ(SpansOf(db->engine(), {Trace(1), Trace(2), Trace(3)}).size(), 4u);
  }
}

// Publishing prunes old block-list versions, so the LIST behind a refresh stays one page.
TEST_F(DbTest, PublishingKeepsFewBlockListVersions) {
  Open(memory_);
  for (int i = 0; i < 40; ++i) {
    Ingest(Batch("a", {MakeSpan(static_cast<uint8_t>(i), 1, 100)}));
    ASSERT_TRUE(db_->Flush().ok());
  }
  auto versions = objstore::ListAll(*memory_, "tenants/default/blocklist/");
  ASSERT_TRUE(versions.ok());
  EXPECT_LE(versions->size(), 2 * BlockListStore::kKeptVersions);
  EXPECT_GE(versions->size(), BlockListStore::kKeptVersions);
  EXPECT_EQ(BlockListStore(memory_.get(), "default").LoadLatest()->blocks.size(), 40u);
}

constexpr uint64_t kNanosPerMinute = 60'000'000'000;

uint64_t UnixNanos(std::chrono::system_clock::time_point t) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// Retention 1 h. Expired spans are hidden wherever they are (head or blocks, in a block that also
// holds live spans), so a trace of expired spans only is unknown, a trace with live spans comes
// back with those only, and names of expired data leave the lists.
TEST_F(DbTest, RetentionHidesExpiredSpansFromEveryQuery) {
  retention_ = std::chrono::hours(1);
  Open(memory_);
  const uint64_t now = UnixNanos(now_);
  const uint64_t old = now - 120 * kNanosPerMinute, recent = now - 10 * kNanosPerMinute;
  model::Span old_root = MakeSpan(1, 1, old);
  model::Span live_child = MakeSpan(1, 2, recent);
  live_child.parent_span_id = old_root.span_id;
  Ingest(Batch("old", {old_root, MakeSpan(2, 1, old)}));
  Ingest(Batch("live", {live_child, MakeSpan(3, 1, recent)}));
  ASSERT_TRUE(db_->Flush().ok());                           // one block, partly expired
  Ingest(Batch("old-in-head", {MakeSpan(4, 1, old)}));      // the head: expired
  Ingest(Batch("live-in-head", {MakeSpan(5, 1, recent)}));  // the head: live

  const auto spans = SpansOf(db_->engine(), {Trace(1), Trace(2), Trace(3), Trace(4), Trace(5)});
  EXPECT_EQ(spans.size(), 3u);
  for (const auto& [trace, span, start] : spans) EXPECT_EQ(start, recent);
  EXPECT_EQ(*db_->engine().Services(), (std::vector<std::string>{"live", "live-in-head"}));
  EXPECT_TRUE(db_->engine().Operations("old", "")->empty());
  EXPECT_TRUE(db_->engine().Operations("old-in-head", "")->empty());
  EXPECT_FALSE(db_->engine().Operations("live", "")->empty());

  query::TraceQuery q;
  q.service_name = "old";
  EXPECT_TRUE(db_->engine().FindTraceIds(q)->empty());
  q.service_name = "live";
  auto hits = db_->engine().FindTraceIds(q);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->size(), 2u);  // traces 1 and 3
  std::vector<model::TraceId> found;
  ASSERT_TRUE(db_->engine()
                  .FindTraces({},
                              [&](const model::TraceId& id, model::Traces&& t) {
                                found.push_back(id);
                                EXPECT_GT(t.SpanCount(), 0u);
                                return Status::Ok();
                              })
                  .ok());
  std::sort(found.begin(), found.end());
  EXPECT_EQ(found, (std::vector<model::TraceId>{Trace(1), Trace(3), Trace(5)}));

  // Time passes: everything expires.
  now_ += std::chrono::hours(2);
  EXPECT_TRUE(SpansOf(db_->engine(), {Trace(1), Trace(3), Trace(5)}).empty());
  EXPECT_TRUE(db_->engine().Services()->empty());
}

TEST_F(DbTest, ApplyRetentionUnpublishesBlocksWhoseSpansAllExpired) {
  retention_ = std::chrono::hours(1);
  Open(memory_);
  const uint64_t now = UnixNanos(now_);
  Ingest(Batch("a", {MakeSpan(1, 1, now - 180 * kNanosPerMinute)}));
  ASSERT_TRUE(db_->Flush().ok());
  Ingest(Batch("b", {MakeSpan(2, 1, now - 90 * kNanosPerMinute)}));
  ASSERT_TRUE(db_->Flush().ok());
  Ingest(Batch("c", {MakeSpan(3, 1, now - 10 * kNanosPerMinute)}));
  ASSERT_TRUE(db_->Flush().ok());
  BlockListStore lists(memory_.get(), "default");
  ASSERT_EQ(lists.LoadLatest()->blocks.size(), 3u);

  ASSERT_TRUE(db_->ApplyRetention(now_).ok());
  auto list = lists.LoadLatest();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->blocks.size(), 1u);
  EXPECT_EQ(list->blocks[0].meta.min_span_start, now - 10 * kNanosPerMinute);
  EXPECT_EQ(db_->Stats().blocks, 1u);

  // Nothing more to do: no new version.
  ASSERT_TRUE(db_->ApplyRetention(now_).ok());
  EXPECT_EQ(lists.LoadLatest()->version, list->version);
  // Two hours on, the last block goes too.
  ASSERT_TRUE(db_->ApplyRetention(now_ + std::chrono::hours(2)).ok());
  EXPECT_TRUE(lists.LoadLatest()->blocks.empty());
}

TEST_F(DbTest, WalReplayDropsExpiredSpans) {
  Open(memory_);  // no retention yet
  const uint64_t now = UnixNanos(now_);
  Ingest(Batch("a", {MakeSpan(1, 1, now - 180 * kNanosPerMinute), MakeSpan(2, 1, now - 10 * kNanosPerMinute)}));
  retention_ = std::chrono::hours(1);
  Open(memory_);  // replays the WAL with retention
  EXPECT_EQ(db_->Stats().active_head.spans, 1u);
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1), Trace(2)}).size(), 1u);
}

// Six blocks an hour apart, opened cold behind a store that records the key of every GET.
class ManyBlocksTest : public DbTest {
 protected:
  static constexpr uint64_t kHour = 3'600'000'000'000;
  void SetUp() override {
    DbTest::SetUp();
    Open(memory_);
    for (uint8_t b = 1; b <= 6; ++b) {
      Ingest(Batch("svc", {MakeSpan(b, 1, b * kHour)}));
      ASSERT_TRUE(db_->Flush().ok());
    }
    auto lists = BlockListStore(memory_.get(), "default").LoadLatest();
    ASSERT_TRUE(lists.ok());
    for (const auto& b : lists->blocks)
      prefix_of_hour_[b.meta.min_span_start / kHour] = BlockPrefix("default", b.meta.block_id);
    recorder_ = std::make_shared<objstore::FaultStore>(memory_);
    recorder_->FailWhen(
        [this](objstore::StoreOp op, std::string_view key) {
          if (op == objstore::StoreOp::kGet) gets_.emplace_back(key);  // under the store's lock
          return false;
        },
        Status::Internal("never injected"));
    Open(recorder_);  // cold: nothing cached
    gets_.clear();
  }
  // Whether every GET since the last clear read block `hour`'s objects.
  bool OnlyBlockRead(uint64_t hour) const {
    return std::all_of(gets_.begin(), gets_.end(),
                       [&](const std::string& key) { return key.starts_with(prefix_of_hour_.at(hour)); });
  }

  std::map<uint64_t, std::string> prefix_of_hour_;
  std::shared_ptr<objstore::FaultStore> recorder_;
  std::vector<std::string> gets_;
};

TEST_F(ManyBlocksTest, ASearchNeverOpensBlocksOutsideItsWindow) {
  query::TraceQuery q;
  q.service_name = "svc";
  q.start_time_min_unix_nano = 3 * kHour - 1;
  q.start_time_max_unix_nano = 3 * kHour + 1;
  auto hits = db_->engine().FindTraceIds(q);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].trace_id, Trace(3));
  EXPECT_FALSE(gets_.empty());
  EXPECT_TRUE(OnlyBlockRead(3)) << gets_.size() << " GETs, the first " << gets_[0];

  // Dependencies over a window are judged from the metas too.
  gets_.clear();
  ASSERT_TRUE(db_->engine().Dependencies(5 * kHour - 1, 5 * kHour + 2000).ok());
  EXPECT_TRUE(OnlyBlockRead(5)) << gets_.size() << " GETs";
}

// Trace by ID: once a block's trace table (with its bloom) is loaded, a lookup skips the block
// without a GET when the bloom or the table rules the trace out.
// Opened cold, the blocks' trace-ID blooms were pinned as they joined (Db::Adopt), so a lookup
// reads the holding block alone: its trace section with the page directory and dictionary (one
// GET, adjacent sections) and the trace's page (one GET).
TEST_F(ManyBlocksTest, TraceByIdReadsOnlyTheHoldingBlockWithTheBloomsPinned) {
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(1)}).size(), 1u);
  EXPECT_TRUE(OnlyBlockRead(1));
  EXPECT_LE(gets_.size(), 2u);
  gets_.clear();
  EXPECT_EQ(SpansOf(db_->engine(), {Trace(5)}).size(), 1u);
  EXPECT_TRUE(OnlyBlockRead(5));
  EXPECT_LE(gets_.size(), 2u);
  gets_.clear();
  EXPECT_TRUE(SpansOf(db_->engine(), {Trace(99)}).empty());
  EXPECT_TRUE(gets_.empty());
}

// 50 blocks of 4 traces, opened cold behind a store that counts GETs: adoption pins each block's
// bloom (2 GETs a block: the trace section's header, then its bloom); after that every lookup of
// a stored trace costs at most 3 GETs (2 for the holding block, 1 for a bloom's false positive),
// and a lookup of a trace no block holds costs a GET only for a false positive.
TEST_F(DbTest, ColdTraceByIdOverFiftyBlocksCostsAtMostThreeReads) {
  constexpr int kBlocks = 50, kPerBlock = 4;
  Open(memory_);
  for (int b = 0; b < kBlocks; ++b) {
    std::vector<model::Span> spans;
    for (int t = 0; t < kPerBlock; ++t)
      spans.push_back(MakeSpan(static_cast<uint8_t>(1 + b * kPerBlock + t), 1, 1000 + b));
    Ingest(Batch("svc", spans));
    ASSERT_TRUE(db_->Flush().ok());
  }
  std::atomic<size_t> gets{0};
  auto recorder = std::make_shared<objstore::FaultStore>(memory_);
  recorder->FailWhen(
      [&](objstore::StoreOp op, std::string_view) {
        if (op == objstore::StoreOp::kGet) ++gets;
        return false;
      },
      Status::Internal("never injected"));
  Open(recorder);
  EXPECT_LE(gets.load(), size_t{2 * kBlocks + 10});  // the pinned blooms, and the block list
  // The first lookup in a block finds nothing of it loaded (cold); the block's later ones find its
  // trace section and page loaded.
  size_t worst = 0, cold = 0;
  for (int n = 1; n <= kBlocks * kPerBlock; ++n) {
    gets = 0;
    ASSERT_EQ(SpansOf(db_->engine(), {Trace(static_cast<uint8_t>(n))}).size(), 1u) << n;
    worst = std::max(worst, gets.load());
    if (n % kPerBlock == 1) cold += gets;
  }
  EXPECT_LE(worst, 3u);
  gets = 0;
  for (int n = kBlocks * kPerBlock + 1; n <= 255; ++n)
    EXPECT_TRUE(SpansOf(db_->engine(), {Trace(static_cast<uint8_t>(n))}).empty());
  const size_t unknown = gets;
  // A bloom of 4 traces is 64 bits with 7 probes (~0.07% false positives): of 55 x 50 probes, a
  // few at most err, each costing that block's trace section once.
  EXPECT_LE(unknown, 5u);
  std::printf(
      "trace by ID over %d blocks opened cold: max %zu GETs, mean %.2f for a block's first lookup; %zu for %d"
      " unknown traces\n",
      kBlocks, worst, static_cast<double>(cold) / kBlocks, unknown, 255 - kBlocks * kPerBlock);
}

// Six blocks an hour apart, searched newest first one block at a time: the search stops once no
// older block can change its answer, and the allowance for traces split across blocks decides
// how far back that is. Trace 42 matches in block 3 only, but its newest span is in block 6.
TEST_F(DbTest, ANewestFirstSearchStopsEarlyAcrossBlocksAllowingForSplitTraces) {
  constexpr uint64_t kHour = 3'600'000'000'000;
  Open(memory_);
  for (uint8_t b = 1; b <= 6; ++b) {
    Ingest(Batch("svc", {MakeSpan(b, 1, b * kHour)}));
    if (b == 3) Ingest(Batch("svc", {MakeSpan(42, 1, 3 * kHour)}));
    if (b == 6) Ingest(Batch("other", {MakeSpan(42, 2, 6 * kHour + 10)}));
    ASSERT_TRUE(db_->Flush().ok());
  }
  auto list = BlockListStore(memory_.get(), "default").LoadLatest();
  ASSERT_TRUE(list.ok());
  std::map<std::string, uint64_t> hour_of_prefix;
  std::set<uint64_t> hours_read;
  auto recorder = std::make_shared<objstore::FaultStore>(memory_);
  recorder->FailWhen(
      [&](objstore::StoreOp op, std::string_view key) {
        for (const auto& [prefix, hour] : hour_of_prefix)
          if (op == objstore::StoreOp::kGet && key.starts_with(prefix)) hours_read.insert(hour);
        return false;
      },
      Status::Internal("never injected"));
  query::SourceList readers;
  for (const auto& listed : list->blocks) {
    const std::string prefix = BlockPrefix("default", listed.meta.block_id);
    hour_of_prefix[prefix] = listed.meta.min_span_start / kHour;
    readers.push_back(std::make_shared<block::BlockReader>(recorder.get(), prefix, listed.meta, nullptr));
  }
  const auto search = [&](uint64_t allowance) {
    hours_read.clear();
    query::QueryEngineOptions options;
    options.max_parallel = 1;
    options.split_trace_allowance_nanos = allowance;
    query::TraceQuery q;
    q.service_name = "svc";
    q.search_depth = 2;
    auto hits = query::QueryEngine(readers, options).FindTraceIds(q);
    EXPECT_TRUE(hits.ok()) << hits.status().ToString();
    std::vector<model::TraceId> ids;
    for (const auto& h : *hits) ids.push_back(h.trace_id);
    return ids;
  };
  // Allowance 30 min: after blocks 6 and 5 the second result (5 h) is over an hour newer than
  // block 4, so blocks 4 to 1 are never read, and trace 42 is missed.
  EXPECT_EQ(search(kHour / 2), (std::vector<model::TraceId>{Trace(6), Trace(5)}));
  EXPECT_EQ(hours_read, (std::set<uint64_t>{5, 6}));
  // Allowance 4 h: every block may still hold a trace that outranks 5 h; trace 42 ranks first by
  // its span in block 6.
  EXPECT_EQ(search(4 * kHour), (std::vector<model::TraceId>{Trace(42), Trace(6)}));
  EXPECT_EQ(hours_read, (std::set<uint64_t>{1, 2, 3, 4, 5, 6}));
  // Allowance 90 min: blocks 6, 5 and 4 (5 h − 4 h ≤ 90 min), then 5 h − 3 h > 90 min stops.
  EXPECT_EQ(search(3 * kHour / 2), (std::vector<model::TraceId>{Trace(6), Trace(5)}));
  EXPECT_EQ(hours_read, (std::set<uint64_t>{4, 5, 6}));
}

}  // namespace
}  // namespace tb::db
