// MemoryStore: an ObjectStore in memory, for unit tests. Create-only puts are atomic. Keys must
// follow ValidateKey, like LocalStore's, so that code tested here also runs on disk.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"

namespace tb::objstore {

class MemoryStore : public ObjectStore {
 public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  std::string Describe() const override { return "mem://"; }
  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;
  bool SupportsCreateOnly() const override { return true; }

  // Total bytes of all objects.
  uint64_t TotalBytes() const;

 private:
  // Objects are immutable once stored, so Get copies outside the lock.
  using Blob = std::shared_ptr<const std::string>;

  mutable std::mutex mu_;
  std::map<std::string, Blob, std::less<>> objects_;  // guarded by mu_
};

}  // namespace tb::objstore
