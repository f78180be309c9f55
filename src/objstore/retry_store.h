// RetryingStore: retries the transient failures of another store under the one retry policy of
// every store (retry_policy.h): each call is repeated by a Retrier, and a create-only put refused
// with ALREADY_EXISTS after a transient failure is settled by CreateOnlyRefusal, reading the object
// back (a HEAD for its size, then a GET) to see whether it holds exactly the bytes written.
//
// For stores without their own transport (file://, in OpenStorage); the cloud stores apply the
// same policy to each HTTP exchange instead (http_client.h) and are not wrapped.
//
// Thread-safety: every method may be called concurrently (if the policy's functions allow it).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"
#include "objstore/retry_policy.h"

namespace tb::objstore {

class RetryingStore : public ForwardingStore {
 public:
  RetryingStore(std::shared_ptr<ObjectStore> base, RetryPolicy policy = {});

  const RetryPolicy& policy() const { return retrier_.policy(); }

  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;

 private:
  // Whether the object `key` holds exactly `data` (each read retried; a failed read: no).
  bool Holds(std::string_view key, std::string_view data);

  Retrier retrier_;
};

}  // namespace tb::objstore
