// RetryingStore: retries the transient failures of another store — UNAVAILABLE,
// DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED (throttling) — with exponential backoff and full
// jitter: before attempt n+1 it sleeps a uniformly random time in
// [0, min(max_delay, base_delay * 2^(n-1))]. Other errors are returned at once.
//
// Create-only puts. An attempt that failed transiently may still have been applied (the response
// was lost), so a retry can answer ALREADY_EXISTS for an object this very call wrote. When that
// happens after an earlier transient failure, RetryingStore reads the object back: if it holds
// exactly `data` it reports OK, otherwise ALREADY_EXISTS. Callers must therefore read "OK" as "the
// object now holds exactly my bytes" — which, if another writer raced with identical bytes, it
// may have written. Callers that need to know they won (a lock, a lease) must put content unique
// to the writer (e.g. its id), so that identical bytes can only be their own. Without a transient
// failure, ALREADY_EXISTS is returned as is (no extra read).
//
// Thread-safety: every method may be called concurrently (if the options' functions allow it).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"

namespace tb::objstore {

struct RetryOptions {
  // Attempts per call, including the first (1 = no retries).
  int max_attempts = 5;
  std::chrono::nanoseconds base_delay = std::chrono::milliseconds(100);
  std::chrono::nanoseconds max_delay = std::chrono::seconds(5);
  // How to wait between attempts; tests pass a fake that records the delays. Default:
  // std::this_thread::sleep_for.
  std::function<void(std::chrono::nanoseconds)> sleep;
  // Seed of the jitter; 0 seeds from std::random_device.
  uint64_t seed = 0;
};

class RetryingStore : public ForwardingStore {
 public:
  RetryingStore(std::shared_ptr<ObjectStore> base, RetryOptions options = {});

  // UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED.
  static bool IsRetryable(const Status& status);

  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;

 private:
  // Runs `attempt` until it succeeds, fails permanently, or max_attempts is reached. `transient`
  // (if given) is set when some attempt failed transiently.
  template <typename Fn>
  auto Run(Fn attempt, bool* transient = nullptr) -> decltype(attempt());
  // The backoff before attempt `next_attempt` (2, 3, ...).
  std::chrono::nanoseconds Backoff(int next_attempt);
  // After ALREADY_EXISTS that followed a transient failure: OK if the object holds `data`.
  Status CompareCreated(std::string_view key, std::string_view data, const Status& already_exists);

  RetryOptions options_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // guarded by rng_mu_
};

}  // namespace tb::objstore
