// Write-ahead log: opaque byte records, durable before they are acknowledged.
//
// The log is a directory of segment files "<dir>/<20-digit first sequence>.wal". Every record gets
// a sequence number; sequences increase by exactly 1 per record across segments, so a consumer can
// say "everything up to sequence N is persisted elsewhere" and call RemoveSegmentsThrough(N).
// The byte layout is described in docs/format/wal.md.
//
// Durability: Append() returns only once its record is written and (with Options::sync)
// fdatasync'd. Concurrent appenders are group-committed: one writev() + fdatasync() covers every
// record queued while the previous batch was being written.
//
// Failure model: after any write or sync error the state of the active segment is indeterminate,
// so the log refuses every later Append (the records of the failed batch may or may not be replayed
// after a restart). A torn or corrupt record found by Open ends the replay of its segment only;
// a torn tail of the newest segment is truncated.
//
// Thread-safety: Append, RemoveSegmentsThrough, Close, last_sequence and counters may be called
// concurrently. The Wal must not be destroyed while another thread is inside one of them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/handles.h"
#include "util/status.h"

namespace tb::wal {

// On-disk constants (docs/format/wal.md).
inline constexpr char kSegmentMagic[8] = {'T', 'B', 'W', 'A', 'L', 'S', 'E', 'G'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;  // magic, version, reserved, first sequence, checksum
inline constexpr size_t kRecordHeaderSize = 20;   // checksum u64, length u32, sequence u64
// The largest payload Append accepts and replay believes; a longer length field is corruption.
inline constexpr uint32_t kMaxRecordBytes = 256u << 20;

// "00000000000000000042.wal" for first_sequence 42.
std::string SegmentFileName(uint64_t first_sequence);

struct Options {
  std::string dir;
  // A segment is closed and a new one started before the first batch that finds the active segment
  // at or beyond this size; a segment may exceed it by up to one group-commit batch.
  uint64_t segment_target_bytes = 64ull << 20;
  // fdatasync each batch before acknowledging it. Without it, Append returns once the record is in
  // the OS page cache (survives a process crash, not a power loss); segments are still synced when
  // they are closed.
  bool sync = true;
  // After a write or sync error (a full disk, say) the log refuses appends and tries, at most this
  // often, to recover: it cuts the active segment back to its last acknowledged record, syncs it,
  // and takes appends again. Appends and Writable() make the attempts.
  std::chrono::milliseconds recovery_interval{std::chrono::seconds(1)};
  // The time recovery_interval is measured in. Null: std::chrono::steady_clock::now; tests pass a
  // clock they move themselves.
  std::function<std::chrono::steady_clock::time_point()> clock;
  // fsync latencies (of the syncs that acknowledge batches) and group-commit sizes.
  metrics::WalMetrics metrics;
};

struct ReplayStats {
  uint64_t records = 0;          // records passed to the replay function
  uint64_t bytes = 0;            // their payload bytes
  uint64_t segments = 0;         // segment files read
  uint64_t corrupt_tails = 0;    // segments whose replay ended early at a torn or corrupt record or header
  uint64_t truncated_bytes = 0;  // torn tail cut off the newest segment
  uint64_t last_sequence = 0;    // sequence of the last record replayed, 0 if none
};

// Called once per intact record, in sequence order. `payload` is valid only during the call.
// A non-OK Status aborts Wal::Open with that Status.
using ReplayFn = std::function<Status(uint64_t sequence, std::string_view payload)>;

// Monotonic counters for metrics.
struct Counters {
  uint64_t appends = 0;        // records acknowledged durable
  uint64_t payload_bytes = 0;  // their payload bytes
  uint64_t written_bytes = 0;  // bytes written for them, record headers included
  uint64_t batches = 0;        // group commits (one writev per batch)
  uint64_t syncs = 0;          // fdatasync calls on segments
  uint64_t segments_created = 0;
  uint64_t segments_removed = 0;
  uint64_t write_errors = 0;  // batches refused by a write or sync error
  uint64_t recoveries = 0;    // times appends resumed after one
};

// The segment files on disk now.
struct DiskUsage {
  uint64_t segments = 0;
  uint64_t bytes = 0;
};

class Wal {
 public:
  // Creates options.dir if needed and locks it (flock on "<dir>/LOCK"; a second Open of the same
  // directory fails with FAILED_PRECONDITION). Replays every intact record of the existing segments
  // in sequence order through `replay` (may be empty), then opens a new segment for appends.
  //
  // A torn or corrupt record ends the replay of its segment: it is logged with file and offset and
  // counted in stats->corrupt_tails; later segments are still replayed, so the replayed sequences
  // may have gaps. In the newest segment (the only one a crash can tear) the file is truncated
  // after its last intact record, so the next Open finds it clean; damage in older segments is
  // left in place. Read errors, an error from `replay`, segments with an unknown format version
  // and overlapping segments fail Open.
  //
  // `stats` may be null.
  static Result<std::unique_ptr<Wal>> Open(const Options& options, const ReplayFn& replay, ReplayStats* stats);

  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;
  // Calls Close(); an error is logged.
  ~Wal();

  // Appends one record and returns its sequence number once it is durable (see Options::sync).
  // The payload is written straight from the caller's memory, without a copy.
  // INVALID_ARGUMENT if payload.size() > kMaxRecordBytes; FAILED_PRECONDITION after Close; after a
  // write or sync error, that error for the affected batch and every later call until the log has
  // recovered (Options::recovery_interval). A failed batch is never acknowledged and never replayed.
  Result<uint64_t> Append(std::string_view payload);

  // Deletes the segments all of whose sequences are <= `sequence`, i.e. every non-active segment
  // whose successor starts at or below sequence + 1, oldest first. Never deletes the active segment.
  Status RemoveSegmentsThrough(uint64_t sequence);

  // Deletes every record: starts a new, empty segment and removes all the others. Sequence numbers
  // keep increasing. REQUIRES: no Append runs concurrently (the caller excludes writers).
  Status Purge();

  // Waits for queued appends, syncs and closes the active segment, releases the directory lock.
  // Later Appends fail. Idempotent: later calls return the first call's Status, which is the
  // log's sticky I/O error if it had one.
  Status Close();

  // The highest sequence durably appended or replayed (or implied by the segment names when all
  // records were removed); the next Append gets last_sequence() + 1.
  uint64_t last_sequence() const { return last_sequence_.load(std::memory_order_acquire); }

  Counters counters() const;
  // Lists the WAL folder (for metrics; a segment removed meanwhile is left out).
  DiskUsage Usage() const;

  // OK while Appends can succeed; otherwise the I/O error that stopped them (after trying to
  // recover, when an attempt is due: so a process that readiness took out of traffic still comes
  // back once the disk has room), or FAILED_PRECONDITION once the log is closing.
  Status Writable();

 private:
  struct Writer;

  Wal(Options options, int lock_fd, int fd, std::deque<uint64_t> segments, uint64_t next_sequence);

  // Writes the queue's front batch as the leader. REQUIRES: lock holds mu_, the leader is at the
  // front of queue_. Returns with mu_ held and the batch removed from queue_ and completed.
  void CommitBatch(std::unique_lock<std::mutex>& lock);
  // Leader only, mu_ not held.
  Status RollSegment(uint64_t first_sequence);
  Status WriteBatch(uint64_t first_sequence);
  // Options::clock's time.
  std::chrono::steady_clock::time_point Now() const;
  // After an I/O error: whether a recovery attempt is due, and if so marks it made. REQUIRES mu_.
  bool RecoveryDueLocked();
  // Cuts the active segment back to active_bytes_ (its acknowledged records), syncs it, and removes
  // the segment a failed roll may have begun at `next_sequence`. Leader (or `recovering_`) only.
  Status Recover(uint64_t next_sequence);
  // One recovery attempt: Recover with mu_ released (the caller is the leader, or has set
  // recovering_), then clears error_ if it worked. REQUIRES: lock holds mu_; returns with it held.
  void RecoverUnlocked(std::unique_lock<std::mutex>& lock);

  const Options options_;

  // Owned by the current leader (or by Open/Close, when there is no leader).
  int fd_ = -1;                   // the active segment
  uint64_t active_first_ = 0;     // its first sequence
  uint64_t active_bytes_ = 0;     // its size
  std::vector<Writer*> batch_;    // the batch being committed
  std::vector<char> header_buf_;  // its encoded record headers

  std::mutex remove_mu_;  // serializes RemoveSegmentsThrough and Close; ordered before mu_

  mutable std::mutex mu_;
  std::deque<Writer*> queue_;                            // GUARDED_BY(mu_); front is the leader
  std::condition_variable drained_cv_;                   // signalled when queue_ becomes empty
  std::deque<uint64_t> segments_;                        // GUARDED_BY(mu_); first sequences, ascending; back is active
  uint64_t next_sequence_;                               // GUARDED_BY(mu_)
  Status error_;                                         // GUARDED_BY(mu_); the I/O error appends wait out
  std::chrono::steady_clock::time_point next_recovery_;  // GUARDED_BY(mu_); no attempt before this
  bool recovering_ = false;  // GUARDED_BY(mu_); Writable() is recovering: no leader may start
  bool closing_ = false;     // GUARDED_BY(mu_)
  bool closed_ = false;      // GUARDED_BY(mu_)
  Status close_status_;      // GUARDED_BY(mu_)
  int lock_fd_;              // GUARDED_BY(mu_)
  Counters counters_;        // GUARDED_BY(mu_)
  std::atomic<uint64_t> last_sequence_{0};
};

}  // namespace tb::wal
