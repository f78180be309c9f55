#include "block/format.h"

#include <zstd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cmath>

namespace tb::block {

const char* SectionName(SectionId id) {
  switch (id) {
    case SectionId::kTraces: return "traces";
    case SectionId::kPages: return "pages";
    case SectionId::kDict: return "dict";
    case SectionId::kPostingKeys: return "posting_keys";
    case SectionId::kPostingLists: return "posting_lists";
    case SectionId::kPageBlooms: return "page_blooms";
    case SectionId::kDependencies: return "dependencies";
    case SectionId::kServices: return "services";
  }
  return "unknown";
}

const char* ColumnName(int column) {
  static const char* kNames[] = {"traces",   "resource_scope", "name",       "kind_status", "start",
                                 "duration", "attributes",     "values",     "events",      "links",
                                 "span_id",  "parent",         "parent_raw", "misc"};
  return column >= 0 && column < kColumnCount ? kNames[column] : "unknown";
}

uint64_t Checksum64(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }
uint32_t Checksum32(std::string_view bytes) { return static_cast<uint32_t>(Checksum64(bytes)); }

std::string EncodeIntegers(const std::vector<uint64_t>& values, int zstd_level) {
  if (values.empty()) return {};
  ByteWriter varints, planes;
  varints.U8(0);
  uint64_t all = 0;
  for (uint64_t v : values) {
    varints.Varint(v);
    all |= v;
  }
  int width = 1;
  while (width < 8 && (all >> (8 * width)) != 0) ++width;
  planes.U8(static_cast<uint8_t>(width));
  for (int b = 0; b < width; ++b)
    for (uint64_t v : values) planes.U8(static_cast<uint8_t>(v >> (8 * b)));
  return Compress(planes.out(), zstd_level).size() < Compress(varints.out(), zstd_level).size() ? planes.Take()
                                                                                                : varints.Take();
}

bool DecodeIntegers(std::string_view in, size_t n, std::vector<uint64_t>* out) {
  out->assign(n, 0);
  if (n == 0) return in.empty();
  const auto width = in.empty() ? 9 : static_cast<uint8_t>(in[0]);
  if (width == 0) {
    ByteReader r(in.substr(1));
    for (auto& v : *out) v = r.Varint();
    return !r.failed() && r.done();
  }
  if (width > 8 || (in.size() - 1) % width != 0 || (in.size() - 1) / width != n) return false;
  for (int b = 0; b < width; ++b)
    for (size_t i = 0; i < n; ++i)
      (*out)[i] |= static_cast<uint64_t>(static_cast<uint8_t>(in[1 + b * n + i])) << (8 * b);
  return true;
}

std::string Compress(std::string_view raw, int level) {
  if (raw.empty()) return {};
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), level);
  if (ZSTD_isError(n)) return {};  // cannot happen with a bound-sized buffer
  out.resize(n);
  return out;
}

bool Decompress(std::string_view frame, size_t raw_size, std::string* out) {
  out->clear();
  if (raw_size == 0) return frame.empty();
  if (raw_size > (1ull << 31)) return false;
  const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared != raw_size) return false;
  out->resize(raw_size);
  const size_t n = ZSTD_decompress(out->data(), out->size(), frame.data(), frame.size());
  return !ZSTD_isError(n) && n == raw_size;
}

BloomHash HashTraceId(const uint8_t id[16]) {
  const XXH128_hash_t h = XXH3_128bits(id, 16);
  return {h.low64, h.high64 | 1};
}

BloomHash HashKeyValue(std::string_view key, std::string_view canonical_value) {
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  const uint64_t key_len = key.size();
  XXH3_128bits_update(&state, &key_len, 8);
  XXH3_128bits_update(&state, key.data(), key.size());
  XXH3_128bits_update(&state, canonical_value.data(), canonical_value.size());
  const XXH128_hash_t h = XXH3_128bits_digest(&state);
  return {h.low64, h.high64 | 1};
}

size_t BloomBytes(size_t n, double bits_per_key) {
  if (n == 0) return 0;
  const auto bits = static_cast<size_t>(std::ceil(static_cast<double>(n) * bits_per_key));
  return std::max<size_t>(8, (bits + 63) / 64 * 8);
}

int BloomProbes(double bits_per_key) { return std::clamp(static_cast<int>(std::lround(bits_per_key * 0.693)), 1, 16); }

void BloomAdd(std::string& bits, int k, const BloomHash& h) {
  const uint64_t m = bits.size() * 8;
  uint64_t x = h.h1;
  for (int i = 0; i < k; ++i, x += h.h2) {
    const uint64_t b = x % m;
    bits[b >> 3] = static_cast<char>(static_cast<uint8_t>(bits[b >> 3]) | (1u << (b & 7)));
  }
}

bool BloomMayContain(std::string_view bits, int k, const BloomHash& h) {
  const uint64_t m = bits.size() * 8;
  if (m == 0) return false;
  uint64_t x = h.h1;
  for (int i = 0; i < k; ++i, x += h.h2) {
    const uint64_t b = x % m;
    if (!(static_cast<uint8_t>(bits[b >> 3]) & (1u << (b & 7)))) return false;
  }
  return true;
}

std::string FrameSection(SectionId id, std::string_view raw_payload, bool compress, int level) {
  ByteWriter w;
  w.U8(static_cast<uint8_t>(id));
  w.U8(kSectionVersion);
  w.U8(compress ? kEncodingZstd : kEncodingRaw);
  w.U8(0);
  w.U32(static_cast<uint32_t>(raw_payload.size()));
  if (compress) {
    w.Bytes(Compress(raw_payload, level));
  } else {
    w.Bytes(raw_payload);
  }
  return w.Take();
}

Result<std::string> UnframeSection(std::string_view section, SectionId id, const std::string& context) {
  ByteReader r(section);
  const uint8_t got_id = r.U8(), version = r.U8(), encoding = r.U8();
  r.U8();
  const uint32_t raw_len = r.U32();
  if (r.failed()) return Status::DataLoss(context + ": section header truncated");
  if (got_id != static_cast<uint8_t>(id))
    return Status::DataLoss(context + ": section id " + std::to_string(got_id) + ", want " +
                            std::to_string(static_cast<int>(id)));
  if (version != kSectionVersion)
    return Status::DataLoss(context + ": unsupported section version " + std::to_string(version));
  std::string_view payload = section.substr(kSectionHeaderSize);
  if (encoding == kEncodingRaw) {
    if (payload.size() != raw_len) return Status::DataLoss(context + ": section length mismatch");
    return std::string(payload);
  }
  if (encoding != kEncodingZstd) return Status::DataLoss(context + ": unknown section encoding");
  std::string out;
  if (!Decompress(payload, raw_len, &out)) return Status::DataLoss(context + ": section does not decompress");
  return out;
}

const SectionRef* BlockMeta::Section(SectionId id) const {
  for (const auto& s : sections)
    if (s.id == id) return &s;
  return nullptr;
}

namespace {
void PutString(ByteWriter& w, const std::string& s) {
  w.U32(static_cast<uint32_t>(s.size()));
  w.Bytes(s);
}
std::string GetString(ByteReader& r) { return std::string(r.Bytes(r.U32())); }
}  // namespace

std::string EncodeMeta(const BlockMeta& m) {
  ByteWriter w;
  w.Bytes(std::string_view(kMetaMagic, 8));
  w.U32(m.format_version);
  PutString(w, m.block_id);
  PutString(w, m.writer_id);
  for (uint64_t v : {m.created_unix_nano, m.wal_first, m.wal_last, m.min_span_start, m.max_span_start, m.min_span_end,
                     m.max_span_end, m.span_count, m.trace_count})
    w.U64(v);
  w.U32(m.page_count);
  w.U64(m.data_size);
  w.U64(m.index_size);
  w.U32(static_cast<uint32_t>(m.sections.size()));
  for (const auto& s : m.sections) {
    w.U8(static_cast<uint8_t>(s.id));
    w.U8(s.version);
    w.U16(0);
    w.U64(s.offset);
    w.U64(s.length);
    w.U64(s.checksum);
  }
  w.U64(Checksum64(w.out()));
  return w.Take();
}

Result<BlockMeta> DecodeMeta(std::string_view bytes, const std::string& what) {
  if (bytes.size() < 16) return Status::DataLoss(what + ": block meta truncated");
  const std::string_view body = bytes.substr(0, bytes.size() - 8);
  ByteReader tail(bytes.substr(bytes.size() - 8));
  if (tail.U64() != Checksum64(body)) return Status::DataLoss(what + ": block meta checksum mismatch");
  ByteReader r(body);
  if (r.Bytes(8) != std::string_view(kMetaMagic, 8)) return Status::DataLoss(what + ": not a block meta (bad magic)");
  BlockMeta m;
  m.format_version = r.U32();
  if (m.format_version < kOldestListedFormatVersion || m.format_version > kFormatVersion)
    return Status::DataLoss(what + ": unsupported block format version " + std::to_string(m.format_version));
  m.block_id = GetString(r);
  m.writer_id = GetString(r);
  for (uint64_t* v : {&m.created_unix_nano, &m.wal_first, &m.wal_last, &m.min_span_start, &m.max_span_start,
                      &m.min_span_end, &m.max_span_end, &m.span_count, &m.trace_count})
    *v = r.U64();
  m.page_count = r.U32();
  m.data_size = r.U64();
  m.index_size = r.U64();
  const uint32_t n = r.U32();
  if (n > 64) return Status::DataLoss(what + ": block meta has too many sections");
  for (uint32_t i = 0; i < n; ++i) {
    SectionRef s;
    s.id = static_cast<SectionId>(r.U8());
    s.version = r.U8();
    r.U16();
    s.offset = r.U64();
    s.length = r.U64();
    s.checksum = r.U64();
    if (s.offset > m.index_size || s.length > m.index_size - s.offset)
      return Status::DataLoss(what + ": section " + SectionName(s.id) + " lies outside the index object");
    m.sections.push_back(s);
  }
  if (r.failed() || !r.done()) return Status::DataLoss(what + ": block meta malformed");
  if (m.trace_count > m.span_count || m.trace_count > 0xffffffffull)
    return Status::DataLoss(what + ": block meta counts inconsistent");
  for (int id = 1; id <= kSectionCount; ++id)
    if (m.Section(static_cast<SectionId>(id)) == nullptr)
      return Status::DataLoss(what + ": block meta lacks section " + SectionName(static_cast<SectionId>(id)));
  return m;
}

}  // namespace tb::block
