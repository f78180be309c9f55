#include "objstore/retry_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "objstore/fault_store.h"
#include "objstore/memory_store.h"
#include "objstore/metering_store.h"

namespace tb::objstore {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// Retrying → Metering (counts attempts) → Fault → Memory, with a fake sleep that records delays.
struct Stack {
  explicit Stack(RetryPolicy options = {}) {
    memory = std::make_shared<MemoryStore>();
    faults = std::make_shared<FaultStore>(memory);
    meter = std::make_shared<MeteringStore>(faults);
    options.sleep = [this](nanoseconds d) {
      std::lock_guard lock(mu);
      sleeps.push_back(d);
    };
    store = std::make_shared<RetryingStore>(meter, std::move(options));
  }
  std::vector<nanoseconds> Sleeps() {
    std::lock_guard lock(mu);
    return sleeps;
  }

  std::shared_ptr<MemoryStore> memory;
  std::shared_ptr<FaultStore> faults;
  std::shared_ptr<MeteringStore> meter;
  std::shared_ptr<RetryingStore> store;
  std::mutex mu;
  std::vector<nanoseconds> sleeps;
};

RetryPolicy Options(int max_attempts, milliseconds base = milliseconds(100), milliseconds max = milliseconds(5000),
                    uint64_t seed = 0) {
  RetryPolicy o;
  o.max_attempts = max_attempts;
  o.base_delay = base;
  o.max_delay = max;
  o.seed = seed;
  return o;
}

// A predicate that matches the first `n` calls of `op`.
FaultStore::Predicate FirstN(StoreOp op, int n) {
  auto left = std::make_shared<int>(n);
  return [op, left](StoreOp o, std::string_view) { return o == op && (*left)-- > 0; };
}

TEST(RetryingStoreTest, RetriesTransientErrorsUntilSuccess) {
  for (Status error : {Status::Unavailable("down"), Status(StatusCode::kDeadlineExceeded, "slow"),
                       Status::ResourceExhausted("SlowDown")}) {
    Stack s;
    ASSERT_TRUE(s.memory->Put("k", "v").ok());
    s.faults->FailWhen(FirstN(StoreOp::kGet, 2), error);
    Result<std::string> got = s.store->Get("k");
    ASSERT_TRUE(got.ok()) << error.ToString() << " -> " << got.status().ToString();
    EXPECT_EQ(*got, "v");
    EXPECT_EQ(s.meter->snapshot().gets, 3u);
    EXPECT_EQ(s.Sleeps().size(), 2u);
  }
}

TEST(RetryingStoreTest, EveryOperationIsRetried) {
  Stack s;
  ASSERT_TRUE(s.memory->Put("k", "v").ok());
  for (StoreOp op : {StoreOp::kPut, StoreOp::kGet, StoreOp::kHead, StoreOp::kList, StoreOp::kDelete}) {
    s.faults->FailWhen(FirstN(op, 1), Status::Unavailable("once"));
  }
  EXPECT_TRUE(s.store->Put("k", "v2").ok());
  EXPECT_TRUE(s.store->Get("k").ok());
  EXPECT_TRUE(s.store->Head("k").ok());
  EXPECT_TRUE(s.store->List("", "").ok());
  EXPECT_TRUE(s.store->Delete({"k"}).ok());
  MeteringStore::Counters c = s.meter->snapshot();
  EXPECT_EQ(c.puts, 2u);
  EXPECT_EQ(c.gets, 2u);
  EXPECT_EQ(c.heads, 2u);
  EXPECT_EQ(c.lists, 2u);
  EXPECT_EQ(c.deletes, 2u);
  EXPECT_EQ(c.errors, 5u);
  EXPECT_EQ(s.memory->Head("k").status().code(), StatusCode::kNotFound);
}

TEST(RetryingStoreTest, GivesUpAfterMaxAttempts) {
  Stack s(Options(4));
  s.faults->FailWhen([](StoreOp, std::string_view) { return true; }, Status::Unavailable("always"));
  Result<ObjectInfo> head = s.store->Head("k");
  EXPECT_EQ(head.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.meter->snapshot().heads, 4u);
  EXPECT_EQ(s.Sleeps().size(), 3u);  // between attempts only
}

TEST(RetryingStoreTest, OneAttemptMeansNoRetries) {
  Stack s(Options(1));
  s.faults->FailWhen(FirstN(StoreOp::kPut, 1), Status::Unavailable("once"));
  EXPECT_EQ(s.store->Put("k", "v").code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.meter->snapshot().puts, 1u);
  EXPECT_TRUE(s.Sleeps().empty());
}

TEST(RetryingStoreTest, PermanentErrorsAreNotRetried) {
  Stack s;
  EXPECT_EQ(s.store->Get("missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.store->Put("bad//key", "v").code(), StatusCode::kInvalidArgument);
  s.faults->FailWhen(FirstN(StoreOp::kHead, 1), Status::Internal("disk on fire"));
  EXPECT_EQ(s.store->Head("k").status().code(), StatusCode::kInternal);
  s.faults->FailWhen(FirstN(StoreOp::kList, 1), Status::DataLoss("torn"));
  EXPECT_EQ(s.store->List("", "").status().code(), StatusCode::kDataLoss);
  MeteringStore::Counters c = s.meter->snapshot();
  EXPECT_EQ(c.requests(), 4u);
  EXPECT_TRUE(s.Sleeps().empty());
}

TEST(RetryingStoreTest, BackoffIsExponentialWithFullJitterAndCapped) {
  const milliseconds base(100), max(1000);
  nanoseconds biggest_first{0};
  bool some_small = false;
  std::vector<nanoseconds> biggest(9, nanoseconds(0));
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Stack s(Options(10, base, max, seed));
    s.faults->FailWhen([](StoreOp, std::string_view) { return true; }, Status::Unavailable("always"));
    EXPECT_EQ(s.store->Head("k").status().code(), StatusCode::kUnavailable);
    std::vector<nanoseconds> sleeps = s.Sleeps();
    ASSERT_EQ(sleeps.size(), 9u);
    for (size_t i = 0; i < sleeps.size(); ++i) {
      // Before attempt i+2: uniform in [0, min(max, base * 2^i)].
      const nanoseconds cap = std::min<nanoseconds>(max, base * (1 << i));
      EXPECT_GE(sleeps[i].count(), 0);
      EXPECT_LE(sleeps[i], cap) << "sleep " << i;
      biggest[i] = std::max(biggest[i], sleeps[i]);
      if (sleeps[i] < cap / 4) some_small = true;
    }
    biggest_first = std::max(biggest_first, sleeps[0]);
  }
  // Over 200 runs the largest delay of each step comes close to its cap (growth), and some are
  // far below it (jitter).
  for (size_t i = 0; i < biggest.size(); ++i) {
    const nanoseconds cap = std::min<nanoseconds>(max, base * (1 << i));
    EXPECT_GT(biggest[i], cap * 9 / 10) << "step " << i;
  }
  EXPECT_TRUE(some_small);
}

TEST(RetryingStoreTest, SameSeedSameDelays) {
  auto run = [](uint64_t seed) {
    Stack s(Options(5, milliseconds(100), milliseconds(5000), seed));
    s.faults->FailWhen([](StoreOp, std::string_view) { return true; }, Status::Unavailable("always"));
    (void)s.store->Head("k").ok();
    return s.Sleeps();
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

// The first create-only attempt is applied but its response is lost; the retry answers
// ALREADY_EXISTS; the object holds our bytes, so the call reports OK.
TEST(RetryingStoreTest, CreateOnlyRetryOfOwnWriteIsOk) {
  Stack s;
  s.faults->FailNthMutation(1, Status(StatusCode::kDeadlineExceeded, "response lost"), FaultTiming::kAfter);
  Status put = s.store->Put("lease", "writer-1", PutMode::kCreateOnly);
  EXPECT_TRUE(put.ok()) << put.ToString();
  EXPECT_EQ(s.memory->Get("lease").value(), "writer-1");
  MeteringStore::Counters c = s.meter->snapshot();
  EXPECT_EQ(c.puts, 2u);
  EXPECT_EQ(c.heads, 1u);
  EXPECT_EQ(c.gets, 1u);
}

// The first attempt never arrived, and meanwhile another writer created the key with other bytes.
TEST(RetryingStoreTest, CreateOnlyRetryAgainstOtherContentIsAlreadyExists) {
  for (std::string other : {"writer-2", "another size"}) {
    Stack s;
    ASSERT_TRUE(s.memory->Put("lease", other).ok());
    s.faults->FailNthMutation(1, Status::Unavailable("request lost"), FaultTiming::kBefore);
    Status put = s.store->Put("lease", "writer-1", PutMode::kCreateOnly);
    EXPECT_EQ(put.code(), StatusCode::kAlreadyExists) << put.ToString();
    EXPECT_EQ(s.memory->Get("lease").value(), other);
    // Equal sizes need a GET to tell; different sizes are settled by the HEAD.
    EXPECT_EQ(s.meter->snapshot().gets, other.size() == 8 ? 1u : 0u);
  }
}

// Without an earlier transient failure, ALREADY_EXISTS is final and costs no extra read, even when
// the content happens to be identical.
TEST(RetryingStoreTest, CreateOnlyFirstAttemptAlreadyExistsIsFinal) {
  Stack s;
  ASSERT_TRUE(s.memory->Put("lease", "writer-1").ok());
  EXPECT_EQ(s.store->Put("lease", "writer-1", PutMode::kCreateOnly).code(), StatusCode::kAlreadyExists);
  MeteringStore::Counters c = s.meter->snapshot();
  EXPECT_EQ(c.puts, 1u);
  EXPECT_EQ(c.heads + c.gets, 0u);
}

// If the comparison itself cannot be made, ALREADY_EXISTS stands.
TEST(RetryingStoreTest, CreateOnlyComparisonFailureKeepsAlreadyExists) {
  Stack s(Options(2));
  s.faults->FailNthMutation(1, Status::Unavailable("response lost"), FaultTiming::kAfter);
  s.faults->FailWhen([](StoreOp op, std::string_view) { return op == StoreOp::kHead; }, Status::Unavailable("down"));
  EXPECT_EQ(s.store->Put("lease", "writer-1", PutMode::kCreateOnly).code(), StatusCode::kAlreadyExists);
}

TEST(RetryingStoreTest, ForwardsDescribeAndCapabilities) {
  Stack s;
  EXPECT_EQ(s.store->Describe(), "mem://");
  EXPECT_TRUE(s.store->SupportsCreateOnly());
  EXPECT_TRUE(RetryPolicy::IsRetryable(Status::Unavailable("")));
  EXPECT_FALSE(RetryPolicy::IsRetryable(Status::AlreadyExists("")));
  EXPECT_FALSE(RetryPolicy::IsRetryable(Status::Ok()));
}

}  // namespace
}  // namespace tb::objstore
