#include "server/api_v3_http.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>

#include "model/text.h"
#include "server/http_server.h"
#include "server/query_log.h"
#include "wire/otlp_json.h"

namespace tb::server::api_v3 {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kNoTraces[] = "No traces found";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `*pos`.
bool ReadDigits(std::string_view text, size_t* pos, size_t n, int* out) {
  if (*pos + n > text.size()) return false;
  int value = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = text[*pos + i];
    if (!IsDigit(c)) return false;
    value = value * 10 + (c - '0');
  }
  *pos += n;
  *out = value;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

// Days from 1970-01-01 to the proleptic Gregorian date y-m-d.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t year_of_era = y - era * 400;
  const int64_t day_of_year = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// The first value among `names` (a parameter and its deprecated aliases), with the name it was found under.
std::optional<std::pair<std::string, std::string>> Param(const QueryParams& params,
                                                         std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (auto it = params.find(name); it != params.end()) return std::pair{std::string(name), it->second};
  return std::nullopt;
}

Status Malformed(const std::string& name, const Status& why) {
  return Status::InvalidArgument("malformed parameter " + name + ": " + why.message());
}

Result<std::optional<uint64_t>> OptionalTime(const QueryParams& params, std::initializer_list<const char*> names) {
  auto p = Param(params, names);
  if (!p || p->second.empty()) return std::optional<uint64_t>();
  auto t = ParseRfc3339Nanos(p->second);
  if (!t.ok()) return Malformed(p->first, t.status());
  return std::optional<uint64_t>(*t);
}

Result<std::optional<uint64_t>> OptionalDuration(const QueryParams& params, std::initializer_list<const char*> names) {
  auto p = Param(params, names);
  if (!p || p->second.empty()) return std::optional<uint64_t>();
  auto d = ParseGoDurationNanos(p->second);
  if (!d.ok()) return Malformed(p->first, d.status());
  return std::optional<uint64_t>(*d);
}

Result<bool> OptionalBool(const QueryParams& params, std::initializer_list<const char*> names) {
  auto p = Param(params, names);
  if (!p || p->second.empty()) return false;
  auto b = ParseGoBool(p->second);
  if (!b.ok()) return Malformed(p->first, b.status());
  return *b;
}

Result<std::vector<query::AttributeFilter>> ParseAttributes(const std::string& name, const std::string& text) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return Status::InvalidArgument("malformed parameter " + name + ": expected a JSON object of strings");
  std::vector<query::AttributeFilter> filters;
  for (const auto& [key, value] : doc.items()) {
    if (!value.is_string())
      return Status::InvalidArgument("malformed parameter " + name + ": the value of '" + key + "' is not a string");
    // A string query value matches any stored value with that canonical string (e.g. "200" an int 200).
    filters.push_back({key, value.get<std::string>()});
  }
  return filters;
}

void Send(HttpResponse& res, int status, std::string body) {
  res.status = status;
  res.SetContent(std::move(body), kJson);
}

void SendStatus(HttpResponse& res, const Status& status) {
  const int code = HttpStatusFor(status.code());
  Send(res, code, ErrorJson(code, status.message()));
}

// A sink that appends every resource of each trace to `merged` (api_v3 returns all traces as one
// TracesData), stopping the query once they hold more spans than `answers` allow.
query::TraceSink MergeInto(model::Traces* merged, const AnswerLimits& answers) {
  return [merged, answers, spans = uint64_t{0}](const model::TraceId&, model::Traces&& trace) mutable {
    spans += trace.SpanCount();
    TB_RETURN_IF_ERROR(answers.Check(spans, 0));
    for (auto& rs : trace.resource_spans) merged->resource_spans.push_back(std::move(rs));
    return Status::Ok();
  };
}

void SendTraces(HttpResponse& res, const Status& status, const model::Traces& merged, const AnswerLimits& answers) {
  if (!status.ok()) return SendStatus(res, status);
  if (merged.resource_spans.empty()) return Send(res, 404, ErrorJson(404, kNoTraces));
  std::string body = "{\"result\":" + wire::EncodeOtlpJson(merged) + "}";
  if (Status s = answers.Check(0, body.size()); !s.ok()) return SendStatus(res, s);
  Send(res, 200, std::move(body));
}

}  // namespace

Result<uint64_t> ParseRfc3339Nanos(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not an RFC 3339 time like 2024-05-01T12:30:00.123456789Z");
  };
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!ReadDigits(text, &pos, 4, &year) || !Expect(text, &pos, '-') || !ReadDigits(text, &pos, 2, &month) ||
      !Expect(text, &pos, '-') || !ReadDigits(text, &pos, 2, &day))
    return bad();
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't')) return bad();
  ++pos;
  if (!ReadDigits(text, &pos, 2, &hour) || !Expect(text, &pos, ':') || !ReadDigits(text, &pos, 2, &minute) ||
      !Expect(text, &pos, ':') || !ReadDigits(text, &pos, 2, &second))
    return bad();
  uint64_t fraction_nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    for (; pos < text.size() && IsDigit(text[pos]); ++pos, ++digits) {
      if (digits >= 9) return bad();
      fraction_nanos = fraction_nanos * 10 + static_cast<uint64_t>(text[pos] - '0');
    }
    if (digits == 0) return bad();
    for (size_t i = digits; i < 9; ++i) fraction_nanos *= 10;
  }
  int64_t offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int offset_hours, offset_minutes;
    if (!ReadDigits(text, &pos, 2, &offset_hours) || !Expect(text, &pos, ':') ||
        !ReadDigits(text, &pos, 2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59)
      return bad();
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
    return Status::InvalidArgument("'" + std::string(text) + "' is not a valid date and time");
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  if (seconds < 0) return Status::InvalidArgument("'" + std::string(text) + "' is before 1970");
  // Nanoseconds since 1970 fit 64 bits until 2554.
  if (static_cast<uint64_t>(seconds) >= std::numeric_limits<uint64_t>::max() / 1'000'000'000)
    return Status::InvalidArgument("'" + std::string(text) + "' is too far in the future (after 2554)");
  return static_cast<uint64_t>(seconds) * 1'000'000'000 + fraction_nanos;
}

Result<uint64_t> ParseGoDurationNanos(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not a duration like 1.5s, 500us or 1h2m (" + why +
                                   ")");
  };
  if (text == "0" || text == "+0") return uint64_t{0};
  std::string_view rest = text;
  if (!rest.empty() && rest.front() == '+') rest.remove_prefix(1);
  if (!rest.empty() && rest.front() == '-') return bad("negative");
  if (rest.empty()) return bad("empty");
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"ns", 1},         {"us", 1'000},        {"\xC2\xB5s", 1'000},  {"\xCE\xBCs", 1'000},
      {"ms", 1'000'000}, {"s", 1'000'000'000}, {"m", 60'000'000'000}, {"h", 3'600'000'000'000}};
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t total = 0;
  while (!rest.empty()) {
    uint64_t whole = 0;
    size_t whole_digits = 0;
    for (; !rest.empty() && IsDigit(rest.front()); rest.remove_prefix(1), ++whole_digits) {
      if (whole > (kMax - 9) / 10) return bad("too large");
      whole = whole * 10 + static_cast<uint64_t>(rest.front() - '0');
    }
    uint64_t fraction = 0, scale = 1;
    size_t fraction_digits = 0;
    if (!rest.empty() && rest.front() == '.') {
      rest.remove_prefix(1);
      for (; !rest.empty() && IsDigit(rest.front()); rest.remove_prefix(1), ++fraction_digits) {
        if (scale > kMax / 100) continue;  // digits beyond 1e-18 cannot change a nanosecond count
        fraction = fraction * 10 + static_cast<uint64_t>(rest.front() - '0');
        scale *= 10;
      }
    }
    if (whole_digits == 0 && fraction_digits == 0) return bad("a number is missing");
    uint64_t unit = 0;
    for (const auto& [name, nanos] : kUnits) {
      // "m" must not take the "m" of "ms": the table lists "ms" first.
      if (rest.substr(0, name.size()) == name) {
        unit = nanos;
        rest.remove_prefix(name.size());
        break;
      }
    }
    if (unit == 0) return bad("a unit of ns, us, ms, s, m or h is missing");
    if (whole > kMax / unit) return bad("too large");
    // fraction / scale < 1, so the product is below `unit`; long double keeps it exact to the nanosecond.
    const uint64_t part = whole * unit + static_cast<uint64_t>(static_cast<long double>(fraction) * unit / scale);
    if (part > kMax - total) return bad("too large");
    total += part;
  }
  return total;
}

Result<bool> ParseGoBool(std::string_view text) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"})
    if (text == t) return true;
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"})
    if (text == f) return false;
  return Status::InvalidArgument("'" + std::string(text) + "' is not a boolean (true or false)");
}

Result<model::TraceId> ParseTraceId(std::string_view text) {
  if (text.empty() || text.size() > 32)
    return Status::InvalidArgument("trace ID '" + std::string(text) + "' must have 1 to 32 hex digits");
  const std::string padded = std::string(32 - text.size(), '0') + std::string(text);
  auto id = model::HexDecodeId<16>(padded);
  if (!id) return Status::InvalidArgument("trace ID '" + std::string(text) + "' is not hexadecimal");
  if (*id == model::TraceId{}) return Status::InvalidArgument("trace ID must not be all zeros");
  return *id;
}

Result<GetTraceRequest> ParseGetTrace(std::string_view trace_id, const QueryParams& params) {
  GetTraceRequest request;
  auto id = ParseTraceId(trace_id);
  if (!id.ok()) return Malformed("trace_id", id.status());
  request.trace_id = *id;
  TB_ASSIGN_OR_RETURN(request.start_time_unix_nano, OptionalTime(params, {"startTime", "start_time"}));
  TB_ASSIGN_OR_RETURN(request.end_time_unix_nano, OptionalTime(params, {"endTime", "end_time"}));
  if (request.start_time_unix_nano && request.end_time_unix_nano &&
      *request.start_time_unix_nano > *request.end_time_unix_nano)
    return Status::InvalidArgument("startTime is after endTime");
  TB_ASSIGN_OR_RETURN(request.raw_traces, OptionalBool(params, {"rawTraces", "raw_traces"}));
  return request;
}

Result<query::TraceQuery> ParseTraceQuery(const QueryParams& params) {
  query::TraceQuery q;
  if (auto p = Param(params, {"query.serviceName", "query.service_name"})) q.service_name = p->second;
  if (auto p = Param(params, {"query.operationName", "query.operation_name"})) q.operation_name = p->second;
  if (auto p = Param(params, {"query.attributes"}); p && !p->second.empty()) {
    TB_ASSIGN_OR_RETURN(q.attributes, ParseAttributes(p->first, p->second));
  }
  if (auto p = Param(params, {"query.filter"}); p && !p->second.empty())
    return Status::InvalidArgument(
        "query.filter (structured filters) is not supported; use query.serviceName, query.operationName and "
        "query.attributes");
  TB_ASSIGN_OR_RETURN(q.start_time_min_unix_nano, OptionalTime(params, {"query.startTimeMin", "query.start_time_min"}));
  TB_ASSIGN_OR_RETURN(q.start_time_max_unix_nano, OptionalTime(params, {"query.startTimeMax", "query.start_time_max"}));
  if (!q.start_time_min_unix_nano || !q.start_time_max_unix_nano)
    return Status::InvalidArgument("query.startTimeMin and query.startTimeMax are required");
  if (*q.start_time_min_unix_nano > *q.start_time_max_unix_nano)
    return Status::InvalidArgument("query.startTimeMin is after query.startTimeMax");
  TB_ASSIGN_OR_RETURN(q.duration_min_nanos, OptionalDuration(params, {"query.durationMin", "query.duration_min"}));
  TB_ASSIGN_OR_RETURN(q.duration_max_nanos, OptionalDuration(params, {"query.durationMax", "query.duration_max"}));
  if (q.duration_min_nanos && q.duration_max_nanos && *q.duration_min_nanos > *q.duration_max_nanos)
    return Status::InvalidArgument("query.durationMin is greater than query.durationMax");
  if (auto p = Param(params, {"query.searchDepth", "query.search_depth", "query.num_traces"});
      p && !p->second.empty()) {
    const std::string& text = p->second;
    // Its upper bound is limits.max_search_depth, which the query engine enforces on every door.
    const bool digits = text.size() <= 9 && std::all_of(text.begin(), text.end(), IsDigit);
    const int depth = digits ? std::stoi(text) : 0;
    if (depth < 1)
      return Status::InvalidArgument("malformed parameter " + p->first + ": '" + text +
                                     "' is not a whole number from 1 to 999999999");
    q.search_depth = depth;
  }
  // Checked only: stored spans are never adjusted, so raw and adjusted traces are the same.
  if (auto raw = OptionalBool(params, {"query.rawTraces", "query.raw_traces"}); !raw.ok()) return raw.status();
  return q;
}

std::string ErrorJson(int http_code, std::string_view message) {
  nlohmann::json error = {{"error", {{"httpCode", http_code}, {"message", message}}}};
  return error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ServicesJson(const std::vector<std::string>& services) {
  nlohmann::json doc = {{"services", services}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string OperationsJson(const std::vector<query::Operation>& operations) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& op : operations)
    list.push_back({{"name", op.name}, {"spanKind", op.span_kind.empty() ? "internal" : op.span_kind}});
  nlohmann::json doc = {{"operations", std::move(list)}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// jsonpb's defaults: zero values omitted, 64-bit integers as decimal strings.
std::string TraceSummariesJson(const std::vector<query::TraceSummary>& summaries) {
  nlohmann::json list = nlohmann::json::array();
  const auto put_nonzero = [](nlohmann::json& o, const char* key, int32_t v) {
    if (v != 0) o[key] = v;
  };
  for (const auto& s : summaries) {
    nlohmann::json o = {{"traceId", model::HexEncode(s.trace_id)}};
    if (!s.root_service_name.empty()) o["rootServiceName"] = s.root_service_name;
    if (!s.root_operation_name.empty()) o["rootOperationName"] = s.root_operation_name;
    if (s.min_start_unix_nano != 0) o["minStartTimeUnixNano"] = std::to_string(s.min_start_unix_nano);
    if (s.max_end_unix_nano != 0) o["maxEndTimeUnixNano"] = std::to_string(s.max_end_unix_nano);
    put_nonzero(o, "spanCount", s.span_count);
    put_nonzero(o, "errorSpanCount", s.error_span_count);
    put_nonzero(o, "orphanSpanCount", s.orphan_span_count);
    nlohmann::json services = nlohmann::json::array();
    for (const auto& svc : s.services) {
      nlohmann::json so = nlohmann::json::object();
      if (!svc.name.empty()) so["name"] = svc.name;
      put_nonzero(so, "spanCount", svc.span_count);
      put_nonzero(so, "errorSpanCount", svc.error_span_count);
      services.push_back(std::move(so));
    }
    if (!services.empty()) o["services"] = std::move(services);
    list.push_back(std::move(o));
  }
  // An empty list is kept (not omitted) so that clients can always read `summaries`.
  nlohmann::json doc = {{"summaries", std::move(list)}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void RegisterRoutes(HttpRouter& router, const TenantDoor& door, const AnswerLimits& answers) {
  GetWithTenant(router, "/api/v3/services", door, SendStatus,
                [](const query::QueryEngine& e, const HttpRequest&, HttpResponse& res) {
                  auto services = e.Services();
                  if (!services.ok()) return SendStatus(res, services.status());
                  Send(res, 200, ServicesJson(*services));
                });

  GetWithTenant(router, "/api/v3/operations", door, SendStatus,
                [](const query::QueryEngine& e, const HttpRequest& req, HttpResponse& res) {
                  auto kind = Param(req.params, {"spanKind", "span_kind"});
                  const std::string wanted_kind = kind ? kind->second : "";
                  // Kind-less operations are shown as "internal", so asking for "internal" must find them too.
                  const bool internal = wanted_kind == "internal";
                  auto ops = e.Operations(req.Param("service"), internal ? "" : wanted_kind);
                  if (!ops.ok()) return SendStatus(res, ops.status());
                  if (internal)
                    std::erase_if(*ops, [](const query::Operation& op) {
                      return !op.span_kind.empty() && op.span_kind != "internal";
                    });
                  Send(res, 200, OperationsJson(*ops));
                });

  GetWithTenant(router, "/api/v3/traces/([^/]*)", door, SendStatus,
                [answers](const query::QueryEngine& e, const HttpRequest& req, HttpResponse& res) {
                  auto request = ParseGetTrace(req.matches[1], req.params);
                  if (!request.ok()) return SendStatus(res, request.status());
                  model::Traces merged;
                  const Status status = GetTracesLogged(e, "api_v3", {request->trace_id}, MergeInto(&merged, answers));
                  SendTraces(res, status, merged, answers);
                });

  GetWithTenant(router, "/api/v3/traces", door, SendStatus,
                [answers](const query::QueryEngine& e, const HttpRequest& req, HttpResponse& res) {
                  auto q = ParseTraceQuery(req.params);
                  if (!q.ok()) return SendStatus(res, q.status());
                  model::Traces merged;
                  const Status status = FindTracesLogged(e, "api_v3", *q, MergeInto(&merged, answers));
                  SendTraces(res, status, merged, answers);
                });

  GetWithTenant(router, "/api/v3/trace-summaries", door, SendStatus,
                [](const query::QueryEngine& e, const HttpRequest& req, HttpResponse& res) {
                  auto q = ParseTraceQuery(req.params);
                  if (!q.ok()) return SendStatus(res, q.status());
                  std::vector<query::TraceSummary> summaries;
                  const Status status =
                      FindTracesLogged(e, "api_v3", *q, [&](const model::TraceId& id, model::Traces&& trace) {
                        summaries.push_back(query::Summarize(id, trace));
                        return Status::Ok();
                      });
                  if (!status.ok()) return SendStatus(res, status);
                  Send(res, 200, TraceSummariesJson(summaries));
                });
}

}  // namespace tb::server::api_v3
