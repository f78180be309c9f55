#include "db/block_list.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "block/block_writer.h"

namespace tb::db {
namespace {

constexpr char kListMagicV1[8] = {'T', 'B', 'B', 'L', 'I', 'S', 'T', '1'};
constexpr char kListMagic[8] = {'T', 'B', 'B', 'L', 'I', 'S', 'T', '2'};
constexpr int kMaxPublishAttempts = 32;
constexpr uint8_t kFull = 1;  // ListedBlock::full

bool ById(const ListedBlock& a, const ListedBlock& b) { return a.meta.block_id < b.meta.block_id; }

void RaiseWatermark(BlockList* list, const block::BlockMeta& meta) {
  if (meta.wal_last == 0) return;  // a compaction's output covers no WAL range
  uint64_t& mark = list->wal_watermarks[meta.writer_id];
  mark = std::max(mark, meta.wal_last);
}

// Whether `list` already shows `change` (every added block live as given, every retired one gone).
bool Shows(const BlockList& list, const BlockListChange& change) {
  for (const auto& a : change.add) {
    const ListedBlock* live = list.Find(a.meta.block_id);
    if (live == nullptr || !(*live == a)) return false;
  }
  for (const auto& id : change.retire)
    if (list.Find(id) != nullptr) return false;
  for (const auto& id : change.forget)
    if (list.IsRetired(id)) return false;
  return true;
}

}  // namespace

std::set<std::string> ExpiredBlocks(const BlockList& list, uint64_t cutoff_unix_nano) {
  std::set<std::string> expired;
  for (const auto& b : list.blocks)
    if (b.meta.max_span_start < cutoff_unix_nano) expired.insert(b.meta.block_id);
  return expired;
}

uint64_t NowUnixNano() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string MakeBlockId(const std::string& instance_id, uint64_t counter) {
  char id[64];
  std::snprintf(id, sizeof id, "%016llx-%s-%04llx", static_cast<unsigned long long>(NowUnixNano() / 1000),
                instance_id.c_str(), static_cast<unsigned long long>(counter & 0xffff));
  return id;
}

std::string RandomInstanceId() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(v));
  return hex;
}

const ListedBlock* BlockList::Find(const std::string& block_id) const {
  const auto it = std::lower_bound(blocks.begin(), blocks.end(), block_id,
                                   [](const ListedBlock& b, const std::string& id) { return b.meta.block_id < id; });
  return it != blocks.end() && it->meta.block_id == block_id ? &*it : nullptr;
}

bool BlockList::IsRetired(const std::string& block_id) const {
  return std::any_of(retired.begin(), retired.end(), [&](const RetiredBlock& r) { return r.block_id == block_id; });
}

std::string TenantPrefix(const std::string& tenant) { return "tenants/" + tenant + "/"; }

Result<std::vector<std::string>> ListTenants(objstore::ObjectStore& store) {
  constexpr std::string_view kTenants = "tenants/";
  TB_ASSIGN_OR_RETURN(auto objects, objstore::ListAll(store, kTenants));
  std::vector<std::string> tenants;
  for (const auto& o : objects) {
    const size_t end = o.key.find('/', kTenants.size());
    if (end == std::string::npos) continue;
    std::string tenant = o.key.substr(kTenants.size(), end - kTenants.size());
    if (tenants.empty() || tenants.back() != tenant) tenants.push_back(std::move(tenant));
  }
  return tenants;
}

std::string BlockPrefix(const std::string& tenant, const std::string& block_id) {
  return TenantPrefix(tenant) + "blocks/" + block_id + "/";
}

bool IsImmutableBlockObject(std::string_view key) {
  // tenants/<tenant>/blocks/<id>/{data,index}
  constexpr std::string_view kTenants = "tenants/";
  if (!key.starts_with(kTenants)) return false;
  const size_t tenant_end = key.find('/', kTenants.size());
  if (tenant_end == std::string_view::npos) return false;
  std::string_view rest = key.substr(tenant_end + 1);
  if (!rest.starts_with("blocks/")) return false;
  rest.remove_prefix(std::string_view("blocks/").size());
  const size_t id_end = rest.find('/');
  if (id_end == 0 || id_end == std::string_view::npos) return false;
  const std::string_view object = rest.substr(id_end + 1);
  return object == block::kDataObject || object == block::kIndexObject;
}

Status DeleteBlockObjects(objstore::ObjectStore& store, const std::string& tenant, const std::string& block_id) {
  const std::string prefix = BlockPrefix(tenant, block_id);
  TB_RETURN_IF_ERROR(store.Delete({prefix + block::kMetaObject}));
  return store.Delete({prefix + block::kDataObject, prefix + block::kIndexObject});
}

std::string EncodeBlockList(const BlockList& list) {
  block::ByteWriter w;
  w.Bytes(std::string_view(kListMagic, sizeof kListMagic));
  w.U64(list.version);
  w.U32(static_cast<uint32_t>(list.blocks.size()));
  for (const auto& b : list.blocks) {
    w.Varint(b.level);
    w.U8(b.full ? kFull : 0);
    w.LenBytes(block::EncodeMeta(b.meta));
  }
  w.U32(static_cast<uint32_t>(list.retired.size()));
  for (const auto& r : list.retired) {
    w.LenBytes(r.block_id);
    w.U64(r.retired_unix_nano);
  }
  w.U32(static_cast<uint32_t>(list.wal_watermarks.size()));
  for (const auto& [writer, mark] : list.wal_watermarks) {
    w.LenBytes(writer);
    w.U64(mark);
  }
  w.U64(block::Checksum64(w.out()));
  return w.Take();
}

Result<BlockList> DecodeBlockList(std::string_view bytes, const std::string& what) {
  if (bytes.size() < sizeof kListMagic + 20) return Status::DataLoss(what + ": not a block list");
  const std::string_view magic = bytes.substr(0, sizeof kListMagic);
  const bool v1 = magic == std::string_view(kListMagicV1, sizeof kListMagicV1);
  if (!v1 && magic != std::string_view(kListMagic, sizeof kListMagic))
    return Status::DataLoss(what + ": not a block list");
  const std::string_view body = bytes.substr(0, bytes.size() - 8);
  block::ByteReader tail(bytes.substr(bytes.size() - 8));
  if (tail.U64() != block::Checksum64(body)) return Status::DataLoss(what + ": checksum mismatch");
  block::ByteReader r(body.substr(sizeof kListMagic));
  BlockList list;
  list.version = r.U64();
  const uint32_t count = r.U32();
  for (uint32_t i = 0; i < count && !r.failed(); ++i) {
    ListedBlock b;
    if (!v1) {
      b.level = r.Varint32();
      const uint8_t flags = r.U8();
      if (flags & ~kFull) return Status::DataLoss(what + ": unknown block flags");
      b.full = flags & kFull;
    }
    const std::string_view meta_bytes = r.LenBytes();
    if (r.failed()) break;
    TB_ASSIGN_OR_RETURN(b.meta, block::DecodeMeta(meta_bytes, what));
    list.blocks.push_back(std::move(b));
  }
  if (v1) {
    for (const auto& b : list.blocks) RaiseWatermark(&list, b.meta);
  } else {
    const uint32_t retired = r.U32();
    for (uint32_t i = 0; i < retired && !r.failed(); ++i) {
      RetiredBlock b;
      b.block_id = std::string(r.LenBytes());
      b.retired_unix_nano = r.U64();
      list.retired.push_back(std::move(b));
    }
    const uint32_t marks = r.U32();
    for (uint32_t i = 0; i < marks && !r.failed(); ++i) {
      std::string writer(r.LenBytes());
      list.wal_watermarks[std::move(writer)] = r.U64();
    }
  }
  if (r.failed() || !r.done()) return Status::DataLoss(what + ": malformed");
  if (!std::is_sorted(list.blocks.begin(), list.blocks.end(), ById))
    return Status::DataLoss(what + ": blocks out of order");
  return list;
}

std::string BlockListStore::ListKey(uint64_t version) const {
  char digits[21];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(version));
  return TenantPrefix(tenant_) + "blocklist/" + digits;
}

Result<std::vector<objstore::ObjectInfo>> BlockListStore::ListVersions() {
  // Zero-padded versions sort in key order.
  return objstore::ListAll(*store_, TenantPrefix(tenant_) + "blocklist/");
}

Result<BlockList> BlockListStore::LoadNewest(const std::vector<objstore::ObjectInfo>& versions) {
  if (versions.empty()) return BlockList{};
  const std::string& key = versions.back().key;
  TB_ASSIGN_OR_RETURN(std::string bytes, store_->Get(key));
  return DecodeBlockList(bytes, store_->Describe() + "/" + key);
}

Result<BlockList> BlockListStore::LoadLatest(std::vector<objstore::ObjectInfo>* versions) {
  for (int attempt = 0;; ++attempt) {
    TB_ASSIGN_OR_RETURN(*versions, ListVersions());
    Result<BlockList> list = LoadNewest(*versions);
    if (list.ok() || list.status().code() != StatusCode::kNotFound || attempt == 2) return list;
  }
}

Result<BlockList> BlockListStore::LoadLatest() {
  std::vector<objstore::ObjectInfo> versions;
  return LoadLatest(&versions);
}

Result<std::optional<BlockList>> BlockListStore::LoadIfChanged(uint64_t known_version) {
  TB_ASSIGN_OR_RETURN(auto versions, ListVersions());
  const uint64_t newest =
      versions.empty() ? 0 : std::stoull(versions.back().key.substr(versions.back().key.size() - 20));
  if (newest == known_version) return std::optional<BlockList>();
  Result<BlockList> list = LoadNewest(versions);
  if (!list.ok() && list.status().code() == StatusCode::kNotFound) list = LoadLatest();  // pruned meanwhile
  TB_RETURN_IF_ERROR(list.status());
  return std::optional<BlockList>(std::move(*list));
}

Result<BlockList> BlockListStore::Update(const BlockListChange& change) {
  const uint64_t now = change.now_unix_nano != 0 ? change.now_unix_nano : NowUnixNano();
  for (int attempt = 0; attempt < kMaxPublishAttempts; ++attempt) {
    std::vector<objstore::ObjectInfo> versions;
    TB_ASSIGN_OR_RETURN(BlockList list, LoadLatest(&versions));
    // A no-op, or a retry whose first attempt was written but whose answer was lost, finds its
    // change in place.
    if (Shows(list, change)) return list;
    if (change.retire_only_live) {
      for (const auto& id : change.retire)
        if (list.Find(id) == nullptr)
          return Status::FailedPrecondition("block list: block " + id +
                                            " is no longer live (compacted or expired elsewhere)");
    }
    std::erase_if(list.blocks, [&](const ListedBlock& b) {
      const std::string& id = b.meta.block_id;
      if (change.retire.contains(id)) {
        list.retired.push_back(RetiredBlock{id, now});
        return true;
      }
      return std::any_of(change.add.begin(), change.add.end(), [&](const auto& a) { return a.meta.block_id == id; });
    });
    std::erase_if(list.retired, [&](const RetiredBlock& r) { return change.forget.contains(r.block_id); });
    for (const auto& a : change.add) {
      if (list.IsRetired(a.meta.block_id)) continue;  // never resurrect what left the list
      list.blocks.push_back(a);
      RaiseWatermark(&list, a.meta);
    }
    std::sort(list.blocks.begin(), list.blocks.end(), ById);
    std::sort(list.retired.begin(), list.retired.end(),
              [](const RetiredBlock& a, const RetiredBlock& b) { return a.block_id < b.block_id; });
    ++list.version;
    Status s = store_->Put(ListKey(list.version), EncodeBlockList(list), objstore::PutMode::kCreateOnly);
    if (s.ok()) {
      if (versions.size() + 1 > 2 * kKeptVersions) {
        std::vector<std::string> doomed;
        for (size_t i = 0; i + kKeptVersions < versions.size() + 1; ++i) doomed.push_back(versions[i].key);
        // Old versions are garbage, not state: a failed prune is retried by the next publish.
        if (Status pruned = store_->Delete(doomed); !pruned.ok())
          spdlog::warn("block list: pruning old versions failed: {}", pruned.ToString());
      }
      return list;
    }
    if (s.code() != StatusCode::kAlreadyExists) return s;
    // Another writer published this version first: re-read and apply the change on top of theirs.
  }
  return Status::Unavailable("block list: lost the race to publish " + std::to_string(kMaxPublishAttempts) + " times");
}

Result<BlockList> BlockListStore::Update(const std::vector<block::BlockMeta>& add,
                                         const std::set<std::string>& retire) {
  BlockListChange change;
  for (const auto& meta : add) change.add.push_back(ListedBlock{meta, 0});
  change.retire = retire;
  return Update(change);
}

Result<SweepStats> BlockListStore::SweepRetired(uint64_t now_unix_nano, uint64_t grace_nano) {
  TB_ASSIGN_OR_RETURN(BlockList list, LoadLatest());
  BlockListChange change;
  for (const auto& r : list.retired) {
    if (r.retired_unix_nano + grace_nano > now_unix_nano) continue;
    // Objects first: a crash before the list drops the entry leaves it retired, and the next
    // sweep deletes again (deleting a missing key succeeds).
    TB_RETURN_IF_ERROR(DeleteBlockObjects(*store_, tenant_, r.block_id));
    change.forget.insert(r.block_id);
  }
  SweepStats stats;
  if (change.forget.empty()) return stats;
  TB_RETURN_IF_ERROR(Update(change).status());
  stats.blocks_deleted = change.forget.size();
  return stats;
}

Status BlockListStore::ScanBlocks(std::set<std::string>* with_meta, std::set<std::string>* without_meta) {
  const std::string prefix = TenantPrefix(tenant_) + "blocks/";
  TB_ASSIGN_OR_RETURN(auto objects, objstore::ListAll(*store_, prefix));
  std::set<std::string> seen;
  for (const auto& o : objects) {
    const std::string rest = o.key.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    const std::string id = rest.substr(0, slash);
    seen.insert(id);
    if (rest.substr(slash + 1) == block::kMetaObject) with_meta->insert(id);
  }
  for (const auto& id : seen)
    if (!with_meta->contains(id)) without_meta->insert(id);
  return Status::Ok();
}

}  // namespace tb::db
