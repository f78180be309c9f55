// The HTTP door's thin interface: a request as the routes see it (decoded path, query parameters,
// headers, a body already read and decoded within the request-size limit), the answer they fill
// in, and the table that maps a method and a path pattern to a route. Transport (sockets, TLS,
// deadlines, connection limits, answer compression) lives in server/http_listener.h; no route sees it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace tb::server {

// Header names compare without regard to case (RFC 9110 §5.1).
struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
};
using HttpHeaders = std::multimap<std::string, std::string, CaseInsensitiveLess>;
// URL query parameters in their order, decoded; a name may repeat.
using QueryParams = std::multimap<std::string, std::string>;

// What became of a request's body by the time its route runs.
enum class BodyRead {
  kComplete,   // body holds the whole decoded body (empty if the request had none)
  kTooLarge,   // the encoded or the decoded body passed limits.max_request_size: answer 413
  kMalformed,  // a truncated body, or one whose Content-Encoding is unknown or does not decode: 400
};

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string path;    // percent-decoded, without the query
  QueryParams params;
  // [0]: the whole path; [1..]: the groups of the route's pattern.
  std::vector<std::string> matches;
  HttpHeaders headers;
  std::string body;
  BodyRead body_read = BodyRead::kComplete;
  // Over TLS with a client CA: the client presented a certificate that verified.
  bool client_certificate_verified = false;
  // Set by the listener for the route's run: whether the client has closed or reset its
  // connection since (one non-blocking system call, cheap enough for every step of a query).
  // Not seen while bytes the listener has not read wait before the close: over TLS a close_notify,
  // a pipelined next request, the rest of a refused body. Null when no listener.
  std::function<bool()> client_gone;

  // The first value of a header or parameter, or "" when there is none.
  const std::string& Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  const std::string& Param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;

  void SetHeader(std::string name, std::string value) { headers.emplace(std::move(name), std::move(value)); }
  void SetContent(std::string content, std::string_view content_type);
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

class HttpRouter {
 public:
  struct Route {
    std::string method;
    std::regex pattern;
    HttpHandler handler;
    // POST routes read their body and look at body_read; any other route's body is read and
    // dropped, and one that could not be read is answered for it (413 or 400).
    bool takes_body = false;
  };

  // `pattern` is an ECMAScript regular expression matched against the whole decoded path.
  void Get(const std::string& pattern, HttpHandler handler);
  void Post(const std::string& pattern, HttpHandler handler);

  // The route for `method` (HEAD is served by GET routes) and `path`, filling `matches`; null
  // when none matches. Routes are tried in the order they were added.
  const Route* Find(std::string_view method, const std::string& path, std::vector<std::string>* matches) const;

 private:
  std::vector<Route> routes_;
};

// Percent-decodes a path (`plus_is_space`: false) or a query component (true: "+" is a space).
// INVALID_ARGUMENT for a "%" not followed by two hex digits.
Result<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// Splits "a=1&b=x%20y&c" into decoded pairs (c has an empty value); empty pieces are skipped.
Result<QueryParams> ParseQueryString(std::string_view query);

// The request-size refusal, naming the limit.
std::string BodyTooLargeMessage(uint64_t max_bytes);
inline constexpr char kMalformedBodyMessage[] =
    "malformed request body: truncated, or an unknown or undecodable Content-Encoding (gzip, deflate and zstd are "
    "accepted)";

}  // namespace tb::server
