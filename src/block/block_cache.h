// The cache a BlockReader reads through: index sections and pages by key, shared by every reader
// of a process.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tb::block {

// A cache of immutable byte strings (index sections, pages) by key. Thread-safe.
class BlockCache {
 public:
  virtual ~BlockCache() = default;
  // Null when absent.
  virtual std::shared_ptr<const std::string> Get(const std::string& key) = 0;
  virtual void Put(const std::string& key, std::shared_ptr<const std::string> value) = 0;
};

// Bounded in-memory LRU by total value bytes.
class LruBlockCache final : public BlockCache {
 public:
  explicit LruBlockCache(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}
  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;  // entries dropped to stay within the capacity
    uint64_t bytes = 0;      // now
  };

  std::shared_ptr<const std::string> Get(const std::string& key) override;
  void Put(const std::string& key, std::shared_ptr<const std::string> value) override;
  uint64_t size_bytes() const;
  Stats stats() const;
  void Clear();

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const std::string>>;
  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front: most recent
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
  uint64_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;  // guarded by mu_
};

}  // namespace tb::block
