#include "block/codec.h"

#include <algorithm>

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

uint32_t Encoder::KeyOrdinal(std::string_view key) const {
  auto it = dict_->find(key);
  return it == dict_->end() ? 0 : it->second;
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

void Encoder::Attributes(ByteWriter& w, const model::Attributes& attributes, HighCardRuns* runs) const {
  w.Varint(attributes.size());
  for (const auto& kv : attributes) {
    Ref(w, kv.key);
    if (runs != nullptr && kv.value.type() == model::AnyValue::Type::kString) {
      auto it = dict_->find(kv.key);
      if (it != dict_->end() && it->second < high_card_->size() && (*high_card_)[it->second]) {
        w.U8(kTagHighCard);
        (*runs)[it->second].LenBytes(kv.value.string_value());
        continue;
      }
    }
    Value(w, kv.value);
  }
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

bool HighCardCursors::Parse(std::string_view column) {
  runs_.clear();
  if (column.empty()) return true;  // no high-cardinality values in the page
  ByteReader r(column);
  const size_t n = r.Count(2);
  std::vector<std::pair<uint32_t, uint64_t>> dir;
  for (size_t i = 0; i < n && !r.failed(); ++i) {
    const uint32_t key = r.Varint32();
    const uint64_t len = r.Varint();
    dir.emplace_back(key, len);
  }
  if (r.failed()) return false;
  for (const auto& [key, len] : dir) {
    if (len > r.remaining()) return false;
    if (!runs_.emplace(key, ByteReader(r.Bytes(static_cast<size_t>(len)))).second) return false;
  }
  return r.done();
}

bool HighCardCursors::Next(uint32_t key, std::string_view* out) {
  auto it = runs_.find(key);
  if (it == runs_.end()) return false;
  *out = it->second.LenBytes();
  return !it->second.failed();
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

bool Decoder::Attributes(ByteReader& r, model::Attributes* out, HighCardCursors* cursors) const {
  const size_t n = r.Count(2);
  out->resize(n);
  for (auto& kv : *out) {
    // Peek the key's dictionary ordinal: high-cardinality runs are keyed by it.
    ByteReader save = r;
    const uint64_t key_ref = r.Varint();
    r = save;
    if (!Ref(r, &kv.key)) return false;
    ByteReader peek = r;
    if (peek.U8() == kTagHighCard) {
      r.U8();
      std::string_view value;
      if (cursors == nullptr || (key_ref & 1) || !cursors->Next(static_cast<uint32_t>(key_ref >> 1), &value))
        return r.Fail(), false;
      kv.value = model::AnyValue::String(std::string(value));
      continue;
    }
    if (!Value(r, &kv.value)) return false;
  }
  return !r.failed();
}

}  // namespace tb::block
