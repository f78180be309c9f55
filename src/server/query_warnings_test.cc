// Blocks a query could not read, as every door reports them (in process: HTTP over a real socket,
// gRPC through a real in-process server): a trace lies in a flushed block and in the head, another
// in the head only, then the object store goes down (before any query, so that no page of the
// block is cached). Each door answers from the head and names the block: /api in its
// envelope's `errors`, /api and /api/v3 in the tracebucket-warnings header, Remote Storage v2 and
// v1 in the tracebucket-warnings trailing metadata.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "model/text.h"
#include "objstore/fault_store.h"
#include "objstore/memory_store.h"
#include "server/access.h"
#include "server/api_v3_http.h"
#include "server/grpc_services.h"
#include "server/grpc_v1_services.h"
#include "server/http_listener.h"
#include "server/jaeger_http_api.h"
#include "server/query_log.h"
#include "server/tenants.h"
#include "server/test_tenants.h"

namespace tb::server {
namespace {

namespace v1 = jaeger::storage::v1;
namespace v2 = jaeger::storage::v2;

model::Traces OneSpan(const model::TraceId& trace, uint8_t span, uint64_t start) {
  model::Span s;
  s.trace_id = trace;
  s.span_id[7] = span;
  s.name = "op";
  s.start_time_unix_nano = start;
  s.end_time_unix_nano = start + 1000;
  model::Traces t;
  t.resource_spans.resize(1);
  t.resource_spans[0].resource.attributes = {{"service.name", model::AnyValue::String("svc")}};
  t.resource_spans[0].scope_spans.resize(1);
  t.resource_spans[0].scope_spans[0].spans = {s};
  return t;
}

class QueryWarningsDoorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tenants_ = std::make_unique<TestTenants>(faults_, "tb_query_warnings");
    ASSERT_TRUE(tenants_->ok());
    db::Db* db = &tenants_->default_db();
    door_ = &tenants_->door();

    // Span 1 of the trace in a block, span 2 in the head.
    const uint64_t now = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    trace_[15] = 7;
    ASSERT_TRUE(db->ingester().Ingest(OneSpan(trace_, 1, now - 2'000'000'000)).ok());
    ASSERT_TRUE(db->Flush().ok());
    ASSERT_TRUE(db->ingester().Ingest(OneSpan(trace_, 2, now - 1'000'000'000)).ok());
    head_only_[15] = 8;
    ASSERT_TRUE(db->ingester().Ingest(OneSpan(head_only_, 3, now)).ok());

    jaeger_api::RegisterRoutes(router_, *door_, 1 << 20, AnswerLimits{});
    api_v3::RegisterRoutes(router_, *door_, AnswerLimits{});
    listener_ = std::make_unique<HttpListener>(
        &router_, [](const HttpRequest&, HttpResponse&) { return false; }, HttpListenerOptions{});
    ASSERT_TRUE(listener_->Start("127.0.0.1", 0).ok());
    port_ = listener_->port();

    v2_reader_ = std::make_unique<StorageV2TraceReader>(door_);
    v1_reader_ = std::make_unique<StorageV1SpanReader>(door_);
    grpc::ServerBuilder builder;
    builder.RegisterService(v2_reader_.get());
    builder.RegisterService(v1_reader_.get());
    grpc_ = builder.BuildAndStart();
    ASSERT_NE(grpc_, nullptr);
    channel_ = grpc_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override {
    if (grpc_ != nullptr) grpc_->Shutdown();
    if (listener_ != nullptr) listener_->Stop();
    tenants_.reset();
  }

  void StoreDown() {
    faults_->FailWhen([](objstore::StoreOp, std::string_view) { return true; }, Status::Unavailable("store down"));
  }

  // Asserts that `json` (the tracebucket-warnings value) names exactly one unreadable block.
  static void ExpectOneUnreadableBlock(const std::string& json) {
    const nlohmann::json warnings = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(warnings.is_array()) << json;
    ASSERT_EQ(warnings.size(), 1u) << json;
    EXPECT_TRUE(warnings[0]["source"].get<std::string>().starts_with("block ")) << json;
    EXPECT_EQ(warnings[0]["code"], "UNAVAILABLE") << json;
    EXPECT_NE(warnings[0]["message"].get<std::string>().find("store down"), std::string::npos) << json;
  }

  // The span IDs' last bytes that a Remote Storage v2 GetTraces of `trace` streams, and its
  // trailing warnings ("" when absent).
  std::vector<int> V2GetTrace(const model::TraceId& trace, std::string* warnings) {
    v2::GetTracesRequest request;
    request.add_query()->set_trace_id(std::string(reinterpret_cast<const char*>(trace.data()), trace.size()));
    grpc::ClientContext context;
    auto stream = v2::TraceReader::NewStub(channel_)->GetTraces(&context, request);
    std::vector<int> spans;
    opentelemetry::proto::trace::v1::TracesData chunk;
    while (stream->Read(&chunk))
      for (const auto& rs : chunk.resource_spans())
        for (const auto& ss : rs.scope_spans())
          for (const auto& s : ss.spans()) spans.push_back(static_cast<uint8_t>(s.span_id().back()));
    const grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    *warnings = TrailerOf(context);
    return spans;
  }

  static std::string TrailerOf(const grpc::ClientContext& context) {
    const auto& trailers = context.GetServerTrailingMetadata();
    auto it = trailers.find(kWarningsKey);
    return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
  }

  std::shared_ptr<objstore::FaultStore> faults_ =
      std::make_shared<objstore::FaultStore>(std::make_shared<objstore::MemoryStore>());
  std::unique_ptr<TestTenants> tenants_;
  TenantDoor* door_ = nullptr;
  model::TraceId trace_{};      // span 1 in a block, span 2 in the head
  model::TraceId head_only_{};  // span 3 in the head
  HttpRouter router_;
  std::unique_ptr<HttpListener> listener_;
  int port_ = 0;
  std::unique_ptr<StorageV2TraceReader> v2_reader_;
  std::unique_ptr<StorageV1SpanReader> v1_reader_;
  std::unique_ptr<grpc::Server> grpc_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(QueryWarningsDoorsTest, JaegerApiAnswersFromTheHeadAndListsTheUnreadableBlockInErrors) {
  httplib::Client client("127.0.0.1", port_);
  auto clean = client.Get("/api/traces/" + model::HexEncode(head_only_));
  ASSERT_TRUE(clean);
  ASSERT_EQ(clean->status, 200) << clean->body;
  EXPECT_FALSE(clean->has_header(kWarningsKey));
  EXPECT_TRUE(nlohmann::json::parse(clean->body)["errors"].is_null()) << clean->body;

  StoreDown();
  const std::string by_id = "/api/traces/" + model::HexEncode(trace_);
  const std::string search = "/api/traces?service=svc&limit=1";  // the newest trace lies in the head only
  for (const std::string& query : {by_id, search}) {
    auto answer = client.Get(query);
    ASSERT_TRUE(answer);
    ASSERT_EQ(answer->status, 200) << query << ": " << answer->body;
    const nlohmann::json body = nlohmann::json::parse(answer->body);
    ASSERT_EQ(body["data"].size(), 1u) << answer->body;
    ASSERT_EQ(body["data"][0]["spans"].size(), 1u) << answer->body;
    EXPECT_EQ(body["data"][0]["spans"][0]["spanID"], query == by_id ? "0000000000000002" : "0000000000000003");
    ASSERT_EQ(body["errors"].size(), 1u) << answer->body;
    EXPECT_EQ(body["errors"][0]["code"], 503);
    const std::string msg = body["errors"][0]["msg"];
    EXPECT_TRUE(msg.starts_with("block ")) << msg;
    EXPECT_NE(msg.find(" could not be read: UNAVAILABLE: "), std::string::npos) << msg;
    ExpectOneUnreadableBlock(answer->get_header_value(kWarningsKey));
  }
}

TEST_F(QueryWarningsDoorsTest, ApiV3AnswersFromTheHeadAndNamesTheUnreadableBlockInAHeader) {
  httplib::Client client("127.0.0.1", port_);
  auto clean = client.Get("/api/v3/traces/" + model::HexEncode(head_only_));
  ASSERT_TRUE(clean);
  ASSERT_EQ(clean->status, 200) << clean->body;
  EXPECT_FALSE(clean->has_header(kWarningsKey));

  StoreDown();
  auto answer = client.Get("/api/v3/traces/" + model::HexEncode(trace_));
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200) << answer->body;
  const nlohmann::json body = nlohmann::json::parse(answer->body);
  EXPECT_EQ(body["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 1u) << answer->body;
  ExpectOneUnreadableBlock(answer->get_header_value(kWarningsKey));
}

TEST_F(QueryWarningsDoorsTest, RemoteStorageV2StreamsTheHeadAndNamesTheUnreadableBlockInATrailer) {
  std::string warnings;
  EXPECT_EQ(V2GetTrace(head_only_, &warnings), (std::vector<int>{3}));
  EXPECT_EQ(warnings, "");

  StoreDown();
  EXPECT_EQ(V2GetTrace(trace_, &warnings), (std::vector<int>{2}));
  ExpectOneUnreadableBlock(warnings);
}

TEST_F(QueryWarningsDoorsTest, RemoteStorageV1StreamsTheHeadAndNamesTheUnreadableBlockInATrailer) {
  StoreDown();
  v1::GetTraceRequest request;
  request.set_trace_id(std::string(reinterpret_cast<const char*>(trace_.data()), trace_.size()));
  grpc::ClientContext context;
  auto stream = v1::SpanReaderPlugin::NewStub(channel_)->GetTrace(&context, request);
  v1::SpansResponseChunk chunk;
  size_t spans = 0;
  while (stream->Read(&chunk)) spans += static_cast<size_t>(chunk.spans_size());
  const grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(spans, 1u);
  ExpectOneUnreadableBlock(TrailerOf(context));
}

// A store that is down may leave hundreds of blocks unread: the value stays within
// kMaxWarningsBytes (gRPC and Node clients refuse large metadata), lists the first sources in
// order and counts the rest in a last entry.
TEST(WarningsJsonTest, ListsWhatFitsAndCountsTheRest) {
  std::vector<query::SourceWarning> warnings;
  for (int i = 0; i < 300; ++i)
    warnings.push_back(
        {"block " + std::to_string(i), Status::Unavailable("GET tenants/default/blocks/" + std::to_string(i) +
                                                           "/index: connection refused \xc3\xa9")});
  const std::string value = WarningsJson(warnings);
  EXPECT_LE(value.size(), kMaxWarningsBytes);
  for (char c : value) ASSERT_TRUE(c >= 0x20 && c < 0x7f) << value;  // a valid header value
  const nlohmann::json list = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(list.is_array()) << value;
  ASSERT_GE(list.size(), 10u) << value;
  const size_t listed = list.size() - 1;
  for (size_t i = 0; i < listed; ++i) {
    EXPECT_EQ(list[i]["source"], "block " + std::to_string(i));
    EXPECT_EQ(list[i]["code"], "UNAVAILABLE");
    EXPECT_EQ(list[i]["message"].get<std::string>().substr(0, 4), "GET ");
  }
  EXPECT_EQ(list.back()["source"], std::to_string(300 - listed) + " more sources");
  EXPECT_EQ(list.back()["code"], "UNAVAILABLE");

  // A few fit whole, with no count.
  warnings.resize(3);
  const nlohmann::json few = nlohmann::json::parse(WarningsJson(warnings));
  ASSERT_EQ(few.size(), 3u);
  EXPECT_EQ(few[2]["source"], "block 2");
}

}  // namespace
}  // namespace tb::server
