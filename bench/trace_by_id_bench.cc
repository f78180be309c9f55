// Trace-by-ID latency over blocks, and the object-store GETs each lookup costs, in three cache
// states, against a local folder or an S3 server:
//
//   cold       every lookup gets fresh block readers with an empty memory cache and no disk tier;
//   pinned     as cold, but each fresh reader has pinned its trace-ID bloom first, as a server's
//              readers do when their blocks join (Db::Adopt); the pinning GETs are not counted;
//   warm       the server's steady state: the same block readers (their parsed index sections)
//              and one memory cache (LruBlockCache, 256 MiB) that have already seen every looked-up ID;
//   warm-fresh one memory cache that has seen every ID, but fresh readers per lookup, which parse
//              the cached index sections again (the "warm" of the first issue-5 suite run);
//   disk-warm  every lookup gets fresh readers with an empty memory cache, over a DiskCacheStore
//              that has already seen every looked-up ID.
//
//   tb_trace_by_id_bench [--storage file|s3] [--spans 1000000] [--block-spans 250000]
//                        [--lookups 200] [--seed 1] [--dir DIR] [--keep] [--states
//                        cold,pinned,warm,warm-fresh,disk-warm]
//
// The blocks are built through the storage engine (db::Db: ingest with the WAL unsynced, a flush
// every --block-spans spans) from the benchmark workload, into DIR/store (file) or a fresh prefix of
// the bucket "tb-bench" (s3: S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY as written by
// scripts/s3-up.sh; the prefix is deleted at the end). With --keep (file only) DIR stays, and a
// later run with the same --dir and --keep reads its blocks instead of building them again (for
// profiling the lookups alone: `perf record` of a run with --states warm). A lookup is QueryEngine::GetTraces of one
// trace ID drawn at random from the ingested traces, asked of every block as the server does.
// GETs are counted by a MeteringStore directly around the folder / S3 store, so disk-cache hits
// do not count.
//
// Output: a table, and one line per state:
//   RESULT trace_by_id storage=<file|s3> state=<cold|pinned|warm|warm-fresh|disk-warm> blocks=.. n=.. p50_ms=..
//   p99_ms=..
//     cpu_p50_ms=.. cpu_p99_ms=.. gets_mean=.. gets_max=.. kib_read_mean=..
// (cpu_*: CPU time of the process during a lookup, all threads; on a busy machine the wall time
// also holds the wait for a core.)
#include <spdlog/spdlog.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "block/block_reader.h"
#include "db/block_list.h"
#include "db/db.h"
#include "objstore/disk_cache_store.h"
#include "objstore/local_store.h"
#include "objstore/metering_store.h"
#include "objstore/s3_store.h"
#include "query/query_engine.h"
#include "workload.h"

namespace {

using namespace tb;
namespace fs = std::filesystem;

constexpr uint64_t kMemoryCacheBytes = 256ull << 20;  // the server's default

struct Args {
  std::string storage = "file";
  uint64_t spans = 1'000'000;
  uint64_t block_spans = 250'000;
  int lookups = 200;
  uint64_t seed = 1;
  std::string dir;
  bool keep = false;
  std::vector<std::string> states = {"cold", "pinned", "warm", "warm-fresh", "disk-warm"};
};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

Result<std::shared_ptr<objstore::ObjectStore>> OpenStore(const Args& args, const fs::path& dir) {
  if (args.storage == "file") {
    TB_ASSIGN_OR_RETURN(auto store, objstore::LocalStore::Open((dir / "store").string(), {.sync = false}));
    return std::shared_ptr<objstore::ObjectStore>(std::move(store));
  }
  if (args.storage != "s3") return Status::InvalidArgument("--storage must be file or s3");
  objstore::S3Options o;
  o.endpoint = Env("S3_ENDPOINT");
  if (o.endpoint.empty()) return Status::InvalidArgument("S3_ENDPOINT is not set: source the env of scripts/s3-up.sh");
  o.region = Env("S3_REGION").empty() ? "us-east-1" : Env("S3_REGION");
  o.access_key = Env("S3_ACCESS_KEY");
  o.secret_key = Env("S3_SECRET_KEY");
  o.bucket = "tb-bench";
  o.prefix = "trace-by-id-" + std::to_string(::getpid()) + "/";
  o.create_bucket = true;
  TB_ASSIGN_OR_RETURN(auto store, objstore::S3Store::Open(o));
  return std::shared_ptr<objstore::ObjectStore>(std::move(store));
}

// Builds the blocks and returns the IDs of every ingested trace.
Result<std::vector<model::TraceId>> Build(const Args& args, const fs::path& dir,
                                          std::shared_ptr<objstore::ObjectStore> store) {
  db::DbOptions o;
  o.data_dir = (dir / "db").string();
  o.wal_sync = false;
  o.background_flush = false;
  o.head_memory_budget_bytes = 16ull << 30;
  TB_ASSIGN_OR_RETURN(auto db, db::Db::Open(o, std::move(store)));
  bench::WorkloadOptions wo;
  wo.seed = args.seed;
  bench::Workload workload(wo);
  std::vector<model::TraceId> ids;
  uint64_t added = 0, in_head = 0;
  while (added < args.spans) {
    model::Traces batch = workload.NextBatch(512);
    for (const auto& rs : batch.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& span : ss.spans) ids.push_back(span.trace_id);
    const uint64_t n = batch.SpanCount();
    TB_ASSIGN_OR_RETURN(auto result, db->ingester().Ingest(std::move(batch)));
    if (result.rejected_spans != 0) return Status::Internal("spans rejected: " + result.message);
    added += n;
    in_head += n;
    if (in_head >= args.block_spans || added >= args.spans) {
      TB_RETURN_IF_ERROR(db->Flush());
      in_head = 0;
    }
  }
  TB_RETURN_IF_ERROR(db->Close());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// The IDs of every trace in the blocks of a kept data set, from their trace tables.
Result<std::vector<model::TraceId>> KeptIds(objstore::ObjectStore* store, const std::vector<block::BlockMeta>& metas) {
  std::vector<query::TraceHit> hits;
  for (const block::BlockMeta& meta : metas) {
    block::BlockReader reader(store, db::BlockPrefix("default", meta.block_id), meta, nullptr);
    TB_RETURN_IF_ERROR(reader.TracesInWindow(0, UINT64_MAX, &hits));
  }
  std::vector<model::TraceId> ids;
  for (const auto& h : hits) ids.push_back(h.trace_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// Readers of every block over `store`, sharing `cache`: the sources the server's engine would ask.
// With `pin`, each has pinned its trace-ID bloom.
Result<query::SourceList> Readers(objstore::ObjectStore* store, const std::vector<block::BlockMeta>& metas,
                                  block::BlockCache* cache, bool pin = false) {
  query::SourceList sources;
  for (const block::BlockMeta& meta : metas) {
    auto reader = std::make_shared<block::BlockReader>(store, db::BlockPrefix("default", meta.block_id), meta, cache);
    if (pin) TB_RETURN_IF_ERROR(reader->PinTraceBloom());
    sources.push_back(std::move(reader));
  }
  return sources;
}

struct Sample {
  double ms = 0;
  double cpu_ms = 0;  // CPU time of the whole process (every thread) during the lookup
  uint64_t gets = 0;
  uint64_t bytes = 0;
};

// On a shared, loaded machine wall time includes waiting for a core; CPU time is the work itself.
double ProcessCpuMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// One lookup through `engine`, timed, with the GETs and bytes `meter` saw.
Result<Sample> Lookup(const query::QueryEngine& engine, const model::TraceId& id, objstore::MeteringStore& meter) {
  meter.Reset();
  size_t spans = 0;
  const double cpu0 = ProcessCpuMs();
  const auto t0 = std::chrono::steady_clock::now();
  TB_RETURN_IF_ERROR(engine.GetTraces({id}, [&](const model::TraceId&, model::Traces&& t) {
    spans += t.SpanCount();
    return Status::Ok();
  }));
  const auto t1 = std::chrono::steady_clock::now();
  const double cpu1 = ProcessCpuMs();
  if (spans == 0) return Status::Internal("trace not found: the data set is broken");
  const auto counters = meter.snapshot();
  return Sample{std::chrono::duration<double, std::milli>(t1 - t0).count(), cpu1 - cpu0, counters.gets,
                counters.get_bytes};
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

void Report(const Args& args, const char* state, size_t blocks, const std::vector<Sample>& samples) {
  std::vector<double> ms, cpu;
  double gets = 0, bytes = 0;
  uint64_t gets_max = 0;
  for (const Sample& s : samples) {
    ms.push_back(s.ms);
    cpu.push_back(s.cpu_ms);
    gets += static_cast<double>(s.gets);
    bytes += static_cast<double>(s.bytes);
    gets_max = std::max(gets_max, s.gets);
  }
  const double n = static_cast<double>(samples.size());
  std::printf(
      "%-10s p50 %8.3f ms  p99 %8.3f ms  (CPU p50 %7.3f, p99 %7.3f ms)  GETs/lookup mean %5.2f max %3llu  KiB "
      "read/lookup %8.1f\n",
      state, Percentile(ms, 0.50), Percentile(ms, 0.99), Percentile(cpu, 0.50), Percentile(cpu, 0.99), gets / n,
      static_cast<unsigned long long>(gets_max), bytes / n / 1024);
  std::printf(
      "RESULT trace_by_id storage=%s state=%s blocks=%zu n=%zu p50_ms=%.3f p99_ms=%.3f cpu_p50_ms=%.3f "
      "cpu_p99_ms=%.3f gets_mean=%.2f gets_max=%llu kib_read_mean=%.1f\n",
      args.storage.c_str(), state, blocks, samples.size(), Percentile(ms, 0.50), Percentile(ms, 0.99),
      Percentile(cpu, 0.50), Percentile(cpu, 0.99), gets / n, static_cast<unsigned long long>(gets_max),
      bytes / n / 1024);
}

int Die(const Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"trace-by-ID latency and GETs per lookup: cold, warm (memory) and disk-warm"};
  app.add_option("--storage", args.storage, "file or s3 (S3_ENDPOINT etc. from scripts/s3-up.sh)");
  app.add_option("--spans", args.spans, "spans in the data set");
  app.add_option("--block-spans", args.block_spans, "spans per block (a flush every this many)");
  app.add_option("--lookups", args.lookups, "lookups per state")->check(CLI::PositiveNumber);
  app.add_option("--seed", args.seed, "workload and lookup seed");
  app.add_option("--dir", args.dir, "scratch folder (default: a new one under /var/tmp), removed at the end");
  app.add_flag("--keep", args.keep, "keep --dir, and reuse the blocks a previous --keep run left there (file only)");
  app.add_option("--states", args.states, "the states to measure, of cold, pinned, warm, warm-fresh, disk-warm")
      ->delimiter(',')
      ->check(CLI::IsMember({"cold", "pinned", "warm", "warm-fresh", "disk-warm"}));
  CLI11_PARSE(app, argc, argv);
  if (args.keep && (args.storage != "file" || args.dir.empty())) {
    std::fprintf(stderr, "--keep needs --storage file and --dir\n");
    return 2;
  }
  const auto wanted = [&](std::string_view state) {
    return std::find(args.states.begin(), args.states.end(), state) != args.states.end();
  };
  spdlog::set_level(spdlog::level::warn);

  fs::path dir =
      args.dir.empty() ? fs::path("/var/tmp") / ("tb-trace-by-id-" + std::to_string(::getpid())) : fs::path(args.dir);
  const bool reuse = args.keep && fs::exists(dir / "store");
  if (!reuse) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  fs::remove_all(dir / "cache");

  auto base = OpenStore(args, dir);
  if (!base.ok()) return Die(base.status(), "store");
  const auto t0 = std::chrono::steady_clock::now();
  Result<std::vector<model::TraceId>> ids = std::vector<model::TraceId>{};
  if (!reuse) ids = Build(args, dir, *base);
  if (!ids.ok()) return Die(ids.status(), "build");
  db::BlockListStore lists(base->get(), "default");
  auto list = lists.LoadLatest();
  if (!list.ok()) return Die(list.status(), "block list");
  std::vector<block::BlockMeta> metas;
  for (const db::ListedBlock& b : list->blocks) metas.push_back(b.meta);
  if (reuse) ids = KeptIds(base->get(), metas);
  if (!ids.ok()) return Die(ids.status(), "kept blocks");
  if (ids->empty()) return Die(Status::NotFound("no traces in " + dir.string()), "kept blocks");
  uint64_t spans = 0;
  for (const block::BlockMeta& meta : metas) spans += meta.span_count;
  std::printf("%s: %llu spans, %zu traces, %zu blocks, %s in %.1f s\n", (*base)->Describe().c_str(),
              static_cast<unsigned long long>(spans), ids->size(), metas.size(), reuse ? "kept, read" : "built",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  std::mt19937_64 rng(args.seed);
  std::vector<model::TraceId> lookups;
  for (int i = 0; i < args.lookups; ++i) lookups.push_back((*ids)[rng() % ids->size()]);

  auto meter = std::make_shared<objstore::MeteringStore>(*base);
  objstore::DiskCacheOptions disk_options;
  disk_options.dir = (dir / "cache").string();
  disk_options.capacity_bytes = 4ull << 30;
  disk_options.cacheable = db::IsImmutableBlockObject;
  auto disk = objstore::DiskCacheStore::Open(meter, disk_options);
  if (!disk.ok()) return Die(disk.status(), "disk cache");

  // Looks up every ID once; `state` null: a pass that only fills a cache, not reported.
  // `kept` non-null: every lookup asks these readers (the server keeps one per block); else fresh
  // readers per lookup.
  auto run = [&](const char* state, objstore::ObjectStore* store, block::BlockCache* shared_cache,
                 const query::QueryEngine* kept = nullptr) -> Status {
    std::vector<Sample> samples;
    for (const model::TraceId& id : lookups) {
      block::LruBlockCache fresh(kMemoryCacheBytes);
      TB_ASSIGN_OR_RETURN(query::SourceList readers,
                          Readers(store, metas, shared_cache != nullptr ? shared_cache : &fresh,
                                  std::string_view(state != nullptr ? state : "") == "pinned"));
      const query::QueryEngine engine(std::move(readers));
      TB_ASSIGN_OR_RETURN(Sample s, Lookup(kept != nullptr ? *kept : engine, id, *meter));
      samples.push_back(s);
    }
    if (state != nullptr) Report(args, state, metas.size(), samples);
    return Status::Ok();
  };

  Status status;
  if (wanted("cold")) status = run("cold", meter.get(), nullptr);
  if (status.ok() && wanted("pinned")) status = run("pinned", meter.get(), nullptr);
  // Warm: the same readers and one memory cache, both having seen every looked-up ID once.
  block::LruBlockCache memory(kMemoryCacheBytes);
  auto server_readers = Readers(meter.get(), metas, &memory);
  if (!server_readers.ok()) return Die(server_readers.status(), "readers");
  const query::QueryEngine server_engine(std::move(server_readers).value());
  if (status.ok() && wanted("warm")) status = run(nullptr, meter.get(), &memory, &server_engine);
  if (status.ok() && wanted("warm")) status = run("warm", meter.get(), &memory, &server_engine);
  // Warm-fresh: that memory cache, fresh readers per lookup.
  if (status.ok() && wanted("warm-fresh")) status = run(nullptr, meter.get(), &memory);
  if (status.ok() && wanted("warm-fresh")) status = run("warm-fresh", meter.get(), &memory);
  // Disk-warm: fill the disk tier once, then fresh memory caches over it.
  if (status.ok() && wanted("disk-warm")) status = run(nullptr, disk->get(), nullptr);
  if (status.ok() && wanted("disk-warm")) status = run("disk-warm", disk->get(), nullptr);
  if (status.ok() && wanted("disk-warm")) {
    const auto stats = (*disk)->stats();
    std::printf("disk cache: %llu entries, %.1f MiB, %llu hits, %llu misses\n",
                static_cast<unsigned long long>(stats.entries), static_cast<double>(stats.bytes) / (1 << 20),
                static_cast<unsigned long long>(stats.hits), static_cast<unsigned long long>(stats.misses));
  }

  if (args.storage == "s3") {
    auto objects = objstore::ListAll(**base, "");
    if (objects.ok()) {
      std::vector<std::string> keys;
      for (auto& o : *objects) keys.push_back(std::move(o.key));
      (void)(*base)->Delete(keys);
    }
  }
  if (!args.keep) fs::remove_all(dir);
  return status.ok() ? 0 : Die(status, "lookup");
}
