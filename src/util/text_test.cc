#include "util/text.h"

#include <gtest/gtest.h>

namespace tb {
namespace {

TEST(TextTest, AsciiLowercaseTurnsOnlyAToZ) {
  EXPECT_EQ(AsciiLowercase(""), "");
  EXPECT_EQ(AsciiLowercase("Content-Encoding: GZIP"), "content-encoding: gzip");
  EXPECT_EQ(AsciiLowercase("@[`{az09"), "@[`{az09");                    // the neighbours of A-Z and a-z stay
  EXPECT_EQ(AsciiLowercase("\xC3\x89t\xC3\xA9"), "\xC3\x89t\xC3\xA9");  // "Été": UTF-8 bytes pass through
}

TEST(TextTest, TrimAsciiWhitespaceTrimsBothEndsOnly) {
  EXPECT_EQ(TrimAsciiWhitespace(""), "");
  EXPECT_EQ(TrimAsciiWhitespace(" \t\r\n\v\f"), "");
  EXPECT_EQ(TrimAsciiWhitespace("\t gzip ;q=0 \r\n"), "gzip ;q=0");
  EXPECT_EQ(TrimAsciiWhitespace("a b"), "a b");
  EXPECT_EQ(TrimAsciiWhitespace("\xC2\xA0x\xC2\xA0"), "\xC2\xA0x\xC2\xA0");  // NBSP is not ASCII whitespace
}

}  // namespace
}  // namespace tb
