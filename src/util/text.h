// ASCII text helpers shared by the parsers of HTTP headers, settings, connection strings and
// query parameters. ASCII only and never locale-dependent: the protocols they serve define their
// tokens in ASCII, and a byte of UTF-8 must pass through unchanged.
#pragma once

#include <string>
#include <string_view>

namespace tb {

// `text` with A-Z turned into a-z; every other byte as it is.
std::string AsciiLowercase(std::string_view text);

// `text` without its leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r).
std::string_view TrimAsciiWhitespace(std::string_view text);

}  // namespace tb
