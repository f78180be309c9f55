// ObjectStore: the narrow interface to where blocks live — a local folder, an S3-compatible
// bucket, or memory (unit tests only). Object-shaped on purpose (whole puts, ranged gets, paged
// lists), like S3, so that every implementation behaves the same and decorators (retries,
// metering, latency, faults) wrap any of them.
//
// Keys are relative to the store's root (a folder or bucket/prefix), '/'-separated, and never
// start with '/'. All methods are thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace tb::objstore {

inline constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
};

struct ListPage {
  std::vector<ObjectInfo> objects;  // ascending by key
  std::string next_token;           // empty: no more pages
};

enum class PutMode {
  kOverwrite,
  // Fails with ALREADY_EXISTS if the key exists. Atomic (one winner among racing writers) where
  // SupportsCreateOnly(); otherwise a best-effort check.
  kCreateOnly,
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // For logs and errors: "file:///var/lib/tb", "s3://bucket/prefix", "mem://".
  virtual std::string Describe() const = 0;

  // Stores `data` as the whole object `key`; readers see the old object or the new one, never a
  // mix. Large objects may be uploaded in parts by the implementation.
  virtual Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) = 0;

  // Reads up to `length` bytes from `offset` (kToEnd: to the end). A range that runs past the end
  // is cut short; an offset past the end is INVALID_ARGUMENT. NOT_FOUND if there is no object.
  virtual Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) = 0;

  // Size of the object, or NOT_FOUND.
  virtual Result<ObjectInfo> Head(std::string_view key) = 0;

  // One page of the objects whose keys start with `prefix`, in key order, at most `max_keys`
  // (1..1000). Pass the previous page's next_token to continue; "" starts from the beginning.
  virtual Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) = 0;

  // Deletes the objects; keys that do not exist are not errors.
  virtual Status Delete(const std::vector<std::string>& keys) = 0;

  // Whether PutMode::kCreateOnly is atomic on this store.
  virtual bool SupportsCreateOnly() const = 0;
};

// The base of a decorator (retries, faults, metrics, a cache), as leveldb's EnvWrapper: every call
// goes to the store it wraps, so a decorator overrides only the calls it changes.
class ForwardingStore : public ObjectStore {
 public:
  explicit ForwardingStore(std::shared_ptr<ObjectStore> base) : base_(std::move(base)) {}

  std::string Describe() const override { return base_->Describe(); }
  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override {
    return base_->Put(key, data, mode);
  }
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override {
    return base_->Get(key, offset, length);
  }
  Result<ObjectInfo> Head(std::string_view key) override { return base_->Head(key); }
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override {
    return base_->List(prefix, token, max_keys);
  }
  Status Delete(const std::vector<std::string>& keys) override { return base_->Delete(keys); }
  bool SupportsCreateOnly() const override { return base_->SupportsCreateOnly(); }

 protected:
  ObjectStore& base() const { return *base_; }

 private:
  const std::shared_ptr<ObjectStore> base_;
};

// Every object under `prefix`, following pages.
Result<std::vector<ObjectInfo>> ListAll(ObjectStore& store, std::string_view prefix);

// The portable key rules, which LocalStore and MemoryStore enforce (INVALID_ARGUMENT otherwise):
// 1..1024 bytes, no NUL, no leading '/', and no empty, "." or ".." components (so no trailing '/'
// and no "//"). Keys that follow them mean the same object on every store.
Status ValidateKey(std::string_view key);

// The cloud stores' (S3, GCS, Azure) check of a key: not empty, no leading '/', and at most 1024
// bytes together with the store's prefix (the longest object name each service takes).
// INVALID_ARGUMENT naming `service` and `op` otherwise.
Status CheckCloudKey(std::string_view service, std::string_view op, std::string_view prefix, std::string_view key);

}  // namespace tb::objstore
