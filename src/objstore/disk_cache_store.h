// DiskCacheStore: keeps the results of ranged GETs of immutable objects in a local folder, in
// front of another (remote) store, so that block indexes and hot pages that fell out of the
// memory cache are read from local disk instead of from S3 — and are still there after a restart.
// The byte layout of the folder is in docs/format/disk-cache.md.
//
// What is cached: successful Get(key, offset, length) results, by exact (key, offset, length),
// for the keys that `cacheable(key)` accepts. The owner chooses the predicate and must only accept
// keys whose bytes never change once written (block data and index objects are create-only).
// Everything else — Put, Head, List, Delete, and Gets of other keys — passes straight through.
// Put and Delete of a cacheable key drop every cached range of it, so a deleted object is never
// served from the cache by this process.
//
// Bounds and failures: the entry files together stay within `capacity_bytes` (least recently
// used entries are deleted first); a result larger than the capacity is not cached. Every entry is
// checksummed and names its key and range: a corrupt, truncated or missing entry file is a miss
// (the file is deleted and the range fetched again), and a failure to write the cache never fails
// the read. Entries are written with temp file + rename, without fsync: a power loss can at worst
// leave entries that fail their checksum.
//
// Restart: Open() rebuilds the index from the folder (names and sizes only; contents are checked
// when read), recency from the files' modification times (a hit touches its file), and evicts
// down to the capacity. One process per folder.
//
// Thread-safety: every method may be called concurrently. Reads of entry files happen outside the
// index lock; a Put/Delete that races with a miss keeps the fetched bytes out of the cache.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/local_store.h"
#include "objstore/object_store.h"

namespace tb::objstore {

struct DiskCacheOptions {
  std::string dir;              // created if missing
  uint64_t capacity_bytes = 0;  // total size of the entry files
  // Keys whose bytes never change after they are first written; only these are cached.
  std::function<bool(std::string_view key)> cacheable;
  // The time stamped on an entry's file when it is written and each time it is read: its recency,
  // kept across a restart. Null: the kernel's current time; tests pass a clock they move
  // themselves, since the kernel's file times are too coarse (a few ms) to order quick reads.
  std::function<std::chrono::system_clock::time_point()> clock;
};

struct DiskCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;        // cacheable Gets that went to the inner store
  uint64_t corrupt = 0;       // entries dropped because they failed verification
  uint64_t evictions = 0;     // entries dropped to stay within the capacity, or for a full disk
  uint64_t write_errors = 0;  // entries that could not be written (the read still succeeded)
  uint64_t entries = 0;       // now
  uint64_t bytes = 0;         // now: total size of the entry files
};

class DiskCacheStore : public ForwardingStore {
 public:
  static Result<std::shared_ptr<DiskCacheStore>> Open(std::shared_ptr<ObjectStore> inner, DiskCacheOptions options);

  DiskCacheStats stats() const;

  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Status Delete(const std::vector<std::string>& keys) override;

 private:
  DiskCacheStore(std::shared_ptr<ObjectStore> inner, DiskCacheOptions options, std::shared_ptr<LocalStore> files);
  Status Rebuild();

  struct Entry {
    std::string name;  // the entry file's key in files_
    uint64_t size = 0;
  };
  using Lru = std::list<Entry>;  // front: most recently used

  // The cached bytes of the range; NOT_FOUND if the file is gone, DATA_LOSS if it fails verification.
  Result<std::string> ReadEntry(std::string_view key, uint64_t offset, uint64_t length, const std::string& name);
  void Insert(std::string_view key, uint64_t offset, uint64_t length, const std::string& name, std::string_view data,
              uint64_t generation);
  // Sets the entry file's modification time to now (options_.clock); best effort.
  void Touch(const std::string& name);
  // Drops every cached range of the key (index and files).
  void Invalidate(std::string_view key);
  // Removes `name` from the index if present. Caller holds mu_.
  void EraseLocked(const std::string& name);
  // Evicts least recently used entries until at most `limit` bytes are held; returns the names to
  // delete.
  std::vector<std::string> EvictLocked(uint64_t limit);
  void DeleteFiles(const std::vector<std::string>& names);

  const DiskCacheOptions options_;
  const std::shared_ptr<LocalStore> files_;

  mutable std::mutex mu_;
  Lru lru_;                                     // GUARDED_BY(mu_)
  std::map<std::string, Lru::iterator> index_;  // GUARDED_BY(mu_); by name, so one key's entries are adjacent
  uint64_t bytes_ = 0;                          // GUARDED_BY(mu_)
  // Bumped by every invalidation: a miss that started before one does not insert what it fetched.
  uint64_t generation_ = 0;  // GUARDED_BY(mu_)
  DiskCacheStats counters_;  // GUARDED_BY(mu_); entries/bytes filled in by stats()
};

}  // namespace tb::objstore
