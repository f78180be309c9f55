// Byte-level building blocks of the block format (docs/format/block.md): little-endian fixed
// integers, LEB128 varints, zstd chunks, XXH3 checksums, bloom filters, section framing and the
// meta object. Every decoder here is bounds-checked and reports malformed input as a failure,
// never by reading past its buffer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace tb::block {

inline constexpr uint32_t kFormatVersion = 3;
// Metas of versions 2 and 3 share one layout, so a version-2 block still lists and publishes (its
// meta decodes); only its index and data are unreadable: BlockReader answers DATA_LOSS for it.
inline constexpr uint32_t kOldestListedFormatVersion = 2;
inline constexpr char kMetaMagic[8] = {'T', 'B', 'B', 'L', 'K', 'M', 'T', '1'};

// Index sections, in the order they are laid out in the `index` object.
enum class SectionId : uint8_t {
  kTraces = 1,        // trace-ID bloom + trace table (raw, row-addressable)
  kPages = 2,         // page directory (zstd)
  kDict = 3,          // string dictionary, resource/scope/pair tables (zstd)
  kPostingKeys = 4,   // posting directory + high-cardinality key list (zstd)
  kPostingLists = 5,  // roaring bitmaps of trace ordinals (raw, list-addressable)
  kPageBlooms = 6,    // per-page blooms of high-cardinality (key, value), hash-partitioned (raw)
  kDependencies = 7,  // parent → child service call counts (zstd)
  kServices = 8,      // services and (service, operation, kind) (zstd)
};
inline constexpr int kSectionCount = 8;
const char* SectionName(SectionId id);
inline constexpr uint8_t kSectionVersion = 1;
inline constexpr size_t kSectionHeaderSize = 8;  // id, version, encoding, reserved, u32 payload length
inline constexpr uint8_t kEncodingRaw = 0;
inline constexpr uint8_t kEncodingZstd = 1;
// Rows of the trace table per checksummed group (the unit of a partial read).
inline constexpr uint32_t kTraceRowsPerGroup = 256;

// Columns of a page, in the order they are stored. The ones a search needs come first so that a
// search fetches one contiguous prefix of the page.
enum Column : uint8_t {
  kColTraces = 0,     // per trace in page: span count, base start delta
  kColResourceScope,  // per span: (resource, scope) pair ordinal
  kColName,           // per span: string ref
  kColKindStatus,     // per span: kind | status code << 3
  kColStart,          // per span: start - trace base (EncodeIntegers)
  kColDuration,       // per span: zigzag(end - start) (EncodeIntegers)
  kColAttributes,     // per span: attribute list (keys; values of dictionary keys are in kColValues)
  kColValues,         // attribute values of the page, grouped by key
  kColEvents,         // per span: events
  kColLinks,          // per span: links
  kColSpanId,         // per span: 8 raw bytes
  kColParent,         // per span: 0 root, 1 raw (next kColParentRaw entry), n ≥ 2: ordinal n-2 in trace
  kColParentRaw,      // 8 raw bytes per escaped parent
  kColMisc,           // per span: presence mask + rare fields
  kColumnCount,
};
const char* ColumnName(int column);

// AnyValue tags.
enum ValueTag : uint8_t {
  kTagEmpty = 0,
  kTagString = 1,  // string ref follows
  kTagPacked = 2,  // string packed in its key's run (shape + payload), in kColValues only
  kTagFalse = 3,
  kTagTrue = 4,
  kTagInt = 5,     // zigzag varint
  kTagDouble = 6,  // 8 bytes, IEEE-754 bits little-endian
  kTagBytes = 7,   // varint length + bytes
  kTagArray = 8,   // varint count + values
  kTagKvList = 9,  // varint count + (key string ref, value)
  // The previous value of its key's run again (not a packed string), in kColValues only.
  kTagRepeat = 10,
};

// Posting key kinds.
enum PostingKind : uint8_t {
  kPostService = 1,    // a = service
  kPostOperation = 2,  // a = service, b = operation, c = span kind
  kPostName = 3,       // a = operation
  kPostAttribute = 4,  // a = key, b = canonical value
  kPostError = 5,      // spans with status ERROR
};

uint64_t Checksum64(std::string_view bytes);
uint32_t Checksum32(std::string_view bytes);  // low 32 bits of Checksum64

// ---- writing ----
class ByteWriter {
 public:
  std::string& out() { return out_; }
  std::string Take() { return std::move(out_); }
  size_t size() const { return out_.size(); }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void Fixed(uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void U16(uint16_t v) { Fixed(v, 2); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void Zigzag(int64_t v) { Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void Bytes(std::string_view b) { out_.append(b); }
  void LenBytes(std::string_view b) {
    Varint(b.size());
    out_.append(b);
  }
  void Double(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    U64(bits);
  }

 private:
  std::string out_;
};

// Reads from a bounded buffer; any read past the end (or a malformed varint) sets failed() and
// returns zeros, so decoders check once at the end of a record.
class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  bool failed() const { return failed_; }
  bool done() const { return p_ == end_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  void Fail() {
    failed_ = true;
    p_ = end_;
  }
  uint8_t U8() {
    if (p_ == end_) return Fail(), 0;
    return static_cast<uint8_t>(*p_++);
  }
  uint64_t Fixed(int width) {
    if (remaining() < static_cast<size_t>(width)) return Fail(), 0;
    uint64_t v = 0;
    for (int i = 0; i < width; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p_[i])) << (8 * i);
    p_ += width;
    return v;
  }
  uint16_t U16() { return static_cast<uint16_t>(Fixed(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  uint64_t U64() { return Fixed(8); }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return Fail(), 0;
      const auto b = static_cast<uint8_t>(*p_++);
      if (shift == 63 && b > 1) return Fail(), 0;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return Fail(), 0;
  }
  // A varint that must fit in 32 bits.
  uint32_t Varint32() {
    const uint64_t v = Varint();
    if (v > 0xffffffffull) return Fail(), 0;
    return static_cast<uint32_t>(v);
  }
  int64_t Zigzag() {
    const uint64_t v = Varint();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  std::string_view Bytes(size_t n) {
    if (remaining() < n) return Fail(), std::string_view();
    std::string_view v(p_, n);
    p_ += n;
    return v;
  }
  std::string_view LenBytes() { return Bytes(static_cast<size_t>(std::min<uint64_t>(Varint(), remaining() + 1))); }
  double Double() {
    const uint64_t bits = U64();
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  // A count of items that each take at least `min_bytes`; fails if it cannot fit.
  size_t Count(size_t min_bytes = 1) {
    const uint64_t n = Varint();
    if (n > remaining() / (min_bytes ? min_bytes : 1)) return Fail(), 0;
    return static_cast<size_t>(n);
  }

 private:
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  bool failed_ = false;
};

// ---- integer columns: n unsigned integers as [u8 0][n varints], or as byte planes
// [u8 w][byte 0 of each value]...[byte w-1 of each value] at the widest value's width w (1-8).
// Which compresses smaller depends on the data (planes keep continuation bits out of random low
// bytes; varints keep small multiples aligned), so the writer measures both. Empty when n == 0.
std::string EncodeIntegers(const std::vector<uint64_t>& values, int zstd_level);
// False unless `in` holds exactly n values.
bool DecodeIntegers(std::string_view in, size_t n, std::vector<uint64_t>* out);

// ---- zstd ----
std::string Compress(std::string_view raw, int level);
// Decompresses one frame that must hold exactly `raw_size` bytes; false if it does not.
bool Decompress(std::string_view frame, size_t raw_size, std::string* out);

// ---- bloom filter: m bits (a multiple of 64), k probes by double hashing of a 128-bit hash ----
struct BloomHash {
  uint64_t h1, h2;
};
BloomHash HashTraceId(const uint8_t id[16]);
BloomHash HashKeyValue(std::string_view key, std::string_view canonical_value);
// Bytes of a bloom for `n` keys at `bits_per_key` (0 for n == 0), a multiple of 8.
size_t BloomBytes(size_t n, double bits_per_key);
int BloomProbes(double bits_per_key);
void BloomAdd(std::string& bits, int k, const BloomHash& h);
// The page-bloom partition (of `count`) that holds a (key, value) hash.
inline uint32_t BloomPartition(const BloomHash& h, uint32_t count) {
  return static_cast<uint32_t>((h.h2 >> 32) % count);
}
inline constexpr uint32_t kMaxBloomPartitions = 1 << 16;
bool BloomMayContain(std::string_view bits, int k, const BloomHash& h);

// ---- sections ----
// Frames a payload: [id][version][encoding][0][u32 payload length] then the payload (zstd frame of
// the raw payload when `compress`).
std::string FrameSection(SectionId id, std::string_view raw_payload, bool compress, int level);
// Checks framing (id, version, encoding) and returns the raw payload (decompressed if needed).
Result<std::string> UnframeSection(std::string_view section, SectionId id, const std::string& context);

// ---- meta ----
struct SectionRef {
  SectionId id{};
  uint8_t version = kSectionVersion;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t checksum = 0;  // Checksum64 of the section's bytes
  bool operator==(const SectionRef&) const = default;
};

struct BlockMeta {
  uint32_t format_version = kFormatVersion;
  std::string block_id;
  std::string writer_id;
  uint64_t created_unix_nano = 0;
  uint64_t wal_first = 0;
  uint64_t wal_last = 0;
  uint64_t min_span_start = 0;
  uint64_t max_span_start = 0;
  uint64_t min_span_end = 0;
  uint64_t max_span_end = 0;
  uint64_t span_count = 0;
  uint64_t trace_count = 0;
  uint32_t page_count = 0;
  uint64_t data_size = 0;
  uint64_t index_size = 0;
  std::vector<SectionRef> sections;

  const SectionRef* Section(SectionId id) const;
  bool operator==(const BlockMeta&) const = default;
};

std::string EncodeMeta(const BlockMeta& meta);
// DATA_LOSS naming `what` (e.g. the meta's key) on a bad checksum or malformed content.
Result<BlockMeta> DecodeMeta(std::string_view bytes, const std::string& what);

}  // namespace tb::block
