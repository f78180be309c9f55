#include "model/text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tb::model {
namespace {

TEST(TextTest, HexRoundTrip) {
  auto id = HexDecodeId<16>("000000000000000000000000000000Ff");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ((*id)[15], 0xff);
  EXPECT_EQ(HexEncode(*id), "000000000000000000000000000000ff");
  EXPECT_FALSE(HexDecodeId<8>("00000000000000").has_value());    // too short
  EXPECT_FALSE(HexDecodeId<8>("000000000000000g").has_value());  // not hex
}

TEST(TextTest, Base64RoundTrip) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\0\x30\x39", 4)}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.has_value()) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode(std::string("\0\0\x30\x39", 4)), "AAAwOQ==");
  EXPECT_FALSE(Base64Decode("AAA").has_value());
  EXPECT_FALSE(Base64Decode("A=AA").has_value());
  EXPECT_FALSE(Base64Decode("AA*A").has_value());
}

TEST(TextTest, CanonicalStringFollowsJaegerAsString) {
  EXPECT_EQ(CanonicalString(AnyValue::String("x")), "x");
  EXPECT_EQ(CanonicalString(AnyValue::Bool(true)), "true");
  EXPECT_EQ(CanonicalString(AnyValue::Int(-123)), "-123");
  EXPECT_EQ(CanonicalString(AnyValue::Double(72.5)), "72.5");
  EXPECT_EQ(CanonicalString(AnyValue::Double(123.0)), "123");
  EXPECT_EQ(CanonicalString(AnyValue::Double(1e-7)), "1e-7");
  EXPECT_EQ(CanonicalString(AnyValue::Double(1e21)), "1e+21");
  EXPECT_EQ(CanonicalString(AnyValue::Double(0.1)), "0.1");
  EXPECT_EQ(CanonicalString(AnyValue::Double(std::numeric_limits<double>::quiet_NaN())), "NaN");
  EXPECT_EQ(CanonicalString(AnyValue::Double(-std::numeric_limits<double>::infinity())), "-Infinity");
  EXPECT_EQ(CanonicalString(AnyValue::FromBytes(std::string("\0\0\x30\x39", 4))), "AAAwOQ==");
  EXPECT_EQ(CanonicalString(AnyValue::Array({AnyValue::Int(1), AnyValue::String("a\"b"), AnyValue::Bool(false)})),
            "[1,\"a\\\"b\",false]");
  EXPECT_EQ(CanonicalString(AnyValue::KvList({{"k", AnyValue::Double(1.5)}, {"e", AnyValue()}})),
            "{\"k\":1.5,\"e\":null}");
}

}  // namespace
}  // namespace tb::model
