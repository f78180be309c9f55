// For tests of the doors in process: a temporary data folder, Tenants over a given store with a
// 64 MiB head and background flush and compaction off (a test decides when blocks are cut), and a
// TenantDoor under the default access policy (no auth: every request is tenant "default"). Header
// only, and included by tests only.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "server/access.h"
#include "server/tenants.h"

namespace tb::server {

class TestTenants {
 public:
  // `name` prefixes the folder's name. ok() is false, and the test has failed, when the folder or
  // the tenants could not be made.
  TestTenants(std::shared_ptr<objstore::ObjectStore> store, const std::string& name)
      : dir_(::testing::TempDir() + name + "_XXXXXX") {
    if (mkdtemp(dir_.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << dir_;
      return;
    }
    auto tenants = Tenants::Open(
        dir_, 64 << 20, 10,
        [](const std::string&) {
          db::DbOptions options;
          options.background_flush = false;
          options.background_compaction = false;
          return options;
        },
        std::move(store));
    if (!tenants.ok()) {
      ADD_FAILURE() << tenants.status().ToString();
      return;
    }
    tenants_ = std::move(*tenants);
    door_ = std::make_unique<TenantDoor>(&policy_, tenants_.get());
  }
  // Closes the tenants (a failure to is the test's) and removes the folder. Stop the doors first.
  ~TestTenants() {
    if (tenants_ != nullptr) {
      EXPECT_TRUE(tenants_->Close().ok());
    }
    std::filesystem::remove_all(dir_);
  }
  TestTenants(const TestTenants&) = delete;
  TestTenants& operator=(const TestTenants&) = delete;

  bool ok() const { return door_ != nullptr; }
  db::Db& default_db() { return tenants_->Default(); }
  TenantDoor& door() { return *door_; }

 private:
  std::string dir_;
  const AccessPolicy policy_ = *AccessPolicy::Open(Config{});
  std::unique_ptr<Tenants> tenants_;
  std::unique_ptr<TenantDoor> door_;
};

}  // namespace tb::server
