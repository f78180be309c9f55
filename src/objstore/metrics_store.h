// MetricsStore: records every call made to another store in the process's Prometheus metrics
// (metrics::ObjectStoreMetrics): requests by operation and outcome, their latency, and the bytes
// read and written. Failed calls count as requests with their status; bytes count for successful
// calls only. Like MeteringStore it sees ObjectStore calls, not the HTTP requests a backend sends
// for one; retries are counted by the retry policy's hook (config's StorageRetryPolicy).
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/handles.h"
#include "objstore/object_store.h"

namespace tb::objstore {

class MetricsStore : public ForwardingStore {
 public:
  // `metrics` must outlive the store.
  MetricsStore(std::shared_ptr<ObjectStore> base, const metrics::ObjectStoreMetrics* metrics)
      : ForwardingStore(std::move(base)), metrics_(*metrics) {}

  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;

 private:
  // Records one call of `op` that started at `since` and ended with `status`.
  void Record(metrics::StoreOp op, std::chrono::steady_clock::time_point since, const Status& status) const;

  const metrics::ObjectStoreMetrics& metrics_;
};

}  // namespace tb::objstore
