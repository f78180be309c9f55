#include "server/jaeger_http_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/jaeger.h"
#include "model/text.h"

namespace tb::server::jaeger_api {
namespace {

constexpr uint64_t kNow = 1'700'000'000'000'000'000;  // ns

model::TraceId Id(std::string_view hex32) { return *model::HexDecodeId<16>(hex32); }

TEST(JaegerHttpApi, TraceIdsAreHexOfAnyLengthUpTo32OrBase64Of16Or8Bytes) {
  EXPECT_EQ(*ParseTraceIdParam("11"), Id("00000000000000000000000000000011"));
  EXPECT_EQ(*ParseTraceIdParam("ABCDEF0123456789"), Id("0000000000000000abcdef0123456789"));
  EXPECT_EQ(*ParseTraceIdParam("0102030405060708090a0b0c0d0e0f10"), Id("0102030405060708090a0b0c0d0e0f10"));
  // base64 of 16 bytes: standard and URL alphabet, padded and raw.
  const auto id16 = Id("fbff0102030405060708090a0b0c0dfe");
  EXPECT_EQ(*ParseTraceIdParam("+/8BAgMEBQYHCAkKCwwN/g=="), id16);
  EXPECT_EQ(*ParseTraceIdParam("-_8BAgMEBQYHCAkKCwwN_g"), id16);
  // base64 of 8 bytes: a 64-bit ID.
  EXPECT_EQ(*ParseTraceIdParam("AQIDBAUGBwg="), Id("00000000000000000102030405060708"));

  EXPECT_EQ(ParseTraceIdParam("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTraceIdParam("0102030405060708090a0b0c0d0e0f1011").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTraceIdParam("xyz!").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTraceIdParam("AQIDBAUGBw==").status().code(), StatusCode::kInvalidArgument);  // 7 bytes
  EXPECT_EQ(ParseTraceIdParam("0").status().code(), StatusCode::kInvalidArgument);             // all zeros
}

TEST(JaegerHttpApi, SearchTakesGrafanaParameters) {
  const QueryParams params{{"service", "frontend"},
                           {"operation", "GET /"},
                           {"tags", R"({"http.status_code":"200","error":"true"})"},
                           {"minDuration", "1.2ms"},
                           {"maxDuration", "2s"},
                           {"limit", "20"},
                           {"start", "1700000000000000"},
                           {"end", "1700000060000000"},
                           {"lookback", "custom"}};
  auto r = ParseSearch(params, kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->trace_ids.empty());
  EXPECT_EQ(r->query.service_name, "frontend");
  EXPECT_EQ(r->query.operation_name, "GET /");
  ASSERT_EQ(r->query.attributes.size(), 2u);
  EXPECT_EQ(r->query.attributes[0].key, "error");
  EXPECT_EQ(r->query.attributes[0].value, "true");
  EXPECT_EQ(r->query.attributes[1].key, "http.status_code");
  EXPECT_EQ(r->query.attributes[1].value, "200");
  EXPECT_EQ(r->query.duration_min_nanos, 1'200'000u);
  EXPECT_EQ(r->query.duration_max_nanos, 2'000'000'000u);
  EXPECT_EQ(r->query.search_depth, 20);
  EXPECT_EQ(r->query.start_time_min_unix_nano, 1'700'000'000'000'000'000u);
  EXPECT_EQ(r->query.start_time_max_unix_nano, 1'700'000'060'000'000'000u);
}

TEST(JaegerHttpApi, SearchDefaultsTo48HoursBeforeNowAndLimit100) {
  auto r = ParseSearch({{"service", "s"}}, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->query.start_time_min_unix_nano, kNow - 48ull * 3600 * 1'000'000'000);
  EXPECT_EQ(r->query.start_time_max_unix_nano, kNow);
  EXPECT_EQ(r->query.search_depth, 100);
  EXPECT_FALSE(r->query.duration_min_nanos.has_value());
  EXPECT_TRUE(r->query.attributes.empty());
}

TEST(JaegerHttpApi, RepeatedTagParametersMergeWithJsonTagsAndDerivedKeysSearchTheirFields) {
  auto r = ParseSearch({{"service", "s"},
                        {"tag", "url:http://x/y"},
                        {"tag", "otel.status_code:ERROR"},
                        {"tags", R"({"url":"overridden"})"}},
                       kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->query.attributes.size(), 2u);
  EXPECT_EQ(r->query.attributes[0].key, std::string(model::jaeger::SearchKey("otel.status_code")));
  EXPECT_EQ(r->query.attributes[0].value, "ERROR");
  EXPECT_EQ(r->query.attributes[1].key, "url");
  EXPECT_EQ(r->query.attributes[1].value, "overridden");
}

TEST(JaegerHttpApi, TraceIdSearchNeedsNoServiceAndDropsRepeats) {
  auto r = ParseSearch({{"traceID", "11"}, {"traceID", "0000000000000011"}, {"traceID", "22"}}, kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->trace_ids, (std::vector<model::TraceId>{Id("00000000000000000000000000000011"),
                                                       Id("00000000000000000000000000000022")}));
}

void ExpectBad(const QueryParams& params, std::string_view message) {
  auto r = ParseSearch(params, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
}

TEST(JaegerHttpApi, BadSearchParametersAreInvalidArgumentInJaegersWords) {
  ExpectBad({}, "parameter 'service' is required");
  ExpectBad({{"service", "s"}, {"minDuration", "2s"}, {"maxDuration", "1s"}},
            "'maxDuration' should be greater than 'minDuration'");
  ExpectBad({{"service", "s"}, {"minDuration", "fast"}}, "unable to parse param 'minDuration'");
  ExpectBad({{"service", "s"}, {"start", "yesterday"}}, "unable to parse param 'start'");
  ExpectBad({{"service", "s"}, {"end", "-5"}}, "unable to parse param 'end'");
  ExpectBad({{"service", "s"}, {"end", "99999999999999999999"}}, "unable to parse param 'end'");
  ExpectBad({{"service", "s"}, {"limit", "ten"}}, "unable to parse param 'limit'");
  ExpectBad({{"service", "s"}, {"limit", "-1"}}, "unable to parse param 'limit'");
  ExpectBad({{"service", "s"}, {"limit", "99999999999"}}, "unable to parse param 'limit'");
  ExpectBad({{"service", "s"}, {"tag", "novalue"}}, "malformed 'tag' parameter");
  ExpectBad({{"service", "s"}, {"tags", "{not json"}}, "malformed 'tags' parameter");
  ExpectBad({{"service", "s"}, {"tags", R"({"n":200})"}}, "malformed 'tags' parameter");
  ExpectBad({{"traceID", "not-a-trace-id!"}}, "unable to parse param 'traceID'");
  ExpectBad({{"service", "s"}, {"raw", "maybe"}}, "unable to parse param 'raw'");
}

TEST(JaegerHttpApi, DependenciesWindowIsEndTsMinusLookbackInMilliseconds) {
  auto r = ParseDependencies({{"endTs", "1700000000000"}, {"lookback", "3600000"}, {"service", "a"}}, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->end_unix_nano, 1'700'000'000'000'000'000u);
  EXPECT_EQ(r->start_unix_nano, 1'700'000'000'000'000'000u - 3'600'000'000'000u);
  EXPECT_EQ(r->service, "a");
  auto d = ParseDependencies({}, kNow);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->end_unix_nano, kNow);
  EXPECT_EQ(d->start_unix_nano, kNow - 86'400'000'000'000u);
  EXPECT_EQ(ParseDependencies({{"lookback", "1h"}}, kNow).status().code(), StatusCode::kInvalidArgument);
}

// What Jaeger UI's Monitor tab sends (docs/jaeger-semantics.md §6.6) passes the checks, so it gets the 501.
TEST(JaegerHttpApi, MetricsParametersAreCheckedAsJaegerChecksThem) {
  const QueryParams ui{{"service", "accounting"}, {"endTs", "1796453902735"}, {"groupByOperation", "true"},
                       {"lookback", "3600000"},   {"quantile", "0.95"},       {"ratePer", "600000"},
                       {"spanKind", "server"},    {"step", "60000"}};
  for (auto route : {MetricsRoute::kLatencies, MetricsRoute::kCalls, MetricsRoute::kErrors, MetricsRoute::kMinStep})
    EXPECT_TRUE(CheckMetricsParams(route, ui).ok());
  EXPECT_TRUE(CheckMetricsParams(MetricsRoute::kCalls, {{"service", ""}}).ok());  // present is enough
  EXPECT_TRUE(CheckMetricsParams(MetricsRoute::kMinStep, {}).ok());               // minstep reads nothing

  auto expect_bad = [](MetricsRoute route, const QueryParams& params, std::string_view what) {
    const Status s = CheckMetricsParams(route, params);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << what;
    EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  };
  expect_bad(MetricsRoute::kLatencies, {{"service", "a"}}, "unable to parse param 'quantile'");
  expect_bad(MetricsRoute::kLatencies, {{"service", "a"}, {"quantile", "high"}}, "unable to parse param 'quantile'");
  expect_bad(MetricsRoute::kCalls, {}, "unable to parse param 'service': please provide at least one service name");
  expect_bad(MetricsRoute::kErrors, {{"service", "a"}, {"groupByOperation", "yes"}},
             "unable to parse param 'groupByOperation'");
  expect_bad(MetricsRoute::kErrors, {{"service", "a"}, {"spanKind", "server"}, {"spanKind", "SERVER"}},
             "unsupported span kind: 'SERVER'");
  for (const char* name : {"endTs", "lookback", "step", "ratePer"})
    expect_bad(MetricsRoute::kCalls, {{"service", "a"}, {name, "1h"}}, std::string("unable to parse param '") + name);
  // Go reads the first value of a parameter, as FormValue does.
  EXPECT_TRUE(CheckMetricsParams(MetricsRoute::kCalls, {{"service", "a"}, {"step", "-5"}, {"step", "x"}}).ok());
}

TEST(JaegerHttpApi, TransformGroupsOtlpSpansIntoUiTracesInOrderOfFirstAppearance) {
  // Two resources; trace ...02 appears first, then ...01, then ...02 again.
  const std::string body = R"({"resourceSpans":[
    {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"front"}}]},
     "scopeSpans":[{"scope":{"name":"lib"},"spans":[
       {"traceId":"00000000000000000000000000000002","spanId":"0000000000000021","name":"GET /",
        "kind":2,"startTimeUnixNano":"1000000","endTimeUnixNano":"3000000"},
       {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000011","name":"root",
        "startTimeUnixNano":"5000000","endTimeUnixNano":"6000000"}]}]},
    {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"db"}}]},
     "scopeSpans":[{"spans":[
       {"traceId":"00000000000000000000000000000002","spanId":"0000000000000022",
        "parentSpanId":"0000000000000021","name":"query","startTimeUnixNano":"1500000",
        "endTimeUnixNano":"2500000","status":{"code":2,"message":"boom"}}]}]}]})";
  auto answer = TransformOtlpJson(body);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  const auto envelope = nlohmann::json::parse(*answer);
  EXPECT_TRUE(envelope["errors"].is_null());
  const auto& data = envelope["data"];
  ASSERT_EQ(data.size(), 2u);
  const auto& first = data[0];
  EXPECT_EQ(first["traceID"], "0000000000000002");  // a 64-bit ID is 16 hex digits, as Jaeger writes it
  ASSERT_EQ(first["spans"].size(), 2u);
  EXPECT_EQ(first["spans"][0]["operationName"], "GET /");
  EXPECT_EQ(first["spans"][0]["startTime"], 1000);
  EXPECT_EQ(first["spans"][0]["duration"], 2000);
  EXPECT_EQ(first["spans"][1]["references"][0]["refType"], "CHILD_OF");
  EXPECT_EQ(first["spans"][1]["references"][0]["spanID"], "0000000000000021");
  EXPECT_EQ(first["processes"][first["spans"][1]["processID"].get<std::string>()]["serviceName"], "db");
  EXPECT_EQ(data[1]["traceID"], "0102030405060708090a0b0c0d0e0f10");
  EXPECT_EQ(data[1]["spans"].size(), 1u);

  auto empty = TransformOtlpJson("{}");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, R"({"data":[],"total":0,"limit":0,"offset":0,"errors":null})");

  // ?prettyPrint=true: the same document, indented as nlohmann's dump(4) would.
  auto pretty = TransformOtlpJson(body, /*pretty=*/true);
  ASSERT_TRUE(pretty.ok());
  EXPECT_EQ(*pretty, nlohmann::ordered_json::parse(*answer).dump(4));
}

TEST(JaegerHttpApi, TransformRefusesMalformedOtlpWithTheParsersMessage) {
  for (std::string_view bad :
       {"", "not json", R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"12"}]}]}]})"}) {
    auto r = TransformOtlpJson(bad);
    ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(r.status().message().starts_with("cannot unmarshal OTLP: ")) << r.status().message();
  }
  EXPECT_NE(TransformOtlpJson(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"12"}]}]}]})")
                .status()
                .message()
                .find("resourceSpans[0].scopeSpans[0].spans[0].traceId"),
            std::string::npos);
}

TEST(JaegerHttpApi, ErrorEnvelopeHasJaegersFields) {
  EXPECT_EQ(ErrorJson(404, "trace not found"),
            R"({"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]})");
}

}  // namespace
}  // namespace tb::server::jaeger_api
