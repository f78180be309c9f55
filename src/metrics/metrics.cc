#include "metrics/metrics.h"

#include <dirent.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "util/text.h"

namespace tb::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Durations of background work (compaction runs), from 100 ms to 2 h.
Histogram::BucketBoundaries LongRunBuckets() { return {0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200}; }

// Latencies from 100 µs to ~100 s, factor ~2.5 apart.
Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120};
}

constexpr std::array<std::string_view, 3> kIngestDoorNames = {"otlp_grpc", "otlp_http", "jaeger_v1"};
constexpr std::array<std::string_view, 4> kQueryDoorNames = {"grpc_v2", "grpc_v1", "api_v3", "jaeger_http"};
constexpr std::array<std::string_view, kQueryKinds> kQueryKindNames = {"get_trace", "find_traces", "find_trace_ids",
                                                                       "services",  "operations",  "dependencies"};
constexpr std::array<std::string_view, kRefusalReasons> kRefusalNames = {"limit", "back_pressure", "bad_input",
                                                                         "unavailable"};
constexpr std::array<std::string_view, kStoreOps> kStoreOpNames = {"put", "get", "head", "list", "delete"};
constexpr std::array<StatusCode, 12> kStatusCodesUsed = {StatusCode::kOk,
                                                         StatusCode::kCancelled,
                                                         StatusCode::kInvalidArgument,
                                                         StatusCode::kDeadlineExceeded,
                                                         StatusCode::kNotFound,
                                                         StatusCode::kAlreadyExists,
                                                         StatusCode::kResourceExhausted,
                                                         StatusCode::kFailedPrecondition,
                                                         StatusCode::kUnimplemented,
                                                         StatusCode::kInternal,
                                                         StatusCode::kUnavailable,
                                                         StatusCode::kDataLoss};

// A counter that follows a monotonic count kept elsewhere: each scrape adds what the count grew by.
// A count that went down (its owner was reset, e.g. by a purge) becomes the new baseline.
class FollowedCounter {
 public:
  explicit FollowedCounter(prometheus::Counter* counter) : counter_(counter) {}
  void Follow(double now) {
    if (now > last_) counter_->Increment(now - last_);
    last_ = now;
  }

 private:
  prometheus::Counter* counter_;
  double last_ = 0;
};

struct CacheTierSeries {
  FollowedCounter hits, misses, evictions;
  prometheus::Gauge* bytes;
  void Update(const CacheTierSnapshot& s) {
    hits.Follow(static_cast<double>(s.hits));
    misses.Follow(static_cast<double>(s.misses));
    evictions.Follow(static_cast<double>(s.evictions));
    bytes->Set(static_cast<double>(s.bytes));
  }
};

// What /proc says about this process.
struct ProcessSample {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;
  double open_fds = 0;
  double max_fds = 0;
};

double BootTimeSeconds() {
  std::ifstream stat("/proc/stat");
  for (std::string line; std::getline(stat, line);)
    if (line.starts_with("btime ")) return std::stod(line.substr(6));
  return 0;
}

ProcessSample SampleProcess() {
  ProcessSample p;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  // The command name (field 2) is in parentheses and may hold spaces; fields are counted after it.
  const auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()};
    // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
    auto field = [&](size_t n) { return n - 3 < f.size() ? std::stod(f[n - 3]) : 0.0; };
    p.cpu_seconds = (field(14) + field(15)) / ticks;
    p.start_time_seconds = BootTimeSeconds() + field(22) / ticks;
    p.virtual_bytes = field(23);
    p.resident_bytes = field(24) * page;
  }
  if (DIR* dir = opendir("/proc/self/fd")) {
    int entries = 0;
    while (readdir(dir) != nullptr) ++entries;
    closedir(dir);
    p.open_fds = std::max(0, entries - 3);  // ".", ".." and the descriptor reading the folder
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) p.max_fds = static_cast<double>(limit.rlim_cur);
  return p;
}

}  // namespace

RefusalReason IngestMetrics::ReasonFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kResourceExhausted: return RefusalReason::kBackPressure;
    case StatusCode::kInvalidArgument: return RefusalReason::kBadInput;
    case StatusCode::kFailedPrecondition: return RefusalReason::kLimit;
    default: return RefusalReason::kUnavailable;
  }
}

struct Metrics::State {
  prometheus::Gauge *wal_bytes, *wal_segments, *head_spans, *head_traces, *head_bytes, *flush_pending, *blocks,
      *spool_blocks, *spool_bytes;
  CacheTierSeries memory_cache, disk_cache;
  FollowedCounter cpu_seconds;
  prometheus::Gauge *resident_bytes, *virtual_bytes, *start_time, *open_fds, *max_fds;
};

Metrics::Metrics(const BuildInfo& build, std::string tenant) : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  BuildGauge()
      .Name("tracebucket_build_info")
      .Help("Always 1; the labels name the running build")
      .Register(r)
      .Add({{"version", build.version}, {"commit", build.commit}})
      .Set(1);

  // Ingest, per door.
  auto& ingest_requests = BuildCounter()
                              .Name("tracebucket_ingest_requests_total")
                              .Help("Write requests answered, accepted or refused")
                              .Register(r);
  auto& ingest_spans =
      BuildCounter().Name("tracebucket_ingest_spans_total").Help("Spans accepted and stored").Register(r);
  auto& ingest_bytes = BuildCounter()
                           .Name("tracebucket_ingest_bytes_total")
                           .Help("Bytes of accepted write requests, after transport decompression")
                           .Register(r);
  auto& ingest_rejected = BuildCounter()
                              .Name("tracebucket_ingest_rejected_spans_total")
                              .Help("Spans of accepted requests dropped by the per-trace span limit")
                              .Register(r);
  auto& ingest_refused = BuildCounter()
                             .Name("tracebucket_ingest_refused_requests_total")
                             .Help("Write requests refused whole, by reason")
                             .Register(r);
  for (size_t d = 0; d < ingest_.size(); ++d) {
    const prometheus::Labels labels = {{"door", std::string(kIngestDoorNames[d])}, {"tenant", tenant}};
    IngestMetrics::Series s;
    s.requests = CounterRef(&ingest_requests.Add(labels));
    s.spans = CounterRef(&ingest_spans.Add(labels));
    s.bytes = CounterRef(&ingest_bytes.Add(labels));
    s.rejected_spans = CounterRef(&ingest_rejected.Add(labels));
    for (size_t reason = 0; reason < kRefusalReasons; ++reason) {
      s.refused[reason] = CounterRef(&ingest_refused.Add(
          {{"door", std::string(kIngestDoorNames[d])}, {"reason", std::string(kRefusalNames[reason])}}));
    }
    ingest_[d] = IngestMetrics(s);
  }

  // Queries, per door and kind.
  auto& query_requests =
      BuildCounter().Name("tracebucket_query_requests_total").Help("Query requests answered").Register(r);
  auto& query_errors =
      BuildCounter().Name("tracebucket_query_errors_total").Help("Query requests that failed").Register(r);
  auto& query_duration =
      BuildHistogram().Name("tracebucket_query_duration_seconds").Help("Time to answer a query request").Register(r);
  for (size_t d = 0; d < query_.size(); ++d) {
    std::array<QueryMetrics::Kind, kQueryKinds> kinds;
    for (size_t k = 0; k < kQueryKinds; ++k) {
      const prometheus::Labels labels = {
          {"door", std::string(kQueryDoorNames[d])}, {"kind", std::string(kQueryKindNames[k])}, {"tenant", tenant}};
      kinds[k].requests = CounterRef(&query_requests.Add(labels));
      kinds[k].errors = CounterRef(&query_errors.Add(labels));
      kinds[k].duration_seconds = HistogramRef(&query_duration.Add(labels, LatencyBuckets()));
    }
    query_[d] = QueryMetrics(kinds);
  }
  block_reads_.blocks = CounterRef(&BuildCounter()
                                        .Name("tracebucket_query_blocks_read_total")
                                        .Help("Blocks that read index sections or pages for a query")
                                        .Register(r)
                                        .Add({}));
  block_reads_.pages = CounterRef(&BuildCounter()
                                       .Name("tracebucket_query_pages_read_total")
                                       .Help("Block pages decoded by queries")
                                       .Register(r)
                                       .Add({}));
  block_reads_.bytes = CounterRef(&BuildCounter()
                                       .Name("tracebucket_query_read_bytes_total")
                                       .Help("Block bytes queries fetched from the object store (cache misses)")
                                       .Register(r)
                                       .Add({}));

  // WAL.
  wal_.fsync_seconds = HistogramRef(&BuildHistogram()
                                         .Name("tracebucket_wal_fsync_duration_seconds")
                                         .Help("Time of one fdatasync of a WAL segment")
                                         .Register(r)
                                         .Add({}, LatencyBuckets()));
  wal_.group_commit_records =
      HistogramRef(&BuildHistogram()
                        .Name("tracebucket_wal_group_commit_records")
                        .Help("Records written and synced together by one group commit")
                        .Register(r)
                        .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256}));

  admission_wait_seconds_ =
      HistogramRef(&BuildHistogram()
                        .Name("tracebucket_ingest_admission_wait_seconds")
                        .Help("Time a write waited for a flush to free the full head (head.admission_wait), "
                              "whether room came or not")
                        .Register(r)
                        .Add({}, LatencyBuckets()));

  // Flushes.
  flush_.duration_seconds = HistogramRef(&BuildHistogram()
                                              .Name("tracebucket_flush_duration_seconds")
                                              .Help("Time to write one head as a block and publish it")
                                              .Register(r)
                                              .Add({}, LatencyBuckets()));
  flush_.blocks = CounterRef(
      &BuildCounter().Name("tracebucket_flush_blocks_total").Help("Blocks written by flushes").Register(r).Add({}));
  flush_.bytes = CounterRef(&BuildCounter()
                                 .Name("tracebucket_flush_bytes_total")
                                 .Help("Bytes of the blocks written by flushes (data and index)")
                                 .Register(r)
                                 .Add({}));
  flush_.spans = CounterRef(
      &BuildCounter().Name("tracebucket_flush_spans_total").Help("Spans written into blocks").Register(r).Add({}));
  flush_.failures = CounterRef(&BuildCounter()
                                    .Name("tracebucket_flush_failures_total")
                                    .Help("Flush attempts that failed (the head stays pending and is retried)")
                                    .Register(r)
                                    .Add({}));

  // Compaction and retention.
  auto counter = [&](const char* name, const char* help) {
    return CounterRef(&BuildCounter().Name(name).Help(help).Register(r).Add({}));
  };
  compaction_.duration_seconds = HistogramRef(&BuildHistogram()
                                                   .Name("tracebucket_compaction_duration_seconds")
                                                   .Help("Time of one compaction run, until nothing was left to do")
                                                   .Register(r)
                                                   .Add({}, LongRunBuckets()));
  compaction_.runs = counter("tracebucket_compaction_runs_total", "Compaction and retention runs");
  compaction_.failures =
      counter("tracebucket_compaction_failures_total", "Compaction runs that stopped on an error (retried later)");
  compaction_.lease_held_elsewhere = counter("tracebucket_compaction_lease_held_elsewhere_total",
                                             "Compaction runs that found another process holding the tenant's lease");
  compaction_.input_blocks = counter("tracebucket_compaction_input_blocks_total", "Blocks merged away by compaction");
  compaction_.output_blocks = counter("tracebucket_compaction_output_blocks_total", "Blocks written by compaction");
  compaction_.input_bytes =
      counter("tracebucket_compaction_input_bytes_total", "Data and index bytes of the blocks merged away");
  compaction_.output_bytes =
      counter("tracebucket_compaction_output_bytes_total", "Data and index bytes of the blocks compaction wrote");
  compaction_.output_spans = counter("tracebucket_compaction_output_spans_total", "Spans written by compaction");
  compaction_.duplicate_spans_dropped = counter("tracebucket_compaction_duplicate_spans_dropped_total",
                                                "Spans identical in every byte to another of their trace, kept once");
  compaction_.expired_blocks =
      counter("tracebucket_retention_expired_blocks_total", "Blocks retired because all their spans passed retention");
  compaction_.swept_blocks = counter("tracebucket_compaction_swept_blocks_total",
                                     "Retired blocks deleted after the grace period, and abandoned compaction outputs");

  // Object store.
  auto& store_requests = BuildCounter()
                             .Name("tracebucket_objstore_requests_total")
                             .Help("Object store calls, by operation and outcome")
                             .Register(r);
  auto& store_duration = BuildHistogram()
                             .Name("tracebucket_objstore_request_duration_seconds")
                             .Help("Time of one object store call, retries included")
                             .Register(r);
  for (size_t op = 0; op < kStoreOps; ++op) {
    const std::string operation(kStoreOpNames[op]);
    for (StatusCode code : kStatusCodesUsed) {
      object_store_.requests[op][static_cast<size_t>(code)] =
          CounterRef(&store_requests.Add({{"operation", operation}, {"status", AsciiLowercase(StatusCodeName(code))}}));
    }
    object_store_.duration_seconds[op] =
        HistogramRef(&store_duration.Add({{"operation", operation}}, LatencyBuckets()));
  }
  object_store_.read_bytes = CounterRef(&BuildCounter()
                                             .Name("tracebucket_objstore_read_bytes_total")
                                             .Help("Bytes returned by object store GETs")
                                             .Register(r)
                                             .Add({}));
  object_store_.written_bytes = CounterRef(&BuildCounter()
                                                .Name("tracebucket_objstore_written_bytes_total")
                                                .Help("Bytes of the objects stored by PUTs")
                                                .Register(r)
                                                .Add({}));
  object_store_.retries = CounterRef(&BuildCounter()
                                          .Name("tracebucket_objstore_retries_total")
                                          .Help("Object store attempts that failed transiently and were retried")
                                          .Register(r)
                                          .Add({}));

  // State read at scrape time.
  auto gauge = [&](const char* name, const char* help, const prometheus::Labels& labels = {}) {
    return &BuildGauge().Name(name).Help(help).Register(r).Add(labels);
  };
  auto& cache_hits = BuildCounter().Name("tracebucket_cache_hits_total").Help("Block cache hits, per tier").Register(r);
  auto& cache_misses =
      BuildCounter().Name("tracebucket_cache_misses_total").Help("Block cache misses, per tier").Register(r);
  auto& cache_evictions = BuildCounter()
                              .Name("tracebucket_cache_evictions_total")
                              .Help("Entries dropped from the block cache to stay within its size, per tier")
                              .Register(r);
  auto& cache_bytes =
      BuildGauge().Name("tracebucket_cache_bytes").Help("Bytes held by the block cache, per tier").Register(r);
  auto tier = [&](const char* name) {
    const prometheus::Labels labels = {{"tier", name}};
    return CacheTierSeries{FollowedCounter(&cache_hits.Add(labels)), FollowedCounter(&cache_misses.Add(labels)),
                           FollowedCounter(&cache_evictions.Add(labels)), &cache_bytes.Add(labels)};
  };
  const prometheus::Labels tenant_label = {{"tenant", tenant}};
  state_ = std::unique_ptr<State>(new State{
      gauge("tracebucket_wal_size_bytes", "Bytes of the WAL's segment files"),
      gauge("tracebucket_wal_segments", "WAL segment files"),
      gauge("tracebucket_head_spans", "Spans in memory (the active head and heads being flushed)", tenant_label),
      gauge("tracebucket_head_traces", "Traces in memory (counted once per head)", tenant_label),
      gauge("tracebucket_head_bytes", "Estimated memory of the heads", tenant_label),
      gauge("tracebucket_flush_pending", "Heads waiting for, or in, a flush"),
      gauge("tracebucket_blocks", "Published blocks served by queries", tenant_label),
      gauge("tracebucket_spool_blocks", "Blocks in the local spool, waiting for the object store", tenant_label),
      gauge("tracebucket_spool_bytes", "Data and index bytes of the spooled blocks", tenant_label),
      tier("memory"),
      tier("disk"),
      FollowedCounter(&BuildCounter()
                           .Name("process_cpu_seconds_total")
                           .Help("User and system CPU time of the process")
                           .Register(r)
                           .Add({})),
      gauge("process_resident_memory_bytes", "Resident memory of the process"),
      gauge("process_virtual_memory_bytes", "Virtual memory of the process"),
      gauge("process_start_time_seconds", "Start time of the process since the Unix epoch"),
      gauge("process_open_fds", "Open file descriptors"),
      gauge("process_max_fds", "Limit of open file descriptors"),
  });
}

Metrics::~Metrics() = default;

void Metrics::SetStateSource(std::function<StateSnapshot()> source) {
  std::lock_guard lock(scrape_mu_);
  source_ = std::move(source);
}

void Metrics::Refresh() {
  State& st = *state_;
  if (source_) {
    const StateSnapshot s = source_();
    st.wal_bytes->Set(static_cast<double>(s.wal_bytes));
    st.wal_segments->Set(static_cast<double>(s.wal_segments));
    st.head_spans->Set(static_cast<double>(s.head_spans));
    st.head_traces->Set(static_cast<double>(s.head_traces));
    st.head_bytes->Set(static_cast<double>(s.head_bytes));
    st.flush_pending->Set(static_cast<double>(s.flush_pending));
    st.blocks->Set(static_cast<double>(s.blocks));
    st.spool_blocks->Set(static_cast<double>(s.spool_blocks));
    st.spool_bytes->Set(static_cast<double>(s.spool_bytes));
    st.memory_cache.Update(s.memory_cache);
    if (s.disk_cache) st.disk_cache.Update(*s.disk_cache);
  }
  const ProcessSample p = SampleProcess();
  st.cpu_seconds.Follow(p.cpu_seconds);
  st.resident_bytes->Set(p.resident_bytes);
  st.virtual_bytes->Set(p.virtual_bytes);
  st.start_time->Set(p.start_time_seconds);
  st.open_fds->Set(p.open_fds);
  st.max_fds->Set(p.max_fds);
}

std::string Metrics::Scrape() {
  std::lock_guard lock(scrape_mu_);
  Refresh();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

std::vector<std::string> Metrics::FamilyNames() const {
  std::vector<std::string> names;
  for (const auto& family : registry_->Collect()) names.push_back(family.name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace tb::metrics
