#include "server/compact.h"

#include <atomic>
#include <nlohmann/json.hpp>

#include "db/block_list.h"

namespace tb::server {

std::string CompactionSummaryJson(const db::CompactionSummary& s) {
  nlohmann::json j = {{"compactions", s.compactions},
                      {"input_blocks", s.input_blocks},
                      {"output_blocks", s.output_blocks},
                      {"input_spans", s.input_spans},
                      {"output_spans", s.output_spans},
                      {"duplicate_spans_dropped", s.duplicate_spans_dropped},
                      {"input_bytes", s.input_bytes},
                      {"output_bytes", s.output_bytes},
                      {"blocks_expired", s.blocks_expired},
                      {"blocks_swept", s.blocks_swept},
                      {"lease_held_elsewhere", s.lease_held_elsewhere},
                      {"seconds", s.seconds}};
  return j.dump() + "\n";
}

Result<db::CompactionSummary> CompactOnce(const Config& config) {
  TB_ASSIGN_OR_RETURN(db::CompactionOptions options, CompactionOptionsOf(config));
  TB_ASSIGN_OR_RETURN(auto store, OpenStorage(config));
  TB_ASSIGN_OR_RETURN(std::vector<std::string> tenants, db::ListTenants(*store));
  const std::string instance = db::RandomInstanceId();
  std::atomic<uint64_t> counter = 0;
  db::CompactionSummary total;
  for (const auto& tenant : tenants) {
    options.retention = config.RetentionOf(tenant);
    db::Compactor compactor(
        store.get(), tenant, instance, [&] { return db::MakeBlockId(instance, ++counter); }, options);
    TB_ASSIGN_OR_RETURN(db::CompactionSummary summary, compactor.RunUntilDone({}));
    total.Add(summary);
  }
  return total;
}

}  // namespace tb::server
