#include "db/compactor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "block/block_reader.h"
#include "db/db.h"
#include "db/lease.h"
#include "model/random_traces.h"
#include "objstore/azure_store.h"
#include "objstore/fault_store.h"
#include "objstore/gcs_store.h"
#include "objstore/local_store.h"
#include "objstore/memory_store.h"
#include "objstore/s3_store.h"
#include "wire/otlp_codec.h"

namespace tb::db {
namespace {

using model::AnyValue;

// Every span the engine returns for `ids`, each as the OTLP bytes of it with its resource and
// scope: a multiset, so a lost, changed or duplicated span shows.
std::multiset<std::string> Contents(const query::QueryEngine& engine, const std::vector<model::TraceId>& ids) {
  std::multiset<std::string> out;
  Status s = engine.GetTraces(ids, [&](const model::TraceId&, model::Traces&& t) {
    for (const auto& rs : t.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& span : ss.spans) {
          model::Traces one;
          one.resource_spans.push_back({rs.resource, {{ss.scope, {span}}}});
          out.insert(wire::EncodeOtlpProtobuf(one));
        }
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::vector<model::TraceId> IdsOf(const std::vector<model::Traces>& batches) {
  std::set<model::TraceId> ids;
  for (const auto& b : batches)
    for (const auto& rs : b.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& s : ss.spans) ids.insert(s.trace_id);
  return {ids.begin(), ids.end()};
}

class CompactorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("tb_compact_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
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
    o.head_memory_budget_bytes = 256 << 20;
    o.compaction = compaction_;
    o.compaction.writer.zstd_level = 3;  // tests need not pay for strong compression
    return o;
  }
  void Open(std::shared_ptr<objstore::ObjectStore> store) {
    db_.reset();
    auto db = Db::Open(Options(), std::move(store));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
  }
  // Flushes `blocks` blocks of random traces, `per_block` batches each. Trace IDs repeat across
  // blocks (traces split across inputs), and the last batch of each block is ingested twice
  // (identical spans in two places).
  std::vector<model::Traces> FlushRandomBlocks(int blocks, int per_block, const model::RandomTracesOptions& shape) {
    std::vector<model::Traces> all;
    for (int b = 0; b < blocks; ++b) {
      for (int i = 0; i < per_block; ++i) {
        model::Traces batch = model::RandomTraces(1000 * b + i, shape);
        if (b > 0 && i == 0) {
          // Continue a trace of the previous block.
          batch.resource_spans[0].scope_spans[0].spans[0].trace_id =
              all.back().resource_spans[0].scope_spans[0].spans[0].trace_id;
        }
        all.push_back(batch);
        EXPECT_TRUE(db_->ingester().Ingest(model::Traces(batch)).ok());
      }
      EXPECT_TRUE(db_->ingester().Ingest(model::Traces(all.back())).ok());  // the same spans again
      EXPECT_TRUE(db_->Flush().ok());
    }
    return all;
  }
  BlockList List(objstore::ObjectStore* store) {
    auto list = BlockListStore(store, "default").LoadLatest();
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? *list : BlockList{};
  }

  std::filesystem::path dir_;
  CompactionOptions compaction_;
  std::shared_ptr<objstore::MemoryStore> memory_ = std::make_shared<objstore::MemoryStore>();
  std::unique_ptr<Db> db_;
};

TEST_F(CompactorTest, MergesAWindowIntoOneBlockWithTracesWholeAndIdenticalSpansOnce) {
  Open(memory_);
  const auto batches = FlushRandomBlocks(5, 3, {});
  const auto ids = IdsOf(batches);
  const auto before = Contents(db_->engine(), ids);
  const std::set<std::string> distinct(before.begin(), before.end());
  ASSERT_LT(distinct.size(), before.size());  // the re-ingested batches are there twice
  ASSERT_EQ(db_->Stats().blocks, 5u);

  auto summary = db_->Compact();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->compactions, 1u);
  EXPECT_EQ(summary->input_blocks, 5u);
  EXPECT_EQ(summary->output_blocks, 1u);
  EXPECT_EQ(summary->input_spans, before.size());
  EXPECT_EQ(summary->output_spans, distinct.size());
  EXPECT_EQ(summary->duplicate_spans_dropped, before.size() - distinct.size());
  EXPECT_EQ(db_->Stats().blocks, 1u);

  const auto after = Contents(db_->engine(), ids);
  EXPECT_EQ(after, std::multiset<std::string>(distinct.begin(), distinct.end()));
  const BlockList list = List(memory_.get());
  ASSERT_EQ(list.blocks.size(), 1u);
  EXPECT_EQ(list.blocks[0].level, 1u);
  EXPECT_EQ(list.blocks[0].meta.wal_last, 0u);
  EXPECT_EQ(list.retired.size(), 5u);

  // A restart reads the same spans: nothing replayed twice, no input republished.
  Open(memory_);
  EXPECT_EQ(Contents(db_->engine(), ids), after);
  EXPECT_EQ(db_->Stats().active_head.spans, 0u);
  // Nothing is left to merge.
  auto again = db_->Compact();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->compactions, 0u);
}

// Retention runs before any merge: blocks whose spans all started before the cutoff are retired
// (never merged), the others stay, and the sweep deletes the expired blocks' objects once the
// grace period is over (here at once).
TEST_F(CompactorTest, RetentionRetiresExpiredBlocksBeforeMergingAndTheSweepDeletesThem) {
  compaction_.grace_period = std::chrono::nanoseconds(0);
  Open(memory_);
  FlushRandomBlocks(3, 1, {});  // spans of November 2023: expired under a 30-day retention
  model::Traces recent = model::RandomTraces(99, {1, 1, 3, 1});
  for (auto& span : recent.resource_spans[0].scope_spans[0].spans) {
    span.start_time_unix_nano = NowUnixNano();
    span.end_time_unix_nano = span.start_time_unix_nano + 1000;
  }
  ASSERT_TRUE(db_->ingester().Ingest(model::Traces(recent)).ok());
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_EQ(List(memory_.get()).blocks.size(), 4u);
  const std::string live_id = List(memory_.get()).blocks.back().meta.block_id;

  CompactionOptions options = compaction_;
  options.retention = std::chrono::hours(24 * 30);
  std::atomic<uint64_t> counter = 0;
  Compactor compactor(
      memory_.get(), "default", "retention-test", [&] { return MakeBlockId("retention-test", ++counter); }, options);
  auto summary = compactor.RunUntilDone({});
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->blocks_expired, 3u);
  EXPECT_EQ(summary->compactions, 0u);  // one live block is left: nothing to merge
  EXPECT_EQ(summary->blocks_swept, 3u);
  const BlockList list = List(memory_.get());
  ASSERT_EQ(list.blocks.size(), 1u);
  EXPECT_EQ(list.blocks[0].meta.block_id, live_id);
  EXPECT_TRUE(list.retired.empty());  // swept: their entries are dropped with their objects
  std::set<std::string> with_meta, without_meta;
  ASSERT_TRUE(BlockListStore(memory_.get(), "default").ScanBlocks(&with_meta, &without_meta).ok());
  EXPECT_EQ(with_meta, std::set<std::string>{live_id});
  EXPECT_TRUE(without_meta.empty());
}

// Spans that share a span ID but differ are different spans: all are kept.
TEST_F(CompactorTest, SpansAreNeverMergedBySpanIdAlone) {
  Open(memory_);
  model::Traces a = model::RandomTraces(7, {1, 1, 2, 1});
  model::Traces b = a;
  b.resource_spans[0].scope_spans[0].spans[0].name += "-other";
  ASSERT_TRUE(db_->ingester().Ingest(model::Traces(a)).ok());
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_TRUE(db_->ingester().Ingest(model::Traces(b)).ok());
  ASSERT_TRUE(db_->Flush().ok());
  auto summary = db_->Compact();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->output_spans, 3u);  // a's two spans, and b's changed one
  EXPECT_EQ(Contents(db_->engine(), IdsOf({a})).size(), 3u);
}

// Inputs far larger than the memory budget: the merge streams, so one output holds them all when
// target_block_bytes allows it, with every span once and unchanged; and a small target cuts several
// outputs, each trace whole in one of them.
TEST_F(CompactorTest, InputsLargerThanTheMemoryBudgetMergeIntoOneOutput) {
  compaction_.memory_budget_bytes = 64 << 10;
  Open(memory_);
  const auto batches = FlushRandomBlocks(4, 10, {2, 2, 10, 8});
  const auto ids = IdsOf(batches);
  const auto before = Contents(db_->engine(), ids);
  uint64_t input_estimate = 0;
  for (const auto& b : batches) input_estimate += head::EstimateMemory(b);
  ASSERT_GT(input_estimate, 4 * compaction_.memory_budget_bytes);

  auto summary = db_->Compact();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->input_blocks, 4u);
  EXPECT_EQ(summary->output_blocks, 1u);
  const std::set<std::string> distinct(before.begin(), before.end());
  EXPECT_EQ(Contents(db_->engine(), ids), std::multiset<std::string>(distinct.begin(), distinct.end()));
  const auto blocks = List(memory_.get()).blocks;
  ASSERT_EQ(blocks.size(), 1u);
  block::BlockReader reader(memory_.get(), BlockPrefix("default", blocks[0].meta.block_id), blocks[0].meta, nullptr);
  EXPECT_TRUE(reader.Verify([](uint64_t) {}).empty());
}

TEST_F(CompactorTest, OutputsAreCutAtTheTargetSizeWithEveryTraceInOneOutput) {
  compaction_.memory_budget_bytes = 64 << 10;
  compaction_.target_block_bytes = 64 << 10;
  Open(memory_);
  const auto batches = FlushRandomBlocks(4, 10, {2, 2, 10, 8});
  const auto ids = IdsOf(batches);
  const auto before = Contents(db_->engine(), ids);

  auto summary = db_->Compact();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_GE(summary->output_blocks, 2u);
  const std::set<std::string> distinct(before.begin(), before.end());
  EXPECT_EQ(Contents(db_->engine(), ids), std::multiset<std::string>(distinct.begin(), distinct.end()));

  std::map<model::TraceId, int> outputs_holding;
  for (const auto& b : List(memory_.get()).blocks) {
    block::BlockReader reader(memory_.get(), BlockPrefix("default", b.meta.block_id), b.meta, nullptr);
    EXPECT_TRUE(reader.Verify([](uint64_t) {}).empty()) << b.meta.block_id;
    auto scan = reader.ScanTraces();
    block::ScannedTrace trace;
    while (true) {
      auto more = scan->Next(&trace);
      ASSERT_TRUE(more.ok()) << more.status().ToString();
      if (!*more) break;
      ++outputs_holding[trace.id];
    }
  }
  EXPECT_EQ(outputs_holding.size(), ids.size());
  for (const auto& [id, n] : outputs_holding) EXPECT_EQ(n, 1);
}

// The stores the crash test runs on: the in-memory store, the local folder, the real S3 server when
// S3_ENDPOINT names one (scripts/s3-up.sh), the GCS emulator when STORAGE_EMULATOR_HOST does
// (scripts/gcs-up.sh) and Azurite when AZURITE_BLOB_ENDPOINT does (scripts/azurite-up.sh);
// scripts/test.sh starts all three. Each cloud store's own create-only write carries the lease and
// the block list's versions.
class CrashTest : public CompactorTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void TearDown() override {
    CompactorTest::TearDown();
    std::filesystem::remove_all(dir_.string() + "-store");
    if (s3_bucket_ != nullptr) {
      Status s = s3_bucket_->DeleteBucketForTest();
      if (!s.ok()) ADD_FAILURE() << "deleting the test bucket: " << s.ToString();
    }
  }
  // A fresh, empty store for attempt `n`.
  std::shared_ptr<objstore::ObjectStore> FreshStore(int n) {
    if (GetParam() == "memory") return std::make_shared<objstore::MemoryStore>();
    const std::string prefix = "crash-" + std::to_string(n) + "/";
    if (GetParam() == "local") {
      auto store = objstore::LocalStore::Open((dir_.string() + "-store/") + prefix, {.sync = false});
      EXPECT_TRUE(store.ok()) << store.status().ToString();
      return store.ok() ? *store : nullptr;
    }
    const std::string bucket = "tb-compact-" + std::to_string(getpid());
    auto opened = [](auto store) -> std::shared_ptr<objstore::ObjectStore> {
      EXPECT_TRUE(store.ok()) << store.status().ToString();
      if (!store.ok()) return nullptr;
      return *store;
    };
    if (GetParam() == "gcs") {
      objstore::GcsOptions o;
      o.endpoint = objstore::gcs::EmulatorEndpoint(Env("STORAGE_EMULATOR_HOST"));
      o.bucket = bucket;
      o.prefix = prefix;
      o.create_bucket = true;
      return opened(objstore::GcsStore::Open(o));
    }
    if (GetParam() == "azure") {
      auto o = objstore::AzureOptionsFromEnvironment(bucket, prefix, Env("AZURITE_BLOB_ENDPOINT"));
      EXPECT_TRUE(o.ok()) << o.status().ToString();
      if (!o.ok()) return nullptr;
      o->create_container = true;
      return opened(objstore::AzureStore::Open(*o));
    }
    auto store = objstore::S3Store::Open(S3(prefix));
    if (store.ok() && s3_bucket_ == nullptr) s3_bucket_ = objstore::S3Store::Open(S3("")).value();
    return opened(std::move(store));
  }
  // The variable that names the parameter's server, or "" for the stores that need none.
  static const char* ServerVariable(const std::string& store) {
    if (store == "s3") return "S3_ENDPOINT";
    if (store == "gcs") return "STORAGE_EMULATOR_HOST";
    if (store == "azure") return "AZURITE_BLOB_ENDPOINT";
    return "";
  }
  static std::string Env(const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? "" : v;
  }
  objstore::S3Options S3(const std::string& prefix) const {
    objstore::S3Options o;
    o.endpoint = Env("S3_ENDPOINT");
    o.region = Env("S3_REGION").empty() ? "us-east-1" : Env("S3_REGION");
    o.access_key = Env("S3_ACCESS_KEY");
    o.secret_key = Env("S3_SECRET_KEY");
    o.bucket = "tb-compact-" + std::to_string(getpid());
    o.prefix = prefix;
    o.create_bucket = true;
    return o;
  }

  std::shared_ptr<objstore::S3Store> s3_bucket_;
};

// A compaction that dies at any of its object-store writes loses no span and shows none twice,
// after a restart and after the next compaction.
TEST_P(CrashTest, CrashAtEveryStepOfACompactionLosesNothingAndShowsNothingTwice) {
  if (const char* var = ServerVariable(GetParam()); *var != '\0' && Env(var).empty()) {
    GTEST_SKIP() << var << " is not set: no " << GetParam() << " server";
  }
  compaction_.memory_budget_bytes = 32 << 10;
  compaction_.target_block_bytes = 32 << 10;  // several outputs, so crashes fall between them too
  compaction_.grace_period = std::chrono::nanoseconds(0);
  for (int crash_after = 0; crash_after < 200; ++crash_after) {
    SCOPED_TRACE("crash after " + std::to_string(crash_after) + " mutations");
    std::filesystem::remove_all(dir_);
    auto store = FreshStore(crash_after);
    ASSERT_NE(store, nullptr);
    auto faults = std::make_shared<objstore::FaultStore>(store);
    Open(faults);
    const auto batches = FlushRandomBlocks(3, 4, {2, 2, 6, 6});
    const auto ids = IdsOf(batches);
    const auto before = Contents(db_->engine(), ids);
    const std::set<std::string> distinct_set(before.begin(), before.end());
    const std::multiset<std::string> distinct(distinct_set.begin(), distinct_set.end());

    faults->CrashAfterMutations(crash_after);
    auto compacted = db_->Compact();
    const bool crashed = faults->crashed();
    db_.reset();

    Open(store);  // restart on what reached the bucket
    const auto recovered = Contents(db_->engine(), ids);
    // Before the publication the inputs answer (duplicates and all); after it, the outputs.
    EXPECT_TRUE(recovered == before || recovered == distinct) << "compaction: " << compacted.status().ToString();
    auto finished = db_->Compact();
    ASSERT_TRUE(finished.ok()) << finished.status().ToString();
    EXPECT_EQ(Contents(db_->engine(), ids), distinct);
    if (!crashed) {
      EXPECT_TRUE(compacted.ok()) << compacted.status().ToString();
      EXPECT_GT(crash_after, 8);  // the compaction wrote several outputs
      break;                      // the compaction needs fewer writes than this: every crash point was covered
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, CrashTest, ::testing::Values("memory", "local", "s3", "gcs", "azure"));

// Two compactors on one bucket at once: the lease lets one work, and even two that both run a
// merge (as if the lease had expired under one) publish one result.
TEST_F(CompactorTest, TwoCompactorsNeverPublishTheSameSpansTwice) {
  Open(memory_);
  const auto batches = FlushRandomBlocks(4, 2, {});
  const auto ids = IdsOf(batches);
  const auto before = Contents(db_->engine(), ids);
  db_.reset();

  uint64_t counter = 0;
  auto next_id = [&counter](std::string instance) {
    return [&counter, instance] { return MakeBlockId(instance, ++counter); };
  };
  Compactor a(memory_.get(), "default", "00000000000000aa", next_id("00000000000000aa"), compaction_);
  Compactor b(memory_.get(), "default", "00000000000000bb", next_id("00000000000000bb"), compaction_);
  const auto plans = PlanCompactions(List(memory_.get()), compaction_, NowUnixNano());
  ASSERT_EQ(plans.size(), 1u);
  auto first = a.Run(plans[0], {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = b.Run(plans[0], {});
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  // The loser removed its outputs: only the winner's block has a meta besides the retired inputs.
  std::set<std::string> with_meta, without_meta;
  ASSERT_TRUE(BlockListStore(memory_.get(), "default").ScanBlocks(&with_meta, &without_meta).ok());
  EXPECT_EQ(with_meta.size(), 1u + 4u);
  EXPECT_TRUE(without_meta.empty());

  Open(memory_);
  const std::set<std::string> distinct(before.begin(), before.end());
  EXPECT_EQ(Contents(db_->engine(), ids), std::multiset<std::string>(distinct.begin(), distinct.end()));
}

TEST(CompactionLeaseTest, OneHolderAtATimeUntilItExpiresOrIsReleased) {
  objstore::MemoryStore store;
  const auto minute = std::chrono::minutes(1);
  CompactionLease a(&store, "t", "a", minute), b(&store, "t", "b", minute);
  const uint64_t t0 = 1'000'000'000'000;
  const uint64_t min = 60'000'000'000;
  EXPECT_TRUE(*a.Acquire(t0));
  EXPECT_FALSE(*b.Acquire(t0 + 1));
  EXPECT_TRUE(*a.Acquire(t0 + min / 2));  // renewed: now held until t0 + 1.5 min
  EXPECT_FALSE(*b.Acquire(t0 + min + 1));
  EXPECT_TRUE(*b.Acquire(t0 + 2 * min));  // a's lease expired: b takes it
  EXPECT_FALSE(*a.Acquire(t0 + 2 * min + 1));
  ASSERT_TRUE(b.Release().ok());
  EXPECT_TRUE(*a.Acquire(t0 + 2 * min + 2));  // released: free at once
  auto state = a.Current();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->holder, "a");
  // Old epochs are pruned as new ones are created.
  auto keys = objstore::ListAll(store, "tenants/t/compactor/");
  ASSERT_TRUE(keys.ok());
  EXPECT_LE(keys->size(), 2u);
}

TEST(CompactionPlanTest, MergesClosedWindowsAndBusyOpenOnesLevelByLevel) {
  CompactionOptions options;
  const uint64_t hour = 3600'000'000'000ull;
  const uint64_t now = 100 * 24 * hour;
  BlockList list;
  int n = 0;
  auto add = [&](uint64_t start, uint32_t level, bool full = false) {
    ListedBlock b;
    b.meta.block_id = "b" + std::to_string(n++);
    b.meta.min_span_start = start;
    b.level = level;
    b.full = full;
    list.blocks.push_back(b);
    std::sort(list.blocks.begin(), list.blocks.end(),
              [](const auto& x, const auto& y) { return x.meta.block_id < y.meta.block_id; });
  };
  add(10 * hour + 1, 0);  // hour 10 (closed): two flush blocks → level 1
  add(10 * hour + 2, 0);
  add(11 * hour, 0);  // hour 11 (closed): one flush block alone stays
  add(now - 1, 0);    // the open hour: three blocks, under min_open_inputs
  add(now - 2, 0);
  add(now - 3, 0);
  add(30 * hour, 1);  // day 1 (closed): two level-1 blocks → level 2
  add(31 * hour, 1);
  add(50 * hour, 1);  // day 2: a level-1 block, with a level-2 one that is not full…
  add(51 * hour, 2);
  add(52 * hour, 1, true);  // …and full blocks, left alone
  add(53 * hour, 2, true);
  auto plans = PlanCompactions(list, options, now);
  ASSERT_EQ(plans.size(), 3u);
  EXPECT_EQ(plans[0].level, 1u);
  EXPECT_EQ(plans[0].inputs.size(), 2u);
  EXPECT_EQ(plans[0].window_start_unix_nano, 10 * hour);
  EXPECT_EQ(plans[1].level, 2u);
  EXPECT_EQ(plans[1].inputs.size(), 2u);
  EXPECT_EQ(plans[1].window_start_unix_nano, 24 * hour);
  EXPECT_EQ(plans[2].level, 2u);  // the level-1 block joins the small level-2 block of its day
  EXPECT_EQ(plans[2].inputs.size(), 2u);

  add(now - 4, 0);  // a fourth block in the open hour: merged now
  plans = PlanCompactions(list, options, now);
  ASSERT_EQ(plans.size(), 4u);
  EXPECT_EQ(plans[1].inputs.size(), 4u);
  EXPECT_EQ(plans[1].level, 1u);
}

}  // namespace
}  // namespace tb::db
