// CompactionLease: at most one compactor per tenant at a time, made of create-only objects, so it
// needs neither a lock service nor a conditional overwrite (RGW does not honour If-Match reliably):
//
//   tenants/<tenant>/compactor/lease-<20-digit epoch>   "<holder id> <expiry unix ns>\n"
//
// The lease is the newest epoch. Its holder renews it by creating the next epoch; anyone may take
// an expired (or released: expiry 0) lease by creating the next epoch. Two contenders for one
// epoch race on the create-only PUT and exactly one wins. The lease only keeps compactors from
// doing the same work twice: safety does not depend on it (a compaction publishes only while all
// of its inputs are live, docs/format/bucket.md), so a holder that stalls past its expiry costs
// wasted work, never a lost or duplicated span.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::db {

class CompactionLease {
 public:
  CompactionLease(objstore::ObjectStore* store, const std::string& tenant, std::string holder,
                  std::chrono::nanoseconds duration);

  // Takes the lease, or renews it when this holder has it: true if this holder holds it for at
  // least `duration` from `now_unix_nano` on return; false if another live holder has it (or won
  // the race for the next epoch).
  Result<bool> Acquire(uint64_t now_unix_nano);
  // Lets the next contender take the lease at once (an epoch that expired at 0), if this holder
  // still has it.
  Status Release();

  // The holder of the newest epoch and its expiry; empty holder when there is none.
  struct State {
    uint64_t epoch = 0;
    std::string holder;
    uint64_t expiry_unix_nano = 0;
  };
  Result<State> Current();

 private:
  std::string Key(uint64_t epoch) const;
  Result<bool> CreateEpoch(uint64_t epoch, uint64_t expiry_unix_nano);

  objstore::ObjectStore* store_;
  std::string prefix_;  // tenants/<tenant>/compactor/
  std::string holder_;
  uint64_t duration_nano_;
};

}  // namespace tb::db
