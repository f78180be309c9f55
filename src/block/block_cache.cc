#include "block/block_cache.h"

namespace tb::block {

std::shared_ptr<const std::string> LruBlockCache::Get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void LruBlockCache::Put(const std::string& key, std::shared_ptr<const std::string> value) {
  if (value == nullptr || value->size() > capacity_) return;
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    bytes_ -= it->second->second->size();
    lru_.erase(it->second);
    map_.erase(it);
  }
  bytes_ += value->size();
  lru_.emplace_front(key, std::move(value));
  map_[key] = lru_.begin();
  while (bytes_ > capacity_ && !lru_.empty()) {
    bytes_ -= lru_.back().second->size();
    map_.erase(lru_.back().first);
    lru_.pop_back();
    ++evictions_;
  }
}

uint64_t LruBlockCache::size_bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

LruBlockCache::Stats LruBlockCache::stats() const {
  std::lock_guard lock(mu_);
  return Stats{hits_, misses_, evictions_, bytes_};
}

void LruBlockCache::Clear() {
  std::lock_guard lock(mu_);
  lru_.clear();
  map_.clear();
  bytes_ = 0;
}

}  // namespace tb::block
