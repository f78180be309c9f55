// Compaction throughput and peak memory (BENCHMARKS.md, "Compaction"):
//
//   tb_compact_bench build   --dir DIR [--spans 500000] [--block-spans 100000] [--seed 1]
//   tb_compact_bench compact --dir DIR [--memory-budget 64MiB] [--zstd-level 9]
//
// build: ingests the benchmark workload through db::Db (WAL unsynced, no background work) into
// the local folder DIR/store, with a flush every --block-spans spans (level-0 blocks as a server
// cuts them, traces split across blocks at each cut), and writes DIR/inputs.txt: the spans and
// their estimated in-memory size (head::EstimateMemory, what compaction.memory_budget bounds).
//
// compact: runs db::Compactor::RunUntilDone over DIR/store in a process of its own, so that its
// peak RSS (getrusage ru_maxrss) is the compaction's alone. Prints
//   RESULT compaction spans=.. input_blocks=.. output_blocks=.. input_mb=.. output_mb=.. wall_s=..
//     cpu_s=.. spans_per_s=.. spans_per_cpu_s=.. input_mb_per_cpu_s=.. peak_rss_mb=.. budget_mb=..
//     input_estimate_mb=..
// (cpu_s: user + system time of the process, all threads; per core = per CPU second.)
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "db/block_list.h"
#include "db/compactor.h"
#include "db/db.h"
#include "head/head.h"
#include "objstore/local_store.h"
#include "workload.h"

namespace {

using namespace tb;
namespace fs = std::filesystem;

int Die(const Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}

Result<std::shared_ptr<objstore::ObjectStore>> OpenStore(const fs::path& dir) {
  TB_ASSIGN_OR_RETURN(auto store, objstore::LocalStore::Open((dir / "store").string(), {.sync = false}));
  return std::shared_ptr<objstore::ObjectStore>(std::move(store));
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

Status Build(const fs::path& dir, uint64_t spans, uint64_t block_spans, uint64_t seed) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  TB_ASSIGN_OR_RETURN(auto store, OpenStore(dir));
  db::DbOptions o;
  o.data_dir = (dir / "db").string();
  o.wal_sync = false;
  o.background_flush = false;
  o.background_compaction = false;
  o.head_memory_budget_bytes = 16ull << 30;
  TB_ASSIGN_OR_RETURN(auto db, db::Db::Open(o, store));
  bench::WorkloadOptions wo;
  wo.seed = seed;
  bench::Workload workload(wo);
  uint64_t added = 0, in_head = 0, estimate = 0;
  while (added < spans) {
    model::Traces batch = workload.NextBatch(512);
    const uint64_t n = batch.SpanCount();
    estimate += head::EstimateMemory(batch);
    TB_ASSIGN_OR_RETURN(auto result, db->ingester().Ingest(std::move(batch)));
    if (result.rejected_spans != 0) return Status::Internal("spans rejected: " + result.message);
    added += n;
    in_head += n;
    if (in_head >= block_spans || added >= spans) {
      TB_RETURN_IF_ERROR(db->Flush());
      in_head = 0;
    }
  }
  TB_RETURN_IF_ERROR(db->Close());
  std::ofstream(dir / "inputs.txt") << added << " " << estimate << "\n";
  std::printf("built %llu spans in %zu blocks; estimated in memory: %.1f MB\n", static_cast<unsigned long long>(added),
              db->Stats().blocks, static_cast<double>(estimate) / 1e6);
  return Status::Ok();
}

Status Compact(const fs::path& dir, uint64_t budget, int zstd_level) {
  uint64_t spans = 0, estimate = 0;
  std::ifstream(dir / "inputs.txt") >> spans >> estimate;
  if (spans == 0) return Status::NotFound((dir / "inputs.txt").string() + ": run `build` first");
  TB_ASSIGN_OR_RETURN(auto store, OpenStore(dir));
  db::CompactionOptions options;
  options.memory_budget_bytes = budget;
  options.writer.zstd_level = zstd_level;
  const std::string instance = db::RandomInstanceId();
  uint64_t counter = 0;
  db::Compactor compactor(
      store.get(), "default", instance, [&] { return db::MakeBlockId(instance, ++counter); }, options);
  const double cpu0 = CpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  TB_ASSIGN_OR_RETURN(db::CompactionSummary s, compactor.RunUntilDone({}));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = CpuSeconds() - cpu0;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const double mb = 1e6;
  std::printf(
      "RESULT compaction spans=%llu input_blocks=%zu output_blocks=%zu input_mb=%.1f output_mb=%.1f wall_s=%.2f "
      "cpu_s=%.2f spans_per_s=%.0f spans_per_cpu_s=%.0f input_mb_per_cpu_s=%.2f peak_rss_mb=%.1f budget_mb=%.1f "
      "input_estimate_mb=%.1f duplicates=%llu\n",
      static_cast<unsigned long long>(s.input_spans), s.input_blocks, s.output_blocks,
      static_cast<double>(s.input_bytes) / mb, static_cast<double>(s.output_bytes) / mb, wall, cpu,
      static_cast<double>(s.input_spans) / wall, static_cast<double>(s.input_spans) / cpu,
      static_cast<double>(s.input_bytes) / mb / cpu, static_cast<double>(u.ru_maxrss) * 1024 / mb,
      static_cast<double>(budget) / mb, static_cast<double>(estimate) / mb,
      static_cast<unsigned long long>(s.duplicate_spans_dropped));
  if (s.input_spans != spans)
    return Status::Internal("compacted " + std::to_string(s.input_spans) + " of " + std::to_string(spans) + " spans");
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  mallopt(M_ARENA_MAX, 2);  // as the server
  spdlog::set_level(spdlog::level::warn);
  CLI::App app{"compaction throughput and peak RSS"};
  app.require_subcommand(1);
  std::string dir;
  uint64_t spans = 500'000, block_spans = 100'000, seed = 1;
  auto* build = app.add_subcommand("build", "write level-0 blocks of the workload");
  build->add_option("--dir", dir)->required();
  build->add_option("--spans", spans);
  build->add_option("--block-spans", block_spans);
  build->add_option("--seed", seed);
  std::string budget_text = "64MiB";
  int zstd_level = 9;
  auto* compact = app.add_subcommand("compact", "compact them, in a process of its own");
  compact->add_option("--dir", dir)->required();
  compact->add_option("--memory-budget", budget_text);
  compact->add_option("--zstd-level", zstd_level);
  CLI11_PARSE(app, argc, argv);
  if (build->parsed()) {
    Status s = Build(dir, spans, block_spans, seed);
    return s.ok() ? 0 : Die(s, "build");
  }
  uint64_t budget = 0;
  if (auto [end, error] = std::from_chars(budget_text.data(), budget_text.data() + budget_text.size(), budget);
      error != std::errc()) {
    return Die(Status::InvalidArgument("--memory-budget: " + budget_text), "args");
  } else if (std::string_view(end) == "MiB") {
    budget <<= 20;
  } else if (!std::string_view(end).empty()) {
    return Die(Status::InvalidArgument("--memory-budget takes N or NMiB"), "args");
  }
  Status s = Compact(dir, budget, zstd_level);
  return s.ok() ? 0 : Die(s, "compact");
}
