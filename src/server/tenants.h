// Tenants: one db::Db per tenant — its own WAL, heads and block list (the bucket's
// tenants/<tenant>/ prefix, docs/format/bucket.md) — all drawing from one head memory budget and
// one object store. Tenant "default" keeps the data directory's root (<data_dir>/wal), so a
// server that turns tenancy on still serves what it stored before as "default"; any other tenant
// lives under <data_dir>/tenants/<tenant>/.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "db/db.h"
#include "metrics/handles.h"
#include "objstore/object_store.h"
#include "server/access.h"

namespace tb::server {

class Tenants {
 public:
  // `options_of(tenant)` gives the options of a tenant's Db (retention, limits, metrics); its
  // data_dir, tenant and shared memory budget are set here.
  using OptionsOf = std::function<db::DbOptions(const std::string& tenant)>;

  // Opens "default" and every tenant that has a folder under <data_dir>/tenants/, so that what
  // each acknowledged before a restart is replayed, served and flushed (even beyond max_tenants).
  // A tenant whose options give a head budget below the process's draws from a share of it: a
  // budget of its own whose every byte also counts against the process's.
  static Result<std::unique_ptr<Tenants>> Open(const std::string& data_dir, uint64_t head_memory_budget_bytes,
                                               size_t max_tenants, OptionsOf options_of,
                                               std::shared_ptr<objstore::ObjectStore> store);

  // The Db of `tenant` (a name AccessPolicy accepted), opened on first use; RESOURCE_EXHAUSTED when
  // that would make more than max_tenants.
  Result<db::Db*> Get(const std::string& tenant);
  // The Db of "default": the one the store probe of /ready goes through.
  db::Db& Default() { return *default_; }
  // Every open Db, by tenant name.
  std::vector<db::Db*> All() const;
  // Closes every Db (Db::Close); the first error is returned, every Db is closed.
  Status Close();

 private:
  Tenants(std::string data_dir, uint64_t head_memory_budget_bytes, size_t max_tenants, OptionsOf options_of,
          std::shared_ptr<objstore::ObjectStore> store);
  Result<db::Db*> OpenLocked(const std::string& tenant);

  const std::string data_dir_;
  const std::shared_ptr<head::MemoryBudget> budget_;
  const size_t max_tenants_;
  const OptionsOf options_of_;
  const std::shared_ptr<objstore::ObjectStore> store_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<db::Db>> dbs_;  // GUARDED_BY(mu_)
  db::Db* default_ = nullptr;
};

// What a door asks for on each request: the caller's access is checked (AccessPolicy), then the
// parts of its tenant are handed out. Every door has its own, recording into its query metrics.
class TenantDoor {
 public:
  TenantDoor(const AccessPolicy* access, Tenants* tenants, metrics::QueryMetrics query_metrics = {})
      : access_(access), tenants_(tenants), query_metrics_(query_metrics) {}

  // The write path of the caller's tenant (Role::kWrite).
  Result<ingest::Ingester*> Writer(const HeaderLookup& headers) const;
  // The query engine of the caller's tenant (Role::kRead).
  Result<query::QueryEngine> Reader(const HeaderLookup& headers) const;
  // The Db of the caller's tenant, for operator commands (Role::kAdmin).
  Result<db::Db*> Admin(const HeaderLookup& headers) const { return Open(headers, Role::kAdmin); }

 private:
  Result<db::Db*> Open(const HeaderLookup& headers, Role role) const;

  const AccessPolicy* access_;
  Tenants* tenants_;
  const metrics::QueryMetrics query_metrics_;
};

}  // namespace tb::server
