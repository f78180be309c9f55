// Reads over an aged store, before and after compaction, against the same spans in one block
// (issue 10 item 10; BENCHMARKS.md "Reads over an aged store"):
//
//   tb_aged_store_bench [--spans 600000] [--blocks 300] [--queries 10] [--lookups 200] [--seed 1]
//                       [--data-dir DIR] [--rebuild] [--zstd-floor] [--compacted-page-kib N]
//
// Builds three stores of the same workload spans, kept in DIR (default
// /var/tmp/tracebucket-bench/aged-<spans>-<blocks>-s<seed>-v<block format version>) while
// DIR/READY exists:
//   aged       --blocks level-0 blocks, as a server cuts them at a steady rate: a flush every
//              spans/blocks spans, one per five minutes of span time;
//   compacted  a copy of `aged` after Db::Compact() ran until nothing was left to do (its wall time
//              is printed while building);
//   one        every span in one block.
// Then each store is read through a fresh Db over a metered local folder:
//   search     the search mix (bench/search_mix.h, --queries per kind and window, depth 20) through
//              FindTraceIds, then the same queries through FindTraces, which also reads every trace
//              found, as Jaeger's FindTraces and the UI's search page do;
//   by ID      --lookups reads of known traces, cold (each the first request of a Db opened for it
//              without block cache: every section and page it needs is read from the store) and
//              warm (the default cache, second pass over the same traces).
// With --zstd-floor, the OTLP protobuf of the same spans compressed by zstd -19 is the size floor.
//
// Output: one line per store and a ratio line per store against `one`:
//   RESULT aged store=.. blocks=.. bytes_per_span=.. ids_p50_ms=.. ids_p99_ms=.. ids_gets_mean=..
//     traces_p50_ms=.. traces_p99_ms=.. cold_p50_ms=.. cold_p99_ms=.. cold_gets_mean=..
//     cold_gets_max=.. warm_p50_ms=.. warm_p99_ms=..
//   RATIO aged store=.. vs=one ids_p50=.. traces_p50=.. cold_p50=.. warm_p50=.. bytes=..
#include <spdlog/spdlog.h>
#include <zstd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "db/db.h"
#include "objstore/local_store.h"
#include "objstore/metering_store.h"
#include "search_mix.h"
#include "wire/otlp_codec.h"
#include "workload.h"

namespace {

using namespace tb;
namespace fs = std::filesystem;

constexpr uint64_t kCutNanos = 5 * 60 * 1'000'000'000ull;  // a server's flush_age
constexpr const char* kStores[] = {"one", "aged", "compacted"};

int Die(const Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}

bench::WorkloadOptions DataSetOptions(uint64_t spans, uint64_t blocks, uint64_t seed) {
  bench::WorkloadOptions o;
  o.seed = seed;
  // ~10.6 spans per trace on average (BENCHMARKS.md): one block's spans per five minutes.
  o.mean_trace_gap_nanos =
      static_cast<uint64_t>(static_cast<double>(blocks * kCutNanos) * 10.6 / static_cast<double>(spans));
  return o;
}

db::DbOptions DbOptionsFor(const fs::path& dir, uint64_t cache_bytes = db::DbOptions{}.cache_bytes) {
  db::DbOptions o;
  o.cache_bytes = cache_bytes;
  o.data_dir = (dir / "db").string();
  o.wal_sync = false;
  o.background_flush = false;
  o.background_compaction = false;
  o.head_memory_budget_bytes = 16ull << 30;
  o.compaction.grace_period = std::chrono::nanoseconds(0);
  return o;
}

Result<std::shared_ptr<objstore::ObjectStore>> OpenStore(const fs::path& dir, bool create) {
  TB_ASSIGN_OR_RETURN(auto store,
                      objstore::LocalStore::Open((dir / "store").string(), {.create_root = create, .sync = false}));
  return std::shared_ptr<objstore::ObjectStore>(std::move(store));
}

Status Build(const fs::path& dir, uint64_t spans, uint64_t blocks, uint64_t seed, bool zstd_floor,
             size_t compacted_page_bytes) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  TB_ASSIGN_OR_RETURN(auto aged_store, OpenStore(dir / "aged", true));
  TB_ASSIGN_OR_RETURN(auto aged, db::Db::Open(DbOptionsFor(dir / "aged"), aged_store));
  TB_ASSIGN_OR_RETURN(auto one_store, OpenStore(dir / "one", true));
  TB_ASSIGN_OR_RETURN(auto one, db::Db::Open(DbOptionsFor(dir / "one"), one_store));
  bench::Workload workload(DataSetOptions(spans, blocks, seed));
  const uint64_t block_spans = std::max<uint64_t>(1, spans / blocks);
  std::vector<model::TraceId> ids;
  std::string proto;
  uint64_t added = 0, in_head = 0;
  while (added < spans) {
    model::Traces batch = workload.NextBatch(512);
    const uint64_t n = batch.SpanCount();
    for (const auto& rs : batch.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& span : ss.spans)
          if (ids.empty() || ids.back() != span.trace_id) ids.push_back(span.trace_id);
    if (zstd_floor) proto += wire::EncodeOtlpProtobuf(batch);
    TB_ASSIGN_OR_RETURN(auto into_one, one->ingester().Ingest(model::Traces(batch)));
    TB_ASSIGN_OR_RETURN(auto into_aged, aged->ingester().Ingest(std::move(batch)));
    if (into_one.rejected_spans + into_aged.rejected_spans != 0) return Status::Internal("spans rejected");
    added += n;
    in_head += n;
    if (in_head >= block_spans) {
      TB_RETURN_IF_ERROR(aged->Flush());
      in_head = 0;
    }
  }
  TB_RETURN_IF_ERROR(aged->Flush());
  TB_RETURN_IF_ERROR(one->Flush());
  TB_RETURN_IF_ERROR(aged->Close());
  TB_RETURN_IF_ERROR(one->Close());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::ofstream(dir / "trace_ids", std::ios::binary)
      .write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * sizeof(ids[0])));

  std::error_code copy_error;
  fs::create_directories(dir / "compacted", copy_error);
  fs::copy(dir / "aged" / "store", dir / "compacted" / "store", fs::copy_options::recursive, copy_error);
  if (copy_error) return Status::IoError("copying the aged store", copy_error.value());
  TB_ASSIGN_OR_RETURN(auto compacted_store, OpenStore(dir / "compacted", false));
  db::DbOptions compaction_options = DbOptionsFor(dir / "compacted");
  if (compacted_page_bytes != 0) compaction_options.compaction.writer.target_page_bytes = compacted_page_bytes;
  TB_ASSIGN_OR_RETURN(auto compacted, db::Db::Open(compaction_options, compacted_store));
  const auto t0 = std::chrono::steady_clock::now();
  TB_ASSIGN_OR_RETURN(db::CompactionSummary summary, compacted->Compact());
  std::fprintf(stderr, "compaction: %zu merges, %zu blocks in, %zu out, %.1f s\n", summary.compactions,
               summary.input_blocks, summary.output_blocks,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  TB_RETURN_IF_ERROR(compacted->Close());

  std::ofstream ready(dir / "READY");
  ready << added << "\n";
  if (zstd_floor) {
    std::string z(ZSTD_compressBound(proto.size()), '\0');
    const size_t zn = ZSTD_compress(z.data(), z.size(), proto.data(), proto.size(), 19);
    if (ZSTD_isError(zn)) return Status::Internal("zstd failed");
    ready << "zstd19_bytes " << zn << "\n";
  }
  return Status::Ok();
}

struct Figures {
  size_t blocks = 0;
  double bytes_per_span = 0;
  std::vector<double> ids_ms, traces_ms, cold_ms, warm_ms;
  double ids_gets = 0, cold_gets = 0;
  uint64_t cold_gets_max = 0;
};

Result<Figures> Measure(const fs::path& dir, uint64_t spans, const std::vector<bench::MixQuery>& plan,
                        const std::vector<model::TraceId>& lookups) {
  Figures f;
  TB_ASSIGN_OR_RETURN(auto local, OpenStore(dir, false));
  auto metered = std::make_shared<objstore::MeteringStore>(local);
  {
    TB_ASSIGN_OR_RETURN(auto db, db::Db::Open(DbOptionsFor(dir), metered));
    uint64_t bytes = 0;
    for (const auto& b : db->PublishedBlocks()) bytes += b.meta.data_size + b.meta.index_size;
    f.blocks = db->PublishedBlocks().size();
    f.bytes_per_span = static_cast<double>(bytes) / static_cast<double>(spans);
    for (const auto& p : plan) {
      metered->Reset();
      const auto t0 = std::chrono::steady_clock::now();
      TB_ASSIGN_OR_RETURN(auto hits, db->engine().FindTraceIds(p.query));
      f.ids_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      f.ids_gets += static_cast<double>(metered->snapshot().gets);
    }
    for (const auto& p : plan) {
      uint64_t read = 0;
      const auto t0 = std::chrono::steady_clock::now();
      TB_RETURN_IF_ERROR(db->engine().FindTraces(p.query, [&](const model::TraceId&, model::Traces&& trace) {
        read += trace.SpanCount();
        return Status::Ok();
      }));
      f.traces_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& id : lookups) {
        const auto t0 = std::chrono::steady_clock::now();
        TB_RETURN_IF_ERROR(
            db->engine().GetTraces({id}, [](const model::TraceId&, model::Traces&&) { return Status::Ok(); }));
        if (pass == 1)
          f.warm_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    TB_RETURN_IF_ERROR(db->Close());
  }
  // Cold: each lookup is the first request of a Db opened for it, with no block cache, so that
  // nothing a reader loads on its first read (trace tables, sections) is there yet.
  for (const auto& id : lookups) {
    TB_ASSIGN_OR_RETURN(auto cold, db::Db::Open(DbOptionsFor(dir, 0), metered));
    metered->Reset();
    uint64_t found = 0;
    const auto t0 = std::chrono::steady_clock::now();
    TB_RETURN_IF_ERROR(cold->engine().GetTraces({id}, [&](const model::TraceId&, model::Traces&& trace) {
      found += trace.SpanCount();
      return Status::Ok();
    }));
    f.cold_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (found == 0) return Status::Internal("a known trace was not found");
    const uint64_t gets = metered->snapshot().gets;
    f.cold_gets += static_cast<double>(gets);
    f.cold_gets_max = std::max(f.cold_gets_max, gets);
    TB_RETURN_IF_ERROR(cold->Close());
  }
  f.ids_gets /= static_cast<double>(plan.size());
  f.cold_gets /= static_cast<double>(lookups.size());
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Reads over an aged store, before and after compaction, against one block"};
  uint64_t spans = 600'000, blocks = 300, seed = 1;
  int queries = 10;
  size_t lookups = 200;
  std::string dir_arg;
  bool rebuild = false, zstd_floor = false;
  app.add_option("--spans", spans);
  app.add_option("--blocks", blocks, "level-0 blocks of the aged store");
  app.add_option("--seed", seed);
  app.add_option("--queries", queries, "queries per kind and window");
  app.add_option("--lookups", lookups, "trace-by-ID reads per store and state");
  app.add_option("--data-dir", dir_arg, "cached data set folder");
  app.add_flag("--rebuild", rebuild, "build the data set even if it is cached");
  size_t compacted_page_kib = 0;
  app.add_option("--compacted-page-kib", compacted_page_kib,
                 "page size of the compaction's outputs (default: the compactor's own) while building");
  app.add_flag("--zstd-floor", zstd_floor, "also compress the spans' OTLP protobuf with zstd -19 while building");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const fs::path dir = dir_arg.empty() ? fs::path("/var/tmp/tracebucket-bench") /
                                             ("aged-" + std::to_string(spans) + "-" + std::to_string(blocks) + "-s" +
                                              std::to_string(seed) + "-v" + std::to_string(block::kFormatVersion))
                                       : fs::path(dir_arg);
  if (rebuild || !fs::exists(dir / "READY")) {
    const auto t0 = std::chrono::steady_clock::now();
    if (Status s = Build(dir, spans, blocks, seed, zstd_floor, compacted_page_kib << 10); !s.ok())
      return Die(s, "building the data set");
    std::fprintf(stderr, "data set built in %.0f s\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  uint64_t zstd19_bytes = 0;
  {
    std::ifstream ready(dir / "READY");
    std::string word;
    ready >> spans;
    if (ready >> word >> zstd19_bytes; word != "zstd19_bytes") zstd19_bytes = 0;
  }
  std::vector<model::TraceId> ids;
  {
    std::ifstream in(dir / "trace_ids", std::ios::binary);
    model::TraceId id;
    while (in.read(reinterpret_cast<char*>(&id), sizeof(id))) ids.push_back(id);
  }
  if (ids.empty()) return Die(Status::Internal("no trace IDs in " + (dir / "trace_ids").string()), "reading");
  std::mt19937_64 rng(seed * 13 + 5);
  std::vector<model::TraceId> sample;
  for (size_t i = 0; i < lookups; ++i)
    sample.push_back(ids[std::uniform_int_distribution<size_t>(0, ids.size() - 1)(rng)]);
  const std::vector<bench::MixQuery> plan =
      bench::PlanSearchMix(DataSetOptions(spans, blocks, seed), blocks * kCutNanos, queries, seed);

  std::vector<Figures> all;
  for (const char* name : kStores) {
    auto f = Measure(dir / name, spans, plan, sample);
    if (!f.ok()) return Die(f.status(), name);
    const auto& x = *f;
    std::printf(
        "RESULT aged store=%s blocks=%zu bytes_per_span=%.2f ids_p50_ms=%.2f ids_p99_ms=%.2f ids_gets_mean=%.1f "
        "traces_p50_ms=%.2f traces_p99_ms=%.2f cold_p50_ms=%.3f cold_p99_ms=%.3f cold_gets_mean=%.2f "
        "cold_gets_max=%llu warm_p50_ms=%.3f warm_p99_ms=%.3f\n",
        name, x.blocks, x.bytes_per_span, bench::Percentile(x.ids_ms, 0.5), bench::Percentile(x.ids_ms, 0.99),
        x.ids_gets, bench::Percentile(x.traces_ms, 0.5), bench::Percentile(x.traces_ms, 0.99),
        bench::Percentile(x.cold_ms, 0.5), bench::Percentile(x.cold_ms, 0.99), x.cold_gets,
        static_cast<unsigned long long>(x.cold_gets_max), bench::Percentile(x.warm_ms, 0.5),
        bench::Percentile(x.warm_ms, 0.99));
    std::fflush(stdout);
    all.push_back(x);
  }
  const auto ratio = [](const std::vector<double>& a, const std::vector<double>& b) {
    return bench::Percentile(a, 0.5) / bench::Percentile(b, 0.5);
  };
  for (size_t i = 1; i < all.size(); ++i)
    std::printf("RATIO aged store=%s vs=one ids_p50=%.2f traces_p50=%.2f cold_p50=%.2f warm_p50=%.2f bytes=%.2f\n",
                kStores[i], ratio(all[i].ids_ms, all[0].ids_ms), ratio(all[i].traces_ms, all[0].traces_ms),
                ratio(all[i].cold_ms, all[0].cold_ms), ratio(all[i].warm_ms, all[0].warm_ms),
                all[i].bytes_per_span / all[0].bytes_per_span);
  if (zstd19_bytes > 0)
    std::printf("RESULT aged zstd19_bytes_per_span=%.2f one_vs_zstd19=%.2f compacted_vs_zstd19=%.2f\n",
                static_cast<double>(zstd19_bytes) / static_cast<double>(spans),
                all[0].bytes_per_span * static_cast<double>(spans) / static_cast<double>(zstd19_bytes),
                all[2].bytes_per_span * static_cast<double>(spans) / static_cast<double>(zstd19_bytes));
  return 0;
}
