#include "objstore/retry_store.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace tb::objstore {
RetryingStore::RetryingStore(std::shared_ptr<ObjectStore> base, RetryOptions options)
    : ForwardingStore(std::move(base)), options_(std::move(options)) {
  if (options_.max_attempts < 1) options_.max_attempts = 1;
  if (!options_.sleep) options_.sleep = [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); };
  rng_.seed(options_.seed != 0 ? options_.seed : (uint64_t{std::random_device()()} << 32) ^ std::random_device()());
}

bool RetryingStore::IsRetryable(const Status& status) {
  switch (status.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kResourceExhausted: return true;
    default: return false;
  }
}

std::chrono::nanoseconds RetryingStore::Backoff(int next_attempt) {
  using std::chrono::nanoseconds;
  const int64_t max = std::max<int64_t>(options_.max_delay.count(), 0);
  int64_t cap = std::max<int64_t>(options_.base_delay.count(), 0);
  for (int i = 2; i < next_attempt && cap < max; ++i) cap = cap > max / 2 ? max : cap * 2;
  cap = std::min(cap, max);
  if (cap == 0) return nanoseconds(0);
  std::lock_guard lock(rng_mu_);
  return nanoseconds(std::uniform_int_distribution<int64_t>(0, cap)(rng_));
}

template <typename Fn>
auto RetryingStore::Run(Fn attempt, bool* transient) -> decltype(attempt()) {
  for (int n = 1;; ++n) {
    auto result = attempt();
    const Status& status = StatusOf(result);
    if (status.ok() || !IsRetryable(status) || n >= options_.max_attempts) return result;
    if (transient) *transient = true;
    options_.sleep(Backoff(n + 1));
  }
}

Status RetryingStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  bool transient = false;
  Status status = Run([&] { return base().Put(key, data, mode); }, &transient);
  if (mode == PutMode::kCreateOnly && transient && status.code() == StatusCode::kAlreadyExists) {
    return CompareCreated(key, data, status);
  }
  return status;
}

Status RetryingStore::CompareCreated(std::string_view key, std::string_view data, const Status& already_exists) {
  // A size check first: a different size settles it without reading the object.
  Result<ObjectInfo> info = Run([&] { return base().Head(key); });
  if (!info.ok() || info->size != data.size()) return already_exists;
  Result<std::string> stored = Run([&] { return base().Get(key); });
  if (stored.ok() && *stored == data) return Status::Ok();
  return already_exists;
}

Result<std::string> RetryingStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  return Run([&] { return base().Get(key, offset, length); });
}

Result<ObjectInfo> RetryingStore::Head(std::string_view key) {
  return Run([&] { return base().Head(key); });
}

Result<ListPage> RetryingStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  return Run([&] { return base().List(prefix, token, max_keys); });
}

Status RetryingStore::Delete(const std::vector<std::string>& keys) {
  return Run([&] { return base().Delete(keys); });
}

}  // namespace tb::objstore
