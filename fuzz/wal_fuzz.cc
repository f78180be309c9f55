// Fuzzes the WAL record reader: the input becomes one segment file, which Wal::Open replays with
// each payload decoded as OTLP protobuf, as the server's replay does. The first input byte chooses
// whether the harness seals the segment first (bit 0: fill in the header checksum and every
// record checksum that the length fields reach), so that mutations get past the checksums to the
// lengths, sequences and payloads behind them. Nothing may crash or fail Open other than by a
// Status; and recovery must be stable: a second Open, after the first truncated a torn tail, must
// replay the same records and find no torn record.
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "wal/wal.h"
#include "wire/otlp_codec.h"

namespace {

namespace fs = std::filesystem;
using tb::wal::kRecordHeaderSize;
using tb::wal::kSegmentHeaderSize;

uint64_t Fixed(const std::string& s, size_t at, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) v |= uint64_t{static_cast<uint8_t>(s[at + i])} << (8 * i);
  return v;
}
void PutFixed64(std::string& s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

// Rewrites every checksum that the segment's own length fields make computable.
void Seal(std::string& segment) {
  if (segment.size() < kSegmentHeaderSize) return;
  PutFixed64(segment, 24, XXH3_64bits(segment.data(), 24));
  size_t offset = kSegmentHeaderSize;
  while (segment.size() - offset >= kRecordHeaderSize) {
    const uint64_t length = Fixed(segment, offset + 8, 4);
    if (length > segment.size() - offset - kRecordHeaderSize) break;
    PutFixed64(segment, offset, XXH3_64bits(segment.data() + offset + 8, 12 + length));
    offset += kRecordHeaderSize + length;
  }
}

const fs::path& WorkDir() {
  static const fs::path dir = [] {
    spdlog::set_level(spdlog::level::off);
    const char* tmp = std::getenv("TMPDIR");
    fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::path(tmp ? tmp : "/tmp");
    return base / ("tb-wal-fuzz-" + std::to_string(::getpid()));
  }();
  return dir;
}

tb::Result<tb::wal::ReplayStats> Replay(const fs::path& dir) {
  tb::wal::Options options;
  options.dir = dir.string();
  options.sync = false;
  tb::wal::ReplayStats stats;
  auto wal = tb::wal::Wal::Open(
      options,
      [](uint64_t, std::string_view payload) {
        // A record that is not OTLP is the caller's problem; the reader only has to hand it over.
        (void)tb::wire::DecodeOtlpProtobuf(payload);
        return tb::Status::Ok();
      },
      &stats);
  if (!wal.ok()) return wal.status();
  if (tb::Status s = (*wal)->Close(); !s.ok()) return s;
  return stats;
}

}  // namespace

// protobuf logs each string field with invalid UTF-8 that it refuses: most mutated inputs.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string segment(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) Seal(segment);
  // The file name must carry the header's first sequence, or the reader stops at the header.
  const uint64_t first = segment.size() >= kSegmentHeaderSize ? Fixed(segment, 16, 8) : 1;

  const fs::path& dir = WorkDir();
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / tb::wal::SegmentFileName(first), std::ios::binary) << segment;

  auto once = Replay(dir);
  if (!once.ok()) return 0;
  auto twice = Replay(dir);
  if (!twice.ok()) std::abort();
  if (twice->records != once->records || twice->truncated_bytes != 0) std::abort();
  return 0;
}
