#include "cli/bucket.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "block/block_reader.h"
#include "db/block_list.h"

namespace tb::cli {

namespace {

Result<std::shared_ptr<objstore::ObjectStore>> OpenStore(const server::Config& config) {
  std::string folder;
  if (config.storage.empty()) {
    folder = (std::filesystem::path(config.data_dir) / "blocks").string();
  } else if (config.storage.starts_with("file://")) {
    folder = config.storage.substr(7);
  }
  if (!folder.empty() && !std::filesystem::is_directory(folder))
    return Status::NotFound("no blocks folder at " + folder + " (give --storage, --data-dir or --config)");
  return server::OpenStorage(config);
}

Result<std::vector<std::string>> TenantsToRead(objstore::ObjectStore& store, const std::string& tenant) {
  TB_ASSIGN_OR_RETURN(std::vector<std::string> tenants, db::ListTenants(store));
  if (tenant.empty()) return tenants;
  if (std::find(tenants.begin(), tenants.end(), tenant) != tenants.end()) return std::vector<std::string>{tenant};
  std::string known;
  for (const auto& t : tenants) known += (known.empty() ? "" : ", ") + t;
  return Status::NotFound("no tenant '" + tenant + "' in " + store.Describe() +
                          (known.empty() ? " (it holds no tenant)" : " (tenants: " + known + ")"));
}

}  // namespace

Result<Bucket> OpenBucket(const server::ConfigFlags& flags, const std::string& tenant) {
  Bucket bucket;
  TB_ASSIGN_OR_RETURN(bucket.config, flags.Resolve(environ));
  TB_ASSIGN_OR_RETURN(bucket.store, OpenStore(bucket.config));
  TB_ASSIGN_OR_RETURN(bucket.tenants, TenantsToRead(*bucket.store, tenant));
  return bucket;
}

Result<LocatedBlock> FindBlock(objstore::ObjectStore& store, const std::vector<std::string>& tenants,
                               const std::string& id) {
  if (id.empty()) return Status::InvalidArgument("no block ID given");
  std::vector<std::pair<std::string, std::string>> matches;  // (tenant, block ID)
  for (const auto& tenant : tenants) {
    db::BlockListStore lists(&store, tenant);
    std::set<std::string> with_meta, without_meta;
    TB_RETURN_IF_ERROR(lists.ScanBlocks(&with_meta, &without_meta));
    for (const auto& candidate : with_meta)
      if (candidate.starts_with(id)) matches.emplace_back(tenant, candidate);
  }
  if (matches.empty()) return Status::NotFound("no block " + id + " in " + store.Describe());
  if (matches.size() > 1) {
    std::string names;
    for (const auto& [tenant, block_id] : matches) names += " " + tenant + "/" + block_id;
    return Status::InvalidArgument("'" + id + "' names " + std::to_string(matches.size()) + " blocks:" + names);
  }
  LocatedBlock found;
  found.tenant = matches[0].first;
  TB_ASSIGN_OR_RETURN(found.meta, block::ReadBlockMeta(store, db::BlockPrefix(found.tenant, matches[0].second)));
  db::BlockListStore lists(&store, found.tenant);
  TB_ASSIGN_OR_RETURN(db::BlockList list, lists.LoadLatest());
  found.list_version = list.version;
  for (const auto& b : list.blocks) found.published |= b.meta.block_id == found.meta.block_id;
  return found;
}

}  // namespace tb::cli
