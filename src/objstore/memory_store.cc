#include "objstore/memory_store.h"

#include <algorithm>
#include <utility>

namespace tb::objstore {

Status MemoryStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  TB_RETURN_IF_ERROR(ValidateKey(key));
  auto blob = std::make_shared<const std::string>(data);
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    objects_.emplace(std::string(key), std::move(blob));
  } else if (mode == PutMode::kCreateOnly) {
    return Status::AlreadyExists("mem://" + std::string(key) + " already exists");
  } else {
    it->second = std::move(blob);
  }
  return Status::Ok();
}

Result<std::string> MemoryStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  TB_RETURN_IF_ERROR(ValidateKey(key));
  Blob blob;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return Status::NotFound("mem://" + std::string(key));
    blob = it->second;
  }
  if (offset > blob->size()) {
    return Status::InvalidArgument("mem://" + std::string(key) + ": offset " + std::to_string(offset) +
                                   " is past the end (size " + std::to_string(blob->size()) + ")");
  }
  return blob->substr(offset, std::min<uint64_t>(length, blob->size() - offset));
}

Result<ObjectInfo> MemoryStore::Head(std::string_view key) {
  TB_RETURN_IF_ERROR(ValidateKey(key));
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("mem://" + std::string(key));
  return ObjectInfo{it->first, it->second->size()};
}

Result<ListPage> MemoryStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  if (max_keys < 1 || max_keys > 1000) return Status::InvalidArgument("list: max_keys must be in 1..1000");
  ListPage page;
  std::lock_guard lock(mu_);
  auto it = token.empty() || token < prefix ? objects_.lower_bound(prefix) : objects_.upper_bound(token);
  for (; it != objects_.end() && it->first.starts_with(prefix); ++it) {
    if (page.objects.size() == static_cast<size_t>(max_keys)) {
      page.next_token = page.objects.back().key;
      break;
    }
    page.objects.push_back(ObjectInfo{it->first, it->second->size()});
  }
  return page;
}

Status MemoryStore::Delete(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) TB_RETURN_IF_ERROR(ValidateKey(key));
  std::vector<Blob> doomed;  // freed outside the lock
  std::lock_guard lock(mu_);
  for (const std::string& key : keys) {
    auto it = objects_.find(key);
    if (it == objects_.end()) continue;
    doomed.push_back(std::move(it->second));
    objects_.erase(it);
  }
  return Status::Ok();
}

uint64_t MemoryStore::TotalBytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& [key, blob] : objects_) total += blob->size();
  return total;
}

}  // namespace tb::objstore
