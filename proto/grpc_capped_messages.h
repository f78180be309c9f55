// Compressed gRPC requests are inflated here, under a cap, instead of by gRPC's core.
//
// gRPC 1.51 inflates a compressed message whole before it compares its size with the server's
// receive limit, so a small gzip message can make the process allocate gigabytes. The server turns
// that off (GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION = 0) and receives messages as they came off
// the wire; a compressed one carries its algorithm in its byte buffer. Every request type of our
// services then deserializes through CappedProtoTraits, which inflates gzip and deflate itself and
// stops at MaxInflatedMessageSize() (limits.max_request_size), holding at most that many bytes.
//
// protoc's gRPC plugin includes this header from every generated *.grpc.pb.h (its
// additional_header_includes option, proto/CMakeLists.txt), right after the messages: so every
// translation unit that can instantiate SerializationTraits for one of these types sees the
// specializations below first, as C++ requires of an explicit specialization.
//
// Services that gRPC itself implements (the default health service, reflection) still parse the
// raw bytes: a compressed request to them is refused (docs/configuration.md).
#pragma once

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <string>

#include "jaeger/storage/v1/storage.pb.h"
#include "jaeger/storage/v2/capabilities.pb.h"
#include "jaeger/storage/v2/dependency_storage.pb.h"
#include "jaeger/storage/v2/trace_storage.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "plugin/grpc_controller.pb.h"

namespace tb::grpc_messages {

// The largest message, once inflated, that a server of this process accepts. Process-wide (the
// serialization traits have no server to ask); Server::Start sets it from limits.max_request_size.
void SetMaxInflatedMessageSize(uint64_t bytes);
uint64_t MaxInflatedMessageSize();

// True when `buffer` holds a message still compressed as it was sent.
bool IsCompressed(const grpc::ByteBuffer& buffer);

// The bytes of a received message into *out: inflated under the cap when compressed. Refusals:
// RESOURCE_EXHAUSTED naming limits.max_request_size when the inflated bytes pass the cap (no more
// than the cap is ever held), INVALID_ARGUMENT for a stream that does not inflate, UNIMPLEMENTED
// for an algorithm other than gzip and deflate.
grpc::Status ReadMessageBytes(const grpc::ByteBuffer& buffer, std::string* out);

// The serialization of a request message: protobuf's own, except that a compressed message is
// inflated through ReadMessageBytes first.
template <class Message>
class CappedProtoTraits {
 public:
  static grpc::Status Serialize(const grpc::protobuf::MessageLite& msg, grpc::ByteBuffer* buffer, bool* own_buffer) {
    return grpc::GenericSerialize<grpc::ProtoBufferWriter, Message>(msg, buffer, own_buffer);
  }
  static grpc::Status Deserialize(grpc::ByteBuffer* buffer, grpc::protobuf::MessageLite* msg) {
    if (!IsCompressed(*buffer)) return grpc::GenericDeserialize<grpc::ProtoBufferReader, Message>(buffer, msg);
    std::string bytes;
    grpc::Status read = ReadMessageBytes(*buffer, &bytes);
    buffer->Clear();
    if (!read.ok()) return read;
    if (!msg->ParseFromString(bytes))
      return grpc::Status(grpc::StatusCode::INTERNAL, "the inflated message is not a valid protobuf message");
    return grpc::Status::OK;
  }
};

}  // namespace tb::grpc_messages

#define TB_CAPPED_REQUEST(Message)                                                                      \
  namespace grpc {                                                                                      \
  template <>                                                                                           \
  class SerializationTraits<Message, void> : public ::tb::grpc_messages::CappedProtoTraits<Message> {}; \
  }

// The generated unary handlers deserialize every protobuf request as its base MessageLite (gRPC's
// RpcMethodHandler with BaseRequestType = MessageLite, to share code), so that specialization
// serves them all; the streaming handlers name the concrete request types, listed after it. The
// capped traits behave as protobuf's own for a message that is not compressed, so a library that
// instantiated gRPC's generic traits for MessageLite (reflection) sees no difference either way.
TB_CAPPED_REQUEST(::grpc::protobuf::MessageLite)

// Every request type our gRPC services receive.
TB_CAPPED_REQUEST(::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v2::GetTracesRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v2::GetServicesRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v2::GetOperationsRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v2::FindTracesRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v2::FindTraceIDsRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v2::FindTraceSummariesRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v2::GetDependenciesRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v2::GetCapabilitiesRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v1::WriteSpanRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v1::CloseWriterRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v1::GetTraceRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v1::GetServicesRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v1::GetOperationsRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v1::FindTracesRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v1::FindTraceIDsRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v1::GetDependenciesRequest)
TB_CAPPED_REQUEST(::jaeger::storage::v1::CapabilitiesRequest)
TB_CAPPED_REQUEST(::plugin::Empty)

#undef TB_CAPPED_REQUEST
