// tracebucket verify: reads every block of a bucket (or of one tenant) and checks every checksum
// and structure the format defines (block::BlockReader::Verify), with the block list and metas.
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>

#include "block/block_reader.h"
#include "cli/bucket.h"
#include "cli/operator_commands.h"
#include "cli/output.h"
#include "db/block_list.h"

namespace tb::cli {
namespace {

struct VerifyOptions {
  std::unique_ptr<server::ConfigFlags> flags;
  std::string tenant;
};

// A block to check: what the block list says of it, if it is published.
struct BlockToCheck {
  std::string tenant;
  std::string id;
  std::optional<block::BlockMeta> listed;
};

struct Tally {
  size_t blocks = 0, intact = 0, corrupt = 0, unpublished = 0, debris = 0, lists = 0, corrupt_lists = 0;
  uint64_t spans = 0, bytes = 0;
};

int RunVerify(const VerifyOptions& o) {
  auto bucket = OpenBucket(*o.flags, o.tenant);
  if (!bucket.ok()) return ReportError("verify", bucket.status());
  objstore::ObjectStore& store = *bucket->store;
  const auto started = std::chrono::steady_clock::now();
  const bool terminal = IsTerminal(stderr);
  Tally tally;
  const auto report_corrupt = [&](ProgressBar& bar, const std::string& what, const Status& problem) {
    bar.Print(stdout, "CORRUPT  " + what + ": " + problem.ToString());
  };

  // 1. Per tenant: the newest block list, then every block with a meta (published or not).
  std::vector<BlockToCheck> todo;
  std::vector<std::pair<std::string, Status>> early_problems;  // before the bar exists
  for (const auto& tenant : bucket->tenants) {
    db::BlockListStore lists(&store, tenant);
    ++tally.lists;
    auto list = lists.LoadLatest();
    if (!list.ok()) {
      if (list.status().code() != StatusCode::kDataLoss) return ReportError("verify", list.status());
      ++tally.corrupt_lists;
      early_problems.emplace_back(tenant + " block list", list.status());
    }
    std::set<std::string> with_meta, without_meta;
    if (auto s = lists.ScanBlocks(&with_meta, &without_meta); !s.ok()) return ReportError("verify", s);
    tally.debris += without_meta.size();
    std::set<std::string> listed;
    if (list.ok())
      for (const auto& b : list->blocks) {
        todo.push_back({tenant, b.meta.block_id, b.meta});
        listed.insert(b.meta.block_id);
      }
    for (const auto& id : with_meta)
      if (!listed.contains(id)) todo.push_back({tenant, id, std::nullopt});
  }
  uint64_t total = 0;
  for (const auto& b : todo)
    if (b.listed) total += b.listed->data_size + b.listed->index_size;

  // 2. Every block: its meta object, then everything it holds.
  ProgressBar bar("verify", total, terminal);
  for (const auto& [what, problem] : early_problems) report_corrupt(bar, what, problem);
  for (size_t i = 0; i < todo.size(); ++i) {
    const BlockToCheck& b = todo[i];
    const std::string name = b.tenant + "/" + b.id;
    bar.SetNote(std::to_string(i + 1) + "/" + std::to_string(todo.size()) + " blocks");
    ++tally.blocks;
    const uint64_t expected_bytes = b.listed ? b.listed->data_size + b.listed->index_size : 0;
    auto meta = block::ReadBlockMeta(store, db::BlockPrefix(b.tenant, b.id));
    std::vector<Status> problems;
    if (!meta.ok()) {
      if (meta.status().code() != StatusCode::kDataLoss && meta.status().code() != StatusCode::kNotFound)
        return ReportError("verify", meta.status());
      problems.push_back(meta.status().code() == StatusCode::kNotFound
                             ? Status::DataLoss("block " + b.id + ": published, but its meta object is missing")
                             : meta.status());
    } else if (b.listed && !(*b.listed == *meta)) {
      problems.push_back(Status::DataLoss("block " + b.id + ": meta object differs from the block list's copy"));
    }
    if (!b.listed) ++tally.unpublished;
    if (problems.empty()) {
      block::BlockReader reader(&store, db::BlockPrefix(b.tenant, b.id), *meta, /*cache=*/nullptr);
      problems = reader.Verify([&](uint64_t n) { bar.Add(n); });
    } else {
      bar.Add(expected_bytes);
    }
    const std::string label = b.listed ? name : name + " (unpublished)";
    if (problems.empty()) {
      ++tally.intact;
      tally.spans += meta->span_count;
      tally.bytes += meta->data_size + meta->index_size;
      if (!terminal)
        bar.Print(stdout, "ok       " + label + "  " + std::to_string(meta->span_count) + " spans, " +
                              HumanBytes(meta->data_size + meta->index_size));
    } else {
      ++tally.corrupt;
      for (const auto& p : problems) report_corrupt(bar, label, p);
    }
  }
  bar.Finish();

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("verified %zu blocks of %zu tenants in %s (%llu spans, %s) in %.1f s: %zu intact, %zu corrupt",
              tally.blocks, bucket->tenants.size(), store.Describe().c_str(),
              static_cast<unsigned long long>(tally.spans), HumanBytes(tally.bytes).c_str(), seconds, tally.intact,
              tally.corrupt);
  if (tally.corrupt_lists > 0) std::printf(", %zu corrupt block lists", tally.corrupt_lists);
  if (tally.unpublished > 0) std::printf("; %zu blocks not in their block list", tally.unpublished);
  if (tally.debris > 0)
    std::printf("; %zu block folders without a meta (an interrupted flush; its writer removes them)", tally.debris);
  std::printf("\n");
  return tally.corrupt > 0 || tally.corrupt_lists > 0 ? 1 : 0;
}

}  // namespace

Command AddVerifyCommand(CLI::App& parent) {
  CLI::App* app =
      parent.add_subcommand("verify", "Read every block of a bucket and check every checksum; exit 1 on corruption");
  auto o = std::make_shared<VerifyOptions>();
  o->flags = std::make_unique<server::ConfigFlags>(app, kConfigGroup);
  app->add_option("--tenant", o->tenant, "Only this tenant (default: every tenant in the bucket)");
  app->footer(
      "Checks each tenant's newest block list, then every block with a meta (published or not): the meta against the\n"
      "list's copy, every index section, trace-table row group, posting list and bloom partition against its\n"
      "checksum, and every page column, decoded span by span. Bytes are read from the store itself (no cache).\n"
      "A progress bar is drawn on a terminal; otherwise one line per block. Corrupt blocks are printed as\n"
      "'CORRUPT  <tenant>/<block>: <problem>' on stdout, then a summary.\n"
      "Exit status: 0 all intact, 1 corruption found, 2 the check could not run (configuration, storage).");
  return {app, [o] { return RunVerify(*o); }};
}

}  // namespace tb::cli
