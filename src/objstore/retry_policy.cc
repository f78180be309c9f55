#include "objstore/retry_policy.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace tb::objstore {

bool RetryPolicy::IsRetryable(const Status& status) {
  switch (status.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kResourceExhausted: return true;
    default: return false;
  }
}

Retrier::Retrier(RetryPolicy policy)
    : policy_([&] {
        if (policy.max_attempts < 1) policy.max_attempts = 1;
        if (!policy.sleep) policy.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
        return std::move(policy);
      }()) {
  rng_.seed(policy_.seed != 0 ? policy_.seed : (uint64_t{std::random_device()()} << 32) ^ std::random_device()());
}

std::chrono::milliseconds Retrier::Backoff(int attempt) {
  const int64_t max = std::max<int64_t>(policy_.max_delay.count(), 0);
  int64_t cap = std::max<int64_t>(policy_.base_delay.count(), 0);
  for (int i = 1; i < attempt && cap < max; ++i) cap = cap > max / 2 ? max : cap * 2;
  cap = std::min(cap, max);
  if (cap == 0) return std::chrono::milliseconds(0);
  std::lock_guard lock(rng_mu_);
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, cap)(rng_));
}

void Retrier::WaitBeforeRetry(std::string_view op, int attempt, const Status& why) {
  const std::chrono::milliseconds delay = Backoff(attempt);
  if (policy_.on_retry) policy_.on_retry(RetryEvent{op, attempt, &why, delay});
  policy_.sleep(delay);
}

Status CreateOnlyRefusal(int attempts, Status already_exists, const std::function<bool()>& holds_our_bytes) {
  if (attempts > 1 && holds_our_bytes()) return Status::Ok();
  return already_exists;
}

}  // namespace tb::objstore
