// The HTTP door's transport, on Boost.Beast: accepts connections (plain or TLS), reads each
// request under deadlines and limits, hands it to its HttpRouter route on a pool of worker threads,
// and writes the answer, gzip-compressed when the client accepts it.
//
// Nothing a client sends is held beyond a limit, and no client holds a thread while it is slow:
// - the header must arrive whole within header_timeout of the connection's start (or, on a
//   kept-alive connection, of its first byte) and fit in max_header_bytes (431 otherwise);
// - a keep-alive connection may stay idle for idle_timeout;
// - the body is refused as soon as its encoded bytes (Content-Length, or chunks as they come) or
//   its decoded bytes (gzip, deflate, zstd) pass max_request_bytes; it must arrive within
//   body_timeout; the route sees BodyRead::kTooLarge / kMalformed and answers in its own form;
// - beyond max_connections open connections, a new one is answered 503 and closed;
// - reads, the TLS handshake and writes run on I/O threads; only the routes run on the workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/http_router.h"
#include "server/tls.h"
#include "util/status.h"

namespace tb::server {

struct HttpListenerOptions {
  uint64_t max_request_bytes = 64ull << 20;                            // limits.max_request_size
  uint32_t max_header_bytes = 64 << 10;                                // http.max_header_size
  uint32_t max_connections = 1024;                                     // http.max_connections
  uint32_t workers = 8;                                                // http.workers: routes running at once
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  // http.header_timeout
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};    // http.idle_timeout
  std::chrono::milliseconds body_timeout{std::chrono::seconds(60)};    // http.body_timeout
  std::chrono::milliseconds write_timeout{std::chrono::seconds(60)};   // sending one answer
};

class HttpListener {
 public:
  // Runs once a request's header is read, before its body, on an I/O thread, so it must be quick:
  // true when it has answered the request itself (its body is then never read).
  using PreRoute = std::function<bool(const HttpRequest&, HttpResponse&)>;

  // `router` and `tls` (null: plain HTTP) outlive the listener.
  HttpListener(const HttpRouter* router, PreRoute pre_route, HttpListenerOptions options,
               const TlsMaterial* tls = nullptr);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Binds `host` (a name or an address; "0.0.0.0" or "::" for every interface) and `port` (0: any
  // free port) and serves on background threads. UNAVAILABLE when the address cannot be bound,
  // INTERNAL when TLS cannot be set up.
  [[nodiscard]] Status Start(const std::string& host, int port);
  // The bound port, once started.
  int port() const;
  // Stops accepting, lets the routes running finish and their answers go out (for up to a few
  // seconds), closes every connection and returns.
  void Stop();

  // The sockets and threads behind the listener (http_listener.cc).
  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tb::server
