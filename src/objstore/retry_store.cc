#include "objstore/retry_store.h"

#include <utility>

namespace tb::objstore {

RetryingStore::RetryingStore(std::shared_ptr<ObjectStore> base, RetryPolicy policy)
    : ForwardingStore(std::move(base)), retrier_(std::move(policy)) {}

Status RetryingStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  int attempts = 0;
  Status status = retrier_.Run("PUT " + std::string(key), [&](int attempt) {
    attempts = attempt;
    return base().Put(key, data, mode);
  });
  if (mode != PutMode::kCreateOnly || status.code() != StatusCode::kAlreadyExists) return status;
  return CreateOnlyRefusal(attempts, std::move(status), [&] { return Holds(key, data); });
}

bool RetryingStore::Holds(std::string_view key, std::string_view data) {
  // A size check first: a different size settles it without reading the object.
  Result<ObjectInfo> info = Head(key);
  if (!info.ok() || info->size != data.size()) return false;
  Result<std::string> stored = Get(key);
  return stored.ok() && *stored == data;
}

Result<std::string> RetryingStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  return retrier_.Run("GET " + std::string(key), [&](int) { return base().Get(key, offset, length); });
}

Result<ObjectInfo> RetryingStore::Head(std::string_view key) {
  return retrier_.Run("HEAD " + std::string(key), [&](int) { return base().Head(key); });
}

Result<ListPage> RetryingStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  return retrier_.Run("LIST " + std::string(prefix), [&](int) { return base().List(prefix, token, max_keys); });
}

Status RetryingStore::Delete(const std::vector<std::string>& keys) {
  return retrier_.Run("DELETE " + std::to_string(keys.size()) + " keys", [&](int) { return base().Delete(keys); });
}

}  // namespace tb::objstore
