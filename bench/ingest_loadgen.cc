// OTLP/gRPC ingest load generator: N client threads send pre-encoded Export requests for a fixed
// time and report acknowledged spans/s and ack latency percentiles. The requests are either
// generated (bench/workload.h, --seed, --batch spans each) or replayed from a data-set file
// written by tb_workload (--replay; docs/format/workload.md), cycled in order.
// --rate caps the total spans/s: each sender paces its own share, so that latency is measured
// under a steady offered load rather than at saturation.
// --once sends every request exactly once instead of cycling them for --seconds, and retries a
// refused or unavailable request (with the same back-off) until it is acknowledged, so that the
// receiver ends up holding each span of the data set once (bench/run_peer.sh measures bytes at
// rest that way); spans/s is then the data set over the time until the last acknowledgement.
//   tb_ingest_loadgen --target 127.0.0.1:4317 --concurrency 8 --batch 512 --seconds 20 [--rate 100000]
//   tb_ingest_loadgen --target 127.0.0.1:4317 --replay /tmp/workload.bin --seconds 60
//   tb_ingest_loadgen --target 127.0.0.1:4317 --replay /tmp/workload.bin --once
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "wire/otlp_proto.h"
#include "workload.h"

namespace {

using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse;
using opentelemetry::proto::collector::trace::v1::TraceService;

struct ThreadResult {
  uint64_t spans = 0;
  uint64_t requests = 0;
  uint64_t refused = 0;  // RESOURCE_EXHAUSTED (and, with --once, UNAVAILABLE): retried after a back-off
  uint64_t failed = 0;
  std::vector<double> latencies_ms;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"OTLP/gRPC ingest load generator"};
  std::string target = "127.0.0.1:4317";
  int concurrency = 8;
  size_t batch_spans = 512;
  double seconds = 20;
  int distinct_batches = 256;
  uint64_t seed = 1;
  double rate = 0;
  std::string replay;
  bool once = false;
  app.add_option("--target", target);
  app.add_option("--concurrency", concurrency);
  app.add_option("--batch", batch_spans, "spans per Export request");
  app.add_option("--seconds", seconds);
  app.add_option("--distinct-batches", distinct_batches, "pre-encoded requests cycled by the senders");
  int first_backoff_ms = 20;
  app.add_option("--backoff-ms", first_backoff_ms, "first wait after a refusal; doubles up to 1000 while refused")
      ->check(CLI::Range(1, 1000));
  app.add_option("--seed", seed);
  app.add_option("--rate", rate, "total spans/s to offer (0: as fast as acknowledged)");
  app.add_option("--replay", replay, "send the requests of this data-set file instead of generated ones");
  app.add_flag("--once", once, "send each request once, retrying refused ones, then stop (--seconds is ignored)");
  CLI11_PARSE(app, argc, argv);

  std::vector<ExportTraceServiceRequest> requests;
  std::vector<uint64_t> request_spans;
  if (!replay.empty()) {
    auto records = tb::bench::ReadDataset(replay);
    if (!records.ok()) {
      std::fprintf(stderr, "%s\n", records.status().ToString().c_str());
      return 2;
    }
    for (const auto& record : *records) {
      if (!requests.emplace_back().ParseFromString(record.otlp)) {
        std::fprintf(stderr, "%s: request %zu is not an ExportTraceServiceRequest\n", replay.c_str(),
                     requests.size() - 1);
        return 2;
      }
      request_spans.push_back(record.spans);
    }
    if (requests.empty()) {
      std::fprintf(stderr, "%s: no requests\n", replay.c_str());
      return 2;
    }
  } else {
    tb::bench::WorkloadOptions options;
    options.seed = seed;
    tb::bench::Workload workload(options);
    requests.resize(static_cast<size_t>(distinct_batches));
    for (auto& r : requests) {
      tb::model::Traces batch = workload.NextBatch(batch_spans);
      request_spans.push_back(batch.SpanCount());
      tb::wire::ToProto(batch, r.mutable_resource_spans());
    }
  }
  const double rate_per_sender = rate / concurrency;

  std::vector<ThreadResult> results(static_cast<size_t>(concurrency));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      // One channel per sender: separate HTTP/2 connections, as separate exporters would have.
      // Built per sender: ChannelArguments is not thread-safe (a shared one set from every thread
      // could crash the load generator as it started).
      grpc::ChannelArguments args;
      args.SetMaxSendMessageSize(64 << 20);
      args.SetInt("tb.sender", t);
      auto stub = TraceService::NewStub(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
      ThreadResult& r = results[static_cast<size_t>(t)];
      auto next_send = std::chrono::steady_clock::now();
      // After a refusal a sender waits, doubling the wait up to 1 s while refusals go on, as OTLP
      // exporters back off; a fixed short pause made refused requests (each received in full by
      // the server) take a large share of its core.
      std::chrono::milliseconds backoff{0};
      for (size_t i = static_cast<size_t>(t); !stop.load() && (!once || i < requests.size());) {
        const size_t which = i % requests.size();
        if (rate_per_sender > 0) {
          std::this_thread::sleep_until(next_send);
          next_send += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(static_cast<double>(request_spans[which]) / rate_per_sender));
        }
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        ExportTraceServiceResponse response;
        const auto t0 = std::chrono::steady_clock::now();
        grpc::Status s = stub->Export(&ctx, requests[which], &response);
        r.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        ++r.requests;
        if (s.ok()) {
          r.spans += request_spans[which] - static_cast<uint64_t>(response.partial_success().rejected_spans());
          backoff = std::chrono::milliseconds(0);
          i += static_cast<size_t>(concurrency);
          continue;
        }
        const bool refused = s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
        // A collector in front of the store answers UNAVAILABLE when the store refused: in --once
        // mode both are retried, so that no span of the data set is lost.
        if (refused || (once && s.error_code() == grpc::StatusCode::UNAVAILABLE)) {
          ++r.refused;
          backoff =
              std::clamp(backoff * 2, std::chrono::milliseconds(first_backoff_ms), std::chrono::milliseconds(1000));
          std::this_thread::sleep_for(backoff);
          if (!once) i += static_cast<size_t>(concurrency);
          continue;
        }
        ++r.failed;
        if (r.failed <= 3) std::fprintf(stderr, "Export failed: %d %s\n", s.error_code(), s.error_message().c_str());
        i += static_cast<size_t>(concurrency);
      }
    });
  }
  if (!once) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
  }
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  ThreadResult all;
  for (auto& r : results) {
    all.spans += r.spans;
    all.requests += r.requests;
    all.refused += r.refused;
    all.failed += r.failed;
    all.latencies_ms.insert(all.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
  }
  std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
  auto pct = [&](double p) {
    return all.latencies_ms.empty() ? 0.0 : all.latencies_ms[static_cast<size_t>(p * (all.latencies_ms.size() - 1))];
  };
  std::printf(
      "spans_acked=%llu requests=%llu refused=%llu failed=%llu seconds=%.1f spans_per_sec=%.0f "
      "ack_p50_ms=%.2f ack_p99_ms=%.2f\n",
      static_cast<unsigned long long>(all.spans), static_cast<unsigned long long>(all.requests),
      static_cast<unsigned long long>(all.refused), static_cast<unsigned long long>(all.failed), elapsed,
      static_cast<double>(all.spans) / elapsed, pct(0.5), pct(0.99));
  return all.failed == 0 ? 0 : 1;
}
