#include "objstore/metering_store.h"

namespace tb::objstore {

MeteringStore::Counters MeteringStore::snapshot() const {
  auto load = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  Counters c;
  c.puts = load(puts_);
  c.put_bytes = load(put_bytes_);
  c.gets = load(gets_);
  c.get_bytes = load(get_bytes_);
  c.heads = load(heads_);
  c.lists = load(lists_);
  c.deletes = load(deletes_);
  c.deleted_keys = load(deleted_keys_);
  c.errors = load(errors_);
  return c;
}

void MeteringStore::Reset() {
  for (std::atomic<uint64_t>* c :
       {&puts_, &put_bytes_, &gets_, &get_bytes_, &heads_, &lists_, &deletes_, &deleted_keys_, &errors_}) {
    c->store(0, std::memory_order_relaxed);
  }
}

Status MeteringStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  Add(puts_, 1);
  Status status = base().Put(key, data, mode);
  if (status.ok()) Add(put_bytes_, data.size());
  CountError(status);
  return status;
}

Result<std::string> MeteringStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  Add(gets_, 1);
  Result<std::string> result = base().Get(key, offset, length);
  if (result.ok()) Add(get_bytes_, result->size());
  CountError(result.status());
  return result;
}

Result<ObjectInfo> MeteringStore::Head(std::string_view key) {
  Add(heads_, 1);
  Result<ObjectInfo> result = base().Head(key);
  CountError(result.status());
  return result;
}

Result<ListPage> MeteringStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  Add(lists_, 1);
  Result<ListPage> result = base().List(prefix, token, max_keys);
  CountError(result.status());
  return result;
}

Status MeteringStore::Delete(const std::vector<std::string>& keys) {
  Add(deletes_, 1);
  Add(deleted_keys_, keys.size());
  Status status = base().Delete(keys);
  CountError(status);
  return status;
}

}  // namespace tb::objstore
