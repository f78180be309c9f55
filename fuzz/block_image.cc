#include "block_image.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "block/format.h"

namespace tb::fuzz {
namespace {

using block::ByteReader;
using block::ByteWriter;

// A page-directory entry (docs/format/block.md §2.2): fixed fields, then per column its
// compressed length, raw length and checksum32.
constexpr size_t kPageEntryBytes = 45 + 12 * block::kColumnCount;
constexpr size_t kPageOffset = 0, kPageLength = 8, kPageColumns = 45;
// The fixed header of the trace table after its frame (§2.1), and where N, G and R sit in it.
constexpr size_t kTraceHeaderBytes = 32;
constexpr size_t kTraceCount = 0, kTraceGroup = 4, kTraceRowSize = 16;

uint64_t Get(std::string_view s, size_t at, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) v |= uint64_t{static_cast<uint8_t>(s[at + i])} << (8 * i);
  return v;
}
void Put(std::string& s, size_t at, uint64_t v, int width) {
  for (int i = 0; i < width; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

struct Section {
  std::string frame;    // 8 bytes
  std::string payload;  // plain
  uint8_t id() const { return static_cast<uint8_t>(frame[0]); }
  bool compressed() const { return static_cast<uint8_t>(frame[2]) == block::kEncodingZstd; }
};

std::vector<Section> SplitSections(std::string_view index) {
  std::vector<Section> out;
  size_t at = 0;
  while (index.size() - at >= block::kSectionHeaderSize) {
    Section s;
    s.frame = std::string(index.substr(at, block::kSectionHeaderSize));
    at += block::kSectionHeaderSize;
    const size_t len = std::min<uint64_t>(Get(s.frame, 4, 4), index.size() - at);
    s.payload = std::string(index.substr(at, len));
    at += len;
    out.push_back(std::move(s));
  }
  return out;
}

// Where the page entries start in a page directory's payload, and how many there are.
bool PageEntries(std::string_view payload, size_t* begin, size_t* count) {
  ByteReader r(payload);
  const uint64_t n = r.Varint();
  if (r.failed()) return false;
  *begin = payload.size() - r.remaining();
  *count = static_cast<size_t>(std::min<uint64_t>(n, r.remaining() / kPageEntryBytes));
  return true;
}

// Compresses each page's plain columns from `plain_data` into `data`, filling in the directory.
void SealPages(std::string& payload, std::string_view plain_data, std::string* data) {
  size_t begin = 0, count = 0;
  if (!PageEntries(payload, &begin, &count)) return;
  size_t plain_at = 0;
  for (size_t p = 0; p < count; ++p) {
    const size_t entry = begin + p * kPageEntryBytes;
    const uint64_t page_offset = data->size();
    for (int c = 0; c < block::kColumnCount; ++c) {
      const size_t col = entry + kPageColumns + 12 * c;
      const size_t raw_len = std::min<uint64_t>(Get(payload, col + 4, 4), plain_data.size() - plain_at);
      const std::string z = block::Compress(plain_data.substr(plain_at, raw_len), 1);
      plain_at += raw_len;
      Put(payload, col, z.size(), 4);
      Put(payload, col + 4, raw_len, 4);
      Put(payload, col + 8, block::Checksum32(z), 4);
      data->append(z);
    }
    Put(payload, entry + kPageOffset, page_offset, 8);
    Put(payload, entry + kPageLength, data->size() - page_offset, 4);
  }
}

// Fills in the trace table's group checksums and prefix checksum; `section` is framed.
void SealTraceTable(std::string& section) {
  const size_t h = block::kSectionHeaderSize;
  if (section.size() < h + kTraceHeaderBytes) return;
  const uint64_t n = Get(section, h + kTraceCount, 4), group = Get(section, h + kTraceGroup, 4);
  const uint64_t row_size = Get(section, h + kTraceRowSize, 4);
  if (group == 0) return;
  const uint64_t groups = (n + group - 1) / group;
  const uint64_t sums_at = h + kTraceHeaderBytes, prefix_end = sums_at + 8 * groups;
  if (prefix_end + 8 > section.size()) return;
  const uint64_t rows_at = prefix_end + 8;
  for (uint64_t g = 0; g < groups; ++g) {
    const uint64_t first = g * group, rows = std::min(group, n - first);
    if (row_size != 0 && (first * row_size + rows * row_size > section.size() - rows_at)) break;
    const std::string_view bytes = std::string_view(section).substr(rows_at + first * row_size, rows * row_size);
    Put(section, sums_at + 8 * g, block::Checksum64(bytes), 8);
  }
  Put(section, prefix_end, block::Checksum64(std::string_view(section).substr(0, prefix_end)), 8);
}

}  // namespace

std::string SerializeImage(const BlockImage& image) {
  std::string out;
  for (const std::string* part : {&image.meta, &image.index, &image.data}) {
    const uint32_t n = static_cast<uint32_t>(part->size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
    out += *part;
  }
  return out;
}

BlockImage DeserializeImage(std::string_view bytes) {
  BlockImage image;
  size_t at = 0;
  for (std::string* part : {&image.meta, &image.index, &image.data}) {
    if (bytes.size() - at < 4) break;
    const size_t n = std::min<uint64_t>(Get(bytes, at, 4), bytes.size() - at - 4);
    *part = std::string(bytes.substr(at + 4, n));
    at += 4 + n;
  }
  return image;
}

bool Unseal(const BlockImage& sealed, BlockImage* unsealed) {
  auto meta = block::DecodeMeta(sealed.meta, "meta");
  if (!meta.ok()) return false;
  unsealed->meta = sealed.meta;
  unsealed->index.clear();
  unsealed->data.clear();
  for (const block::SectionRef& ref : meta->sections) {
    const std::string_view bytes = std::string_view(sealed.index).substr(ref.offset, ref.length);
    auto payload = block::UnframeSection(bytes, ref.id, "section");
    if (!payload.ok()) return false;
    std::string frame(bytes.substr(0, block::kSectionHeaderSize));
    Put(frame, 4, payload->size(), 4);
    unsealed->index += frame + *payload;
    if (ref.id != block::SectionId::kPages) continue;
    size_t begin = 0, count = 0;
    if (!PageEntries(*payload, &begin, &count)) return false;
    for (size_t p = 0; p < count; ++p) {
      const size_t entry = begin + p * kPageEntryBytes;
      uint64_t at = Get(*payload, entry + kPageOffset, 8);
      for (int c = 0; c < block::kColumnCount; ++c) {
        const size_t col = entry + kPageColumns + 12 * c;
        const size_t len = Get(*payload, col, 4), raw_len = Get(*payload, col + 4, 4);
        std::string raw;
        if (!block::Decompress(std::string_view(sealed.data).substr(at, len), raw_len, &raw)) return false;
        unsealed->data += raw;
        at += len;
      }
    }
  }
  return true;
}

BlockImage Seal(const BlockImage& unsealed) {
  BlockImage sealed;
  struct Placed {
    uint8_t id;
    uint64_t offset, length, checksum;
  };
  std::vector<Placed> placed;
  for (Section& s : SplitSections(unsealed.index)) {
    if (s.id() == static_cast<uint8_t>(block::SectionId::kPages)) SealPages(s.payload, unsealed.data, &sealed.data);
    std::string bytes = s.frame;
    Put(bytes, 4, s.payload.size(), 4);
    bytes += s.compressed() ? block::Compress(s.payload, 1) : s.payload;
    if (s.id() == static_cast<uint8_t>(block::SectionId::kTraces)) SealTraceTable(bytes);
    placed.push_back({s.id(), sealed.index.size(), bytes.size(), block::Checksum64(bytes)});
    sealed.index += bytes;
  }

  sealed.meta = unsealed.meta;
  if (sealed.meta.size() < 8) return sealed;
  const size_t body = sealed.meta.size() - 8;
  Put(sealed.meta, body, block::Checksum64(std::string_view(sealed.meta).substr(0, body)), 8);
  auto meta = block::DecodeMeta(sealed.meta, "meta");
  if (!meta.ok()) return sealed;  // a malformed meta is for the reader to refuse
  for (size_t i = 0; i < std::min(placed.size(), meta->sections.size()); ++i) {
    meta->sections[i].offset = placed[i].offset;
    meta->sections[i].length = placed[i].length;
    meta->sections[i].checksum = placed[i].checksum;
  }
  meta->data_size = sealed.data.size();
  meta->index_size = sealed.index.size();
  sealed.meta = block::EncodeMeta(*meta);
  return sealed;
}

}  // namespace tb::fuzz
