// Value, attribute and string-reference encoding shared by the block writer and reader
// (docs/format/block.md, "Values").
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "block/format.h"
#include "model/span.h"

namespace tb::block {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIndex = std::unordered_map<std::string, uint32_t, StringViewHash, std::equal_to<>>;

// ---- encoding (writer) ----
// Per-page columns of high-cardinality string values, one run per key ordinal.
using HighCardRuns = std::unordered_map<uint32_t, ByteWriter>;

class Encoder {
 public:
  // `dict`: every string in it is written as a reference; others inline. Null: everything inline.
  // `high_card`: per key ordinal, whether its top-level string values go to HighCardRuns.
  Encoder(const StringIndex* dict, const std::vector<bool>* high_card) : dict_(dict), high_card_(high_card) {}
  void Ref(ByteWriter& w, std::string_view s) const;
  void Value(ByteWriter& w, const model::AnyValue& v) const;
  // `runs` null: no high-cardinality column (resource and scope tables).
  void Attributes(ByteWriter& w, const model::Attributes& attributes, HighCardRuns* runs) const;
  uint32_t KeyOrdinal(std::string_view key) const;  // the key must be in the dictionary

 private:
  const StringIndex* dict_;
  const std::vector<bool>* high_card_;
};

// ---- decoding (reader) ----
// The string dictionary as stored: sorted, unique.
struct Dictionary {
  std::string blob;
  std::vector<uint32_t> offsets;  // size() + 1 entries
  size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  std::string_view at(size_t i) const { return std::string_view(blob).substr(offsets[i], offsets[i + 1] - offsets[i]); }
  // Ordinal of `s`, or -1.
  int64_t Find(std::string_view s) const;
};

// Cursors into a page's high-cardinality column, by key ordinal.
class HighCardCursors {
 public:
  bool Parse(std::string_view column);  // false if malformed
  // The next value of `key`; false if exhausted.
  bool Next(uint32_t key, std::string_view* out);

 private:
  std::unordered_map<uint32_t, ByteReader> runs_;
};

class Decoder {
 public:
  explicit Decoder(const Dictionary& dict) : dict_(dict) {}
  // Each returns false on malformed input (the reader is then failed too).
  bool Ref(ByteReader& r, std::string* out) const;
  bool Value(ByteReader& r, model::AnyValue* out, int depth = 0) const;
  bool Attributes(ByteReader& r, model::Attributes* out, HighCardCursors* cursors) const;

 private:
  const Dictionary& dict_;
};

}  // namespace tb::block
