#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/import.h"
#include "cli/output.h"
#include "db/block_summary.h"
#include "model/text.h"
#include "server/config.h"

namespace tb::cli {
namespace {

TEST(CliOutput, HumanBytesAndRatio) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(320ull << 20), "320.0 MiB");
  EXPECT_EQ(HumanBytes(3ull << 40), "3.0 TiB");
  EXPECT_EQ(Ratio(300, 100), "3.00");
  EXPECT_EQ(Ratio(5, 0), "-");
}

TEST(CliOutput, TableColumnsAlign) {
  const std::string table = RenderTable({{"ID", "SPANS"}, {"a", "5"}, {"bbb", "12345"}}, {false, true});
  EXPECT_EQ(table,
            "ID   SPANS\n"
            "a        5\n"
            "bbb  12345\n");
}

TEST(CliImport, RetryDelayHonoursRetryAfter) {
  const auto now = std::chrono::system_clock::from_time_t(1'700'000'000);  // Tue, 14 Nov 2023 22:13:20 GMT
  using std::chrono::milliseconds;
  EXPECT_EQ(RetryDelay("1", 0, now), milliseconds(1000));
  EXPECT_EQ(RetryDelay("7", 3, now), milliseconds(7000));
  EXPECT_EQ(RetryDelay("0", 3, now), milliseconds(0));
  EXPECT_EQ(RetryDelay("Tue, 14 Nov 2023 22:13:25 GMT", 0, now), milliseconds(5000));
  EXPECT_EQ(RetryDelay("Tue, 14 Nov 2023 22:13:00 GMT", 0, now), milliseconds(0));  // in the past
  EXPECT_EQ(RetryDelay("999999", 0, now), std::chrono::minutes(5));                 // capped
  // No usable header: 1 s, doubling, at most 30 s.
  EXPECT_EQ(RetryDelay("", 0, now), milliseconds(1000));
  EXPECT_EQ(RetryDelay("soon", 2, now), milliseconds(4000));
  EXPECT_EQ(RetryDelay("", 10, now), milliseconds(30000));
}

TEST(CliImport, EndpointTakesAPathPrefix) {
  auto e = ParseOtlpEndpoint("http://127.0.0.1:4318");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->scheme_host_port, "http://127.0.0.1:4318");
  EXPECT_EQ(e->traces_path, "/v1/traces");
  e = ParseOtlpEndpoint("https://gateway.example/otlp/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->scheme_host_port, "https://gateway.example");
  EXPECT_EQ(e->traces_path, "/otlp/v1/traces");
  EXPECT_EQ(ParseOtlpEndpoint("127.0.0.1:4318").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOtlpEndpoint("ftp://host").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOtlpEndpoint("http://").status().code(), StatusCode::kInvalidArgument);
}

// The document GET /admin/blocks answers: every key, level 0, times RFC 3339 to the ns.
TEST(CliBlocks, JsonShape) {
  block::BlockMeta meta;
  meta.block_id = "000661200b935f81-49230f0a22c3cbac-0001";
  meta.writer_id = "49230f0a22c3cbac";
  meta.span_count = 30;
  meta.trace_count = 4;
  meta.data_size = 1000;
  meta.index_size = 200;
  meta.min_span_start = 1'700'000'000'000'000'001;
  meta.max_span_end = 1'700'000'001'500'000'000;
  for (int id = 1; id <= block::kSectionCount; ++id) meta.sections.push_back({static_cast<block::SectionId>(id)});
  const db::BlockSummary s = db::SummarizeBlock("default", meta);
  EXPECT_EQ(s.bytes, 1200 + block::EncodeMeta(meta).size());
  const auto doc = nlohmann::json::parse(db::BlocksJson({s}));
  ASSERT_EQ(doc.size(), 1u);
  ASSERT_EQ(doc["blocks"].size(), 1u);
  const auto& b = doc["blocks"][0];
  EXPECT_EQ(b.size(), 8u);
  EXPECT_EQ(b["id"], meta.block_id);
  EXPECT_EQ(b["tenant"], "default");
  EXPECT_EQ(b["level"], 0);  // metas carry no level yet: every block is a flush's
  EXPECT_EQ(b["spans"], 30);
  EXPECT_EQ(b["traces"], 4);
  EXPECT_EQ(b["bytes"], s.bytes);
  EXPECT_EQ(b["min_time"], "2023-11-14T22:13:20.000000001Z");
  EXPECT_EQ(b["max_time"], "2023-11-14T22:13:21.500000000Z");
  EXPECT_EQ(db::BlocksJson({}), R"({"blocks":[]})");
}

}  // namespace
}  // namespace tb::cli
