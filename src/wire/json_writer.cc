#include "wire/json_writer.h"

#include <charconv>
#include <cmath>

#include "model/text.h"

namespace tb::wire {
namespace {

// The length of the well-formed UTF-8 sequence that starts at p[0] (a byte >= 0x80), or 0 if none
// does: overlong forms, UTF-16 surrogates and code points above U+10FFFF are not well-formed.
size_t Utf8SequenceLength(const unsigned char* p, size_t available) {
  const unsigned char c = p[0];
  size_t continuation = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    continuation = 1;
  } else if (c == 0xE0) {
    continuation = 2, lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    continuation = 2;
  } else if (c == 0xED) {
    continuation = 2, hi = 0x9F;  // no UTF-16 surrogates
  } else if (c == 0xF0) {
    continuation = 3, lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    continuation = 3;
  } else if (c == 0xF4) {
    continuation = 3, hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (available <= continuation || p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k <= continuation; ++k) {
    if ((p[k] & 0xC0) != 0x80) return 0;
  }
  return continuation + 1;
}

}  // namespace

void JsonWriter::NewLine() {
  *out_ += '\n';
  out_->append(static_cast<size_t>(depth_) * 4, ' ');
}

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_) *out_ += ',';
  first_ = false;
  if (pretty_ && depth_ > 0) NewLine();
}

void JsonWriter::Key(std::string_view name) {
  if (!first_) *out_ += ',';
  first_ = false;
  if (pretty_) NewLine();
  *out_ += '"';
  *out_ += name;
  *out_ += pretty_ ? "\": " : "\":";
  after_key_ = true;
}

void JsonWriter::Open(char bracket) {
  BeforeValue();
  *out_ += bracket;
  ++depth_;
  first_ = true;
}

void JsonWriter::Close(char bracket) {
  --depth_;
  if (pretty_ && !first_) NewLine();
  *out_ += bracket;
  first_ = false;
}

void JsonWriter::String(std::string_view s) {
  BeforeValue();
  *out_ += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\') ++i;
    out_->append(s.data() + start, i - start);
    if (i == n) break;
    const unsigned char c = p[i];
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(p + i, n - i);
      if (len == 0) {
        *out_ += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        out_->append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    model::AppendJsonEscape(c, out_);
    ++i;
  }
  *out_ += '"';
}

void JsonWriter::Uint(uint64_t v) {
  BeforeValue();
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
}

void JsonWriter::Int(int64_t v) {
  BeforeValue();
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
}

void JsonWriter::FiniteDouble(double d) {
  BeforeValue();
  if (d == 0) {
    *out_ += std::signbit(d) ? "-0.0" : "0";  // "-0" would read back as the integer 0
  } else {
    *out_ += model::FormatDoubleShortest(d);
  }
}

void JsonWriter::Bool(bool b) {
  BeforeValue();
  *out_ += b ? "true" : "false";
}

void JsonWriter::Null() {
  BeforeValue();
  *out_ += "null";
}

void JsonWriter::Raw(std::string_view json_text) {
  BeforeValue();
  *out_ += json_text;
}

}  // namespace tb::wire
