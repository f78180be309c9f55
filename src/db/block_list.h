// The bucket layout of one tenant, and its block list.
//
//   <root>/tenants/<tenant>/blocks/<block-id>/{data,index,meta}   one immutable block
//   <root>/tenants/<tenant>/blocklist/<20-digit version>          the published set of blocks
//
// A block exists once its meta exists (written last). The block list spares readers a LIST on
// every query: each version is a new, create-only object naming every live block with its meta,
// so writers never overwrite each other — a writer that loses the race for version N+1 re-reads
// and tries N+2. Readers take the highest version; LIST of blocks/ is the fallback that repairs a
// list that missed a flushed block (a crash between writing a meta and publishing it).
//
// A version also names the blocks that left the list (compacted or expired) with the time they
// left: their objects stay for a grace period, so that a query that started on an older version
// can still read them, and no recovery republishes them. SweepRetired deletes them afterwards.
// Byte layout and rules: docs/format/bucket.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "block/format.h"
#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::db {

struct ListedBlock {
  block::BlockMeta meta;
  // 0: written by a flush; L ≥ 1: written by a compaction into level L (docs/format/bucket.md).
  uint32_t level = 0;
  // A compaction's output that was cut at the memory budget or the target size: merging it again
  // would not make a larger block, so it stays where it is.
  bool full = false;
  bool operator==(const ListedBlock&) const = default;
};

struct RetiredBlock {
  std::string block_id;
  uint64_t retired_unix_nano = 0;  // when it left the list; its objects go once the grace period has passed
  bool operator==(const RetiredBlock&) const = default;
};

struct BlockList {
  uint64_t version = 0;               // 0: nothing published yet
  std::vector<ListedBlock> blocks;    // live, sorted by block ID
  std::vector<RetiredBlock> retired;  // sorted by block ID
  // Per writer instance: the highest wal_last of any flushed block it ever published. A process
  // skips WAL records up to its watermark on start, even after compaction merged its blocks into
  // blocks of another writer (whose metas carry no WAL range) or retention dropped them.
  std::map<std::string, uint64_t> wal_watermarks;

  const ListedBlock* Find(const std::string& block_id) const;
  bool IsRetired(const std::string& block_id) const;
};

std::string EncodeBlockList(const BlockList& list);
// Reads the current layout (TBBLIST2) and the first one (TBBLIST1: every block at level 0, nothing
// retired, watermarks taken from the blocks).
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
// Deletes a block's objects, meta first: once its meta is gone the block no longer exists for a
// LIST, so a crash halfway leaves meta-less debris, never a block with missing parts.
Status DeleteBlockObjects(objstore::ObjectStore& store, const std::string& tenant, const std::string& block_id);

uint64_t NowUnixNano();
// A block ID: "<16 hex: unix µs now>-<instance>-<4 hex: counter mod 2^16>" (docs/format/bucket.md).
std::string MakeBlockId(const std::string& instance_id, uint64_t counter);
// A fresh random instance ID: 16 hex digits.
std::string RandomInstanceId();

// The live blocks of `list` whose spans all started before `cutoff_unix_nano` (retention).
std::set<std::string> ExpiredBlocks(const BlockList& list, uint64_t cutoff_unix_nano);

// One change to the block list, applied on top of whatever version is newest when it is written.
struct BlockListChange {
  std::vector<ListedBlock> add;  // replaces a live entry of the same ID; a retired ID is never re-added
  std::set<std::string> retire;  // live blocks that leave the list (recorded as retired at `now`)
  std::set<std::string> forget;  // retired entries to drop (their objects are deleted)
  // Compaction: the change applies only while every block of `retire` is live; otherwise Update
  // fails with FAILED_PRECONDITION (another compactor or retention took an input) and publishes
  // nothing.
  bool retire_only_live = false;
  uint64_t now_unix_nano = 0;  // 0: now
};

struct SweepStats {
  size_t blocks_deleted = 0;  // retired blocks whose objects were deleted and entry dropped
};

class BlockListStore {
 public:
  BlockListStore(objstore::ObjectStore* store, std::string tenant) : store_(store), tenant_(std::move(tenant)) {}

  // The highest published version, or an empty list (version 0).
  Result<BlockList> LoadLatest();
  // The highest published version when its number differs from `known_version` (a purge may also
  // bring the number down), else nullopt. An unchanged list costs one LIST of blocklist/, which
  // stays one page because publishing prunes old versions.
  Result<std::optional<BlockList>> LoadIfChanged(uint64_t known_version);
  // Publishes a new version: the latest one with `change` applied. A change that the latest version
  // already shows (a no-op, or a retry after a lost response) publishes nothing and returns that
  // version. After publishing, deletes old versions once more than 2 × kKeptVersions exist, keeping
  // the newest kKeptVersions (a reader between its LIST and its GET of a version pruned meanwhile
  // lists again).
  Result<BlockList> Update(const BlockListChange& change);
  static constexpr size_t kKeptVersions = 16;
  // Adds flushed blocks (level 0) and retires `retire` (retention).
  Result<BlockList> Update(const std::vector<block::BlockMeta>& add, const std::set<std::string>& retire);
  // Deletes the objects of blocks retired at least `grace_nano` before `now_unix_nano`, then drops
  // them from the list.
  Result<SweepStats> SweepRetired(uint64_t now_unix_nano, uint64_t grace_nano);
  // Lists blocks/ and returns the IDs of blocks that have a meta, and of those that do not (debris of
  // a flush that crashed before its meta was written).
  Status ScanBlocks(std::set<std::string>* with_meta, std::set<std::string>* without_meta);

  const std::string& tenant() const { return tenant_; }

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
