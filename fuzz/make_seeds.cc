// Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/), generated from our own data:
// seeded random batches (model::RandomTraces) through our encoders, WAL segments written by the
// Wal, blocks built by the BlockWriter, and the query parameters the README documents.
//   tb_fuzz_seeds OUT_DIR
// The output is deterministic except for the WAL segments' and blocks' creation times.
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "block/block_writer.h"
#include "block_image.h"
#include "jaeger/storage/v1/storage.pb.h"
#include "model/jaeger.h"
#include "model/random_traces.h"
#include "objstore/memory_store.h"
#include "wal/wal.h"
#include "wire/jaeger_proto.h"
#include "wire/otlp_codec.h"
#include "wire/otlp_json.h"

namespace {

namespace fs = std::filesystem;
using tb::model::RandomTraces;
using tb::model::RandomTracesOptions;

void Write(const fs::path& dir, const std::string& name, std::string_view bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

// A few batch shapes, small enough that a fuzzer runs them fast.
std::vector<tb::model::Traces> Batches() {
  std::vector<tb::model::Traces> out;
  out.push_back(RandomTraces(1, {.resources = 1, .scopes_per_resource = 1, .spans_per_scope = 1, .traces = 1}));
  out.push_back(RandomTraces(2, {.resources = 1, .scopes_per_resource = 2, .spans_per_scope = 3, .traces = 2}));
  out.push_back(RandomTraces(3));
  out.push_back(RandomTraces(4, {.resources = 2, .scopes_per_resource = 1, .spans_per_scope = 8, .traces = 3}));
  return out;
}

void OtlpSeeds(const fs::path& out) {
  int i = 0;
  for (const auto& batch : Batches()) {
    Write(out / "otlp_proto", "batch" + std::to_string(i), tb::wire::EncodeOtlpProtobuf(batch));
    Write(out / "otlp_json", "batch" + std::to_string(i), tb::wire::EncodeOtlpJson(batch));
    ++i;
  }
}

void JaegerSeeds(const fs::path& out) {
  int i = 0;
  for (const auto& batch : Batches()) {
    for (const auto& span : tb::model::jaeger::ToJaeger(batch)) {
      jaeger::storage::v1::WriteSpanRequest request;
      tb::wire::ToProto(span, request.mutable_span());
      Write(out / "jaeger_proto", "span" + std::to_string(i++), request.SerializeAsString());
      if (i % 8 == 0) break;  // a few spans of each batch are enough
    }
  }
}

// Path parameter, newline, query string: the forms README.md documents for /api and /api/v3.
void HttpParamSeeds(const fs::path& out) {
  const char* seeds[] = {
      "4bf92f3577b34da6a3ce929d0e0e4736\nstartTime=2024-05-01T12:00:00.5Z&endTime=2024-05-01T13:00:00Z&rawTraces=true",
      "00f067aa0ba902b7\nquery.serviceName=frontend&query.operationName=GET%20%2Fdispatch&query.attributes=%7B%22http."
      "status_code%22%3A%22200%22%7D&query.startTimeMin=2024-05-01T00:00:00Z&query.startTimeMax=2024-05-02T00:00:00%"
      "2B02:"
      "00&query.durationMin=1.5ms&query.durationMax=1h2m3s&query.searchDepth=20",
      "S_kvNXezTaajzpKdDg5HNg\nquery.service_name=x&query.start_time_min=2024-05-01T00:00:00.123456789Z&query.start_"
      "time_"
      "max=2024-05-01T00:00:01Z&query.num_traces=5&query.raw_traces=0",
      "1\nservice=frontend&operation=HTTP%20GET&tags=%7B%22error%22%3A%22true%22%7D&tag=span.kind:server&start="
      "1714521600000000&end=1714525200000000&minDuration=500us&maxDuration=2s&limit=10&raw=false",
      "abc\ntraceID=4bf92f3577b34da6a3ce929d0e0e4736&traceID=S_kvNXezTaajzpKdDg5HNg==&traceID=AAAAAAAAAAE",
      "\nendTs=1714521600000&lookback=86400000&service=frontend",
      "\nquantile=0.95&service=frontend&service=backend&groupByOperation=true&spanKind=server&spanKind=client&endTs="
      "1714521600000&lookback=3600000&step=60000&ratePer=600000",
  };
  int i = 0;
  for (const char* seed : seeds) Write(out / "http_params", "params" + std::to_string(i++), seed);
}

// WAL segments written by the Wal itself; each seed once to be sealed by the harness (first byte
// 1) and once as is (first byte 0).
void WalSeeds(const fs::path& out) {
  const fs::path dir = fs::temp_directory_path() / ("tb-fuzz-seeds-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  tb::wal::Options options;
  options.dir = dir.string();
  options.sync = false;
  {
    auto wal = tb::wal::Wal::Open(options, nullptr, nullptr);
    if (!wal.ok()) {
      std::fprintf(stderr, "%s\n", wal.status().ToString().c_str());
      std::exit(1);
    }
    for (const auto& batch : Batches()) (void)(*wal)->Append(tb::wire::EncodeOtlpProtobuf(batch));
    (void)(*wal)->Close();
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".wal") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string segment((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Write(out / "wal", "segment-sealed", std::string(1, '\1') + segment);
    Write(out / "wal", "segment-as-is", std::string(1, '\0') + segment);
  }
  fs::remove_all(dir);
}

// Blocks built by the BlockWriter, with small pages so that traces span several of them.
void BlockSeeds(const fs::path& out) {
  int i = 0;
  for (size_t page_bytes : {size_t{1} << 20, size_t{2} << 10}) {
    tb::block::BlockWriterOptions options;
    options.target_page_bytes = page_bytes;
    tb::block::BlockWriter writer(options);
    for (const auto& batch : Batches()) writer.Add(batch);
    auto objects = writer.Build({.block_id = "seed" + std::to_string(i), .writer_id = "tb_fuzz_seeds"});
    if (!objects.ok()) {
      std::fprintf(stderr, "%s\n", objects.status().ToString().c_str());
      std::exit(1);
    }
    const tb::fuzz::BlockImage sealed{objects->meta, objects->index, objects->data};
    tb::fuzz::BlockImage unsealed;
    if (!tb::fuzz::Unseal(sealed, &unsealed)) {
      std::fprintf(stderr, "cannot unseal the block just built\n");
      std::exit(1);
    }
    Write(out / "block", "block" + std::to_string(i) + "-unsealed",
          std::string(1, '\1') + tb::fuzz::SerializeImage(unsealed));
    Write(out / "block", "block" + std::to_string(i) + "-sealed",
          std::string(1, '\0') + tb::fuzz::SerializeImage(sealed));
    ++i;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const fs::path out = argv[1];
  OtlpSeeds(out);
  JaegerSeeds(out);
  HttpParamSeeds(out);
  WalSeeds(out);
  BlockSeeds(out);
  return 0;
}
