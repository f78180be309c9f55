// Fuzzes the OTLP protobuf decoder (OTLP/gRPC, OTLP/HTTP protobuf, WAL replay all read through it).
// Any input may be refused; what is accepted must encode and decode again to the same batch.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "wire/otlp_codec.h"

// protobuf logs each string field with invalid UTF-8 that it refuses: most mutated inputs.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto decoded = tb::wire::DecodeOtlpProtobuf(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!decoded.ok()) return 0;
  auto again = tb::wire::DecodeOtlpProtobuf(tb::wire::EncodeOtlpProtobuf(*decoded));
  // Doubles compare bitwise in model::AnyValue, so NaN payloads round-trip equal too.
  if (!again.ok() || !(*again == *decoded)) std::abort();
  return 0;
}
