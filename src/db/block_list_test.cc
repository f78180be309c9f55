#include "db/block_list.h"

#include <gtest/gtest.h>

#include "block/block_writer.h"
#include "objstore/fault_store.h"
#include "objstore/memory_store.h"

namespace tb::db {
namespace {

block::BlockMeta Meta(const std::string& id, const std::string& writer, uint64_t wal_last) {
  block::BlockMeta m;
  m.block_id = id;
  m.writer_id = writer;
  m.wal_first = wal_last == 0 ? 0 : 1;
  m.wal_last = wal_last;
  m.span_count = 1;
  m.trace_count = 1;
  for (int i = 1; i <= block::kSectionCount; ++i) m.sections.push_back({static_cast<block::SectionId>(i), 1, 0, 0, 0});
  return m;
}

TEST(BlockListTest, RoundTripsLevelsRetiredBlocksAndWatermarks) {
  BlockList list;
  list.version = 7;
  list.blocks = {{Meta("a", "w1", 5), 0, false}, {Meta("b", "w2", 0), 2, true}};
  list.retired = {{"c", 123}, {"d", 456}};
  list.wal_watermarks = {{"w1", 5}, {"w3", 9}};
  auto decoded = DecodeBlockList(EncodeBlockList(list), "test");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->version, 7u);
  EXPECT_EQ(decoded->blocks, list.blocks);
  EXPECT_EQ(decoded->retired, list.retired);
  EXPECT_EQ(decoded->wal_watermarks, list.wal_watermarks);

  std::string bytes = EncodeBlockList(list);
  bytes[bytes.size() / 2] ^= 1;
  EXPECT_EQ(DecodeBlockList(bytes, "test").status().code(), StatusCode::kDataLoss);
}

// The first layout (TBBLIST1: magic, version, count, metas, checksum) still reads: every block at
// level 0, and each writer's watermark taken from its blocks.
TEST(BlockListTest, ReadsTheFirstLayout) {
  block::ByteWriter w;
  w.Bytes("TBBLIST1");
  w.U64(3);
  w.U32(2);
  w.LenBytes(block::EncodeMeta(Meta("a", "w1", 5)));
  w.LenBytes(block::EncodeMeta(Meta("b", "w1", 9)));
  w.U64(block::Checksum64(w.out()));
  auto list = DecodeBlockList(w.Take(), "old");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->version, 3u);
  ASSERT_EQ(list->blocks.size(), 2u);
  EXPECT_EQ(list->blocks[1].level, 0u);
  EXPECT_TRUE(list->retired.empty());
  EXPECT_EQ(list->wal_watermarks, (std::map<std::string, uint64_t>{{"w1", 9}}));
}

TEST(BlockListTest, RetiredBlocksLeaveTheListAndNeverComeBack) {
  objstore::MemoryStore store;
  BlockListStore lists(&store, "t");
  ASSERT_TRUE(lists.Update({Meta("a", "w1", 4), Meta("b", "w1", 8)}, {}).ok());
  BlockListChange compact;
  compact.add = {{Meta("c", "w2", 0), 1, false}};
  compact.retire = {"a", "b"};
  compact.retire_only_live = true;
  compact.now_unix_nano = 1000;
  auto list = lists.Update(compact);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->blocks.size(), 1u);
  EXPECT_EQ(list->blocks[0].meta.block_id, "c");
  EXPECT_EQ(list->blocks[0].level, 1u);
  EXPECT_EQ(list->retired, (std::vector<RetiredBlock>{{"a", 1000}, {"b", 1000}}));
  EXPECT_EQ(list->wal_watermarks.at("w1"), 8u);  // outlives the blocks that set it
  EXPECT_FALSE(list->wal_watermarks.contains("w2"));

  // A late republication of a retired block is ignored.
  auto again = lists.Update({Meta("a", "w1", 4)}, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Find("a"), nullptr);
  // A second compaction of an input that is gone publishes nothing.
  BlockListChange stale;
  stale.add = {{Meta("d", "w3", 0), 1, false}};
  stale.retire = {"b"};
  stale.retire_only_live = true;
  const uint64_t version = again->version;
  EXPECT_EQ(lists.Update(stale).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(lists.LoadLatest()->version, version);
}

// A publication whose answer was lost (the PUT landed) is found in place by its retry, which
// publishes nothing more — and a compaction retried so does not fail on its own retirements.
TEST(BlockListTest, ARetryAfterALostAnswerFindsTheChangeInPlace) {
  auto memory = std::make_shared<objstore::MemoryStore>();
  objstore::FaultStore faults(memory);
  BlockListStore lists(&faults, "t");
  ASSERT_TRUE(lists.Update({Meta("a", "w1", 4)}, {}).ok());
  BlockListChange compact;
  compact.add = {{Meta("c", "w2", 0), 1, false}};
  compact.retire = {"a"};
  compact.retire_only_live = true;
  faults.FailNthMutation(1, Status::Unavailable("answer lost"), objstore::FaultTiming::kAfter);
  EXPECT_FALSE(lists.Update(compact).ok());
  auto retried = lists.Update(compact);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->version, 2u);
  EXPECT_NE(retried->Find("c"), nullptr);
}

TEST(BlockListTest, SweepDeletesRetiredBlocksOnlyAfterTheGracePeriod) {
  objstore::MemoryStore store;
  BlockListStore lists(&store, "t");
  for (const char* id : {"a", "b"})
    for (const char* object : {block::kDataObject, block::kIndexObject, block::kMetaObject})
      ASSERT_TRUE(store.Put(BlockPrefix("t", id) + object, "x").ok());
  ASSERT_TRUE(lists.Update({Meta("a", "w", 1), Meta("b", "w", 2)}, {}).ok());
  BlockListChange retire;
  retire.retire = {"a"};
  retire.now_unix_nano = 1000;
  ASSERT_TRUE(lists.Update(retire).ok());

  auto early = lists.SweepRetired(1500, 1000);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->blocks_deleted, 0u);
  EXPECT_TRUE(store.Head(BlockPrefix("t", "a") + "data").ok());

  auto late = lists.SweepRetired(2000, 1000);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->blocks_deleted, 1u);
  for (const char* object : {block::kDataObject, block::kIndexObject, block::kMetaObject}) {
    EXPECT_EQ(store.Head(BlockPrefix("t", "a") + object).status().code(), StatusCode::kNotFound);
    EXPECT_TRUE(store.Head(BlockPrefix("t", "b") + object).ok());
  }
  auto list = lists.LoadLatest();
  EXPECT_TRUE(list->retired.empty());
  EXPECT_NE(list->Find("b"), nullptr);
}

}  // namespace
}  // namespace tb::db
