#include "objstore/metering_store.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "objstore/memory_store.h"

namespace tb::objstore {
namespace {

TEST(MeteringStoreTest, CountsCallsAndBytesExactly) {
  auto meter = std::make_shared<MeteringStore>(std::make_shared<MemoryStore>());
  ASSERT_TRUE(meter->Put("a", std::string(1000, 'a')).ok());
  ASSERT_TRUE(meter->Put("b", "bb", PutMode::kCreateOnly).ok());
  EXPECT_EQ(meter->Put("b", "bbb", PutMode::kCreateOnly).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(meter->Get("a").ok());
  ASSERT_TRUE(meter->Get("a", 100, 50).ok());
  ASSERT_TRUE(meter->Get("a", 990).ok());
  EXPECT_FALSE(meter->Get("missing").ok());
  ASSERT_TRUE(meter->Head("a").ok());
  ASSERT_TRUE(meter->List("", "").ok());
  ASSERT_TRUE(meter->List("a", "", 1).ok());
  ASSERT_TRUE(meter->Delete({"a", "b", "c"}).ok());

  MeteringStore::Counters want;
  want.puts = 3;
  want.put_bytes = 1002;  // the failed put moved nothing
  want.gets = 4;
  want.get_bytes = 1000 + 50 + 10;
  want.heads = 1;
  want.lists = 2;
  want.deletes = 1;
  want.deleted_keys = 3;
  want.errors = 2;
  EXPECT_EQ(meter->snapshot(), want);
  EXPECT_EQ(meter->snapshot().requests(), 11u);

  meter->Reset();
  EXPECT_EQ(meter->snapshot(), MeteringStore::Counters{});
  EXPECT_EQ(meter->Describe(), "mem://");
  EXPECT_TRUE(meter->SupportsCreateOnly());
}

TEST(MeteringStoreTest, CountsAreExactUnderConcurrency) {
  auto meter = std::make_shared<MeteringStore>(std::make_shared<MemoryStore>());
  ASSERT_TRUE(meter->Put("k", "12345").ok());
  meter->Reset();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        (void)meter->Get("k", 1, 2).ok();
        (void)meter->Head("k").ok();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  MeteringStore::Counters c = meter->snapshot();
  EXPECT_EQ(c.gets, 8000u);
  EXPECT_EQ(c.get_bytes, 16000u);
  EXPECT_EQ(c.heads, 8000u);
  EXPECT_EQ(c.errors, 0u);
}

}  // namespace
}  // namespace tb::objstore
