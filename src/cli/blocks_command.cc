// tracebucket blocks: the live block list of every tenant (or one), as a table or as JSON.
#include <cstdio>

#include "cli/bucket.h"
#include "cli/operator_commands.h"
#include "cli/output.h"
#include "db/block_list.h"
#include "db/block_summary.h"
#include "model/text.h"

namespace tb::cli {
namespace {

struct BlocksOptions {
  std::unique_ptr<server::ConfigFlags> flags;
  std::string tenant;
  bool json = false;
};

// Milliseconds are enough to tell blocks apart in a table; --json has the nanoseconds.
std::string TableTime(const db::BlockSummary& b, uint64_t t) {
  if (b.spans == 0) return "-";
  const std::string full = model::FormatRfc3339Nanos(t);
  return full.substr(0, 23) + "Z";
}

int RunBlocks(const BlocksOptions& o) {
  auto bucket = OpenBucket(*o.flags, o.tenant);
  if (!bucket.ok()) return ReportError("blocks", bucket.status());
  std::vector<db::BlockSummary> blocks;
  for (const auto& tenant : bucket->tenants) {
    db::BlockListStore lists(bucket->store.get(), tenant);
    auto list = lists.LoadLatest();
    if (!list.ok()) return ReportError("blocks", list.status());
    for (const auto& b : list->blocks) blocks.push_back(db::SummarizeBlock(tenant, b.meta, b.level));
  }
  if (o.json) {
    std::printf("%s\n", db::BlocksJson(blocks).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "TENANT", "LEVEL", "SPANS", "TRACES", "BYTES", "MIN TIME", "MAX TIME"}};
  uint64_t spans = 0, traces = 0, bytes = 0;
  for (const auto& b : blocks) {
    rows.push_back({b.id, b.tenant, std::to_string(b.level), std::to_string(b.spans), std::to_string(b.traces),
                    HumanBytes(b.bytes), TableTime(b, b.min_time_unix_nano), TableTime(b, b.max_time_unix_nano)});
    spans += b.spans;
    traces += b.traces;
    bytes += b.bytes;
  }
  std::fputs(RenderTable(rows, {false, false, true, true, true, true, false, false}).c_str(), stdout);
  std::printf("%zu blocks, %llu spans, %llu traces, %s in %s\n", blocks.size(), static_cast<unsigned long long>(spans),
              static_cast<unsigned long long>(traces), HumanBytes(bytes).c_str(), bucket->store->Describe().c_str());
  return 0;
}

}  // namespace

Command AddBlocksCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand("blocks", "List the live blocks of a bucket (its newest block list)");
  auto o = std::make_shared<BlocksOptions>();
  o->flags = std::make_unique<server::ConfigFlags>(app, kConfigGroup);
  app->add_option("--tenant", o->tenant, "Only this tenant (default: every tenant in the bucket)");
  app->add_flag("--json", o->json,
                "Print {\"blocks\":[{\"id\",\"tenant\",\"level\",\"spans\",\"traces\",\"bytes\",\"min_time\","
                "\"max_time\"}]} (the same document as GET /admin/blocks; times RFC 3339 with nanoseconds, UTC)");
  app->footer(
      "Columns: BYTES is data + index + meta; MIN TIME is the earliest span start, MAX TIME the latest span end.");
  return {app, [o] { return RunBlocks(*o); }};
}

}  // namespace tb::cli
