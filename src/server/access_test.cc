#include "server/access.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <fstream>
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

AccessPolicy Policy(const Config& config) {
  auto policy = AccessPolicy::Open(config);
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
  return std::move(*policy);
}

std::string Sha256Hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) hex += {kHex[b >> 4], kHex[b & 15]};
  return hex;
}

Config WithTenancy(std::vector<std::string> tenants = {}) {
  Config config;
  config.tenancy_enabled = true;
  config.tenancy_tenants = std::move(tenants);
  return config;
}

TEST(AccessPolicyTest, TenancyOffIsAlwaysTheDefaultTenant) {
  const AccessPolicy policy = Policy(Config{});
  for (const auto& headers : {Headers({}), Headers({{"x-tenant", "team-a"}})}) {
    auto tenant = policy.Authorize(headers, Role::kRead);
    ASSERT_TRUE(tenant.ok()) << tenant.status().ToString();
    EXPECT_EQ(*tenant, "default");
  }
}

TEST(AccessPolicyTest, TenancyOnTakesTheTenantHeader) {
  const AccessPolicy policy = Policy(WithTenancy());
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
  const AccessPolicy policy = Policy(WithTenancy({"team-a", "team-b"}));
  EXPECT_TRUE(policy.Authorize(Headers({{"x-tenant", "team-b"}}), Role::kRead).ok());
  auto other = policy.Authorize(Headers({{"x-tenant", "team-c"}}), Role::kRead);
  EXPECT_EQ(other.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(other.status().message().find("team-c"), std::string::npos) << other.status().message();
}

TEST(AccessPolicyTest, HeaderNameIsConfigurableAndLowerCased) {
  Config config = WithTenancy();
  config.tenancy_header = "X-Org-ID";
  const AccessPolicy policy = Policy(config);
  EXPECT_EQ(policy.tenant_header(), "x-org-id");
  EXPECT_EQ(*policy.Authorize(Headers({{"x-org-id", "org1"}}), Role::kRead), "org1");
  EXPECT_EQ(policy.Authorize(Headers({{"x-tenant", "org1"}}), Role::kRead).status().code(),
            StatusCode::kUnauthenticated);
}

// Tokens: "writer-secret" writes for team-a only; "reader-secret" (in a file) reads any tenant;
// "admin-secret" administers team-a and team-b.
class TokenPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string file = ::testing::TempDir() + "tb_reader.token";
    std::ofstream(file) << "  reader-secret\n";
    Config config = WithTenancy();
    config.auth_tokens = {{Sha256Hex("writer-secret"), "", {"team-a"}, {"write"}},
                          {"", file, {"*"}, {"read"}},
                          {Sha256Hex("admin-secret"), "", {"team-a", "team-b"}, {"admin", "read"}}};
    policy_ = std::make_unique<AccessPolicy>(Policy(config));
  }
  Result<std::string> As(const std::string& token, std::multimap<std::string, std::string> headers, Role role) {
    if (!token.empty()) headers.emplace("authorization", "Bearer " + token);
    return policy_->Authorize(Headers(std::move(headers)), role);
  }
  std::unique_ptr<AccessPolicy> policy_;
};

TEST_F(TokenPolicyTest, UnknownMissingOrMalformedTokensAreUnauthenticated) {
  EXPECT_EQ(As("", {{"x-tenant", "team-a"}}, Role::kRead).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(As("guess", {{"x-tenant", "team-a"}}, Role::kRead).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(As("writer-secre", {{"x-tenant", "team-a"}}, Role::kWrite).status().code(), StatusCode::kUnauthenticated);
  auto basic = policy_->Authorize(Headers({{"authorization", "Basic d3JpdGVyLXNlY3JldA=="}}), Role::kRead);
  EXPECT_EQ(basic.status().code(), StatusCode::kUnauthenticated);
  // The message never repeats the token.
  EXPECT_EQ(As("guess", {}, Role::kRead).status().message().find("guess"), std::string::npos);
  // The scheme is case-insensitive (RFC 6750).
  EXPECT_TRUE(policy_->Authorize(Headers({{"authorization", "bearer writer-secret"}}), Role::kWrite).ok());
}

TEST_F(TokenPolicyTest, RolesAndTenantsOfEachToken) {
  EXPECT_EQ(*As("writer-secret", {{"x-tenant", "team-a"}}, Role::kWrite), "team-a");
  EXPECT_EQ(As("writer-secret", {{"x-tenant", "team-a"}}, Role::kRead).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(As("writer-secret", {{"x-tenant", "team-b"}}, Role::kWrite).status().code(), StatusCode::kPermissionDenied);
  // One tenant: implied when the header is absent.
  EXPECT_EQ(*As("writer-secret", {}, Role::kWrite), "team-a");
  // The token from the file (whitespace trimmed) reads any tenant, and needs the header.
  EXPECT_EQ(*As("reader-secret", {{"x-tenant", "team-z"}}, Role::kRead), "team-z");
  EXPECT_EQ(As("reader-secret", {}, Role::kRead).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(As("reader-secret", {{"x-tenant", "team-z"}}, Role::kAdmin).status().code(), StatusCode::kPermissionDenied);
  // Two tenants: the header picks one, and it must be one of them.
  EXPECT_EQ(*As("admin-secret", {{"x-tenant", "team-b"}}, Role::kAdmin), "team-b");
  EXPECT_EQ(As("admin-secret", {}, Role::kAdmin).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(As("admin-secret", {{"x-tenant", "team-c"}}, Role::kRead).status().code(), StatusCode::kPermissionDenied);
}

TEST_F(TokenPolicyTest, AuthenticateNeedsOnlyAKnownToken) {
  EXPECT_TRUE(policy_->Authenticate(Headers({{"authorization", "Bearer writer-secret"}})).ok());
  EXPECT_EQ(policy_->Authenticate(Headers({})).code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(Policy(Config{}).Authenticate(Headers({})).ok());
}

TEST(AccessPolicyTest, AMissingTokenFileIsAnError) {
  Config config;
  config.auth_tokens = {{"", ::testing::TempDir() + "no-such.token", {}, {"read"}}};
  auto policy = AccessPolicy::Open(config);
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.status().message().find("auth.tokens[0].token_file"), std::string::npos);
}

TEST(CheckTenantNameTest, AcceptsSafeNamesOnly) {
  for (const char* good : {"default", "team-a", "A.b_c-9", "x"}) EXPECT_TRUE(CheckTenantName(good).ok()) << good;
  for (const std::string& bad : {std::string(), std::string(65, 'a'), std::string(".."), std::string("a/b")})
    EXPECT_FALSE(CheckTenantName(bad).ok()) << bad;
}

}  // namespace
}  // namespace tb::server
