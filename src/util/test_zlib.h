// zlib compression in one call, for tests that send compressed bodies and messages as a client
// would. Header only, and included by tests only.
#pragma once

#include <zlib.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace tb::test_zlib {

// `data` compressed by zlib. `window_bits` as deflateInit2 takes it: MAX_WBITS for the zlib format
// (HTTP's and gRPC's "deflate"), MAX_WBITS + 16 for gzip. Throws if zlib fails, which a test
// reports as an error.
inline std::string Compress(std::string_view data, int window_bits, int level = Z_BEST_SPEED) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (status != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  return out;
}

// `data` in gzip's format.
inline std::string Gzip(std::string_view data, int level = Z_BEST_SPEED) {
  return Compress(data, MAX_WBITS + 16, level);
}

}  // namespace tb::test_zlib
