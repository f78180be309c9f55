#include "db/lease.h"

#include <cstdio>
#include <sstream>

#include "db/block_list.h"

namespace tb::db {

CompactionLease::CompactionLease(objstore::ObjectStore* store, const std::string& tenant, std::string holder,
                                 std::chrono::nanoseconds duration)
    : store_(store),
      prefix_(TenantPrefix(tenant) + "compactor/"),
      holder_(std::move(holder)),
      duration_nano_(static_cast<uint64_t>(duration.count())) {}

std::string CompactionLease::Key(uint64_t epoch) const {
  char digits[21];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(epoch));
  return prefix_ + "lease-" + digits;
}

Result<CompactionLease::State> CompactionLease::Current() {
  TB_ASSIGN_OR_RETURN(auto objects, objstore::ListAll(*store_, prefix_ + "lease-"));
  State state;
  if (objects.empty()) return state;
  const std::string& key = objects.back().key;  // zero-padded epochs sort in key order
  state.epoch = std::stoull(key.substr((prefix_ + "lease-").size()));
  TB_ASSIGN_OR_RETURN(std::string bytes, store_->Get(key));
  std::istringstream in(bytes);
  if (!(in >> state.holder >> state.expiry_unix_nano))
    return Status::DataLoss(store_->Describe() + "/" + key + ": not a compactor lease");
  return state;
}

Result<bool> CompactionLease::CreateEpoch(uint64_t epoch, uint64_t expiry_unix_nano) {
  Status s =
      store_->Put(Key(epoch), holder_ + " " + std::to_string(expiry_unix_nano) + "\n", objstore::PutMode::kCreateOnly);
  if (s.code() == StatusCode::kAlreadyExists) return false;
  TB_RETURN_IF_ERROR(s);
  // Older epochs only tell history; the newest is the lease. Losing this delete costs a key.
  if (epoch > 1) (void)store_->Delete({Key(epoch - 1)});
  return true;
}

Result<bool> CompactionLease::Acquire(uint64_t now_unix_nano) {
  auto current = Current();
  // The newest epoch vanished under us: its successor was just created and this one pruned.
  if (!current.ok() && current.status().code() == StatusCode::kNotFound) return false;
  TB_RETURN_IF_ERROR(current.status());
  const bool mine = current->holder == holder_;
  if (current->epoch != 0 && !mine && now_unix_nano < current->expiry_unix_nano) return false;
  return CreateEpoch(current->epoch + 1, now_unix_nano + duration_nano_);
}

Status CompactionLease::Release() {
  TB_ASSIGN_OR_RETURN(State current, Current());
  if (current.holder != holder_ || current.expiry_unix_nano == 0) return Status::Ok();
  return CreateEpoch(current.epoch + 1, 0).status();
}

}  // namespace tb::db
