#include "metrics/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "metrics/testing.h"

namespace tb::metrics {
namespace {

constexpr auto Sample = ExposedValue;

TEST(MetricsTest, EveryFamilyIsDocumented) {
  std::ifstream doc(std::string(TB_SOURCE_DIR) + "/docs/metrics.md");
  ASSERT_TRUE(doc.good()) << "docs/metrics.md is missing";
  std::stringstream buffer;
  buffer << doc.rdbuf();
  const std::string text = buffer.str();
  Metrics metrics(CurrentBuild(), "default");
  const std::vector<std::string> names = metrics.FamilyNames();
  ASSERT_GT(names.size(), 30u);
  for (const std::string& name : names) {
    // Each family has a table row that starts with its name in backquotes.
    EXPECT_NE(text.find("| `" + name + "` |"), std::string::npos)
        << name << " is registered but not listed in docs/metrics.md";
  }
  // And the doc lists nothing that is not registered.
  std::regex row(R"(\n\| `([a-z_]+)` \|)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), row); it != std::sregex_iterator(); ++it) {
    const std::string listed = (*it)[1];
    EXPECT_TRUE(std::binary_search(names.begin(), names.end(), listed))
        << listed << " is in docs/metrics.md but not registered";
  }
}

TEST(MetricsTest, HandlesRecordIntoTheirSeries) {
  Metrics metrics({"1.2.3", "abc"}, "default");
  const IngestMetrics http = metrics.ingest(IngestDoor::kOtlpHttp);
  http.Accepted(10, 2, 1000);
  http.Accepted(5, 0, 500);
  http.Refused(IngestMetrics::ReasonFor(Status::ResourceExhausted("full")));
  http.Refused(IngestMetrics::ReasonFor(Status::InvalidArgument("bad")));
  http.Refused(RefusalReason::kLimit);
  metrics.query(QueryDoor::kApiV3).Record(QueryKind::kServices, std::chrono::steady_clock::now(), Status::Ok());
  metrics.query(QueryDoor::kApiV3)
      .Record(QueryKind::kGetTrace, std::chrono::steady_clock::now(), Status::Internal("boom"));
  metrics.wal().group_commit_records.Observe(3);
  metrics.object_store().requests[static_cast<size_t>(StoreOp::kGet)][static_cast<size_t>(StatusCode::kNotFound)].Add();

  const std::string text = metrics.Scrape();
  EXPECT_EQ(Sample(text, R"(tracebucket_build_info{commit="abc",version="1.2.3"})"), 1);
  EXPECT_EQ(Sample(text, R"(tracebucket_ingest_spans_total{door="otlp_http",tenant="default"})"), 15);
  EXPECT_EQ(Sample(text, R"(tracebucket_ingest_bytes_total{door="otlp_http",tenant="default"})"), 1500);
  EXPECT_EQ(Sample(text, R"(tracebucket_ingest_rejected_spans_total{door="otlp_http",tenant="default"})"), 2);
  EXPECT_EQ(Sample(text, R"(tracebucket_ingest_requests_total{door="otlp_http",tenant="default"})"), 5);
  EXPECT_EQ(Sample(text, R"(tracebucket_ingest_spans_total{door="otlp_grpc",tenant="default"})"), 0);
  for (const char* reason : {"back_pressure", "bad_input", "limit"}) {
    EXPECT_EQ(Sample(text, std::string(R"(tracebucket_ingest_refused_requests_total{door="otlp_http",reason=")") +
                               reason + "\"}"),
              1)
        << reason;
  }
  EXPECT_EQ(Sample(text, R"(tracebucket_query_requests_total{door="api_v3",kind="services",tenant="default"})"), 1);
  EXPECT_EQ(Sample(text, R"(tracebucket_query_errors_total{door="api_v3",kind="services",tenant="default"})"), 0);
  EXPECT_EQ(Sample(text, R"(tracebucket_query_errors_total{door="api_v3",kind="get_trace",tenant="default"})"), 1);
  EXPECT_EQ(
      Sample(text, R"(tracebucket_query_duration_seconds_count{door="api_v3",kind="get_trace",tenant="default"})"), 1);
  EXPECT_EQ(Sample(text, "tracebucket_wal_group_commit_records_sum"), 3);
  EXPECT_EQ(Sample(text, "tracebucket_wal_group_commit_records_bucket{le=\"2\"}"), 0);
  EXPECT_EQ(Sample(text, "tracebucket_wal_group_commit_records_bucket{le=\"4\"}"), 1);
  EXPECT_EQ(Sample(text, R"(tracebucket_objstore_requests_total{operation="get",status="not_found"})"), 1);
  EXPECT_EQ(Sample(text, R"(tracebucket_objstore_requests_total{operation="get",status="ok"})"), 0);
}

TEST(MetricsTest, StateIsReadAtScrapeTimeAndCountersFollowIt) {
  Metrics metrics(CurrentBuild(), "default");
  StateSnapshot state;
  state.wal_bytes = 4096;
  state.wal_segments = 2;
  state.head_spans = 7;
  state.blocks = 3;
  state.spool_blocks = 2;
  state.spool_bytes = 5000;
  state.memory_cache = {.hits = 10, .misses = 4, .evictions = 1, .bytes = 999};
  metrics.SetStateSource([&] { return state; });
  std::string text = metrics.Scrape();
  EXPECT_EQ(Sample(text, "tracebucket_wal_size_bytes"), 4096);
  EXPECT_EQ(Sample(text, "tracebucket_wal_segments"), 2);
  EXPECT_EQ(Sample(text, R"(tracebucket_head_spans{tenant="default"})"), 7);
  EXPECT_EQ(Sample(text, R"(tracebucket_blocks{tenant="default"})"), 3);
  EXPECT_EQ(Sample(text, R"(tracebucket_spool_blocks{tenant="default"})"), 2);
  EXPECT_EQ(Sample(text, R"(tracebucket_spool_bytes{tenant="default"})"), 5000);
  EXPECT_EQ(Sample(text, R"(tracebucket_cache_hits_total{tier="memory"})"), 10);
  EXPECT_EQ(Sample(text, R"(tracebucket_cache_bytes{tier="memory"})"), 999);
  EXPECT_EQ(Sample(text, R"(tracebucket_cache_hits_total{tier="disk"})"), 0);

  state.memory_cache.hits = 15;
  text = metrics.Scrape();
  EXPECT_EQ(Sample(text, R"(tracebucket_cache_hits_total{tier="memory"})"), 15);
  // A count that restarts (a purge cleared the cache) never makes the counter go down.
  state.memory_cache.hits = 2;
  text = metrics.Scrape();
  EXPECT_EQ(Sample(text, R"(tracebucket_cache_hits_total{tier="memory"})"), 15);
  state.memory_cache.hits = 5;
  text = metrics.Scrape();
  EXPECT_EQ(Sample(text, R"(tracebucket_cache_hits_total{tier="memory"})"), 18);
}

TEST(MetricsTest, ProcessMetricsComeFromProc) {
  Metrics metrics(CurrentBuild(), "default");
  const std::string text = metrics.Scrape();
  EXPECT_GT(Sample(text, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(Sample(text, "process_open_fds"), 3);  // stdin, stdout, stderr at least
  const double now = static_cast<double>(time(nullptr));
  EXPECT_GT(Sample(text, "process_start_time_seconds"), now - 3600);
  EXPECT_LE(Sample(text, "process_start_time_seconds"), now + 1);
  EXPECT_GE(Sample(text, "process_cpu_seconds_total"), 0);
}

}  // namespace
}  // namespace tb::metrics
