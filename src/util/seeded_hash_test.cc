#include "util/seeded_hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_set>

namespace tb {
namespace {

using TraceId = std::array<uint8_t, 16>;

// The head's trace-ID hash before it was seeded: fixed, so anyone can solve it for collisions.
struct UnseededTraceIdHash {
  size_t operator()(const TraceId& id) const {
    uint64_t lo, hi;
    std::memcpy(&hi, id.data(), 8);
    std::memcpy(&lo, id.data() + 8, 8);
    return static_cast<size_t>(lo * 0x9E3779B97F4A7C15ull ^ hi);
  }
};

// Trace IDs that all hash to one value under UnseededTraceIdHash: pick the low half, solve for
// the high half. This is what an attacker sends to make the head's trace table quadratic.
std::vector<TraceId> CraftedCollidingIds(size_t n) {
  std::vector<TraceId> ids(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t lo = i + 1, hi = 0x5eed ^ (lo * 0x9E3779B97F4A7C15ull);
    std::memcpy(ids[i].data(), &hi, 8);
    std::memcpy(ids[i].data() + 8, &lo, 8);
  }
  return ids;
}

template <typename Hash>
size_t LargestBucket(const std::vector<TraceId>& ids) {
  std::unordered_set<TraceId, Hash> set(ids.begin(), ids.end());
  size_t largest = 0;
  for (size_t b = 0; b < set.bucket_count(); ++b) largest = std::max(largest, set.bucket_size(b));
  return largest;
}

TEST(SeededHash, KeysCraftedToCollideUnderTheOldHashSpreadOut) {
  const std::vector<TraceId> ids = CraftedCollidingIds(30'000);
  std::set<size_t> unseeded, seeded;
  for (const auto& id : ids) {
    unseeded.insert(UnseededTraceIdHash{}(id));
    seeded.insert(SeededKeyHash{}(id));
  }
  EXPECT_EQ(unseeded.size(), 1u);  // the attack works on the old hash
  EXPECT_EQ(seeded.size(), ids.size());
  EXPECT_EQ(LargestBucket<UnseededTraceIdHash>(ids), ids.size());
  // 30k keys in >= 30k buckets: a fair hash leaves a handful per bucket at most.
  EXPECT_LE(LargestBucket<SeededKeyHash>(ids), 12u);
}

TEST(SeededHash, IsStableWithinTheProcessAndDependsOnTheSeed) {
  const std::string key = "service\0frontend";
  EXPECT_EQ(SeededKeyHash{}(std::string_view(key)), SeededKeyHash{}(std::string_view(key)));
  EXPECT_EQ(SeededHash(key.data(), key.size()), XXH3_64bits_withSeed(key.data(), key.size(), ProcessHashSeed()));
  EXPECT_NE(SeededHash(key.data(), key.size()), XXH3_64bits_withSeed(key.data(), key.size(), ProcessHashSeed() + 1));
  const TraceId id{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  EXPECT_EQ(SeededKeyHash{}(id), SeededHash(id.data(), id.size()));
}

TEST(SeededHash, HasherSeparatesParts) {
  EXPECT_NE(SeededHasher().Add("ab").Add("c").Digest(), SeededHasher().Add("a").Add("bc").Digest());
  EXPECT_EQ(SeededHasher().Add("ab").Add(7).Digest(), SeededHasher().Add("ab").Add(7).Digest());
}

}  // namespace
}  // namespace tb
