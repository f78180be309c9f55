// Block size report: bytes per span of a block (data + index) for the benchmark workload, where
// the bytes go (per page column and per index section), against zstd -19 of the same spans as
// OTLP protobuf.
//
//   tb_block_size_bench [spans=1000000] [zstd level for the proto baseline=19; 0 skips it]
//                       [block zstd level=BlockWriterOptions' default] [target page KiB=default]
//
// Also lists the `values` column by attribute key (each key's streams compressed alone, so the
// sum exceeds the column) and says which bytes are incompressible by construction.
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "block/block_writer.h"
#include "wire/otlp_codec.h"
#include "workload.h"

int main(int argc, char** argv) {
  const size_t spans = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const int proto_level = argc > 2 ? std::atoi(argv[2]) : 19;
  tb::bench::Workload workload;
  tb::block::BlockWriterOptions options;
  if (argc > 3) options.zstd_level = std::atoi(argv[3]);
  if (argc > 4) options.target_page_bytes = std::strtoull(argv[4], nullptr, 10) << 10;
  options.measure_value_runs = true;
  tb::block::BlockWriter writer(options);
  std::string proto;
  size_t added = 0;
  while (added < spans) {
    const tb::model::Traces batch = workload.NextBatch(std::min<size_t>(50'000, spans - added));
    added += batch.SpanCount();
    writer.Add(batch);
    proto += tb::wire::EncodeOtlpProtobuf(batch);
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto objects = writer.Build({"bench", "bench", 0, 0, 0});
  const auto t1 = std::chrono::steady_clock::now();
  if (!objects.ok()) {
    std::fprintf(stderr, "%s\n", objects.status().ToString().c_str());
    return 1;
  }
  const auto& meta = objects->parsed_meta;
  const double n = static_cast<double>(meta.span_count);
  std::printf("spans %llu, traces %llu, pages %u, build %.1f s\n", static_cast<unsigned long long>(meta.span_count),
              static_cast<unsigned long long>(meta.trace_count), meta.page_count,
              std::chrono::duration<double>(t1 - t0).count());
  std::printf("block: data %.2f + index %.2f = %.2f B/span (meta %zu B)\n", meta.data_size / n, meta.index_size / n,
              (meta.data_size + meta.index_size) / n, objects->meta.size());
  std::printf("page columns (compressed / raw B/span):\n");
  for (int c = 0; c < tb::block::kColumnCount; ++c)
    std::printf("  %-15s %6.2f / %7.2f\n", tb::block::ColumnName(c), objects->column_bytes[c] / n,
                objects->column_raw_bytes[c] / n);
  std::printf("values column by key (B/span, each stream compressed alone: values shapes text binary = total):\n");
  std::vector<std::pair<double, std::string>> by_size;
  for (const auto& [key, b] : objects->value_run_bytes)
    by_size.emplace_back((b.compressed[0] + b.compressed[1] + b.compressed[2] + b.compressed[3]) / n, key);
  std::sort(by_size.rbegin(), by_size.rend());
  for (const auto& [total, key] : by_size) {
    const auto& b = objects->value_run_bytes.at(key);
    std::printf("  %-30s %5.2f %5.2f %5.2f %5.2f = %5.2f  (raw %6.2f)\n", key.c_str(), b.compressed[0] / n,
                b.compressed[1] / n, b.compressed[2] / n, b.compressed[3] / n, total,
                (b.raw[0] + b.raw[1] + b.raw[2] + b.raw[3]) / n);
  }
  std::printf("index sections (B/span):\n");
  for (const auto& s : meta.sections) std::printf("  %-15s %6.2f\n", tb::block::SectionName(s.id), s.length / n);
  std::printf("posting lists by kind (B/span):");
  const char* kinds[] = {"", "service", "operation", "name", "attribute", "error"};
  for (int k = 1; k <= tb::block::kPostError; ++k) std::printf(" %s %.2f", kinds[k], objects->posting_bytes[k] / n);
  std::printf("\n");

  if (proto_level <= 0) return 0;
  std::string z(ZSTD_compressBound(proto.size()), '\0');
  const auto t2 = std::chrono::steady_clock::now();
  const size_t zn = ZSTD_compress(z.data(), z.size(), proto.data(), proto.size(), proto_level);
  const auto t3 = std::chrono::steady_clock::now();
  if (ZSTD_isError(zn)) return 1;
  std::printf("OTLP protobuf: %.2f B/span raw, zstd -%d %.2f B/span (%.1f s)\n", proto.size() / n, proto_level, zn / n,
              std::chrono::duration<double>(t3 - t2).count());
  return 0;
}
