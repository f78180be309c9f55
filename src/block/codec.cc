#include "block/codec.h"

#include <algorithm>

#include "util/seeded_hash.h"

namespace tb::block {

void Encoder::Ref(ByteWriter& w, std::string_view s) const {
  if (dict_ != nullptr) {
    auto it = dict_->find(s);
    if (it != dict_->end()) {
      w.Varint(static_cast<uint64_t>(it->second) << 1);
      return;
    }
  }
  w.Varint((static_cast<uint64_t>(s.size()) << 1) | 1);
  w.Bytes(s);
}

void Encoder::Value(ByteWriter& w, const model::AnyValue& v) const {
  using T = model::AnyValue::Type;
  switch (v.type()) {
    case T::kEmpty: w.U8(kTagEmpty); return;
    case T::kString:
      w.U8(kTagString);
      Ref(w, v.string_value());
      return;
    case T::kBool: w.U8(v.bool_value() ? kTagTrue : kTagFalse); return;
    case T::kInt:
      w.U8(kTagInt);
      w.Zigzag(v.int_value());
      return;
    case T::kDouble:
      w.U8(kTagDouble);
      w.Double(v.double_value());
      return;
    case T::kBytes:
      w.U8(kTagBytes);
      w.LenBytes(v.bytes_value());
      return;
    case T::kArray:
      w.U8(kTagArray);
      w.Varint(v.array_value().size());
      for (const auto& e : v.array_value()) Value(w, e);
      return;
    case T::kKvList:
      w.U8(kTagKvList);
      w.Varint(v.kvlist_value().size());
      for (const auto& kv : v.kvlist_value()) {
        Ref(w, kv.key);
        Value(w, kv.value);
      }
      return;
  }
}

void Encoder::Attributes(ByteWriter& w, const model::Attributes& attributes, ValueRuns* runs) const {
  w.Varint(attributes.size());
  for (const auto& kv : attributes) {
    // One dictionary lookup per key: its reference and its run.
    const auto it = dict_ != nullptr ? dict_->find(kv.key) : StringIndex::const_iterator();
    if (dict_ != nullptr && it != dict_->end()) {
      w.Varint(static_cast<uint64_t>(it->second) << 1);
    } else {
      Ref(w, kv.key);
    }
    if (runs == nullptr || dict_ == nullptr || it == dict_->end()) {
      Value(w, kv.value);
      continue;
    }
    KeyRun& run = (*runs)[it->second];
    if (kv.value.type() == model::AnyValue::Type::kString && (*inline_keys_)[it->second]) {
      run.values.U8(kTagPacked);
      PackString(run, kv.value.string_value());
    } else {
      // Encoded in place, then replaced by a repeat tag if equal to the previous value: no
      // buffer allocated per value.
      std::string& out = run.values.out();
      const size_t start = out.size();
      Value(run.values, kv.value);
      const std::string_view value = std::string_view(out).substr(start);
      if (!run.previous_value.empty() && value == run.previous_value) {
        out.resize(start);
        run.values.U8(kTagRepeat);
      } else {
        run.previous_value.assign(value);
      }
    }
  }
}

namespace {

// Packed-string forms: the low 3 bits of a shape; the bits above hold the form's own field.
//   raw, hex:  shape = (length << 6) | form       (bits 3-5 zero)
//   decimal:   shape = ((width - 1) << 3) | form
//   UUID:      shape = form
//   template:  shape = (template ordinal << 3) | form
//   repeat:    shape = form
enum PackForm : uint8_t {
  kPackRaw = 0,
  kPackDecimal = 1,
  kPackHex = 2,
  kPackUuid = 3,
  kPackTemplate = 4,
  kPackRepeat = 5,
};
constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The integer of a canonical unsigned decimal (no sign, no leading zero, fits 64 bits).
bool CanonicalDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || (s[0] == '0' && s.size() > 1)) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// Appends the bytes of lowercase hex digits `s` (even length) to `out`; false if not hex.
bool HexBytes(std::string_view s, std::string* out) {
  if (s.empty() || s.size() % 2 != 0) return false;
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = HexValue(s[i]), lo = HexValue(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
  }
  return true;
}

bool IsUuidDash(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

void AppendHex(std::string_view bytes, std::string* out) {
  for (char c : bytes) {
    out->push_back(kHexDigits[static_cast<uint8_t>(c) >> 4]);
    out->push_back(kHexDigits[static_cast<uint8_t>(c) & 15]);
  }
}

int NumberWidth(uint64_t v) {
  int n = 1;
  while (n < 8 && (v >> (8 * n)) != 0) ++n;
  return n;
}

// Splits `s` at its maximal digit runs that are canonical decimals: the template definition
// (varint number count k, then k + 1 lenbytes literal pieces) and the numbers. Other digit runs
// (leading zeros, beyond 64 bits) stay in the pieces.
void SplitTemplate(std::string_view s, ByteWriter* definition, std::vector<uint64_t>* numbers) {
  std::vector<std::string_view> pieces;
  size_t literal = 0;
  for (size_t i = 0; i < s.size();) {
    if (!IsDigit(s[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < s.size() && IsDigit(s[end])) ++end;
    uint64_t number = 0;
    if (CanonicalDecimal(s.substr(i, end - i), &number)) {
      pieces.push_back(s.substr(literal, i - literal));
      numbers->push_back(number);
      literal = end;
    }
    i = end;
  }
  pieces.push_back(s.substr(literal));
  definition->Varint(numbers->size());
  for (std::string_view p : pieces) definition->LenBytes(p);
}

}  // namespace

void PackString(KeyRun& run, std::string_view s) {
  if (run.has_previous && s == run.previous) {
    run.shapes.Varint(kPackRepeat);
    return;
  }
  run.previous.assign(s);
  run.has_previous = true;
  uint64_t number = 0;
  if (CanonicalDecimal(s, &number)) {
    run.shapes.Varint(static_cast<uint64_t>(NumberWidth(number) - 1) << 3 | kPackDecimal);
    run.binary.Fixed(number, NumberWidth(number));
    return;
  }
  std::string bytes;
  if (HexBytes(s, &bytes)) {
    run.shapes.Varint(static_cast<uint64_t>(bytes.size()) << 6 | kPackHex);
    run.binary.Bytes(bytes);
    return;
  }
  bytes.clear();
  if (s.size() == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-') {
    std::string digits;
    for (size_t i = 0; i < s.size(); ++i)
      if (!IsUuidDash(i)) digits.push_back(s[i]);
    if (HexBytes(digits, &bytes)) {
      run.shapes.Varint(kPackUuid);
      run.binary.Bytes(bytes);
      return;
    }
  }
  ByteWriter definition;
  std::vector<uint64_t> numbers;
  SplitTemplate(s, &definition, &numbers);
  if (!numbers.empty()) {
    const auto [it, fresh] = run.templates.emplace(definition.out(), static_cast<uint32_t>(run.templates.size()));
    run.shapes.Varint(static_cast<uint64_t>(it->second) << 3 | kPackTemplate);
    if (fresh) run.text.Bytes(definition.out());
    for (uint64_t n : numbers) run.binary.Varint(n);
    return;
  }
  run.shapes.Varint(static_cast<uint64_t>(s.size()) << 6 | kPackRaw);
  run.text.Bytes(s);
}

void WriteValuesColumn(ValueRuns& runs, ByteWriter& column) {
  if (runs.empty()) return;
  std::vector<uint32_t> keys;
  for (const auto& [k, run] : runs) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  column.Varint(keys.size());
  for (uint32_t k : keys) {
    const KeyRun& run = runs.at(k);
    column.Varint(k);
    for (const ByteWriter* stream : {&run.values, &run.shapes, &run.text, &run.binary}) column.Varint(stream->size());
  }
  for (ByteWriter KeyRun::*stream : {&KeyRun::values, &KeyRun::shapes, &KeyRun::text, &KeyRun::binary})
    for (uint32_t k : keys) column.Bytes((runs.at(k).*stream).out());
}

int64_t Dictionary::Find(std::string_view s) const {
  size_t lo = 0, hi = size();
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (at(mid) < s) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < size() && at(lo) == s ? static_cast<int64_t>(lo) : -1;
}

size_t ValueCursors::HomeSlot(uint32_t key) const {
  uint64_t h = (key ^ seed_) * 0x9E3779B97F4A7C15ull;  // 2^64 / golden ratio
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return static_cast<size_t>(h >> slot_shift_);
}

ValueCursors::Cursor* ValueCursors::Find(uint32_t key) {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t i = HomeSlot(key);; i = (i + 1) & mask) {
    const int32_t run = slots_[i];
    if (run < 0) return nullptr;
    if (run_keys_[static_cast<size_t>(run)] == key) return &runs_[static_cast<size_t>(run)];
  }
}

bool ValueCursors::Parse(std::string_view column) {
  runs_.clear();
  run_keys_.clear();
  slots_.clear();
  if (column.empty()) return true;  // no attribute values in the page
  ByteReader r(column);
  const size_t n = r.Count(4);
  struct Lengths {
    uint32_t key;
    uint64_t values, shapes, text, binary;
  };
  std::vector<Lengths> dir(n);
  for (auto& d : dir) {
    d.key = r.Varint32();
    d.values = r.Varint();
    d.shapes = r.Varint();
    d.text = r.Varint();
    d.binary = r.Varint();
  }
  if (r.failed()) return false;
  int bits = 1;
  while ((size_t{1} << bits) < 2 * n) ++bits;
  slot_shift_ = 64 - bits;
  seed_ = ProcessHashSeed();
  slots_.assign(size_t{1} << bits, -1);
  runs_.resize(n);
  run_keys_.resize(n);
  const size_t mask = slots_.size() - 1;
  for (size_t i = 0; i < n; ++i) {
    // Walk the key's probe sequence once: past other keys' runs to a free slot.
    size_t slot = HomeSlot(dir[i].key);
    for (; slots_[slot] >= 0; slot = (slot + 1) & mask)
      if (run_keys_[static_cast<size_t>(slots_[slot])] == dir[i].key) return false;  // a key has one run
    run_keys_[i] = dir[i].key;
    slots_[slot] = static_cast<int32_t>(i);
  }
  // The values streams of every key, then the shapes, then the texts, then the binaries.
  const std::pair<uint64_t Lengths::*, ByteReader Cursor::*> streams[] = {{&Lengths::values, &Cursor::values},
                                                                          {&Lengths::shapes, &Cursor::shapes},
                                                                          {&Lengths::text, &Cursor::text},
                                                                          {&Lengths::binary, &Cursor::binary}};
  for (const auto& [length, cursor] : streams) {
    for (size_t i = 0; i < n; ++i) {
      if (dir[i].*length > r.remaining()) return false;
      runs_[i].*cursor = ByteReader(r.Bytes(static_cast<size_t>(dir[i].*length)));
    }
  }
  return r.done();
}

bool ValueCursors::ReadPacked(uint64_t shape, Cursor& c, ByteReader& text, ByteReader& binary, std::string* out) {
  // Each form checks its fields, then builds its string only when `out` is set.
  switch (shape & 7) {
    case kPackRaw: {
      if ((shape >> 3) & 7) return false;
      const std::string_view bytes =
          text.Bytes(static_cast<size_t>(std::min<uint64_t>(shape >> 6, text.remaining() + 1)));
      if (out != nullptr) out->assign(bytes);
      break;
    }
    case kPackDecimal: {
      if (shape >> 6) return false;
      const uint64_t v = binary.Fixed(static_cast<int>((shape >> 3) & 7) + 1);
      if (out != nullptr) *out = std::to_string(v);
      break;
    }
    case kPackHex: {
      if (((shape >> 3) & 7) || (shape >> 6) == 0) return false;
      const std::string_view bytes =
          binary.Bytes(static_cast<size_t>(std::min<uint64_t>(shape >> 6, binary.remaining() + 1)));
      if (out != nullptr) {
        out->clear();
        AppendHex(bytes, out);
      }
      break;
    }
    case kPackUuid: {
      if (shape >> 3) return false;
      const std::string_view bytes = binary.Bytes(16);
      if (binary.failed()) return false;
      if (out != nullptr) {
        std::string hex;
        AppendHex(bytes, &hex);
        out->clear();
        for (size_t i = 0, j = 0; i < 36; ++i) out->push_back(IsUuidDash(i) ? '-' : hex[j++]);
      }
      break;
    }
    case kPackTemplate: {
      const uint64_t ordinal = shape >> 3;
      if (ordinal > c.templates.size()) return false;
      if (ordinal == c.templates.size()) {  // first use: the definition follows in `text`
        const size_t k = text.Count(1);
        if (k == 0) return false;
        std::vector<std::string> pieces(k + 1);
        for (auto& p : pieces) p.assign(text.LenBytes());
        if (text.failed()) return false;
        c.templates.push_back(std::move(pieces));
      }
      const auto& pieces = c.templates[static_cast<size_t>(ordinal)];
      if (out != nullptr) *out = pieces[0];
      for (size_t i = 1; i < pieces.size(); ++i) {
        const uint64_t number = binary.Varint();
        if (out == nullptr) continue;
        *out += std::to_string(number);
        *out += pieces[i];
      }
      break;
    }
    default: return false;
  }
  return !text.failed() && !binary.failed();
}

bool ValueCursors::NextPacked(Cursor& c, std::string* out) {
  const uint64_t shape = c.shapes.Varint();
  if (c.shapes.failed()) return false;
  if ((shape & 7) == kPackRepeat) {
    if (shape >> 3 || !c.has_previous) return false;
    if (c.previous_skipped) {
      // Built now from where the skipped string lies; its template, if any, is defined already.
      ByteReader text = c.skipped_text, binary = c.skipped_binary;
      if (!ReadPacked(c.skipped_shape, c, text, binary, &c.previous)) return false;
      c.previous_skipped = false;
    }
    *out = c.previous;
    return true;
  }
  if (!ReadPacked(shape, c, c.text, c.binary, out)) return false;
  c.previous = *out;
  c.has_previous = true;
  c.previous_skipped = false;
  return true;
}

bool ValueCursors::SkipPacked(Cursor& c) {
  const uint64_t shape = c.shapes.Varint();
  if (c.shapes.failed()) return false;
  if ((shape & 7) == kPackRepeat) return !(shape >> 3) && c.has_previous;
  const ByteReader text = c.text, binary = c.binary;
  if (!ReadPacked(shape, c, c.text, c.binary, nullptr)) return false;
  c.has_previous = true;
  c.previous_skipped = true;
  c.skipped_shape = shape;
  c.skipped_text = text;
  c.skipped_binary = binary;
  return true;
}

bool ValueCursors::Next(uint32_t key, const Decoder& dec, model::AnyValue* out) {
  Cursor* run = Find(key);
  if (run == nullptr) return false;
  Cursor& c = *run;
  const uint8_t tag = ByteReader(c.values).U8();
  if (tag == kTagRepeat) {
    c.values.U8();
    ByteReader previous(c.previous_value);
    return !c.previous_value.empty() && dec.Value(previous, out);
  }
  if (tag != kTagPacked) {
    ByteReader before = c.values;
    if (!dec.Value(c.values, out)) return false;
    c.previous_value = before.Bytes(before.remaining() - c.values.remaining());
    return true;
  }
  c.values.U8();
  std::string s;
  if (!NextPacked(c, &s)) return false;
  *out = model::AnyValue::String(std::move(s));
  return true;
}

bool ValueCursors::Skip(uint32_t key, const Decoder& dec) {
  Cursor* run = Find(key);
  if (run == nullptr) return false;
  Cursor& c = *run;
  const uint8_t tag = ByteReader(c.values).U8();
  if (tag == kTagRepeat) {
    c.values.U8();
    return !c.previous_value.empty();
  }
  if (tag != kTagPacked) {
    ByteReader before = c.values;
    if (!dec.SkipValue(c.values)) return false;
    c.previous_value = before.Bytes(before.remaining() - c.values.remaining());
    return true;
  }
  c.values.U8();
  return SkipPacked(c);
}

bool ValueCursors::Exhausted() const {
  for (const Cursor& c : runs_)
    if (!c.values.done() || !c.shapes.done() || !c.text.done() || !c.binary.done()) return false;
  return true;
}

bool Decoder::Ref(ByteReader& r, std::string* out) const {
  const uint64_t v = r.Varint();
  if (r.failed()) return false;
  if (v & 1) {
    const uint64_t len = v >> 1;
    if (len > r.remaining()) return r.Fail(), false;
    out->assign(r.Bytes(static_cast<size_t>(len)));
    return true;
  }
  const uint64_t ord = v >> 1;
  if (ord >= dict_.size()) return r.Fail(), false;
  out->assign(dict_.at(static_cast<size_t>(ord)));
  return true;
}

bool Decoder::Value(ByteReader& r, model::AnyValue* out, int depth) const {
  if (depth > 64) return r.Fail(), false;
  const uint8_t tag = r.U8();
  switch (tag) {
    case kTagEmpty: *out = model::AnyValue(); break;
    case kTagString: {
      std::string s;
      if (!Ref(r, &s)) return false;
      *out = model::AnyValue::String(std::move(s));
      break;
    }
    case kTagFalse: *out = model::AnyValue::Bool(false); break;
    case kTagTrue: *out = model::AnyValue::Bool(true); break;
    case kTagInt: *out = model::AnyValue::Int(r.Zigzag()); break;
    case kTagDouble: *out = model::AnyValue::Double(r.Double()); break;
    case kTagBytes: *out = model::AnyValue::FromBytes(std::string(r.LenBytes())); break;
    case kTagArray: {
      const size_t n = r.Count();
      model::ArrayValue a(n);
      for (auto& e : a)
        if (!Value(r, &e, depth + 1)) return false;
      *out = model::AnyValue::Array(std::move(a));
      break;
    }
    case kTagKvList: {
      const size_t n = r.Count(2);
      model::KeyValueList kvs(n);
      for (auto& kv : kvs)
        if (!Ref(r, &kv.key) || !Value(r, &kv.value, depth + 1)) return false;
      *out = model::AnyValue::KvList(std::move(kvs));
      break;
    }
    default: r.Fail(); return false;
  }
  return !r.failed();
}

bool Decoder::SkipRef(ByteReader& r) const {
  const uint64_t v = r.Varint();
  if (v & 1) {
    r.Bytes(static_cast<size_t>(std::min<uint64_t>(v >> 1, r.remaining() + 1)));
  } else if ((v >> 1) >= dict_.size()) {
    r.Fail();
  }
  return !r.failed();
}

bool Decoder::SkipValue(ByteReader& r, int depth) const {
  if (depth > 64) return r.Fail(), false;
  switch (r.U8()) {
    case kTagEmpty:
    case kTagFalse:
    case kTagTrue: break;
    case kTagString: SkipRef(r); break;
    case kTagInt: r.Varint(); break;
    case kTagDouble: r.U64(); break;
    case kTagBytes: r.LenBytes(); break;
    case kTagArray:
      for (size_t n = r.Count(); n > 0; --n)
        if (!SkipValue(r, depth + 1)) return false;
      break;
    case kTagKvList:
      for (size_t n = r.Count(2); n > 0; --n)
        if (!SkipRef(r) || !SkipValue(r, depth + 1)) return false;
      break;
    default: r.Fail(); return false;
  }
  return !r.failed();
}

bool Decoder::Attributes(ByteReader& r, model::Attributes* out, ValueCursors* cursors) const {
  const size_t n = r.Count(cursors != nullptr ? 1 : 2);
  out->resize(n);
  for (auto& kv : *out) {
    // A dictionary key's value is in its run (keyed by the key's ordinal) when there are runs.
    const uint64_t key_ref = ByteReader(r).Varint();
    if (!Ref(r, &kv.key)) return false;
    if (cursors != nullptr && !(key_ref & 1)) {
      if (!cursors->Next(static_cast<uint32_t>(key_ref >> 1), *this, &kv.value)) return r.Fail(), false;
      continue;
    }
    if (!Value(r, &kv.value)) return false;
  }
  return !r.failed();
}

}  // namespace tb::block
