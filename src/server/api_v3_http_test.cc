#include "server/api_v3_http.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "server/config.h"

namespace tb::server::api_v3 {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

TEST(ApiV3Rfc3339, ParsesUtcOffsetsAndFractions) {
  EXPECT_EQ(*ParseRfc3339Nanos("1970-01-01T00:00:00Z"), 0u);
  EXPECT_EQ(*ParseRfc3339Nanos("2024-02-29T12:30:45Z"), 1709209845 * kSecond);
  EXPECT_EQ(*ParseRfc3339Nanos("2024-02-29T12:30:45.5Z"), 1709209845 * kSecond + 500'000'000);
  EXPECT_EQ(*ParseRfc3339Nanos("2024-02-29T12:30:45.123456789z"), 1709209845 * kSecond + 123'456'789);
  // The same instant written in another offset.
  EXPECT_EQ(*ParseRfc3339Nanos("2024-02-29T14:00:45+01:30"), 1709209845 * kSecond);
  EXPECT_EQ(*ParseRfc3339Nanos("2024-02-29T07:30:45-05:00"), 1709209845 * kSecond);
  EXPECT_EQ(*ParseRfc3339Nanos("2554-01-01T00:00:00Z"), 18'429'292'800 * kSecond);
}

TEST(ApiV3Rfc3339, RejectsMalformedAndImpossibleTimes) {
  for (const char* bad : {"", "2024-02-29", "2024-02-29 12:30:45Z", "2024-02-29T12:30:45", "2024-02-29T12:30:45.Z",
                          "2024-02-29T12:30:45.1234567890Z", "2024-2-29T12:30:45Z", "2024-02-29T12:30:45+0100",
                          "2024-02-29T12:30:45Zjunk", "1700000000", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
                          "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "1969-12-31T23:59:59Z",
                          "2555-01-01T00:00:00Z", "9999-12-31T23:59:59Z"}) {
    auto t = ParseRfc3339Nanos(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(ApiV3Duration, ParsesGoDurations) {
  EXPECT_EQ(*ParseGoDurationNanos("0"), 0u);
  EXPECT_EQ(*ParseGoDurationNanos("1.5s"), 1'500'000'000u);
  EXPECT_EQ(*ParseGoDurationNanos("500us"), 500'000u);
  EXPECT_EQ(*ParseGoDurationNanos("500\xC2\xB5s"), 500'000u);
  EXPECT_EQ(*ParseGoDurationNanos("4500ns"), 4'500u);
  EXPECT_EQ(*ParseGoDurationNanos("2ms"), 2'000'000u);
  EXPECT_EQ(*ParseGoDurationNanos("1h2m3s"), (3600u + 120u + 3u) * kSecond);
  EXPECT_EQ(*ParseGoDurationNanos(".5m"), 30 * kSecond);
  EXPECT_EQ(*ParseGoDurationNanos("1.000000001s"), kSecond + 1);
  EXPECT_EQ(*ParseGoDurationNanos("+3s"), 3 * kSecond);
}

TEST(ApiV3Duration, RejectsBadDurations) {
  for (const char* bad :
       {"", "1", "s", "1.5", "-1s", "1x", "1s2", "1..5s", ".s", "99999999999999999999h", "6000000h"}) {
    auto d = ParseGoDurationNanos(bad);
    EXPECT_FALSE(d.ok()) << bad;
  }
}

TEST(ApiV3Bool, AcceptsGoSpellingsOnly) {
  EXPECT_TRUE(*ParseGoBool("true"));
  EXPECT_TRUE(*ParseGoBool("1"));
  EXPECT_TRUE(*ParseGoBool("T"));
  EXPECT_FALSE(*ParseGoBool("False"));
  EXPECT_FALSE(*ParseGoBool("0"));
  EXPECT_FALSE(ParseGoBool("yes").ok());
  EXPECT_FALSE(ParseGoBool("tRUE").ok());
}

TEST(ApiV3TraceId, PadsShortIdsAndRejectsBadOnes) {
  auto full = ParseTraceId("0123456789ABCDEF0123456789abcdef");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ((*full)[0], 0x01);
  EXPECT_EQ((*full)[15], 0xef);
  auto short_id = ParseTraceId("11");
  ASSERT_TRUE(short_id.ok());
  EXPECT_EQ((*short_id)[15], 0x11);
  EXPECT_EQ((*short_id)[0], 0x00);
  for (const char* bad : {"", "0", "00000000000000000000000000000000", "xyz", "0123456789abcdef0123456789abcdef0"})
    EXPECT_FALSE(ParseTraceId(bad).ok()) << bad;
}

TEST(ApiV3GetTrace, ReadsHintsInBothSpellings) {
  auto r = ParseGetTrace(
      "abc", {{"startTime", "2024-01-01T00:00:00Z"}, {"end_time", "2024-01-01T00:00:01Z"}, {"rawTraces", "true"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->trace_id[15], 0xbc);
  EXPECT_EQ(*r->end_time_unix_nano - *r->start_time_unix_nano, kSecond);
  EXPECT_TRUE(r->raw_traces);
  auto bare = ParseGetTrace("abc", {});
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->start_time_unix_nano.has_value());
}

TEST(ApiV3GetTrace, NamesTheMalformedParameter) {
  auto bad_id = ParseGetTrace("not-hex", {});
  ASSERT_FALSE(bad_id.ok());
  EXPECT_NE(bad_id.status().message().find("malformed parameter trace_id"), std::string::npos);
  auto bad_time = ParseGetTrace("abc", {{"startTime", "yesterday"}});
  ASSERT_FALSE(bad_time.ok());
  EXPECT_NE(bad_time.status().message().find("startTime"), std::string::npos);
  EXPECT_FALSE(ParseGetTrace("abc", {{"raw_traces", "maybe"}}).ok());
  EXPECT_FALSE(ParseGetTrace("abc", {{"startTime", "2024-01-01T00:00:01Z"}, {"endTime", "2024-01-01T00:00:00Z"}}).ok());
}

QueryParams Window() {
  return {{"query.startTimeMin", "2024-01-01T00:00:00Z"}, {"query.startTimeMax", "2024-01-01T01:00:00Z"}};
}

TEST(ApiV3TraceQuery, ReadsEveryField) {
  QueryParams p = Window();
  p.insert({{"query.serviceName", "frontend"},
            {"query.operationName", "GET /"},
            {"query.attributes", R"({"http.status_code":"200","error":"true"})"},
            {"query.durationMin", "1.5ms"},
            {"query.durationMax", "2s"},
            {"query.searchDepth", "20"},
            {"query.rawTraces", "false"}});
  auto q = ParseTraceQuery(p);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->service_name, "frontend");
  EXPECT_EQ(q->operation_name, "GET /");
  ASSERT_EQ(q->attributes.size(), 2u);
  EXPECT_EQ(q->attributes[0].key, "error");
  EXPECT_EQ(q->attributes[0].value, "true");
  EXPECT_EQ(q->attributes[1].key, "http.status_code");
  EXPECT_EQ(q->attributes[1].value, "200");
  EXPECT_EQ(*q->start_time_max_unix_nano - *q->start_time_min_unix_nano, 3600 * kSecond);
  EXPECT_EQ(*q->duration_min_nanos, 1'500'000u);
  EXPECT_EQ(*q->duration_max_nanos, 2 * kSecond);
  EXPECT_EQ(q->search_depth, 20);
}

TEST(ApiV3TraceQuery, AcceptsSnakeCaseAliases) {
  QueryParams p = {{"query.start_time_min", "2024-01-01T00:00:00Z"},
                   {"query.start_time_max", "2024-01-01T01:00:00Z"},
                   {"query.service_name", "svc"},
                   {"query.operation_name", "op"},
                   {"query.duration_min", "1s"},
                   {"query.num_traces", "7"}};
  auto q = ParseTraceQuery(p);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->service_name, "svc");
  EXPECT_EQ(q->operation_name, "op");
  EXPECT_EQ(*q->duration_min_nanos, kSecond);
  EXPECT_EQ(q->search_depth, 7);
  EXPECT_FALSE(q->duration_max_nanos.has_value());
}

TEST(ApiV3TraceQuery, RejectsBadParametersWithTheirNames) {
  const auto error_of = [](QueryParams p) {
    auto q = ParseTraceQuery(p);
    EXPECT_FALSE(q.ok());
    if (q.ok()) return std::string();
    EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
    return q.status().message();
  };
  EXPECT_NE(error_of({}).find("required"), std::string::npos);
  EXPECT_NE(error_of({{"query.startTimeMin", "2024-01-01T00:00:00Z"}}).find("required"), std::string::npos);
  EXPECT_NE(error_of({{"query.startTimeMin", "2024-01-01T02:00:00Z"}, {"query.startTimeMax", "2024-01-01T01:00:00Z"}})
                .find("after"),
            std::string::npos);
  const auto with = [](const char* key, const char* value) {
    QueryParams p = Window();
    p.insert({key, value});
    return p;
  };
  EXPECT_NE(error_of(with("query.durationMin", "1.5")).find("query.durationMin"), std::string::npos);
  EXPECT_NE(error_of(with("query.durationMax", "fast")).find("query.durationMax"), std::string::npos);
  EXPECT_NE(error_of(with("query.searchDepth", "0")).find("query.searchDepth"), std::string::npos);
  EXPECT_NE(error_of(with("query.searchDepth", "-3")).find("query.searchDepth"), std::string::npos);
  EXPECT_NE(error_of(with("query.searchDepth", "1000000000")).find("query.searchDepth"), std::string::npos);
  EXPECT_NE(error_of(with("query.attributes", "{not json")).find("query.attributes"), std::string::npos);
  EXPECT_NE(error_of(with("query.attributes", R"({"a":1})")).find("'a' is not a string"), std::string::npos);
  EXPECT_NE(error_of(with("query.attributes", R"(["a"])")).find("query.attributes"), std::string::npos);
  EXPECT_NE(error_of(with("query.rawTraces", "yes")).find("query.rawTraces"), std::string::npos);
  EXPECT_NE(error_of(with("query.filter", R"({"op":"and"})")).find("not supported"), std::string::npos);
  QueryParams inverted = with("query.durationMin", "2s");
  inverted.insert({"query.durationMax", "1s"});
  EXPECT_NE(error_of(inverted).find("greater"), std::string::npos);
}

TEST(ApiV3Json, ErrorShape) {
  auto doc = nlohmann::json::parse(ErrorJson(400, "malformed parameter x: \"bad\""));
  EXPECT_EQ(doc["error"]["httpCode"], 400);
  EXPECT_EQ(doc["error"]["message"], "malformed parameter x: \"bad\"");
  EXPECT_FALSE(doc["error"].contains("grpcCode"));
}

TEST(ApiV3Json, OperationsWithoutKindAreInternal) {
  auto doc = nlohmann::json::parse(OperationsJson({{"a", ""}, {"b", "server"}}));
  ASSERT_EQ(doc["operations"].size(), 2u);
  EXPECT_EQ(doc["operations"][0]["spanKind"], "internal");
  EXPECT_EQ(doc["operations"][1]["spanKind"], "server");
  EXPECT_EQ(nlohmann::json::parse(ServicesJson({}))["services"], nlohmann::json::array());
}

TEST(ApiV3Json, SummariesOmitZerosAndQuote64BitTimes) {
  query::TraceSummary s;
  s.trace_id[15] = 0x2a;
  s.root_service_name = "svc";
  s.min_start_unix_nano = 18'000'000'000'000'000'001ull;  // beyond a double's exact range
  s.max_end_unix_nano = 18'000'000'000'000'000'002ull;
  s.span_count = 3;
  s.services = {{"svc", 3, 0}};
  auto doc = nlohmann::json::parse(TraceSummariesJson({s}));
  const auto& o = doc["summaries"][0];
  EXPECT_EQ(o["traceId"], "0000000000000000000000000000002a");
  EXPECT_EQ(o["minStartTimeUnixNano"], "18000000000000000001");
  EXPECT_EQ(o["maxEndTimeUnixNano"], "18000000000000000002");
  EXPECT_EQ(o["spanCount"], 3);
  EXPECT_FALSE(o.contains("errorSpanCount"));
  EXPECT_FALSE(o.contains("rootOperationName"));
  EXPECT_EQ(o["services"][0]["name"], "svc");
  EXPECT_FALSE(o["services"][0].contains("errorSpanCount"));
  EXPECT_EQ(nlohmann::json::parse(TraceSummariesJson({}))["summaries"], nlohmann::json::array());
}

// The CORS origins of the HTTP door come from YAML (http.cors.allowed_origins) or the flag.
TEST(ApiV3Cors, OriginsLoadFromYaml) {
  Config config;
  EXPECT_TRUE(config.cors_allowed_origins.empty());
  const std::string path = ::testing::TempDir() + "tb_cors.yaml";
  std::ofstream(path) << "http:\n  cors:\n    allowed_origins: [\"http://localhost:16686\", \"*\"]\n";
  ASSERT_TRUE(LoadConfigFile(path, &config).ok());
  EXPECT_EQ(config.cors_allowed_origins, (std::vector<std::string>{"http://localhost:16686", "*"}));
  const std::string typo = ::testing::TempDir() + "tb_cors_typo.yaml";
  std::ofstream(typo) << "http: {cors: {allowed_origin: [x]}}\n";
  auto status = LoadConfigFile(typo, &config);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("allowed_origin"), std::string::npos);
}

}  // namespace
}  // namespace tb::server::api_v3
