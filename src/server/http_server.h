// The HTTP door: OTLP/HTTP ingest (protobuf and JSON, gzip bodies), /live and /ready, forced flushes,
// the test-only purge, api_v3 (server/api_v3_http.h), the Jaeger query JSON API /api
// (server/jaeger_http_api.h) and CORS for browsers.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "db/db.h"
#include "metrics/metrics.h"
#include "server/config.h"
#include "server/health.h"
#include "server/http_listener.h"
#include "server/http_router.h"
#include "server/tenants.h"
#include "server/tls.h"

namespace tb::server {

class HttpServer {
 public:
  // `health` answers /ready; it, `tenants` and `access` outlive the server. `metrics` may be null
  // (metrics.enabled: false): then GET /metrics is a 404 and nothing is recorded. With `tls` (which
  // outlives the server too) the door speaks HTTPS only; with its client CA every request but
  // /live and /ready needs a verified client certificate (server/tls.h).
  HttpServer(const Config& config, Tenants* tenants, const AccessPolicy* access, const HealthMonitor* health,
             metrics::Metrics* metrics, const TlsMaterial* tls = nullptr);
  ~HttpServer();

  // Binds `host:port` and serves on background threads.
  Status Start(const std::string& listen);
  // Stops accepting and returns once in-flight requests have finished.
  void Stop();

 private:
  void Routes();
  // Refuses, before any route runs: without a client certificate when mTLS is on (401); another
  // method than POST on an operator's command (405, Allow: POST); a POST, PUT, PATCH or DELETE from a
  // browser page of a foreign origin (403); then what the access policy refuses. /live and /ready
  // are refused nothing. CORS preflights are answered here. true: answered.
  bool PreRoute(const HttpRequest& req, HttpResponse& res) const;
  // Registers an operator's command on the Db of the request's tenant, a POST that takes no body:
  // one sent anyway is read within the request-size limit and ignored, and a POST with neither
  // Content-Length nor Transfer-Encoding (`curl -X POST URL`) has an empty body, as HTTP/1.1 says.
  void PostCommand(const std::string& path, std::function<void(db::Db&, HttpResponse&)> run);
  // The OTLP/HTTP export: POST /v1/traces.
  void ExportTraces(const HttpRequest& req, HttpResponse& res) const;

  const Config& config_;
  const AccessPolicy* access_;
  const bool client_certificates_;  // mTLS
  const HealthMonitor* health_;
  metrics::Metrics* metrics_;
  const metrics::IngestMetrics ingest_metrics_;
  // OTLP/HTTP writes and the operator's commands.
  const TenantDoor door_;
  // Each HTTP query door, recording into its own query metrics.
  const TenantDoor api_v3_door_;
  const TenantDoor jaeger_api_door_;
  HttpRouter router_;
  std::set<std::string> command_paths_;  // the routes PostCommand registered: POST only
  HttpListener listener_;
};

// Every value of one header of `req`, for the access check.
HeaderLookup HeadersOf(const HttpRequest& req);

// The listener's settings of `config` (http.*, limits.max_request_size).
HttpListenerOptions ListenerOptionsOf(const Config& config);

// A query route: answers `req` with the query engine of the request's tenant.
using QueryRoute = std::function<void(const query::QueryEngine&, const HttpRequest&, HttpResponse&)>;
// Registers GET `pattern` as a query route of `door`; when the request's tenant cannot be served
// (the access check, or its Db failing to open) `refuse` answers instead, in the door's own form.
// The query answers from the sources it can read; those it could not are named in the answer's
// `tracebucket-warnings` header (server/query_log.h), and `serve` finds them in the engine's
// warnings() to put in its body.
void GetWithTenant(HttpRouter& router, const std::string& pattern, const TenantDoor& door,
                   void (*refuse)(HttpResponse&, const Status&), QueryRoute serve);

// The HTTP status of a failed request with this status code.
int HttpStatusFor(StatusCode code);

// The most one answer of an HTTP query door may hold (limits.max_answer_spans,
// limits.max_answer_size; 0: no limit). Those doors build a whole answer before sending it, unlike
// the gRPC doors' chunked streams, so a larger one is refused rather than held.
struct AnswerLimits {
  uint64_t max_spans = 1'000'000;
  uint64_t max_bytes = 128ull << 20;
  // INVALID_ARGUMENT (400) naming the limit once an answer reaches more than either: the client
  // asks for fewer traces or a narrower window, or the operator raises the limit.
  Status Check(uint64_t spans, uint64_t bytes) const;
};

// Splits "host:port"; the host may be empty or a bracketed IPv6 address.
Status SplitHostPort(const std::string& listen, std::string* host, int* port);

}  // namespace tb::server
