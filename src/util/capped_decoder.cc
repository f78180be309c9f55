#include "util/capped_decoder.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>

#include "util/text.h"

namespace tb {
namespace {

Status TooLarge(uint64_t cap) {
  return Status::ResourceExhausted("the data decodes to more than " + std::to_string(cap) + " bytes");
}

}  // namespace

Result<ContentCoding> ParseContentCoding(std::string_view content_encoding) {
  const std::string coding = AsciiLowercase(TrimAsciiWhitespace(content_encoding));
  if (coding.empty() || coding == "identity") return ContentCoding::kIdentity;
  if (coding == "gzip" || coding == "x-gzip") return ContentCoding::kGzip;
  if (coding == "deflate") return ContentCoding::kDeflate;
  if (coding == "zstd") return ContentCoding::kZstd;
  return Status::InvalidArgument("unsupported Content-Encoding '" + std::string(TrimAsciiWhitespace(content_encoding)) +
                                 "': use gzip, deflate, zstd or none");
}

// One compression library's streaming decoder, writing through Output.
class CappedDecoder::Codec {
 public:
  virtual ~Codec() = default;
  // The decoded bytes so far. Room() hands out space for at most what the cap still allows plus
  // one byte, so that "exactly the cap" and "more" can be told apart.
  struct Output {
    std::string* out;
    uint64_t cap;
    // The next free stretch of the output, at most 64 KiB, or empty once the cap is passed.
    std::pair<char*, size_t> Room() {
      const uint64_t left = cap + 1 - std::min<uint64_t>(cap + 1, out->size());
      if (left == 0) return {nullptr, 0};
      const size_t grow = static_cast<size_t>(std::min<uint64_t>(64 << 10, left));
      const size_t before = out->size();
      // Past the first stretch, room for the whole cap at once: a large allocation is mapped and
      // touched only as it fills, and no reallocation ever copies the output.
      if (before + grow > out->capacity()) out->reserve(before == 0 ? grow : static_cast<size_t>(cap + 1));
      out->resize(before + grow);
      return {out->data() + before, grow};
    }
    // Gives back the part of the last Room() that was not written.
    void Unused(size_t n) { out->resize(out->size() - n); }
  };
  virtual Status Decode(std::string_view in, Output& output) = 0;
  virtual Status Finish() = 0;
};

namespace {

class IdentityCodec final : public CappedDecoder::Codec {
 public:
  Status Decode(std::string_view in, Output& output) override {
    if (output.out->size() + in.size() > output.cap) return TooLarge(output.cap);
    output.out->append(in);
    return Status::Ok();
  }
  Status Finish() override { return Status::Ok(); }
};

class ZlibCodec final : public CappedDecoder::Codec {
 public:
  explicit ZlibCodec(int window_bits) { ok_ = inflateInit2(&z_, window_bits) == Z_OK; }
  ~ZlibCodec() override {
    if (ok_) inflateEnd(&z_);
  }
  Status Decode(std::string_view in, Output& output) override {
    if (!ok_) return Status::Internal("inflateInit2 failed");
    if (ended_)
      return in.empty() ? Status::Ok() : Status::InvalidArgument("bytes after the end of the compressed data");
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    // Until `in` is used up and zlib holds no output back (it may, when the output filled).
    do {
      auto [room, size] = output.Room();
      if (room == nullptr) return TooLarge(output.cap);
      z_.next_out = reinterpret_cast<Bytef*>(room);
      z_.avail_out = static_cast<uInt>(size);
      const int rc = inflate(&z_, Z_NO_FLUSH);
      output.Unused(z_.avail_out);
      if (rc == Z_STREAM_END) {
        ended_ = true;
        if (z_.avail_in > 0) return Status::InvalidArgument("bytes after the end of the compressed data");
        break;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR)
        return Status::InvalidArgument(std::string("the data does not inflate: ") + (z_.msg ? z_.msg : "corrupt"));
    } while (z_.avail_in > 0 || z_.avail_out == 0);
    if (output.out->size() > output.cap) return TooLarge(output.cap);
    return Status::Ok();
  }
  Status Finish() override {
    return ended_ ? Status::Ok() : Status::InvalidArgument("the compressed data ends before its stream does");
  }

 private:
  z_stream z_{};
  bool ok_ = false;
  bool ended_ = false;
};

class ZstdCodec final : public CappedDecoder::Codec {
 public:
  ZstdCodec() : stream_(ZSTD_createDStream()) {}
  ~ZstdCodec() override { ZSTD_freeDStream(stream_); }
  Status Decode(std::string_view in, Output& output) override {
    if (stream_ == nullptr) return Status::Internal("ZSTD_createDStream failed");
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    // Until `in` is used up and zstd holds no output back (it may, when the output filled).
    bool filled = false;
    while (input.pos < input.size || filled) {
      auto [room, size] = output.Room();
      if (room == nullptr) return TooLarge(output.cap);
      ZSTD_outBuffer out{room, size, 0};
      const size_t rc = ZSTD_decompressStream(stream_, &out, &input);
      output.Unused(size - out.pos);
      if (ZSTD_isError(rc))
        return Status::InvalidArgument(std::string("the data does not decode: ") + ZSTD_getErrorName(rc));
      frame_done_ = rc == 0;
      filled = out.pos == size;
    }
    if (output.out->size() > output.cap) return TooLarge(output.cap);
    return Status::Ok();
  }
  Status Finish() override {
    return frame_done_ ? Status::Ok() : Status::InvalidArgument("the compressed data ends before its frame does");
  }

 private:
  ZSTD_DStream* stream_;
  bool frame_done_ = false;
};

std::unique_ptr<CappedDecoder::Codec> MakeCodec(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kIdentity: return std::make_unique<IdentityCodec>();
    case ContentCoding::kGzip: return std::make_unique<ZlibCodec>(MAX_WBITS + 16);
    case ContentCoding::kDeflate: return std::make_unique<ZlibCodec>(MAX_WBITS);
    case ContentCoding::kZstd: return std::make_unique<ZstdCodec>();
  }
  return nullptr;
}

}  // namespace

CappedDecoder::CappedDecoder(ContentCoding coding, uint64_t cap, std::string* out)
    : codec_(MakeCodec(coding)), cap_(cap), out_(out) {}

CappedDecoder::~CappedDecoder() = default;

Status CappedDecoder::Write(std::string_view in) {
  if (!failed_.ok()) return failed_;
  Codec::Output output{out_, cap_};
  failed_ = codec_->Decode(in, output);
  return failed_;
}

Status CappedDecoder::Finish() {
  if (!failed_.ok()) return failed_;
  failed_ = codec_->Finish();
  return failed_;
}

}  // namespace tb
