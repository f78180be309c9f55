#include "server/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "db/block_summary.h"
#include "google/rpc/retry_info.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "server/api_v3_http.h"
#include "server/compact.h"
#include "server/jaeger_http_api.h"
#include "server/query_log.h"
#include "server/rpc_status.h"
#include "wire/otlp_codec.h"
#include "wire/otlp_json.h"

namespace tb::server {
namespace {

constexpr char kProtobuf[] = "application/x-protobuf";
constexpr char kJson[] = "application/json";

std::string JsonEscape(const std::string& s) {
  nlohmann::json j = s;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// An OTLP/HTTP error: google.rpc.Status in the request's encoding. Back-pressure (429) carries the
// retry delay twice, as Retry-After and as a RetryInfo detail, as on the gRPC door.
void SendError(HttpResponse& res, bool protobuf, const Status& status) {
  res.status = HttpStatusFor(status.code());
  if (status.code() == StatusCode::kResourceExhausted || status.code() == StatusCode::kUnavailable)
    res.SetHeader("Retry-After", std::to_string(kRetryDelaySeconds));
  const google::rpc::Status body = ToRpcStatus(status);
  if (protobuf) {
    res.SetContent(body.SerializeAsString(), kProtobuf);
    return;
  }
  // protobuf's JSON mapping of the same message: an Any holds "@type" and the message's own fields,
  // a Duration is "<seconds>s".
  nlohmann::json json = {{"code", body.code()}, {"message", body.message()}};
  for (const auto& detail : body.details()) {
    google::rpc::RetryInfo retry;
    if (!detail.UnpackTo(&retry)) continue;
    json["details"].push_back(
        {{"@type", detail.type_url()}, {"retryDelay", std::to_string(retry.retry_delay().seconds()) + "s"}});
  }
  res.SetContent(json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
}

std::string MediaType(const HttpRequest& req) {
  std::string type = req.Header("Content-Type");
  type = type.substr(0, type.find(';'));
  type.erase(std::remove(type.begin(), type.end(), ' '), type.end());
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  return type;
}

// Whether `origin` is on the allow-list of http.cors.allowed_origins ("*": any).
bool OriginListed(const std::vector<std::string>& allowed_origins, const std::string& origin) {
  return !origin.empty() && std::any_of(allowed_origins.begin(), allowed_origins.end(),
                                        [&](const std::string& o) { return o == "*" || o == origin; });
}

// CORS (Fetch standard): a request from an allowed Origin gets Access-Control-Allow-Origin, and a
// preflight OPTIONS of any path is answered here with the methods and the request headers asked for.
// With no allowed origins nothing is added, so browsers keep refusing cross-origin reads. true: the
// request was a preflight and is answered.
bool ApplyCors(const std::vector<std::string>& allowed_origins, const HttpRequest& req, HttpResponse& res) {
  if (allowed_origins.empty()) return false;
  // The answer depends on Origin, so caches must key on it.
  res.SetHeader("Vary", "Origin");
  const bool any = std::find(allowed_origins.begin(), allowed_origins.end(), "*") != allowed_origins.end();
  const std::string origin = req.Header("Origin");
  const bool allowed = OriginListed(allowed_origins, origin);
  if (allowed) res.SetHeader("Access-Control-Allow-Origin", any ? "*" : origin);
  if (req.method != "OPTIONS") return false;
  if (allowed) {
    res.SetHeader("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    if (req.HasHeader("Access-Control-Request-Headers"))
      res.SetHeader("Access-Control-Allow-Headers", req.Header("Access-Control-Request-Headers"));
    res.SetHeader("Access-Control-Max-Age", "600");
  }
  res.status = 204;
  return true;
}

// Whether a request that changes something comes from a web page the operator did not allow. A
// browser names the page's origin in Origin on every such request, and a plain form POST needs no
// preflight, so CORS alone would not stop a page from flushing or purging; other clients send no
// Origin. The server's own origin is not exempt: it serves no pages, and a page that rebinds its DNS
// name to this server would look like it (its Origin and Host agree).
bool ForeignOrigin(const std::vector<std::string>& allowed_origins, const HttpRequest& req) {
  if (req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS" || !req.HasHeader("Origin")) return false;
  return !OriginListed(allowed_origins, req.Header("Origin"));
}

// The role a request for a tenant's data needs.
Role RoleOf(const HttpRequest& req) {
  const std::string& path = req.path;
  if (path == "/v1/traces") return Role::kWrite;
  if (path.starts_with("/admin/") || path == "/purge") return Role::kAdmin;
  return Role::kRead;
}

// A failed request as JSON, with google.rpc.Status's fields (code, message).
void SendStatusJson(HttpResponse& res, const Status& status) {
  res.status = HttpStatusFor(status.code());
  if (status.code() == StatusCode::kUnauthenticated) res.SetHeader("WWW-Authenticate", "Bearer");
  res.SetContent("{\"code\":" + std::to_string(static_cast<int>(status.code())) +
                     ",\"message\":" + JsonEscape(status.message()) + "}",
                 kJson);
}

}  // namespace

HeaderLookup HeadersOf(const HttpRequest& req) {
  return [&req](std::string_view name) {
    std::vector<std::string> values;
    for (auto [it, end] = req.headers.equal_range(std::string(name)); it != end; ++it) values.push_back(it->second);
    return values;
  };
}

void GetWithTenant(HttpRouter& router, const std::string& pattern, const TenantDoor& door,
                   void (*refuse)(HttpResponse&, const Status&), QueryRoute serve) {
  router.Get(pattern, [&door, refuse, serve = std::move(serve)](const HttpRequest& req, HttpResponse& res) {
    auto engine = door.Reader(HeadersOf(req));
    if (!engine.ok()) return refuse(res, engine.status());
    query::QueryWarnings warnings;  // the sources the query could not read
    // A client that went away (a closed browser tab) stops its query at the next step.
    const query::QueryEngine watched = req.client_gone ? engine->WithCancellation(req.client_gone) : *engine;
    serve(watched.WithWarnings(&warnings), req, res);
    if (!warnings.empty()) res.SetHeader(kWarningsKey, WarningsJson(warnings.List()));
  });
}

Status AnswerLimits::Check(uint64_t spans, uint64_t bytes) const {
  const auto over = [](const char* limit, uint64_t max, const char* unit) {
    return Status::InvalidArgument("the answer holds more than " + std::string(limit) + " (" + std::to_string(max) +
                                   unit + "); ask for fewer traces or a narrower time window");
  };
  if (max_spans > 0 && spans > max_spans) return over("limits.max_answer_spans", max_spans, " spans");
  if (max_bytes > 0 && bytes > max_bytes) return over("limits.max_answer_size", max_bytes, " bytes");
  return Status::Ok();
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kCancelled: return 499;  // the client closed the request (nginx's code)
    default: return 500;
  }
}

Status SplitHostPort(const std::string& listen, std::string* host, int* port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("listen address '" + listen + "' needs host:port");
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  if (host->empty()) *host = "0.0.0.0";
  try {
    size_t used = 0;
    *port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || *port < 0 || *port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return Status::InvalidArgument("listen address '" + listen + "' has a bad port");
  }
  return Status::Ok();
}

namespace {
metrics::IngestMetrics IngestMetricsOf(metrics::Metrics* m) {
  return m != nullptr ? m->ingest(metrics::IngestDoor::kOtlpHttp) : metrics::IngestMetrics();
}
metrics::QueryMetrics QueryMetricsOf(metrics::Metrics* m, metrics::QueryDoor door) {
  return m != nullptr ? m->query(door) : metrics::QueryMetrics();
}
}  // namespace

HttpListenerOptions ListenerOptionsOf(const Config& config) {
  HttpListenerOptions options;
  options.max_request_bytes = config.limits.max_request_bytes;
  options.max_header_bytes = static_cast<uint32_t>(std::min<uint64_t>(config.http_max_header_bytes, UINT32_MAX));
  options.max_connections = config.http_max_connections;
  options.workers = config.http_workers;
  const auto ms = [](std::chrono::microseconds d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d); };
  options.header_timeout = ms(config.http_header_timeout);
  options.idle_timeout = ms(config.http_idle_timeout);
  options.body_timeout = ms(config.http_body_timeout);
  options.write_timeout = ms(config.http_write_timeout);
  return options;
}

HttpServer::HttpServer(const Config& config, Tenants* tenants, const AccessPolicy* access, const HealthMonitor* health,
                       metrics::Metrics* metrics, const TlsMaterial* tls)
    : config_(config),
      access_(access),
      client_certificates_(tls != nullptr && tls->mutual()),
      health_(health),
      metrics_(metrics),
      ingest_metrics_(IngestMetricsOf(metrics)),
      door_(access, tenants),
      api_v3_door_(access, tenants, QueryMetricsOf(metrics, metrics::QueryDoor::kApiV3)),
      jaeger_api_door_(access, tenants, QueryMetricsOf(metrics, metrics::QueryDoor::kJaegerHttp)),
      listener_(
          &router_, [this](const HttpRequest& req, HttpResponse& res) { return PreRoute(req, res); },
          ListenerOptionsOf(config), tls) {
  Routes();
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Routes() {
  const AnswerLimits answers{config_.max_answer_spans, config_.max_answer_bytes};
  api_v3::RegisterRoutes(router_, api_v3_door_, answers);
  jaeger_api::RegisterRoutes(router_, jaeger_api_door_, config_.limits.max_request_bytes, answers);
  router_.Post("/v1/traces", [this](const HttpRequest& req, HttpResponse& res) { ExportTraces(req, res); });

  router_.Get("/live", [](const HttpRequest&, HttpResponse& res) { res.SetContent("{\"status\":\"live\"}\n", kJson); });
  router_.Get("/ready", [this](const HttpRequest&, HttpResponse& res) {
    const Readiness readiness = health_->Check();
    res.status = readiness.ready ? 200 : 503;
    res.SetContent(ReadinessJson(readiness), kJson);
  });

  // Prometheus's text exposition of every metric (docs/metrics.md).
  router_.Get("/metrics", [this](const HttpRequest&, HttpResponse& res) {
    if (metrics_ == nullptr) {
      res.status = 404;
      res.SetContent("metrics are disabled (metrics.enabled: false)\n", "text/plain");
      return;
    }
    res.SetContent(metrics_->Scrape(), "text/plain; version=0.0.4; charset=utf-8");
  });

  PostCommand("/purge", [this](db::Db& db, HttpResponse& res) {
    // A test harness purges between tests and may check for leaked connections once it is done
    // (Jaeger's e2e suite does, with goleak): a kept-alive socket to this server, which outlives
    // the harness, would count as a leak, so every purge answer ends its connection.
    res.SetHeader("Connection", "close");
    if (!config_.enable_purge) {
      res.status = 404;
      res.SetContent("purge is disabled; start the server with --enable-purge\n", "text/plain");
      return;
    }
    Status s = db.Purge();
    if (!s.ok()) {
      res.status = 500;
      res.SetContent(s.ToString() + "\n", "text/plain");
      return;
    }
    spdlog::warn("purged all data of tenant {} on request", db.tenant());
    res.SetContent("purged\n", "text/plain");
  });

  PostCommand("/admin/flush", [](db::Db& db, HttpResponse& res) {
    Status s = db.Flush();
    if (!s.ok()) {
      res.status = 500;
      res.SetContent(s.ToString() + "\n", "text/plain");
      return;
    }
    res.SetContent("flushed; " + std::to_string(db.Stats().blocks) + " blocks\n", "text/plain");
  });

  // The live block list, for operators and tests (the document of `tracebucket blocks --json`).
  router_.Get("/admin/blocks", [this](const HttpRequest& req, HttpResponse& res) {
    auto db = door_.Admin(HeadersOf(req));
    if (!db.ok()) return SendStatusJson(res, db.status());
    std::vector<db::BlockSummary> blocks;
    for (const auto& b : (*db)->PublishedBlocks())
      blocks.push_back(db::SummarizeBlock((*db)->tenant(), b.meta, b.level));
    res.SetContent(db::BlocksJson(blocks), kJson);
  });

  // Merges the tenant's blocks until nothing is left to merge; answers once the result is durable.
  // Like /admin/flush, it takes no body.
  PostCommand("/admin/compact", [](db::Db& db, HttpResponse& res) {
    auto summary = db.Compact();
    if (!summary.ok()) {
      res.status = 500;
      res.SetContent(summary.status().ToString() + "\n", "text/plain");
      return;
    }
    // Another process holds the tenant's compactor lease: it does the work; ask again later.
    if (summary->lease_held_elsewhere) res.status = 409;
    res.SetContent(CompactionSummaryJson(*summary), kJson);
  });
}

bool HttpServer::PreRoute(const HttpRequest& req, HttpResponse& res) const {
  // /live and /ready are open to anyone (probes, which present no client certificate); /metrics
  // holds no tenant's data and needs only a token when tokens are set.
  const bool probe = req.path == "/live" || req.path == "/ready";
  if (client_certificates_ && !probe && !req.client_certificate_verified) {
    SendStatusJson(res, Status::Unauthenticated("a client certificate signed by the CA of tls.client_ca_file is "
                                                "required (only /live and /ready are served without one)"));
    return true;
  }
  if (ApplyCors(config_.cors_allowed_origins, req, res)) return true;
  if (probe) return false;
  if (command_paths_.contains(req.path) && req.method != "POST") {
    SendStatusJson(res, Status::InvalidArgument(req.path + " changes state and takes POST only, not " + req.method));
    res.status = 405;
    res.SetHeader("Allow", "POST");
    return true;
  }
  if (ForeignOrigin(config_.cors_allowed_origins, req)) {
    SendStatusJson(res, Status::PermissionDenied("origin '" + req.Header("Origin") + "' may not " + req.method +
                                                 " here: it is not in http.cors.allowed_origins"));
    return true;
  }
  const Status access = req.path == "/metrics" ? access_->Authenticate(HeadersOf(req))
                                               : access_->Authorize(HeadersOf(req), RoleOf(req)).status();
  if (access.ok()) return false;
  SendStatusJson(res, access);
  return true;
}

void HttpServer::PostCommand(const std::string& path, std::function<void(db::Db&, HttpResponse&)> run) {
  command_paths_.insert(path);
  router_.Post(path, [this, run = std::move(run)](const HttpRequest& req, HttpResponse& res) {
    switch (req.body_read) {
      case BodyRead::kComplete: {
        auto db = door_.Admin(HeadersOf(req));
        if (!db.ok()) return SendStatusJson(res, db.status());
        return run(**db, res);
      }
      case BodyRead::kTooLarge:
        res.status = 413;
        res.SetContent(BodyTooLargeMessage(config_.limits.max_request_bytes) + "\n", "text/plain");
        return;
      case BodyRead::kMalformed:
        res.status = 400;
        res.SetContent(std::string(kMalformedBodyMessage) + "\n", "text/plain");
        return;
    }
  });
}

// The body arrives read and decoded within the request-size limit (server/http_listener.h), chunked
// or compressed alike; a refused one is answered here, in the request's encoding.
void HttpServer::ExportTraces(const HttpRequest& req, HttpResponse& res) const {
  const std::string type = MediaType(req);
  const bool protobuf = type == kProtobuf;
  switch (req.body_read) {
    case BodyRead::kComplete: break;
    case BodyRead::kTooLarge:
      ingest_metrics_.Refused(metrics::RefusalReason::kLimit);
      SendError(res, protobuf, Status::InvalidArgument(BodyTooLargeMessage(config_.limits.max_request_bytes)));
      res.status = 413;
      return;
    case BodyRead::kMalformed:
      ingest_metrics_.Refused(metrics::RefusalReason::kBadInput);
      return SendError(res, protobuf, Status::InvalidArgument(kMalformedBodyMessage));
  }
  const std::string& body = req.body;
  if (!protobuf && type != kJson) {
    ingest_metrics_.Refused(metrics::RefusalReason::kBadInput);
    SendError(res, false,
              Status::InvalidArgument("unsupported Content-Type '" + type +
                                      "': use application/x-protobuf or application/json"));
    res.status = 415;
    return;
  }
  auto ingester = door_.Writer(HeadersOf(req));
  if (!ingester.ok()) return SendError(res, protobuf, ingester.status());
  if (Status room = (*ingester)->CheckCapacity(); !room.ok()) {
    ingest_metrics_.Failed(room);
    return SendError(res, protobuf, room);
  }
  auto batch = protobuf ? wire::DecodeOtlpProtobuf(body) : wire::ParseOtlpJson(body);
  if (!batch.ok()) {
    ingest_metrics_.Failed(batch.status());
    return SendError(res, protobuf, batch.status());
  }
  auto result = (*ingester)->Ingest(std::move(*batch), protobuf ? std::string_view(body) : std::string_view());
  if (!result.ok()) {
    ingest_metrics_.Failed(result.status());
    return SendError(res, protobuf, result.status());
  }
  ingest_metrics_.Accepted(result->accepted_spans, result->rejected_spans, body.size());
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
  if (result->rejected_spans > 0 || !result->message.empty()) {
    response.mutable_partial_success()->set_rejected_spans(static_cast<int64_t>(result->rejected_spans));
    response.mutable_partial_success()->set_error_message(result->message);
  }
  if (protobuf) {
    res.SetContent(response.SerializeAsString(), kProtobuf);
  } else if (response.has_partial_success()) {
    res.SetContent("{\"partialSuccess\":{\"rejectedSpans\":\"" + std::to_string(result->rejected_spans) +
                       "\",\"errorMessage\":" + JsonEscape(result->message) + "}}",
                   kJson);
  } else {
    res.SetContent("{}", kJson);
  }
}

Status HttpServer::Start(const std::string& listen) {
  std::string host;
  int port = 0;
  TB_RETURN_IF_ERROR(SplitHostPort(listen, &host, &port));
  return listener_.Start(host, port);
}

void HttpServer::Stop() { listener_.Stop(); }

}  // namespace tb::server
