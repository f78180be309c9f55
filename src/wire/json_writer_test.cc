#include "wire/json_writer.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <random>

namespace tb::wire {
namespace {

// A document with every kind of value, nested objects and arrays, and empty ones.
void WriteSample(JsonWriter& w) {
  w.BeginObject();
  w.Member("name", "a \"quoted\" name\n");
  w.Member("count", uint64_t{3});
  w.Key("items");
  w.BeginArray();
  w.Int(-7);
  w.FiniteDouble(2.5);
  w.Bool(true);
  w.Null();
  w.BeginObject();
  w.EndObject();
  w.BeginArray();
  w.EndArray();
  w.BeginObject();
  w.Key("inner");
  w.BeginArray();
  w.String("x");
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.Key("empty");
  w.BeginObject();
  w.EndObject();
  w.EndObject();
}

nlohmann::ordered_json Sample() {
  using J = nlohmann::ordered_json;
  return J{{"name", "a \"quoted\" name\n"},
           {"count", 3},
           {"items", J::array({-7, 2.5, true, nullptr, J::object(), J::array(), J{{"inner", J::array({"x"})}}})},
           {"empty", J::object()}};
}

TEST(JsonWriter, CompactOutputHasCommasOnlyBetweenValues) {
  std::string out;
  JsonWriter w(&out);
  WriteSample(w);
  EXPECT_EQ(out,
            R"({"name":"a \"quoted\" name\n","count":3,"items":[-7,2.5,true,null,{},[],{"inner":["x"]}],"empty":{}})");
  EXPECT_EQ(nlohmann::ordered_json::parse(out), Sample());
}

TEST(JsonWriter, PrettyOutputIsLaidOutAsNlohmannsDumpWithFourSpaces) {
  std::string out;
  JsonWriter w(&out, /*pretty=*/true);
  WriteSample(w);
  EXPECT_EQ(out, Sample().dump(4));
}

TEST(JsonWriter, StringsEscapeControlCharactersAndKeepWellFormedUtf8) {
  std::string out;
  JsonWriter w(&out);
  static constexpr char kInput[] = "tab\t nul\0 bell\x07 del\x7f \\ \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  w.String(std::string_view(kInput, sizeof kInput - 1));
  EXPECT_EQ(out, "\"tab\\t nul\\u0000 bell\\u0007 del\x7f \\\\ \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
}

TEST(JsonWriter, EveryByteOutsideWellFormedUtf8BecomesTheReplacementCharacter) {
  const std::string kFffd = "\xEF\xBF\xBD";
  const struct {
    std::string in;
    std::string out;
  } cases[] = {
      {"\xC0\x80", kFffd + kFffd},                          // overlong NUL
      {"\xED\xA0\x80", kFffd + kFffd + kFffd},              // a UTF-16 surrogate
      {"\xF4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},  // above U+10FFFF
      {"a\xE2\x82", "a" + kFffd + kFffd},                   // cut short at the end
      {"\xE2\x82z", kFffd + kFffd + "z"},                   // cut short by an ASCII byte
      {"\xFF", kFffd},
  };
  for (const auto& c : cases) {
    std::string out;
    JsonWriter w(&out);
    w.String(c.in);
    EXPECT_EQ(out, "\"" + c.out + "\"");
  }
}

TEST(JsonWriter, RandomBytesAlwaysGiveJsonThatParsesAndValidUtf8ReadsBackUnchanged) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(rng() % 24, '\0');
    for (auto& b : bytes) b = static_cast<char>(rng() % 4 == 0 ? 0x80 + rng() % 0x80 : rng() % 0x80);
    std::string out;
    JsonWriter w(&out);
    w.String(bytes);
    const auto parsed = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(parsed.is_string()) << out;
    // nlohmann's dump with error_handler strict throws on invalid UTF-8: so a string it can dump
    // strictly is valid UTF-8, and must come back exactly.
    try {
      (void)nlohmann::json(bytes).dump();
      EXPECT_EQ(parsed.get<std::string>(), bytes);
    } catch (const nlohmann::json::type_error&) {
      EXPECT_NE(parsed.get<std::string>(), bytes);
    }
  }
}

TEST(JsonWriter, NumbersReadBackExactly) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  w.Int(std::numeric_limits<int64_t>::min());
  w.Uint(std::numeric_limits<uint64_t>::max());
  w.FiniteDouble(0.1);
  w.FiniteDouble(1e300);
  w.FiniteDouble(5e-324);
  w.FiniteDouble(0.0);
  w.FiniteDouble(-0.0);
  w.EndArray();
  EXPECT_EQ(out, "[-9223372036854775808,18446744073709551615,0.1,1e+300,5e-324,0,-0.0]");
  const auto parsed = nlohmann::json::parse(out);
  EXPECT_EQ(parsed[0].get<int64_t>(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(parsed[1].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(parsed[2].get<double>(), 0.1);
  EXPECT_EQ(parsed[4].get<double>(), 5e-324);
  EXPECT_TRUE(parsed[6].is_number_float() && std::signbit(parsed[6].get<double>()));
}

}  // namespace
}  // namespace tb::wire
