#include "wire/jaeger_ui_json.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

namespace tb::wire {
namespace {

namespace jaeger = model::jaeger;

model::TraceId TraceIdOf(uint64_t high, uint64_t low) {
  model::TraceId id{};
  for (int i = 0; i < 8; ++i) {
    id[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
    id[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
  }
  return id;
}

model::SpanId SpanIdOf(uint64_t v) {
  model::SpanId id{};
  for (int i = 0; i < 8; ++i) id[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
  return id;
}

jaeger::Tag StringTag(std::string key, std::string value) {
  jaeger::Tag t;
  t.key = std::move(key);
  t.str = std::move(value);
  return t;
}

// The tag's JSON text.
std::string TagText(const jaeger::Tag& tag) {
  std::string out;
  JsonWriter w(&out);
  WriteJaegerUiTag(w, tag);
  return out;
}

nlohmann::json TagJson(const jaeger::Tag& tag) { return nlohmann::json::parse(TagText(tag)); }

nlohmann::ordered_json TraceJson(const model::TraceId& id, const std::vector<jaeger::Span>& spans) {
  std::string out;
  JsonWriter w(&out);
  WriteJaegerUiTrace(w, id, spans);
  return nlohmann::ordered_json::parse(out);
}

jaeger::Span SpanOf(const model::TraceId& trace, uint64_t id, std::string service) {
  jaeger::Span s;
  s.trace_id = trace;
  s.span_id = SpanIdOf(id);
  s.operation_name = "op" + std::to_string(id);
  s.start_time_unix_nano = 1'485'467'191'639'875'999;
  s.duration_nanos = 5'999;
  s.process.service_name = std::move(service);
  return s;
}

TEST(JaegerUiJson, TraceIdIs16HexDigitsWhenTheHighHalfIsZero) {
  EXPECT_EQ(JaegerUiTraceId(TraceIdOf(0, 1)), "0000000000000001");
  EXPECT_EQ(JaegerUiTraceId(TraceIdOf(0, 0xabcdef0123456789)), "abcdef0123456789");
  EXPECT_EQ(JaegerUiTraceId(TraceIdOf(1, 2)), "00000000000000010000000000000002");
}

TEST(JaegerUiJson, TagsAreTypedAndUnsafeIntegersAreStrings) {
  jaeger::Tag t;
  t.key = "k";
  t.type = jaeger::ValueType::kInt64;
  t.int_value = 23456;
  EXPECT_EQ(TagText(t), R"({"key":"k","type":"int64","value":23456})");
  t.int_value = (int64_t{1} << 53) - 1;
  EXPECT_EQ(TagJson(t)["value"], 9007199254740991);
  t.int_value = int64_t{1} << 53;
  EXPECT_EQ(TagJson(t)["value"], "9007199254740992");
  t.int_value = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(TagJson(t)["value"], "-9223372036854775808");

  t.type = jaeger::ValueType::kBool;
  t.bool_value = true;
  EXPECT_EQ(TagText(t), R"({"key":"k","type":"bool","value":true})");
  t.type = jaeger::ValueType::kFloat64;
  t.float_value = 72.5;
  EXPECT_EQ(TagText(t), R"({"key":"k","type":"float64","value":72.5})");
  t.float_value = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(TagJson(t)["value"], "NaN");
  t.type = jaeger::ValueType::kBinary;
  t.str = std::string("\x00\x00\x30\x39", 4);
  EXPECT_EQ(TagText(t), R"({"key":"k","type":"binary","value":"AAAwOQ=="})");
  EXPECT_EQ(TagText(StringTag("s", "v")), R"({"key":"s","type":"string","value":"v"})");
}

TEST(JaegerUiJson, SpanFieldsInMicrosecondsWithReferencesLogsAndEmptyListsAsArrays) {
  const auto trace = TraceIdOf(0, 1);
  jaeger::Span s = SpanOf(trace, 3, "service-x");
  s.references.push_back({trace, SpanIdOf(2), jaeger::RefType::kChildOf});
  s.references.push_back({TraceIdOf(7, 8), SpanIdOf(9), jaeger::RefType::kFollowsFrom});
  s.logs.push_back({1'485'467'191'639'875'999, {StringTag("event", "some-event")}});
  s.warnings = {"w1"};
  jaeger::Span bare = SpanOf(trace, 4, "service-x");
  bare.flags = 1;

  const auto json = TraceJson(trace, {s, bare});
  EXPECT_EQ(json["traceID"], "0000000000000001");
  EXPECT_TRUE(json["warnings"].is_null());
  const auto& span = json["spans"][0];
  EXPECT_EQ(span.dump(),
            R"({"traceID":"0000000000000001","spanID":"0000000000000003","operationName":"op3","references":[)"
            R"({"refType":"CHILD_OF","traceID":"0000000000000001","spanID":"0000000000000002"},)"
            R"({"refType":"FOLLOWS_FROM","traceID":"00000000000000070000000000000008","spanID":"0000000000000009"}],)"
            R"("startTime":1485467191639875,"duration":5,"tags":[],"logs":[{"timestamp":1485467191639875,)"
            R"("fields":[{"key":"event","type":"string","value":"some-event"}]}],"processID":"p1","warnings":["w1"]})");
  const auto& second = json["spans"][1];
  EXPECT_EQ(second["flags"], 1);
  EXPECT_TRUE(second["references"].is_array() && second["references"].empty());
  EXPECT_TRUE(second["logs"].is_array() && second["logs"].empty());
  EXPECT_TRUE(second["warnings"].is_null());
  EXPECT_FALSE(span.contains("flags"));
}

TEST(JaegerUiJson, ProcessesAreNumberedInSpanOrderByDeepEquality) {
  const auto trace = TraceIdOf(5, 6);
  jaeger::Span a = SpanOf(trace, 1, "svc-b");
  jaeger::Span b = SpanOf(trace, 2, "svc-a");
  jaeger::Span c = SpanOf(trace, 3, "svc-b");
  jaeger::Span d = SpanOf(trace, 4, "svc-b");
  d.process.tags.push_back(StringTag("host", "h1"));  // same service, other tags: another process

  const auto json = TraceJson(trace, {a, b, c, d});
  std::vector<std::string> ids;
  for (const auto& s : json["spans"]) ids.push_back(s["processID"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"p1", "p2", "p1", "p3"}));
  EXPECT_EQ(json["processes"].dump(),
            R"({"p1":{"serviceName":"svc-b","tags":[]},"p2":{"serviceName":"svc-a","tags":[]},)"
            R"("p3":{"serviceName":"svc-b","tags":[{"key":"host","type":"string","value":"h1"}]}})");
}

}  // namespace
}  // namespace tb::wire
