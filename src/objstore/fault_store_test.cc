#include "objstore/fault_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "objstore/memory_store.h"

namespace tb::objstore {
namespace {

class FaultStoreTest : public ::testing::Test {
 protected:
  std::shared_ptr<MemoryStore> memory_ = std::make_shared<MemoryStore>();
  std::shared_ptr<FaultStore> faults_ = std::make_shared<FaultStore>(memory_);
};

TEST_F(FaultStoreTest, PassesThroughWithoutFaults) {
  EXPECT_TRUE(faults_->Put("k", "v").ok());
  EXPECT_EQ(faults_->Get("k").value(), "v");
  EXPECT_FALSE(faults_->crashed());
  EXPECT_EQ(faults_->mutations(), 1);
  EXPECT_EQ(faults_->injected(), 0);
  EXPECT_EQ(faults_->Describe(), "mem://");
}

TEST_F(FaultStoreTest, FailWhenSelectsByOpAndKey) {
  ASSERT_TRUE(memory_->Put("data/1", "x").ok());
  ASSERT_TRUE(memory_->Put("index/1", "y").ok());
  faults_->FailWhen([](StoreOp op, std::string_view key) { return op == StoreOp::kGet && key.starts_with("index/"); },
                    Status::Unavailable("injected"));
  EXPECT_EQ(faults_->Get("index/1").status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(faults_->Get("data/1").ok());
  EXPECT_TRUE(faults_->Head("index/1").ok());
  EXPECT_EQ(faults_->injected(), 1);

  // Lists are selected by prefix; a Delete by any of its keys.
  faults_->FailWhen([](StoreOp op, std::string_view key) { return op != StoreOp::kGet && key == "index/1"; },
                    Status::Internal("injected"));
  EXPECT_EQ(faults_->Delete({"data/1", "index/1"}).code(), StatusCode::kInternal);
  EXPECT_TRUE(memory_->Head("data/1").ok()) << "a failed-before delete is not applied";
  EXPECT_EQ(faults_->List("index/1", "").status().code(), StatusCode::kInternal);
  EXPECT_TRUE(faults_->List("index/", "").ok());

  faults_->Clear();
  EXPECT_TRUE(faults_->Get("index/1").ok());
}

TEST_F(FaultStoreTest, TimingBeforeOrAfterTheCall) {
  faults_->FailWhen([](StoreOp op, std::string_view key) { return op == StoreOp::kPut && key == "lost-request"; },
                    Status::Unavailable("lost request"), FaultTiming::kBefore);
  faults_->FailWhen([](StoreOp op, std::string_view key) { return op == StoreOp::kPut && key == "lost-response"; },
                    Status(StatusCode::kDeadlineExceeded, "lost response"), FaultTiming::kAfter);
  EXPECT_EQ(faults_->Put("lost-request", "v").code(), StatusCode::kUnavailable);
  EXPECT_EQ(faults_->Put("lost-response", "v").code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(memory_->Head("lost-request").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(memory_->Head("lost-response").ok());
}

TEST_F(FaultStoreTest, FailNthMutationCountsOnlyMutations) {
  faults_->FailNthMutation(3, Status::Unavailable("third"));
  EXPECT_TRUE(faults_->Put("1", "v").ok());
  EXPECT_TRUE(faults_->Get("1").ok());  // reads do not count
  EXPECT_TRUE(faults_->Delete({"nothing"}).ok());
  EXPECT_EQ(faults_->Put("3", "v").code(), StatusCode::kUnavailable);
  EXPECT_TRUE(faults_->Put("4", "v").ok());
  EXPECT_EQ(memory_->Head("3").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(faults_->mutations(), 4);
  EXPECT_EQ(faults_->injected(), 1);
}

TEST_F(FaultStoreTest, CrashPointStopsEverythingAfterTheNthMutation) {
  ASSERT_TRUE(faults_->Put("before", "v").ok());
  faults_->CrashAfterMutations(2);
  EXPECT_TRUE(faults_->Put("a", "1").ok());
  EXPECT_TRUE(faults_->Get("a").ok());
  EXPECT_FALSE(faults_->crashed());
  EXPECT_TRUE(faults_->Put("b", "2").ok());  // the 2nd: applied, acknowledged
  EXPECT_TRUE(faults_->crashed());
  EXPECT_EQ(faults_->Put("c", "3").code(), StatusCode::kUnavailable);
  EXPECT_EQ(faults_->Get("a").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(faults_->Head("a").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(faults_->List("", "").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(faults_->Delete({"a"}).code(), StatusCode::kUnavailable);
  // The base store holds exactly what was written before the crash.
  Result<std::vector<ObjectInfo>> left = ListAll(*memory_, "");
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 3u);
  EXPECT_EQ((*left)[0].key, "a");
  EXPECT_EQ((*left)[1].key, "b");
  EXPECT_EQ((*left)[2].key, "before");
  EXPECT_EQ(faults_->injected(), 5);
  faults_->Clear();
  EXPECT_FALSE(faults_->crashed());
  EXPECT_TRUE(faults_->Get("a").ok());
}

TEST_F(FaultStoreTest, CrashAfterZeroMutationsIsImmediate) {
  faults_->CrashAfterMutations(0);
  EXPECT_TRUE(faults_->crashed());
  EXPECT_EQ(faults_->Head("x").status().code(), StatusCode::kUnavailable);
}

TEST_F(FaultStoreTest, CrashPointWithConcurrentWriters) {
  faults_->CrashAfterMutations(50);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        if (faults_->Put("t" + std::to_string(t) + "/" + std::to_string(i), "v").ok()) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 50);
  Result<std::vector<ObjectInfo>> stored = ListAll(*memory_, "");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->size(), 50u);
}

}  // namespace
}  // namespace tb::objstore
