// The decode-only floor for the ingest benchmark: an OTLP/gRPC TraceService with the same gRPC
// server settings as tracebucket's (sync service, same receive limit) whose Export decodes the
// request into the span model — gRPC's own protobuf parse, then wire::FromProto with ID
// validation — counts the spans and drops them. (tracebucket's handler takes the raw bytes and
// parses them into an Arena instead; both end in the same model.) No WAL, no head, no flush: what
// is left is the cost of receiving and decoding.
//   tb_decode_sink --listen 127.0.0.1:4317
// Prints "ready" once it serves; on SIGINT/SIGTERM prints "decoded_spans=N requests=M" and exits.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "wire/otlp_proto.h"

namespace {

namespace collector = opentelemetry::proto::collector::trace::v1;

class DecodeOnlyService final : public collector::TraceService::Service {
 public:
  grpc::Status Export(grpc::ServerContext*, const collector::ExportTraceServiceRequest* request,
                      collector::ExportTraceServiceResponse*) override {
    auto batch = tb::wire::FromProto(request->resource_spans());
    if (!batch.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, batch.status().message());
    spans_.fetch_add(batch->SpanCount(), std::memory_order_relaxed);
    requests_.fetch_add(1, std::memory_order_relaxed);
    return grpc::Status::OK;
  }
  uint64_t spans() const { return spans_.load(); }
  uint64_t requests() const { return requests_.load(); }

 private:
  std::atomic<uint64_t> spans_{0};
  std::atomic<uint64_t> requests_{0};
};

std::atomic<bool> g_stop{false};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Decode-only OTLP/gRPC sink (the ingest benchmark's floor)"};
  std::string listen = "127.0.0.1:4317";
  uint64_t max_request_bytes = 64ull << 20;  // tracebucket's default limits.max_request_bytes
  app.add_option("--listen", listen);
  app.add_option("--max-request-bytes", max_request_bytes);
  CLI11_PARSE(app, argc, argv);

  DecodeOnlyService service;
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &bound_port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(max_request_bytes, INT32_MAX)));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    std::fprintf(stderr, "cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::printf("ready\n");
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server->Shutdown(std::chrono::system_clock::now());
  std::printf("decoded_spans=%llu requests=%llu\n", static_cast<unsigned long long>(service.spans()),
              static_cast<unsigned long long>(service.requests()));
  return 0;
}
