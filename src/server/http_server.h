// The HTTP door: OTLP/HTTP ingest (protobuf and JSON, gzip bodies), /live and /ready, forced flushes,
// the test-only purge, api_v3 (server/api_v3_http.h), the Jaeger query JSON API /api
// (server/jaeger_http_api.h) and CORS for browsers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "db/db.h"
#include "metrics/metrics.h"
#include "server/config.h"
#include "server/health.h"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace tb::server {

class HttpServer {
 public:
  // `health` answers /ready; it outlives the server. `metrics` may be null (metrics.enabled: false):
  // then GET /metrics is a 404 and nothing is recorded.
  HttpServer(const Config& config, db::Db* db, const HealthMonitor* health, metrics::Metrics* metrics);
  ~HttpServer();

  // Binds `host:port` and serves on a background thread.
  Status Start(const std::string& listen);
  // Stops accepting and returns once in-flight requests have finished.
  void Stop();

 private:
  void Routes();
  // Registers an operator's command, a POST that takes no body: one sent anyway is read within the
  // request-size limit and ignored, and a POST with neither Content-Length nor Transfer-Encoding
  // (`curl -X POST URL`) has an empty body, as HTTP/1.1 says.
  void PostCommand(const std::string& path, std::function<void(httplib::Response&)> run);

  const Config& config_;
  db::Db* db_;
  const HealthMonitor* health_;
  metrics::Metrics* metrics_;
  const metrics::IngestMetrics ingest_metrics_;
  // The query engine as seen from each HTTP query door, recording into that door's metrics.
  const query::QueryEngine api_v3_engine_;
  const query::QueryEngine jaeger_api_engine_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

// The HTTP status of a failed request with this status code.
int HttpStatusFor(StatusCode code);

// Splits "host:port"; the host may be empty or a bracketed IPv6 address.
Status SplitHostPort(const std::string& listen, std::string* host, int* port);

}  // namespace tb::server
