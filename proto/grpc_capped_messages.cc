#include "grpc_capped_messages.h"

#include <grpc/slice.h>

#include <algorithm>
#include <atomic>

#include "grpc_byte_buffer_peer.h"
#include "util/capped_decoder.h"

namespace tb::grpc_messages {
namespace {

std::atomic<uint64_t> max_inflated{64ull << 20};

// Read only: the peer's accessor is not const, the buffer is not changed.
grpc_byte_buffer* Core(const grpc::ByteBuffer& buffer) {
  return grpc::internal::GrpcByteBufferPeer(const_cast<grpc::ByteBuffer*>(&buffer)).c_buffer();
}

grpc::Status TooLarge(uint64_t cap) {
  return grpc::Status(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      "the compressed message inflates past limits.max_request_size (" + std::to_string(cap) + " bytes)");
}

}  // namespace

void SetMaxInflatedMessageSize(uint64_t bytes) { max_inflated.store(bytes, std::memory_order_relaxed); }
uint64_t MaxInflatedMessageSize() { return max_inflated.load(std::memory_order_relaxed); }

bool IsCompressed(const grpc::ByteBuffer& buffer) {
  grpc_byte_buffer* core = Core(buffer);
  return core != nullptr && core->type == GRPC_BB_RAW && core->data.raw.compression != GRPC_COMPRESS_NONE;
}

grpc::Status ReadMessageBytes(const grpc::ByteBuffer& buffer, std::string* out) {
  out->clear();
  grpc_byte_buffer* core = Core(buffer);
  if (core == nullptr) return grpc::Status(grpc::StatusCode::INTERNAL, "no message");
  const grpc_slice_buffer& slices = core->data.raw.slice_buffer;
  const auto slice_at = [&](size_t i) {
    return std::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slices.slices[i])),
                            GRPC_SLICE_LENGTH(slices.slices[i]));
  };
  ContentCoding coding = ContentCoding::kIdentity;
  switch (core->data.raw.compression) {
    case GRPC_COMPRESS_NONE:
      for (size_t i = 0; i < slices.count; ++i) out->append(slice_at(i));
      return grpc::Status::OK;
    case GRPC_COMPRESS_DEFLATE: coding = ContentCoding::kDeflate; break;  // the zlib format, as gRPC's "deflate"
    case GRPC_COMPRESS_GZIP: coding = ContentCoding::kGzip; break;
    default: return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unsupported message compression");
  }
  const uint64_t cap = MaxInflatedMessageSize();
  Status status;
  {
    CappedDecoder decoder(coding, cap, out);
    for (size_t i = 0; i < slices.count && status.ok(); ++i) status = decoder.Write(slice_at(i));
    if (status.ok()) status = decoder.Finish();
  }
  if (status.ok()) return grpc::Status::OK;
  out->clear();
  out->shrink_to_fit();
  if (status.code() == StatusCode::kResourceExhausted) return TooLarge(cap);
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "the compressed message does not inflate: " + status.message());
}

}  // namespace tb::grpc_messages
