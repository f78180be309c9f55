// gRPC declares grpc::internal::GrpcByteBufferPeer, and befriends it in ByteBuffer, for code that
// needs the core buffer underneath, but does not define it. This is our definition, private to
// grpc_capped_messages.cc and its test: it reads a received message's compression algorithm and
// slices, which the public ByteBuffer interface does not expose, and lets a test hand a ByteBuffer
// a compressed core buffer as gRPC's core would.
#pragma once

#include <grpcpp/support/byte_buffer.h>

namespace grpc::internal {

class GrpcByteBufferPeer {
 public:
  explicit GrpcByteBufferPeer(ByteBuffer* buffer) : buffer_(buffer) {}
  grpc_byte_buffer* c_buffer() { return buffer_->c_buffer(); }
  // Gives the ByteBuffer `core` to own (it must hold none).
  void Adopt(grpc_byte_buffer* core) { buffer_->set_buffer(core); }

 private:
  ByteBuffer* buffer_;
};

}  // namespace grpc::internal
