// Back-pressure on the gRPC write doors, through a real in-process gRPC server: the OTLP door (also
// Jaeger v2's write path) and both Remote Storage API v1 writers answer a full head with
// RESOURCE_EXHAUSTED whose grpc-status-details-bin trailer holds google.rpc.RetryInfo, which is what
// OTLP exporters need to retry instead of dropping. Other errors carry no details.
#include "server/rpc_status.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "google/rpc/retry_info.pb.h"
#include "model/random_traces.h"
#include "objstore/memory_store.h"
#include "server/grpc_services.h"
#include "server/grpc_v1_services.h"
#include "wire/jaeger_proto.h"
#include "wire/otlp_proto.h"

namespace tb::server {
namespace {

namespace v1 = jaeger::storage::v1;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using opentelemetry::proto::collector::trace::v1::TraceService;

// Asserts that `status` is a back-pressure refusal whose details decode to a RetryInfo of
// kRetryDelaySeconds, with the same code and message as the status itself.
void ExpectRetryInfo(const grpc::Status& status) {
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details())) << "grpc-status-details-bin is not a google.rpc.Status";
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(details.message(), status.error_message());
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(), "type.googleapis.com/google.rpc.RetryInfo");
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(details.details(0).UnpackTo(&retry));
  EXPECT_EQ(retry.retry_delay().seconds(), kRetryDelaySeconds);
  EXPECT_EQ(retry.retry_delay().nanos(), 0);
}

TEST(RpcStatusTest, OnlyResourceExhaustedCarriesRetryInfo) {
  const google::rpc::Status full = ToRpcStatus(Status::ResourceExhausted("head memory budget full"));
  EXPECT_EQ(full.code(), static_cast<int>(StatusCode::kResourceExhausted));
  EXPECT_EQ(full.message(), "head memory budget full");
  ASSERT_EQ(full.details_size(), 1);
  EXPECT_TRUE(full.details(0).Is<google::rpc::RetryInfo>());

  for (const Status& other : {Status::InvalidArgument("bad span"), Status::Unavailable("wal down")}) {
    const google::rpc::Status rpc = ToRpcStatus(other);
    EXPECT_EQ(rpc.code(), static_cast<int>(other.code()));
    EXPECT_EQ(rpc.details_size(), 0) << other.ToString();
    const grpc::Status mapped = ToGrpc(other);
    EXPECT_EQ(mapped.error_details(), "") << other.ToString();
  }
}

// A head whose budget is zero is full before the first write, so every write is refused for back-pressure.
class FullHeadDoorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "tb_full_head_XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    auto tenants = Tenants::Open(
        dir, /*head_memory_budget_bytes=*/0, /*max_tenants=*/1,
        [](const std::string&) {
          db::DbOptions options;
          options.background_flush = false;
          return options;
        },
        std::make_shared<objstore::MemoryStore>());
    ASSERT_TRUE(tenants.ok()) << tenants.status().ToString();
    tenants_ = std::move(*tenants);
    auto access = AccessPolicy::Open(Config{});
    ASSERT_TRUE(access.ok());
    access_ = std::make_unique<AccessPolicy>(std::move(*access));
    door_ = std::make_unique<TenantDoor>(access_.get(), tenants_.get());
    otlp_ = std::make_unique<OtlpTraceService>(door_.get());
    v1_writer_ = std::make_unique<StorageV1SpanWriter>(door_.get());
    v1_stream_writer_ = std::make_unique<StorageV1StreamingSpanWriter>(door_.get());
    grpc::ServerBuilder builder;
    builder.RegisterService(otlp_.get());
    builder.RegisterService(v1_writer_.get());
    builder.RegisterService(v1_stream_writer_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override { server_->Shutdown(); }

  static v1::WriteSpanRequest OneJaegerSpan() {
    v1::WriteSpanRequest request;
    wire::ToProto(model::jaeger::ToJaeger(model::RandomTraces(3)).front(), request.mutable_span());
    return request;
  }

  std::unique_ptr<AccessPolicy> access_;
  std::unique_ptr<Tenants> tenants_;
  std::unique_ptr<TenantDoor> door_;
  std::unique_ptr<OtlpTraceService> otlp_;
  std::unique_ptr<StorageV1SpanWriter> v1_writer_;
  std::unique_ptr<StorageV1StreamingSpanWriter> v1_stream_writer_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(FullHeadDoorsTest, OtlpExportIsRefusedWithRetryInfo) {
  ExportTraceServiceRequest request;
  wire::ToProto(model::RandomTraces(5), request.mutable_resource_spans());
  ExportTraceServiceResponse response;
  grpc::ClientContext context;
  ExpectRetryInfo(TraceService::NewStub(channel_)->Export(&context, request, &response));
}

TEST_F(FullHeadDoorsTest, V1WriteSpanIsRefusedWithRetryInfo) {
  v1::WriteSpanResponse response;
  grpc::ClientContext context;
  ExpectRetryInfo(v1::SpanWriterPlugin::NewStub(channel_)->WriteSpan(&context, OneJaegerSpan(), &response));
}

TEST_F(FullHeadDoorsTest, V1WriteSpanStreamIsRefusedWithRetryInfo) {
  v1::WriteSpanResponse response;
  grpc::ClientContext context;
  auto stream = v1::StreamingSpanWriterPlugin::NewStub(channel_)->WriteSpanStream(&context, &response);
  // The server ends the stream at the first refused span; a later Write may see it closed already.
  (void)stream->Write(OneJaegerSpan());
  stream->WritesDone();
  ExpectRetryInfo(stream->Finish());
}

}  // namespace
}  // namespace tb::server
