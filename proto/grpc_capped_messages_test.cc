#include "grpc_capped_messages.h"

#include <grpc/byte_buffer.h>
#include <grpc/slice.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "grpc_byte_buffer_peer.h"
#include "util/test_zlib.h"

namespace tb::grpc_messages {
namespace {

// `raw` compressed with zlib: gzip framing (as gRPC's "gzip") or zlib framing (its "deflate").
std::string Compress(const std::string& raw, bool gzip) {
  return test_zlib::Compress(raw, gzip ? MAX_WBITS + 16 : MAX_WBITS, Z_BEST_COMPRESSION);
}

// A received message as gRPC's core hands it over with per-message decompression off: the bytes as
// they came, in slices of `slice_bytes`, marked with their algorithm.
grpc::ByteBuffer Received(const std::string& wire, grpc_compression_algorithm algorithm, size_t slice_bytes = 1000) {
  std::vector<grpc_slice> slices;
  for (size_t at = 0; at < wire.size(); at += slice_bytes)
    slices.push_back(grpc_slice_from_copied_buffer(wire.data() + at, std::min(slice_bytes, wire.size() - at)));
  grpc_byte_buffer* core = grpc_raw_compressed_byte_buffer_create(slices.data(), slices.size(), algorithm);
  for (auto& s : slices) grpc_slice_unref(s);
  grpc::ByteBuffer buffer;
  grpc::internal::GrpcByteBufferPeer(&buffer).Adopt(core);
  return buffer;
}

class CappedInflate : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = MaxInflatedMessageSize(); }
  void TearDown() override { SetMaxInflatedMessageSize(saved_); }
  uint64_t saved_ = 0;
};

TEST_F(CappedInflate, GzipAndDeflateInflateToTheSameBytes) {
  std::string raw;
  for (int i = 0; i < 20000; ++i) raw += "span " + std::to_string(i * 7919 % 10007) + ";";
  SetMaxInflatedMessageSize(raw.size());
  for (const bool gzip : {true, false}) {
    grpc::ByteBuffer buffer = Received(Compress(raw, gzip), gzip ? GRPC_COMPRESS_GZIP : GRPC_COMPRESS_DEFLATE);
    EXPECT_TRUE(IsCompressed(buffer));
    std::string out;
    const grpc::Status s = ReadMessageBytes(buffer, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(out, raw) << (gzip ? "gzip" : "deflate");
  }
}

TEST_F(CappedInflate, ExactlyTheLimitPassesOneByteMoreIsRefusedNamingTheLimit) {
  const std::string raw(300000, 'z');
  const std::string wire = Compress(raw, true);
  SetMaxInflatedMessageSize(raw.size());
  std::string out;
  EXPECT_TRUE(ReadMessageBytes(Received(wire, GRPC_COMPRESS_GZIP), &out).ok());
  EXPECT_EQ(out.size(), raw.size());

  SetMaxInflatedMessageSize(raw.size() - 1);
  const grpc::Status s = ReadMessageBytes(Received(wire, GRPC_COMPRESS_GZIP), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("limits.max_request_size (299999 bytes)"), std::string::npos) << s.error_message();
  EXPECT_TRUE(out.empty());
}

TEST_F(CappedInflate, ABombStopsAtTheCap) {
  // 64 MiB of one byte is ~64 KiB compressed; at a 1 MiB cap no more than the cap + 1 is held.
  const std::string wire = Compress(std::string(64 << 20, 'a'), true);
  SetMaxInflatedMessageSize(1 << 20);
  std::string out;
  const grpc::Status s = ReadMessageBytes(Received(wire, GRPC_COMPRESS_GZIP, 4096), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_LE(out.capacity(), (1u << 20) + 1 + 64);
}

TEST_F(CappedInflate, CorruptAndTruncatedStreamsAreInvalidArguments) {
  std::string raw;  // varied text: in a run of one byte a flipped bit may decode to the same bytes
  for (int i = 0; i < 5000; ++i) raw += std::to_string(i * 7919 % 10007) + ",";
  const std::string wire = Compress(raw, true);
  SetMaxInflatedMessageSize(1 << 20);
  std::string corrupt = wire;
  corrupt[corrupt.size() / 2] ^= 0x55;
  corrupt[corrupt.size() / 2 + 1] ^= 0x55;
  std::string out;
  grpc::Status s = ReadMessageBytes(Received(corrupt, GRPC_COMPRESS_GZIP), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  s = ReadMessageBytes(Received(wire.substr(0, wire.size() / 2), GRPC_COMPRESS_GZIP), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  // A deflate stream announced as gzip has no gzip header.
  s = ReadMessageBytes(Received(Compress("hello", false), GRPC_COMPRESS_GZIP), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

TEST_F(CappedInflate, AnUncompressedMessageIsReadAsItCame) {
  grpc::ByteBuffer buffer = Received("plain bytes", GRPC_COMPRESS_NONE, 4);
  EXPECT_FALSE(IsCompressed(buffer));
  std::string out;
  EXPECT_TRUE(ReadMessageBytes(buffer, &out).ok());
  EXPECT_EQ(out, "plain bytes");
}

TEST_F(CappedInflate, TheDeserializerOfEveryRequestTypeInflatesUnderTheCap) {
  jaeger::storage::v2::GetOperationsRequest request;
  request.set_service(std::string(5000, 's'));
  const std::string wire = Compress(request.SerializeAsString(), true);
  SetMaxInflatedMessageSize(1 << 20);
  grpc::ByteBuffer buffer = Received(wire, GRPC_COMPRESS_GZIP);
  // As the generated unary handlers call it: through the base type.
  jaeger::storage::v2::GetOperationsRequest parsed;
  grpc::Status s = grpc::SerializationTraits<grpc::protobuf::MessageLite>::Deserialize(&buffer, &parsed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(parsed.service(), request.service());

  SetMaxInflatedMessageSize(100);
  grpc::ByteBuffer again = Received(wire, GRPC_COMPRESS_GZIP);
  jaeger::storage::v1::WriteSpanRequest streamed;  // as a streaming handler names it
  s = grpc::SerializationTraits<jaeger::storage::v1::WriteSpanRequest>::Deserialize(&again, &streamed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

}  // namespace
}  // namespace tb::grpc_messages
