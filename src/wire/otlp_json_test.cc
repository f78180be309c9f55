#include "wire/otlp_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/random_traces.h"
#include "model/text.h"

namespace tb::wire {
namespace {

using model::AnyValue;

model::TraceId Tid(uint8_t last, uint8_t first = 0) {
  model::TraceId id{};
  id[0] = first;
  id[15] = last;
  return id;
}

model::SpanId Sid(uint8_t last, uint8_t first = 0) {
  model::SpanId id{};
  id[0] = first;
  id[7] = last;
  return id;
}

// One value of every kind, with the awkward ones: extreme ints, doubles that print oddly, NaN and
// infinities, bytes with zero bytes, strings that need escaping, empty values, deep containers.
model::Attributes EveryValueType() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  return {
      {"string", AnyValue::String("plain")},
      {"string.escapes", AnyValue::String("quote\" backslash\\ nl\n tab\t ctl\x01 del\x7f \xc3\xa9 \xe2\x82\xac "
                                          "\xf0\x9f\x98\x80 slash/")},
      {"string.empty", AnyValue::String("")},
      {"bool.true", AnyValue::Bool(true)},
      {"bool.false", AnyValue::Bool(false)},
      {"int.zero", AnyValue::Int(0)},
      {"int.neg", AnyValue::Int(-42)},
      {"int.min", AnyValue::Int(std::numeric_limits<int64_t>::min())},
      {"int.max", AnyValue::Int(std::numeric_limits<int64_t>::max())},
      {"double.72.5", AnyValue::Double(72.5)},
      {"double.1e-7", AnyValue::Double(1e-7)},
      {"double.whole", AnyValue::Double(123.0)},
      {"double.zero", AnyValue::Double(0.0)},
      {"double.negzero", AnyValue::Double(-0.0)},
      {"double.huge", AnyValue::Double(1.7976931348623157e308)},
      {"double.tiny", AnyValue::Double(5e-324)},
      {"double.big", AnyValue::Double(1e20)},
      {"double.above.int64", AnyValue::Double(9.3e18)},
      {"double.pi", AnyValue::Double(3.141592653589793)},
      {"double.nan", AnyValue::Double(nan)},
      {"double.inf", AnyValue::Double(inf)},
      {"double.neginf", AnyValue::Double(-inf)},
      {"bytes", AnyValue::FromBytes(std::string("\0\x01\xff\0zz\0", 7))},
      {"bytes.one", AnyValue::FromBytes(std::string(1, '\0'))},
      {"bytes.empty", AnyValue::FromBytes("")},
      {"empty", AnyValue()},
      {"array", AnyValue::Array({AnyValue::Int(1), AnyValue::String("two"), AnyValue::Double(3.5), AnyValue(),
                                 AnyValue::Array({AnyValue::Bool(false), AnyValue::FromBytes(std::string(2, '\0'))}),
                                 AnyValue::Array({})})},
      {"kvlist", AnyValue::KvList({{"a", AnyValue::Int(-1)},
                                   {"", AnyValue::String("empty key")},
                                   {"nested", AnyValue::KvList({{"deep", AnyValue::Array({AnyValue::Double(nan)})}})},
                                   {"none", AnyValue()},
                                   {"emptymap", AnyValue::KvList({})}})},
  };
}

model::Traces FullTraces() {
  model::Traces t;
  model::ResourceSpans rs;
  rs.resource.attributes = {{"service.name", AnyValue::String("svc-a")}, {"host.id", AnyValue::Int(7)}};
  rs.resource.dropped_attributes_count = 3;
  rs.resource.schema_url = "https://opentelemetry.io/schemas/1.21.0";

  model::ScopeSpans ss;
  ss.scope.name = "io.opentelemetry.contrib";
  ss.scope.version = "1.2.3";
  ss.scope.attributes = {{"scope.attr", AnyValue::Bool(true)}};
  ss.scope.dropped_attributes_count = 2;
  ss.scope.schema_url = "https://opentelemetry.io/schemas/1.20.0";

  model::Span root;
  root.trace_id = Tid(0xab, 0xf0);
  root.span_id = Sid(1, 0xc0);
  root.trace_state = "vendor=value,other=x";
  root.flags = 0x301;
  root.name = "GET /api/\"quoted\"";
  root.kind = model::SpanKind::kServer;
  root.start_time_unix_nano = 1485449191639875000ull;
  root.end_time_unix_nano = std::numeric_limits<uint64_t>::max();
  root.attributes = EveryValueType();
  root.dropped_attributes_count = 4;
  root.events = {
      {1485449191639875001ull, "event.one", {{"e", AnyValue::String("v")}}, 5}, {0, "", {}, 0}, {9, "", {}, 1}};
  root.dropped_events_count = 6;
  model::Link link;
  link.trace_id = Tid(0x22);
  link.span_id = Sid(0x33);
  link.trace_state = "k=v";
  link.attributes = {{"link.attr", AnyValue::Double(72.5)}};
  link.dropped_attributes_count = 8;
  link.flags = 0x100;
  model::Link bare_link;
  bare_link.trace_id = Tid(0x44);
  bare_link.span_id = Sid(0x55);
  root.links = {link, bare_link};
  root.dropped_links_count = 7;
  root.status = {model::StatusCode::kError, "boom"};
  ss.spans.push_back(root);

  model::Span child;
  child.trace_id = root.trace_id;
  child.span_id = Sid(2);
  child.parent_span_id = root.span_id;
  child.name = "child";
  child.kind = model::SpanKind::kConsumer;
  child.start_time_unix_nano = 1;
  child.end_time_unix_nano = 2;
  child.status = {model::StatusCode::kOk, ""};
  ss.spans.push_back(child);

  model::Span minimal;  // every optional field at its default
  minimal.trace_id = Tid(1);
  minimal.span_id = Sid(3);
  ss.spans.push_back(minimal);
  rs.scope_spans.push_back(ss);

  model::ScopeSpans empty_scope;  // no scope fields and no spans
  rs.scope_spans.push_back(empty_scope);
  t.resource_spans.push_back(rs);

  model::ResourceSpans rs2;  // an empty resource
  model::ScopeSpans ss2;
  model::Span s2;
  s2.trace_id = Tid(9);
  s2.span_id = Sid(9);
  s2.name = "other";
  s2.status.message = "message only";
  for (int k = 1; k <= 5; ++k) {
    s2.kind = static_cast<model::SpanKind>(k);
    s2.span_id[0] = static_cast<uint8_t>(k);
    ss2.spans.push_back(s2);
  }
  rs2.scope_spans.push_back(ss2);
  t.resource_spans.push_back(rs2);
  t.resource_spans.emplace_back();  // no scope spans at all
  return t;
}

model::Traces ParseOk(std::string_view json) {
  auto r = ParseOtlpJson(json);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << "\nin: " << json.substr(0, 2000);
  return r.ok() ? std::move(r).value() : model::Traces{};
}

const model::Span& OnlySpan(const model::Traces& t) {
  static const model::Span kNone;
  if (t.resource_spans.size() != 1 || t.resource_spans[0].scope_spans.size() != 1 ||
      t.resource_spans[0].scope_spans[0].spans.size() != 1) {
    ADD_FAILURE() << "expected exactly one span";
    return kNone;
  }
  return t.resource_spans[0].scope_spans[0].spans[0];
}

// A document holding one span whose members are `members` (JSON text without braces).
std::string OneSpan(std::string_view members) {
  return R"({"resourceSpans":[{"scopeSpans":[{"spans":[{)" + std::string(members) + "}]}]}]}";
}

constexpr std::string_view kIds = R"("traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708")";

// A document whose one span carries the attribute `value` (a JSON AnyValue object).
std::string OneAttribute(std::string_view value) {
  return OneSpan(std::string(kIds) + R"(,"attributes":[{"key":"k","value":)" + std::string(value) + "}]");
}

AnyValue OnlyAttribute(std::string_view value_json) {
  model::Span s = OnlySpan(ParseOk(OneAttribute(value_json)));
  if (s.attributes.size() != 1) {
    ADD_FAILURE() << "expected one attribute";
    return AnyValue::String("<missing>");
  }
  return s.attributes[0].value;
}

// The repository's copy of Jaeger's fixtures (set by CMake); TB_JAEGER_FIXTURES overrides.
std::string FixtureDir() {
  if (const char* env = std::getenv("TB_JAEGER_FIXTURES")) return env;
  return TB_JAEGER_FIXTURE_DIR;
}

std::string ReadFixture(const std::string& name) {
  std::ifstream in(FixtureDir() + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open fixture " << FixtureDir() << "/" << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------------------------------------

TEST(OtlpJsonTest, RoundTripKeepsEveryField) {
  const model::Traces in = FullTraces();
  const std::string json = EncodeOtlpJson(in);
  auto out = ParseOtlpJson(json);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->SpanCount(), 8u);
  ASSERT_EQ(*out, in) << json;
  // Encoding is deterministic, so a second trip gives the same text.
  EXPECT_EQ(EncodeOtlpJson(*out), json);
  // Whatever we emit is valid JSON for any other reader.
  EXPECT_FALSE(nlohmann::json::parse(json, nullptr, false).is_discarded());
}

TEST(OtlpJsonTest, RoundTripPreservesValueTypesAndBits) {
  const model::Traces in = FullTraces();
  const model::Traces out = ParseOk(EncodeOtlpJson(in));
  ASSERT_EQ(out.resource_spans.size(), in.resource_spans.size());
  const auto& attrs = out.resource_spans[0].scope_spans[0].spans[0].attributes;
  const auto& want = in.resource_spans[0].scope_spans[0].spans[0].attributes;
  ASSERT_EQ(attrs.size(), want.size());
  for (size_t i = 0; i < attrs.size(); ++i) {
    EXPECT_EQ(attrs[i].key, want[i].key);
    EXPECT_EQ(attrs[i].value.type(), want[i].value.type()) << attrs[i].key;
    EXPECT_EQ(attrs[i].value, want[i].value) << attrs[i].key;
  }
  auto find = [&](std::string_view key) -> const AnyValue& {
    for (const auto& kv : attrs)
      if (kv.key == key) return kv.value;
    static const AnyValue kNone;
    ADD_FAILURE() << "no attribute " << key;
    return kNone;
  };
  EXPECT_EQ(find("int.min").int_value(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(find("int.max").int_value(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(find("double.72.5").double_value(), 72.5);
  EXPECT_EQ(find("double.1e-7").double_value(), 1e-7);
  EXPECT_TRUE(std::isnan(find("double.nan").double_value()));
  EXPECT_TRUE(std::signbit(find("double.negzero").double_value()));
  EXPECT_EQ(find("double.neginf").double_value(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(find("bytes").bytes_value(), std::string("\0\x01\xff\0zz\0", 7));
  EXPECT_EQ(find("empty").type(), AnyValue::Type::kEmpty);
}

TEST(OtlpJsonTest, EncodesCanonicalForm) {
  model::Traces t;
  model::Span s;
  s.trace_id = Tid(0xAB, 0xCD);
  s.span_id = Sid(0xEF);
  s.parent_span_id = Sid(0x0A);
  s.kind = model::SpanKind::kClient;
  s.start_time_unix_nano = 1485449191639875000ull;
  s.end_time_unix_nano = 1485449191639975000ull;
  s.attributes = {{"i", AnyValue::Int(-9)}, {"d", AnyValue::Double(72.5)}, {"n", AnyValue::Double(NAN)}};
  s.status.code = model::StatusCode::kError;
  t.resource_spans.emplace_back().scope_spans.emplace_back().spans.push_back(s);
  EXPECT_EQ(EncodeOtlpJson(t),
            R"({"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{)"
            R"("traceId":"cd0000000000000000000000000000ab","spanId":"00000000000000ef",)"
            R"("parentSpanId":"000000000000000a","name":"","kind":3,)"
            R"("startTimeUnixNano":"1485449191639875000","endTimeUnixNano":"1485449191639975000",)"
            R"("attributes":[{"key":"i","value":{"intValue":"-9"}},{"key":"d","value":{"doubleValue":72.5}},)"
            R"({"key":"n","value":{"doubleValue":"NaN"}}],"status":{"code":2}}]}]}]})");
}

TEST(OtlpJsonTest, OmitsDefaultsButKeepsRequiredSpanFields) {
  model::Traces t;
  model::Span s;
  s.trace_id = Tid(1);
  s.span_id = Sid(1);
  t.resource_spans.emplace_back().scope_spans.emplace_back().spans.push_back(s);
  EXPECT_EQ(EncodeOtlpJson(t), R"({"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{)"
                               R"("traceId":"00000000000000000000000000000001","spanId":"0000000000000001","name":"",)"
                               R"("startTimeUnixNano":"0","endTimeUnixNano":"0"}]}]}]})");
  EXPECT_EQ(EncodeOtlpJson(model::Traces{}), "{}");
  EXPECT_EQ(ParseOk("{}"), model::Traces{});
}

TEST(OtlpJsonTest, EncodesEventsLinksAndScopeFieldsWithCamelCaseKeys) {
  const std::string json = EncodeOtlpJson(FullTraces());
  for (const char* fragment : {
           R"("schemaUrl":"https://opentelemetry.io/schemas/1.21.0")",
           R"("scope":{"name":"io.opentelemetry.contrib","version":"1.2.3","attributes":[)",
           R"("droppedAttributesCount":3)",
           R"("traceState":"vendor=value,other=x")",
           R"("flags":769)",
           R"("endTimeUnixNano":"18446744073709551615")",
           R"("events":[{"timeUnixNano":"1485449191639875001","name":"event.one",)",
           R"({},{"timeUnixNano":"9","droppedAttributesCount":1}])",
           R"("droppedEventsCount":6)",
           R"("links":[{"traceId":"00000000000000000000000000000022","spanId":"0000000000000033",)"
           R"("traceState":"k=v","attributes":[{"key":"link.attr","value":{"doubleValue":72.5}}],)"
           R"("droppedAttributesCount":8,"flags":256})",
           R"("droppedLinksCount":7,"status":{"message":"boom","code":2})",
           R"("status":{"message":"message only"})",
           R"({"key":"int.min","value":{"intValue":"-9223372036854775808"}})",
           R"({"key":"double.1e-7","value":{"doubleValue":1e-7}})",
           R"({"key":"double.negzero","value":{"doubleValue":-0.0}})",
           R"({"key":"double.inf","value":{"doubleValue":"Infinity"}})",
           R"({"key":"bytes","value":{"bytesValue":"AAH/AHp6AA=="}})",
           R"({"key":"empty","value":{}})",
           R"({"key":"emptymap","value":{"kvlistValue":{}}})",
           R"("quote\" backslash\\ nl\n tab\t ctl\u0001 del)",
       }) {
    EXPECT_NE(json.find(fragment), std::string::npos) << "missing " << fragment << "\nin " << json;
  }
  // Keys never use the proto snake_case spelling.
  for (const char* snake : {"trace_id", "span_id", "start_time", "scope_spans", "resource_spans", "schema_url"})
    EXPECT_EQ(json.find(snake), std::string::npos) << snake;
}

TEST(OtlpJsonTest, EncodesInvalidUtf8AsReplacementCharacters) {
  model::Traces t;
  model::Span s;
  s.trace_id = Tid(1);
  s.span_id = Sid(1);
  s.name = std::string(
      "a\xff"
      "b\xc3",
      4);                                                                    // a stray byte and a truncated sequence
  s.attributes = {{"k\xed\xa0\x80", AnyValue::String("\xf4\x90\x80\x80")}};  // a surrogate; above U+10FFFF
  t.resource_spans.emplace_back().scope_spans.emplace_back().spans.push_back(s);
  const std::string json = EncodeOtlpJson(t);
  const model::Span back = OnlySpan(ParseOk(json));  // nlohmann rejects invalid UTF-8, so this checks validity
  EXPECT_EQ(back.name,
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  ASSERT_EQ(back.attributes.size(), 1u);
  EXPECT_EQ(back.attributes[0].key, "k\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(back.attributes[0].value.string_value(), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

// ---------------------------------------------------------------------------------------------
// Jaeger's fixtures

TEST(OtlpJsonTest, ParsesJaegerExampleTrace) {
  const model::Traces t = ParseOk(ReadFixture("example_trace.json"));
  EXPECT_EQ(t.SpanCount(), 5u);
  ASSERT_EQ(t.resource_spans.size(), 3u);
  EXPECT_EQ(model::ServiceName(t.resource_spans[0].resource), "example-service-2");
  EXPECT_EQ(model::ServiceName(t.resource_spans[2].resource), "example-service-1");
  ASSERT_EQ(t.resource_spans[2].scope_spans.size(), 1u);
  const auto& spans = t.resource_spans[2].scope_spans[0].spans;
  ASSERT_GE(spans.size(), 2u);
  EXPECT_EQ(model::HexEncode(spans[0].trace_id), "00000000000000000000000000000011");
  EXPECT_EQ(spans[0].trace_id[15], 0x11);
  EXPECT_EQ(spans[0].span_id, Sid(3));
  EXPECT_FALSE(spans[0].has_parent());
  EXPECT_EQ(spans[0].name, "example-operation-1");
  EXPECT_EQ(spans[0].kind, model::SpanKind::kUnspecified);
  EXPECT_EQ(spans[0].start_time_unix_nano, 1485449191639875000ull);
  EXPECT_EQ(spans[0].end_time_unix_nano, 1485449191639975000ull);
  ASSERT_EQ(spans[0].events.size(), 2u);
  EXPECT_EQ(spans[0].events[1].time_unix_nano, 1485449191639875000ull);
  EXPECT_EQ(spans[1].span_id, Sid(6));
  EXPECT_EQ(spans[1].name, "example-operation-3");
  EXPECT_EQ(spans[1].kind, model::SpanKind::kServer);
  EXPECT_EQ(spans[1].status, model::SpanStatus{});
  // And it survives our own encoding unchanged.
  EXPECT_EQ(ParseOk(EncodeOtlpJson(t)), t);
}

TEST(OtlpJsonTest, ParsesJaegerScopeNameVersionTrace) {
  const model::Traces t = ParseOk(ReadFixture("scope_name_version_trace.json"));
  const model::Span& s = OnlySpan(t);
  const model::Scope& scope = t.resource_spans.at(0).scope_spans.at(0).scope;
  EXPECT_EQ(scope.name, "testing-library");
  EXPECT_EQ(scope.version, "1.1.1");
  EXPECT_EQ(model::ServiceName(t.resource_spans[0].resource), "query23-service");
  model::TraceId want_id{};
  want_id[14] = 0x02;
  want_id[15] = 0x24;
  EXPECT_EQ(s.trace_id, want_id);
  EXPECT_EQ(model::HexEncode(s.trace_id), "00000000000000000000000000000224");
  EXPECT_EQ(s.end_time_unix_nano - s.start_time_unix_nano, 1000u);
  const model::Attributes want = {
      {"sameplacetag1", AnyValue::String("sameplacevalue")},
      {"sameplacetag2", AnyValue::Int(123)},
      {"sameplacetag4", AnyValue::Bool(true)},
      {"sameplacetag3", AnyValue::Double(72.5)},
      {"blob", AnyValue::FromBytes(std::string("\x00\x00\x30\x39", 4))},  // "AAAwOQ==": 12345 big-endian
  };
  EXPECT_EQ(s.attributes, want);
  ASSERT_EQ(s.attributes.size(), 5u);
  EXPECT_EQ(s.attributes[4].value.bytes_value().size(), 4u);
  EXPECT_EQ(s.attributes[4].value.bytes_value()[0], '\0');
}

TEST(OtlpJsonTest, ParsesEveryJaegerFixture) {
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(FixtureDir())) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = ParseOtlpJson(ss.str());
    ASSERT_TRUE(r.ok()) << entry.path() << ": " << r.status().ToString();
    EXPECT_GT(r->SpanCount(), 0u) << entry.path();
    EXPECT_EQ(ParseOk(EncodeOtlpJson(*r)), *r) << entry.path();
  }
  EXPECT_GE(files, 30u);
}

// ---------------------------------------------------------------------------------------------
// Lenient input

TEST(OtlpJsonTest, AcceptsSnakeCaseKeys) {
  const std::string camel = R"({"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"s"}}],
    "droppedAttributesCount":1},"schemaUrl":"r","scopeSpans":[{"scope":{"name":"n","droppedAttributesCount":2},
    "schemaUrl":"s","spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
    "parentSpanId":"0807060504030201","traceState":"t=1","startTimeUnixNano":"5","endTimeUnixNano":"6",
    "droppedAttributesCount":3,"droppedEventsCount":4,"droppedLinksCount":5,
    "attributes":[{"key":"v","value":{"arrayValue":{"values":[{"intValue":"1"},{"boolValue":true},
      {"doubleValue":1.5},{"bytesValue":"AQI="},{"kvlistValue":{"values":[{"key":"x","value":{"stringValue":"y"}}]}}]}}}],
    "events":[{"timeUnixNano":"7","droppedAttributesCount":6}],
    "links":[{"traceId":"1102030405060708090a0b0c0d0e0f10","spanId":"1102030405060708","traceState":"l",
      "droppedAttributesCount":7}]}]}]}]})";
  const std::string snake = R"({"resource_spans":[{"resource":{"attributes":[{"key":"a","value":{"string_value":"s"}}],
    "dropped_attributes_count":1},"schema_url":"r","scope_spans":[{"scope":{"name":"n","dropped_attributes_count":2},
    "schema_url":"s","spans":[{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0102030405060708",
    "parent_span_id":"0807060504030201","trace_state":"t=1","start_time_unix_nano":"5","end_time_unix_nano":"6",
    "dropped_attributes_count":3,"dropped_events_count":4,"dropped_links_count":5,
    "attributes":[{"key":"v","value":{"array_value":{"values":[{"int_value":"1"},{"bool_value":true},
      {"double_value":1.5},{"bytes_value":"AQI="},{"kvlist_value":{"values":[{"key":"x","value":{"string_value":"y"}}]}}]}}}],
    "events":[{"time_unix_nano":"7","dropped_attributes_count":6}],
    "links":[{"trace_id":"1102030405060708090a0b0c0d0e0f10","span_id":"1102030405060708","trace_state":"l",
      "dropped_attributes_count":7}]}]}]}]})";
  const model::Traces a = ParseOk(camel);
  const model::Traces b = ParseOk(snake);
  EXPECT_EQ(a, b);
  const model::Span& s = OnlySpan(b);
  EXPECT_EQ(s.parent_span_id, (model::SpanId{8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(s.trace_state, "t=1");
  EXPECT_EQ(s.start_time_unix_nano, 5u);
  EXPECT_EQ(s.dropped_links_count, 5u);
  ASSERT_EQ(s.links.size(), 1u);
  EXPECT_EQ(s.links[0].dropped_attributes_count, 7u);
  ASSERT_EQ(s.attributes.size(), 1u);
  ASSERT_EQ(s.attributes[0].value.type(), AnyValue::Type::kArray);
  EXPECT_EQ(s.attributes[0].value.array_value().size(), 5u);
  EXPECT_EQ(s.attributes[0].value.array_value()[3], AnyValue::FromBytes("\x01\x02"));
  EXPECT_EQ(b.resource_spans[0].resource.schema_url, "r");
  EXPECT_EQ(b.resource_spans[0].scope_spans[0].scope.schema_url, "s");
  EXPECT_EQ(b.resource_spans[0].scope_spans[0].scope.dropped_attributes_count, 2u);
}

TEST(OtlpJsonTest, AcceptsNumbersForInt64Fields) {
  const model::Span s = OnlySpan(ParseOk(OneSpan(std::string(kIds) + R"(,
      "startTimeUnixNano":1485449191639875000,"endTimeUnixNano":18446744073709551615,
      "droppedAttributesCount":"12","flags":"3","events":[{"timeUnixNano":1e3}],
      "attributes":[{"key":"a","value":{"intValue":-5}},{"key":"b","value":{"intValue":9223372036854775807}},
                    {"key":"c","value":{"intValue":-9223372036854775808}},{"key":"d","value":{"intValue":2.0}},
                    {"key":"e","value":{"doubleValue":3}},{"key":"f","value":{"doubleValue":"2.5"}}])")));
  EXPECT_EQ(s.start_time_unix_nano, 1485449191639875000ull);
  EXPECT_EQ(s.end_time_unix_nano, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(s.dropped_attributes_count, 12u);
  EXPECT_EQ(s.flags, 3u);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].time_unix_nano, 1000u);
  const model::Attributes want = {{"a", AnyValue::Int(-5)},
                                  {"b", AnyValue::Int(std::numeric_limits<int64_t>::max())},
                                  {"c", AnyValue::Int(std::numeric_limits<int64_t>::min())},
                                  {"d", AnyValue::Int(2)},
                                  {"e", AnyValue::Double(3.0)},
                                  {"f", AnyValue::Double(2.5)}};
  EXPECT_EQ(s.attributes, want);
}

TEST(OtlpJsonTest, AcceptsEnumNamesAndIntegers) {
  const model::Span s = OnlySpan(
      ParseOk(OneSpan(std::string(kIds) + R"(,"kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"})")));
  EXPECT_EQ(s.kind, model::SpanKind::kServer);
  EXPECT_EQ(s.status.code, model::StatusCode::kError);
  const model::Span p = OnlySpan(
      ParseOk(OneSpan(std::string(kIds) + R"(,"kind":"SPAN_KIND_PRODUCER","status":{"code":"STATUS_CODE_OK"})")));
  EXPECT_EQ(p.kind, model::SpanKind::kProducer);
  EXPECT_EQ(p.status.code, model::StatusCode::kOk);
  const model::Span n =
      OnlySpan(ParseOk(OneSpan(std::string(kIds) + R"(,"kind":5,"status":{"code":1,"message":"fine"})")));
  EXPECT_EQ(n.kind, model::SpanKind::kConsumer);
  EXPECT_EQ(n.status, (model::SpanStatus{model::StatusCode::kOk, "fine"}));
}

TEST(OtlpJsonTest, AcceptsHexInEitherCaseAndEmitsLowercase) {
  const model::Traces upper = ParseOk(OneSpan(
      R"("traceId":"ABCDEF0123456789ABCDEF0123456789","spanId":"ABCDEF0123456789","parentSpanId":"FEDCBA9876543210")"));
  const model::Traces lower = ParseOk(OneSpan(
      R"("traceId":"abcdef0123456789abcdef0123456789","spanId":"abcdef0123456789","parentSpanId":"fedcba9876543210")"));
  EXPECT_EQ(upper, lower);
  EXPECT_EQ(OnlySpan(upper).span_id, (model::SpanId{0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89}));
  const std::string json = EncodeOtlpJson(upper);
  EXPECT_NE(json.find(R"("traceId":"abcdef0123456789abcdef0123456789")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("parentSpanId":"fedcba9876543210")"), std::string::npos) << json;
}

TEST(OtlpJsonTest, EmptyOrMissingParentMeansRoot) {
  EXPECT_FALSE(OnlySpan(ParseOk(OneSpan(std::string(kIds) + R"(,"parentSpanId":"")"))).has_parent());
  EXPECT_FALSE(OnlySpan(ParseOk(OneSpan(std::string(kIds) + R"(,"parentSpanId":null)"))).has_parent());
  EXPECT_FALSE(OnlySpan(ParseOk(OneSpan(kIds))).has_parent());
  EXPECT_TRUE(OnlySpan(ParseOk(OneSpan(std::string(kIds) + R"(,"parentSpanId":"0000000000000001")"))).has_parent());
  // A root span has no parentSpanId member on output.
  EXPECT_EQ(EncodeOtlpJson(ParseOk(OneSpan(kIds))).find("parentSpanId"), std::string::npos);
}

TEST(OtlpJsonTest, ParsesEveryValueForm) {
  EXPECT_EQ(OnlyAttribute(R"({})"), AnyValue());
  EXPECT_EQ(OnlyAttribute(R"({"stringValue":null})"), AnyValue());
  EXPECT_EQ(OnlyAttribute(R"({"stringValue":"x"})"), AnyValue::String("x"));
  EXPECT_EQ(OnlyAttribute(R"({"stringValue":"\u00e9\ud83d\ude00"})"), AnyValue::String("\xc3\xa9\xf0\x9f\x98\x80"));
  EXPECT_EQ(OnlyAttribute(R"({"boolValue":false})"), AnyValue::Bool(false));
  EXPECT_EQ(OnlyAttribute(R"({"intValue":"-17"})"), AnyValue::Int(-17));
  EXPECT_EQ(OnlyAttribute(R"({"doubleValue":72.5})"), AnyValue::Double(72.5));
  EXPECT_EQ(OnlyAttribute(R"({"doubleValue":1e-7})"), AnyValue::Double(1e-7));
  EXPECT_EQ(OnlyAttribute(R"({"doubleValue":"Infinity"})"), AnyValue::Double(INFINITY));
  EXPECT_EQ(OnlyAttribute(R"({"doubleValue":"-Infinity"})"), AnyValue::Double(-INFINITY));
  const AnyValue nan = OnlyAttribute(R"({"doubleValue":"NaN"})");
  ASSERT_EQ(nan.type(), AnyValue::Type::kDouble);
  EXPECT_TRUE(std::isnan(nan.double_value()));
  EXPECT_EQ(OnlyAttribute(R"({"bytesValue":"AAAwOQ=="})"), AnyValue::FromBytes(std::string("\0\0\x30\x39", 4)));
  EXPECT_EQ(OnlyAttribute(R"({"bytesValue":"AAAwOQ"})"), AnyValue::FromBytes(std::string("\0\0\x30\x39", 4)));
  EXPECT_EQ(OnlyAttribute(R"({"bytesValue":"-_8="})"), AnyValue::FromBytes("\xfb\xff"));  // URL-safe alphabet
  EXPECT_EQ(OnlyAttribute(R"({"bytesValue":""})"), AnyValue::FromBytes(""));
  EXPECT_EQ(OnlyAttribute(R"({"arrayValue":{}})"), AnyValue::Array({}));
  EXPECT_EQ(OnlyAttribute(R"({"arrayValue":{"values":[{},{"intValue":"1"}]}})"),
            AnyValue::Array({AnyValue(), AnyValue::Int(1)}));
  EXPECT_EQ(OnlyAttribute(R"({"kvlistValue":{"values":[{"key":"a"},{"key":"b","value":{"boolValue":true}}]}})"),
            AnyValue::KvList({{"a", AnyValue()}, {"b", AnyValue::Bool(true)}}));
  // A missing "value" is the empty value too.
  model::Span s = OnlySpan(ParseOk(OneSpan(std::string(kIds) + R"(,"attributes":[{"key":"nothing"}])")));
  ASSERT_EQ(s.attributes.size(), 1u);
  EXPECT_EQ(s.attributes[0], (model::KeyValue{"nothing", AnyValue()}));
}

TEST(OtlpJsonTest, IgnoresUnknownFieldsAndNulls) {
  const std::string doc = R"({"futureTop":[1,{"a":[[[]]]}],"resourceSpans":[{"resource":{"attributes":[],"x":1,
    "entityRefs":[{"type":"host"}]},"scopeSpans":[{"scope":{"name":"n","future":{"deep":[null]}},"extra":"e",
    "spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"kept",
    "unknownNumber":1.5,"unknownObj":{"traceId":"not validated"},"status":{"code":0,"deprecatedCode":1},
    "traceState":null,"kind":null,"events":null,
    "attributes":[{"key":"k","value":{"stringValue":"v","futureValue":{"x":1}},"extra":true}]}]}]}]})";
  const model::Span s = OnlySpan(ParseOk(doc));
  EXPECT_EQ(s.name, "kept");
  EXPECT_EQ(s.status, model::SpanStatus{});
  EXPECT_EQ(s.kind, model::SpanKind::kUnspecified);
  EXPECT_EQ(s.attributes, (model::Attributes{{"k", AnyValue::String("v")}}));
}

TEST(OtlpJsonTest, SkipsUnknownMembersOfTheOuterStructure) {
  const std::string doc = R"({"a":{"resourceSpans":5},"resourceSpans":[{"x":[{"scopeSpans":7}],"resource":{},
    "scopeSpans":[{"y":{"spans":{"z":[[{}]]}},"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",
    "spanId":"0102030405060708","name":"only"}],"w":null}],"v":"s"}],"resource_spans":[{"schema_url":"second"}]})";
  const model::Traces t = ParseOk(doc);
  // Both spellings of a repeated field contribute their elements.
  ASSERT_EQ(t.resource_spans.size(), 2u);
  EXPECT_EQ(t.resource_spans[1].resource.schema_url, "second");
  EXPECT_TRUE(t.resource_spans[1].scope_spans.empty());
  ASSERT_EQ(t.resource_spans[0].scope_spans.size(), 1u);
  ASSERT_EQ(t.resource_spans[0].scope_spans[0].spans.size(), 1u);
  EXPECT_EQ(t.resource_spans[0].scope_spans[0].spans[0].name, "only");
}

TEST(OtlpJsonTest, NestingUpTo64LevelsIsAccepted) {
  auto nested = [](int levels) {
    std::string v = R"({"intValue":"1"})";
    for (int i = 0; i < levels; ++i) v = R"({"arrayValue":{"values":[)" + v + "]}}";
    return v;
  };
  const AnyValue ok = OnlyAttribute(nested(64));
  int depth = 0;
  const AnyValue* v = &ok;
  while (v->type() == AnyValue::Type::kArray) {
    ++depth;
    v = &v->array_value().at(0);
  }
  EXPECT_EQ(depth, 64);
  EXPECT_EQ(*v, AnyValue::Int(1));
  auto r = ParseOtlpJson(OneAttribute(nested(65)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested deeper than 64"), std::string::npos) << r.status().message();
}

// ---------------------------------------------------------------------------------------------
// Malformed input

struct BadCase {
  const char* name;
  std::string json;
  std::string fragment;  // must appear in the error message
};

std::vector<BadCase> BadCases() {
  const std::string ids(kIds);
  const std::string s0 = "resourceSpans[0].scopeSpans[0].spans[0].";
  std::string deep = R"({"intValue":"1"})";
  for (int i = 0; i < 100; ++i)
    deep = (i % 2 ? R"({"arrayValue":{"values":[)" + deep + "]}}"
                  : R"({"kvlistValue":{"values":[{"key":"k","value":)" + deep + "}]}}");
  return {
      {"syntax error", R"({"resourceSpans":[)", "invalid JSON: [json.exception.parse_error"},
      {"trailing garbage", "{} x", "parse error"},
      {"empty input", "", "parse error"},
      {"number overflow", R"({"x":1e999})", "invalid JSON: [json.exception.out_of_range"},
      {"invalid UTF-8", "{\"resourceSpans\":[],\"a\":\"\xff\"}", "parse error"},
      {"top level array", "[]", "document: expected a JSON object, got array"},
      {"resourceSpans not an array", R"({"resourceSpans":{}})", "resourceSpans: expected an array, got object"},
      {"resource spans element", R"({"resourceSpans":[1]})", "resourceSpans[0]: expected an object, got number"},
      {"scopeSpans string", R"({"resourceSpans":[{"scopeSpans":"x"}]})", "resourceSpans[0].scopeSpans: expected an"},
      {"spans null element", R"({"resourceSpans":[{"scopeSpans":[{"spans":[null]}]}]})",
       s0.substr(0, s0.size() - 1) + ": expected an object, got null"},
      {"resource number", R"({"resourceSpans":[{"resource":5}]})", "resourceSpans[0].resource: expected an object"},
      {"second span number",
       R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",
       "spanId":"0102030405060708"},5]}]}]})",
       "resourceSpans[0].scopeSpans[0].spans[1]: expected an object, got number"},
      {"resourceSpans string", R"({"resource_spans":"x"})", "resource_spans: expected an array, got string"},
      {"second resource spans", R"({"resourceSpans":[{},[]]})", "resourceSpans[1]: expected an object, got array"},
      {"scope array", R"({"resourceSpans":[{"scopeSpans":[{},{"scope":[]}]}]})",
       "resourceSpans[0].scopeSpans[1].scope: expected an object, got array"},
      {"resource schemaUrl number", R"({"resourceSpans":[{"schemaUrl":5}]})",
       "resourceSpans[0].schemaUrl: expected a string, got number"},
      {"scope schemaUrl object", R"({"resourceSpans":[{"scopeSpans":[{"schema_url":{"a":[1]}}]}]})",
       "resourceSpans[0].scopeSpans[0].schema_url: expected a string, got object"},
      {"bad hex", OneSpan(R"("traceId":"0102030405060708090a0b0c0d0e0fzz","spanId":"0102030405060708")"),
       s0 + "traceId: expected 32 hex digits, got non-hex characters"},
      {"30 digit trace id", OneSpan(R"("traceId":"02030405060708090a0b0c0d0e0f10","spanId":"0102030405060708")"),
       s0 + "traceId: expected 32 hex digits, got 30 characters"},
      {"7 byte span id", OneSpan(R"("traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"01020304050607")"),
       s0 + "spanId: expected 16 hex digits, got 14 characters"},
      {"trace id number", OneSpan(R"("traceId":12,"spanId":"0102030405060708")"),
       s0 + "traceId: expected a hex string, got number"},
      {"missing trace id", OneSpan(R"("spanId":"0102030405060708")"), s0 + "traceId: required field is missing"},
      {"empty trace id", OneSpan(R"("traceId":"","spanId":"0102030405060708")"),
       s0 + "traceId: expected 32 hex digits, got 0 characters"},
      {"missing span id", OneSpan(R"("traceId":"0102030405060708090a0b0c0d0e0f10")"), s0 + "spanId: required field"},
      {"empty span id", OneSpan(R"("traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"")"), s0 + "spanId"},
      {"zero trace id", OneSpan(R"("traceId":"00000000000000000000000000000000","spanId":"0102030405060708")"),
       s0 + "traceId: must not be all zero"},
      {"bad parent", OneSpan(ids + R"(,"parentSpanId":"0102")"),
       s0 + "parentSpanId: expected 16 hex digits, got 4 characters"},
      {"non-numeric time", OneSpan(ids + R"(,"startTimeUnixNano":"12a")"),
       s0 + R"(startTimeUnixNano: expected an unsigned decimal integer, got "12a")"},
      {"negative time", OneSpan(ids + R"(,"endTimeUnixNano":"-1")"), s0 + "endTimeUnixNano"},
      {"negative time number", OneSpan(ids + R"(,"endTimeUnixNano":-1)"), s0 + "endTimeUnixNano"},
      {"time too big", OneSpan(ids + R"(,"endTimeUnixNano":"18446744073709551616")"),
       s0 + "endTimeUnixNano: integer out of range"},
      {"fractional time", OneSpan(ids + R"(,"startTimeUnixNano":1.5)"), s0 + "startTimeUnixNano"},
      {"time as bool", OneSpan(ids + R"(,"startTimeUnixNano":true)"), s0 + "startTimeUnixNano: expected an integer"},
      {"event time", OneSpan(ids + R"(,"events":[{},{"timeUnixNano":"x"}])"), s0 + "events[1].timeUnixNano"},
      {"count too big", OneSpan(ids + R"(,"droppedAttributesCount":4294967296)"),
       s0 + "droppedAttributesCount: integer out of range"},
      {"flags string", OneSpan(ids + R"(,"flags":"f")"), s0 + "flags"},
      {"unknown kind number", OneSpan(ids + R"(,"kind":6)"), s0 + "kind: unknown span kind 6"},
      {"negative kind", OneSpan(ids + R"(,"kind":-1)"), s0 + "kind: unknown span kind -1"},
      {"unknown kind name", OneSpan(ids + R"(,"kind":"SPAN_KIND_SIDEWAYS")"), s0 + "kind: unknown span kind"},
      {"kind float", OneSpan(ids + R"(,"kind":1.5)"), s0 + "kind: expected an integer or an enum name"},
      {"unknown status code", OneSpan(ids + R"(,"status":{"code":"ERROR"})"), s0 + "status.code: unknown status"},
      {"status not object", OneSpan(ids + R"(,"status":[])"), s0 + "status: expected an object"},
      {"name number", OneSpan(ids + R"(,"name":5)"), s0 + "name: expected a string, got number"},
      {"bad base64", OneAttribute(R"({"bytesValue":"not base64!"})"),
       s0 + "attributes[0].value.bytesValue: invalid base64"},
      {"base64 bad length", OneAttribute(R"({"bytesValue":"AAAAA"})"), s0 + "attributes[0].value.bytesValue"},
      {"int value out of range", OneAttribute(R"({"intValue":"9223372036854775808"})"),
       s0 + "attributes[0].value.intValue: integer out of range"},
      {"int value number out of range", OneAttribute(R"({"intValue":9223372036854775808})"),
       s0 + "attributes[0].value.intValue: integer out of range"},
      {"int value fraction", OneAttribute(R"({"intValue":1.5})"), s0 + "attributes[0].value.intValue"},
      {"int value text", OneAttribute(R"({"intValue":"one"})"), s0 + "attributes[0].value.intValue"},
      {"double text", OneAttribute(R"({"doubleValue":"abc"})"), s0 + "attributes[0].value.doubleValue"},
      {"double lowercase nan", OneAttribute(R"({"doubleValue":"nan"})"), s0 + "attributes[0].value.doubleValue"},
      {"bool as string", OneAttribute(R"({"boolValue":"true"})"),
       s0 + "attributes[0].value.boolValue: expected a boolean, got string"},
      {"two value fields", OneAttribute(R"({"intValue":"1","stringValue":"x"})"), "more than one of the value fields"},
      {"value not object", OneAttribute(R"("x")"), s0 + "attributes[0].value: expected an object, got string"},
      {"attributes not array", OneSpan(ids + R"(,"attributes":{})"), s0 + "attributes: expected an array"},
      {"key not string", OneSpan(ids + R"(,"attributes":[{"key":1}])"), s0 + "attributes[0].key"},
      {"array values not array", OneAttribute(R"({"arrayValue":{"values":{}}})"),
       s0 + "attributes[0].value.arrayValue.values: expected an array"},
      {"nested error path", OneAttribute(R"({"kvlistValue":{"values":[{"key":"a","value":{"intValue":"z"}}]}})"),
       s0 + "attributes[0].value.kvlistValue.values[0].value.intValue"},
      {"deep nesting 100 levels", OneAttribute(deep), "nested deeper than 64 levels"},
      {"deep nesting path", OneAttribute(deep),
       s0 + "attributes[0].value.arrayValue.values[0].kvlistValue.values[0].value.arrayValue"},
      {"link bad trace id", OneSpan(ids + R"(,"links":[{"traceId":"01","spanId":"0102030405060708"}])"),
       s0 + "links[0].traceId: expected 32 hex digits, got 2 characters"},
      {"link missing span id", OneSpan(ids + R"(,"links":[{"traceId":"0102030405060708090a0b0c0d0e0f10"}])"),
       s0 + "links[0].spanId: required field is missing"},
      {"link flags negative", OneSpan(ids + R"(,"links":[{"traceId":"0102030405060708090a0b0c0d0e0f10",
       "spanId":"0102030405060708","flags":-3}])"),
       s0 + "links[0].flags"},
      {"scope name number", R"({"resourceSpans":[{"scopeSpans":[{"scope":{"name":1}}]}]})",
       "resourceSpans[0].scopeSpans[0].scope.name: expected a string"},
      {"snake case path", R"({"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"1"}]}]}]})",
       "resource_spans[0].scope_spans[0].spans[0].trace_id: expected 32 hex digits, got 1 characters"},
  };
}

TEST(OtlpJsonTest, MalformedInputIsInvalidArgumentNamingThePath) {
  for (const BadCase& c : BadCases()) {
    auto r = ParseOtlpJson(c.json);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.name << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.fragment), std::string::npos)
        << c.name << "\n  want fragment: " << c.fragment << "\n  got: " << r.status().message();
  }
}

TEST(OtlpJsonTest, ErrorPathCountsEveryLevel) {
  // resourceSpans[0].scopeSpans[1].spans[3] is the one bad span among good ones.
  const std::string good = R"({"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"})";
  const std::string bad = R"({"traceId":"02030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"})";
  const std::string doc = R"({"resourceSpans":[{"scopeSpans":[{"spans":[)" + good + R"(]},{"spans":[)" + good + "," +
                          good + "," + good + "," + bad + R"(]}]}]})";
  auto r = ParseOtlpJson(doc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex digits, got 30 characters");
}

TEST(OtlpJsonTest, EveryTruncationOrCorruptionFailsCleanly) {
  const std::string json = EncodeOtlpJson(FullTraces());
  ASSERT_TRUE(ParseOtlpJson(json).ok());
  // No proper prefix of an object is a JSON document.
  for (size_t n = 0; n < json.size(); n += 7) {
    auto r = ParseOtlpJson(std::string_view(json).substr(0, n));
    ASSERT_FALSE(r.ok()) << n;
    ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << n;
  }
  // Overwriting single bytes may or may not leave a valid document, but must never crash or throw.
  size_t failures = 0;
  for (size_t i = 0; i < json.size(); i += 5) {
    for (char c : {'"', '0', '{', ']', ',', 'x', '\0', '-'}) {
      std::string mutated = json;
      mutated[i] = c;
      auto r = ParseOtlpJson(mutated);
      if (!r.ok()) {
        ++failures;
        ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << i << " " << r.status().message();
      }
    }
  }
  EXPECT_GT(failures, 0u);
}

TEST(OtlpJsonTest, DeepJsonOutsideValuesIsHandled) {
  // Very deep JSON in an ignored member must neither overflow the stack nor be refused.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto r = ParseOtlpJson(R"({"ignored":)" + deep + R"(,"resourceSpans":[]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->SpanCount(), 0u);
  // And a deep unterminated one fails cleanly.
  auto bad = ParseOtlpJson(R"({"ignored":)" + std::string(100000, '['));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(OtlpJsonTest, LargeBatchRoundTrips) {
  model::Traces t;
  auto& spans = t.resource_spans.emplace_back().scope_spans.emplace_back().spans;
  for (uint32_t i = 0; i < 50000; ++i) {
    model::Span s;
    s.trace_id = Tid(static_cast<uint8_t>(i), 1);
    s.span_id = Sid(static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i | 1));
    s.name = "op-" + std::to_string(i % 100);
    s.start_time_unix_nano = 1700000000000000000ull + i;
    s.end_time_unix_nano = s.start_time_unix_nano + 1000;
    s.attributes = {{"http.status_code", AnyValue::Int(200)}, {"peer", AnyValue::String(std::string(40, 'p'))}};
    spans.push_back(std::move(s));
  }
  const std::string json = EncodeOtlpJson(t);
  EXPECT_GT(json.size(), 10u << 20);
  auto back = ParseOtlpJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->SpanCount(), 50000u);
  EXPECT_TRUE(*back == t);
}

}  // namespace
}  // namespace tb::wire

namespace tb::wire {
namespace {

TEST(OtlpJsonPropertyTest, RandomBatchesRoundTripExactly) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const model::Traces in = model::RandomTraces(seed);
    auto out = ParseOtlpJson(EncodeOtlpJson(in));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(*out, in) << "seed " << seed;
  }
}

}  // namespace
}  // namespace tb::wire
