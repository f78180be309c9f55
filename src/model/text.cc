#include "model/text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace tb::model {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\' || c < 0x20) {
      AppendJsonEscape(c, out);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

// JSON of a value nested in an array or map: strings quoted, numbers and bools bare, bytes as a
// base64 string, the empty value as null.
void AppendJsonValue(const AnyValue& v, std::string* out) {
  switch (v.type()) {
    case AnyValue::Type::kEmpty: *out += "null"; return;
    case AnyValue::Type::kString: AppendJsonString(v.string_value(), out); return;
    case AnyValue::Type::kBytes: AppendJsonString(Base64Encode(v.bytes_value()), out); return;
    case AnyValue::Type::kDouble:
      if (!std::isfinite(v.double_value())) {
        AppendJsonString(FormatDoubleShortest(v.double_value()), out);
        return;
      }
      [[fallthrough]];
    case AnyValue::Type::kBool:
    case AnyValue::Type::kInt: *out += CanonicalString(v); return;
    case AnyValue::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : v.array_value()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonValue(e, out);
      }
      out->push_back(']');
      return;
    }
    case AnyValue::Type::kKvList: {
      out->push_back('{');
      bool first = true;
      for (const auto& kv : v.kvlist_value()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(kv.key, out);
        out->push_back(':');
        AppendJsonValue(kv.value, out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHexDigits[c >> 4]);
    out.push_back(kHexDigits[c & 15]);
  }
  return out;
}

template <size_t N>
std::optional<std::array<uint8_t, N>> HexDecodeId(std::string_view hex) {
  if (hex.size() != 2 * N) return std::nullopt;
  std::array<uint8_t, N> id{};
  for (size_t i = 0; i < N; ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return id;
}
template std::optional<TraceId> HexDecodeId<16>(std::string_view);
template std::optional<SpanId> HexDecodeId<8>(std::string_view);

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    out.push_back(kBase64Alphabet[n >> 18]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back(kBase64Alphabet[n & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
    if (rest == 2) n |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out.push_back(kBase64Alphabet[n >> 18]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else if (pad > 0 || (v[j] = Base64Value(c)) < 0) {
        return std::nullopt;
      }
    }
    uint32_t n = uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | uint32_t(v[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

void AppendJsonEscape(unsigned char c, std::string* out) {
  switch (c) {
    case '"': *out += "\\\""; return;
    case '\\': *out += "\\\\"; return;
    case '\n': *out += "\\n"; return;
    case '\r': *out += "\\r"; return;
    case '\t': *out += "\\t"; return;
    case '\b': *out += "\\b"; return;
    case '\f': *out += "\\f"; return;
    default:
      *out += "\\u00";
      out->push_back(kHexDigits[c >> 4]);
      out->push_back(kHexDigits[c & 15]);
  }
}

std::string FormatDoubleShortest(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return "0";
  char buf[64];
  double a = std::fabs(v);
  if (a < 1e-6 || a >= 1e21) {
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string s(buf, r.ptr);
    // to_chars writes "1e-07"; ECMAScript writes "1e-7".
    auto e = s.find('e');
    size_t digits = e + 2;  // after the sign
    while (digits + 1 < s.size() && s[digits] == '0') s.erase(digits, 1);
    return s;
  }
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

void AppendCanonicalString(const AnyValue& value, std::string* out) {
  switch (value.type()) {
    case AnyValue::Type::kEmpty: return;
    case AnyValue::Type::kString: out->append(value.string_value()); return;
    case AnyValue::Type::kBool: out->append(value.bool_value() ? "true" : "false"); return;
    case AnyValue::Type::kInt: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, value.int_value());
      out->append(buf, r.ptr);
      return;
    }
    case AnyValue::Type::kDouble: out->append(FormatDoubleShortest(value.double_value())); return;
    case AnyValue::Type::kBytes: out->append(Base64Encode(value.bytes_value())); return;
    case AnyValue::Type::kArray:
    case AnyValue::Type::kKvList: AppendJsonValue(value, out); return;
  }
}

std::string CanonicalString(const AnyValue& value) {
  std::string out;
  AppendCanonicalString(value, &out);
  return out;
}

std::string FormatRfc3339Nanos(uint64_t unix_nano) {
  const time_t seconds = static_cast<time_t>(unix_nano / 1'000'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];  // room for any int fields, so that the compiler sees no truncation
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<unsigned long long>(unix_nano % 1'000'000'000));
  return text;
}

}  // namespace tb::model
