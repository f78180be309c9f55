// JsonWriter: JSON text written straight into a string, value by value, with no document tree in
// between. Encoders of large answers (OTLP/JSON, the Jaeger UI's trace model) use it so that the
// memory an answer takes is the answer's bytes, not a tree of nodes several times their size.
//
// Contract: the caller writes a well-formed sequence (an object's members as Key() then one value;
// arrays as values; every Begin matched by its End); the writer places commas and, when pretty,
// newlines and 4-space indentation, the layout nlohmann's dump(4) produces, with empty objects and
// arrays written as {} and []. Strings come out as valid UTF-8: each byte that is not part of a
// well-formed UTF-8 sequence becomes U+FFFD, control characters are escaped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tb::wire {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out, bool pretty = false) : out_(out), pretty_(pretty) {}

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  // A member name. It is written as given, unescaped: names are the encoder's own constants or
  // identifiers such as "p12", never client data (client data goes through String()).
  void Key(std::string_view name);

  void String(std::string_view s);
  void Uint(uint64_t v);
  void Int(int64_t v);
  // Shortest text that reads back as the same double; -0 as -0.0 (so it stays a float). The caller
  // decides what a non-finite value becomes: JSON has no such numbers.
  void FiniteDouble(double d);
  void Bool(bool b);
  void Null();
  // A value whose JSON text the caller has already written correctly (e.g. a quoted hex ID).
  void Raw(std::string_view json_text);

  // Shorthands for a member: Key(name) then the value.
  void Member(std::string_view name, std::string_view s) {
    Key(name);
    String(s);
  }
  void Member(std::string_view name, uint64_t v) {
    Key(name);
    Uint(v);
  }

 private:
  void BeforeValue();
  void NewLine();
  void Open(char bracket);
  void Close(char bracket);

  std::string* out_;
  const bool pretty_;
  int depth_ = 0;
  bool first_ = true;       // nothing written yet in the innermost open object or array
  bool after_key_ = false;  // a member name was written; its value comes next
};

}  // namespace tb::wire
