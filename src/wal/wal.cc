// Write-ahead log implementation. Byte layout (all integers little-endian; docs/format/wal.md):
//
//   segment header (32 bytes):
//     [0, 8)   magic "TBWALSEG"
//     [8, 12)  u32 format version (1)
//     [12, 16) u32 reserved, 0
//     [16, 24) u64 first sequence (equals the number in the file name)
//     [24, 32) u64 XXH3_64bits of bytes [0, 24)
//   then records, back to back:
//     [0, 8)   u64 XXH3_64bits of bytes [8, 20 + length)
//     [8, 12)  u32 payload length
//     [12, 20) u64 sequence
//     [20, 20 + length) payload
#include "wal/wal.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <fcntl.h>
#include <limits.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "util/durable_file.h"

namespace tb::wal {
namespace {

// A group-commit batch stops growing at this size (it always takes at least one record).
constexpr uint64_t kMaxBatchBytes = 16ull << 20;
// Replay reads segments in chunks of this size (larger only for a larger record).
constexpr size_t kReadChunkBytes = 1 << 20;

// ---- fixed-width little-endian coding ----

void EncodeFixed32(char* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<char>(v >> (8 * i));
}
void EncodeFixed64(char* dst, uint64_t v) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<char>(v >> (8 * i));
}
uint32_t DecodeFixed32(const char* src) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(src[i])} << (8 * i);
  return v;
}
uint64_t DecodeFixed64(const char* src) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(src[i])} << (8 * i);
  return v;
}

void EncodeSegmentHeader(char* dst, uint64_t first_sequence) {
  std::memcpy(dst, kSegmentMagic, sizeof(kSegmentMagic));
  EncodeFixed32(dst + 8, kFormatVersion);
  EncodeFixed32(dst + 12, 0);
  EncodeFixed64(dst + 16, first_sequence);
  EncodeFixed64(dst + 24, XXH3_64bits(dst, 24));
}

// Fills the 20-byte record header for `payload` at `dst`, hashing without copying the payload.
void EncodeRecordHeader(char* dst, uint64_t sequence, std::string_view payload) {
  EncodeFixed32(dst + 8, static_cast<uint32_t>(payload.size()));
  EncodeFixed64(dst + 12, sequence);
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, dst + 8, 12);
  XXH3_64bits_update(&state, payload.data(), payload.size());
  EncodeFixed64(dst, XXH3_64bits_digest(&state));
}

// ---- POSIX helpers ----

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string JoinPath(const std::string& dir, std::string_view name) {
  std::string p = dir;
  if (!p.empty() && p.back() != '/') p += '/';
  p += name;
  return p;
}

Status SyncDir(const std::string& dir) { return SyncDirectory(dir).WithContext("wal"); }

Status DataSync(int fd, const std::string& path) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return Status::IoError("wal: fdatasync " + path, errno);
  }
  return Status::Ok();
}

// Writes all of iov[0, count); consumes (modifies) the iovec array.
Status WriteFully(int fd, struct iovec* iov, size_t count, const std::string& path) {
  while (count > 0 && iov->iov_len == 0) ++iov, --count;
  while (count > 0) {
    const int n = static_cast<int>(std::min<size_t>(count, IOV_MAX));
    const ssize_t written = ::writev(fd, iov, n);
    if (written < 0) {
      if (errno == EINTR) continue;
      return Status::IoError("wal: write " + path, errno);
    }
    if (written == 0) return Status::Internal("wal: write " + path + ": no progress");
    size_t left = static_cast<size_t>(written);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov, --count;
    }
    if (left > 0) {  // partial write inside iov[0]
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return Status::Ok();
}

Status WriteAll(int fd, const char* data, size_t n, const std::string& path) {
  struct iovec iov = {const_cast<char*>(data), n};
  return WriteFully(fd, &iov, 1, path);
}

// Creates "<dir>/<first>.wal" with its header, durably (file and directory synced).
Result<UniqueFd> CreateSegment(const std::string& dir, uint64_t first_sequence) {
  const std::string path = JoinPath(dir, SegmentFileName(first_sequence));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Status::IoError("wal: create " + path, errno);
  char header[kSegmentHeaderSize];
  EncodeSegmentHeader(header, first_sequence);
  TB_RETURN_IF_ERROR(WriteAll(fd.get(), header, sizeof(header), path));
  TB_RETURN_IF_ERROR(DataSync(fd.get(), path));
  TB_RETURN_IF_ERROR(SyncDir(dir));
  return fd;
}

// Cuts `path` to its first `size` bytes, durably.
Status TruncateTornTail(const std::string& path, uint64_t size) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::IoError("wal: open " + path, errno);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return Status::IoError("wal: truncate " + path, errno);
  return DataSync(fd.get(), path);
}

// Parses "<20 digits>.wal"; false for any other name.
bool ParseSegmentFileName(std::string_view name, uint64_t* first_sequence) {
  if (name.size() != 24 || name.substr(20) != ".wal") return false;
  for (size_t i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  auto [end, ec] = std::from_chars(name.data(), name.data() + 20, *first_sequence);
  return ec == std::errc() && end == name.data() + 20;
}

Result<std::vector<uint64_t>> ListSegments(const std::string& dir) {
  std::vector<uint64_t> firsts;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    uint64_t first;
    if (ParseSegmentFileName(it->path().filename().native(), &first)) firsts.push_back(first);
  }
  if (ec) return Status::IoError("wal: list " + dir, ec.value());
  std::sort(firsts.begin(), firsts.end());
  return firsts;
}

// Sequential reads of one segment through a reusable buffer. Never allocates more than the file
// holds beyond the read position.
class SegmentReader {
 public:
  SegmentReader(int fd, uint64_t file_size, const std::string& path) : fd_(fd), size_(file_size), path_(path) {}

  // A view of bytes [offset, offset + n), valid until the next call. REQUIRES: offset + n <= size.
  Result<std::string_view> Read(uint64_t offset, size_t n) {
    if (offset >= buf_offset_ && offset + n <= buf_offset_ + buf_len_) {
      return std::string_view(buf_.get() + (offset - buf_offset_), n);
    }
    const size_t want = std::max<uint64_t>(n, std::min<uint64_t>(kReadChunkBytes, size_ - offset));
    if (want > buf_cap_) {
      buf_.reset();  // release the old buffer before allocating the new one
      buf_ = std::make_unique_for_overwrite<char[]>(want);
      buf_cap_ = want;
    }
    buf_offset_ = offset;
    buf_len_ = 0;
    while (buf_len_ < want) {
      const ssize_t r = ::pread(fd_, buf_.get() + buf_len_, want - buf_len_, static_cast<off_t>(offset + buf_len_));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::IoError("wal: read " + path_, errno);
      }
      if (r == 0) return Status::Internal("wal: read " + path_ + ": file shrank while being replayed");
      buf_len_ += static_cast<size_t>(r);
    }
    return std::string_view(buf_.get(), n);
  }

 private:
  int fd_;
  uint64_t size_;
  const std::string& path_;
  std::unique_ptr<char[]> buf_;
  size_t buf_cap_ = 0;
  uint64_t buf_offset_ = 0;
  size_t buf_len_ = 0;
};

struct SegmentReplay {
  uint64_t records = 0;
  bool clean = true;  // no torn or corrupt bytes
  // When a record (not the segment header) was torn or corrupt: where it starts, i.e. the end of
  // the last intact record. 0 otherwise.
  uint64_t intact_end = 0;
  uint64_t size = 0;  // of the file
};

// Replays one segment. `last_replayed` is the sequence of the last record replayed so far (0 if
// none) and is advanced.
Result<SegmentReplay> ReplaySegment(const std::string& path, uint64_t first_sequence, bool sync, const ReplayFn& replay,
                                    uint64_t* last_replayed, ReplayStats* stats) {
  SegmentReplay result;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::IoError("wal: open " + path, errno);
  // What we replay must be durable, or a power loss could take back records already served.
  if (sync) TB_RETURN_IF_ERROR(DataSync(fd.get(), path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::IoError("wal: stat " + path, errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  result.size = size;
  ++stats->segments;

  uint64_t offset = 0;
  auto corrupt = [&](std::string_view reason) {
    spdlog::warn("wal: {}: {} at offset {}; ignoring the remaining {} bytes of this segment", path, reason, offset,
                 size - offset);
    ++stats->corrupt_tails;
    result.clean = false;
    if (offset >= kSegmentHeaderSize) result.intact_end = offset;
    return result;
  };

  SegmentReader reader(fd.get(), size, path);
  if (size < kSegmentHeaderSize) return corrupt("truncated segment header");
  TB_ASSIGN_OR_RETURN(std::string_view header, reader.Read(0, kSegmentHeaderSize));
  if (std::memcmp(header.data(), kSegmentMagic, sizeof(kSegmentMagic)) != 0) return corrupt("bad segment magic");
  if (DecodeFixed64(header.data() + 24) != XXH3_64bits(header.data(), 24)) {
    return corrupt("segment header checksum mismatch");
  }
  const uint32_t version = DecodeFixed32(header.data() + 8);
  if (version != kFormatVersion) {
    return Status::FailedPrecondition("wal: " + path + ": unsupported format version " + std::to_string(version));
  }
  if (DecodeFixed64(header.data() + 16) != first_sequence) {
    return corrupt("segment header first sequence does not match the file name");
  }
  if (first_sequence == 0) return corrupt("segment first sequence 0");
  if (first_sequence <= *last_replayed) {
    return Status::DataLoss("wal: " + path + " starts at sequence " + std::to_string(first_sequence) +
                            ", but the previous segment reached " + std::to_string(*last_replayed));
  }
  offset = kSegmentHeaderSize;

  uint64_t expected = first_sequence;
  while (offset < size) {
    const uint64_t remaining = size - offset;
    if (remaining < kRecordHeaderSize) return corrupt("truncated record header");
    TB_ASSIGN_OR_RETURN(std::string_view rh, reader.Read(offset, kRecordHeaderSize));
    const uint64_t checksum = DecodeFixed64(rh.data());
    const uint32_t length = DecodeFixed32(rh.data() + 8);
    const uint64_t sequence = DecodeFixed64(rh.data() + 12);
    if (length > kMaxRecordBytes) return corrupt("record length " + std::to_string(length) + " exceeds the maximum");
    if (length > remaining - kRecordHeaderSize) {
      return corrupt("record length " + std::to_string(length) + " extends past the end of the file");
    }
    TB_ASSIGN_OR_RETURN(std::string_view record, reader.Read(offset, kRecordHeaderSize + length));
    if (XXH3_64bits(record.data() + 8, 12 + length) != checksum) return corrupt("record checksum mismatch");
    if (sequence != expected) {
      return corrupt("record sequence " + std::to_string(sequence) + " where " + std::to_string(expected) +
                     " was expected");
    }
    if (replay) {
      Status s = replay(sequence, record.substr(kRecordHeaderSize));
      if (!s.ok()) return s.WithContext("wal: replay of " + path + " sequence " + std::to_string(sequence));
    }
    ++result.records;
    ++stats->records;
    stats->bytes += length;
    *last_replayed = sequence;
    ++expected;
    offset += kRecordHeaderSize + length;
  }
  return result;
}

}  // namespace

std::string SegmentFileName(uint64_t first_sequence) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu.wal", static_cast<unsigned long long>(first_sequence));
  return name;
}

// One Append call waiting in the queue; lives on the caller's stack.
struct Wal::Writer {
  explicit Writer(std::string_view p) : payload(p) {}
  std::string_view payload;
  uint64_t sequence = 0;
  Status status;
  bool done = false;  // GUARDED_BY(mu_)
  std::condition_variable cv;
};

Result<std::unique_ptr<Wal>> Wal::Open(const Options& options, const ReplayFn& replay, ReplayStats* stats) {
  ReplayStats local_stats;
  if (stats == nullptr) stats = &local_stats;
  *stats = ReplayStats();
  if (options.dir.empty()) return Status::InvalidArgument("wal: Options::dir is empty");
  const std::string& dir = options.dir;

  TB_RETURN_IF_ERROR(CreateDirectoriesDurably(dir).WithContext("wal"));

  const std::string lock_path = JoinPath(dir, "LOCK");
  UniqueFd lock_fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock_fd.get() < 0) return Status::IoError("wal: open " + lock_path, errno);
  if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Status::FailedPrecondition("wal: " + dir + " is in use by another Wal");
    return Status::IoError("wal: lock " + lock_path, errno);
  }

  TB_ASSIGN_OR_RETURN(std::vector<uint64_t> firsts, ListSegments(dir));
  uint64_t last_replayed = 0;
  bool last_segment_clean = true;
  for (uint64_t first : firsts) {
    const std::string path = JoinPath(dir, SegmentFileName(first));
    TB_ASSIGN_OR_RETURN(SegmentReplay r, ReplaySegment(path, first, options.sync, replay, &last_replayed, stats));
    last_segment_clean = r.clean;
    // Only the newest segment can end in a record torn by a crash (older ones were complete and
    // synced before the next was created), so only its tail is cut off; damage elsewhere is left
    // for inspection.
    if (first == firsts.back() && r.intact_end > 0) {
      TB_RETURN_IF_ERROR(TruncateTornTail(path, r.intact_end));
      spdlog::warn("wal: {}: truncated the torn tail of {} bytes at offset {}", path, r.size - r.intact_end,
                   r.intact_end);
      stats->truncated_bytes += r.size - r.intact_end;
      last_segment_clean = true;
    }
  }
  stats->last_sequence = last_replayed;

  // Sequences continue after the last replayed record, and never below an existing segment's name
  // (all records may have been removed, leaving an empty active segment behind).
  uint64_t next = std::max<uint64_t>(last_replayed + 1, 1);
  if (!firsts.empty()) next = std::max(next, firsts.back());
  // A segment named `next` can hold no intact record (else `next` would be above it): an empty
  // segment left by a previous Open, or one torn at its header or first record. The first is
  // dropped, the second kept aside for inspection.
  if (!firsts.empty() && firsts.back() == next) {
    const std::string path = JoinPath(dir, SegmentFileName(next));
    if (last_segment_clean) {
      if (::unlink(path.c_str()) != 0) return Status::IoError("wal: remove " + path, errno);
    } else {
      const std::string aside = path + ".corrupt";
      spdlog::warn("wal: renaming {} to {}: it holds no intact record and its name is needed", path, aside);
      if (::rename(path.c_str(), aside.c_str()) != 0) return Status::IoError("wal: rename " + path, errno);
    }
    firsts.pop_back();
  }
  TB_ASSIGN_OR_RETURN(UniqueFd fd, CreateSegment(dir, next));

  std::deque<uint64_t> segments(firsts.begin(), firsts.end());
  segments.push_back(next);
  spdlog::info("wal: {}: replayed {} records ({} bytes) from {} segments, {} corrupt; appending from sequence {}", dir,
               stats->records, stats->bytes, stats->segments, stats->corrupt_tails, next);
  return std::unique_ptr<Wal>(new Wal(options, lock_fd.Release(), fd.Release(), std::move(segments), next));
}

Wal::Wal(Options options, int lock_fd, int fd, std::deque<uint64_t> segments, uint64_t next_sequence)
    : options_(std::move(options)),
      fd_(fd),
      active_first_(next_sequence),
      active_bytes_(kSegmentHeaderSize),
      segments_(std::move(segments)),
      next_sequence_(next_sequence),
      lock_fd_(lock_fd) {
  counters_.segments_created = 1;
  last_sequence_.store(next_sequence - 1, std::memory_order_release);
}

Wal::~Wal() {
  bool was_closed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was_closed = closed_;
  }
  Status s = Close();
  if (!s.ok() && !was_closed) spdlog::warn("wal: {}: close: {}", options_.dir, s.ToString());
}

Result<uint64_t> Wal::Append(std::string_view payload) {
  if (payload.size() > kMaxRecordBytes) {
    return Status::InvalidArgument("wal: record of " + std::to_string(payload.size()) + " bytes exceeds the limit of " +
                                   std::to_string(kMaxRecordBytes));
  }
  Writer w(payload);
  std::unique_lock<std::mutex> lock(mu_);
  if (closing_) return Status::FailedPrecondition("wal: Append after Close");
  queue_.push_back(&w);
  w.cv.wait(lock, [&] { return w.done || (queue_.front() == &w && !recovering_); });
  if (!w.done) CommitBatch(lock);
  if (!w.status.ok()) return w.status;
  return w.sequence;
}

void Wal::CommitBatch(std::unique_lock<std::mutex>& lock) {
  // Take every queued writer, up to kMaxBatchBytes (but at least the leader).
  batch_.clear();
  uint64_t batch_bytes = 0;
  for (Writer* w : queue_) {
    const uint64_t record_bytes = kRecordHeaderSize + w->payload.size();
    if (!batch_.empty() && batch_bytes + record_bytes > kMaxBatchBytes) break;
    batch_.push_back(w);
    batch_bytes += record_bytes;
  }
  const uint64_t first = next_sequence_;
  if (!error_.ok() && RecoveryDueLocked()) RecoverUnlocked(lock);
  Status status = error_;
  if (status.ok()) {
    for (Writer* w : batch_) w->sequence = next_sequence_++;
  }
  lock.unlock();

  if (status.ok() && active_bytes_ >= options_.segment_target_bytes && active_first_ < first) {
    status = RollSegment(first);
  }
  if (status.ok()) status = WriteBatch(first);
  if (status.ok()) options_.metrics.group_commit_records.Observe(static_cast<double>(batch_.size()));

  lock.lock();
  if (status.ok()) {
    counters_.appends += batch_.size();
    counters_.written_bytes += batch_bytes;
    for (Writer* w : batch_) counters_.payload_bytes += w->payload.size();
    ++counters_.batches;
    if (options_.sync) ++counters_.syncs;
    last_sequence_.store(batch_.back()->sequence, std::memory_order_release);
  } else if (error_.ok()) {
    // The active segment now ends in an unknown state (a partial record, or unsynced data the
    // kernel may have dropped), so nothing may be appended after it until Recover has cut it back.
    // The batch's sequences were never acknowledged: the next batch takes them again.
    next_sequence_ = first;
    error_ = Status(status.code(), "wal cannot write: " + status.message());
    next_recovery_ = Now() + options_.recovery_interval;
    status = error_;
    ++counters_.write_errors;
    spdlog::error("{} (appends are refused; recovery is tried every {} ms)", status.message(),
                  options_.recovery_interval.count());
  }
  for (Writer* w : batch_) {
    queue_.pop_front();
    w->status = status;
    w->done = true;
    w->cv.notify_one();  // under mu_: the writer's stack frame lives until it reacquires mu_
  }
  if (!queue_.empty()) {
    queue_.front()->cv.notify_one();  // the next leader
  } else {
    drained_cv_.notify_all();
  }
}

Status Wal::RollSegment(uint64_t first_sequence) {
  const std::string old_path = JoinPath(options_.dir, SegmentFileName(active_first_));
  // With sync every batch is already durable; otherwise a closed segment is made durable now.
  if (!options_.sync) TB_RETURN_IF_ERROR(DataSync(fd_, old_path));
  TB_ASSIGN_OR_RETURN(UniqueFd fd, CreateSegment(options_.dir, first_sequence));
  if (::close(fd_) != 0) {
    spdlog::warn("wal: close {}: {}", old_path, std::strerror(errno));  // already synced: harmless
  }
  fd_ = fd.Release();
  active_first_ = first_sequence;
  active_bytes_ = kSegmentHeaderSize;
  std::lock_guard<std::mutex> lock(mu_);
  segments_.push_back(first_sequence);
  ++counters_.segments_created;
  if (!options_.sync) ++counters_.syncs;
  return Status::Ok();
}

Status Wal::WriteBatch(uint64_t first_sequence) {
  header_buf_.resize(batch_.size() * kRecordHeaderSize);
  std::vector<struct iovec> iov;
  iov.reserve(2 * batch_.size());
  uint64_t bytes = 0;
  for (size_t i = 0; i < batch_.size(); ++i) {
    Writer* w = batch_[i];
    char* h = header_buf_.data() + i * kRecordHeaderSize;
    EncodeRecordHeader(h, first_sequence + i, w->payload);
    iov.push_back({h, kRecordHeaderSize});
    if (!w->payload.empty()) iov.push_back({const_cast<char*>(w->payload.data()), w->payload.size()});
    bytes += kRecordHeaderSize + w->payload.size();
  }
  const std::string path = JoinPath(options_.dir, SegmentFileName(active_first_));
  TB_RETURN_IF_ERROR(WriteFully(fd_, iov.data(), iov.size(), path));
  active_bytes_ += bytes;
  if (options_.sync) {
    const auto since = std::chrono::steady_clock::now();
    TB_RETURN_IF_ERROR(DataSync(fd_, path));
    options_.metrics.fsync_seconds.ObserveSince(since);
  }
  return Status::Ok();
}

std::chrono::steady_clock::time_point Wal::Now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

bool Wal::RecoveryDueLocked() {
  const auto now = Now();
  if (now < next_recovery_) return false;
  next_recovery_ = now + options_.recovery_interval;
  return true;
}

Status Wal::Recover(uint64_t next_sequence) {
  // Cutting a file and syncing it succeed on a full disk too, so the attempt also writes a probe
  // of zeros past the last record: only a disk that takes it is one appends can resume on.
  constexpr size_t kProbeBytes = 64 << 10;
  const std::string path = JoinPath(options_.dir, SegmentFileName(active_first_));
  const auto cut_back = [&]() -> Status {
    if (::ftruncate(fd_, static_cast<off_t>(active_bytes_)) != 0)
      return Status::IoError("wal: truncate " + path, errno);
    if (::lseek(fd_, static_cast<off_t>(active_bytes_), SEEK_SET) < 0)
      return Status::IoError("wal: seek " + path, errno);
    return Status::Ok();
  };
  TB_RETURN_IF_ERROR(cut_back());
  const std::string probe(kProbeBytes, '\0');
  const Status probed = WriteAll(fd_, probe.data(), probe.size(), path);
  TB_RETURN_IF_ERROR(cut_back());
  TB_RETURN_IF_ERROR(probed);
  TB_RETURN_IF_ERROR(DataSync(fd_, path));
  if (next_sequence != active_first_) {
    const std::string begun = JoinPath(options_.dir, SegmentFileName(next_sequence));
    if (::unlink(begun.c_str()) != 0 && errno != ENOENT) return Status::IoError("wal: remove " + begun, errno);
  }
  return Status::Ok();
}

void Wal::RecoverUnlocked(std::unique_lock<std::mutex>& lock) {
  const uint64_t next = next_sequence_;
  lock.unlock();
  const Status recovered = Recover(next);
  lock.lock();
  if (!recovered.ok()) {
    spdlog::warn("wal: {}: still cannot write: {}", options_.dir, recovered.ToString());
    return;
  }
  spdlog::info("wal: {}: recovered from '{}'; appends resume at sequence {}", options_.dir, error_.message(),
               next_sequence_);
  error_ = Status::Ok();
  ++counters_.recoveries;
}

Status Wal::RemoveSegmentsThrough(uint64_t sequence) {
  std::lock_guard<std::mutex> remove_lock(remove_mu_);
  std::vector<uint64_t> doomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return Status::FailedPrecondition("wal: RemoveSegmentsThrough after Close");
    // segments_[0] holds sequences [segments_[0], segments_[1] - 1].
    while (segments_.size() >= 2 && segments_[1] - 1 <= sequence) {
      doomed.push_back(segments_.front());
      segments_.pop_front();
    }
  }
  if (doomed.empty()) return Status::Ok();
  size_t removed = 0;
  Status status;
  for (; removed < doomed.size(); ++removed) {
    const std::string path = JoinPath(options_.dir, SegmentFileName(doomed[removed]));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      status = Status::IoError("wal: remove " + path, errno);
      break;
    }
  }
  if (removed > 0 && status.ok()) status = SyncDir(options_.dir);
  std::lock_guard<std::mutex> lock(mu_);
  counters_.segments_removed += removed;
  // Segments not removed stay known, so that a later call retries them.
  for (size_t i = doomed.size(); i > removed; --i) segments_.push_front(doomed[i - 1]);
  return status;
}

Status Wal::Purge() {
  uint64_t first;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closing_) return Status::FailedPrecondition("wal: Purge after Close");
    if (!error_.ok()) return error_;
    drained_cv_.wait(lock, [&] { return queue_.empty(); });
    first = next_sequence_;
  }
  // No leader is left and no Append may start, so the active segment is ours. An active segment
  // without records already is the fresh one.
  if (active_first_ < first) TB_RETURN_IF_ERROR(RollSegment(first));
  return RemoveSegmentsThrough(first - 1);
}

Status Wal::Close() {
  std::lock_guard<std::mutex> remove_lock(remove_mu_);
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) return close_status_;
  closing_ = true;
  drained_cv_.wait(lock, [&] { return queue_.empty() && !recovering_; });
  // No leader or recovery is left; fd_ is ours.
  Status status = error_;
  const std::string path = JoinPath(options_.dir, SegmentFileName(active_first_));
  if (status.ok() && !options_.sync) {
    status = DataSync(fd_, path);
    if (status.ok()) ++counters_.syncs;
  }
  if (::close(fd_) != 0 && status.ok()) status = Status::IoError("wal: close " + path, errno);
  fd_ = -1;
  ::close(lock_fd_);  // releases the flock
  lock_fd_ = -1;
  closed_ = true;
  close_status_ = status;
  return status;
}

Status Wal::Writable() {
  std::unique_lock<std::mutex> lock(mu_);
  // With no leader, this call takes the leader's place for one recovery attempt.
  if (!error_.ok() && !closing_ && queue_.empty() && !recovering_ && RecoveryDueLocked()) {
    recovering_ = true;
    RecoverUnlocked(lock);
    recovering_ = false;
    if (!queue_.empty()) queue_.front()->cv.notify_one();
    drained_cv_.notify_all();
  }
  if (!error_.ok()) return error_;
  if (closing_ || closed_) return Status::FailedPrecondition("wal is closed");
  return Status::Ok();
}

DiskUsage Wal::Usage() const {
  DiskUsage usage;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ec)) {
    if (entry.path().extension() != ".wal") continue;
    const uint64_t size = entry.file_size(ec);
    if (ec) continue;  // removed meanwhile
    ++usage.segments;
    usage.bytes += size;
  }
  return usage;
}

Counters Wal::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

}  // namespace tb::wal
