// MeteringStore: counts the calls made to another store, and the bytes moved, per operation.
// Tests use it to state costs: "a search read under 5% of a block's bytes", "a lookup costs at
// most 2 GETs". It counts ObjectStore calls, not the HTTP requests a backend makes for one (a
// Delete of 2500 keys is one delete; S3 sends it as three requests).
//
// Every call is counted, failed ones included (a failed GET still costs a request); bytes are
// counted for successful calls only.
//
// Thread-safety: every method may be called concurrently; counters are atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"

namespace tb::objstore {

class MeteringStore : public ForwardingStore {
 public:
  struct Counters {
    uint64_t puts = 0;
    uint64_t put_bytes = 0;  // sizes of the objects stored
    uint64_t gets = 0;
    uint64_t get_bytes = 0;  // bytes returned
    uint64_t heads = 0;
    uint64_t lists = 0;
    uint64_t deletes = 0;       // Delete calls
    uint64_t deleted_keys = 0;  // keys passed to Delete
    uint64_t errors = 0;        // calls that failed (any operation)

    uint64_t requests() const { return puts + gets + heads + lists + deletes; }
    friend bool operator==(const Counters&, const Counters&) = default;
  };

  explicit MeteringStore(std::shared_ptr<ObjectStore> base) : ForwardingStore(std::move(base)) {}

  // The counters now. Each field is read atomically; fields are not read as one transaction.
  Counters snapshot() const;
  void Reset();

  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;

 private:
  static void Add(std::atomic<uint64_t>& counter, uint64_t n) { counter.fetch_add(n, std::memory_order_relaxed); }
  void CountError(const Status& status) {
    if (!status.ok()) Add(errors_, 1);
  }

  std::atomic<uint64_t> puts_{0}, put_bytes_{0}, gets_{0}, get_bytes_{0}, heads_{0}, lists_{0}, deletes_{0},
      deleted_keys_{0}, errors_{0};
};

}  // namespace tb::objstore
