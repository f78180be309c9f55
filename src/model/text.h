// Text forms of model values: hex IDs, base64 bytes, and the canonical string of an attribute value.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/span.h"

namespace tb::model {

// Lowercase hex of raw bytes.
std::string HexEncode(std::string_view bytes);
template <size_t N>
std::string HexEncode(const std::array<uint8_t, N>& id) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(id.data()), N));
}
// Decodes hex (either case) into exactly N bytes; nullopt if the text is not 2*N hex digits.
template <size_t N>
std::optional<std::array<uint8_t, N>> HexDecodeId(std::string_view hex);
extern template std::optional<TraceId> HexDecodeId<16>(std::string_view);
extern template std::optional<SpanId> HexDecodeId<8>(std::string_view);

std::string Base64Encode(std::string_view bytes);
// Standard alphabet with padding; nullopt on any other character or bad length.
std::optional<std::string> Base64Decode(std::string_view text);

// The canonical string of a value, which search compares on both sides (Jaeger's pdata AsString):
// strings as is; bools "true"/"false"; ints base 10; doubles in the shortest ECMAScript form
// (72.5 → "72.5", 123.0 → "123", 1e-7 → "1e-7", NaN, Infinity); bytes in base64; arrays and maps as
// compact JSON; the empty value as "".
std::string CanonicalString(const AnyValue& value);
// Appends CanonicalString(value) to `out`.
void AppendCanonicalString(const AnyValue& value, std::string* out);

// RFC 3339 in UTC with all nine fraction digits (Go's time.RFC3339Nano without trimming), e.g.
// "2024-03-01T10:00:00.000000001Z".
std::string FormatRfc3339Nanos(uint64_t unix_nano);

// ECMAScript number-to-string of a double, as used by CanonicalString.
// Appends the JSON escape of `c`, a character a JSON string may not hold as is: '"', '\\' or a
// control character below 0x20 (\" \\ \n \r \t \b \f, else \u00XX with lowercase hex digits).
void AppendJsonEscape(unsigned char c, std::string* out);

std::string FormatDoubleShortest(double v);

}  // namespace tb::model
