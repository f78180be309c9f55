#include "util/capped_decoder.h"

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <random>
#include <string>

#include "util/test_zlib.h"

namespace tb {
namespace {

std::string Compress(ContentCoding coding, std::string_view data) {
  switch (coding) {
    case ContentCoding::kIdentity: return std::string(data);
    case ContentCoding::kGzip: return test_zlib::Compress(data, MAX_WBITS + 16);
    case ContentCoding::kDeflate: return test_zlib::Compress(data, MAX_WBITS);
    case ContentCoding::kZstd: {
      std::string out(ZSTD_compressBound(data.size()), '\0');
      out.resize(ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 1));
      return out;
    }
  }
  return {};
}

std::string Text(size_t n) {
  std::mt19937 rng(7);
  std::string s;
  while (s.size() < n) s += "span-" + std::to_string(rng() % 1000) + " ";
  s.resize(n);
  return s;
}

// Decodes `encoded` fed in pieces of `piece` bytes.
Status Decode(ContentCoding coding, std::string_view encoded, uint64_t cap, size_t piece, std::string* out) {
  CappedDecoder decoder(coding, cap, out);
  for (size_t at = 0; at < encoded.size(); at += piece)
    if (Status s = decoder.Write(encoded.substr(at, piece)); !s.ok()) return s;
  return decoder.Finish();
}

class CappedDecoderTest : public ::testing::TestWithParam<ContentCoding> {};

TEST_P(CappedDecoderTest, DecodesWholeInAnyPieces) {
  const std::string data = Text(300'000);
  const std::string encoded = Compress(GetParam(), data);
  for (size_t piece : {size_t{1} << 20, size_t{4096}, size_t{7}}) {
    std::string out;
    ASSERT_TRUE(Decode(GetParam(), encoded, data.size(), piece, &out).ok()) << piece;
    EXPECT_EQ(out, data);
  }
}

TEST_P(CappedDecoderTest, ExactlyTheCapPassesAndOneByteMoreIsRefused) {
  const std::string data = Text(100'000);
  const std::string encoded = Compress(GetParam(), data);
  std::string out;
  EXPECT_TRUE(Decode(GetParam(), encoded, data.size(), 1000, &out).ok());
  out.clear();
  const Status over = Decode(GetParam(), encoded, data.size() - 1, 1000, &out);
  EXPECT_EQ(over.code(), StatusCode::kResourceExhausted) << over.ToString();
  EXPECT_LE(out.size(), data.size());
}

INSTANTIATE_TEST_SUITE_P(Codings, CappedDecoderTest,
                         ::testing::Values(ContentCoding::kIdentity, ContentCoding::kGzip, ContentCoding::kDeflate,
                                           ContentCoding::kZstd));

class CompressedCodingTest : public ::testing::TestWithParam<ContentCoding> {};

TEST_P(CompressedCodingTest, ABombStopsAtTheCap) {
  const std::string zeros(64 << 20, '\0');
  const std::string bomb = Compress(GetParam(), zeros);
  ASSERT_LT(bomb.size(), 1u << 20);
  std::string out;
  CappedDecoder decoder(GetParam(), 1 << 20, &out);
  EXPECT_EQ(decoder.Write(bomb).code(), StatusCode::kResourceExhausted);
  EXPECT_LE(out.size(), (1u << 20) + 1);
  EXPECT_LE(out.capacity(), (1u << 20) + 1);
  // Refused for good: more input is not decoded.
  EXPECT_EQ(decoder.Write("x").code(), StatusCode::kResourceExhausted);
}

TEST_P(CompressedCodingTest, TruncatedDataIsInvalid) {
  const std::string encoded = Compress(GetParam(), Text(50'000));
  std::string out;
  EXPECT_EQ(Decode(GetParam(), encoded.substr(0, encoded.size() / 2), 1 << 20, 999, &out).code(),
            StatusCode::kInvalidArgument);
}

TEST_P(CompressedCodingTest, CorruptDataIsInvalid) {
  std::string out;
  EXPECT_EQ(Decode(GetParam(), "this was never compressed by anyone", 1 << 20, 5, &out).code(),
            StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Codings, CompressedCodingTest,
                         ::testing::Values(ContentCoding::kGzip, ContentCoding::kDeflate, ContentCoding::kZstd));

TEST(CappedDecoder, BytesAfterAGzipStreamAreInvalid) {
  std::string encoded = Compress(ContentCoding::kGzip, Text(1000)) + "trailing";
  std::string out;
  EXPECT_EQ(Decode(ContentCoding::kGzip, encoded, 1 << 20, 1 << 20, &out).code(), StatusCode::kInvalidArgument);
}

TEST(CappedDecoder, ConcatenatedZstdFramesDecodeAsOneStream) {
  const std::string a = Text(10'000), b = Text(20'000);
  std::string out;
  ASSERT_TRUE(Decode(ContentCoding::kZstd, Compress(ContentCoding::kZstd, a) + Compress(ContentCoding::kZstd, b),
                     1 << 20, 333, &out)
                  .ok());
  EXPECT_EQ(out, a + b);
}

TEST(ContentCoding, NamesAreParsedAndOthersRefused) {
  EXPECT_EQ(*ParseContentCoding(""), ContentCoding::kIdentity);
  EXPECT_EQ(*ParseContentCoding("identity"), ContentCoding::kIdentity);
  EXPECT_EQ(*ParseContentCoding(" GZIP "), ContentCoding::kGzip);
  EXPECT_EQ(*ParseContentCoding("x-gzip"), ContentCoding::kGzip);
  EXPECT_EQ(*ParseContentCoding("Deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(*ParseContentCoding("zstd"), ContentCoding::kZstd);
  EXPECT_EQ(ParseContentCoding("br").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseContentCoding("gzip, gzip").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tb
