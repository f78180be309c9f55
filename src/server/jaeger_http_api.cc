#include "server/jaeger_http_api.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "model/jaeger.h"
#include "model/text.h"
#include "server/http_server.h"
#include "server/query_log.h"
#include "wire/jaeger_ui_json.h"
#include "wire/otlp_json.h"

namespace tb::server::jaeger_api {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kJson[] = "application/json";
constexpr char kTraceNotFound[] = "trace not found";
constexpr uint64_t kNanosPerMicro = 1'000;
constexpr uint64_t kNanosPerMilli = 1'000'000;

// Jaeger's newParseError shape.
Status ParseError(std::string_view param, std::string_view why) {
  return Status::InvalidArgument("unable to parse param '" + std::string(param) + "': " + std::string(why));
}

const std::string* LastParam(const QueryParams& params, const char* name) {
  auto [begin, end] = params.equal_range(name);
  return begin == end ? nullptr : &std::prev(end)->second;
}

// The value Go's Request.FormValue reads: the first one.
const std::string* FirstParam(const QueryParams& params, const char* name) {
  auto it = params.find(name);
  return it == params.end() ? nullptr : &it->second;
}

std::vector<std::string> AllParams(const QueryParams& params, const char* name) {
  std::vector<std::string> out;
  auto [begin, end] = params.equal_range(name);
  for (auto it = begin; it != end; ++it) out.push_back(it->second);
  return out;
}

// A non-negative decimal integer parameter scaled to nanoseconds by `unit_nanos`; `fallback` when
// the parameter is absent or empty.
Result<uint64_t> TimeParam(const QueryParams& params, const char* name, uint64_t unit_nanos, uint64_t fallback) {
  const std::string* text = LastParam(params, name);
  if (text == nullptr || text->empty()) return fallback;
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size())
    return ParseError(name, "'" + *text + "' is not a non-negative integer");
  if (value > std::numeric_limits<uint64_t>::max() / unit_nanos)
    return ParseError(name, "'" + *text + "' is too large");
  return value * unit_nanos;
}

Result<std::optional<uint64_t>> DurationParam(const QueryParams& params, const char* name) {
  const std::string* text = LastParam(params, name);
  if (text == nullptr || text->empty()) return std::optional<uint64_t>();
  auto nanos = api_v3::ParseGoDurationNanos(*text);
  if (!nanos.ok()) return ParseError(name, nanos.status().message());
  return std::optional<uint64_t>(*nanos);
}

// Tags from repeated tag=key:value, then from the JSON objects of `tags`; a later key wins.
Result<std::map<std::string, std::string>> TagParams(const QueryParams& params) {
  std::map<std::string, std::string> tags;
  for (const auto& pair : AllParams(params, "tag")) {
    const auto colon = pair.find(':');
    if (colon == std::string::npos)
      return Status::InvalidArgument("malformed 'tag' parameter, expecting key:value, received: " + pair);
    tags[pair.substr(0, colon)] = pair.substr(colon + 1);
  }
  for (const auto& text : AllParams(params, "tags")) {
    const auto object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!object.is_object())
      return Status::InvalidArgument("malformed 'tags' parameter, expecting a JSON object of strings: " + text);
    for (const auto& [key, value] : object.items()) {
      if (!value.is_string())
        return Status::InvalidArgument("malformed 'tags' parameter, the value of '" + key + "' is not a string");
      tags[key] = value.get<std::string>();
    }
  }
  return tags;
}

Result<int> LimitParam(const QueryParams& params) {
  const std::string* text = LastParam(params, "limit");
  if (text == nullptr || text->empty()) return query::kDefaultSearchDepth;
  int limit = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
  if (ec != std::errc() || end != text->data() + text->size())
    return ParseError("limit", "'" + *text + "' is not an integer");
  // Its upper bound is limits.max_search_depth, which the query engine enforces on every door.
  if (limit < 0) return ParseError("limit", "must not be negative");
  return limit;
}

uint64_t NowUnixNano() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string Dump(const Json& j, bool pretty) {
  return j.dump(pretty ? 4 : -1, ' ', false, Json::error_handler_t::replace);
}

Json Envelope(Json data, size_t total) {
  return Json{{"data", std::move(data)}, {"total", total}, {"limit", 0}, {"offset", 0}, {"errors", nullptr}};
}

bool Pretty(const HttpRequest& req) { return req.Param("prettyPrint") == "true"; }

void SendData(const HttpRequest& req, HttpResponse& res, Json envelope) {
  res.status = 200;
  res.SetContent(Dump(envelope, Pretty(req)), kJson);
}

// As Go's http.Error: the JSON envelope plus a newline, as text/plain.
void SendError(HttpResponse& res, int http_code, std::string_view message,
               const std::vector<query::SourceWarning>& unread = {}) {
  res.status = http_code;
  res.SetContent(ErrorJson(http_code, message, unread) + "\n", "text/plain; charset=utf-8");
}

// The sources the query of `engine` could not read (QueryEngine::WithWarnings, which
// GetWithTenant sets).
std::vector<query::SourceWarning> Unread(const query::QueryEngine& engine) {
  return engine.warnings() == nullptr ? std::vector<query::SourceWarning>{} : engine.warnings()->List();
}

// Jaeger's structuredError for a source the query could not read.
Json UnreadError(const query::SourceWarning& w) {
  return Json{{"code", HttpStatusFor(w.reason.code())}, {"msg", w.Message()}};
}

// 400 for a bad parameter and 500 for a failure, as Jaeger's own query service; the codes a client
// acts on (401/403, 429 and 503 to come back later, 504 for a query past its time) as on every door.
void SendStatus(HttpResponse& res, const Status& status) {
  SendError(res, HttpStatusFor(status.code()), status.message());
}

// The answer of a trace search or lookup: Jaeger's envelope whose data are UI traces, written into
// the answer's text as the engine delivers them, so no trace outlives its own encoding. A trace
// that would take it past `limits` stops the query instead.
class UiTracesAnswer {
 public:
  UiTracesAnswer(bool pretty, const AnswerLimits& limits) : w_(&text_, pretty), limits_(limits) {
    w_.BeginObject();
    w_.Key("data");
    w_.BeginArray();
  }

  void Write(const model::TraceId& id, const std::vector<model::jaeger::Span>& spans) {
    wire::WriteJaegerUiTrace(w_, id, spans);
    ++traces_;
  }
  // Writes each delivered trace; remembers its ID in `found` when given.
  query::TraceSink Sink(std::set<model::TraceId>* found) {
    return [this, found](const model::TraceId& id, model::Traces&& trace) -> Status {
      spans_ += trace.SpanCount();
      TB_RETURN_IF_ERROR(limits_.Check(spans_, text_.size()));
      Write(id, model::jaeger::ToJaeger(trace));
      if (found != nullptr) found->insert(id);
      return limits_.Check(spans_, text_.size());
    };
  }
  size_t traces() const { return traces_; }

  // Closes the envelope: total 0 (Jaeger counts only services and operations), errors one
  // "trace not found" per ID in `missing` and one per source in `unread`, or null when there is none.
  std::string Finish(const std::vector<model::TraceId>& missing, const std::vector<query::SourceWarning>& unread) && {
    w_.EndArray();
    w_.Member("total", uint64_t{0});
    w_.Member("limit", uint64_t{0});
    w_.Member("offset", uint64_t{0});
    w_.Key("errors");
    if (missing.empty() && unread.empty()) {
      w_.Null();
    } else {
      w_.BeginArray();
      for (const auto& id : missing) {
        w_.BeginObject();
        w_.Member("msg", kTraceNotFound);
        w_.Member("traceID", wire::JaegerUiTraceId(id));
        w_.EndObject();
      }
      for (const auto& w : unread) {
        w_.BeginObject();
        w_.Member("code", static_cast<uint64_t>(HttpStatusFor(w.reason.code())));
        w_.Member("msg", w.Message());
        w_.EndObject();
      }
      w_.EndArray();
    }
    w_.EndObject();
    return std::move(text_);
  }

 private:
  std::string text_;
  wire::JsonWriter w_;
  const AnswerLimits limits_;
  size_t traces_ = 0;
  uint64_t spans_ = 0;
};

void SendJson(HttpResponse& res, std::string text) {
  res.status = 200;
  res.SetContent(std::move(text), kJson);
}

void Search(const query::QueryEngine& engine, const AnswerLimits& answers, const HttpRequest& req, HttpResponse& res) {
  auto request = ParseSearch(req.params, NowUnixNano());
  if (!request.ok()) return SendStatus(res, request.status());
  UiTracesAnswer answer(Pretty(req), answers);
  std::vector<model::TraceId> missing;
  if (!request->trace_ids.empty()) {
    std::set<model::TraceId> found;
    if (Status s = GetTracesLogged(engine, "jaeger_http", request->trace_ids, answer.Sink(&found)); !s.ok())
      return SendStatus(res, s);
    for (const auto& id : request->trace_ids)
      if (!found.contains(id)) missing.push_back(id);
  } else if (Status s = FindTracesLogged(engine, "jaeger_http", request->query, answer.Sink(nullptr)); !s.ok()) {
    return SendStatus(res, s);
  }
  SendJson(res, std::move(answer).Finish(missing, Unread(engine)));
}

void GetTrace(const query::QueryEngine& engine, const AnswerLimits& answers, const HttpRequest& req,
              HttpResponse& res) {
  auto id = ParseTraceIdParam(req.matches[1]);
  if (!id.ok()) return SendStatus(res, ParseError("traceID", id.status().message()));
  // start/end are hints Jaeger uses to narrow its storage reads; the trace index needs none, but
  // malformed ones are still refused.
  for (const char* hint : {"start", "end"})
    if (auto t = TimeParam(req.params, hint, kNanosPerMicro, 0); !t.ok()) return SendStatus(res, t.status());
  if (const std::string* raw = LastParam(req.params, "raw"); raw != nullptr && !raw->empty())
    if (auto b = api_v3::ParseGoBool(*raw); !b.ok()) return SendStatus(res, ParseError("raw", b.status().message()));
  UiTracesAnswer answer(Pretty(req), answers);
  if (Status s = GetTracesLogged(engine, "jaeger_http", {*id}, answer.Sink(nullptr)); !s.ok())
    return SendStatus(res, s);
  if (answer.traces() == 0) return SendError(res, 404, kTraceNotFound, Unread(engine));
  SendJson(res, std::move(answer).Finish({}, Unread(engine)));
}

// A signed decimal 64-bit integer, as Go's strconv.ParseInt(text, 10, 64) reads it.
bool IsGoInt64(const std::string& text) {
  int64_t value = 0;
  const char* begin = text.data() + (text.starts_with('+') ? 1 : 0);
  const auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && begin != end;
}

void Dependencies(const query::QueryEngine& engine, const HttpRequest& req, HttpResponse& res) {
  auto request = ParseDependencies(req.params, NowUnixNano());
  if (!request.ok()) return SendStatus(res, request.status());
  auto counts = engine.Dependencies(request->start_unix_nano, request->end_unix_nano);
  if (!counts.ok()) return SendStatus(res, counts.status());
  Json links = Json::array();
  for (const auto& [edge, calls] : *counts) {
    if (!request->service.empty() && edge.first != request->service && edge.second != request->service) continue;
    links.push_back(Json{{"parent", edge.first}, {"child", edge.second}, {"callCount", calls}});
  }
  SendData(req, res, Envelope(std::move(links), 0));
}

}  // namespace

Result<model::TraceId> ParseTraceIdParam(std::string_view text) {
  auto hex = api_v3::ParseTraceId(text);
  if (hex.ok() || text.empty()) return hex;
  // Base64: URL alphabet to standard, padding restored.
  std::string b64(text);
  std::replace(b64.begin(), b64.end(), '-', '+');
  std::replace(b64.begin(), b64.end(), '_', '/');
  b64.append((4 - b64.size() % 4) % 4, '=');
  const auto bytes = model::Base64Decode(b64);
  if (!bytes || (bytes->size() != 16 && bytes->size() != 8))
    return Status::InvalidArgument("trace ID '" + std::string(text) +
                                   "' is neither 1 to 32 hex digits nor base64 of 16 or 8 bytes");
  model::TraceId id{};
  std::copy(bytes->begin(), bytes->end(), id.begin() + (16 - bytes->size()));
  if (id == model::TraceId{}) return Status::InvalidArgument("trace ID must not be all zeros");
  return id;
}

Result<SearchRequest> ParseSearch(const QueryParams& params, uint64_t now_unix_nano) {
  SearchRequest request;
  for (const auto& text : AllParams(params, "traceID")) {
    auto id = ParseTraceIdParam(text);
    if (!id.ok()) return ParseError("traceID", id.status().message());
    if (std::find(request.trace_ids.begin(), request.trace_ids.end(), *id) == request.trace_ids.end())
      request.trace_ids.push_back(*id);
  }
  query::TraceQuery& q = request.query;
  if (const std::string* s = LastParam(params, "service")) q.service_name = *s;
  if (const std::string* s = LastParam(params, "operation")) q.operation_name = *s;
  TB_ASSIGN_OR_RETURN(auto tags, TagParams(params));
  // Tags the Jaeger model derives from OTLP fields (otel.status_code, ...) search those fields.
  for (auto& [key, value] : tags)
    q.attributes.push_back({std::string(model::jaeger::SearchKey(key)), std::move(value)});
  const uint64_t default_start =
      now_unix_nano > kDefaultSearchLookbackNanos ? now_unix_nano - kDefaultSearchLookbackNanos : 0;
  TB_ASSIGN_OR_RETURN(q.start_time_min_unix_nano, TimeParam(params, "start", kNanosPerMicro, default_start));
  TB_ASSIGN_OR_RETURN(q.start_time_max_unix_nano, TimeParam(params, "end", kNanosPerMicro, now_unix_nano));
  TB_ASSIGN_OR_RETURN(q.duration_min_nanos, DurationParam(params, "minDuration"));
  TB_ASSIGN_OR_RETURN(q.duration_max_nanos, DurationParam(params, "maxDuration"));
  TB_ASSIGN_OR_RETURN(q.search_depth, LimitParam(params));
  if (const std::string* raw = LastParam(params, "raw"); raw != nullptr && !raw->empty())
    if (auto b = api_v3::ParseGoBool(*raw); !b.ok()) return ParseError("raw", b.status().message());
  if (!request.trace_ids.empty()) return request;
  if (q.service_name.empty()) return Status::InvalidArgument("parameter 'service' is required");
  if (q.duration_min_nanos.value_or(0) != 0 && q.duration_max_nanos.value_or(0) != 0 &&
      *q.duration_max_nanos < *q.duration_min_nanos)
    return Status::InvalidArgument("'maxDuration' should be greater than 'minDuration'");
  return request;
}

Result<DependenciesRequest> ParseDependencies(const QueryParams& params, uint64_t now_unix_nano) {
  DependenciesRequest request;
  TB_ASSIGN_OR_RETURN(request.end_unix_nano, TimeParam(params, "endTs", kNanosPerMilli, now_unix_nano));
  TB_ASSIGN_OR_RETURN(const uint64_t lookback, TimeParam(params, "lookback", kNanosPerMilli,
                                                         kDefaultDependenciesLookbackMillis * kNanosPerMilli));
  request.start_unix_nano = request.end_unix_nano > lookback ? request.end_unix_nano - lookback : 0;
  if (const std::string* s = LastParam(params, "service")) request.service = *s;
  return request;
}

Status CheckMetricsParams(MetricsRoute route, const QueryParams& params) {
  if (route == MetricsRoute::kMinStep) return Status::Ok();
  if (route == MetricsRoute::kLatencies) {
    const std::string* text = FirstParam(params, "quantile");
    double quantile = 0;
    const std::string quantile_text = text != nullptr ? *text : "";
    const auto [end, ec] = std::from_chars(quantile_text.data(), quantile_text.data() + quantile_text.size(), quantile);
    if (quantile_text.empty() || ec != std::errc() || end != quantile_text.data() + quantile_text.size())
      return ParseError("quantile", "'" + quantile_text + "' is not a number");
  }
  if (!params.contains("service")) return ParseError("service", "please provide at least one service name");
  if (const std::string* text = FirstParam(params, "groupByOperation"); text != nullptr && !text->empty())
    if (auto b = api_v3::ParseGoBool(*text); !b.ok()) return ParseError("groupByOperation", b.status().message());
  static const std::set<std::string, std::less<>> kSpanKinds = {"unspecified", "internal", "server",
                                                                "client",      "producer", "consumer"};
  for (const auto& kind : AllParams(params, "spanKind"))
    if (!kSpanKinds.contains(kind)) return ParseError("spanKind", "unsupported span kind: '" + kind + "'");
  for (const char* name : {"endTs", "lookback", "step", "ratePer"}) {
    const std::string* text = FirstParam(params, name);
    if (text != nullptr && !text->empty() && !IsGoInt64(*text))
      return ParseError(name, "'" + *text + "' is not an integer number of milliseconds");
  }
  return Status::Ok();
}

Result<std::string> TransformOtlpJson(std::string_view body, bool pretty) {
  auto traces = wire::ParseOtlpJson(body);
  if (!traces.ok()) {
    if (traces.status().code() != StatusCode::kInvalidArgument) return traces.status();
    return Status::InvalidArgument("cannot unmarshal OTLP: " + traces.status().message());
  }
  std::vector<model::TraceId> order;
  std::map<model::TraceId, std::vector<model::jaeger::Span>> by_trace;
  for (auto& span : model::jaeger::ToJaeger(*traces)) {
    auto [it, first] = by_trace.try_emplace(span.trace_id);
    if (first) order.push_back(span.trace_id);
    it->second.push_back(std::move(span));
  }
  traces->resource_spans.clear();  // the Jaeger spans hold everything from here on
  // Bounded by the request's size (limits.max_request_size), not by the answer limits.
  UiTracesAnswer answer(pretty, AnswerLimits{.max_spans = 0, .max_bytes = 0});
  for (const auto& id : order) answer.Write(id, by_trace.extract(id).mapped());
  return std::move(answer).Finish({}, {});
}

std::string ErrorJson(int http_code, std::string_view message, const std::vector<query::SourceWarning>& unread) {
  Json envelope = Envelope(nullptr, 0);
  envelope["errors"] = Json::array({Json{{"code", http_code}, {"msg", message}}});
  for (const auto& w : unread) envelope["errors"].push_back(UnreadError(w));
  return Dump(envelope, false);
}

void RegisterRoutes(HttpRouter& router, const TenantDoor& door, uint64_t max_request_bytes,
                    const AnswerLimits& answers) {
  GetWithTenant(router, "/api/services", door, SendStatus,
                [](const query::QueryEngine& e, const HttpRequest& req, HttpResponse& res) {
                  auto services = e.Services();
                  if (!services.ok()) return SendStatus(res, services.status());
                  const size_t total = services->size();
                  SendData(req, res, Envelope(Json(*services), total));
                });

  // Unique operation names over every span kind; null when there are none, as Jaeger answers.
  GetWithTenant(router, "/api/services/(.+)/operations", door, SendStatus,
                [](const query::QueryEngine& e, const HttpRequest& req, HttpResponse& res) {
                  auto ops = e.Operations(req.matches[1], "");
                  if (!ops.ok()) return SendStatus(res, ops.status());
                  std::set<std::string> names;
                  for (const auto& op : *ops) names.insert(op.name);
                  SendData(req, res, Envelope(names.empty() ? Json(nullptr) : Json(names), names.size()));
                });

  GetWithTenant(router, "/api/operations", door, SendStatus,
                [](const query::QueryEngine& e, const HttpRequest& req, HttpResponse& res) {
                  const std::string service = req.Param("service");
                  if (service.empty()) return SendError(res, 400, "parameter 'service' is required");
                  auto ops = e.Operations(service, req.Param("spanKind"));
                  if (!ops.ok()) return SendStatus(res, ops.status());
                  Json list = Json::array();
                  for (const auto& op : *ops) list.push_back(Json{{"name", op.name}, {"spanKind", op.span_kind}});
                  SendData(req, res, Envelope(std::move(list), ops->size()));
                });

  GetWithTenant(router, "/api/traces", door, SendStatus,
                [answers](const query::QueryEngine& e, const HttpRequest& req, HttpResponse& res) {
                  Search(e, answers, req, res);
                });
  GetWithTenant(router, "/api/traces/([^/]+)", door, SendStatus,
                [answers](const query::QueryEngine& e, const HttpRequest& req, HttpResponse& res) {
                  GetTrace(e, answers, req, res);
                });
  GetWithTenant(router, "/api/dependencies", door, SendStatus, Dependencies);

  // No metrics store: a well-formed request gets Jaeger's 501, which Jaeger UI's Monitor tab turns
  // into its own explanation instead of an error in every panel.
  router.Get("/api/metrics/(latencies|calls|errors|minstep)", [](const HttpRequest& req, HttpResponse& res) {
    const std::string which = req.matches[1];
    const MetricsRoute route = which == "latencies" ? MetricsRoute::kLatencies
                               : which == "calls"   ? MetricsRoute::kCalls
                               : which == "errors"  ? MetricsRoute::kErrors
                                                    : MetricsRoute::kMinStep;
    if (Status s = CheckMetricsParams(route, req.params); !s.ok()) return SendStatus(res, s);
    SendError(res, 501, kMetricsDisabled);
  });

  router.Post("/api/transform", [max_request_bytes](const HttpRequest& req, HttpResponse& res) {
    switch (req.body_read) {
      case BodyRead::kComplete: break;
      case BodyRead::kTooLarge: return SendError(res, 413, BodyTooLargeMessage(max_request_bytes));
      case BodyRead::kMalformed: return SendError(res, 400, kMalformedBodyMessage);
    }
    auto answer = TransformOtlpJson(req.body, Pretty(req));
    if (!answer.ok()) return SendStatus(res, answer.status());
    SendJson(res, std::move(*answer));
  });
}

}  // namespace tb::server::jaeger_api
