// LatencyStore: sleeps a fixed time before every call to another store (Put, Get, Head, List,
// Delete; not Describe or SupportsCreateOnly), to model a remote store's round trip in tests
// ("8 parallel reads cost about one round trip"). Concurrent calls sleep concurrently.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"

namespace tb::objstore {

class LatencyStore : public ForwardingStore {
 public:
  // How a call waits out `delay`. Null: it sleeps on the steady clock, never shorter than the
  // delay; LatencyStore's own tests pass one that records or meets instead.
  using Wait = std::function<void(std::chrono::nanoseconds delay)>;

  LatencyStore(std::shared_ptr<ObjectStore> base, std::chrono::nanoseconds delay, Wait wait = {})
      : ForwardingStore(std::move(base)), delay_(delay), wait_(std::move(wait)) {}

  std::chrono::nanoseconds delay() const { return delay_; }

  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;

 private:
  void WaitOut() const;

  std::chrono::nanoseconds delay_;
  Wait wait_;
};

}  // namespace tb::objstore
