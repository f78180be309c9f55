// Tenants: the cap on how many are served, and each tenant's share of the one head budget.
#include "server/tenants.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "model/random_traces.h"
#include "objstore/memory_store.h"

namespace tb::server {
namespace {

class TenantsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "tb_tenants_XXXXXX";
    ASSERT_NE(mkdtemp(dir_.data()), nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Tenants over dir_ with a 4 MiB head budget; tenant "small" may hold a quarter of it.
  std::unique_ptr<Tenants> Open(size_t max_tenants) {
    auto tenants = Tenants::Open(
        dir_, /*head_memory_budget_bytes=*/4 << 20, max_tenants,
        [](const std::string& tenant) {
          db::DbOptions options;
          options.background_flush = false;
          options.background_compaction = false;
          options.head_memory_budget_bytes = tenant == "small" ? 1 << 20 : 4 << 20;
          return options;
        },
        store_);
    EXPECT_TRUE(tenants.ok()) << tenants.status().ToString();
    return tenants.ok() ? std::move(*tenants) : nullptr;
  }

  std::string dir_;
  std::shared_ptr<objstore::MemoryStore> store_ = std::make_shared<objstore::MemoryStore>();
};

TEST_F(TenantsTest, ATenantBeyondTheCapIsRefusedButThoseOnDiskAreServed) {
  auto tenants = Open(2);
  ASSERT_TRUE(tenants->Get("a").ok());
  auto refused = tenants->Get("b");
  ASSERT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("limits.max_tenants"), std::string::npos);
  EXPECT_TRUE(tenants->Get("a").ok());
  ASSERT_TRUE(tenants->Close().ok());
  // A lower cap after a restart still serves every tenant with data here.
  tenants = Open(1);
  EXPECT_EQ(tenants->All().size(), 2u);
  EXPECT_TRUE(tenants->Get("a").ok());
  EXPECT_EQ(tenants->Get("c").status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(tenants->Close().ok());
}

TEST_F(TenantsTest, ATenantAtItsHeadShareIsRefusedWhileTheOthersWrite) {
  auto tenants = Open(10);
  auto small = tenants->Get("small");
  auto big = tenants->Get("big");
  ASSERT_TRUE(small.ok() && big.ok());
  uint64_t small_spans = 0;
  Status refusal;
  for (int i = 0; i < 10'000 && refusal.ok(); ++i) {
    auto r = (*small)->ingester().Ingest(model::RandomTraces(1000 + i));
    if (r.ok()) small_spans += r->accepted_spans;
    refusal = r.status();
  }
  ASSERT_EQ(refusal.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refusal.message().find("tenant small's head share full"), std::string::npos) << refusal.message();
  EXPECT_GT(small_spans, 0u);
  // The other tenant still has the rest of the process's budget.
  auto r = (*big)->ingester().Ingest(model::RandomTraces(1));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(tenants->Close().ok());
}

}  // namespace
}  // namespace tb::server
