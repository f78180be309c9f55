// Restart time with a full WAL: fills a Db's head through its ingester (WAL fdatasync'd, no flush)
// until the head memory budget refuses a batch — the most WAL a server with that budget can have
// to replay — closes it, then times Db::Open, which replays the WAL into a fresh head before it
// returns (the server reports ready right after).
//
//   tb_restart_bench [--head-budget-mib 1024] [--data-dir DIR]
//
// DIR (default: a new folder under /var/tmp) is deleted at the end unless given.
// Last line: RESULT restart spans=.. wal_mib=.. ready_s=.. replay_spans_per_sec=..
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "db/db.h"
#include "objstore/local_store.h"
#include "workload.h"

namespace {

using namespace tb;
namespace fs = std::filesystem;

int Die(const Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}

uint64_t FolderBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) bytes += e.file_size();
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Restart time with a full WAL"};
  uint64_t budget_mib = 1024;
  std::string dir_arg;
  app.add_option("--head-budget-mib", budget_mib, "head memory budget (the server's default: 1024)");
  app.add_option("--data-dir", dir_arg, "folder for the WAL and blocks (kept)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const fs::path dir =
      dir_arg.empty() ? fs::path("/var/tmp") / ("tb-restart-bench." + std::to_string(getpid())) : fs::path(dir_arg);
  fs::remove_all(dir);

  db::DbOptions options;
  options.data_dir = (dir / "db").string();
  options.head_memory_budget_bytes = budget_mib << 20;
  options.background_flush = false;
  auto store = objstore::LocalStore::Open((dir / "store").string());
  if (!store.ok()) return Die(store.status(), "opening the store");

  uint64_t spans = 0;
  {
    auto db = db::Db::Open(options, *store);
    if (!db.ok()) return Die(db.status(), "opening the Db");
    bench::Workload workload;
    const auto t0 = std::chrono::steady_clock::now();
    while (true) {
      model::Traces batch = workload.NextBatch(512);
      const uint64_t n = batch.SpanCount();
      auto result = (*db)->ingester().Ingest(std::move(batch));
      if (!result.ok() && result.status().code() == StatusCode::kResourceExhausted) break;
      if (!result.ok()) return Die(result.status(), "ingest");
      spans += n;
    }
    std::fprintf(stderr, "filled: %llu spans in %.0f s\n", static_cast<unsigned long long>(spans),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (Status s = (*db)->Close(); !s.ok()) return Die(s, "closing the Db");
  }
  const uint64_t wal_bytes = FolderBytes(dir / "db");

  const auto t0 = std::chrono::steady_clock::now();
  auto db = db::Db::Open(options, *store);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!db.ok()) return Die(db.status(), "reopening the Db");
  const uint64_t replayed = (*db)->Stats().active_head.spans;
  if (replayed != spans) {
    std::fprintf(stderr, "replayed %llu spans, wrote %llu\n", static_cast<unsigned long long>(replayed),
                 static_cast<unsigned long long>(spans));
    return 1;
  }
  (void)(*db)->Close();
  db->reset();
  if (dir_arg.empty()) fs::remove_all(dir);
  std::printf("RESULT restart spans=%llu wal_mib=%.0f head_budget_mib=%llu ready_s=%.2f replay_spans_per_sec=%.0f\n",
              static_cast<unsigned long long>(spans), static_cast<double>(wal_bytes) / (1 << 20),
              static_cast<unsigned long long>(budget_mib), seconds, static_cast<double>(spans) / seconds);
  return 0;
}
