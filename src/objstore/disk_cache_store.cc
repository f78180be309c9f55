#include "objstore/disk_cache_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <xxhash.h>

#include <algorithm>
#include <tuple>

namespace tb::objstore {
namespace {

// docs/format/disk-cache.md.
constexpr std::string_view kMagic = "TBDCACH1";
constexpr size_t kHexDigits = 16;  // of one u64 in an entry name

std::string Hex64(uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(kHexDigits, '0');
  for (size_t i = kHexDigits; i-- > 0; v >>= 4) out[i] = kDigits[v & 0xf];
  return out;
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "<32 hex: XXH3-128 of the key>/": the folder of every cached range of one key.
std::string KeyFolder(std::string_view key) {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return Hex64(h.high64) + Hex64(h.low64) + "/";
}

std::string EntryName(std::string_view key, uint64_t offset, uint64_t length) {
  return KeyFolder(key) + Hex64(offset) + "-" + Hex64(length);
}

// Whether `name` has the shape of an entry name (anything else in the folder is removed).
bool IsEntryName(std::string_view name) {
  constexpr size_t kFolder = 2 * kHexDigits;
  return name.size() == kFolder + 1 + kHexDigits + 1 + kHexDigits && name[kFolder] == '/' &&
         name[kFolder + 1 + kHexDigits] == '-' && IsHex(name.substr(0, kFolder)) &&
         IsHex(name.substr(kFolder + 1, kHexDigits)) && IsHex(name.substr(kFolder + 2 + kHexDigits));
}

void AppendU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void AppendU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t LoadLe(std::string_view bytes, size_t at, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) v |= uint64_t{static_cast<uint8_t>(bytes[at + i])} << (8 * i);
  return v;
}

std::string EncodeEntry(std::string_view key, uint64_t offset, uint64_t length, std::string_view data) {
  std::string out;
  out.reserve(kMagic.size() + 4 + key.size() + 24 + data.size() + 8);
  out.append(kMagic);
  AppendU32(&out, static_cast<uint32_t>(key.size()));
  out.append(key);
  AppendU64(&out, offset);
  AppendU64(&out, length);
  AppendU64(&out, data.size());
  out.append(data);
  AppendU64(&out, XXH3_64bits(out.data(), out.size()));
  return out;
}

// The payload of an entry file, if it is intact and holds exactly this key and range.
Result<std::string> DecodeEntry(std::string&& file, std::string_view key, uint64_t offset, uint64_t length,
                                const std::string& what) {
  const size_t header = kMagic.size() + 4 + key.size() + 24;
  if (file.size() < header + 8) return Status::DataLoss(what + ": truncated cache entry");
  const size_t body = file.size() - 8;
  if (XXH3_64bits(file.data(), body) != LoadLe(file, body, 8)) return Status::DataLoss(what + ": checksum mismatch");
  const std::string_view bytes = file;
  if (bytes.substr(0, kMagic.size()) != kMagic) return Status::DataLoss(what + ": bad magic");
  if (LoadLe(bytes, 8, 4) != key.size() || bytes.substr(12, key.size()) != key ||
      LoadLe(bytes, 12 + key.size(), 8) != offset || LoadLe(bytes, 20 + key.size(), 8) != length) {
    return Status::DataLoss(what + ": entry holds another key or range");
  }
  if (LoadLe(bytes, 28 + key.size(), 8) != body - header) return Status::DataLoss(what + ": bad payload length");
  file.resize(body);
  file.erase(0, header);
  return std::move(file);
}

}  // namespace

Result<std::shared_ptr<DiskCacheStore>> DiskCacheStore::Open(std::shared_ptr<ObjectStore> inner,
                                                             DiskCacheOptions options) {
  if (!options.cacheable) return Status::InvalidArgument("disk cache: no cacheable-key predicate");
  if (options.dir.empty()) return Status::InvalidArgument("disk cache: no folder");
  LocalStoreOptions local;
  local.sync = false;  // entries are verified when read; losing one costs a refetch
  TB_ASSIGN_OR_RETURN(auto files, LocalStore::Open(options.dir, local));
  std::shared_ptr<DiskCacheStore> store(new DiskCacheStore(std::move(inner), std::move(options), std::move(files)));
  TB_RETURN_IF_ERROR(store->Rebuild().WithContext("disk cache " + store->files_->root()));
  return store;
}

DiskCacheStore::DiskCacheStore(std::shared_ptr<ObjectStore> inner, DiskCacheOptions options,
                               std::shared_ptr<LocalStore> files)
    : ForwardingStore(std::move(inner)), options_(std::move(options)), files_(std::move(files)) {}

Status DiskCacheStore::Rebuild() {
  TB_RETURN_IF_ERROR(files_->RemoveStaleTempFiles(std::chrono::seconds(0)).status());
  TB_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, ListAll(*files_, ""));
  std::vector<std::tuple<timespec, std::string, uint64_t>> found;  // modified, name, size
  std::vector<std::string> strays;
  for (ObjectInfo& object : objects) {
    struct stat st {};
    if (!IsEntryName(object.key) || ::stat((files_->root() + "/" + object.key).c_str(), &st) != 0) {
      strays.push_back(std::move(object.key));
      continue;
    }
    found.emplace_back(st.st_mtim, std::move(object.key), object.size);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    const timespec &x = std::get<0>(a), &y = std::get<0>(b);
    return std::tie(x.tv_sec, x.tv_nsec) < std::tie(y.tv_sec, y.tv_nsec);
  });
  std::vector<std::string> victims;
  {
    std::lock_guard lock(mu_);
    for (auto& [modified, name, size] : found) {  // oldest first, so the newest ends up in front
      lru_.push_front(Entry{name, size});
      index_.emplace(std::move(name), lru_.begin());
      bytes_ += size;
    }
    victims = EvictLocked(options_.capacity_bytes);
  }
  victims.insert(victims.end(), strays.begin(), strays.end());
  return files_->Delete(victims);
}

DiskCacheStats DiskCacheStore::stats() const {
  std::lock_guard lock(mu_);
  DiskCacheStats s = counters_;
  s.entries = index_.size();
  s.bytes = bytes_;
  return s;
}

Status DiskCacheStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  Status status = base().Put(key, data, mode);
  // Also after a failure: the object may have changed anyway.
  if (options_.cacheable(key)) Invalidate(key);
  return status;
}

Status DiskCacheStore::Delete(const std::vector<std::string>& keys) {
  Status status = base().Delete(keys);
  for (const std::string& key : keys) {
    if (options_.cacheable(key)) Invalidate(key);
  }
  return status;
}

Result<std::string> DiskCacheStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  if (!options_.cacheable(key)) return base().Get(key, offset, length);
  const std::string name = EntryName(key, offset, length);
  bool indexed = false;
  uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    if (auto it = index_.find(name); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      indexed = true;
    }
    generation = generation_;
  }
  if (indexed) {
    Result<std::string> cached = ReadEntry(key, offset, length, name);
    if (cached.ok()) return cached;
    // Evicted meanwhile (NOT_FOUND), or damaged: drop it and fetch again.
    {
      std::lock_guard lock(mu_);
      if (cached.status().code() != StatusCode::kNotFound) ++counters_.corrupt;
      EraseLocked(name);
      generation = generation_;
    }
    DeleteFiles({name});
  }
  {
    std::lock_guard lock(mu_);
    ++counters_.misses;
  }
  Result<std::string> result = base().Get(key, offset, length);
  if (result.ok()) Insert(key, offset, length, name, *result, generation);
  return result;
}

Result<std::string> DiskCacheStore::ReadEntry(std::string_view key, uint64_t offset, uint64_t length,
                                              const std::string& name) {
  TB_ASSIGN_OR_RETURN(std::string file, files_->Get(name));
  TB_ASSIGN_OR_RETURN(std::string data, DecodeEntry(std::move(file), key, offset, length, files_->root() + "/" + name));
  Touch(name);
  std::lock_guard lock(mu_);
  ++counters_.hits;
  return data;
}

void DiskCacheStore::Insert(std::string_view key, uint64_t offset, uint64_t length, const std::string& name,
                            std::string_view data, uint64_t generation) {
  const std::string encoded = EncodeEntry(key, offset, length, data);
  if (encoded.size() > options_.capacity_bytes) return;
  {
    std::lock_guard lock(mu_);
    if (generation_ != generation) return;
  }
  if (Status put = files_->Put(name, encoded); !put.ok()) {
    std::vector<std::string> victims;
    {
      std::lock_guard lock(mu_);
      ++counters_.write_errors;
      // A full disk (the one the WAL may share): give back the oldest quarter of what the cache
      // holds, at least this entry's size, so that the disk has room again.
      if (put.code() == StatusCode::kResourceExhausted) {
        const uint64_t give_back = std::min(bytes_, std::max<uint64_t>(encoded.size(), bytes_ / 4));
        victims = EvictLocked(bytes_ - give_back);
      }
    }
    DeleteFiles(victims);
    return;
  }
  Touch(name);
  std::vector<std::string> victims;
  {
    std::lock_guard lock(mu_);
    if (generation_ != generation) {
      // An invalidation ran while the file was written and could not see it: remove it here.
      victims.push_back(name);
    } else {
      EraseLocked(name);
      lru_.push_front(Entry{name, encoded.size()});
      index_[name] = lru_.begin();
      bytes_ += encoded.size();
      victims = EvictLocked(options_.capacity_bytes);
    }
  }
  DeleteFiles(victims);
}

void DiskCacheStore::Touch(const std::string& name) {
  const std::string path = files_->root() + "/" + name;
  if (!options_.clock) {
    (void)::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // both times to the kernel's now
    return;
  }
  const auto since_epoch = options_.clock().time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const timespec now{.tv_sec = static_cast<time_t>(seconds.count()),
                     .tv_nsec = static_cast<long>(std::chrono::nanoseconds(since_epoch - seconds).count())};
  const timespec times[2] = {now, now};  // access, modification
  (void)::utimensat(AT_FDCWD, path.c_str(), times, 0);
}

void DiskCacheStore::Invalidate(std::string_view key) {
  const std::string folder = KeyFolder(key);
  {
    std::lock_guard lock(mu_);
    ++generation_;
    auto it = index_.lower_bound(folder);
    while (it != index_.end() && it->first.starts_with(folder)) {
      bytes_ -= it->second->size;
      lru_.erase(it->second);
      it = index_.erase(it);
    }
  }
  // Every file of the key, indexed or not (a failed delete may have left one behind).
  Result<std::vector<ObjectInfo>> files = ListAll(*files_, folder);
  if (!files.ok()) return;
  std::vector<std::string> names;
  for (ObjectInfo& file : *files) names.push_back(std::move(file.key));
  DeleteFiles(names);
}

void DiskCacheStore::EraseLocked(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) return;
  bytes_ -= it->second->size;
  lru_.erase(it->second);
  index_.erase(it);
}

std::vector<std::string> DiskCacheStore::EvictLocked(uint64_t limit) {
  std::vector<std::string> victims;
  while (bytes_ > limit && !lru_.empty()) {
    Entry& oldest = lru_.back();
    bytes_ -= oldest.size;
    index_.erase(oldest.name);
    victims.push_back(std::move(oldest.name));
    lru_.pop_back();
    ++counters_.evictions;
  }
  return victims;
}

void DiskCacheStore::DeleteFiles(const std::vector<std::string>& names) {
  // A file that stays behind is found again on restart (and evicted or invalidated then).
  if (!names.empty()) (void)files_->Delete(names);
}

}  // namespace tb::objstore
