#include "wal/wal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "util/test_sync.h"

// ---- allocation tracking: the largest single allocation while g_track_allocations is set ----

namespace {
std::atomic<bool> g_track_allocations{false};
std::atomic<size_t> g_largest_allocation{0};

void* TrackedAlloc(size_t n) {
  if (g_track_allocations.load(std::memory_order_relaxed)) {
    size_t prev = g_largest_allocation.load(std::memory_order_relaxed);
    while (n > prev && !g_largest_allocation.compare_exchange_weak(prev, n)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(size_t n) { return TrackedAlloc(n); }
void* operator new[](size_t n) { return TrackedAlloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace tb::wal {
namespace {

namespace fs = std::filesystem;

struct Record {
  uint64_t sequence;
  std::string payload;
  bool operator==(const Record&) const = default;
};

std::string Payload(uint64_t i, size_t size) {
  std::string s(size, '\0');
  for (size_t j = 0; j < size; ++j) s[j] = static_cast<char>((i * 131 + j * 7) & 0xff);
  return s;
}

class WalTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = testing::TempDir() + "tb_wal_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = root_ + "/wal";  // Open creates it
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  Options MakeOptions(uint64_t segment_target_bytes = 64ull << 20) const {
    Options o;
    o.dir = dir_;
    o.segment_target_bytes = segment_target_bytes;
    return o;
  }

  // Opens the log, collecting the replayed records into *records.
  std::unique_ptr<Wal> OpenWal(const Options& options, std::vector<Record>* records, ReplayStats* stats) {
    records->clear();
    auto wal = Wal::Open(
        options,
        [&](uint64_t seq, std::string_view payload) {
          records->push_back({seq, std::string(payload)});
          return Status::Ok();
        },
        stats);
    EXPECT_TRUE(wal.ok()) << wal.status().ToString();
    return wal.ok() ? std::move(wal).value() : nullptr;
  }

  // Segment file names in the directory, sorted.
  std::vector<std::string> SegmentFiles() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      std::string name = e.path().filename().string();
      if (name.ends_with(".wal")) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  static uint64_t FirstSequence(const std::string& name) { return std::stoull(name.substr(0, 20)); }
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }

  std::string ReadFile(const std::string& path) const {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void WriteAt(const std::string& path, uint64_t offset, std::string_view bytes) const {
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }

  std::string root_;
  std::string dir_;
};

TEST_F(WalTest, AppendReopenReplaysIdenticalPayloadsInOrder) {
  std::vector<std::string> payloads;
  for (uint64_t i = 0; i < 100; ++i) payloads.push_back(Payload(i, (i * 37) % 3000));
  payloads[5] = "";
  payloads[50] = Payload(50, 1 << 20);  // spans replay read chunks

  std::vector<Record> replayed;
  ReplayStats stats;
  {
    auto wal = OpenWal(MakeOptions(), &replayed, &stats);
    ASSERT_NE(wal, nullptr);
    EXPECT_TRUE(replayed.empty());
    EXPECT_EQ(stats.segments, 0u);
    EXPECT_EQ(wal->last_sequence(), 0u);
    for (size_t i = 0; i < payloads.size(); ++i) {
      auto seq = wal->Append(payloads[i]);
      ASSERT_TRUE(seq.ok()) << seq.status().ToString();
      EXPECT_EQ(*seq, i + 1);
    }
    EXPECT_EQ(wal->last_sequence(), 100u);
    Counters c = wal->counters();
    EXPECT_EQ(c.appends, 100u);
    EXPECT_EQ(c.batches, 100u);  // one appender: one batch per record
    EXPECT_EQ(c.syncs, 100u);
    uint64_t payload_bytes = 0;
    for (const auto& p : payloads) payload_bytes += p.size();
    EXPECT_EQ(c.payload_bytes, payload_bytes);
    EXPECT_EQ(c.written_bytes, payload_bytes + 100 * kRecordHeaderSize);
    ASSERT_TRUE(wal->Close().ok());
    EXPECT_EQ(wal->Append("late").status().code(), StatusCode::kFailedPrecondition);
  }

  auto wal = OpenWal(MakeOptions(), &replayed, &stats);
  ASSERT_NE(wal, nullptr);
  ASSERT_EQ(replayed.size(), payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    EXPECT_EQ(replayed[i].sequence, i + 1);
    EXPECT_EQ(replayed[i].payload, payloads[i]) << "record " << i;
  }
  EXPECT_EQ(stats.records, 100u);
  EXPECT_EQ(stats.segments, 1u);
  EXPECT_EQ(stats.corrupt_tails, 0u);
  EXPECT_EQ(stats.last_sequence, 100u);
  EXPECT_EQ(wal->last_sequence(), 100u);
  auto seq = wal->Append("after reopen");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 101u);
  wal.reset();

  wal = OpenWal(MakeOptions(), &replayed, &stats);
  ASSERT_EQ(replayed.size(), 101u);
  EXPECT_EQ(replayed.back(), (Record{101, "after reopen"}));
  EXPECT_EQ(stats.segments, 2u);
}

TEST_F(WalTest, OnDiskLayoutMatchesTheDocumentedFormat) {
  std::vector<Record> replayed;
  {
    auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
    ASSERT_TRUE(wal->Append("a").ok());
    ASSERT_TRUE(wal->Append("bc").ok());
  }
  ASSERT_EQ(SegmentFiles(), std::vector<std::string>{"00000000000000000001.wal"});
  std::string f = ReadFile(PathOf("00000000000000000001.wal"));
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(f[at + i])} << (8 * i);
    return v;
  };
  auto u64 = [&](size_t at) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(f[at + i])} << (8 * i);
    return v;
  };
  ASSERT_EQ(f.size(), 32u + (20 + 1) + (20 + 2));
  EXPECT_EQ(f.substr(0, 8), "TBWALSEG");
  EXPECT_EQ(u32(8), 1u);
  EXPECT_EQ(u32(12), 0u);
  EXPECT_EQ(u64(16), 1u);
  EXPECT_EQ(u64(24), XXH3_64bits(f.data(), 24));
  // Record 1 at 32, record 2 at 53.
  EXPECT_EQ(u32(40), 1u);
  EXPECT_EQ(u64(44), 1u);
  EXPECT_EQ(f.substr(52, 1), "a");
  EXPECT_EQ(u64(32), XXH3_64bits(f.data() + 40, 12 + 1));
  EXPECT_EQ(u32(61), 2u);
  EXPECT_EQ(u64(65), 2u);
  EXPECT_EQ(f.substr(73, 2), "bc");
  EXPECT_EQ(u64(53), XXH3_64bits(f.data() + 61, 12 + 2));
}

TEST_F(WalTest, SecondOpenOfTheSameDirectoryFails) {
  std::vector<Record> replayed;
  auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
  ASSERT_NE(wal, nullptr);
  auto second = Wal::Open(MakeOptions(), nullptr, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(wal->Close().ok());
  auto third = Wal::Open(MakeOptions(), nullptr, nullptr);
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST_F(WalTest, ConcurrentAppendsReplayExactlyOnce) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  std::vector<std::vector<std::pair<uint64_t, std::string>>> acked(kThreads);
  std::vector<Record> replayed;
  Counters counters;
  {
    auto wal = OpenWal(MakeOptions(/*segment_target_bytes=*/64 << 10), &replayed, nullptr);
    ASSERT_NE(wal, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string payload = "thread " + std::to_string(t) + " record " + std::to_string(i) + " " +
                                Payload(t * kPerThread + i, (i * 13) % 400);
          auto seq = wal->Append(payload);
          if (!seq.ok()) {
            ADD_FAILURE() << seq.status().ToString();
            return;
          }
          acked[t].emplace_back(*seq, std::move(payload));
        }
      });
    }
    for (auto& th : threads) th.join();
    counters = wal->counters();
    EXPECT_EQ(wal->last_sequence(), uint64_t{kThreads * kPerThread});
  }
  constexpr uint64_t kTotal = kThreads * kPerThread;
  EXPECT_EQ(counters.appends, kTotal);
  EXPECT_LT(counters.batches, kTotal) << "no group commit happened";
  EXPECT_EQ(counters.syncs, counters.batches);
  EXPECT_GT(counters.segments_created, 1u);

  std::map<uint64_t, std::string> by_sequence;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(acked[t].size(), size_t{kPerThread});
    for (size_t i = 0; i < acked[t].size(); ++i) {
      if (i > 0) {
        EXPECT_LT(acked[t][i - 1].first, acked[t][i].first);
      }
      EXPECT_TRUE(by_sequence.emplace(acked[t][i].first, acked[t][i].second).second) << "duplicate sequence";
    }
  }
  ASSERT_EQ(by_sequence.size(), kTotal);
  EXPECT_EQ(by_sequence.begin()->first, 1u);
  EXPECT_EQ(by_sequence.rbegin()->first, kTotal);

  ReplayStats stats;
  auto wal = OpenWal(MakeOptions(), &replayed, &stats);
  ASSERT_EQ(replayed.size(), kTotal);
  EXPECT_EQ(stats.corrupt_tails, 0u);
  for (size_t i = 0; i < replayed.size(); ++i) {
    EXPECT_EQ(replayed[i].sequence, i + 1);
    EXPECT_EQ(replayed[i].payload, by_sequence[i + 1]);
  }
}

// Writers append until Close refuses them, while another thread removes the older half of the log
// after every acknowledgement: no acknowledged record is lost or doubled.
TEST_F(WalTest, CloseAndRemovalRacingWithAppendsLoseNoAcknowledgedRecord) {
  constexpr int kThreads = 8;
  std::vector<std::vector<std::pair<uint64_t, std::string>>> acked(kThreads);
  std::atomic<int> refused{0};
  std::atomic<uint64_t> removed_through{0};
  std::vector<Record> replayed;
  {
    auto wal = OpenWal(MakeOptions(/*segment_target_bytes=*/4096), &replayed, nullptr);
    ASSERT_NE(wal, nullptr);
    std::atomic<bool> stop{false};
    test_sync::Progress acked_through;  // the highest sequence acknowledged
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          std::string payload = "t" + std::to_string(t) + "-" + std::to_string(i) + Payload(i, 200);
          auto seq = wal->Append(payload);
          if (!seq.ok()) {
            EXPECT_EQ(seq.status().code(), StatusCode::kFailedPrecondition) << seq.status().ToString();
            ++refused;
            acked_through.Stop();
            return;
          }
          acked[t].emplace_back(*seq, std::move(payload));
          acked_through.Reach(*seq);
        }
      });
    }
    std::thread remover([&] {
      for (uint64_t seen = 0; !stop;) {
        seen = acked_through.WaitFor(seen + 1);
        const uint64_t through = wal->last_sequence() / 2;
        Status s = wal->RemoveSegmentsThrough(through);
        if (!s.ok()) {
          EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
          return;
        }
        removed_through = through;
      }
    });
    acked_through.WaitFor(2000);
    ASSERT_TRUE(wal->Close().ok());
    stop = true;
    for (auto& th : threads) th.join();
    remover.join();
    EXPECT_GT(wal->counters().segments_removed, 0u);
  }
  EXPECT_EQ(refused.load(), kThreads);

  std::map<uint64_t, std::string> by_sequence;
  for (const auto& list : acked) {
    for (const auto& [seq, payload] : list) EXPECT_TRUE(by_sequence.emplace(seq, payload).second);
  }
  ASSERT_GE(by_sequence.size(), 2000u);
  EXPECT_EQ(by_sequence.rbegin()->first, by_sequence.size());  // 1..N, no hole

  auto wal = OpenWal(MakeOptions(4096), &replayed, nullptr);
  ASSERT_FALSE(replayed.empty());
  EXPECT_LE(replayed.front().sequence, removed_through.load() + 1);  // nothing uncovered was removed
  for (size_t i = 0; i < replayed.size(); ++i) {
    EXPECT_EQ(replayed[i].sequence, replayed.front().sequence + i);
    EXPECT_EQ(replayed[i].payload, by_sequence[replayed[i].sequence]);
  }
  EXPECT_EQ(replayed.back().sequence, by_sequence.size());
}

TEST_F(WalTest, TornTailIsTruncatedEarlierRecordsServedAndLaterAppendsReplay) {
  // Cut inside the last record's header, and inside its payload.
  for (uint64_t cut_into_last_record : {uint64_t{7}, uint64_t{20 + 300}}) {
    SCOPED_TRACE(cut_into_last_record);
    TearDown();
    SetUp();
    std::vector<Record> replayed;
    {
      auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
      for (uint64_t i = 1; i <= 10; ++i) ASSERT_TRUE(wal->Append(Payload(i, 1000)).ok());
    }
    auto files = SegmentFiles();
    ASSERT_EQ(files.size(), 1u);
    const uint64_t last_record_offset = kSegmentHeaderSize + 9 * (kRecordHeaderSize + 1000);
    fs::resize_file(PathOf(files[0]), last_record_offset + cut_into_last_record);

    ReplayStats stats;
    {
      auto wal = OpenWal(MakeOptions(), &replayed, &stats);
      ASSERT_NE(wal, nullptr);
      ASSERT_EQ(replayed.size(), 9u);
      for (uint64_t i = 1; i <= 9; ++i) EXPECT_EQ(replayed[i - 1], (Record{i, Payload(i, 1000)}));
      EXPECT_EQ(stats.corrupt_tails, 1u);
      EXPECT_EQ(stats.last_sequence, 9u);
      // Cut off after the 9th record, durably, before anything new was appended.
      EXPECT_EQ(stats.truncated_bytes, cut_into_last_record);
      EXPECT_EQ(fs::file_size(PathOf(files[0])), last_record_offset);
      auto seq = wal->Append("new tail");
      ASSERT_TRUE(seq.ok());
      EXPECT_EQ(*seq, 10u);
    }
    auto wal = OpenWal(MakeOptions(), &replayed, &stats);
    ASSERT_EQ(replayed.size(), 10u);
    EXPECT_EQ(replayed[8].sequence, 9u);
    EXPECT_EQ(replayed[9], (Record{10, "new tail"}));
    EXPECT_EQ(stats.corrupt_tails, 0u);  // the torn bytes are gone: no warning on every start
    EXPECT_EQ(stats.truncated_bytes, 0u);
    EXPECT_EQ(stats.segments, 2u);
  }
}

TEST_F(WalTest, FlippedPayloadByteEndsThatSegmentOnly) {
  constexpr size_t kPayload = 100;
  std::vector<Record> replayed;
  {
    auto wal = OpenWal(MakeOptions(/*segment_target_bytes=*/1000), &replayed, nullptr);
    for (uint64_t i = 1; i <= 40; ++i) ASSERT_TRUE(wal->Append(Payload(i, kPayload)).ok());
  }
  auto files = SegmentFiles();
  ASSERT_GE(files.size(), 4u);
  const uint64_t second_first = FirstSequence(files[1]);
  const uint64_t third_first = FirstSequence(files[2]);
  ASSERT_GE(third_first - second_first, 5u);
  // Flip one payload byte of the 4th record of the second segment.
  const uint64_t victim = second_first + 3;
  const uint64_t offset = kSegmentHeaderSize + 3 * (kRecordHeaderSize + kPayload) + kRecordHeaderSize + 50;
  std::string original = ReadFile(PathOf(files[1])).substr(offset, 1);
  WriteAt(PathOf(files[1]), offset, std::string(1, static_cast<char>(original[0] ^ 0x20)));
  const uint64_t second_size = fs::file_size(PathOf(files[1]));

  ReplayStats stats;
  auto wal = OpenWal(MakeOptions(1000), &replayed, &stats);
  ASSERT_NE(wal, nullptr);
  std::vector<Record> expected;
  for (uint64_t i = 1; i <= 40; ++i) {
    if (i < victim || i >= third_first) expected.push_back({i, Payload(i, kPayload)});
  }
  EXPECT_EQ(replayed, expected);
  EXPECT_EQ(stats.corrupt_tails, 1u);
  EXPECT_EQ(stats.truncated_bytes, 0u);  // not the newest segment: damage is left for inspection
  EXPECT_EQ(fs::file_size(PathOf(files[1])), second_size);
  EXPECT_EQ(stats.segments, files.size());
  EXPECT_EQ(stats.last_sequence, 40u);
  auto seq = wal->Append("next");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 41u);
}

TEST_F(WalTest, RolloverAndRemoveSegmentsThroughDeletesOnlyCoveredSegments) {
  std::vector<Record> replayed;
  auto wal = OpenWal(MakeOptions(/*segment_target_bytes=*/1000), &replayed, nullptr);
  for (uint64_t i = 1; i <= 40; ++i) ASSERT_TRUE(wal->Append(Payload(i, 100)).ok());
  auto files = SegmentFiles();
  ASSERT_GE(files.size(), 4u);
  EXPECT_EQ(wal->counters().segments_created, files.size());
  std::vector<uint64_t> firsts;
  for (const auto& f : files) firsts.push_back(FirstSequence(f));
  EXPECT_EQ(firsts[0], 1u);
  for (const auto& f : files) EXPECT_LE(fs::file_size(PathOf(f)), 1000u + kRecordHeaderSize + 100) << f;

  ASSERT_TRUE(wal->RemoveSegmentsThrough(0).ok());
  EXPECT_EQ(SegmentFiles(), files);
  // Segment 0 ends at firsts[1] - 1; segment 1 at firsts[2] - 1.
  ASSERT_TRUE(wal->RemoveSegmentsThrough(firsts[2] - 2).ok());
  EXPECT_EQ(SegmentFiles(), std::vector<std::string>(files.begin() + 1, files.end()));
  ASSERT_TRUE(wal->RemoveSegmentsThrough(firsts[2] - 1).ok());
  EXPECT_EQ(SegmentFiles(), std::vector<std::string>(files.begin() + 2, files.end()));
  ASSERT_TRUE(wal->RemoveSegmentsThrough(UINT64_MAX).ok());
  EXPECT_EQ(SegmentFiles(), std::vector<std::string>{files.back()});  // the active one stays
  EXPECT_EQ(wal->counters().segments_removed, files.size() - 1);
  wal.reset();

  ReplayStats stats;
  wal = OpenWal(MakeOptions(1000), &replayed, &stats);
  ASSERT_FALSE(replayed.empty());
  EXPECT_EQ(replayed.front().sequence, firsts.back());
  EXPECT_EQ(replayed.back().sequence, 40u);
  EXPECT_EQ(replayed.size(), 40 - firsts.back() + 1);
  EXPECT_EQ(wal->Append("x").value(), 41u);
}

TEST_F(WalTest, SequencesContinueAfterEveryRecordWasRemoved) {
  std::vector<Record> replayed;
  {
    auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(wal->Append("r").ok());
  }
  {
    auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
    EXPECT_EQ(replayed.size(), 5u);
    ASSERT_TRUE(wal->RemoveSegmentsThrough(5).ok());
    EXPECT_EQ(SegmentFiles(), std::vector<std::string>{"00000000000000000006.wal"});
  }
  for (int reopen = 0; reopen < 3; ++reopen) {  // empty segments do not pile up
    auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
    EXPECT_TRUE(replayed.empty());
    EXPECT_EQ(wal->last_sequence(), 5u);
    EXPECT_EQ(SegmentFiles(), std::vector<std::string>{"00000000000000000006.wal"});
  }
  auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
  EXPECT_EQ(wal->Append("six").value(), 6u);
}

TEST_F(WalTest, PurgeDeletesEveryRecordAndSequencesContinue) {
  std::vector<Record> replayed;
  {
    auto wal = OpenWal(MakeOptions(/*segment_target_bytes=*/64), &replayed, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(wal->Append("before purge").ok());
    ASSERT_GT(SegmentFiles().size(), 2u);
    ASSERT_TRUE(wal->Purge().ok());
    EXPECT_EQ(SegmentFiles(), std::vector<std::string>{"00000000000000000006.wal"});
    ASSERT_TRUE(wal->Purge().ok());  // nothing new: the fresh segment stays
    EXPECT_EQ(SegmentFiles().size(), 1u);
    EXPECT_EQ(wal->Append("after purge").value(), 6u);
  }
  auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed[0].sequence, 6u);
  EXPECT_EQ(replayed[0].payload, "after purge");
}

TEST_F(WalTest, TornSegmentHeaderIsCountedAndSetAside) {
  std::vector<Record> replayed;
  {
    auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(wal->Append("r").ok());
  }
  // A crash right after creating the next segment leaves it without a complete header.
  std::ofstream(PathOf("00000000000000000004.wal"), std::ios::binary) << "TBWA";
  ReplayStats stats;
  {
    auto wal = OpenWal(MakeOptions(), &replayed, &stats);
    ASSERT_NE(wal, nullptr);
    EXPECT_EQ(replayed.size(), 3u);
    EXPECT_EQ(stats.corrupt_tails, 1u);
    EXPECT_TRUE(fs::exists(PathOf("00000000000000000004.wal.corrupt")));
    EXPECT_EQ(wal->Append("four").value(), 4u);
  }
  auto wal = OpenWal(MakeOptions(), &replayed, &stats);
  ASSERT_EQ(replayed.size(), 4u);
  EXPECT_EQ(replayed.back(), (Record{4, "four"}));
  EXPECT_EQ(stats.corrupt_tails, 0u);
}

TEST_F(WalTest, OverlappingSegmentsFailOpen) {
  const std::string other = root_ + "/other";
  Options other_options = MakeOptions();
  other_options.dir = other;
  {  // "other" gets a segment starting at 3.
    auto wal = Wal::Open(other_options, nullptr, nullptr);
    ASSERT_TRUE(wal.ok());
    ASSERT_TRUE((*wal)->Append("1").ok());
    ASSERT_TRUE((*wal)->Append("2").ok());
  }
  {
    auto wal = Wal::Open(other_options, nullptr, nullptr);
    ASSERT_TRUE(wal.ok());
    ASSERT_EQ((*wal)->Append("3").value(), 3u);
  }
  std::vector<Record> replayed;
  {
    auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(wal->Append("r").ok());
  }
  fs::copy_file(other + "/00000000000000000003.wal", PathOf("00000000000000000003.wal"));
  auto wal = Wal::Open(MakeOptions(), nullptr, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), StatusCode::kDataLoss);
}

TEST_F(WalTest, UnknownFormatVersionFailsOpen) {
  std::vector<Record> replayed;
  {
    auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
    ASSERT_TRUE(wal->Append("r").ok());
  }
  const std::string path = PathOf("00000000000000000001.wal");
  std::string header = ReadFile(path).substr(0, kSegmentHeaderSize);
  header[8] = 2;  // version 2, with a valid header checksum
  const uint64_t checksum = XXH3_64bits(header.data(), 24);
  for (int i = 0; i < 8; ++i) header[24 + i] = static_cast<char>(checksum >> (8 * i));
  WriteAt(path, 0, header);
  auto wal = Wal::Open(MakeOptions(), nullptr, nullptr);
  ASSERT_FALSE(wal.ok());
  EXPECT_EQ(wal.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(wal.status().message().find("version 2"), std::string::npos);
}

TEST_F(WalTest, OversizedRecordIsRefused) {
  std::vector<Record> replayed;
  auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
  // Never touched: Append must refuse it before reading.
  std::unique_ptr<char[]> huge(new char[size_t{kMaxRecordBytes} + 1]);
  auto seq = wal->Append(std::string_view(huge.get(), size_t{kMaxRecordBytes} + 1));
  ASSERT_FALSE(seq.ok());
  EXPECT_EQ(seq.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wal->counters().appends, 0u);
  EXPECT_EQ(wal->Append("small").value(), 1u);  // the log is still usable
}

TEST_F(WalTest, GarbageLengthIsATornTailAndAllocatesNothingLarge) {
  for (uint32_t garbage : {uint32_t{0xFFFFFFF0}, uint32_t{200u << 20}}) {
    SCOPED_TRACE(garbage);
    TearDown();
    SetUp();
    std::vector<Record> replayed;
    {
      auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
      for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(wal->Append(Payload(i, 64)).ok());
    }
    const std::string path = PathOf(SegmentFiles().at(0));
    const uint64_t third = kSegmentHeaderSize + 2 * (kRecordHeaderSize + 64);
    char le[4];
    for (int i = 0; i < 4; ++i) le[i] = static_cast<char>(garbage >> (8 * i));
    WriteAt(path, third + 8, std::string_view(le, 4));

    ReplayStats stats;
    g_largest_allocation = 0;
    g_track_allocations = true;
    auto wal = OpenWal(MakeOptions(), &replayed, &stats);
    g_track_allocations = false;
    ASSERT_NE(wal, nullptr);
    EXPECT_LT(g_largest_allocation.load(), size_t{4} << 20);
    ASSERT_EQ(replayed.size(), 2u);
    EXPECT_EQ(replayed[1], (Record{2, Payload(2, 64)}));
    EXPECT_EQ(stats.corrupt_tails, 1u);
  }
}

TEST_F(WalTest, ReplayErrorAbortsOpenAndReleasesTheDirectory) {
  {
    std::vector<Record> replayed;
    auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(wal->Append("r").ok());
  }
  int calls = 0;
  auto failed = Wal::Open(
      MakeOptions(),
      [&](uint64_t seq, std::string_view) {
        ++calls;
        return seq == 3 ? Status::Internal("cannot apply") : Status::Ok();
      },
      nullptr);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal);
  EXPECT_NE(failed.status().message().find("cannot apply"), std::string::npos);
  EXPECT_EQ(calls, 3);
  std::vector<Record> replayed;
  auto wal = OpenWal(MakeOptions(), &replayed, nullptr);
  EXPECT_EQ(replayed.size(), 5u);
}

TEST_F(WalTest, WithoutSyncCloseMakesRecordsDurable) {
  Options options = MakeOptions();
  options.sync = false;
  std::vector<Record> replayed;
  {
    auto wal = OpenWal(options, &replayed, nullptr);
    for (uint64_t i = 1; i <= 20; ++i) ASSERT_EQ(wal->Append(Payload(i, 10)).value(), i);
    EXPECT_EQ(wal->counters().syncs, 0u);
    ASSERT_TRUE(wal->Close().ok());
    EXPECT_EQ(wal->counters().syncs, 1u);
  }
  auto wal = OpenWal(options, &replayed, nullptr);
  EXPECT_EQ(replayed.size(), 20u);
}

// A real write error: the file size limit (RLIMIT_FSIZE) makes write() fail with EFBIG, as a full
// disk makes it fail with ENOSPC. While it lasts every append is refused; once it is lifted the log
// recovers by itself (on the next append or Writable() after recovery_interval), the records it
// refused are gone, the sequences go on without a gap, and a reopen finds no torn record.
class WalWriteErrorTest : public WalTest {
 protected:
  void LimitFileSize(rlim_t bytes) {
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved_), 0);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    struct rlimit limited = saved_;
    limited.rlim_cur = bytes;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
    limited_ = true;
  }
  void LiftFileSizeLimit() {
    if (!limited_) return;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved_), 0);
    signal(SIGXFSZ, old_handler_);
    limited_ = false;
  }
  void TearDown() override {
    LiftFileSizeLimit();
    WalTest::TearDown();
  }
  Options RecoveringOptions() {
    Options o = MakeOptions();
    o.recovery_interval = kRecoveryInterval;
    o.clock = clock_.Function();
    return o;
  }

  static constexpr std::chrono::milliseconds kRecoveryInterval{50};
  test_sync::ManualSteadyClock clock_;  // the log's: recovery_interval passes only when a test says so

  struct rlimit saved_ {};
  sighandler_t old_handler_ = SIG_DFL;
  bool limited_ = false;
};

TEST_F(WalWriteErrorTest, AppendsAreRefusedWhileTheDiskIsFullAndResumeWithoutAGapOnceItIsNot) {
  std::vector<Record> replayed;
  auto wal = OpenWal(RecoveringOptions(), &replayed, nullptr);
  ASSERT_NE(wal, nullptr);

  LimitFileSize(64 << 10);
  std::vector<Result<uint64_t>> results;
  for (int i = 0; i < 10; ++i) results.push_back(wal->Append(Payload(i, 10 << 10)));
  size_t acked = 0;
  while (acked < results.size() && results[acked].ok()) ++acked;
  ASSERT_EQ(acked, 6u);  // 32 + 6 * (20 + 10240) bytes fit in 64 KiB, the 7th does not
  for (size_t i = acked; i < results.size(); ++i) {
    ASSERT_FALSE(results[i].ok());
    EXPECT_NE(results[i].status().message().find("wal cannot write"), std::string::npos)
        << results[i].status().ToString();
  }
  EXPECT_FALSE(wal->Writable().ok());
  // A recovery attempt while the disk is still full fails, and the log keeps refusing.
  clock_.Advance(kRecoveryInterval);
  EXPECT_FALSE(wal->Writable().ok());
  EXPECT_FALSE(wal->Append(Payload(50, 10 << 10)).ok());
  EXPECT_EQ(wal->counters().recoveries, 0u);

  LiftFileSizeLimit();
  // The next attempt is one recovery_interval after the failed one, not sooner.
  clock_.Advance(kRecoveryInterval - std::chrono::milliseconds(1));
  EXPECT_FALSE(wal->Writable().ok());
  EXPECT_EQ(wal->counters().recoveries, 0u);
  clock_.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(wal->Writable().ok());  // the readiness probe's call recovers it
  EXPECT_EQ(wal->counters().recoveries, 1u);
  EXPECT_GE(wal->counters().write_errors, 1u);
  auto after = wal->Append("after");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, acked + 1);  // no sequence was used up by the refused records
  ASSERT_TRUE(wal->Close().ok());
  wal.reset();

  ReplayStats stats;
  wal = OpenWal(RecoveringOptions(), &replayed, &stats);
  ASSERT_EQ(replayed.size(), acked + 1);
  for (size_t i = 0; i < acked; ++i) EXPECT_EQ(replayed[i], (Record{i + 1, Payload(i, 10 << 10)}));
  EXPECT_EQ(replayed.back(), (Record{acked + 1, "after"}));
  EXPECT_EQ(stats.corrupt_tails, 0u);  // the partly written record was cut away by the recovery
}

TEST_F(WalWriteErrorTest, AnAppendRecoversTheLogWhenNoProbeDid) {
  std::vector<Record> replayed;
  auto wal = OpenWal(RecoveringOptions(), &replayed, nullptr);
  ASSERT_NE(wal, nullptr);
  ASSERT_TRUE(wal->Append("first").ok());
  LimitFileSize(1000);  // below the segment's size already: every write fails
  EXPECT_FALSE(wal->Append(Payload(1, 2000)).ok());
  LiftFileSizeLimit();
  clock_.Advance(kRecoveryInterval - std::chrono::milliseconds(1));
  EXPECT_FALSE(wal->Append("too soon").ok());  // within recovery_interval of the failure
  clock_.Advance(std::chrono::milliseconds(1));
  auto second = wal->Append("second");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, 2u);
  ASSERT_TRUE(wal->Close().ok());
  wal.reset();
  wal = OpenWal(RecoveringOptions(), &replayed, nullptr);
  EXPECT_EQ(replayed, (std::vector<Record>{{1, "first"}, {2, "second"}}));
}

}  // namespace
}  // namespace tb::wal
