// Decoding of a compressed byte stream, piece by piece, under a cap on the decoded size: the body
// of an HTTP request with a Content-Encoding, or a compressed gRPC message. A small input that
// inflates to gigabytes costs at most the cap, because decoding stops the moment the output passes
// it; nothing is decoded whole first and measured after.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/status.h"

namespace tb {

enum class ContentCoding {
  kIdentity,
  kGzip,     // RFC 1952
  kDeflate,  // the zlib format (RFC 1950), as HTTP's and gRPC's "deflate" are
  kZstd,     // RFC 8878; concatenated frames decode as one stream
};

// The coding an HTTP Content-Encoding value names ("", "identity", "gzip", "x-gzip", "deflate",
// "zstd"; case-insensitive); INVALID_ARGUMENT for anything else, or for more than one coding.
Result<ContentCoding> ParseContentCoding(std::string_view content_encoding);

class CappedDecoder {
 public:
  // Appends the decoding to `out` (which outlives the decoder), never letting it hold more than
  // `cap` bytes of decoded data.
  CappedDecoder(ContentCoding coding, uint64_t cap, std::string* out);
  ~CappedDecoder();
  CappedDecoder(const CappedDecoder&) = delete;
  CappedDecoder& operator=(const CappedDecoder&) = delete;

  // Decodes the next piece of the stream. RESOURCE_EXHAUSTED as soon as the decoded bytes pass
  // the cap (the message states the cap; callers name their own limit), INVALID_ARGUMENT for data
  // that does not decode or bytes after the end of a gzip or zlib stream. After an error the
  // decoder takes nothing more.
  [[nodiscard]] Status Write(std::string_view in);
  // INVALID_ARGUMENT if the stream stopped before its end (a truncated body or message).
  [[nodiscard]] Status Finish();

  // One compression library's streaming decoder (capped_decoder.cc).
  class Codec;

 private:
  std::unique_ptr<Codec> codec_;
  uint64_t cap_;
  std::string* out_;
  Status failed_;
};

}  // namespace tb
