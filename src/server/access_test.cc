#include "server/access.h"

#include <gtest/gtest.h>

#include <map>

namespace tb::server {
namespace {

// Headers as a request would carry them: name (lower-case) → values.
HeaderLookup Headers(std::multimap<std::string, std::string> headers) {
  return [headers = std::move(headers)](std::string_view name) {
    std::vector<std::string> values;
    for (auto [it, end] = headers.equal_range(std::string(name)); it != end; ++it) values.push_back(it->second);
    return values;
  };
}

Config WithTenancy(std::vector<std::string> tenants = {}) {
  Config config;
  config.tenancy_enabled = true;
  config.tenancy_tenants = std::move(tenants);
  return config;
}

TEST(AccessPolicyTest, TenancyOffIsAlwaysTheDefaultTenant) {
  const AccessPolicy policy{Config{}};
  for (const auto& headers : {Headers({}), Headers({{"x-tenant", "team-a"}})}) {
    auto tenant = policy.Authorize(headers, Role::kRead);
    ASSERT_TRUE(tenant.ok()) << tenant.status().ToString();
    EXPECT_EQ(*tenant, "default");
  }
}

TEST(AccessPolicyTest, TenancyOnTakesTheTenantHeader) {
  const AccessPolicy policy{WithTenancy()};
  auto tenant = policy.Authorize(Headers({{"x-tenant", "team-a"}}), Role::kWrite);
  ASSERT_TRUE(tenant.ok()) << tenant.status().ToString();
  EXPECT_EQ(*tenant, "team-a");
  EXPECT_EQ(policy.Authorize(Headers({}), Role::kRead).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(policy.Authorize(Headers({{"x-tenant", ""}}), Role::kRead).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(policy.Authorize(Headers({{"x-tenant", "a"}, {"x-tenant", "b"}}), Role::kRead).status().code(),
            StatusCode::kPermissionDenied);
  for (const char* bad : {"..", ".", "a/b", "team a", "t\xc3\xa9"})
    EXPECT_EQ(policy.Authorize(Headers({{"x-tenant", bad}}), Role::kRead).status().code(),
              StatusCode::kPermissionDenied)
        << bad;
}

TEST(AccessPolicyTest, AllowListRefusesOtherTenants) {
  const AccessPolicy policy{WithTenancy({"team-a", "team-b"})};
  EXPECT_TRUE(policy.Authorize(Headers({{"x-tenant", "team-b"}}), Role::kRead).ok());
  auto other = policy.Authorize(Headers({{"x-tenant", "team-c"}}), Role::kRead);
  EXPECT_EQ(other.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(other.status().message().find("team-c"), std::string::npos) << other.status().message();
}

TEST(AccessPolicyTest, HeaderNameIsConfigurableAndLowerCased) {
  Config config = WithTenancy();
  config.tenancy_header = "X-Org-ID";
  const AccessPolicy policy{config};
  EXPECT_EQ(policy.tenant_header(), "x-org-id");
  EXPECT_EQ(*policy.Authorize(Headers({{"x-org-id", "org1"}}), Role::kRead), "org1");
  EXPECT_EQ(policy.Authorize(Headers({{"x-tenant", "org1"}}), Role::kRead).status().code(),
            StatusCode::kUnauthenticated);
}

TEST(CheckTenantNameTest, AcceptsSafeNamesOnly) {
  for (const char* good : {"default", "team-a", "A.b_c-9", "x"}) EXPECT_TRUE(CheckTenantName(good).ok()) << good;
  for (const std::string& bad : {std::string(), std::string(65, 'a'), std::string(".."), std::string("a/b")})
    EXPECT_FALSE(CheckTenantName(bad).ok()) << bad;
}

}  // namespace
}  // namespace tb::server
