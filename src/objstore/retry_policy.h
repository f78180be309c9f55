// RetryPolicy: the one retry policy of every object store (storage.retry.* in the configuration),
// and Retrier, the one loop that applies it.
//
//  - What is retried: a failure whose Status is UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED
//    (throttling). The cloud stores map transient answers (408, 429, 5xx, transport failures a new
//    attempt can cure) to UNAVAILABLE; every other error is returned at once.
//  - How often: at most max_attempts attempts per call, the first included.
//  - How long between: before attempt n+1 the caller's thread sleeps a uniformly random time in
//    [0, min(max_delay, base_delay * 2^(n-1))] ("full jitter", so that clients that failed together
//    do not come back together).
//  - Create-only writes (CreateOnlyRefusal): an attempt that failed transiently may still have been
//    applied (its answer was lost), so a later attempt's ALREADY_EXISTS may be the call's own write.
//
// Where it applies: the cloud stores (S3, GCS, Azure) retry each HTTP exchange with it in their
// shared client (http_client.h), so that one part of a multipart upload or one chunk of a resumable
// upload is retried, not the whole object; a store without its own transport (file://) is wrapped
// in RetryingStore (retry_store.h), which retries each call with it. No store is under both.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <string_view>

#include "util/status.h"

namespace tb::objstore {

// One failed attempt that is about to be retried; passed to RetryPolicy::on_retry.
struct RetryEvent {
  std::string_view operation;  // "PUT blocks/x", "GET bucket", ...
  int attempt = 0;             // the attempt that failed, 1-based
  const Status* error = nullptr;
  std::chrono::milliseconds delay{0};  // the backoff before the next attempt
};

struct RetryPolicy {
  // Attempts per call, including the first (1 = no retries).
  int max_attempts = 5;
  std::chrono::milliseconds base_delay{100};
  std::chrono::milliseconds max_delay{5000};
  // Called before each retry's backoff sleep, on the thread that made the call (possibly several
  // threads at once: must be thread-safe). For logging, metrics, tests.
  std::function<void(const RetryEvent&)> on_retry;
  // How to wait between attempts; tests pass a fake that records the delays. Default:
  // std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
  // Seed of the jitter; 0 seeds from std::random_device.
  uint64_t seed = 0;

  // UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED.
  static bool IsRetryable(const Status& status);
};

// Applies a RetryPolicy. Thread-safe (if the policy's functions are).
class Retrier {
 public:
  explicit Retrier(RetryPolicy policy);

  const RetryPolicy& policy() const { return policy_; }

  // Calls attempt(1), attempt(2), ... until one succeeds, fails with an error that is not
  // retryable, or max_attempts is reached, and returns that attempt's result (a Status or a
  // Result). `op` names the call in RetryEvents ("PUT blocks/x").
  template <typename Fn>
  auto Run(std::string_view op, Fn attempt) -> decltype(attempt(1)) {
    for (int n = 1;; ++n) {
      auto result = attempt(n);
      const Status& status = StatusOf(result);
      if (status.ok() || !RetryPolicy::IsRetryable(status) || n >= policy_.max_attempts) return result;
      WaitBeforeRetry(op, n, status);
    }
  }

  // Tells on_retry and sleeps the backoff after failed attempt `attempt` (1-based): for loops that
  // are a protocol's own (a resumable upload resuming where the server says, S3's multi-object
  // delete re-sending the keys that failed) rather than a repeated call.
  void WaitBeforeRetry(std::string_view op, int attempt, const Status& why);

  // The full-jitter backoff after failed attempt `attempt` (1-based).
  std::chrono::milliseconds Backoff(int attempt);

 private:
  const RetryPolicy policy_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // guarded by rng_mu_
};

// The create-only rule of every store, for a create-only write refused with `already_exists` on
// its attempt number `attempts`: after an earlier attempt failed transiently the refusal may be
// that attempt's own write, applied with its answer lost, so it is OK when `holds_our_bytes()`
// says the object holds exactly the bytes written (each store checks that as cheaply as it can: a
// checksum from a HEAD, or a read). Without a retry the refusal stands and nothing is read.
//
// Callers must therefore read "OK" as "the object now holds exactly my bytes", which, if another
// writer raced with identical bytes, it may have written. Callers that need to know they won (a
// lock, a lease) must put content unique to the writer (e.g. its id), so that identical bytes can
// only be their own.
Status CreateOnlyRefusal(int attempts, Status already_exists, const std::function<bool()>& holds_our_bytes);

}  // namespace tb::objstore
