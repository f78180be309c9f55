#include "workload.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace tb::bench {
namespace {

using model::AnyValue;
using model::KeyValue;
using model::SpanKind;

constexpr const char* kServiceNames[] = {"frontend",
                                         "web-gateway",
                                         "mobile-bff",
                                         "checkout",
                                         "cart",
                                         "catalog",
                                         "pricing",
                                         "inventory",
                                         "payment",
                                         "fraud-check",
                                         "shipping",
                                         "tax",
                                         "currency",
                                         "recommendation",
                                         "search",
                                         "reviews",
                                         "user-profile",
                                         "auth",
                                         "session",
                                         "notification",
                                         "email",
                                         "ad",
                                         "coupon",
                                         "loyalty",
                                         "warehouse",
                                         "order-history",
                                         "analytics-ingest",
                                         "image-resizer",
                                         "feature-flags",
                                         "audit-log"};
constexpr const char* kLanguages[] = {"go", "java", "python", "nodejs", "dotnet", "cpp", "rust"};
constexpr const char* kResources[] = {"orders", "items", "users", "products", "carts", "invoices", "shipments"};
constexpr const char* kVerbs[] = {"Get", "List", "Create", "Update", "Delete", "Check", "Compute"};
constexpr const char* kHttpMethods[] = {"GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"};
constexpr const char* kUserAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "okhttp/4.12.0", "curl/8.5.0"};
constexpr const char* kCustomerNames[] = {"José Müller",  "Zoë Ångström", "山田 太郎",        "Дмитрий Иванов",
                                          "Chloé Dubois", "محمد الأحمد",  "Søren Kierkegård", "Ana Łukasz",
                                          "김민준",       "Alice Smith"};
constexpr const char* kProducts[] = {"Crème brûlée set", "Kaffeemühle „Edel“", "抹茶ラテ", "Smörgåsbord tray",
                                     "Piñata XL",        "Telescope 80mm",     "Yoga mat", "Bread knife"};
constexpr const char* kErrorMessages[] = {"upstream request timeout", "connection refused", "délai d'attente dépassé",
                                          "接続がタイムアウトしました", "deadline exceeded after 5s"};
constexpr const char* kExceptionTypes[] = {"TimeoutError", "java.net.ConnectException", "grpc.RpcError",
                                           "System.InvalidOperationException"};
constexpr const char* kTopics[] = {"orders.created", "payments.settled", "cart.updated", "emails.outbox",
                                   "audit.events"};
constexpr const char* kDbTables[] = {"orders", "order_items", "customers", "products", "stock_levels", "payments"};

// What a service speaks to its callers.
enum class Protocol { kHttp, kGrpc };

struct Operation {
  std::string name;   // span name of the server span
  std::string route;  // HTTP route template, or "package.Service/Method" for gRPC
  std::string rpc_service, rpc_method;
};

struct Instance {
  size_t resource;  // index into Catalogue::resources
  std::string host;
};

struct Service {
  std::string name;
  Protocol protocol;
  std::vector<Operation> operations;
  std::vector<Instance> instances;
  std::string db_name;  // "" if it has no database
  uint16_t port;
};

std::string Hex(uint64_t v, int digits) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kDigits[v & 15];
  return s;
}

std::string Uuid(std::mt19937_64& rng) {
  const std::string a = Hex(rng(), 16), b = Hex(rng(), 16);
  return a.substr(0, 8) + "-" + a.substr(8, 4) + "-4" + a.substr(13, 3) + "-a" + b.substr(1, 3) + "-" + b.substr(4, 12);
}

KeyValue Str(const char* key, std::string value) { return {key, AnyValue::String(std::move(value))}; }
KeyValue Int(const char* key, int64_t value) { return {key, AnyValue::Int(value)}; }

}  // namespace

struct Workload::Catalogue {
  std::vector<Service> services;
  std::vector<model::Resource> resources;                 // one per service instance
  std::vector<model::Scope> scopes;                       // per resource: the instrumentation scope of its language
  std::vector<std::vector<std::string>> operation_names;  // per service: its server span names
};

// Builds one trace: first the tree shape, then times (top-down, children within parents), then
// the spans with their attributes.
struct Workload::TraceBuilder {
  enum class Shape { kServer, kClient, kDbClient, kCacheClient, kProducer, kConsumer, kInternal };
  struct Node {
    Shape shape;
    int parent;  // -1 for the root
    size_t service;
    size_t instance;
    size_t operation;   // of `service` (for a client: of the callee)
    size_t callee = 0;  // for clients and producers: the service called
    uint64_t start = 0, end = 0;
    std::vector<int> children;
    bool error = false;
  };
  Workload& w;
  std::vector<Node> nodes;

  uint64_t Uniform(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(w.rng_); }
  double Unit() { return std::uniform_real_distribution<double>(0, 1)(w.rng_); }
  bool Chance(double p) { return Unit() < p; }

  int Add(Shape shape, int parent, size_t service, size_t operation) {
    Node n{};
    n.shape = shape;
    n.parent = parent;
    n.service = service;
    n.instance = Uniform(w.catalogue_->services[service].instances.size());
    n.operation = operation;
    if (parent >= 0) {
      n.instance = shape == Shape::kServer || shape == Shape::kConsumer ? n.instance
                                                                        : nodes[static_cast<size_t>(parent)].instance;
      nodes[static_cast<size_t>(parent)].children.push_back(static_cast<int>(nodes.size()));
    }
    nodes.push_back(n);
    return static_cast<int>(nodes.size()) - 1;
  }

  // A service that `caller` may call: a later one in the catalogue (calls form a DAG), or none.
  bool PickCallee(size_t caller, size_t* callee) {
    const size_t n = w.catalogue_->services.size();
    if (caller + 1 >= n) return false;
    *callee = caller + 1 + Uniform(std::min<size_t>(n - caller - 1, 8));
    return true;
  }

  void BuildShape(size_t size) {
    const size_t entry = Uniform(std::min<size_t>(3, w.catalogue_->services.size()));
    Add(Shape::kServer, -1, entry, Uniform(w.catalogue_->services[entry].operations.size()));
    std::vector<int> containers = {0};  // spans that may have children
    while (nodes.size() < size) {
      const int parent = containers[Uniform(containers.size())];
      const size_t service = nodes[static_cast<size_t>(parent)].service;
      const size_t left = size - nodes.size();
      const double r = Unit();
      size_t callee;
      if (left >= 2 && r < 0.45 && PickCallee(service, &callee)) {
        const size_t op = Uniform(w.catalogue_->services[callee].operations.size());
        const int client = Add(Shape::kClient, parent, service, op);
        nodes[static_cast<size_t>(client)].callee = callee;
        containers.push_back(Add(Shape::kServer, client, callee, op));
      } else if (r < 0.62 && !w.catalogue_->services[service].db_name.empty()) {
        Add(Shape::kDbClient, parent, service, 0);
      } else if (r < 0.72) {
        Add(Shape::kCacheClient, parent, service, 0);
      } else if (left >= 2 && r < 0.76 && PickCallee(service, &callee)) {
        const int producer = Add(Shape::kProducer, parent, service, 0);
        nodes[static_cast<size_t>(producer)].callee = callee;
        containers.push_back(Add(Shape::kConsumer, producer, callee, 0));
      } else {
        containers.push_back(Add(Shape::kInternal, parent, service, 0));
      }
    }
  }

  void Times(int i) {
    Node& n = nodes[static_cast<size_t>(i)];
    for (int c : n.children) {
      Node& child = nodes[static_cast<size_t>(c)];
      const uint64_t span = std::max<uint64_t>(n.end - n.start, 2000);
      if (child.shape == Shape::kServer) {  // the callee's side of the client span n
        child.start = n.start + span / 20 + Uniform(span / 20 + 1);
        child.end = std::max(child.start + 1000, n.end - span / 20);
      } else if (child.shape == Shape::kConsumer) {  // asynchronous: after the produce, on its own time
        child.start = n.end + 200'000 + Uniform(5'000'000);
        child.end = child.start + 100'000 + Uniform(20'000'000);
      } else {
        child.start = n.start + static_cast<uint64_t>(Unit() * 0.6 * static_cast<double>(span));
        const uint64_t room = n.end > child.start ? n.end - child.start : 1000;
        child.end = child.start + std::max<uint64_t>(1000, static_cast<uint64_t>((0.05 + 0.9 * Unit()) * room));
      }
      Times(c);
    }
  }
};

Workload::Workload(const WorkloadOptions& options)
    : options_(options), rng_(options.seed), clock_(options.start_unix_nano), catalogue_(new Catalogue) {
  std::mt19937_64 rng(options.seed ^ 0x5eedca7a10906eull);  // the catalogue does not shift the trace stream
  auto pick = [&](uint64_t n) { return static_cast<size_t>(rng() % n); };
  for (int s = 0; s < options.services; ++s) {
    Service service;
    const size_t base = static_cast<size_t>(s) % std::size(kServiceNames);
    service.name = kServiceNames[base];
    if (static_cast<size_t>(s) >= std::size(kServiceNames)) service.name += "-" + std::to_string(s);
    service.protocol = s < 3 || s % 3 == 0 ? Protocol::kHttp : Protocol::kGrpc;
    service.port = service.protocol == Protocol::kHttp ? 8080 : 50051;
    if (s % 4 == 1 || s % 4 == 2) service.db_name = service.name + "_db";
    const std::string pkg = "shop." + service.name;
    for (int o = 0; o < options.operations_per_service; ++o) {
      Operation op;
      const std::string resource = kResources[pick(std::size(kResources))];
      const std::string verb = kVerbs[pick(std::size(kVerbs))];
      if (service.protocol == Protocol::kHttp) {
        const bool with_id = o % 2 == 0;
        op.route = "/api/v" + std::to_string(1 + o % 2) + "/" + resource + (with_id ? "/{id}" : "");
        op.name = std::string(kHttpMethods[pick(std::size(kHttpMethods))]) + " " + op.route;
      } else {
        op.rpc_service = pkg + "." + char(std::toupper(resource[0])) + resource.substr(1) + "Service";
        op.rpc_method = verb + char(std::toupper(resource[0])) + resource.substr(1) + std::to_string(o);
        op.route = op.rpc_service + "/" + op.rpc_method;
        op.name = op.route;
      }
      service.operations.push_back(std::move(op));
    }
    const std::string version =
        std::to_string(1 + pick(3)) + "." + std::to_string(pick(20)) + "." + std::to_string(pick(10));
    const char* language = kLanguages[static_cast<size_t>(s) % std::size(kLanguages)];
    const size_t instances = 2 + pick(3);
    for (size_t i = 0; i < instances; ++i) {
      const std::string pod = service.name + "-" + Hex(rng(), 10).substr(0, 9) + "-" + Hex(rng(), 5);
      const std::string host = "node-" + std::to_string(pick(40)) + ".eu-west-1.compute.internal";
      model::Resource r;
      r.attributes = {Str("service.name", service.name),
                      Str("service.namespace", "shop"),
                      Str("service.version", version),
                      Str("service.instance.id", Uuid(rng)),
                      Str("host.name", host),
                      Str("k8s.pod.name", pod),
                      Str("k8s.namespace.name", "shop-prod"),
                      Str("deployment.environment", "production"),
                      Str("telemetry.sdk.name", "opentelemetry"),
                      Str("telemetry.sdk.language", language),
                      Str("telemetry.sdk.version", "1.3" + std::to_string(s % 4) + ".0")};
      model::Scope scope;
      scope.name = std::string("io.opentelemetry.") + language + ".instrumentation";
      scope.version = "0.4" + std::to_string(s % 5) + ".1";
      service.instances.push_back({catalogue_->resources.size(), pod});
      catalogue_->resources.push_back(std::move(r));
      catalogue_->scopes.push_back(std::move(scope));
    }
    auto& names = catalogue_->operation_names.emplace_back();
    for (const auto& op : service.operations) names.push_back(op.name);
    catalogue_->services.push_back(std::move(service));
  }
}

Workload::~Workload() = default;

const std::string& Workload::ServiceName(int i) const { return catalogue_->services[static_cast<size_t>(i)].name; }

const std::vector<std::string>& Workload::OperationNames(int i) const {
  return catalogue_->operation_names[static_cast<size_t>(i)];
}

model::Traces Workload::NextBatch(size_t spans) {
  const Catalogue& cat = *catalogue_;
  model::Traces batch;
  std::vector<int> slot(cat.resources.size(), -1);  // resource → index in batch.resource_spans
  auto spans_of = [&](size_t resource) -> std::vector<model::Span>& {
    if (slot[resource] < 0) {
      slot[resource] = static_cast<int>(batch.resource_spans.size());
      auto& rs = batch.resource_spans.emplace_back();
      rs.resource = cat.resources[resource];
      rs.scope_spans.emplace_back().scope = cat.scopes[resource];
    }
    return batch.resource_spans[static_cast<size_t>(slot[resource])].scope_spans[0].spans;
  };

  size_t added = 0;
  while (added < spans) {
    TraceBuilder b{*this, {}};
    const double ln =
        std::lognormal_distribution<double>(std::log(options_.trace_size_median), options_.trace_size_sigma)(rng_);
    const auto size =
        static_cast<size_t>(std::clamp<double>(std::round(ln), 1, std::max<uint32_t>(1, options_.max_trace_spans)));
    trace_sizes_.push_back(static_cast<uint32_t>(size));
    b.BuildShape(size);
    clock_ += static_cast<uint64_t>(
        std::exponential_distribution<double>(1.0 / static_cast<double>(options_.mean_trace_gap_nanos))(rng_));
    auto& root = b.nodes[0];
    root.start = clock_;
    const double median_ms = 8 * (1 + std::log2(static_cast<double>(size)));
    root.end = root.start + 100'000 +
               static_cast<uint64_t>(1e6 * std::lognormal_distribution<double>(std::log(median_ms), 0.8)(rng_));
    b.Times(0);

    model::TraceId trace_id;
    const uint64_t hi = rng_(), lo = rng_() | 1;
    std::memcpy(trace_id.data(), &hi, 8);
    std::memcpy(trace_id.data() + 8, &lo, 8);
    const std::string request_id = Uuid(rng_);
    const std::string user = "user-" + std::to_string(b.Uniform(static_cast<uint64_t>(options_.users)));
    std::vector<model::SpanId> ids(b.nodes.size());
    for (auto& id : ids) {
      const uint64_t v = rng_() | 1;
      std::memcpy(id.data(), &v, 8);
    }
    // Errors start at a span and propagate to the callers' client and server spans.
    for (size_t i = 0; i < b.nodes.size(); ++i) {
      if (!b.Chance(0.005)) continue;
      for (int j = static_cast<int>(i); j >= 0 && !b.nodes[static_cast<size_t>(j)].error;
           j = b.nodes[static_cast<size_t>(j)].parent) {
        auto& n = b.nodes[static_cast<size_t>(j)];
        if (j != static_cast<int>(i) && n.shape != TraceBuilder::Shape::kClient &&
            n.shape != TraceBuilder::Shape::kServer)
          break;
        n.error = true;
        if (j != static_cast<int>(i) && b.Chance(0.5)) break;  // callers often retry or degrade
      }
    }

    for (size_t i = 0; i < b.nodes.size(); ++i) {
      const auto& n = b.nodes[i];
      const Service& svc = cat.services[n.service];
      const Service& callee = cat.services[n.callee];
      model::Span span;
      span.trace_id = trace_id;
      span.span_id = ids[i];
      if (n.parent >= 0) span.parent_span_id = ids[static_cast<size_t>(n.parent)];
      span.flags = 0x100 | 1;  // sampled, parent-is-remote known
      span.start_time_unix_nano = n.start;
      span.end_time_unix_nano = n.end;
      auto& a = span.attributes;
      const auto object_id = std::to_string(100000 + b.Uniform(900000));
      int http_status = n.error ? (b.Chance(0.7) ? 500 : 503) : (b.Chance(0.03) ? 404 : (b.Chance(0.2) ? 201 : 200));
      switch (n.shape) {
        case TraceBuilder::Shape::kServer: {
          const Operation& op = svc.operations[n.operation];
          span.kind = SpanKind::kServer;
          span.name = op.name;
          if (svc.protocol == Protocol::kHttp) {
            std::string path = op.route;
            if (const auto p = path.find("{id}"); p != std::string::npos) path.replace(p, 4, object_id);
            if (b.Chance(0.2)) path += "?page=" + std::to_string(1 + b.Uniform(20)) + "&sort=created";
            a = {Str("http.method", op.name.substr(0, op.name.find(' '))),
                 Str("http.route", op.route),
                 Str("http.url", "https://shop.example.com" + path),
                 Int("http.status_code", http_status),
                 Str("http.user_agent", kUserAgents[b.Uniform(std::size(kUserAgents))]),
                 Int("net.host.port", svc.port)};
            if (b.Chance(0.1)) a.push_back(Str("customer.name", kCustomerNames[b.Uniform(std::size(kCustomerNames))]));
          } else {
            a = {Str("rpc.system", "grpc"), Str("rpc.service", op.rpc_service), Str("rpc.method", op.rpc_method),
                 Int("rpc.grpc.status_code", n.error ? 14 : 0), Int("net.host.port", svc.port)};
          }
          a.push_back(Str("user.id", user));
          a.push_back(Str("request.id", request_id));
          break;
        }
        case TraceBuilder::Shape::kClient: {
          const Operation& op = callee.operations[n.operation];
          span.kind = SpanKind::kClient;
          const std::string peer = callee.name + ".shop-prod.svc.cluster.local";
          if (callee.protocol == Protocol::kHttp) {
            std::string path = op.route;
            if (const auto p = path.find("{id}"); p != std::string::npos) path.replace(p, 4, object_id);
            const std::string method = op.name.substr(0, op.name.find(' '));
            span.name = "HTTP " + method;
            a = {Str("http.method", method), Str("http.url", "http://" + peer + ":8080" + path),
                 Int("http.status_code", http_status)};
          } else {
            span.name = op.name;
            a = {Str("rpc.system", "grpc"), Str("rpc.service", op.rpc_service), Str("rpc.method", op.rpc_method),
                 Int("rpc.grpc.status_code", n.error ? 14 : 0)};
          }
          a.push_back(Str("net.peer.name", peer));
          a.push_back(Int("net.peer.port", static_cast<int64_t>(32768 + b.Uniform(28232))));
          a.push_back(Str("request.id", request_id));
          break;
        }
        case TraceBuilder::Shape::kDbClient: {
          const std::string table = kDbTables[b.Uniform(std::size(kDbTables))];
          const auto shape = b.Uniform(4);
          std::string statement;
          const char* operation = "SELECT";
          if (shape == 0) {
            operation = "INSERT";
            statement = "INSERT INTO " + table +
                        " (id, customer_id, status, total_cents, currency, created_at) VALUES (" + object_id + ", " +
                        std::to_string(b.Uniform(1000000)) + ", 'pending', " + std::to_string(b.Uniform(100000)) +
                        ", 'EUR', now())";
          } else if (shape == 1) {
            operation = "UPDATE";
            statement = "UPDATE " + table + " SET status = 'shipped', updated_at = now() WHERE id = " + object_id +
                        " AND version = " + std::to_string(b.Uniform(50));
          } else {
            statement = "SELECT t.id, t.customer_id, t.status, t.total_cents, t.created_at, c.email FROM " + table +
                        " t JOIN customers c ON c.id = t.customer_id WHERE t.customer_id = " +
                        std::to_string(b.Uniform(1000000)) + " AND t.created_at > now() - interval '30 days'" +
                        " ORDER BY t.created_at DESC LIMIT " + std::to_string(10 * (1 + b.Uniform(10)));
          }
          span.kind = SpanKind::kClient;
          span.name = std::string(operation) + " " + svc.db_name + "." + table;
          a = {Str("db.system", "postgresql"),
               Str("db.name", svc.db_name),
               Str("db.user", svc.name),
               Str("db.operation", operation),
               Str("db.sql.table", table),
               Str("db.statement", std::move(statement)),
               Str("net.peer.name", svc.db_name + ".postgres.internal"),
               Int("net.peer.port", 5432)};
          break;
        }
        case TraceBuilder::Shape::kCacheClient: {
          const bool get = b.Chance(0.8);
          span.kind = SpanKind::kClient;
          span.name = get ? "GET" : "SET";
          a = {Str("db.system", "redis"), Str("db.operation", span.name),
               Str("db.statement", span.name + " " + svc.name + ":" + user + ":" + object_id),
               Str("net.peer.name", "redis-" + std::to_string(n.service % 3) + ".cache.internal"),
               Int("net.peer.port", 6379)};
          break;
        }
        case TraceBuilder::Shape::kProducer:
        case TraceBuilder::Shape::kConsumer: {
          const bool produce = n.shape == TraceBuilder::Shape::kProducer;
          const size_t topic = (produce ? n.callee : n.service) % std::size(kTopics);
          span.kind = produce ? SpanKind::kProducer : SpanKind::kConsumer;
          span.name = std::string(kTopics[topic]) + (produce ? " publish" : " process");
          // The consumer's message ID is its producer's: derive both from the producer's span ID.
          const size_t producer = produce ? i : static_cast<size_t>(n.parent);
          uint64_t message;
          std::memcpy(&message, ids[producer].data(), 8);
          a = {Str("messaging.system", "kafka"), Str("messaging.destination.name", kTopics[topic]),
               Str("messaging.operation", produce ? "publish" : "process"),
               Str("messaging.message.id", Hex(message, 16))};
          if (!produce) a.push_back(Str("messaging.kafka.consumer.group", svc.name));
          a.push_back(Str("request.id", request_id));
          break;
        }
        case TraceBuilder::Shape::kInternal: {
          span.kind = SpanKind::kInternal;
          const char* verb = kVerbs[b.Uniform(std::size(kVerbs))];
          const char* what = kResources[n.service % std::size(kResources)];
          span.name = std::string(verb) + what[0] + std::string(what + 1);
          a = {Str("code.namespace", "shop." + svc.name + ".internal"), Str("code.function", span.name)};
          if (b.Chance(0.15)) a.push_back(Str("product.name", kProducts[b.Uniform(std::size(kProducts))]));
          if (b.Chance(0.3)) a.push_back(Int("items.count", static_cast<int64_t>(b.Uniform(40))));
          break;
        }
      }
      if (n.error) {
        span.status = {model::StatusCode::kError, kErrorMessages[b.Uniform(std::size(kErrorMessages))]};
        const char* type = kExceptionTypes[b.Uniform(std::size(kExceptionTypes))];
        std::string stack = std::string(type) + ": " + span.status.message;
        for (int f = 0; f < 6; ++f)
          stack += "\n    at shop." + svc.name + ".handler" + std::to_string(f) + "(" + svc.name + "/src/handler" +
                   std::to_string(f) + ".go:" + std::to_string(20 + b.Uniform(400)) + ")";
        span.events.push_back({span.end_time_unix_nano - 1000,
                               "exception",
                               {Str("exception.type", type), Str("exception.message", span.status.message),
                                Str("exception.stacktrace", std::move(stack))},
                               0});
      } else if (b.Chance(0.05)) {
        const uint64_t at = n.start + (n.end - n.start) / 2;
        if (b.Chance(0.5))
          span.events.push_back({at, "cache.miss", {Str("cache.key", svc.name + ":" + object_id)}, 0});
        else
          span.events.push_back({at, "retry", {Int("retry.attempt", static_cast<int64_t>(1 + b.Uniform(3)))}, 0});
      }
      if (!recent_spans_.empty() && b.Chance(0.02)) {
        const auto& [link_trace, link_span] = recent_spans_[b.Uniform(recent_spans_.size())];
        span.links.push_back({link_trace, link_span, "", {Str("link.reason", "follows-from batch")}, 0, 0x100});
      }
      constexpr size_t kRecentSpans = 4096;
      if (recent_spans_.size() < kRecentSpans)
        recent_spans_.emplace_back(trace_id, span.span_id);
      else
        recent_spans_[recent_next_++ % kRecentSpans] = {trace_id, span.span_id};
      const size_t resource = svc.instances[n.instance].resource;
      spans_of(resource).push_back(std::move(span));
    }
    added += size;
  }
  return batch;
}

// ---- data-set files ----
namespace {
constexpr char kDatasetMagic[8] = {'T', 'B', 'W', 'O', 'R', 'K', 'L', '1'};

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
}  // namespace

Status WriteDataset(const std::string& path, const std::vector<DatasetRecord>& records) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return Status::IoError("create " + tmp, errno);
  std::string header(kDatasetMagic, sizeof kDatasetMagic);
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  for (const auto& r : records) {
    std::string frame;
    PutU32(frame, static_cast<uint32_t>(r.otlp.size()));
    PutU32(frame, r.spans);
    ok = ok && std::fwrite(frame.data(), 1, frame.size(), f) == frame.size() &&
         std::fwrite(r.otlp.data(), 1, r.otlp.size(), f) == r.otlp.size();
  }
  const int saved = errno;
  if (std::fclose(f) != 0 || !ok) return Status::IoError("write " + tmp, ok ? errno : saved);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::IoError("rename to " + path, errno);
  return Status::Ok();
}

Result<std::vector<DatasetRecord>> ReadDataset(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open data set " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < sizeof kDatasetMagic || std::memcmp(bytes.data(), kDatasetMagic, sizeof kDatasetMagic) != 0)
    return Status::InvalidArgument(path + ": not a workload data set (bad magic)");
  std::vector<DatasetRecord> records;
  size_t at = sizeof kDatasetMagic;
  while (at < bytes.size()) {
    if (bytes.size() - at < 8)
      return Status::InvalidArgument(path + ": truncated record header at offset " + std::to_string(at));
    const uint32_t length = GetU32(bytes.data() + at), spans = GetU32(bytes.data() + at + 4);
    if (bytes.size() - at - 8 < length)
      return Status::InvalidArgument(path + ": record at offset " + std::to_string(at) + " claims " +
                                     std::to_string(length) + " bytes past the end of the file");
    records.push_back({spans, bytes.substr(at + 8, length)});
    at += 8 + length;
  }
  return records;
}

}  // namespace tb::bench
