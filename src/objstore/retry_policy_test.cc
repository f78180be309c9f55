// The one retry policy of every store (retry_policy.h), on its own: what is retried, how often, the
// backoff bounds (through the sleep hook: no test here sleeps), and the create-only rule.
#include "objstore/retry_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace tb::objstore {
namespace {

using std::chrono::milliseconds;

// A policy whose waits are recorded instead of slept, with the retry events it reported.
struct Recorded {
  explicit Recorded(RetryPolicy p = {}) {
    p.sleep = [this](milliseconds d) { sleeps.push_back(d); };
    p.on_retry = [this](const RetryEvent& e) {
      events.push_back(std::string(e.operation) + " #" + std::to_string(e.attempt) + " " + e.error->ToString());
      announced.push_back(e.delay);
    };
    retrier = std::make_unique<Retrier>(std::move(p));
  }
  std::vector<milliseconds> sleeps, announced;
  std::vector<std::string> events;
  std::unique_ptr<Retrier> retrier;
};

RetryPolicy Policy(int max_attempts, milliseconds base, milliseconds max, uint64_t seed = 0) {
  RetryPolicy p;
  p.max_attempts = max_attempts;
  p.base_delay = base;
  p.max_delay = max;
  p.seed = seed;
  return p;
}

TEST(RetryPolicyTest, BackoffIsFullJitterUnderTheCappedExponential) {
  Retrier retrier(Policy(5, milliseconds(10), milliseconds(50)));
  for (int attempt = 1; attempt <= 8; ++attempt) {
    const milliseconds cap = std::min(milliseconds(10 << (attempt - 1)), milliseconds(50));
    milliseconds longest{0}, shortest = cap;
    for (int i = 0; i < 400; ++i) {
      const milliseconds d = retrier.Backoff(attempt);
      EXPECT_GE(d.count(), 0);
      EXPECT_LE(d, cap) << "attempt " << attempt;
      longest = std::max(longest, d);
      shortest = std::min(shortest, d);
    }
    // Growth: the upper part of [0, cap] is reached; jitter: so is the lower part.
    EXPECT_GT(longest, cap * 3 / 4) << "attempt " << attempt;
    EXPECT_LT(shortest, cap / 4) << "attempt " << attempt;
  }
}

TEST(RetryPolicyTest, BackoffCapHoldsForHugeAttemptsAndZeroDelays) {
  Retrier capped(Policy(5, milliseconds(100), milliseconds(5000)));
  for (int attempt : {40, 64, 1000, 1 << 30}) EXPECT_LE(capped.Backoff(attempt), milliseconds(5000)) << attempt;
  Retrier zero(Policy(5, milliseconds(0), milliseconds(5000)));
  EXPECT_EQ(zero.Backoff(3), milliseconds(0));
  Retrier no_cap(Policy(5, milliseconds(100), milliseconds(0)));
  EXPECT_EQ(no_cap.Backoff(3), milliseconds(0));
}

TEST(RetryPolicyTest, RetriesTransientFailuresWithTheRecordedWaits) {
  for (const Status& transient : {Status::Unavailable("down"), Status(StatusCode::kDeadlineExceeded, "slow"),
                                  Status::ResourceExhausted("SlowDown")}) {
    Recorded r(Policy(5, milliseconds(10), milliseconds(25), /*seed=*/3));
    int calls = 0;
    Result<std::string> got = r.retrier->Run("GET k", [&](int attempt) -> Result<std::string> {
      EXPECT_EQ(attempt, ++calls);
      if (attempt < 3) return transient;
      return std::string("v");
    });
    ASSERT_TRUE(got.ok()) << transient.ToString();
    EXPECT_EQ(*got, "v");
    EXPECT_EQ(calls, 3);
    ASSERT_EQ(r.sleeps.size(), 2u);
    EXPECT_EQ(r.sleeps, r.announced);  // on_retry is told the wait that follows
    EXPECT_LE(r.sleeps[0], milliseconds(10));
    EXPECT_LE(r.sleeps[1], milliseconds(20));
    EXPECT_EQ(r.events,
              (std::vector<std::string>{"GET k #1 " + transient.ToString(), "GET k #2 " + transient.ToString()}));
  }
}

TEST(RetryPolicyTest, OtherErrorsEndTheCallAtOnce) {
  for (const Status& permanent :
       {Status::NotFound("k"), Status::InvalidArgument("bad key"), Status::FailedPrecondition("bad certificate"),
        Status::AlreadyExists("create-only"), Status::DataLoss("torn"), Status::Internal("bug"),
        Status(StatusCode::kPermissionDenied, "403")}) {
    Recorded r(Policy(5, milliseconds(10), milliseconds(25)));
    int calls = 0;
    const Status got = r.retrier->Run("PUT k", [&](int) {
      ++calls;
      return permanent;
    });
    EXPECT_EQ(got.code(), permanent.code());
    EXPECT_EQ(calls, 1) << permanent.ToString();
    EXPECT_TRUE(r.sleeps.empty());
    EXPECT_TRUE(r.events.empty());
  }
}

TEST(RetryPolicyTest, GivesUpAfterMaxAttemptsWithTheLastError) {
  Recorded r(Policy(4, milliseconds(10), milliseconds(25)));
  int calls = 0;
  const Status got = r.retrier->Run("HEAD k", [&](int attempt) {
    ++calls;
    return Status::Unavailable("attempt " + std::to_string(attempt));
  });
  EXPECT_EQ(got.code(), StatusCode::kUnavailable);
  EXPECT_EQ(got.message(), "attempt 4");
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(r.sleeps.size(), 3u);  // between attempts only, not after the last
}

TEST(RetryPolicyTest, FewerThanOneAttemptMeansOne) {
  for (int max_attempts : {1, 0, -3}) {
    Recorded r(Policy(max_attempts, milliseconds(10), milliseconds(25)));
    EXPECT_EQ(r.retrier->policy().max_attempts, 1);
    int calls = 0;
    EXPECT_EQ(r.retrier
                  ->Run("GET k",
                        [&](int) {
                          ++calls;
                          return Status::Unavailable("down");
                        })
                  .code(),
              StatusCode::kUnavailable);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(r.sleeps.empty());
  }
}

TEST(RetryPolicyTest, SameSeedSameWaits) {
  const auto waits = [](uint64_t seed) {
    Recorded r(Policy(6, milliseconds(100), milliseconds(5000), seed));
    (void)r.retrier->Run("GET k", [](int) { return Status::Unavailable("down"); });
    return r.sleeps;
  };
  EXPECT_EQ(waits(7), waits(7));
  EXPECT_NE(waits(7), waits(8));
}

// A create-only refusal is an answer, not a failure to retry; after a transient failure it may be
// the call's own write, which only the store can tell (holds_our_bytes), and nothing else is.
TEST(CreateOnlyRefusalTest, OnlyARetriedWriteMayBeItsOwn) {
  int checks = 0;
  const auto holds = [&](bool answer) {
    return [&checks, answer] {
      ++checks;
      return answer;
    };
  };
  const Status refused = Status::AlreadyExists("the object already exists");
  // First attempt: the refusal stands and nothing is read.
  EXPECT_EQ(CreateOnlyRefusal(1, refused, holds(true)).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(checks, 0);
  // A retry: OK when the object holds exactly our bytes, the refusal otherwise.
  EXPECT_TRUE(CreateOnlyRefusal(2, refused, holds(true)).ok());
  const Status other = CreateOnlyRefusal(3, refused, holds(false));
  EXPECT_EQ(other.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(other.message(), refused.message());
  EXPECT_EQ(checks, 2);

  // And the Retrier ends the call on the refusal: one attempt, no wait.
  Recorded r(Policy(5, milliseconds(10), milliseconds(25)));
  int calls = 0;
  EXPECT_EQ(r.retrier
                ->Run("PUT lease",
                      [&](int) {
                        ++calls;
                        return refused;
                      })
                .code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(r.sleeps.empty());
}

}  // namespace
}  // namespace tb::objstore
