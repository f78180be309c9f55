#include "objstore/latency_store.h"

#include <thread>

namespace tb::objstore {

void LatencyStore::WaitOut() const {
  if (wait_) return wait_(delay_);
  // sleep_until on a steady deadline: never shorter than the delay, even if woken early.
  const auto deadline = std::chrono::steady_clock::now() + delay_;
  while (std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_until(deadline);
}

Status LatencyStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  WaitOut();
  return base().Put(key, data, mode);
}

Result<std::string> LatencyStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  WaitOut();
  return base().Get(key, offset, length);
}

Result<ObjectInfo> LatencyStore::Head(std::string_view key) {
  WaitOut();
  return base().Head(key);
}

Result<ListPage> LatencyStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  WaitOut();
  return base().List(prefix, token, max_keys);
}

Status LatencyStore::Delete(const std::vector<std::string>& keys) {
  WaitOut();
  return base().Delete(keys);
}

}  // namespace tb::objstore
