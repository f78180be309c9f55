// Search latency over blocks in a local folder: the mix (service; service + operation;
// service + tag; tag only; duration range), each in 1 h and 24 h windows, over a data set of
// --spans spans (default 10M) spread evenly over 48 h.
//
//   tb_search_bench [--spans 10000000] [--data-dir DIR] [--queries 20] [--seed 1]
//
// The data set is built once through the storage engine itself (db::Db: ingest with the WAL
// unsynced, an explicit flush every --block-spans spans) into DIR (default
// /var/tmp/tracebucket-bench/search-<spans>-s<seed>-v<block format version>) and reused while
// DIR/READY exists; --rebuild (or deleting the folder) builds it again, as is needed after a
// change to the block format that kept its version number. Then a fresh Db (the default 256 MiB block cache, empty)
// answers
// --queries queries per kind and window, with random parameters, in a shuffled order. Every
// query's object-store reads are counted (MeteringStore).
//
// The floor of a query is the time to read the bytes it touched from the page cache: the bytes a
// second pass of the same queries reads through a Db without a block cache (so every section,
// posting list, bloom partition and page column a query uses is read from the store, as when
// cold), divided by the page-cache read bandwidth measured in the same run (re-reading the block
// files in 1 MiB chunks). It ignores per-read overheads, so it is a lower bound. (The timed pass's
// own bytes read are mostly 0: the block cache holds what earlier queries read.)
//
// Output: a table, then one machine-readable line per (kind, window) and one for the whole mix:
//   RESULT search query=<kind> window=<1h|24h> n=.. p50_ms=.. p99_ms=.. floor_p50_us=.. gets_mean=..
//     kib_read_mean=.. traces_found_p50=..
//   RESULT search query=all window=all spans=.. blocks=.. p50_ms=.. p99_ms=.. floor_p50_us=.. ..
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "db/db.h"
#include "objstore/local_store.h"
#include "objstore/metering_store.h"
#include "search_mix.h"
#include "workload.h"

namespace {

using namespace tb;
namespace fs = std::filesystem;

constexpr uint64_t kDataSpan = 48 * bench::kHourNanos;

int Die(const Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}

bench::WorkloadOptions DataSetOptions(uint64_t spans, uint64_t seed) {
  bench::WorkloadOptions o;
  o.seed = seed;
  // ~10.6 spans per trace on average (BENCHMARKS.md): spread the traces over kDataSpan.
  o.mean_trace_gap_nanos = static_cast<uint64_t>(static_cast<double>(kDataSpan) * 10.6 / static_cast<double>(spans));
  return o;
}

db::DbOptions DbOptionsFor(const fs::path& dir, uint64_t cache_bytes = db::DbOptions{}.cache_bytes) {
  db::DbOptions o;
  o.cache_bytes = cache_bytes;
  o.data_dir = (dir / "db").string();
  o.wal_sync = false;
  o.background_flush = false;
  o.head_memory_budget_bytes = 16ull << 30;
  return o;
}

Status Build(const fs::path& dir, uint64_t spans, uint64_t seed, uint64_t block_spans) {
  fs::remove_all(dir);
  TB_ASSIGN_OR_RETURN(auto store, objstore::LocalStore::Open((dir / "store").string(), {.sync = false}));
  TB_ASSIGN_OR_RETURN(auto db, db::Db::Open(DbOptionsFor(dir), store));
  bench::Workload workload(DataSetOptions(spans, seed));
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t added = 0, in_head = 0;
  while (added < spans) {
    model::Traces batch = workload.NextBatch(512);
    const uint64_t n = batch.SpanCount();
    TB_ASSIGN_OR_RETURN(auto result, db->ingester().Ingest(std::move(batch)));
    if (result.rejected_spans != 0) return Status::Internal("spans rejected: " + result.message);
    added += n;
    in_head += n;
    if (in_head >= block_spans || added >= spans) {
      TB_RETURN_IF_ERROR(db->Flush());
      in_head = 0;
      std::fprintf(stderr, "built %llu / %llu spans (%.0f s)\n", static_cast<unsigned long long>(added),
                   static_cast<unsigned long long>(spans),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  TB_RETURN_IF_ERROR(db->Close());
  std::ofstream(dir / "READY") << added << "\n";
  return Status::Ok();
}

// Bytes per second of read() from files already in the page cache.
double PageCacheBandwidth(const fs::path& root) {
  std::vector<char> buf(1 << 20);
  auto pass = [&] {
    uint64_t bytes = 0;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (!e.is_regular_file()) continue;
      const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) bytes += static_cast<uint64_t>(n);
      ::close(fd);
      if (bytes > (2ull << 30)) break;  // enough for a rate
    }
    return bytes;
  };
  pass();  // bring the files into the page cache
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t bytes = pass();
  return static_cast<double>(bytes) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Sample {
  double ms = 0, floor_us = 0;
  uint64_t gets = 0, bytes = 0, found = 0;
};

void Report(const char* kind, const char* window, const std::vector<Sample>& samples, const std::string& extra) {
  std::vector<double> ms, floor_us, found;
  double gets = 0, bytes = 0;
  for (const auto& s : samples) {
    ms.push_back(s.ms);
    floor_us.push_back(s.floor_us);
    found.push_back(static_cast<double>(s.found));
    gets += static_cast<double>(s.gets);
    bytes += static_cast<double>(s.bytes);
  }
  const double n = static_cast<double>(samples.size());
  std::printf(
      "RESULT search query=%s window=%s n=%zu%s p50_ms=%.2f p99_ms=%.2f floor_p50_us=%.1f gets_mean=%.1f "
      "kib_read_mean=%.0f traces_found_p50=%.0f\n",
      kind, window, samples.size(), extra.c_str(), bench::Percentile(ms, 0.5), bench::Percentile(ms, 0.99),
      bench::Percentile(floor_us, 0.5), gets / n, bytes / n / 1024, bench::Percentile(found, 0.5));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Search latency over blocks in a local folder"};
  uint64_t spans = 10'000'000, seed = 1, block_spans = 1'000'000;
  int queries = 20;
  std::string dir_arg;
  bool rebuild = false;
  app.add_option("--spans", spans);
  app.add_option("--seed", seed);
  app.add_option("--block-spans", block_spans, "spans per flushed block while building");
  app.add_option("--queries", queries, "queries per kind and window");
  app.add_option("--data-dir", dir_arg, "cached data set folder");
  app.add_flag("--rebuild", rebuild, "build the data set even if it is cached");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const fs::path dir = dir_arg.empty() ? fs::path("/var/tmp/tracebucket-bench") /
                                             ("search-" + std::to_string(spans) + "-s" + std::to_string(seed) + "-v" +
                                              std::to_string(block::kFormatVersion))
                                       : fs::path(dir_arg);
  if (rebuild || !fs::exists(dir / "READY")) {
    const auto t0 = std::chrono::steady_clock::now();
    if (Status s = Build(dir, spans, seed, block_spans); !s.ok()) return Die(s, "building the data set");
    std::fprintf(stderr, "data set built in %.0f s\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  const double bandwidth = PageCacheBandwidth(dir / "store");
  auto local = objstore::LocalStore::Open((dir / "store").string(), {.create_root = false, .sync = false});
  if (!local.ok()) return Die(local.status(), "opening the store");
  auto metered = std::make_shared<objstore::MeteringStore>(*local);
  auto opened = db::Db::Open(DbOptionsFor(dir), metered);
  if (!opened.ok()) return Die(opened.status(), "opening the Db");
  auto& db = **opened;
  const db::DbStats stats = db.Stats();

  const std::vector<bench::MixQuery> plan = bench::PlanSearchMix(DataSetOptions(spans, seed), kDataSpan, queries, seed);

  std::vector<Sample> timed;
  for (const auto& p : plan) {
    metered->Reset();
    const auto t0 = std::chrono::steady_clock::now();
    auto hits = db.engine().FindTraceIds(p.query);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!hits.ok()) return Die(hits.status(), "search");
    const auto c = metered->snapshot();
    timed.push_back(Sample{ms, 0, c.gets, c.get_bytes, hits->size()});
  }
  if (Status s = db.Close(); !s.ok()) return Die(s, "closing the Db");
  opened->reset();
  {  // the floor: bytes each query touches, read through a Db that caches nothing
    auto uncached = db::Db::Open(DbOptionsFor(dir, 0), metered);
    if (!uncached.ok()) return Die(uncached.status(), "opening the uncached Db");
    for (size_t i = 0; i < plan.size(); ++i) {
      metered->Reset();
      auto hits = (*uncached)->engine().FindTraceIds(plan[i].query);
      if (!hits.ok()) return Die(hits.status(), "search without cache");
      timed[i].floor_us = 1e6 * static_cast<double>(metered->snapshot().get_bytes) / bandwidth;
    }
    if (Status s = (*uncached)->Close(); !s.ok()) return Die(s, "closing the uncached Db");
  }
  std::vector<std::vector<Sample>> samples(bench::kMixGroups);
  for (size_t i = 0; i < plan.size(); ++i) samples[plan[i].group()].push_back(timed[i]);
  const std::vector<Sample>& all = timed;

  std::printf("data set %s: %llu spans over 48 h, %zu blocks; page cache read %.0f MB/s\n", dir.c_str(),
              static_cast<unsigned long long>(spans), stats.blocks, bandwidth / 1e6);
  for (size_t k = 0; k < std::size(bench::kMixKinds); ++k)
    for (size_t w = 0; w < std::size(bench::kMixWindows); ++w)
      Report(bench::kMixKinds[k], bench::kMixWindowNames[w], samples[k * std::size(bench::kMixWindows) + w], "");
  Report("all", "all", all, " spans=" + std::to_string(spans) + " blocks=" + std::to_string(stats.blocks));
  return 0;
}
