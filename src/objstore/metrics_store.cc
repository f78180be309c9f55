#include "objstore/metrics_store.h"

namespace tb::objstore {

using Clock = std::chrono::steady_clock;
using metrics::StoreOp;

void MetricsStore::Record(StoreOp op, Clock::time_point since, const Status& status) const {
  const auto o = static_cast<size_t>(op);
  metrics_.duration_seconds[o].ObserveSince(since);
  const auto code = static_cast<size_t>(status.code());
  if (code < metrics::kStatusCodes) metrics_.requests[o][code].Add();
}

Status MetricsStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  const auto since = Clock::now();
  Status status = base().Put(key, data, mode);
  Record(StoreOp::kPut, since, status);
  if (status.ok()) metrics_.written_bytes.Add(static_cast<double>(data.size()));
  return status;
}

Result<std::string> MetricsStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  const auto since = Clock::now();
  Result<std::string> result = base().Get(key, offset, length);
  Record(StoreOp::kGet, since, result.status());
  if (result.ok()) metrics_.read_bytes.Add(static_cast<double>(result->size()));
  return result;
}

Result<ObjectInfo> MetricsStore::Head(std::string_view key) {
  const auto since = Clock::now();
  Result<ObjectInfo> result = base().Head(key);
  Record(StoreOp::kHead, since, result.status());
  return result;
}

Result<ListPage> MetricsStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  const auto since = Clock::now();
  Result<ListPage> result = base().List(prefix, token, max_keys);
  Record(StoreOp::kList, since, result.status());
  return result;
}

Status MetricsStore::Delete(const std::vector<std::string>& keys) {
  const auto since = Clock::now();
  Status status = base().Delete(keys);
  Record(StoreOp::kDelete, since, status);
  return status;
}

}  // namespace tb::objstore
