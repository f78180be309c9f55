// A block's three objects in two forms, for the block fuzz target and its seeds:
//  - sealed: the objects as stored (docs/format/block.md), checksummed and zstd-compressed;
//  - unsealed: the same content with every zstd part plain and every checksum, compressed length
//    and offset left for Seal to fill in. `index` is the sections in order, each its 8-byte frame
//    (whose length field gives the plain payload's length) and its plain payload; `data` is every
//    page's columns, plain, in page-directory order, each as long as the directory's raw length.
// The fuzzer mutates the unsealed form, so that its mutations reach the decoders behind the
// checksums and zstd frames instead of stopping at the first checksum.
#pragma once

#include <string>
#include <string_view>

namespace tb::fuzz {

struct BlockImage {
  std::string meta, index, data;
};

// Fuzz input ⇄ image: each object as a u32 little-endian length and its bytes (missing bytes are
// empty objects, so any input is an image).
std::string SerializeImage(const BlockImage& image);
BlockImage DeserializeImage(std::string_view bytes);

// Sealed → unsealed. False when `sealed` is not a block that decodes.
bool Unseal(const BlockImage& sealed, BlockImage* unsealed);

// Unsealed → sealed: compresses what the frames and the page directory say is compressed, and
// fills in every checksum (meta trailer and section directory, trace-table groups and prefix,
// page columns), offset and length that the content makes computable. Whatever does not parse is
// passed on as it is, for the reader to refuse. Posting-list and page-bloom checksums are not
// filled in: searches over mutated postings stop at their checksum.
BlockImage Seal(const BlockImage& unsealed);

}  // namespace tb::fuzz
