// DiskCacheStore: the conformance suite around MemoryStore, and the cache's own promises (hits
// skip the inner store, the byte bound, corrupt entries, restart, invalidation, concurrency).
#include "objstore/disk_cache_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "objstore/memory_store.h"
#include "objstore/metering_store.h"
#include "objstore/object_store_suite.h"
#include "util/test_sync.h"

namespace tb::objstore {
namespace {

namespace fs = std::filesystem;

std::string MakeTempDir() {
  std::string dir = (fs::temp_directory_path() / "tb-diskcache-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
  return dir;
}

// Every key is cacheable here: Put and Delete must invalidate, or the suite's overwrite and
// delete tests read stale bytes.
std::shared_ptr<ObjectStore> MakeCachedMemory() {
  const std::string dir = MakeTempDir();
  DiskCacheOptions options;
  options.dir = dir + "/cache";
  options.capacity_bytes = 64ull << 20;
  options.cacheable = [](std::string_view) { return true; };
  Result<std::shared_ptr<DiskCacheStore>> store = DiskCacheStore::Open(std::make_shared<MemoryStore>(), options);
  if (!store.ok()) {
    ADD_FAILURE() << store.status().ToString();
    return nullptr;
  }
  std::shared_ptr<DiskCacheStore> cache = std::move(store).value();
  DiskCacheStore* raw = cache.get();
  return std::shared_ptr<ObjectStore>(raw, [cache = std::move(cache), dir](ObjectStore*) mutable {
    cache.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  });
}

INSTANTIATE_TEST_SUITE_P(DiskCache, ObjectStoreConformance,
                         ::testing::Values(StoreFactory{"DiskCacheMemory", [] { return MakeCachedMemory(); }}),
                         StoreFactoryName());

// Objects under "blocks/" are cacheable, like the server's block data and index objects.
bool IsBlockKey(std::string_view key) { return key.starts_with("blocks/"); }

std::string Bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

class DiskCacheStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override {
    cache_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // (Re)opens the cache on the same folder, over a fresh meter around the same memory store.
  void Open(uint64_t capacity) {
    cache_.reset();
    meter_ = std::make_shared<MeteringStore>(memory_);
    DiskCacheOptions options;
    options.dir = CacheDir();
    options.capacity_bytes = capacity;
    options.cacheable = IsBlockKey;
    options.clock = clock_.Function();
    Result<std::shared_ptr<DiskCacheStore>> opened = DiskCacheStore::Open(meter_, options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    cache_ = std::move(opened).value();
  }

  std::string CacheDir() const { return dir_ + "/cache"; }

  std::vector<fs::path> EntryFiles() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(CacheDir())) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    return files;
  }

  uint64_t FileBytes() const {
    uint64_t total = 0;
    for (const fs::path& f : EntryFiles()) total += fs::file_size(f);
    return total;
  }

  std::string dir_;
  std::shared_ptr<MemoryStore> memory_ = std::make_shared<MemoryStore>();
  std::shared_ptr<MeteringStore> meter_;
  std::shared_ptr<DiskCacheStore> cache_;
  test_sync::ManualClock<std::chrono::system_clock> clock_;  // stamps the entry files
};

TEST_F(DiskCacheStoreTest, HitAvoidsTheInnerGet) {
  Open(1 << 20);
  const std::string data = Bytes(4096, 1);
  ASSERT_TRUE(memory_->Put("blocks/b1/index", data).ok());

  EXPECT_EQ(cache_->Get("blocks/b1/index", 100, 200).value(), data.substr(100, 200));
  EXPECT_EQ(meter_->snapshot().gets, 1u);
  EXPECT_EQ(cache_->Get("blocks/b1/index", 100, 200).value(), data.substr(100, 200));
  EXPECT_EQ(cache_->Get("blocks/b1/index", 100, 200).value(), data.substr(100, 200));
  EXPECT_EQ(meter_->snapshot().gets, 1u);

  // Another range of the same object is its own entry; so is the whole object.
  EXPECT_EQ(cache_->Get("blocks/b1/index", 0, 10).value(), data.substr(0, 10));
  EXPECT_EQ(cache_->Get("blocks/b1/index").value(), data);
  EXPECT_EQ(cache_->Get("blocks/b1/index").value(), data);
  EXPECT_EQ(meter_->snapshot().gets, 3u);

  const DiskCacheStats stats = cache_->stats();
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(stats.misses, 3u);
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.bytes, FileBytes());
  EXPECT_EQ(EntryFiles().size(), 3u);
}

TEST_F(DiskCacheStoreTest, OtherKeysAndErrorsPassThrough) {
  Open(1 << 20);
  ASSERT_TRUE(memory_->Put("blocklist/1", "v1").ok());
  EXPECT_EQ(cache_->Get("blocklist/1").value(), "v1");
  ASSERT_TRUE(memory_->Put("blocklist/1", "v2").ok());  // a mutable key: never cached
  EXPECT_EQ(cache_->Get("blocklist/1").value(), "v2");
  EXPECT_EQ(cache_->Get("blocks/missing/data").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(cache_->Get("blocks/missing/data").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(meter_->snapshot().gets, 4u);
  EXPECT_EQ(cache_->stats().entries, 0u);
  EXPECT_TRUE(EntryFiles().empty());
}

TEST_F(DiskCacheStoreTest, EvictionKeepsTheByteBound) {
  constexpr uint64_t kCapacity = 16 * 1024;
  Open(kCapacity);
  for (int i = 0; i < 40; ++i) {
    const std::string key = "blocks/b" + std::to_string(i) + "/data";
    ASSERT_TRUE(memory_->Put(key, Bytes(1000, i)).ok());
    ASSERT_TRUE(cache_->Get(key).ok());
    ASSERT_LE(cache_->stats().bytes, kCapacity);
    ASSERT_LE(FileBytes(), kCapacity);
  }
  const DiskCacheStats stats = cache_->stats();
  EXPECT_GT(stats.evictions, 0u);
  EXPECT_GT(stats.bytes, kCapacity / 2);  // the bound is used, not just respected
  EXPECT_EQ(stats.bytes, FileBytes());

  // The most recent object is still cached; the first one was evicted.
  meter_->Reset();
  EXPECT_EQ(cache_->Get("blocks/b39/data").value(), Bytes(1000, 39));
  EXPECT_EQ(meter_->snapshot().gets, 0u);
  EXPECT_EQ(cache_->Get("blocks/b0/data").value(), Bytes(1000, 0));
  EXPECT_EQ(meter_->snapshot().gets, 1u);

  // A result larger than the whole cache is served but not kept.
  ASSERT_TRUE(memory_->Put("blocks/huge/data", Bytes(kCapacity * 2, 7)).ok());
  EXPECT_EQ(cache_->Get("blocks/huge/data")->size(), kCapacity * 2);
  EXPECT_EQ(cache_->Get("blocks/huge/data")->size(), kCapacity * 2);
  EXPECT_EQ(meter_->snapshot().gets, 3u);
  EXPECT_LE(FileBytes(), kCapacity);
}

// A full disk: the cache's folder on a 256 KiB tmpfs, with a capacity larger than the disk. Writes
// that meet ENOSPC make the cache give back its oldest entries, so the disk has room again (for the
// WAL that may share it), and every read is still answered. Needs root for the mount.
TEST_F(DiskCacheStoreTest, AFullDiskMakesTheCacheEvictAndReadsGoOn) {
  fs::create_directories(CacheDir());
  if (::mount("tmpfs", CacheDir().c_str(), "tmpfs", 0, "size=256k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{CacheDir()};
  Open(1 << 20);
  for (int i = 0; i < 200; ++i) {
    const std::string key = "blocks/f" + std::to_string(i) + "/data";
    ASSERT_TRUE(memory_->Put(key, Bytes(3000, i)).ok());
    auto got = cache_->Get(key);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(*got, Bytes(3000, i));
  }
  const DiskCacheStats stats = cache_->stats();
  EXPECT_GT(stats.write_errors, 0u);  // the disk filled up
  EXPECT_GT(stats.evictions, 0u);     // long before the 1 MiB capacity
  EXPECT_LT(stats.bytes, 256u << 10);
  struct statvfs disk;
  ASSERT_EQ(::statvfs(CacheDir().c_str(), &disk), 0);
  EXPECT_GT(disk.f_bavail, 0u) << "the cache left its disk full";
  // The newest entry is cached; reads of evicted ones go to the store.
  meter_->Reset();
  EXPECT_EQ(cache_->Get("blocks/f199/data").value(), Bytes(3000, 199));
  EXPECT_EQ(meter_->snapshot().gets, 0u);
  EXPECT_EQ(cache_->Get("blocks/f0/data").value(), Bytes(3000, 0));
  cache_.reset();
}

TEST_F(DiskCacheStoreTest, CorruptOrTruncatedEntryIsRefetched) {
  Open(1 << 20);
  const std::string data = Bytes(5000, 3);
  ASSERT_TRUE(memory_->Put("blocks/b/index", data).ok());
  ASSERT_TRUE(cache_->Get("blocks/b/index", 10, 3000).ok());
  ASSERT_EQ(EntryFiles().size(), 1u);
  const fs::path file = EntryFiles()[0];

  {  // flip one payload byte in place
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    char c = 0;
    f.read(&c, 1);
    f.seekp(200);
    c ^= 0x10;
    f.write(&c, 1);
  }
  meter_->Reset();
  EXPECT_EQ(cache_->Get("blocks/b/index", 10, 3000).value(), data.substr(10, 3000));
  EXPECT_EQ(meter_->snapshot().gets, 1u);
  EXPECT_EQ(cache_->stats().corrupt, 1u);
  // Fetched again and stored again: the next read is a hit.
  EXPECT_EQ(cache_->Get("blocks/b/index", 10, 3000).value(), data.substr(10, 3000));
  EXPECT_EQ(meter_->snapshot().gets, 1u);

  fs::resize_file(file, fs::file_size(file) / 2);
  EXPECT_EQ(cache_->Get("blocks/b/index", 10, 3000).value(), data.substr(10, 3000));
  EXPECT_EQ(meter_->snapshot().gets, 2u);
  EXPECT_EQ(cache_->stats().corrupt, 2u);

  fs::remove(file);  // gone behind the cache's back: a plain miss
  EXPECT_EQ(cache_->Get("blocks/b/index", 10, 3000).value(), data.substr(10, 3000));
  EXPECT_EQ(meter_->snapshot().gets, 3u);
  EXPECT_EQ(cache_->stats().corrupt, 2u);
}

// Recency survives restarts through the entry files' times, stamped from clock_, which moves a
// second after each step here: an entry counts as used when it was written or last read.
TEST_F(DiskCacheStoreTest, RestartKeepsEntriesAndTheirRecency) {
  const auto key = [](int i) { return "blocks/b" + std::to_string(i) + "/data"; };
  Open(1 << 20);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(memory_->Put(key(i), Bytes(1000, i)).ok());
    ASSERT_TRUE(cache_->Get(key(i)).ok());
    clock_.Advance(std::chrono::seconds(1));
  }
  ASSERT_TRUE(cache_->Get(key(0)).ok());  // b0 becomes the most recent
  clock_.Advance(std::chrono::seconds(1));
  const uint64_t entry_size = cache_->stats().bytes / 6;
  // Debris that is not an entry is removed on open.
  std::ofstream(CacheDir() + "/not-an-entry") << "x";

  // Restart with room for five: b1, the entry written first and not read since, goes.
  Open(5 * entry_size);
  EXPECT_EQ(cache_->stats().entries, 5u);
  EXPECT_FALSE(fs::exists(CacheDir() + "/not-an-entry"));
  for (int i : {5, 4, 3, 2, 0}) {
    EXPECT_EQ(cache_->Get(key(i)).value(), Bytes(1000, i));
    clock_.Advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(meter_->snapshot().gets, 0u);

  // Restart with room for three: the three read last above stay (b3, b2, b0).
  Open(3 * entry_size);
  EXPECT_EQ(cache_->stats().entries, 3u);
  EXPECT_LE(FileBytes(), 3 * entry_size);
  for (int i : {3, 2, 0}) ASSERT_TRUE(cache_->Get(key(i)).ok());
  EXPECT_EQ(meter_->snapshot().gets, 0u);
  for (int i : {5, 1}) ASSERT_TRUE(cache_->Get(key(i)).ok());
  EXPECT_EQ(meter_->snapshot().gets, 2u);
}

TEST_F(DiskCacheStoreTest, DeleteAndPutInvalidate) {
  Open(1 << 20);
  ASSERT_TRUE(memory_->Put("blocks/b/data", "old bytes").ok());
  ASSERT_EQ(cache_->Get("blocks/b/data", 0, 3).value(), "old");
  ASSERT_EQ(cache_->Get("blocks/b/data").value(), "old bytes");
  ASSERT_EQ(cache_->stats().entries, 2u);

  ASSERT_TRUE(cache_->Delete({"blocks/b/data"}).ok());
  EXPECT_EQ(cache_->stats().entries, 0u);
  EXPECT_TRUE(EntryFiles().empty());
  EXPECT_EQ(cache_->Get("blocks/b/data").status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(cache_->Put("blocks/b/data", "new bytes").ok());
  EXPECT_EQ(cache_->Get("blocks/b/data", 0, 3).value(), "new");

  // After a restart the deleted object's entries are not resurrected either.
  ASSERT_TRUE(cache_->Delete({"blocks/b/data"}).ok());
  Open(1 << 20);
  EXPECT_EQ(cache_->stats().entries, 0u);
  EXPECT_EQ(cache_->Get("blocks/b/data", 0, 3).status().code(), StatusCode::kNotFound);
}

// Many threads read overlapping ranges of many objects through a cache small enough to evict all
// the time; one thread keeps corrupting entry files. Every read must return the right bytes.
// Run under AddressSanitizer in CI (TB_SANITIZE=ON).
TEST_F(DiskCacheStoreTest, ConcurrentReadersSeeTheRightBytes) {
  constexpr int kObjects = 24;
  constexpr size_t kSize = 3000;
  constexpr int kReaders = 8, kReadsEach = 400;
  Open(20 * 1024);
  std::vector<std::string> objects;
  for (int i = 0; i < kObjects; ++i) {
    objects.push_back(Bytes(kSize, 100 + i));
    ASSERT_TRUE(memory_->Put("blocks/b" + std::to_string(i) + "/data", objects.back()).ok());
  }
  std::atomic<int> wrong{0};
  test_sync::Progress reads;  // the vandal strikes once every few reads, however fast they go
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int n = 0; n < kReadsEach; ++n) {
        const int i = static_cast<int>(rng() % kObjects);
        const uint64_t offset = (rng() % 4) * 500;  // few distinct ranges, so there are hits
        Result<std::string> got = cache_->Get("blocks/b" + std::to_string(i) + "/data", offset, 1000);
        if (!got.ok() || *got != objects[i].substr(offset, 1000)) ++wrong;
        reads.Add();
      }
    });
  }
  std::thread vandal([&] {
    constexpr uint64_t kAllReads = kReaders * kReadsEach, kReadsPerStrike = 10;
    for (uint64_t seen = 0; (seen = reads.WaitFor(std::min(seen + kReadsPerStrike, kAllReads))) < kAllReads;) {
      // The folder changes under the walk: step with error codes, never exceptions.
      std::error_code ec;
      for (fs::recursive_directory_iterator it(CacheDir(), ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().filename().string().find(".tmp-") == std::string::npos) {
          fs::resize_file(it->path(), 10, ec);
          break;
        }
      }
    }
  });
  for (std::thread& r : readers) r.join();
  vandal.join();
  EXPECT_EQ(wrong.load(), 0);
  const DiskCacheStats stats = cache_->stats();
  EXPECT_GT(stats.hits, 0u);
  EXPECT_GT(stats.evictions, 0u);
  EXPECT_LE(stats.bytes, 20u * 1024);
}

}  // namespace
}  // namespace tb::objstore
