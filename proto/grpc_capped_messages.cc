#include "grpc_capped_messages.h"

#include <grpc/slice.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>

#include "grpc_byte_buffer_peer.h"

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
  int window_bits = 0;
  switch (core->data.raw.compression) {
    case GRPC_COMPRESS_NONE:
      for (size_t i = 0; i < slices.count; ++i) out->append(slice_at(i));
      return grpc::Status::OK;
    case GRPC_COMPRESS_DEFLATE: window_bits = MAX_WBITS; break;    // zlib format, as gRPC's "deflate"
    case GRPC_COMPRESS_GZIP: window_bits = MAX_WBITS + 16; break;  // gzip header and trailer
    default: return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unsupported message compression");
  }
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return grpc::Status(grpc::StatusCode::INTERNAL, "inflateInit2 failed");
  const uint64_t cap = MaxInflatedMessageSize();
  constexpr size_t kChunk = 64 << 10;
  int rc = Z_OK;
  grpc::Status status = grpc::Status::OK;
  size_t i = 0;
  for (; i < slices.count && rc != Z_STREAM_END && status.ok(); ++i) {
    const std::string_view in = slice_at(i);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    // Until this slice is used up and zlib holds no output back (it may, when the output filled).
    do {
      // One byte past the cap is room enough to tell "exactly the cap" from "more".
      const uint64_t room = cap + 1 - std::min<uint64_t>(cap + 1, out->size());
      if (room == 0) {
        status = TooLarge(cap);
        break;
      }
      const size_t grow = static_cast<size_t>(std::min<uint64_t>(kChunk, room));
      const size_t before = out->size();
      // Past the first chunk, room for the whole cap at once: a large allocation is mapped, not
      // touched, so this costs memory only as it fills, and no reallocation ever copies the output.
      if (before + grow > out->capacity()) out->reserve(before == 0 ? grow : static_cast<size_t>(cap + 1));
      out->resize(before + grow);
      z.next_out = reinterpret_cast<Bytef*>(out->data() + before);
      z.avail_out = static_cast<uInt>(grow);
      rc = inflate(&z, Z_NO_FLUSH);
      out->resize(before + grow - z.avail_out);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              std::string("the compressed message does not inflate: ") + (z.msg ? z.msg : "corrupt"));
        break;
      }
    } while ((z.avail_in > 0 || z.avail_out == 0) && rc != Z_STREAM_END);
  }
  const bool trailing = rc == Z_STREAM_END && (z.avail_in > 0 || i < slices.count);
  inflateEnd(&z);
  if (status.ok() && out->size() > cap) status = TooLarge(cap);
  if (status.ok() && rc != Z_STREAM_END)
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the compressed message ends before its stream does");
  if (status.ok() && trailing)
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the compressed message has bytes after its stream");
  if (!status.ok()) {
    out->clear();
    out->shrink_to_fit();
    return status;
  }
  return grpc::Status::OK;
}

}  // namespace tb::grpc_messages
