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

// XXH3 (Checksum64): std::hash's byte hash showed up in block-building profiles.
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return static_cast<size_t>(Checksum64(s)); }
};
using StringIndex = std::unordered_map<std::string, uint32_t, StringViewHash, std::equal_to<>>;

// ---- encoding (writer) ----
// The values of one attribute key in one page (docs/format/block.md, "values" column): its values
// in order, and for strings of an inline key, their packed forms and bytes.
struct KeyRun {
  ByteWriter values;  // Value encodings (kTagPacked for a packed string)
  ByteWriter shapes;  // one varint per packed string: its form and the form's small fields
  ByteWriter text;    // the packed strings' text and template definitions
  ByteWriter binary;  // their numbers and hex bytes
  // Templates defined in this run so far, by their definition bytes; the previous packed string.
  std::unordered_map<std::string, uint32_t> templates;
  std::string previous;
  bool has_previous = false;
  std::string previous_value;  // encoding of the previous value that is not a packed string
};
using ValueRuns = std::unordered_map<uint32_t, KeyRun>;  // by key dictionary ordinal

// Appends `s` to a run as a packed string: the previous string of the run as a repeat, a
// canonical unsigned decimal as its integer, lowercase hex as its bytes, a lowercase UUID as its 16
// bytes, text with canonical decimals in it as a template of the run and the integers, anything
// else as is.
void PackString(KeyRun& run, std::string_view s);

// The `values` column of a page from its runs: `varint` key count, per key (ascending) its ordinal
// and the lengths of its four streams, then every key's values, shapes, text and binary streams.
// Nothing when there are no runs.
void WriteValuesColumn(ValueRuns& runs, ByteWriter& column);

class Encoder {
 public:
  // `dict`: every string in it is written as a reference; others inline. Null: everything inline.
  // `inline_keys`: per key ordinal, whether its string values are packed into the page's runs
  // rather than referenced from the dictionary.
  Encoder(const StringIndex* dict, const std::vector<bool>* inline_keys) : dict_(dict), inline_keys_(inline_keys) {}
  void Ref(ByteWriter& w, std::string_view s) const;
  void Value(ByteWriter& w, const model::AnyValue& v) const;
  // `runs` null: every value in the list itself (resource and scope tables). Otherwise the value
  // of an attribute whose key is in the dictionary goes to that key's run.
  void Attributes(ByteWriter& w, const model::Attributes& attributes, ValueRuns* runs) const;

 private:
  const StringIndex* dict_;
  const std::vector<bool>* inline_keys_;
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

class Decoder;

// Cursors into a page's values column, by key ordinal.
class ValueCursors {
 public:
  bool Parse(std::string_view column);  // false if malformed
  // The next value of `key`; false if exhausted or malformed.
  bool Next(uint32_t key, const Decoder& dec, model::AnyValue* out);
  // Passes the next value of `key` as Next would, checking its structure, but builds no value: a
  // skipped packed string is only located, and built later if a repeat names it.
  bool Skip(uint32_t key, const Decoder& dec);
  // Whether every run has been read to its end.
  bool Exhausted() const;

 private:
  struct Cursor {
    ByteReader values, shapes, text, binary;
    std::vector<std::vector<std::string>> templates;  // literal pieces around the numbers
    std::string previous;                             // the last packed string read
    bool has_previous = false;
    // When the last packed string was skipped: its shape and where its text and binary began, so
    // that `previous` is built only if a repeat asks for it.
    bool previous_skipped = false;
    uint64_t skipped_shape = 0;
    ByteReader skipped_text, skipped_binary;
    std::string_view previous_value;  // encoding of the last value that was not a packed string
  };
  // Reads one packed string of form `shape` from `text` and `binary` (defining a template on its
  // first use) into `out`, or passes it when `out` is null. Not a repeat.
  static bool ReadPacked(uint64_t shape, Cursor& c, ByteReader& text, ByteReader& binary, std::string* out);
  static bool NextPacked(Cursor& c, std::string* out);
  static bool SkipPacked(Cursor& c);
  // The run of `key`, or null. Every value read or skipped looks its key up, so the runs sit in an
  // open-addressed table (power-of-two size, at most half full).
  Cursor* Find(uint32_t key);
  // Where `key`'s probe starts: the key mixed with the process's hash seed (util/seeded_hash.h),
  // so that a crafted block cannot choose keys that pile into one probe sequence.
  size_t HomeSlot(uint32_t key) const;
  std::vector<Cursor> runs_;
  std::vector<uint32_t> run_keys_;  // key of runs_[i]
  std::vector<int32_t> slots_;      // index into runs_, or -1 for an empty slot
  int slot_shift_ = 63;             // 64 - log2(slots_.size())
  uint64_t seed_ = 0;
};

class Decoder {
 public:
  explicit Decoder(const Dictionary& dict) : dict_(dict) {}
  // Each returns false on malformed input (the reader is then failed too).
  bool Ref(ByteReader& r, std::string* out) const;
  bool Value(ByteReader& r, model::AnyValue* out, int depth = 0) const;
  // Passes one value as Value would, checking the same, building nothing.
  bool SkipValue(ByteReader& r, int depth = 0) const;
  // `cursors` null: every value in the list itself; else values of dictionary keys from the runs.
  bool Attributes(ByteReader& r, model::Attributes* out, ValueCursors* cursors) const;
  // Passes a string ref as Ref would (an ordinal past the dictionary fails), building nothing.
  bool SkipRef(ByteReader& r) const;

 private:
  const Dictionary& dict_;
};

}  // namespace tb::block
