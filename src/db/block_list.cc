#include "db/block_list.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "block/block_writer.h"

namespace tb::db {
namespace {

constexpr char kListMagic[8] = {'T', 'B', 'B', 'L', 'I', 'S', 'T', '1'};
constexpr int kMaxPublishAttempts = 32;

}  // namespace

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

std::string EncodeBlockList(const BlockList& list) {
  block::ByteWriter w;
  w.Bytes(std::string_view(kListMagic, sizeof kListMagic));
  w.U64(list.version);
  w.U32(static_cast<uint32_t>(list.blocks.size()));
  for (const auto& meta : list.blocks) w.LenBytes(block::EncodeMeta(meta));
  w.U64(block::Checksum64(w.out()));
  return w.Take();
}

Result<BlockList> DecodeBlockList(std::string_view bytes, const std::string& what) {
  if (bytes.size() < sizeof kListMagic + 20 || bytes.substr(0, sizeof kListMagic) != std::string_view(kListMagic, 8))
    return Status::DataLoss(what + ": not a block list");
  const std::string_view body = bytes.substr(0, bytes.size() - 8);
  block::ByteReader tail(bytes.substr(bytes.size() - 8));
  if (tail.U64() != block::Checksum64(body)) return Status::DataLoss(what + ": checksum mismatch");
  block::ByteReader r(body.substr(sizeof kListMagic));
  BlockList list;
  list.version = r.U64();
  const uint32_t count = r.U32();
  for (uint32_t i = 0; i < count && !r.failed(); ++i) {
    const std::string_view meta_bytes = r.LenBytes();
    if (r.failed()) break;
    TB_ASSIGN_OR_RETURN(block::BlockMeta meta, block::DecodeMeta(meta_bytes, what));
    list.blocks.push_back(std::move(meta));
  }
  if (r.failed() || !r.done()) return Status::DataLoss(what + ": malformed");
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

Result<BlockList> BlockListStore::Update(const std::vector<block::BlockMeta>& add,
                                         const std::set<std::string>& remove) {
  for (int attempt = 0; attempt < kMaxPublishAttempts; ++attempt) {
    std::vector<objstore::ObjectInfo> versions;
    TB_ASSIGN_OR_RETURN(BlockList list, LoadLatest(&versions));
    const size_t removed = std::erase_if(list.blocks, [&](const block::BlockMeta& m) {
      return remove.contains(m.block_id) ||
             std::any_of(add.begin(), add.end(), [&](const auto& a) { return a.block_id == m.block_id; });
    });
    if (add.empty() && removed == 0) return list;
    list.blocks.insert(list.blocks.end(), add.begin(), add.end());
    std::sort(list.blocks.begin(), list.blocks.end(),
              [](const auto& a, const auto& b) { return a.block_id < b.block_id; });
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
