// Fuzzes the Jaeger v1 model decoder as the Remote Storage API v1 write doors use it: a
// WriteSpanRequest's bytes → jaeger.api_v2.Span → model::jaeger::Span (FromProto) → OTLP model
// (FromJaeger). An accepted span must also encode (ToProto), decode and encode again to the same
// bytes (bytes, not struct equality: a NaN tag is not equal to itself), and its OTLP form must map
// back to one Jaeger span (ToJaeger).
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "jaeger/storage/v1/storage.pb.h"
#include "model/jaeger.h"
#include "wire/jaeger_proto.h"

// protobuf logs each string field with invalid UTF-8 that it refuses: most mutated inputs.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  jaeger::storage::v1::WriteSpanRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto span = tb::wire::FromProto(request.span());
  if (!span.ok()) return 0;

  jaeger::api_v2::Span encoded;
  tb::wire::ToProto(*span, &encoded);
  auto again = tb::wire::FromProto(encoded);
  if (!again.ok()) std::abort();
  jaeger::api_v2::Span reencoded;
  tb::wire::ToProto(*again, &reencoded);
  if (reencoded.SerializeAsString() != encoded.SerializeAsString()) std::abort();

  const tb::model::Traces otlp = tb::model::jaeger::FromJaeger({*span});
  if (tb::model::jaeger::ToJaeger(otlp).size() != 1) std::abort();
  return 0;
}
