// Request bodies read within the request-size limit (limits.max_request_size).
//
// httplib compares its payload limit with Content-Length only: a chunked body, or a gzip body that
// grows when decoded, would otherwise be read whole whatever its size. Routes that take a body read
// it through ReadBodyWithin instead, which counts the decoded bytes as they arrive and stops at the
// limit, so no more than the limit is ever held.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <string>

namespace tb::server {

enum class BodyRead {
  kComplete,   // *body holds the whole (decoded) body
  kTooLarge,   // answer 413 with BodyTooLargeMessage
  kMalformed,  // a multipart form, a truncated body or an undecodable Content-Encoding: answer 400
};

// Reads the body of a route registered with a ContentReader; a request with neither Content-Length
// nor Transfer-Encoding has an empty one (HTTP/1.1). On anything but kComplete the rest of
// the body is left unread, so the caller's answer should close the connection (it sets
// "Connection: close" on `res` itself).
BodyRead ReadBodyWithin(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read,
                        uint64_t max_bytes, std::string* body);

std::string BodyTooLargeMessage(uint64_t max_bytes);
inline constexpr char kMalformedBodyMessage[] =
    "malformed request body: a form, truncated, or an undecodable Content-Encoding (e.g. invalid gzip data)";

}  // namespace tb::server
