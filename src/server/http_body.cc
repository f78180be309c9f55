#include "server/http_body.h"

namespace tb::server {

BodyRead ReadBodyWithin(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read,
                        uint64_t max_bytes, std::string* body) {
  // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 §6.3);
  // httplib would instead read until the client closes, and answer 400 at its read timeout.
  if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) return BodyRead::kComplete;
  // httplib hands a multipart body only to a multipart receiver; no route here takes a form.
  BodyRead outcome = BodyRead::kMalformed;
  if (!req.is_multipart_form_data()) {
    bool too_large = false;
    const bool complete = read([&](const char* data, size_t n) {
      if (body->size() + n > max_bytes) {
        too_large = true;
        return false;
      }
      body->append(data, n);
      return true;
    });
    if (complete) return BodyRead::kComplete;
    // httplib sets 413 itself when the Content-Length alone exceeds its payload limit (the same one).
    if (too_large || res.status == 413) outcome = BodyRead::kTooLarge;
  }
  res.set_header("Connection", "close");
  return outcome;
}

std::string BodyTooLargeMessage(uint64_t max_bytes) {
  return "request body exceeds limits.max_request_size (" + std::to_string(max_bytes) + " bytes)";
}

}  // namespace tb::server
