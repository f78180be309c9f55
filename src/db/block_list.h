// The bucket layout of one tenant, and its block list.
//
//   <root>/tenants/<tenant>/blocks/<block-id>/{data,index,meta}   one immutable block
//   <root>/tenants/<tenant>/blocklist/<20-digit version>          the published set of blocks
//
// A block exists once its meta exists (written last). The block list spares readers a LIST on
// every query: each version is a new, create-only object naming every live block with its meta,
// so writers never overwrite each other — a writer that loses the race for version N+1 re-reads
// and tries N+2. Readers take the highest version; LIST of blocks/ is the fallback that repairs a
// list that missed a block (a crash between writing a meta and publishing it).
// Byte layout: docs/format/bucket.md.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "block/format.h"
#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::db {

struct BlockList {
  uint64_t version = 0;  // 0: nothing published yet
  std::vector<block::BlockMeta> blocks;
};

std::string EncodeBlockList(const BlockList& list);
Result<BlockList> DecodeBlockList(std::string_view bytes, const std::string& what);

// "tenants/<tenant>/".
std::string TenantPrefix(const std::string& tenant);
// The tenants that have anything in the store (one LIST of tenants/), sorted.
Result<std::vector<std::string>> ListTenants(objstore::ObjectStore& store);
// "tenants/<tenant>/blocks/<id>/".
std::string BlockPrefix(const std::string& tenant, const std::string& block_id);
// Whether `key` is the data or index object of a block, of any tenant: objects that are written
// once (create-only) and never change, so a cache may keep their bytes (objstore::DiskCacheStore).
bool IsImmutableBlockObject(std::string_view key);

class BlockListStore {
 public:
  BlockListStore(objstore::ObjectStore* store, std::string tenant) : store_(store), tenant_(std::move(tenant)) {}

  // The highest published version, or an empty list (version 0).
  Result<BlockList> LoadLatest();
  // The highest published version when its number differs from `known_version` (a purge may also
  // bring the number down), else nullopt. An unchanged list costs one LIST of blocklist/, which
  // stays one page because publishing prunes old versions.
  Result<std::optional<BlockList>> LoadIfChanged(uint64_t known_version);
  // Publishes a new version: the latest one plus `add`, minus the blocks named in `remove`; when
  // that changes nothing, returns the latest version without publishing. After publishing, deletes
  // old versions once more than 2 × kKeptVersions exist, keeping the newest kKeptVersions (a reader
  // between its LIST and its GET of a version pruned meanwhile lists again).
  Result<BlockList> Update(const std::vector<block::BlockMeta>& add, const std::set<std::string>& remove);
  static constexpr size_t kKeptVersions = 16;
  // Lists blocks/ and returns the IDs of blocks that have a meta, and of those that do not (debris of
  // a flush that crashed before its meta was written).
  Status ScanBlocks(std::set<std::string>* with_meta, std::set<std::string>* without_meta);

 private:
  std::string ListKey(uint64_t version) const;
  // Keys of blocklist/, oldest first.
  Result<std::vector<objstore::ObjectInfo>> ListVersions();
  // Loads the newest of `versions` (an empty list when there is none). NOT_FOUND when it was
  // pruned after the LIST.
  Result<BlockList> LoadNewest(const std::vector<objstore::ObjectInfo>& versions);
  // LIST + GET of the newest version, listing again when a prune raced the GET.
  Result<BlockList> LoadLatest(std::vector<objstore::ObjectInfo>* versions);

  objstore::ObjectStore* store_;
  std::string tenant_;
};

}  // namespace tb::db
