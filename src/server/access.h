// Who may do what: the tenant a request acts for and, when bearer tokens are configured, whether
// its token allows what it does; checked once for every door. The doors read the request's headers
// (gRPC metadata or HTTP headers) through a HeaderLookup, so the rules live here and not in each
// transport. Tokens are kept only as SHA-256 digests, compared in constant time, and never logged
// or echoed in an answer.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"
#include "util/status.h"

namespace tb::server {

// What a request does, for the access check: OTLP and v1 writes; every query door; /admin/* and
// /purge.
enum class Role { kWrite, kRead, kAdmin };

// Every value of one request header, by lower-case name (gRPC metadata keys are lower-case; HTTP
// header names are compared without case).
using HeaderLookup = std::function<std::vector<std::string>(std::string_view name)>;

// The tenant everything belongs to while tenancy is off.
inline constexpr std::string_view kDefaultTenant = "default";

// OK when `name` can name a tenant: 1 to 64 characters of A-Z a-z 0-9 . _ -, neither "." nor
// "..", because it becomes a folder name and an object-key prefix.
Status CheckTenantName(std::string_view name);

class AccessPolicy {
 public:
  // Reads the token files of config.auth_tokens; a missing or empty one is an error.
  static Result<AccessPolicy> Open(const Config& config);

  // The tenant the request acts for.
  // Tokens configured: the `authorization: Bearer <token>` header must hold one of them
  // (UNAUTHENTICATED otherwise) and the token must have `role` (PERMISSION_DENIED otherwise).
  // Tenancy off: always "default". Tenancy on: the one value of the tenant header, or, when it is
  // absent and the token names exactly one tenant, that tenant; UNAUTHENTICATED when there is
  // none, PERMISSION_DENIED when it is given twice, is not a valid name, is outside the allow-list
  // or outside the token's tenants.
  Result<std::string> Authorize(const HeaderLookup& headers, Role role) const;
  // Only the token check, for doors that hold no tenant's data (GET /metrics): OK with tokens off,
  // or with any configured token.
  Status Authenticate(const HeaderLookup& headers) const;

  // Whether bearer tokens are configured (then a 401 names the Bearer scheme).
  bool tokens_required() const { return !tokens_.empty(); }
  // The tenant header's name, lower-case.
  const std::string& tenant_header() const { return tenant_header_; }

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Token {
    Digest sha256;
    std::vector<std::string> tenants;  // empty: any
    bool write = false, read = false, admin = false;
  };
  AccessPolicy(const Config& config, std::vector<Token> tokens);
  // The configured token the request's authorization header carries.
  Result<const Token*> FindToken(const HeaderLookup& headers) const;
  Result<std::string> TenantOf(const HeaderLookup& headers, const Token* token) const;

  bool tenancy_;
  std::string tenant_header_;
  std::vector<std::string> allowed_tenants_;  // empty: any valid name
  std::vector<Token> tokens_;                 // empty: no authentication
};

}  // namespace tb::server
