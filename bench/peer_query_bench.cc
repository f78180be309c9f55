// tb_peer_query: read latency through the Jaeger query HTTP API, the one front door that Jaeger
// (with any store behind it) and tracebucket (its own /api, same routes and parameters) both serve:
// a search mix on `GET /api/traces` and trace by ID on `GET /api/traces/{id}`.
//
//   tb_peer_query --url http://127.0.0.1:16686 --dataset FILE [--queries 20] [--lookups 200] [--limit 20] [--seed 1]
//
// Queries and trace IDs are drawn from the data-set file (docs/format/workload.md) that was
// ingested, so every one names data that exists. Each search is anchored on a span drawn at random
// (reservoir sampling over the whole file) among the spans its kind can find, and its time window
// (1 h or 24 h) is placed at random around that span's start, so it finds at least that trace:
//   service            a SERVER span's service
//   service+operation  a SERVER span's service and span name
//   service+tag        a span with http.status_code=500: its service and that tag
//   service+user.id    a span with user.id: its service and that tag (one user's traces)
//   service+duration   a span lasting 200 ms – 2 s: its service, minDuration=200ms, maxDuration=2s
// Jaeger's /api/traces requires a service, so there is no tag-only kind. Every search asks for
// --limit traces (the Jaeger UI's default is 20). The searches run in a shuffled order, one at a
// time on one keep-alive connection, then the lookups of --lookups trace IDs drawn at random.
// A request's time is from sending it until its whole body is in (JSON parsing is not timed).
//
// Checks, counted and printed (exit status 1 if any is nonzero): a search or lookup that does not
// answer 200, a search that finds no trace, a lookup whose trace has a different span count than
// the data set. `/api/services` must list every service of the data set before anything is timed.
//
// Output: one line per (kind, window), one for the whole mix and one for the lookups:
//   RESULT peer_query kind=<kind|all|trace_by_id> window=<1h|24h|all> n=.. p50_ms=.. p99_ms=..
//     traces_found_mean=.. failed=..
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "model/text.h"
#include "wire/otlp_codec.h"
#include "workload.h"

namespace {

using namespace tb;
using Json = nlohmann::json;

constexpr uint64_t kHourNanos = 3600ull * 1'000'000'000ull;
constexpr uint64_t kMinDurationNanos = 200'000'000;  // the service+duration kind's range
constexpr uint64_t kMaxDurationNanos = 2'000'000'000;

enum Kind { kService, kServiceOperation, kServiceTag, kServiceUser, kServiceDuration, kKinds };
constexpr const char* kKindNames[kKinds] = {"service", "service+operation", "service+tag", "service+user.id",
                                            "service+duration"};
constexpr uint64_t kWindows[] = {kHourNanos, 24 * kHourNanos};
constexpr const char* kWindowNames[] = {"1h", "24h"};

// The span a search is built around.
struct Anchor {
  std::string service, operation, tag_key, tag_value;
  uint64_t start_unix_nano = 0;
};

// Keeps a uniform random sample of `capacity` of the offered items (reservoir sampling).
class Reservoir {
 public:
  explicit Reservoir(size_t capacity) : capacity_(capacity) {}
  // Whether the next item offered would be kept; call Keep with it if so.
  bool Wants(std::mt19937_64& rng) {
    ++seen_;
    if (items_.size() < capacity_) {
      slot_ = items_.size();
      items_.emplace_back();
      return true;
    }
    slot_ = std::uniform_int_distribution<uint64_t>(0, seen_ - 1)(rng);
    return slot_ < capacity_;
  }
  void Keep(Anchor anchor) { items_[slot_] = std::move(anchor); }
  const std::vector<Anchor>& items() const { return items_; }

 private:
  size_t capacity_;
  uint64_t seen_ = 0;
  size_t slot_ = 0;
  std::vector<Anchor> items_;
};

struct DataSet {
  std::map<model::TraceId, uint32_t> trace_spans;
  std::set<std::string> services;
  std::vector<Reservoir> anchors;
};

const model::AnyValue* FindAttribute(const model::Attributes& attributes, std::string_view key) {
  for (const auto& kv : attributes)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

Result<DataSet> LoadDataSet(const std::string& path, size_t anchors_per_kind, std::mt19937_64& rng) {
  TB_ASSIGN_OR_RETURN(auto records, bench::ReadDataset(path));
  DataSet data;
  data.anchors.assign(kKinds, Reservoir(anchors_per_kind));
  for (const auto& record : records) {
    TB_ASSIGN_OR_RETURN(auto traces, wire::DecodeOtlpProtobuf(record.otlp));
    for (const auto& rs : traces.resource_spans) {
      const std::string service(model::ServiceName(rs.resource));
      data.services.insert(service);
      for (const auto& ss : rs.scope_spans)
        for (const auto& span : ss.spans) {
          ++data.trace_spans[span.trace_id];
          const uint64_t start = span.start_time_unix_nano;
          auto offer = [&](Kind kind, const char* key = "", const model::AnyValue* value = nullptr) {
            Reservoir& r = data.anchors[kind];
            if (!r.Wants(rng)) return;
            r.Keep({service, kind == kServiceOperation ? span.name : "", key,
                    value == nullptr ? "" : model::CanonicalString(*value), start});
          };
          if (span.kind == model::SpanKind::kServer) {
            offer(kService);
            offer(kServiceOperation);
          }
          if (const auto* status = FindAttribute(span.attributes, "http.status_code");
              status != nullptr && model::CanonicalString(*status) == "500")
            offer(kServiceTag, "http.status_code", status);
          if (const auto* user = FindAttribute(span.attributes, "user.id")) offer(kServiceUser, "user.id", user);
          if (span.duration_nanos() >= kMinDurationNanos && span.duration_nanos() <= kMaxDurationNanos)
            offer(kServiceDuration);
        }
    }
  }
  return data;
}

struct Timed {
  double ms = 0;
  int status = 0;  // HTTP status, 0 when there was no answer
  Json body;
};

Timed Get(httplib::Client& client, const std::string& path, const httplib::Params& params) {
  const auto t0 = std::chrono::steady_clock::now();
  auto res = client.Get(path, params, httplib::Headers{});
  Timed timed;
  timed.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!res) return timed;
  timed.status = res->status;
  timed.body = Json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  return timed;
}

size_t TraceCount(const Json& body) {
  return body.is_object() && body.contains("data") && body["data"].is_array() ? body["data"].size() : 0;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

struct Series {
  std::vector<double> ms;
  uint64_t found = 0, failed = 0;
};

void Report(const char* kind, const char* window, const Series& s) {
  std::printf("RESULT peer_query kind=%s window=%s n=%zu p50_ms=%.2f p99_ms=%.2f traces_found_mean=%.1f failed=%llu\n",
              kind, window, s.ms.size(), Percentile(s.ms, 0.5), Percentile(s.ms, 0.99),
              s.ms.empty() ? 0.0 : static_cast<double>(s.found) / static_cast<double>(s.ms.size()),
              static_cast<unsigned long long>(s.failed));
}

std::string Micros(uint64_t nanos) { return std::to_string(nanos / 1000); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Search and trace-by-ID latency through the Jaeger query HTTP API"};
  std::string url, dataset;
  int queries = 20, lookups = 200, limit = 20;
  uint64_t seed = 1;
  app.add_option("--url", url, "base URL of the query API (the routes are /api/...)")->required();
  app.add_option("--dataset", dataset, "the data-set file that was ingested")->required();
  app.add_option("--queries", queries, "searches per kind and window")->check(CLI::PositiveNumber);
  app.add_option("--lookups", lookups, "trace-by-ID lookups")->check(CLI::PositiveNumber);
  app.add_option("--limit", limit, "traces asked of each search")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed);
  CLI11_PARSE(app, argc, argv);

  std::mt19937_64 rng(seed);
  auto loaded = LoadDataSet(dataset, static_cast<size_t>(queries) * std::size(kWindows), rng);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s: %s\n", dataset.c_str(), loaded.status().ToString().c_str());
    return 2;
  }
  const DataSet& data = *loaded;

  httplib::Client client(url);
  client.set_keep_alive(true);
  client.set_read_timeout(120, 0);
  {
    const Timed services = Get(client, "/api/services", {});
    size_t listed = 0;
    if (services.status == 200 && services.body.contains("data") && services.body["data"].is_array())
      for (const auto& s : services.body["data"]) listed += s.is_string() && data.services.count(s.get<std::string>());
    if (listed != data.services.size()) {
      std::fprintf(stderr, "%s/api/services: HTTP %d, lists %zu of the data set's %zu services\n", url.c_str(),
                   services.status, listed, data.services.size());
      return 1;
    }
  }

  struct Planned {
    size_t kind, window;
    httplib::Params params;
  };
  std::vector<Planned> plan;
  for (size_t k = 0; k < kKinds; ++k) {
    const auto& anchors = data.anchors[k].items();
    for (size_t i = 0; i < anchors.size(); ++i) {
      const Anchor& a = anchors[i];
      const size_t w = i % std::size(kWindows);
      const uint64_t before = std::uniform_int_distribution<uint64_t>(0, kWindows[w])(rng);
      const uint64_t start = a.start_unix_nano > before ? a.start_unix_nano - before : 0;
      httplib::Params p{{"service", a.service},
                        {"start", Micros(start)},
                        {"end", Micros(start + kWindows[w] + 999)},
                        {"limit", std::to_string(limit)}};
      if (!a.operation.empty()) p.emplace("operation", a.operation);
      if (!a.tag_key.empty()) p.emplace("tags", Json{{a.tag_key, a.tag_value}}.dump());
      if (k == kServiceDuration) {
        p.emplace("minDuration", std::to_string(kMinDurationNanos / 1'000'000) + "ms");
        p.emplace("maxDuration", std::to_string(kMaxDurationNanos / 1'000'000) + "ms");
      }
      plan.push_back({k, w, std::move(p)});
    }
  }
  std::shuffle(plan.begin(), plan.end(), rng);

  std::vector<Series> per(kKinds * std::size(kWindows));
  Series all;
  for (const auto& q : plan) {
    const Timed t = Get(client, "/api/traces", q.params);
    const size_t found = TraceCount(t.body);
    const bool failed = t.status != 200 || found == 0;
    if (failed && all.failed < 3)
      std::fprintf(stderr, "search %s failed: HTTP %d, %zu traces\n", kKindNames[q.kind], t.status, found);
    for (Series* s : {&per[q.kind * std::size(kWindows) + q.window], &all}) {
      s->ms.push_back(t.ms);
      s->found += found;
      s->failed += failed;
    }
  }

  std::vector<std::pair<model::TraceId, uint32_t>> traces(data.trace_spans.begin(), data.trace_spans.end());
  Series by_id;
  for (int i = 0; i < lookups; ++i) {
    const auto& [id, spans] = traces[std::uniform_int_distribution<size_t>(0, traces.size() - 1)(rng)];
    const Timed t = Get(client, "/api/traces/" + model::HexEncode(id), {});
    size_t got = 0;
    if (TraceCount(t.body) == 1 && t.body["data"][0].contains("spans")) got = t.body["data"][0]["spans"].size();
    const bool failed = t.status != 200 || got != spans;
    if (failed && by_id.failed < 3)
      std::fprintf(stderr, "trace %s: HTTP %d, %zu spans, expected %u\n", model::HexEncode(id).c_str(), t.status, got,
                   spans);
    by_id.ms.push_back(t.ms);
    by_id.found += got != 0;
    by_id.failed += failed;
  }

  for (size_t k = 0; k < kKinds; ++k)
    for (size_t w = 0; w < std::size(kWindows); ++w)
      Report(kKindNames[k], kWindowNames[w], per[k * std::size(kWindows) + w]);
  Report("all", "all", all);
  Report("trace_by_id", "all", by_id);
  return all.failed == 0 && by_id.failed == 0 ? 0 : 1;
}
