#include "block/internal/block_objects.h"

#include <algorithm>

#include "util/parallel.h"

namespace tb::block::internal {

std::string BlockObjects::Where(std::string_view object) const {
  return "block " + meta.block_id + " (" + store->Describe() + "/" + prefix + std::string(object) + ")";
}

Status BlockObjects::Corrupt(std::string_view object, std::string_view part, std::string_view what) const {
  return Status::DataLoss(Where(object) + " " + std::string(part) + ": " + std::string(what));
}

Status BlockObjects::SectionCorrupt(SectionId id, std::string_view what) const {
  return Corrupt(kIndexObject, std::string("section ") + SectionName(id), what);
}

Status BlockObjects::PageCorrupt(uint32_t p, std::string_view column, std::string_view what) const {
  return Corrupt(kDataObject, "page " + std::to_string(p) + " column " + std::string(column), what);
}

Result<Bytes> BlockObjects::GetRange(const char* object, uint64_t offset, uint64_t length,
                                     const std::string& cache_key) const {
  if (cache != nullptr) {
    if (auto hit = cache->Get(cache_key)) return hit;
  }
  auto got = store->Get(prefix + object, offset, length);
  if (!got.ok()) {
    if (got.status().code() == StatusCode::kInvalidArgument || got.status().code() == StatusCode::kNotFound)
      return Corrupt(object, "range " + std::to_string(offset) + "+" + std::to_string(length),
                     "missing: " + got.status().ToString());
    return got.status().WithContext(Where(object));
  }
  metrics.bytes.Add(static_cast<double>(got->size()));
  if (got->size() != length)
    return Corrupt(object, "range " + std::to_string(offset) + "+" + std::to_string(length), "object truncated");
  return std::make_shared<const std::string>(std::move(got).value());
}

void BlockObjects::CachePut(const std::string& key, const Bytes& b) const {
  if (cache != nullptr) cache->Put(key, b);
}

Status BlockObjects::CheckFormatVersion() const {
  if (meta.format_version == kFormatVersion) return Status::Ok();
  return Corrupt(kMetaObject, "format version",
                 "block format version " + std::to_string(meta.format_version) +
                     " is no longer readable (this build reads version " + std::to_string(kFormatVersion) + ")");
}

Status BlockObjects::LoadSections(std::vector<SectionId> ids, std::vector<Bytes>* out) const {
  out->assign(ids.size(), nullptr);
  // Every read starts with index sections, so this is where an older block is refused.
  TB_RETURN_IF_ERROR(CheckFormatVersion());
  std::vector<size_t> missing;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (cache != nullptr) (*out)[i] = cache->Get(SectionKey(ids[i]));
    if ((*out)[i] == nullptr) missing.push_back(i);
  }
  // Group into runs of adjacent sections.
  std::sort(missing.begin(), missing.end(),
            [&](size_t a, size_t b) { return meta.Section(ids[a])->offset < meta.Section(ids[b])->offset; });
  std::vector<std::vector<size_t>> runs;
  for (size_t i : missing) {
    const SectionRef* s = meta.Section(ids[i]);
    if (!runs.empty()) {
      const SectionRef* prev = meta.Section(ids[runs.back().back()]);
      if (prev->offset + prev->length == s->offset) {
        runs.back().push_back(i);
        continue;
      }
    }
    runs.push_back({i});
  }
  return tb::ParallelFor(runs.size(), static_cast<size_t>(max_parallel_reads), [&](size_t r) -> Status {
    const SectionRef* first = meta.Section(ids[runs[r].front()]);
    const SectionRef* last = meta.Section(ids[runs[r].back()]);
    const uint64_t len = last->offset + last->length - first->offset;
    auto got = store->Get(prefix + kIndexObject, first->offset, len);
    if (!got.ok()) return got.status().WithContext(Where(kIndexObject));
    metrics.bytes.Add(static_cast<double>(got->size()));
    if (got->size() != len) return SectionCorrupt(ids[runs[r].front()], "index object truncated");
    for (size_t i : runs[r]) {
      const SectionRef* s = meta.Section(ids[i]);
      auto bytes = std::make_shared<const std::string>(got->substr(s->offset - first->offset, s->length));
      if (Checksum64(*bytes) != s->checksum) return SectionCorrupt(ids[i], "checksum mismatch");
      CachePut(SectionKey(ids[i]), bytes);
      (*out)[i] = std::move(bytes);
    }
    return Status::Ok();
  });
}

Result<std::string> BlockObjects::Payload(SectionId id, const Bytes& bytes) const {
  return UnframeSection(*bytes, id, Where(kIndexObject) + " section " + SectionName(id));
}
}  // namespace tb::block::internal
