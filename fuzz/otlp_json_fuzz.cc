// Fuzzes the OTLP/JSON decoder (OTLP/HTTP JSON and POST /api/transform read through it). Any input
// may be refused; what is accepted must encode to OTLP/JSON that parses again and encodes to the
// same text (text rather than model equality: the encoder replaces invalid UTF-8 with U+FFFD).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wire/otlp_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = tb::wire::ParseOtlpJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) return 0;
  const std::string encoded = tb::wire::EncodeOtlpJson(*parsed);
  auto again = tb::wire::ParseOtlpJson(encoded);
  if (!again.ok() || tb::wire::EncodeOtlpJson(*again) != encoded) std::abort();
  return 0;
}
