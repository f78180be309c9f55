// Runs the conformance suite (object_store_suite.h) on MemoryStore, LocalStore and each decorator.
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "metrics/metrics.h"
#include "objstore/fault_store.h"
#include "objstore/latency_store.h"
#include "objstore/local_store.h"
#include "objstore/memory_store.h"
#include "objstore/metering_store.h"
#include "objstore/metrics_store.h"
#include "objstore/object_store_suite.h"
#include "objstore/retry_store.h"

namespace tb::objstore {
namespace {

// A LocalStore on a fresh temp folder, removed when the store is released.
std::shared_ptr<ObjectStore> MakeLocalStore(bool sync) {
  std::string dir = (std::filesystem::temp_directory_path() / "tb-objstore-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return nullptr;
  }
  LocalStoreOptions options;
  options.sync = sync;
  Result<std::shared_ptr<LocalStore>> store = LocalStore::Open(dir + "/root", options);
  if (!store.ok()) {
    ADD_FAILURE() << store.status().ToString();
    return nullptr;
  }
  std::shared_ptr<LocalStore> local = std::move(store).value();
  LocalStore* raw = local.get();
  return std::shared_ptr<ObjectStore>(raw, [local = std::move(local), dir](ObjectStore*) mutable {
    local.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
}

std::shared_ptr<ObjectStore> Memory() { return std::make_shared<MemoryStore>(); }

INSTANTIATE_TEST_SUITE_P(
    Stores, ObjectStoreConformance,
    ::testing::Values(StoreFactory{"Memory", [] { return Memory(); }},
                      StoreFactory{"Local", [] { return MakeLocalStore(/*sync=*/true); }},
                      StoreFactory{"LocalNoSync", [] { return MakeLocalStore(/*sync=*/false); }},
                      StoreFactory{"RetryingMemory",
                                   [] {
                                     RetryPolicy options;
                                     options.max_attempts = 3;
                                     return std::make_shared<RetryingStore>(Memory(), options);
                                   }},
                      StoreFactory{"MeteringMemory", [] { return std::make_shared<MeteringStore>(Memory()); }},
                      StoreFactory{"MetricsMemory",
                                   [] {
                                     static metrics::Metrics m(metrics::CurrentBuild(), "default");
                                     return std::make_shared<MetricsStore>(Memory(), &m.object_store());
                                   }},
                      StoreFactory{
                          "LatencyMemory",
                          [] { return std::make_shared<LatencyStore>(Memory(), std::chrono::microseconds(100)); }},
                      StoreFactory{"FaultMemory", [] { return std::make_shared<FaultStore>(Memory()); }}),
    StoreFactoryName());

}  // namespace
}  // namespace tb::objstore
