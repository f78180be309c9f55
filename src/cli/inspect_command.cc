// tracebucket inspect BLOCK: how one block spends its bytes, and what it holds.
#include <cstdio>

#include "block/block_reader.h"
#include "cli/bucket.h"
#include "cli/operator_commands.h"
#include "cli/output.h"
#include "db/block_list.h"
#include "model/text.h"

namespace tb::cli {
namespace {

struct InspectOptions {
  std::unique_ptr<server::ConfigFlags> flags;
  std::string tenant;
  std::string block_id;
};

void PrintParts(const char* title, const std::vector<block::BlockLayout::Part>& parts, bool with_encoding) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({title, "ENCODING", "STORED", "RAW", "RATIO"});
  uint64_t stored = 0, raw = 0;
  for (const auto& p : parts) {
    rows.push_back({p.name, p.encoding, std::to_string(p.stored_bytes), std::to_string(p.raw_bytes),
                    Ratio(p.raw_bytes, p.stored_bytes)});
    stored += p.stored_bytes;
    raw += p.raw_bytes;
  }
  rows.push_back({"total", "", std::to_string(stored), std::to_string(raw), Ratio(raw, stored)});
  if (!with_encoding)
    for (auto& row : rows) row.erase(row.begin() + 1);
  const std::vector<bool> right =
      with_encoding ? std::vector<bool>{false, false, true, true, true} : std::vector<bool>{false, true, true, true};
  std::fputs(RenderTable(rows, right).c_str(), stdout);
}

int RunInspect(const InspectOptions& o) {
  auto bucket = OpenBucket(*o.flags, o.tenant);
  if (!bucket.ok()) return ReportError("inspect", bucket.status());
  auto found = FindBlock(*bucket->store, bucket->tenants, o.block_id);
  if (!found.ok())
    return ReportError("inspect", found.status(), found.status().code() == StatusCode::kNotFound ? 1 : 2);
  const block::BlockMeta& m = found->meta;
  const std::string prefix = db::BlockPrefix(found->tenant, m.block_id);
  block::BlockReader reader(bucket->store.get(), prefix, m, /*cache=*/nullptr);
  block::BlockLayout layout;
  const Status described = reader.Describe(&layout);

  const auto time = [](uint64_t t) { return model::FormatRfc3339Nanos(t); };
  const uint64_t meta_bytes = block::EncodeMeta(m).size();
  std::printf("block       %s\n", m.block_id.c_str());
  std::printf("tenant      %s\n", found->tenant.c_str());
  std::printf("location    %s/%s\n", bucket->store->Describe().c_str(), prefix.c_str());
  std::printf("published   %s (block list version %llu)\n", found->published ? "yes" : "NO",
              static_cast<unsigned long long>(found->list_version));
  std::printf("format      version %u%s\n", m.format_version,
              m.format_version == block::kFormatVersion ? "" : " (this build cannot read it)");
  std::printf("writer      %s, created %s\n", m.writer_id.c_str(), time(m.created_unix_nano).c_str());
  std::printf("wal range   %llu..%llu\n", static_cast<unsigned long long>(m.wal_first),
              static_cast<unsigned long long>(m.wal_last));
  std::printf("spans       %llu in %llu traces, %u pages\n", static_cast<unsigned long long>(m.span_count),
              static_cast<unsigned long long>(m.trace_count), m.page_count);
  if (m.span_count > 0) {
    std::printf("span starts %s .. %s\n", time(m.min_span_start).c_str(), time(m.max_span_start).c_str());
    std::printf("span ends   %s .. %s\n", time(m.min_span_end).c_str(), time(m.max_span_end).c_str());
  }
  std::printf("objects     meta %llu B, index %s, data %s; total %s\n", static_cast<unsigned long long>(meta_bytes),
              HumanBytes(m.index_size).c_str(), HumanBytes(m.data_size).c_str(),
              HumanBytes(meta_bytes + m.index_size + m.data_size).c_str());
  if (m.span_count > 0)
    std::printf("bytes/span  %.2f\n",
                static_cast<double>(meta_bytes + m.index_size + m.data_size) / static_cast<double>(m.span_count));
  if (!described.ok()) return ReportError("inspect", described, 1);
  std::printf("\n");
  PrintParts("INDEX SECTION", layout.sections, true);
  std::printf("\n");
  PrintParts("PAGE COLUMN", layout.columns, false);
  std::printf("\nservices (%zu):", layout.services.size());
  for (const auto& s : layout.services) std::printf(" %s", s.empty() ? "\"\"" : s.c_str());
  std::printf("\noperations  %zu (service, span name, span kind)\n", layout.operations);
  return 0;
}

}  // namespace

Command AddInspectCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "inspect",
      "Show a block's objects and index sections with stored and raw sizes, page columns, services and "
      "time range");
  auto o = std::make_shared<InspectOptions>();
  app->add_option("BLOCK", o->block_id, "Block ID, or a prefix that names one block (see `tracebucket blocks`)")
      ->required();
  o->flags = std::make_unique<server::ConfigFlags>(app, kConfigGroup);
  app->add_option("--tenant", o->tenant, "Look in this tenant only (default: every tenant)");
  app->footer("Reads the meta and the index of the block (no page). RATIO is raw / stored.");
  return {app, [o] { return RunInspect(*o); }};
}

}  // namespace tb::cli
