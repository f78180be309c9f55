#include "server/tenants.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <mutex>

namespace tb::server {

Tenants::Tenants(std::string data_dir, uint64_t head_memory_budget_bytes, size_t max_tenants, OptionsOf options_of,
                 std::shared_ptr<objstore::ObjectStore> store)
    : data_dir_(std::move(data_dir)),
      budget_(std::make_shared<head::MemoryBudget>(head_memory_budget_bytes)),
      max_tenants_(max_tenants),
      options_of_(std::move(options_of)),
      store_(std::move(store)) {}

Result<std::unique_ptr<Tenants>> Tenants::Open(const std::string& data_dir, uint64_t head_memory_budget_bytes,
                                               size_t max_tenants, OptionsOf options_of,
                                               std::shared_ptr<objstore::ObjectStore> store) {
  std::unique_ptr<Tenants> t(
      new Tenants(data_dir, head_memory_budget_bytes, max_tenants, std::move(options_of), std::move(store)));
  std::unique_lock lock(t->mu_);
  TB_ASSIGN_OR_RETURN(t->default_, t->OpenLocked(std::string(kDefaultTenant)));
  const std::filesystem::path root = std::filesystem::path(data_dir) / "tenants";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !CheckTenantName(name).ok()) continue;
    TB_RETURN_IF_ERROR(t->OpenLocked(name).status());
  }
  if (t->dbs_.size() > max_tenants)
    spdlog::warn("{} tenants have data here, more than limits.max_tenants ({}): all are served, no new one is opened",
                 t->dbs_.size(), max_tenants);
  return t;
}

Result<db::Db*> Tenants::OpenLocked(const std::string& tenant) {
  db::DbOptions options = options_of_(tenant);
  options.tenant = tenant;
  options.data_dir =
      tenant == kDefaultTenant ? data_dir_ : (std::filesystem::path(data_dir_) / "tenants" / tenant).string();
  options.shared_budget = options.head_memory_budget_bytes < budget_->limit()
                              ? std::make_shared<head::MemoryBudget>(options.head_memory_budget_bytes, budget_,
                                                                     "tenant " + tenant + "'s head share")
                              : budget_;
  TB_ASSIGN_OR_RETURN(auto db, db::Db::Open(options, store_));
  if (tenant != kDefaultTenant) spdlog::info("tenant {} opened", tenant);
  db::Db* opened = db.get();
  dbs_.emplace(tenant, std::move(db));
  return opened;
}

Result<db::Db*> Tenants::Get(const std::string& tenant) {
  {
    std::shared_lock lock(mu_);
    if (auto it = dbs_.find(tenant); it != dbs_.end()) return it->second.get();
  }
  std::unique_lock lock(mu_);
  if (auto it = dbs_.find(tenant); it != dbs_.end()) return it->second.get();
  if (dbs_.size() >= max_tenants_)
    return Status::ResourceExhausted("this server already serves " + std::to_string(dbs_.size()) +
                                     " tenants, its limit (limits.max_tenants); tenant " + tenant + " is refused");
  return OpenLocked(tenant);
}

std::vector<db::Db*> Tenants::All() const {
  std::shared_lock lock(mu_);
  std::vector<db::Db*> all;
  for (const auto& [name, db] : dbs_) all.push_back(db.get());
  return all;
}

Status Tenants::Close() {
  Status first;
  for (db::Db* db : All()) {
    Status s = db->Close();
    if (first.ok() && !s.ok()) first = s.WithContext("tenant " + db->tenant());
  }
  return first;
}

Result<db::Db*> TenantDoor::Open(const HeaderLookup& headers, Role role) const {
  TB_ASSIGN_OR_RETURN(const std::string tenant, access_->Authorize(headers, role));
  return tenants_->Get(tenant);
}

Result<ingest::Ingester*> TenantDoor::Writer(const HeaderLookup& headers) const {
  TB_ASSIGN_OR_RETURN(db::Db * db, Open(headers, Role::kWrite));
  return &db->ingester();
}

Result<query::QueryEngine> TenantDoor::Reader(const HeaderLookup& headers) const {
  TB_ASSIGN_OR_RETURN(db::Db * db, Open(headers, Role::kRead));
  return db->engine().WithMetrics(query_metrics_);
}

}  // namespace tb::server
